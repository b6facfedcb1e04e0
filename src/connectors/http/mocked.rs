//! A request answered by a test's mock instead of the network (`weir test`): the prepared request as
//! the mock sees it (method, path, query, body as sent), and the mock's reply as the [`Answer`] a real
//! response would have made — so retries, `on_status` and dead letters run as in production.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::client::{Answer, ClientError, Prepared};
use crate::kernel::mock::{MockReply, MockRequest, RequestMock};

/// The mock's answer to `request`; an error when no rule of the test answers it.
pub(super) fn answer(
    mock: &dyn RequestMock,
    request: &Prepared,
    body: Option<&[u8]>,
    answer: impl FnOnce(u16, HeaderMap, Vec<u8>) -> Answer,
) -> Result<Answer, ClientError> {
    let url = &request.url;
    let seen = MockRequest {
        method: request.method.as_str().to_string(),
        path: url.path().to_string(),
        query: url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        body: body.map(<[u8]>::to_vec).unwrap_or_default(),
    };
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
