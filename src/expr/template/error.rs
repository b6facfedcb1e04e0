//! The error a Weir filter or function raises for a value it cannot take (a wrong type, an unknown
//! table, a date it cannot read): minijinja's `InvalidOperation`, with a message for people.

use minijinja::{Error, ErrorKind};

pub(super) fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}
