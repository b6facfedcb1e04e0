//! What the webhook tests share: real RSA key pairs and signatures, configs from YAML, a state store in
//! a temporary folder, requests, and a loopback key host counting what it serves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};

use super::{Settings, WebhookIngress, WebhookSourceConfig};
use crate::sources::webhook::ingress::{IngressAnswer, WebhookRequest};
use crate::state::StateStore;
use crate::state::sqlite::SqliteStore;

/// An RSA key pair of 2048 bits, made for the test.
pub(super) struct KeyPair {
    signing: SigningKey<rsa::sha2::Sha256>,
    /// The public key, PEM `PUBLIC KEY`.
    pub(super) public_pem: String,
    pub(super) public: rsa::RsaPublicKey,
}

impl KeyPair {
    pub(super) fn new() -> KeyPair {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
        let public = private.to_public_key();
        let public_pem = public.to_public_key_pem(LineEnding::LF).expect("PEM");
        KeyPair { signing: SigningKey::new(private), public_pem, public }
    }

    /// The base64 RSA-SHA256 PKCS#1 v1.5 signature of `message`.
    pub(super) fn sign(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.signing.sign(message).to_bytes())
    }
}

/// A source config from YAML.
pub(super) fn config(yaml: &str) -> WebhookSourceConfig {
    serde_yaml::from_str(yaml).expect("a webhook config")
}

/// The compiled settings of a config written in YAML.
pub(super) fn settings(yaml: &str) -> Settings {
    config(yaml).compile().expect("it builds")
}

/// The build errors of a config, as text.
pub(super) fn build_errors(yaml: &str) -> String {
    match config(yaml).compile() {
        Ok(_) => panic!("expected build errors"),
        Err(errors) => {
            errors.0.iter().map(|e| format!("{}: {}", e.field.join("."), e.message)).collect::<Vec<_>>().join("\n")
        }
    }
}

/// A state store in a temporary folder.
pub(super) fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("state.db")).expect("open");
    (dir, Arc::new(store))
}

/// The ingress of pipeline `p` for a config written in YAML.
pub(super) fn ingress(yaml: &str, store: &Arc<SqliteStore>) -> WebhookIngress {
    let store: Arc<dyn StateStore> = Arc::clone(store) as Arc<dyn StateStore>;
    config(yaml).ingress("p", store).expect("it builds")
}

/// Headers from pairs.
pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    map
}

/// `POST`s `body` with `headers` to the ingress, received now.
pub(super) async fn post(ingress: &WebhookIngress, headers: &HeaderMap, body: &[u8]) -> IngressAnswer {
    post_at(ingress, headers, body, SystemTime::now()).await
}

/// `POST`s `body` received at `at`.
pub(super) async fn post_at(
    ingress: &WebhookIngress,
    headers: &HeaderMap,
    body: &[u8],
    at: SystemTime,
) -> IngressAnswer {
    let request = WebhookRequest { method: &Method::POST, query: None, headers, body, received_at: at };
    ingress.accept(request).await
}

/// The answer's body as JSON.
pub(super) fn body_of(answer: &IngressAnswer) -> serde_json::Value {
    serde_json::from_slice(&answer.body).expect("a JSON answer")
}

/// A key host on loopback: serves the PEM files put in it under their paths, counts requests.
pub(super) struct KeyHost {
    pub(super) url: String,
    files: Arc<Mutex<HashMap<String, String>>>,
    requests: Arc<AtomicU64>,
    _server: tokio::task::JoinHandle<()>,
}

impl KeyHost {
    pub(super) async fn start() -> KeyHost {
        let files: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let requests = Arc::new(AtomicU64::new(0));
        let (served, counted) = (Arc::clone(&files), Arc::clone(&requests));
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (files, requests) = (Arc::clone(&served), Arc::clone(&counted));
            async move {
                requests.fetch_add(1, Ordering::SeqCst);
                match files.lock().expect("lock").get(uri.path()) {
                    Some(pem) => (axum::http::StatusCode::OK, pem.clone()),
                    None => (axum::http::StatusCode::NOT_FOUND, String::new()),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        KeyHost { url, files, requests, _server: server }
    }

    pub(super) fn put(&self, path: &str, pem: &str) {
        self.files.lock().expect("lock").insert(path.to_string(), pem.to_string());
    }

    pub(super) fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}
