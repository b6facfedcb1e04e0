//! Walking the pages of one poll: the [`Pager`] gives the URL of each next page from the page just
//! read (its body, its `Link` or `Content-Range` header), or none at the end, and refuses a cursor or a
//! link that comes back a second time (the API would be read in a loop).

use std::collections::HashSet;

use serde_json::Value;

use super::Strategy;

/// One page as the pager judges it.
pub(crate) struct Page<'a> {
    /// The URL it was read from.
    pub(crate) url: &'a url::Url,
    pub(crate) body: &'a Value,
    /// The records selected from it.
    pub(crate) records: usize,
    /// Its `Link` header.
    pub(crate) link: Option<&'a str>,
    /// Its `Content-Range` header.
    pub(crate) content_range: Option<&'a str>,
}

/// Walks the pages of one poll.
#[derive(Debug)]
pub(crate) struct Pager<'s> {
    strategy: &'s Strategy,
    /// Pages read so far.
    pages: u64,
    /// Records read so far.
    records: u64,
    /// Cursors or links seen (loop detection).
    seen: HashSet<String>,
}

impl<'s> Pager<'s> {
    pub(crate) fn new(strategy: &'s Strategy) -> Self {
        Self { strategy, pages: 0, records: 0, seen: HashSet::new() }
    }

    /// The first page's URL: `base` with the strategy's parameters.
    pub(crate) fn first(&self, base: &url::Url) -> url::Url {
        self.numbered(base)
    }

    /// Numbers the pages from the first again (an incremental poll moved its watermark on).
    pub(crate) fn restart(&mut self) {
        self.pages = 0;
        self.records = 0;
    }

    /// The `Range` header of the next page's request (range paging only).
    pub(crate) fn range(&self) -> Option<String> {
        let Strategy::Range { size, unit } = self.strategy else { return None };
        Some(format!("{unit}={}-{}", self.records, self.records + size - 1))
    }

    /// `base` with the parameters of the page after those read so far.
    fn numbered(&self, base: &url::Url) -> url::Url {
        let mut url = base.clone();
        match self.strategy {
            Strategy::Magento { page_size } => {
                url.query_pairs_mut()
                    .append_pair("searchCriteria[pageSize]", &page_size.to_string())
                    .append_pair("searchCriteria[currentPage]", &(self.pages + 1).to_string());
            }
            Strategy::Page { page_size, page_param, size_param, first_page } => {
                url.query_pairs_mut()
                    .append_pair(page_param, &(first_page + self.pages).to_string())
                    .append_pair(size_param, &page_size.to_string());
            }
            Strategy::Offset { limit, offset_param, limit_param } => {
                url.query_pairs_mut()
                    .append_pair(offset_param, &self.records.to_string())
                    .append_pair(limit_param, &limit.to_string());
            }
            Strategy::None
            | Strategy::Cursor { .. }
            | Strategy::NextLink { .. }
            | Strategy::LinkHeader
            | Strategy::Range { .. } => {}
        }
        url
    }

    /// The URL of the page after `page` (`base`: the URL without paging parameters), `None` at the
    /// end; an error when the API would be read in a loop or gives a link that is not a URL.
    pub(crate) fn next(&mut self, base: &url::Url, page: &Page<'_>) -> Result<Option<url::Url>, String> {
        self.pages += 1;
        self.records += page.records as u64;
        let full = |size: u64| page.records as u64 >= size;
        match self.strategy {
            Strategy::None => Ok(None),
            Strategy::Magento { page_size } => {
                // Past the end, Magento answers the last page again: only `total_count` tells the end.
                let Some(total) = page.body.get("total_count").and_then(Value::as_u64) else {
                    return Err("the answer has no `total_count` (a Magento search result has one)".into());
                };
                Ok((self.pages * page_size < total && page.records > 0).then(|| self.numbered(base)))
            }
            Strategy::Page { page_size, .. } => Ok(full(*page_size).then(|| self.numbered(base))),
            Strategy::Offset { limit, .. } => Ok(full(*limit).then(|| self.numbered(base))),
            Strategy::Cursor { cursor, param } => {
                let Some(value) = cursor.first(page.body).and_then(text) else { return Ok(None) };
                if !self.seen.insert(value.clone()) {
                    return Err(format!(
                        "the cursor `{}` came back a second time (after page {}): the API would be read in a loop",
                        crate::connectors::http::client::excerpt(&value, 80),
                        self.pages
                    ));
                }
                let mut url = base.clone();
                url.query_pairs_mut().append_pair(param, &value);
                Ok(Some(url))
            }
            Strategy::NextLink { next } => {
                let link = next.first(page.body).and_then(text);
                self.follow(page.url, link)
            }
            Strategy::LinkHeader => {
                let link = page.link.and_then(next_in_link_header);
                self.follow(page.url, link)
            }
            Strategy::Range { size, .. } => {
                let Some(header) = page.content_range else { return Ok(None) };
                let Some((end, total)) = content_range(header) else {
                    return Err(format!("the `Content-Range` header `{header}` is not `unit start-end/total`"));
                };
                // The next range starts after what the API says it sent.
                self.records = end.saturating_add(1);
                let more = match total {
                    Some(total) => end.saturating_add(1) < total,
                    None => full(*size),
                };
                Ok((more && page.records > 0).then(|| base.clone()))
            }
        }
    }

    /// The next page at `link` (relative to `current`), checked against the links seen.
    fn follow(&mut self, current: &url::Url, link: Option<String>) -> Result<Option<url::Url>, String> {
        let Some(link) = link else { return Ok(None) };
        let url = current.join(&link).map_err(|e| {
            format!("the next page's link `{}` is not a URL: {e}", crate::connectors::http::client::excerpt(&link, 200))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "the next page's link `{}` is not an http(s) URL",
                crate::connectors::http::client::scrub(url.as_str())
            ));
        }
        if !self.seen.insert(url.as_str().to_string()) {
            return Err(format!(
                "the next page's link `{}` came back a second time (after page {}): the API would be read in a loop",
                crate::connectors::http::client::scrub(url.as_str()),
                self.pages
            ));
        }
        Ok(Some(url))
    }
}

/// The last position and the total (`None` for `*`) of a `Content-Range: items 0-99/250` header.
fn content_range(header: &str) -> Option<(u64, Option<u64>)> {
    let (_unit, rest) = header.trim().split_once(' ')?;
    let (span, total) = rest.trim().split_once('/')?;
    let (_start, end) = span.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    Some((end.trim().parse().ok()?, total))
}

/// A cursor or link as text: a non-empty string, or a number; `None` for anything else.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The target of the `rel="next"` link of a `Link` header (RFC 8288), e.g.
/// `<https://api.example.com/items?page=2>; rel="next", <…>; rel="last"`.
fn next_in_link_header(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        // The link's parameters, without the `,` before the next link.
        let params = after[..params_end].trim_end().trim_end_matches(',');
        let is_next = params.split(';').any(|p| {
            let Some((name, value)) = p.split_once('=') else { return false };
            name.trim().eq_ignore_ascii_case("rel")
                && value.trim().trim_matches('"').split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        rest = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("items 0-99/250"), Some((99, Some(250))));
        assert_eq!(content_range("items 100-199/*"), Some((199, None)));
        assert_eq!(content_range("bytes */250"), None);
        assert_eq!(content_range("garbage"), None);
    }

    #[test]
    fn link_headers() {
        let h = r#"<https://a.example/items?page=1>; rel="prev", <https://a.example/items?page=3>; rel="next""#;
        assert_eq!(next_in_link_header(h).as_deref(), Some("https://a.example/items?page=3"));
        assert_eq!(next_in_link_header(r#"</items?p=2>; rel="last next""#).as_deref(), Some("/items?p=2"));
        assert_eq!(next_in_link_header(r#"</items?p=2>; rel=next"#).as_deref(), Some("/items?p=2"));
        assert_eq!(next_in_link_header(r#"</items?p=9>; rel="last""#), None);
        assert_eq!(next_in_link_header("garbage"), None);
        let first = r#"</items?p=2>; rel="next", <https://a.example/items?p=1>; rel="first""#;
        assert_eq!(next_in_link_header(first).as_deref(), Some("/items?p=2"));
    }
}
