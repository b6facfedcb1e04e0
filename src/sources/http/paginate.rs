//! Paging through an HTTP API: the strategies of the `http` source's `paginate` (Magento's
//! `searchCriteria`, page numbers, offsets, a cursor from the body, a next link from the body, the
//! `Link` header), as configured and compiled, and the [`Pager`] (`pager`) that gives the URL of each
//! next page, or none at the end. A cursor or a next link that comes back a second time is an error
//! (the API would be read in a loop), and a Magento page past `total_count` is never asked for (Magento
//! answers the last page again there).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::expr::jsonpath::JsonPath;
use crate::kernel::build::BuildErrors;

mod pager;
pub(crate) use pager::{Page, Pager};

fn default_magento_page_size() -> u64 {
    100
}
fn default_page_param() -> String {
    "page".into()
}
fn default_size_param() -> String {
    "page_size".into()
}
fn default_first_page() -> u64 {
    1
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_limit_param() -> String {
    "limit".into()
}
fn default_range_unit() -> String {
    "items".into()
}
fn default_next_link() -> String {
    "$['@odata.nextLink']".into()
}

/// How the source pages through the API (`paginate: { type: … }`); without it, one request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(transform = describe_strategies)]
pub(crate) enum PaginateConfig {
    /// Adobe Commerce `searchCriteria`: adds `searchCriteria[pageSize]` and
    /// `searchCriteria[currentPage]` (from 1) and stops at the body's `total_count`.
    Magento {
        /// Records per page (default 100; Magento allows at most 300 with web API input limits on).
        #[serde(default = "default_magento_page_size")]
        page_size: u64,
    },
    /// A page number and a page size: stops at an empty or short page.
    Page {
        /// Records per page.
        page_size: u64,
        /// The query parameter of the page number (default `page`).
        #[serde(default = "default_page_param")]
        page_param: String,
        /// The query parameter of the page size (default `page_size`).
        #[serde(default = "default_size_param")]
        size_param: String,
        /// The first page's number (default 1).
        #[serde(default = "default_first_page")]
        first_page: u64,
    },
    /// An offset and a limit: stops at an empty or short page.
    Offset {
        /// Records per page.
        limit: u64,
        /// The query parameter of the offset (default `offset`).
        #[serde(default = "default_offset_param")]
        offset_param: String,
        /// The query parameter of the limit (default `limit`).
        #[serde(default = "default_limit_param")]
        limit_param: String,
    },
    /// A cursor from each page's body, sent as a query parameter of the next request: stops when the
    /// cursor is absent, `null` or empty; a cursor seen before is an error (a loop).
    Cursor {
        /// JSONPath to the next cursor in the body, e.g. `$.meta.next_cursor`.
        cursor: String,
        /// The query parameter the cursor is sent as, e.g. `cursor`.
        param: String,
    },
    /// The URL of the next page in the body (absolute, or relative to the page's): stops when it is
    /// absent or `null`; a link seen before is an error (a loop).
    NextLink {
        /// JSONPath to the next page's URL (default `$['@odata.nextLink']`, OData's).
        #[serde(default = "default_next_link")]
        next: String,
    },
    /// The `Link: <…>; rel="next"` header (RFC 8288): stops when there is none; a link seen before is
    /// an error (a loop).
    LinkHeader {},
    /// HTTP ranges: asks for `Range: items=0-99`, then `100-199`, …; stops at the total of the
    /// answer's `Content-Range: items 0-99/250` (or at a short page when the total is `*`), at an
    /// answer without `Content-Range` (the API sent everything) and at a `416` (past the end).
    Range {
        /// Records per page.
        size: u64,
        /// The range unit (default `items`).
        #[serde(default = "default_range_unit")]
        unit: String,
    },
}

/// Gives each strategy's `type` property a description (schemars leaves the tag undescribed).
fn describe_strategies(schema: &mut schemars::Schema) {
    let Some(Value::Array(kinds)) = schema.get_mut("oneOf") else { return };
    for kind in kinds {
        if let Some(tag) = kind.pointer_mut("/properties/type").and_then(Value::as_object_mut) {
            let name = tag.get("const").and_then(Value::as_str).unwrap_or_default().to_string();
            tag.insert("description".into(), format!("The paging strategy: `{name}`.").into());
        }
    }
}

/// A compiled strategy.
#[derive(Debug, Clone)]
pub(crate) enum Strategy {
    None,
    Magento { page_size: u64 },
    Page { page_size: u64, page_param: String, size_param: String, first_page: u64 },
    Offset { limit: u64, offset_param: String, limit_param: String },
    Cursor { cursor: JsonPath, param: String },
    NextLink { next: JsonPath },
    LinkHeader,
    Range { size: u64, unit: String },
}

impl Strategy {
    /// True for strategies that number their pages (page, offset, Magento, range): an incremental
    /// poll starts them again from the watermark reached, rather than trusting numbers that shift
    /// when a record read earlier is updated during the poll.
    pub(crate) fn numbered(&self) -> bool {
        matches!(
            self,
            Strategy::Magento { .. } | Strategy::Page { .. } | Strategy::Offset { .. } | Strategy::Range { .. }
        )
    }

    /// Compiles `config`, recording problems under `paginate`.
    pub(crate) fn build(config: Option<&PaginateConfig>, errors: &mut BuildErrors) -> Option<Self> {
        let positive = |errors: &mut BuildErrors, field: &str, n: u64| {
            if n == 0 {
                errors.push(&["paginate", field], "bad-value", format!("`{field}` must be at least 1"), None);
            }
        };
        Some(match config {
            None => Strategy::None,
            Some(PaginateConfig::Magento { page_size }) => {
                positive(errors, "page_size", *page_size);
                Strategy::Magento { page_size: *page_size }
            }
            Some(PaginateConfig::Page { page_size, page_param, size_param, first_page }) => {
                positive(errors, "page_size", *page_size);
                Strategy::Page {
                    page_size: *page_size,
                    page_param: page_param.clone(),
                    size_param: size_param.clone(),
                    first_page: *first_page,
                }
            }
            Some(PaginateConfig::Offset { limit, offset_param, limit_param }) => {
                positive(errors, "limit", *limit);
                Strategy::Offset { limit: *limit, offset_param: offset_param.clone(), limit_param: limit_param.clone() }
            }
            Some(PaginateConfig::Cursor { cursor, param }) => {
                Strategy::Cursor { cursor: errors.jsonpath(&["paginate", "cursor"], cursor)?, param: param.clone() }
            }
            Some(PaginateConfig::NextLink { next }) => {
                Strategy::NextLink { next: errors.jsonpath(&["paginate", "next"], next)? }
            }
            Some(PaginateConfig::LinkHeader {}) => Strategy::LinkHeader,
            Some(PaginateConfig::Range { size, unit }) => {
                positive(errors, "size", *size);
                if unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    errors.push(&["paginate", "unit"], "bad-value", format!("`{unit}` is not a range unit"), None);
                }
                Strategy::Range { size: *size, unit: unit.clone() }
            }
        })
    }
}
