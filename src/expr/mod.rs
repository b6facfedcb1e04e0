//! Compiled expressions shared by every component: JSONPath queries and minijinja templates.

pub mod jsonpath;
pub mod reads;
pub mod template;
