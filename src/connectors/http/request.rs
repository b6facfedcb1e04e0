//! Templated HTTP requests (the `http` sink's and the `http` step's): the URL, method, headers and body compiled once as templates and
//! rendered per record into the [`Prepared`] request the connector's client sends. Every text that
//! leaves this module (errors, targets) has the registered secrets masked.

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::connectors::http::HttpConnection;
pub(crate) use crate::connectors::http::client::{Prepared, excerpt, scrub};
use crate::expr::template::{RenderContext, StringTemplate, ValueTemplate};
use crate::kernel::build::{BuildContext, BuildErrors};

/// How a method is given: fixed, or rendered per record.
#[derive(Debug, Clone)]
enum MethodSpec {
    Fixed(Method),
    Template(StringTemplate),
}

/// What is sent as the body.
#[derive(Debug, Clone)]
pub(crate) enum BodySpec {
    /// No body (lookups).
    None,
    /// The record itself.
    Record,
    /// A structured template.
    Template(ValueTemplate),
}

/// One compiled request: where, how, with which headers and body.
#[derive(Debug, Clone)]
pub(crate) struct RequestTemplate {
    /// The connection's `base_url` the rendered `target` is appended to, if any.
    base: Option<String>,
    /// The URL, or the path below `base`.
    target: StringTemplate,
    /// The URL parsed once, when `target` holds no template: most requests go to one URL, and parsing
    /// it (host, IDNA, path) was a visible share of each request's cost.
    /// (With the URL as written, which the request's `target` shows.)
    fixed_url: Option<(reqwest::Url, String)>,
    method: MethodSpec,
    /// Query parameters appended to the URL, form-encoded (`searchCriteria[pageSize]` keeps its name).
    query: Vec<(String, StringTemplate)>,
    headers: Vec<(HeaderName, StringTemplate)>,
    body: BodySpec,
}

/// The parts of a request as written in config, with the config fields they come from (for errors).
pub(crate) struct RequestSpec<'a> {
    /// The field prefix (`[]` for the sink, `["idempotency", "lookup"]` for the lookup).
    pub(crate) field: &'a [&'a str],
    pub(crate) connection: Option<(&'a str, &'a HttpConnection)>,
    pub(crate) url: Option<&'a str>,
    pub(crate) path: Option<&'a str>,
    pub(crate) method: &'a str,
    pub(crate) query: &'a [(String, String)],
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: BodySpec,
}

/// The headers of a request: the connection's, replaced by the component's of the same
/// (case-insensitive) name.
pub(crate) fn merged_headers(
    connection: Option<&HttpConnection>,
    own: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut merged = std::collections::BTreeMap::new();
    for (name, value) in connection.iter().flat_map(|c| &c.headers).chain(own) {
        merged.insert(name.to_ascii_lowercase(), (name.clone(), value.clone()));
    }
    merged.into_values().collect()
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn parse_method(text: &str) -> Result<Method, String> {
    let upper = text.trim().to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        Method::from_bytes(upper.as_bytes()).map_err(|e| e.to_string())
    } else {
        Err(format!("`{}` is not a supported HTTP method ({})", excerpt(text, 20), METHODS.join(", ")))
    }
}

/// True when `text` holds template syntax: an expression, a statement or a comment.
fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The field path `prefix` + `rest`.
fn field<'s>(prefix: &[&'s str], rest: &[&'s str]) -> Vec<&'s str> {
    prefix.iter().chain(rest).copied().collect()
}

impl RequestTemplate {
    /// Compiles a request, recording every problem in `errors`.
    pub(crate) fn compile(ctx: &BuildContext, spec: RequestSpec<'_>, errors: &mut BuildErrors) -> Option<Self> {
        let push = |errors: &mut BuildErrors, name: &str, message: String, hint: Option<String>| {
            errors.push(&field(spec.field, &[name]), "bad-value", message, hint);
        };
        let (base, target_field, target) = match (spec.connection, spec.url, spec.path) {
            (None, Some(url), None) => {
                let literal_start = url.split("{{").next().unwrap_or_default();
                if !(literal_start.starts_with("http://") || literal_start.starts_with("https://")) {
                    push(
                        errors,
                        "url",
                        format!("`{}` is not an absolute http(s) URL", excerpt(url, 80)),
                        Some("write the scheme and host, e.g. `https://erp.example.com/api/orders`, or use `connection` and `path`".into()),
                    );
                }
                (None, "url", url)
            }
            (Some((_, connection)), None, Some(path)) => (Some(connection.base_url.clone()), "path", path),
            (None, None, Some(_)) => {
                push(
                    errors,
                    "path",
                    "`path` is joined to a connection's `base_url`: name the `connection`".into(),
                    None,
                );
                return None;
            }
            (Some(_), Some(_), _) => {
                push(errors, "url", "give either `url`, or `connection` and `path`, not both".into(), None);
                return None;
            }
            (Some((name, _)), None, None) => {
                push(errors, "path", format!("connection `{name}` needs a `path` (appended to its `base_url`)"), None);
                return None;
            }
            (None, _, _) => {
                push(
                    errors,
                    "url",
                    "where to send the request: give `url`, or `connection` and `path`".into(),
                    Some("e.g. `url: \"https://erp.example.com/api/orders\"`".into()),
                );
                return None;
            }
        };
        let target_text = target;
        let target = errors.string_template(ctx, &field(spec.field, &[target_field]), target_text);
        let method = if is_template(spec.method) {
            errors.string_template(ctx, &field(spec.field, &["method"]), spec.method).map(MethodSpec::Template)
        } else {
            match parse_method(spec.method) {
                Ok(m) => Some(MethodSpec::Fixed(m)),
                Err(e) => {
                    push(errors, "method", e, None);
                    None
                }
            }
        };
        let mut query = Vec::new();
        for (name, value) in spec.query {
            if let Some(t) = errors.string_template(ctx, &field(spec.field, &["query", name]), value) {
                query.push((name.clone(), t));
            }
        }
        let mut headers = Vec::new();
        for (name, value) in &spec.headers {
            let field = field(spec.field, &["headers", name]);
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => {
                    if let Some(t) = errors.string_template(ctx, &field, value) {
                        headers.push((h, t));
                    }
                }
                Err(_) => errors.push(&field, "bad-value", format!("`{name}` is not a valid header name"), None),
            }
        }
        let fixed_url = if is_template(target_text) {
            None
        } else {
            // As `render` joins it; a URL that does not parse is reported by `render`, per record.
            let url = match &base {
                Some(base) if target_text.starts_with('/') => format!("{base}{target_text}"),
                Some(base) => format!("{base}/{target_text}"),
                None => target_text.to_string(),
            };
            let parsed = reqwest::Url::parse(&url).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
            parsed.map(|parsed| (parsed, url))
        };
        Some(RequestTemplate { base, target: target?, fixed_url, method: method?, query, headers, body: spec.body })
    }

    /// Renders the body alone.
    pub(crate) fn render_body(&self, ctx: &RenderContext) -> Result<Option<serde_json::Value>, String> {
        Ok(match &self.body {
            BodySpec::None => None,
            BodySpec::Record => Some((*ctx.record).clone()),
            BodySpec::Template(t) => Some(t.render(ctx).map_err(|e| format!("body: {e}"))?),
        })
    }

    /// Renders the request for one record.
    pub(crate) fn render(&self, ctx: &RenderContext) -> Result<Prepared, String> {
        let method = match &self.method {
            MethodSpec::Fixed(m) => m.clone(),
            MethodSpec::Template(t) => parse_method(&t.render(ctx).map_err(|e| format!("method: {e}"))?)?,
        };
        let (url, mut parsed) = match &self.fixed_url {
            Some((parsed, url)) => (url.clone(), parsed.clone()),
            None => {
                let rendered = self.target.render(ctx).map_err(|e| format!("url: {e}"))?;
                let url = match &self.base {
                    Some(base) if rendered.starts_with('/') => format!("{base}{rendered}"),
                    Some(base) => format!("{base}/{rendered}"),
                    None => rendered,
                };
                let parsed =
                    reqwest::Url::parse(&url).map_err(|e| format!("`{}` is not a valid URL: {e}", scrub(&url)))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(format!("`{}` is not an http(s) URL", scrub(&url)));
                }
                (url, parsed)
            }
        };
        let mut target = scrub(format!("{method} {url}"));
        if !self.query.is_empty() {
            // The target shows each value masked before it is encoded: an encoded secret would not be
            // recognised afterwards.
            let mut shown = url::form_urlencoded::Serializer::new(String::new());
            let mut pairs = parsed.query_pairs_mut();
            for (name, template) in &self.query {
                let value = template.render(ctx).map_err(|e| format!("query `{name}`: {e}"))?;
                pairs.append_pair(name, &value);
                shown.append_pair(name, &scrub(value));
            }
            drop(pairs);
            target.push(if url.contains('?') { '&' } else { '?' });
            target.push_str(&shown.finish());
        }
        let mut headers = HeaderMap::new();
        for (name, template) in &self.headers {
            let value = template.render(ctx).map_err(|e| format!("header `{name}`: {e}"))?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("header `{name}`: the value is not a valid header"))?;
            headers.insert(name.clone(), value);
        }
        let body = self.render_body(ctx)?;
        Ok(Prepared { method, url: parsed, headers, body, target })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_alone_makes_a_template() {
        assert!(
            is_template("/orders{# the ERP's #}") && is_template("{{ x }}") && is_template("{% if x %}{% endif %}")
        );
        assert!(!is_template("/orders/{id}") && !is_template("POST"));
    }
}
