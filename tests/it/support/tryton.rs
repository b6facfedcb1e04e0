//! A real Tryton 8.2 server on loopback, started by `scripts/tryton.sh` (a cached virtual environment,
//! a fresh copy of a bootstrapped SQLite database per server) and stopped when dropped.
//!
//! When Python 3, venv, pip or the package index is unavailable the script exits 3 with one line of
//! reason: [`Tryton::start`] answers [`Skip`] then, and only then; any other failure fails the test.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Why the Tryton tests cannot run here (the script's one-line reason).
#[derive(Debug)]
pub(crate) struct Skip(pub(crate) String);

/// A running trytond, with the REST key and the ids the bootstrap wrote.
pub(crate) struct Tryton {
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT/erp/rest`.
    pub(crate) rest: String,
    /// A REST application key of admin (a secret: never printed).
    pub(crate) key: String,
    /// What the bootstrap created: `company`, `currency`, `customer`, `address`, `unit`, `products`
    /// (code → id).
    pub(crate) ids: Value,
    client: reqwest::blocking::Client,
}

fn script() -> PathBuf {
    super::repo().join("scripts/tryton.sh")
}

/// A port free on loopback now (the OS's choice; trytond binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

impl Tryton {
    /// Starts a server in a new temporary folder on a free port.
    pub(crate) fn start() -> Result<Tryton, Skip> {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port().to_string();
        let out =
            Command::new(script()).arg("start").arg(dir.path()).arg(&port).output().expect("scripts/tryton.sh runs");
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if out.status.code() == Some(3) {
            return Err(Skip(stderr.lines().last().unwrap_or("no reason given").to_string()));
        }
        assert!(out.status.success(), "scripts/tryton.sh start failed ({}):\n{stderr}", out.status);
        let key = std::fs::read_to_string(dir.path().join("rest-key")).expect("rest-key").trim().to_string();
        let ids = serde_json::from_str(&std::fs::read_to_string(dir.path().join("ids.json")).expect("ids.json"))
            .expect("ids.json is JSON");
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Tryton {
            dir,
            rest: format!("http://127.0.0.1:{port}/erp/rest"),
            key,
            ids,
            client: reqwest::blocking::Client::new(),
        })
    }

    /// `X-Tryton-Context` for the bootstrapped company: base64url of `{"company": ID}`.
    pub(crate) fn context(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE.encode(format!("{{\"company\": {}}}", self.ids["company"]))
    }

    /// `GET {rest}/model/MODEL?d=DOMAIN&f=FIELD…`: the records of `model` matching `domain`, with
    /// `fields` (dotted paths reach into relations).
    pub(crate) fn search(&self, model: &str, domain: &Value, fields: &[&str]) -> Vec<Value> {
        use base64::Engine as _;
        // base64url and field paths (letters, digits, `_` and `.`) need no percent-encoding.
        let mut url = format!(
            "{}/model/{model}?d={}",
            self.rest,
            base64::engine::general_purpose::URL_SAFE.encode(domain.to_string())
        );
        for field in fields {
            url.push_str("&f=");
            url.push_str(field);
        }
        let answer = self
            .client
            .get(url)
            .bearer_auth(&self.key)
            .header("X-Tryton-Context", self.context())
            .send()
            .expect("Tryton answers");
        let status = answer.status();
        let body = answer.text().expect("an answer body");
        assert!(status.is_success(), "GET /model/{model}: {status}: {body}");
        serde_json::from_str(&body).expect("a JSON list")
    }
}

impl Drop for Tryton {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(self.dir.path()).status();
    }
}

impl Tryton {
    /// `METHOD {rest}PATH` with a JSON body in the bootstrapped company's context: the answer, which
    /// must be a success.
    pub(crate) fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let answer = self
            .client
            .request(method, format!("{}{path}", self.rest))
            .bearer_auth(&self.key)
            .header("X-Tryton-Context", self.context())
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .expect("Tryton answers");
        let status = answer.status();
        let text = answer.text().expect("an answer body");
        assert!(status.is_success(), "{path}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}
