//! The HTTP connector: what the HTTP components (the `http` sink and source; later the request step)
//! share: its connection (base URL, headers, time limit, rate limit name), the blocking client
//! (`client`), request signing for Magento integrations (`oauth1`), and what to do with each answer
//! (`retry`).

pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod connection;
pub(crate) mod oauth1;
pub(crate) mod retry;
pub(crate) mod token;

pub(crate) use connection::{HttpConnection, HttpConnectionConfig};
