//! Optimistic concurrency (`if_match:`), for APIs that refuse an update without the entity's current
//! ETag (Business Central's `PATCH` and `DELETE`): before each write the entity is read, its ETag
//! (the answer's `ETag` header, or a JSONPath into its body such as `$['@odata.etag']`) goes with the
//! write as `If-Match`, and a `412 Precondition Failed` — someone changed the entity in between —
//! reads it again and writes once more. A second `412` dead-letters the record.

use reqwest::header::{HeaderValue, IF_MATCH};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::client::Answer;
use super::request::{BodySpec, Prepared, RequestSpec, RequestTemplate};
use super::send::Exchanged;
use super::{HttpSink, Run};
use crate::connectors::http::connection::HttpConnection;
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::RenderContext;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::sinks::SinkError;

/// `if_match:` — where to read the entity's current ETag before each write.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IfMatchConfig {
    /// The path of the entity below the sink's connection's `base_url` (a template), e.g.
    /// `/api/v2.0/companies({{ record.company }})/items({{ record.id }})`.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// The entity's absolute URL (a template), when the sink has no connection.
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// JSONPath to the ETag in the read's body, e.g. `$['@odata.etag']` (default: the answer's `ETag`
    /// header).
    #[serde(default)]
    pub(crate) etag: Option<String>,
}

/// The compiled `if_match`.
#[derive(Debug)]
pub(super) struct IfMatch {
    read: RequestTemplate,
    etag: Option<JsonPath>,
}

impl IfMatchConfig {
    /// Compiles the read request and the ETag's JSONPath.
    pub(super) fn build(
        &self,
        ctx: &BuildContext,
        connection: Option<(&str, &HttpConnection)>,
        headers: Vec<(String, String)>,
        errors: &mut BuildErrors,
    ) -> Option<IfMatch> {
        let etag = self.etag.as_ref().map(|e| errors.jsonpath(&["if_match", "etag"], e));
        let spec = RequestSpec {
            field: &["if_match"],
            connection,
            url: self.url.as_deref(),
            path: self.path.as_deref(),
            method: "GET",
            query: &[],
            headers,
            body: BodySpec::None,
        };
        let read = RequestTemplate::compile(ctx, spec, errors);
        Some(IfMatch {
            read: read?,
            etag: match etag {
                Some(e) => Some(e?),
                None => None,
            },
        })
    }
}

impl IfMatch {
    /// The entity's current ETag, or why there is none (the record is then dead-lettered).
    fn current(&self, sink: &HttpSink, run: &Run, ctx: &RenderContext) -> Result<Result<String, String>, SinkError> {
        let read = match self.read.render(ctx) {
            Ok(r) => r,
            Err(e) => return Ok(Err(format!("the ETag's read cannot be rendered: {e}"))),
        };
        let answer = match sink.exchange(run, &read, None)? {
            Exchanged::Accepted(_, answer, _) => answer,
            Exchanged::Refused(answer) => {
                return Ok(Err(format!("reading the ETag, {} answered {}", read.target, answer.describe())));
            }
        };
        let tag = match (&self.etag, &answer) {
            (Some(path), Answer::Response { body, .. }) => path.first(body).and_then(Value::as_str).map(str::to_string),
            (None, Answer::Response { headers, .. }) => {
                headers.get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_string)
            }
            (_, Answer::NoResponse { .. }) => None,
        };
        Ok(tag.filter(|t| !t.is_empty()).ok_or_else(|| {
            let place = self.etag.as_ref().map_or("an `ETag` header".to_string(), |p| format!("`{}`", p.as_str()));
            format!("reading the ETag, {} answered without {place}", read.target)
        }))
    }

    /// Sends `request` with the entity's current ETag as `If-Match`; after a `412` reads the ETag and
    /// sends once more. Returns the request as last sent and its answer, or why the record is
    /// dead-lettered.
    pub(super) fn send(
        &self,
        sink: &HttpSink,
        run: &Run,
        ctx: &RenderContext,
        request: &Prepared,
    ) -> Result<Result<(Prepared, Exchanged), String>, SinkError> {
        let mut last = None;
        for _ in 0..2 {
            let tag = match self.current(sink, run, ctx)? {
                Ok(tag) => tag,
                Err(reason) => return Ok(Err(reason)),
            };
            let Ok(value) = HeaderValue::from_str(&tag) else {
                return Ok(Err("the entity's ETag is not a valid header value".into()));
            };
            let mut sent = request.clone();
            sent.headers.insert(IF_MATCH, value);
            let exchanged = sink.exchange(run, &sent, None)?;
            let stale = matches!(&exchanged, Exchanged::Refused(a) if a.status() == Some(412));
            last = Some((sent, exchanged));
            if !stale {
                break;
            }
        }
        Ok(last.ok_or_else(|| "no request was sent".to_string()))
    }
}
