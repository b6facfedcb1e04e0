//! The HTTP connector: what the HTTP components (the `http` sink; later the HTTP source and request
//! step) share. Today its connection (base URL, headers, time limit, rate limit name); auth, rate
//! limiters and retry policies belong here too when they come.

pub mod connection;
pub mod oauth1;

pub use connection::{HttpConnection, HttpConnectionConfig, KIND};
