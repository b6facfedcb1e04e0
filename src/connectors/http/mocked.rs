//! A request answered by a test's mock instead of the network (`weir test`): the prepared request as
//! the mock sees it (method, path, query, body as sent), and the mock's reply as the [`Answer`] a real
//! response would have made — so retries, `on_status` and dead letters run as in production. Recording
//! (`weir test --record`) goes the other way: a real answer told to the recorder as a [`MockReply`].

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::answer::{Answer, ClientError, Prepared};
use crate::kernel::mock::{ExchangeRecorder, MockReply, MockRequest, RequestMock};

/// `request` as a mock or a recorder sees it.
fn seen(request: &Prepared, body: Option<&[u8]>) -> MockRequest {
    let url = &request.url;
    MockRequest {
        method: request.method.as_str().to_string(),
        path: url.path().to_string(),
        query: url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        body: body.map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

/// The mock's answer to `request`; an error when no rule of the test answers it.
pub(super) fn answer(
    mock: &dyn RequestMock,
    request: &Prepared,
    body: Option<&[u8]>,
    answer: impl FnOnce(u16, HeaderMap, Vec<u8>) -> Answer,
) -> Result<Answer, ClientError> {
    let seen = seen(request, body);
    match mock.answer(&seen) {
        MockReply::Response { status, headers, body } => {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    map.append(name, value);
                }
            }
            Ok(answer(status, map, body))
        }
        MockReply::NoResponse => Ok(Answer::NoResponse { message: "operation timed out (mocked: no answer)".into() }),
        MockReply::Unmatched => {
            Err(ClientError { message: format!("no mock answers {} {}", seen.method, seen.path), retryable: false })
        }
    }
}

/// Tells `recorder` (when there is one) what `request` got for real, and passes the answer on. An error
/// (credentials refused) is not an exchange with the API: it is not recorded.
pub(super) fn recorded(
    recorder: Option<&dyn ExchangeRecorder>,
    request: &Prepared,
    done: Result<Answer, ClientError>,
) -> Result<Answer, ClientError> {
    let (Some(recorder), Ok(answer)) = (recorder, &done) else { return done };
    let body = request.body.as_ref().map(|b| b.to_string().into_bytes());
    let reply = match answer {
        Answer::Response { status, body, json, headers, .. } => {
            let headers = headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let body = match (json, body) {
                (true, Value::Null) => Vec::new(),
                (true, json) => serde_json::to_vec(json).unwrap_or_default(),
                (false, text) => text.as_str().unwrap_or_default().as_bytes().to_vec(),
            };
            MockReply::Response { status: *status, headers, body }
        }
        Answer::NoResponse { .. } => MockReply::NoResponse,
    };
    recorder.record(&seen(request, body.as_deref()), &reply);
    done
}
