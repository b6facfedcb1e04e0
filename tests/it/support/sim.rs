//! A simulator (`weir sim commerce|erp --port 0 …`) as a child process, killed when dropped, and a
//! client for its API and control endpoints (`/__sim/…`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running simulator.
pub(crate) struct Simulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    client: reqwest::blocking::Client,
}

/// An answer: status, headers, body (JSON, or the text as a JSON string).
pub(crate) struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// A header's value, or "".
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

impl Simulator {
    /// Starts `weir sim KIND --port 0 ARGS…` and reads its address from the first stdout line.
    pub(crate) fn start(kind: &str, args: &[&str]) -> Simulator {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut all = vec!["sim", kind, "--port", "0"];
        all.extend_from_slice(args);
        let mut child =
            super::cli::command(&all, dir.path()).stdout(Stdio::piped()).spawn().expect("the simulator starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        // The first line is printed once the port is bound: no waiting needed after it.
        BufReader::new(stdout).read_line(&mut line).expect("the address line");
        let base = line.trim().to_string();
        assert!(base.starts_with("http://127.0.0.1:"), "{base:?}");
        Simulator { child, base, client: reqwest::blocking::Client::new() }
    }

    /// Sends a request; `timeout` bounds it (the error, e.g. a reset or a timeout, is returned).
    pub(crate) fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
        timeout: Option<Duration>,
    ) -> Result<Answer, reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.base) };
        let mut request = self.client.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send()?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text()?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, headers, body })
    }

    /// Sends a request that must be answered.
    pub(crate) fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<String>) -> Answer {
        self.try_send(method, path, headers, body, None).expect("the simulator answers")
    }

    /// A control endpoint's JSON answer (`/__sim/{path}`), which must be 2xx.
    pub(crate) fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.send(method, &format!("/__sim/{path}"), &[], body.map(|b| b.to_string()));
        assert!(answer.status < 300, "/__sim/{path}: {} {}", answer.status, answer.body);
        answer.body
    }

    /// Every request the simulator received.
    pub(crate) fn requests(&self) -> Vec<Value> {
        self.control("GET", "requests", None).as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An access token from the simulator's token endpoint (asked again while fault rates refuse it).
pub(crate) fn token(sim: &Simulator) -> String {
    let form = "grant_type=client_credentials&client_id=sim-client&client_secret=sim-client-secret&scope=x";
    let ask = || {
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        sim.send("POST", "/tenant-1/oauth2/v2.0/token", &headers, Some(form.into()))
    };
    let answer = (0..20).map(|_| ask()).find(|a| a.status != 429 && a.status < 500).expect("a token in 20 tries");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["expires_in"].as_u64().is_some_and(|s| s > 0), "{}", answer.body);
    answer.body["access_token"].as_str().expect("a token").to_string()
}

/// `/api/v2.0/companies({id})/{set}`.
pub(crate) fn api(sim: &Simulator, set: &str) -> String {
    let company = sim.control("GET", "state", None)["companyId"].as_str().expect("a company id").to_string();
    format!("/api/v2.0/companies({company})/{set}")
}

pub(crate) fn get(sim: &Simulator, path: &str, token: &str, headers: &[(&str, &str)]) -> Answer {
    let bearer = format!("Bearer {token}");
    let mut all = vec![("Authorization", bearer.as_str())];
    all.extend_from_slice(headers);
    sim.send("GET", path, &all, None)
}
