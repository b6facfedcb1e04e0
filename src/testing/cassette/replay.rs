//! Answering a test's run from its cassette: each request of a component gets the answer of the first
//! exchange of that component not yet used whose request is the same (method, path, query and body,
//! secrets masked on both sides), so the n-th of identical requests gets the n-th recorded answer (a
//! `503` then a `201` replay in turn). A request no exchange matches fails the test, shown beside the
//! closest recorded one; exchanges left unused fail it too (the flow changed).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Exchange, Request};
use crate::kernel::mock::{MockReply, MockRequest, RequestMock};

/// Shown after every cassette failure.
const RECORD_AGAIN: &str = "run `weir test --record` again if the change is intended";

/// A cassette being replayed in one test's run.
#[derive(Debug)]
pub(crate) struct Replaying {
    /// The cassette as the test names it.
    shown: String,
    exchanges: Vec<Exchange>,
    /// Which exchanges have answered a request.
    used: Mutex<Vec<bool>>,
    /// Requests no exchange matched, as reported.
    unmatched: Mutex<Vec<String>>,
}

impl Replaying {
    /// Replays `exchanges` of the cassette named `shown`.
    pub(crate) fn new(shown: String, exchanges: Vec<Exchange>) -> Self {
        let used = Mutex::new(vec![false; exchanges.len()]);
        Self { shown, exchanges, used, unmatched: Mutex::default() }
    }

    /// What answers `component`'s requests.
    pub(crate) fn mock(self: &Arc<Self>, component: &str) -> Arc<dyn RequestMock> {
        Arc::new(ComponentReplay { component: component.to_string(), cassette: Arc::clone(self) })
    }

    fn answer(&self, component: &str, request: &MockRequest) -> MockReply {
        let request = Request::of(request);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let found = self
            .exchanges
            .iter()
            .enumerate()
            .find(|(i, e)| !used[*i] && e.component == component && e.request == request);
        if let Some((i, exchange)) = found {
            used[i] = true;
            return exchange.response.reply();
        }
        let closest = self.closest(component, &request, &used);
        drop(used);
        let recorded = match closest {
            Some(e) => format!("recorded: {}", e.request.shown()),
            None => format!("recorded: no request of `{component}`"),
        };
        let message = format!(
            "cassette `{}`: `{component}` sent a request that no recorded exchange matches\n  {recorded}\n  now:      {}\n  {RECORD_AGAIN}",
            self.shown,
            request.shown()
        );
        self.unmatched.lock().unwrap_or_else(|e| e.into_inner()).push(message);
        MockReply::Unmatched
    }

    /// The recorded exchange of `component` most like `request`: the unused ones first, then by how
    /// many of method, path, query and body are the same, then in order.
    fn closest(&self, component: &str, request: &Request, used: &[bool]) -> Option<&Exchange> {
        let likeness = |e: &Exchange| {
            let r = &e.request;
            (r.method == request.method) as u8 * 4
                + (r.path == request.path) as u8 * 4
                + (r.query == request.query) as u8 * 2
                + (r.body == request.body) as u8
        };
        let candidates = self.exchanges.iter().enumerate().filter(|(_, e)| e.component == component);
        candidates.max_by_key(|(i, e)| (!used[*i], likeness(e), std::cmp::Reverse(*i))).map(|(_, e)| e)
    }

    /// What went wrong: requests no exchange matched, then exchanges no request used.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = self.unmatched.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let unused: Vec<(usize, &Exchange)> = self.exchanges.iter().enumerate().filter(|(i, _)| !used[*i]).collect();
        if !unused.is_empty() {
            let mut message = format!(
                "cassette `{}`: {} recorded exchange{} never requested (the flow changed):",
                self.shown,
                unused.len(),
                if unused.len() == 1 { " was" } else { "s were" }
            );
            for (i, e) in unused.iter().take(5) {
                message.push_str(&format!("\n  #{} `{}`: {}", i + 1, e.component, e.request.shown()));
            }
            if unused.len() > 5 {
                message.push_str(&format!("\n  … and {} more", unused.len() - 5));
            }
            message.push_str(&format!("\n  {RECORD_AGAIN}"));
            out.push(message);
        }
        out
    }
}

/// Answers one component's requests from the cassette.
#[derive(Debug)]
struct ComponentReplay {
    component: String,
    cassette: Arc<Replaying>,
}

impl RequestMock for ComponentReplay {
    fn answer(&self, request: &MockRequest) -> MockReply {
        self.cassette.answer(&self.component, request)
    }

    /// Waits are virtual in a replay, as under mocks.
    fn pause(&self, _wait: Duration) {}
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::cassette::Response;

    fn request(method: &str, path: &str, body: serde_json::Value) -> MockRequest {
        MockRequest { method: method.into(), path: path.into(), query: Vec::new(), body: body.to_string().into_bytes() }
    }

    fn exchange(component: &str, method: &str, path: &str, body: serde_json::Value, status: u16) -> Exchange {
        Exchange {
            component: component.into(),
            request: Request::of(&request(method, path, body)),
            response: Response { status: Some(status), ..Response::default() },
        }
    }

    fn status(reply: MockReply) -> Option<u16> {
        match reply {
            MockReply::Response { status, .. } => Some(status),
            _ => None,
        }
    }

    #[test]
    fn identical_requests_get_the_recorded_answers_in_turn_and_only_their_components() {
        let body = json!({ "reference": "R-1" });
        let cassette = Arc::new(Replaying::new(
            "c.json".into(),
            vec![
                exchange("sink", "POST", "/orders", body.clone(), 503),
                exchange("sink", "POST", "/orders", body.clone(), 201),
            ],
        ));
        let (sink, other) = (cassette.mock("sink"), cassette.mock("other"));
        assert_eq!(status(other.answer(&request("POST", "/orders", body.clone()))), None, "another component's");
        assert_eq!(status(sink.answer(&request("POST", "/orders", body.clone()))), Some(503));
        assert_eq!(status(sink.answer(&request("POST", "/orders", body.clone()))), Some(201));
        assert_eq!(status(sink.answer(&request("POST", "/orders", body))), None, "each answer is used once");
        let problems = cassette.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`other` sent a request") && problems[0].contains("no request of `other`"));
        assert!(problems[1].contains("recorded: POST /orders with body {\"reference\":\"R-1\"}"), "{problems:?}");
    }

    #[test]
    fn the_closest_unused_exchange_is_shown_and_unused_ones_are_reported() {
        let cassette = Arc::new(Replaying::new(
            "c.json".into(),
            vec![
                exchange("sink", "GET", "/orders", json!(null), 200),
                exchange("sink", "POST", "/orders", json!({ "note": "a" }), 201),
            ],
        ));
        let mock = cassette.mock("sink");
        assert_eq!(status(mock.answer(&request("POST", "/orders", json!({ "note": "b" })))), None);
        let problems = cassette.problems();
        assert!(problems[0].contains("recorded: POST /orders with body {\"note\":\"a\"}"), "{problems:?}");
        assert!(problems[0].contains("now:      POST /orders with body {\"note\":\"b\"}"), "{problems:?}");
        assert!(problems[1].contains("2 recorded exchanges were never requested"), "{problems:?}");
    }
}
