//! An in-memory Adobe Commerce (Magento 2.4) REST API: admin tokens and OAuth 1.0a, the Luma sample
//! catalog and its writes (products, configurable options and children), prices, MSI source items,
//! orders, shipments, customers and customer groups with `searchCriteria`, async bulk operations, and
//! control endpoints (`/__sim/…`) that list the requests received, inject faults, add orders and steer
//! bulk operations. See `docs/simulators.md`.

mod auth;
mod bulk;
mod catalog;
mod catalog_write;
pub(crate) use catalog::sample_children;
mod customers;
mod data;
mod groups;
mod input;
mod inventory;
mod orders;
mod prices;
mod routes;
mod search;
mod shipments;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::control::Control;
use super::faults::{ErrorShape, Rates};
use super::lock;
use super::respond;
use super::server::SimError;

/// How `weir sim commerce` runs: where it listens, what it seeds, which credentials it accepts.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Seeds the generated orders.
    pub seed: u64,
    /// The admin user of `POST /V1/integration/admin/token`.
    pub admin_user: String,
    /// The admin password; never logged.
    pub admin_password: String,
    /// The integration's OAuth 1.0a credentials.
    pub integration: crate::connectors::http::oauth1::OAuth1Credentials,
    /// Web API input limits: at most 20 items per list, `pageSize` at most 300, 5,000 operations
    /// per asynchronous request.
    pub input_limit: bool,
    /// Faults drawn at random from the first request on.
    pub rates: Rates,
}

/// An answer in Magento's error shape: `{"message": …, "parameters": {…}}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub(crate) struct MagentoError {
    /// The HTTP status.
    pub status: u16,
    /// The message, with `%name` placeholders.
    pub message: String,
    /// The placeholders' values.
    pub parameters: Option<Value>,
}

impl MagentoError {
    /// An error with a status and a message.
    pub(crate) fn new(status: u16, message: &str) -> Self {
        Self { status, message: message.to_string(), parameters: None }
    }

    /// With the placeholders' values.
    pub(crate) fn with(mut self, parameters: Value) -> Self {
        self.parameters = Some(parameters);
        self
    }

    /// The body Magento answers.
    pub(crate) fn body(&self) -> Value {
        match &self.parameters {
            Some(p) => json!({"message": self.message, "parameters": p}),
            None => json!({"message": self.message}),
        }
    }
}

/// The simulator's state, shared by every request.
pub(crate) struct Sim {
    options: Options,
    products: Mutex<Vec<Value>>,
    prices: Mutex<prices::Prices>,
    sales: Mutex<orders::Sales>,
    customers: Mutex<Vec<Value>>,
    groups: Mutex<Vec<Value>>,
    bulks: Mutex<bulk::Bulks>,
    source_items: Mutex<inventory::SourceItems>,
    tokens: Mutex<Vec<String>>,
    control: Control,
}

#[cfg(test)]
impl Sim {
    /// A simulator for unit tests: seed 1, the default credentials, no faults; `input_limit` as given.
    pub(super) fn for_tests(input_limit: bool) -> Sim {
        Sim::new(Options {
            port: 0,
            seed: 1,
            admin_user: "admin".into(),
            admin_password: "admin123".into(),
            integration: crate::connectors::http::oauth1::OAuth1Credentials {
                consumer_key: "ck".into(),
                consumer_secret: "cs".into(),
                token: "at".into(),
                token_secret: "ats".into(),
            },
            input_limit,
            rates: crate::sim::faults::Rates::default(),
        })
    }
}

impl Sim {
    /// A simulator with the sample catalog, and orders seeded from `options.seed`.
    pub(crate) fn new(options: Options) -> Self {
        let products = catalog::products();
        let source_items = Mutex::new(inventory::SourceItems::new(data::source_items(&products)));
        let sales = Mutex::new(orders::Sales::generate(options.seed, &products));
        let control = Control::new(ErrorShape::Magento, options.rates.clone());
        Self {
            options,
            products: Mutex::new(products),
            prices: Mutex::default(),
            sales,
            customers: Mutex::new(data::customers()),
            groups: Mutex::new(groups::built_in()),
            bulks: Mutex::default(),
            source_items,
            tokens: Mutex::new(Vec::new()),
            control,
        }
    }
}

/// Binds, prints the bound address (`http://127.0.0.1:PORT`) as the first line on stdout, and serves
/// until the process ends.
pub(crate) async fn serve(options: Options) -> Result<(), SimError> {
    let port = options.port;
    let sim = Arc::new(Sim::new(options));
    super::server::serve(port, axum::Router::new().fallback(routes::handle).with_state(sim)).await
}
