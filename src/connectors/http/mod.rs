//! The HTTP connector: what the HTTP components (the `http` sink, source and step, the `graphql`
//! source) share: its connection (base URL, headers, time limit, rate limit name), the blocking client
//! (`client`), request signing for Magento integrations (`oauth1`), templated requests (`request`),
//! what to do with each answer (`retry`), the tries of one write (`attempts`) and a request tried until
//! that is settled (`exchange`), idempotent creates (`idempotent`), and GraphQL's request body and
//! `errors` (`graphql`).

pub(crate) mod answer;
pub(crate) mod attempts;
pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod connection;
pub(crate) mod exchange;
pub(crate) mod graphql;
pub(crate) mod idempotent;
mod mocked;
pub(crate) mod oauth1;
pub(crate) mod request;
pub(crate) mod retry;
pub(crate) mod token;

pub(crate) use connection::{HttpConnection, HttpConnectionConfig};
