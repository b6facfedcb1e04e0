//! A Magento-like order search on 127.0.0.1 whose data changes while it is read, for incremental
//! sync tests: `GET /orders` with `searchCriteria` (one `updated_at` filter with `gteq`, sorted by
//! `updated_at` then `entity_id`, `pageSize`, `currentPage`, `total_count`, the last page again past
//! the end), orders that tests add and update between runs ([`Changes::change`]) and during one, after
//! a given request ([`Changes::after_request`]). Times are whole seconds, written as Magento writes
//! them (`YYYY-MM-DD hh:mm:ss`, UTC).

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// An order: its id and its change time in seconds after 2026-03-01 00:00:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) updated: u64,
}

/// A change applied to the orders.
pub(crate) type Change = Box<dyn FnOnce(&mut Vec<Order>) + Send>;

#[derive(Default)]
struct State {
    orders: Vec<Order>,
    requests: usize,
    /// Changes to apply once request number `n` (from 1) has been answered.
    pending: Vec<(usize, Change)>,
}

/// The running server.
pub(crate) struct Changes {
    base: String,
    state: Arc<Mutex<State>>,
}

/// `seconds` after 2026-03-01 00:00:00 as Magento writes it.
pub(crate) fn magento_time(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    format!("2026-03-{:02} {:02}:{m:02}:{s:02}", 1 + h / 24, h % 24)
}

fn parse_time(text: &str) -> Option<u64> {
    let (date, time) = text.split_once(' ')?;
    let day: u64 = date.strip_prefix("2026-03-")?.parse().ok()?;
    let mut parts = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some((day - 1) * 86_400 + h * 3600 + m * 60 + s)
}

impl Changes {
    /// Starts the server with `orders`.
    pub(crate) fn start(orders: Vec<Order>) -> Changes {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State { orders, ..State::default() }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Changes { base, state }
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    /// Applies `change` now.
    pub(crate) fn change(&self, change: impl FnOnce(&mut Vec<Order>)) {
        change(&mut self.state.lock().expect("state").orders);
    }

    /// Applies `change` once `n` more requests have been answered (before the next is read).
    pub(crate) fn after_request(&self, n: usize, change: Change) {
        let mut state = self.state.lock().expect("state");
        let at = state.requests + n;
        state.pending.push((at, change));
    }

    /// Requests answered so far.
    pub(crate) fn requests(&self) -> usize {
        self.state.lock().expect("state").requests
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    while let Some((target, _)) = super::pages::read_head(&mut reader) {
        let body = {
            let mut state = state.lock().expect("state");
            let body = search(&state.orders, &target).to_string();
            state.requests += 1;
            let now = state.requests;
            let (due, later): (Vec<_>, Vec<_>) = state.pending.drain(..).partition(|(at, _)| *at <= now);
            state.pending = later;
            for (_, change) in due {
                change(&mut state.orders);
            }
            body
        };
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
        if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(body.as_bytes())).is_err() {
            return;
        }
    }
}

/// The answer to a search: the orders changed at or after the filter's value, in order, one page.
fn search(orders: &[Order], target: &str) -> Value {
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let from = params.get("searchCriteria[filter_groups][0][filters][0][value]").and_then(|v| parse_time(v));
    let size: usize = params.get("searchCriteria[pageSize]").and_then(|v| v.parse().ok()).unwrap_or(20);
    let mut matching: Vec<Order> = orders.iter().copied().filter(|o| from.is_none_or(|f| o.updated >= f)).collect();
    matching.sort_by_key(|o| (o.updated, o.id));
    let last = matching.len().div_ceil(size).max(1);
    let page: usize = params.get("searchCriteria[currentPage]").and_then(|v| v.parse().ok()).unwrap_or(1);
    // Past the end, Magento answers the last page again.
    let start = (page.clamp(1, last) - 1) * size;
    let items: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(size)
        .map(|o| json!({"entity_id": o.id, "updated_at": magento_time(o.updated)}))
        .collect();
    json!({"items": items, "total_count": matching.len()})
}
