//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`, which
//! `scripts/test.sh` installs) through fantoccini, with blocking calls for the synchronous tests.
//!
//! When the browser or its driver is not installed, or does not start, [`Browser::start`] answers
//! [`Skip`] with the reason, and the test says it is skipped; any later failure fails the test.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Why the browser tests cannot run here.
#[derive(Debug)]
pub(crate) struct Skip(pub(crate) String);

/// A headless Chromium session; the driver is stopped when dropped.
pub(crate) struct Browser {
    driver: Child,
    client: Option<Client>,
    runtime: tokio::runtime::Runtime,
    _profile: tempfile::TempDir,
}

/// The first of `names` found on `PATH`.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |name| dir.join(name))).find(|p| p.is_file())
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and a headless Chromium session through it.
    pub(crate) fn start() -> Result<Browser, Skip> {
        let missing = "not installed (scripts/test.sh installs it: apt-get install -y chromium chromium-driver)";
        let chromium = on_path(&["chromium", "chromium-browser"]).ok_or_else(|| Skip(format!("chromium {missing}")))?;
        let chromedriver = on_path(&["chromedriver"]).ok_or_else(|| Skip(format!("chromedriver {missing}")))?;
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Skip(format!("chromedriver does not start: {e}")))?;
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = driver.try_wait() {
                return Err(Skip(format!("chromedriver exited at start ({status})")));
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = driver.kill();
                return Err(Skip("chromedriver did not listen within 20s".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("tempdir");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                // `--no-sandbox`: the tests may run as root (CI does), where Chromium's sandbox refuses.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--window-size=1280,1600",
                         format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        let session = runtime.block_on(
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        );
        match session {
            Ok(client) => Ok(Browser { driver, client: Some(client), runtime, _profile: profile }),
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                Err(Skip(format!("chromium does not start under chromedriver: {e}")))
            }
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("an open session")
    }

    pub(crate) fn goto(&self, url: &str) {
        self.runtime.block_on(self.client().goto(url)).unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its return value.
    pub(crate) fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.runtime.block_on(self.client().execute(script, args)).unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Clicks the element `css` finds, as a user does (WebDriver's click: visible, enabled, in view).
    pub(crate) fn click(&self, css: &str) {
        let client = self.client();
        self.runtime
            .block_on(async { client.find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Types `text` into the field `css` finds, as a user does.
    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let client = self.client();
        self.runtime
            .block_on(async { client.find(Locator::Css(css)).await?.send_keys(text).await })
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// The text shown by the element `css` finds (what a user sees; empty when it is hidden).
    pub(crate) fn text(&self, css: &str) -> String {
        let client = self.client();
        self.runtime
            .block_on(async { client.find(Locator::Css(css)).await?.text().await })
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Polls `condition` (a JavaScript expression) until it is true; panics with `what` and the page's
    /// text after `within`.
    pub(crate) fn wait_until(&self, within: Duration, what: &str, condition: &str) {
        let started = Instant::now();
        let script = format!("return Boolean({condition});");
        while self.eval(&script, vec![]) != Value::Bool(true) {
            if started.elapsed() > within {
                let page = self.eval("return document.body.innerText;", vec![]);
                panic!("{what} not within {within:?}; the page shows:\n{}", page.as_str().unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
