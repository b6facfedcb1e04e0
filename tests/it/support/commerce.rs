//! The commerce simulator as a process (`weir sim commerce --port 0`), for the tests that call it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use serde_json::{Value, json};

/// A running simulator, killed when dropped.
pub(crate) struct Sim {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// A client for the tests' own calls.
    pub(crate) client: reqwest::blocking::Client,
}

impl Sim {
    /// Starts `weir sim commerce --port 0 ARGS` and waits for its address line.
    pub(crate) fn start(args: &[&str]) -> Sim {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut all = vec!["sim", "commerce", "--port", "0"];
        all.extend_from_slice(args);
        let mut child = crate::support::cli::command(&all, dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the simulator starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        // The first line is printed once the port is bound: no waiting needed after it.
        BufReader::new(stdout).read_line(&mut line).expect("the address line");
        let base = line.trim().to_string();
        assert!(base.starts_with("http://127.0.0.1:"), "{base:?}");
        Sim { child, base, client: reqwest::blocking::Client::new() }
    }

    /// A fresh admin token.
    pub(crate) fn token(&self) -> String {
        let (status, body) = self.send(
            "POST",
            "/rest/V1/integration/admin/token",
            None,
            Some(json!({"username": "admin", "password": "admin123"})),
        );
        assert_eq!(status, 200, "{body}");
        body.as_str().expect("the token is a JSON string").to_string()
    }

    /// Sends a request (JSON body, bearer token); answers the status and the body (JSON, or the text as a JSON string).
    pub(crate) fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let response = request.send().expect("the simulator answers");
        let status = response.status().as_u16();
        let text = response.text().expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A GET that must answer 200.
    pub(crate) fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.send("GET", path, Some(token), None);
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
