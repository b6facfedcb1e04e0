//! A `weir serve` process for the tests: started on a free loopback port with a folder, its log
//! collected, the admin API called with its token, stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `weir serve` process on a free port of 127.0.0.1.
pub(crate) struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    stderr: Arc<Mutex<String>>,
    pub(crate) client: reqwest::blocking::Client,
    /// The admin token sent with each request, if any.
    pub(crate) token: Option<String>,
}

impl Served {
    pub(crate) fn start(dir: &Path, env: &[(&str, &str)]) -> Served {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["serve", "--listen", "127.0.0.1:0", "--state"])
            .arg(dir.join("state.db"))
            .arg(dir)
            .env("WEIR_LOG", "info")
            .env_remove("WEIR_ADMIN_TOKEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weir serve starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut seen = String::new();
        let base = loop {
            let line = lines.next().and_then(Result::ok).unwrap_or_else(|| panic!("weir serve ended:\n{seen}"));
            seen.push_str(&line);
            seen.push('\n');
            if let Some(at) = line.find("listening on http://") {
                break line[at + "listening on ".len()..].trim().to_string();
            }
        };
        let stderr = Arc::new(Mutex::new(seen));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut all = sink.lock().expect("stderr");
                all.push_str(&line);
                all.push('\n');
            }
        });
        let token = env.iter().find(|(k, _)| *k == "WEIR_ADMIN_TOKEN").map(|(_, v)| v.to_string());
        Served { child, base, stderr, client: reqwest::blocking::Client::new(), token }
    }

    pub(crate) fn request(&self, method: &str, path: &str) -> (u16, Value) {
        let mut request = self.client.request(method.parse().expect("a method"), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().expect("weir serve answers");
        let status = response.status().as_u16();
        let text = response.text().expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub(crate) fn get(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// The pipeline's runs in the history, oldest first.
    pub(crate) fn runs(&self, pipeline: &str) -> Vec<Value> {
        let mut runs =
            self.get(&format!("/api/runs?pipeline={pipeline}&limit=1000")).as_array().expect("a list").clone();
        runs.reverse();
        runs
    }

    /// Polls until `done` holds (panics with the log after `within`).
    pub(crate) fn wait_for(&self, within: Duration, what: &str, done: impl Fn(&Served) -> bool) {
        let started = Instant::now();
        while !done(self) {
            assert!(started.elapsed() < within, "{what} not within {within:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    /// Sends `signal` and waits for the exit code.
    pub(crate) fn signal(mut self, signal: &str) -> Option<i32> {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill runs");
        assert!(sent.success());
        self.child.wait().expect("weir serve exits").code()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when a run of the history has ended.
pub(crate) fn ended(run: &Value) -> bool {
    run["ended_at"].is_string()
}

/// Writes `text` to `dir/name`.
pub(crate) fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

/// A folder with the `prices` pipeline: each record of `in.ndjson` (`{"sku":"A"}` then `b`) priced
/// from `tables/prices.csv`, which has a row for A only: B is dead-lettered until the table is fixed.
pub(crate) fn prices_folder(dir: &Path, b: &Value) {
    write(dir, "in.ndjson", &format!("{{\"sku\":\"A\"}}\n{b}\n"));
    std::fs::create_dir(dir.join("tables")).expect("tables/");
    write(dir, "tables/prices.csv", "sku,price\nA,10\n");
    write(
        dir,
        "prices.yaml",
        r#"name: prices
source: { id: in, type: file, path: in.ndjson, key: "sku:{{ record.sku }}" }
steps:
  - id: price
    type: template
    set:
      price: "{{ lookup('prices', record.sku, key='sku', column='price', default=none) | required('no price for ' ~ record.sku ~ ' in tables/prices.csv') }}"
sinks: [{ id: out, type: file, path: out.ndjson }]
"#,
    );
}
