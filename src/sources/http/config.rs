//! The `http` source's configuration (serde + schemars) and its `build()`, which checks the
//! connection and compiles the URL, the query templates, every JSONPath and the paging strategy up front
//! into the runtime [`HttpSource`].

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;

use super::HttpSource;
use super::paginate::{PaginateConfig, Strategy};
use super::watermark::IncrementalConfig;
use crate::config::duration::Duration;
use crate::connectors::http::client::scrub;
use crate::connectors::http::connection::{self, HttpConnection};
use crate::connectors::http::retry::RetryConfig;
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::StringTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};

fn default_max_pages() -> u64 {
    10_000
}

/// Reads records from an HTTP API, page by page.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSourceConfig {
    /// A connection from `connections.yaml`: `path` is appended to its `base_url`, and its headers,
    /// auth, rate limit and timeout apply. Use either `connection` and `path`, or `url`.
    #[serde(default)]
    pub(crate) connection: Option<String>,
    /// The absolute URL of the first page, e.g. `https://erp.example.com/api/items`.
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// The path below the connection's `base_url`, e.g. `/V1/orders`; a missing `/` is added.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// Query parameters added to every page's request, e.g.
    /// `{ "searchCriteria[filter_groups][0][filters][0][field]": status }`. Values are templates:
    /// with `incremental`, `{{ watermark }}` is where the run starts (see `incremental`).
    #[serde(default)]
    pub(crate) query: BTreeMap<String, String>,
    /// Request headers (values may use `${secret:NAME}`); they replace the connection's headers of the
    /// same name.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// JSONPath selecting the records in each page, e.g. `$.items[*]` or `$.value[*]`; each is one input.
    pub(crate) records: String,
    /// How to page through the API: `{ type: magento | page | offset | cursor | next_link | link_header,
    /// … }` (default: one request).
    #[serde(default)]
    pub(crate) paginate: Option<PaginateConfig>,
    /// The most pages one poll reads (default 10000): more fails the source rather than reading on.
    #[serde(default = "default_max_pages")]
    pub(crate) max_pages: u64,
    /// Time limit for one request: connect, send, answer (default: the connection's `timeout`, else
    /// `30s`).
    #[serde(default)]
    pub(crate) timeout: Option<Duration>,
    /// Read only what changed since the last run: `{ field, key, start, look_back }`. A query value
    /// filters on `{{ watermark }}` (e.g. Magento `updated_at` `gteq`, OData `lastModifiedDateTime ge
    /// {{ watermark }}`), sorted ascending by `field`. The watermark is saved once the records are
    /// acknowledged (needs the state store).
    #[serde(default)]
    pub(crate) incremental: Option<IncrementalConfig>,
}

impl HttpSourceConfig {
    /// Checks the connection, the URL, the headers and every JSONPath.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<HttpSource, BuildErrors> {
        let mut errors = BuildErrors::default();
        let connection = self
            .connection
            .as_ref()
            .and_then(|name| errors.connection::<HttpConnection>(ctx, &["connection"], name, connection::KIND));
        let base = self.base_url(connection, &mut errors);
        let mut headers = HeaderMap::new();
        for (name, value) in connection.iter().flat_map(|c| &c.headers).chain(&self.headers) {
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                (Ok(n), Ok(v)) => {
                    headers.insert(n, v);
                }
                (Err(_), _) => {
                    errors.push(&["headers", name], "bad-value", format!("`{name}` is not a valid header name"), None)
                }
                // The value is not shown: it is often a secret.
                (_, Err(_)) => errors.push(
                    &["headers", name],
                    "bad-value",
                    format!("the value of header `{name}` is not a valid header value"),
                    None,
                ),
            }
        }
        let records = errors.jsonpath(&["records"], &self.records);
        let container = self.records.strip_suffix("[*]").and_then(|c| JsonPath::compile(c).ok());
        let strategy = Strategy::build(self.paginate.as_ref(), &mut errors);
        if self.max_pages == 0 {
            errors.push(&["max_pages"], "bad-value", "`max_pages` must be at least 1", None);
        }
        let timeout = self
            .timeout
            .map(|d| d.0)
            .or_else(|| connection.and_then(|c| c.timeout))
            .unwrap_or(StdDuration::from_secs(30));
        if timeout.is_zero() {
            errors.push(&["timeout"], "bad-value", "`timeout` must be longer than zero", None);
        }
        // The connection's `retry` and `on_status`, else 5 tries.
        let policy = HttpConnection::policy(connection, None, RetryConfig::default(), &BTreeMap::new());
        let query: Vec<Option<(String, StringTemplate)>> = self
            .query
            .iter()
            .map(|(name, value)| Some((name.clone(), errors.string_template(ctx, &["query", name], value)?)))
            .collect();
        let incremental = self.incremental.as_ref().map(|i| i.build(&mut errors));
        if self.incremental.is_some() && !self.query.values().any(|v| v.contains("watermark")) {
            let message = "`incremental` needs a query parameter that filters on `{{ watermark }}`: \
                           otherwise every run reads everything again";
            let hint = Some(
                "Magento: `searchCriteria[filter_groups][0][filters][0][value]: \"{{ watermark }}\"` with \
                 `condition_type: gteq`; OData: `$filter: \"lastModifiedDateTime ge {{ watermark }}\"`"
                    .to_string(),
            );
            errors.push(&["incremental"], "bad-value", message, hint);
        }
        errors.finish(|| {
            Some(HttpSource {
                base: base?,
                query: query.into_iter().collect::<Option<_>>()?,
                headers,
                records: records?,
                container,
                strategy: strategy?,
                max_pages: self.max_pages,
                timeout,
                client_options: crate::connectors::http::connection::ClientOptions {
                    hook: ctx.request_hook.clone(),
                    ..connection.map(|c| c.client.clone()).unwrap_or_default()
                },
                auth: connection.and_then(|c| c.auth.clone()),
                limit: connection.and_then(|c| c.limit.clone()),
                policy: policy.ok()?,
                incremental: incremental.flatten(),
                position: None,
            })
        })
    }

    /// The first page's URL with `query`, from `url` or the connection's base URL and `path`.
    fn base_url(&self, connection: Option<&HttpConnection>, errors: &mut BuildErrors) -> Option<url::Url> {
        let (field, text) = match (&self.connection, &self.url, &self.path) {
            (None, Some(url), None) => ("url", url.clone()),
            (Some(_), None, Some(path)) => {
                let base = &connection?.base_url;
                ("path", if path.starts_with('/') { format!("{base}{path}") } else { format!("{base}/{path}") })
            }
            (Some(_), Some(_), _) => {
                errors.push(&["url"], "bad-value", "give either `url`, or `connection` and `path`, not both", None);
                return None;
            }
            (None, _, Some(_)) => {
                let message = "`path` is joined to a connection's `base_url`: name the `connection`";
                errors.push(&["path"], "bad-value", message, None);
                return None;
            }
            (Some(name), None, None) => {
                let message = format!("connection `{name}` needs a `path` (appended to its `base_url`)");
                errors.push(&["path"], "bad-value", message, None);
                return None;
            }
            (None, None, None) => {
                let hint = Some("e.g. `url: \"https://erp.example.com/api/items\"`".to_string());
                errors.push(&["url"], "bad-value", "where to read: give `url`, or `connection` and `path`", hint);
                return None;
            }
        };
        match url::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
            _ => {
                let hint = Some("write the scheme and host, e.g. `https://erp.example.com/api/items`".to_string());
                errors.push(&[field], "bad-url", format!("`{}` is not an absolute http(s) URL", scrub(&text)), hint);
                None
            }
        }
    }
}
