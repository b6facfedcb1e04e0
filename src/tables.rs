//! Lookup tables (inline in YAML or CSV files in the pipeline folder), shared by the `lookup` step and the
//! `lookup` template filter. (Provisional minimal version; replaced by the full implementation.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

/// One row: column name → value.
pub type Row = Map<String, Value>;

/// Why a table could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("table `{table}`: {reason}")]
pub struct TableError {
    /// Table name.
    pub table: String,
    /// What went wrong.
    pub reason: String,
}

/// A named table.
#[derive(Debug, Clone)]
pub struct Table {
    name: String,
    columns: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    /// Loads a CSV file with a header row.
    pub fn from_csv_path(name: &str, path: &Path) -> Result<Table, TableError> {
        let err = |reason: String| TableError { table: name.to_string(), reason };
        let mut reader = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
        let columns: Vec<String> = reader.headers().map_err(|e| err(e.to_string()))?.iter().map(str::to_string).collect();
        let mut rows = Vec::new();
        for rec in reader.records() {
            let rec = rec.map_err(|e| err(e.to_string()))?;
            rows.push(columns.iter().cloned().zip(rec.iter().map(|s| Value::String(s.to_string()))).collect());
        }
        Ok(Table { name: name.to_string(), columns, rows })
    }

    /// Builds a table from inline rows.
    pub fn from_rows(name: &str, rows: Vec<Row>) -> Result<Table, TableError> {
        let columns = rows.first().map(|r| r.keys().cloned().collect()).unwrap_or_default();
        Ok(Table { name: name.to_string(), columns, rows })
    }

    /// Table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// True when the table has this column.
    pub fn has_column(&self, c: &str) -> bool {
        self.columns.iter().any(|x| x == c)
    }

    /// The first row whose `key_column` equals `key`.
    pub fn lookup(&self, key_column: &str, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| match r.get(key_column) {
            Some(Value::String(s)) => s == key,
            Some(v) => v.to_string() == key,
            None => false,
        })
    }
}

/// All tables visible to a pipeline.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    tables: BTreeMap<String, Arc<Table>>,
}

impl Tables {
    /// Adds or replaces a table.
    pub fn insert(&mut self, table: Table) {
        self.tables.insert(table.name.clone(), Arc::new(table));
    }

    /// A table by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Table>> {
        self.tables.get(name)
    }

    /// Table names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}
