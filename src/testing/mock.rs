//! Mocked HTTP answers: a test's rules compiled (method, path pattern, query, body subset), matched
//! against each request a component makes, answered in turn, and counted — so that a rule expected a
//! number of `times`, or a request no rule matches, fails the test.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;
use serde_json::Value;

use super::compare::is_subset;
use super::spec::{Answers, MockAnswer, MockRule};
use crate::assemble::parse::Parser;
use crate::config::file::Anchor;
use crate::kernel::mock::{MockReply, MockRequest, RequestMock};

/// One rule, ready to match.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    method: Option<String>,
    path: Option<(String, Regex)>,
    query: BTreeMap<String, String>,
    body: Option<Value>,
    answers: Vec<MockAnswer>,
    /// How many requests it must answer.
    pub(crate) times: Option<u64>,
    /// How many it answered in this test's run.
    pub(crate) served: AtomicU64,
    /// How it is shown in messages: `POST /V1/orders`.
    pub(crate) shown: String,
}

impl CompiledRule {
    /// A copy that has answered nothing yet, for one run.
    pub(crate) fn fresh(&self) -> Self {
        Self {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            body: self.body.clone(),
            answers: self.answers.clone(),
            times: self.times,
            served: AtomicU64::new(0),
            shown: self.shown.clone(),
        }
    }

    fn matches(&self, request: &MockRequest) -> bool {
        self.method.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(&request.method))
            && self.path.as_ref().is_none_or(|(_, re)| re.is_match(&request.path))
            && self.query.iter().all(|(k, v)| request.query.iter().any(|(qk, qv)| qk == k && qv == v))
            && self.body.as_ref().is_none_or(|want| {
                serde_json::from_slice::<Value>(&request.body).is_ok_and(|got| is_subset(want, &got))
            })
    }

    /// The answer to this rule's next request.
    fn answer(&self) -> MockAnswer {
        let n = self.served.fetch_add(1, Ordering::SeqCst) as usize;
        self.answers[n.min(self.answers.len() - 1)].clone()
    }
}

/// The mocks of one component in one test run, and what they saw.
#[derive(Debug)]
pub(crate) struct ComponentMocks {
    /// The component's id.
    pub(crate) component: String,
    rules: Vec<CompiledRule>,
    /// Requests no rule matched, as `METHOD path?query`.
    pub(crate) unmatched: Mutex<Vec<String>>,
    /// Every request, in order, as `METHOD path?query`.
    pub(crate) seen: Mutex<Vec<String>>,
    /// The waits the component made (backoff, `Retry-After`, settle, polling), in order.
    pub(crate) pauses: Mutex<Vec<std::time::Duration>>,
}

impl ComponentMocks {
    pub(crate) fn new(component: String, rules: Vec<CompiledRule>) -> Self {
        Self { component, rules, unmatched: Mutex::default(), seen: Mutex::default(), pauses: Mutex::default() }
    }

    /// The answer to `request`: the first matching rule's next answer; `None` when no rule matches.
    fn rule_answer(&self, request: &MockRequest) -> Option<MockAnswer> {
        let shown = shown(request);
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).push(shown.clone());
        match self.rules.iter().find(|r| r.matches(request)) {
            Some(rule) => Some(rule.answer()),
            None => {
                self.unmatched.lock().unwrap_or_else(|e| e.into_inner()).push(shown);
                None
            }
        }
    }

    /// What went wrong with these mocks: requests no rule matched, rules answered other than `times`.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .unmatched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|r| format!("mocks of `{}`: no rule matches the request {r}", self.component))
            .collect();
        for rule in &self.rules {
            let served = rule.served.load(Ordering::SeqCst);
            if let Some(times) = rule.times.filter(|t| *t != served) {
                out.push(format!(
                    "mocks of `{}`: rule `{}` answered {served} request{}, expected {times}",
                    self.component,
                    rule.shown,
                    if served == 1 { "" } else { "s" }
                ));
            }
        }
        out
    }
}

impl RequestMock for ComponentMocks {
    fn answer(&self, request: &MockRequest) -> MockReply {
        match self.rule_answer(request) {
            None => MockReply::Unmatched,
            Some(a) if a.timeout => MockReply::NoResponse,
            Some(a) => {
                let mut headers: Vec<(String, String)> = a.headers.into_iter().collect();
                let body = match (a.body, a.text) {
                    (Some(json), _) => {
                        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                            headers.push(("content-type".into(), "application/json".into()));
                        }
                        serde_json::to_vec(&json).unwrap_or_default()
                    }
                    (None, Some(text)) => text.into_bytes(),
                    (None, None) => Vec::new(),
                };
                MockReply::Response { status: a.status, headers, body }
            }
        }
    }

    fn pause(&self, wait: std::time::Duration) {
        self.pauses.lock().unwrap_or_else(|e| e.into_inner()).push(wait);
    }
}

fn shown(request: &MockRequest) -> String {
    let mut s = format!("{} {}", request.method, request.path);
    for (i, (k, v)) in request.query.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(&format!("{k}={v}"));
    }
    s
}

/// Compiles a component's rules (written at `pointer`), reporting each bad one.
pub(crate) fn compile_rules(parser: &mut Parser<'_>, rules: &[MockRule], pointer: &str) -> Option<Vec<CompiledRule>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("{pointer}/{i}");
        let path = match &rule.when.path {
            None => None,
            Some(p) => match path_pattern(p) {
                Ok(re) => Some((p.clone(), re)),
                Err(e) => {
                    let hint =
                        Some("`*` is one path segment, `**` any number; `re:` starts a regular expression".into());
                    parser.error(
                        "bad-pattern",
                        format!("bad path pattern: {e}"),
                        &format!("{at}/when/path"),
                        Anchor::Value,
                        None,
                        "",
                        hint,
                    );
                    ok = false;
                    None
                }
            },
        };
        let answers = match &rule.then {
            Answers::One(a) => vec![a.clone()],
            Answers::Sequence(list) if !list.is_empty() => list.clone(),
            Answers::Sequence(_) => {
                let hint = Some("give at least one answer: `then: { status: 200 }`".into());
                parser.error(
                    "bad-value",
                    "`then` is an empty list".into(),
                    &format!("{at}/then"),
                    Anchor::Value,
                    None,
                    "",
                    hint,
                );
                ok = false;
                continue;
            }
        };
        for (j, a) in answers.iter().enumerate() {
            let here =
                if matches!(rule.then, Answers::One(_)) { format!("{at}/then") } else { format!("{at}/then/{j}") };
            if !(100..=599).contains(&a.status) {
                let hint = Some("an HTTP status from 100 to 599".into());
                parser.error(
                    "bad-value",
                    format!("status {} is not an HTTP status", a.status),
                    &format!("{here}/status"),
                    Anchor::Value,
                    None,
                    "",
                    hint,
                );
                ok = false;
            }
            if a.body.is_some() && a.text.is_some() {
                let hint = Some("`body` is JSON, `text` is sent as written: give one".into());
                parser.error("bad-value", "give either `body` or `text`".into(), &here, Anchor::Value, None, "", hint);
                ok = false;
            }
        }
        let method = rule.when.method.as_ref().map(|m| m.to_ascii_uppercase());
        let shown = format!(
            "{}{}",
            method.as_deref().map_or(String::new(), |m| format!("{m} ")),
            rule.when.path.as_deref().unwrap_or("(any path)")
        );
        out.push(CompiledRule {
            method,
            path,
            query: rule.when.query.clone(),
            body: rule.when.body.clone(),
            answers,
            times: rule.times,
            served: AtomicU64::new(0),
            shown,
        });
    }
    ok.then_some(out)
}

/// A path pattern as a regular expression matching the whole path.
fn path_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    if let Some(re) = pattern.strip_prefix("re:") {
        return Regex::new(&format!("^(?:{re})$"));
    }
    let mut re = String::from("^");
    let mut rest = pattern;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("**") {
            re.push_str(".*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('*') {
            re.push_str("[^/]*");
            rest = r;
        } else {
            let next = rest.find('*').unwrap_or(rest.len());
            re.push_str(&regex::escape(&rest[..next]));
            rest = &rest[next..];
        }
    }
    re.push('$');
    Regex::new(&re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_is_one_segment_and_two_stars_any_number() {
        let one = path_pattern("/V1/orders/*/comments").expect("valid");
        assert!(one.is_match("/V1/orders/42/comments"));
        assert!(!one.is_match("/V1/orders/4/2/comments"));
        let any = path_pattern("/V1/**").expect("valid");
        assert!(any.is_match("/V1/orders/42/comments"));
        assert!(!any.is_match("/V2/orders"));
        let re = path_pattern("re:/V1/orders/[0-9]+").expect("valid");
        assert!(re.is_match("/V1/orders/42"));
        assert!(!re.is_match("/V1/orders/42/x"), "a regular expression matches the whole path");
        assert!(path_pattern("/V1/a.b").expect("valid").is_match("/V1/a.b"));
        assert!(!path_pattern("/V1/a.b").expect("valid").is_match("/V1/axb"), "text is literal");
    }
}
