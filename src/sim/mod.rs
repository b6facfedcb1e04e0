//! Simulators of the systems Weir talks to, served over HTTP so that Weir's HTTP tests run against
//! something that answers like the real system, traps included (`weir sim commerce`).

pub(crate) mod commerce;
