//! Compiled expressions shared by every component: JSONPath queries and minijinja templates.

pub(crate) mod jsonpath;
pub(crate) mod reads;
pub(crate) mod template;
