//! The HTTP connector: what the HTTP components (the `http` sink; later the HTTP source and request
//! step) share: its connection (base URL, headers, time limit, rate limit name), request signing for
//! Magento integrations (`oauth1`), and what to do with each answer (`retry`).

pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod connection;
pub(crate) mod oauth1;
pub(crate) mod retry;
pub(crate) mod token;

pub(crate) use connection::{HttpConnection, HttpConnectionConfig};
