//! The HTTP connector: what the HTTP components (the `http` sink; later the HTTP source and request
//! step) share: its connection (base URL, headers, time limit, rate limit name), request signing for
//! Magento integrations (`oauth1`), and what to do with each answer (`retry`).

pub mod auth;
pub mod connection;
pub mod oauth1;
pub mod retry;
pub mod token;

pub use connection::{HttpConnection, HttpConnectionConfig, KIND};
