//! A minimal LSP client over stdio for driving yaml-language-server (the server VS Code's YAML
//! extension runs) against the committed schemas. Responses are awaited by request id and
//! notifications by method; the timeout only guards against a hung server, nothing waits on a clock.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The version `scripts/test.sh` installs (1.x: 2.x needs Node 22).
pub(crate) const SERVER_VERSION: &str = "1.25.0";

/// How long one answer may take before the test fails (a guard: answers normally take milliseconds).
const GUARD: Duration = Duration::from_secs(60);

/// The server's entry point: `WEIR_YAML_LS` or where `scripts/test.sh` installs it.
pub(crate) fn server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_YAML_LS") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/lsp/node_modules/yaml-language-server/bin/yaml-language-server")
}

/// A running server and the messages it sent that nobody has consumed yet.
pub(crate) struct Server {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    pending: Vec<Value>,
    next_id: i64,
}

impl Server {
    /// Starts the server and completes the `initialize` handshake. Panics with the install command when
    /// Node or the server is missing: a missing tool must fail the test, not skip it.
    pub(crate) fn start(root: &Path) -> Server {
        let path = server_path();
        assert!(
            path.exists(),
            "yaml-language-server is not installed at {}; `scripts/test.sh` installs it \
             (npm install --prefix .cache/lsp yaml-language-server@{SERVER_VERSION}), or set WEIR_YAML_LS",
            path.display()
        );
        let mut child = Command::new("node")
            .arg(&path)
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` (needed for yaml-language-server): {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, incoming) = channel();
        std::thread::spawn(move || read_messages(stdout, tx));
        let mut server = Server { child, stdin, incoming, pending: Vec::new(), next_id: 0 };
        let root_uri = uri(root);
        let capabilities = json!({
            "textDocument": {
                "completion": {"completionItem": {"snippetSupport": true, "documentationFormat": ["markdown", "plaintext"]}},
                "hover": {"contentFormat": ["markdown", "plaintext"]},
                "publishDiagnostics": {}
            },
            "workspace": {"configuration": true}
        });
        server.request(
            "initialize",
            json!({"processId": null, "rootUri": root_uri, "capabilities": capabilities, "workspaceFolders": null}),
        );
        server.notify("initialized", json!({}));
        server.notify("workspace/didChangeConfiguration", json!({"settings": settings()}));
        server
    }

    /// Opens a YAML document with `text`.
    pub(crate) fn open(&mut self, file: &Path, text: &str) -> String {
        let uri = uri(file);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}),
        );
        uri
    }

    /// Sends a request and returns its `result`, answering the server's own requests meanwhile.
    pub(crate) fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let answer = self
            .wait(&format!("the answer to {method}"), |m| m.get("id") == Some(&json!(id)) && m.get("method").is_none());
        if let Some(error) = answer.get("error") {
            panic!("{method} failed: {error}");
        }
        answer.get("result").cloned().unwrap_or(Value::Null)
    }

    /// Waits for the first `publishDiagnostics` for `uri` with at least one diagnostic.
    pub(crate) fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let message = self.wait(&format!("diagnostics for {uri}"), |m| {
            m.get("method").and_then(Value::as_str) == Some("textDocument/publishDiagnostics")
                && m["params"]["uri"] == uri
                && m["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
        });
        message["params"]["diagnostics"].as_array().cloned().unwrap_or_default()
    }

    /// Completion items at `line`:`character` (zero-based).
    pub(crate) fn completion(&mut self, uri: &str, line: u32, character: u32) -> Vec<Value> {
        let result = self.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        );
        match result {
            Value::Array(items) => items,
            other => other.get("items").and_then(Value::as_array).cloned().unwrap_or_default(),
        }
    }

    /// The hover's Markdown text at `line`:`character`.
    pub(crate) fn hover(&mut self, uri: &str, line: u32, character: u32) -> Value {
        self.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        )
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("the server reads its input");
        self.stdin.flush().expect("the server reads its input");
    }

    /// The first message (already received or to come) matching `wanted`; the server's requests met on
    /// the way are answered, since it may wait for them before answering ours.
    fn wait(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&wanted) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match self.incoming.recv_timeout(left) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => panic!("yaml-language-server sent no {what} within {GUARD:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("yaml-language-server exited before sending {what}"),
            };
            if message.get("id").is_some() && message.get("method").is_some() {
                self.answer_server_request(&message);
                continue;
            }
            if wanted(&message) {
                return message;
            }
            self.pending.push(message);
        }
    }

    fn answer_server_request(&mut self, request: &Value) {
        let result = match request["method"].as_str() {
            // One answer per item asked: the `yaml` section gets our settings, the rest nothing.
            Some("workspace/configuration") => Value::Array(
                request["params"]["items"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(
                                |item| if item["section"] == "yaml" { settings()["yaml"].clone() } else { Value::Null },
                            )
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => Value::Null,
        };
        let id = request["id"].clone();
        self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings() -> Value {
    json!({"yaml": {"validate": true, "hover": true, "completion": true, "format": {"enable": false}, "schemaStore": {"enable": false}}})
}

/// `file://` URI of an absolute path.
pub(crate) fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Reads `Content-Length`-framed JSON messages until the server closes its output.
fn read_messages(stdout: impl Read, tx: Sender<Value>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length:") {
                length = n.trim().parse::<usize>().ok();
            }
        }
        let Some(length) = length else { return };
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let Ok(message) = serde_json::from_slice(&body) else { return };
        if tx.send(message).is_err() {
            return;
        }
    }
}
