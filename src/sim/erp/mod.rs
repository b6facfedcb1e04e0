//! An in-memory ERP shaped like Microsoft Dynamics 365 Business Central's API v2.0 (OData v4):
//! companies, locations, items with prices and stock per location, sales prices (per customer group,
//! quantity and date), customers, sales orders with lines
//! and an external document number, sales shipments with tracking numbers; server-driven paging,
//! `$filter`/`$orderby`/`$top`/`$skip`/`$select`, `@odata.etag` with `If-Match` on PATCH, a 429 budget,
//! Azure AD client-credentials tokens and a SAP Business One-like session login; control endpoints
//! (`/__sim/…`) to change stock, add locations, ship orders, change items and sales prices, and revoke
//! tokens. See `docs/simulators.md`.

mod apparel;
mod auth;
mod budget;
mod control;
mod data;
mod documents;
mod filter;
mod prices;
mod query;
mod routes;
mod shipments;
mod stamps;
mod store;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::Response;

use super::control::Control;
use super::faults::{ErrorShape, Rates};
use super::lock;
use super::server::SimError;

/// How `weir sim erp` runs: where it listens, what it seeds, which credentials it accepts.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Seeds the generated data.
    pub seed: u64,
    /// Entities per page when the client asks for no page size.
    pub page_size: usize,
    /// Requests per client per window (0: no budget).
    pub budget: u32,
    /// The budget's window.
    pub budget_window: Duration,
    /// The OAuth2 client id the token endpoint accepts.
    pub client_id: String,
    /// Its secret; never logged.
    pub client_secret: String,
    /// How long a token lives.
    pub token_lifetime: Duration,
    /// The session login's user name.
    pub user: String,
    /// Its password; never logged.
    pub password: String,
    /// Faults drawn at random from the first request on.
    pub rates: Rates,
}

/// The simulator's state, shared by every request.
pub(crate) struct Erp {
    options: Options,
    company: String,
    store: Mutex<store::Store>,
    auth: auth::Credentials,
    budget: budget::Budget,
    control: Control,
}

/// An OData error answer: `{"error": {"code", "message"}}`.
fn error(status: u16, code: &str, message: &str) -> Response {
    ErrorShape::OData.error(status, code, message)
}

/// An OData error not answered yet: what a check refuses with.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub(crate) struct ODataError {
    /// The HTTP status.
    status: u16,
    /// Business Central's error code, e.g. `BadRequest_NotFound`.
    code: String,
    /// The message.
    message: String,
    /// A `Retry-After` (seconds) to send with it.
    retry_after: Option<u64>,
}

impl ODataError {
    /// An error with a status, a code and a message.
    fn new(status: u16, code: &str, message: &str) -> Self {
        ODataError { status, code: code.to_string(), message: message.to_string(), retry_after: None }
    }

    /// The answer: `{"error": …}`, with `Retry-After`, and `WWW-Authenticate` on a 401.
    fn response(&self) -> Response {
        let mut response = error(self.status, &self.code, &self.message);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == 401 {
            let challenge = HeaderValue::from_static("Bearer realm=\"sim-erp\"");
            response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Adds `OData-Version: 4.0`, as every Business Central answer carries.
fn odata(mut response: Response) -> Response {
    response.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
    response
}

/// Binds, prints the bound address (`http://127.0.0.1:PORT`) as the first line on stdout, and serves
/// until the process ends.
pub(crate) async fn serve(options: Options) -> Result<(), SimError> {
    let port = options.port;
    let seeded = data::generate(options.seed);
    let erp = Arc::new(Erp {
        company: seeded.company.clone(),
        store: Mutex::new(store::Store::new(seeded)),
        auth: auth::Credentials::default(),
        budget: budget::Budget::new(options.budget, options.budget_window),
        control: Control::new(ErrorShape::OData, options.rates.clone()),
        options,
    });
    let app = axum::Router::new().fallback(routes::handle).with_state(erp);
    super::server::serve(port, app).await
}

impl Erp {
    /// The store, locked.
    fn store(&self) -> std::sync::MutexGuard<'_, store::Store> {
        lock(&self.store)
    }
}

/// Adds the entity's etag as the `ETag` header.
pub(super) fn with_etag(
    mut response: axum::response::Response,
    entity: &serde_json::Value,
) -> axum::response::Response {
    if let Some(tag) = entity.get("@odata.etag").and_then(serde_json::Value::as_str)
        && let Ok(value) = axum::http::HeaderValue::from_str(tag)
    {
        response.headers_mut().insert(axum::http::header::ETAG, value);
    }
    response
}
