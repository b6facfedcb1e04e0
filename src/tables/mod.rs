//! Lookup tables (inline in YAML or CSV files in the pipeline folder), shared by the `lookup` step and the
//! `lookup` template filter.
//!
//! A [`Table`] is a named list of rows with fixed columns. Values are strings for CSV tables and JSON
//! scalars for inline tables. Lookups by any column are O(1): a hash index per column is built the first
//! time that column is used as a key, and the first row holding a key wins.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

/// Why a table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TableError {
    /// The CSV file could not be opened or read.
    #[error("table `{table}`: cannot read {}: {reason}", crate::config::paths::shown(path))]
    Io {
        /// The table's name.
        table: String,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The CSV file is malformed (bad quoting, a row with the wrong number of fields, bad UTF-8...).
    #[error("table `{table}`: {}:{line}: {reason}", path.display())]
    Csv {
        /// The table's name.
        table: String,
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending record (0 when unknown).
        line: u64,
        /// What went wrong.
        reason: String,
    },
    /// The header row (or the column list) is empty or names a column twice or with an empty name.
    #[error("table `{table}`: bad columns: {reason}")]
    Columns {
        /// The table's name.
        table: String,
        /// What went wrong.
        reason: String,
    },
    /// An inline row holds a value that is not a scalar (an array or an object).
    #[error("table `{table}`: row {row}, column `{column}`: values must be scalars (string, number, bool, null)")]
    NotScalar {
        /// The table's name.
        table: String,
        /// 0-based row index.
        row: usize,
        /// The column holding the value.
        column: String,
    },
    /// An inline row names a column that is not in the declared column list.
    #[error("table `{table}`: row {row} has unknown column `{column}`")]
    UnknownColumn {
        /// The table's name.
        table: String,
        /// 0-based row index.
        row: usize,
        /// The offending column.
        column: String,
    },
}

/// One row of a table: a value per column (`null` where an inline row left a column out).
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Box<[Value]>,
}

impl Row {
    /// The value in `column`, or `None` when the table has no such column.
    pub(crate) fn get(&self, column: &str) -> Option<&Value> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.values.get(i)
    }

    /// `(column, value)` pairs in column order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.columns.iter().map(String::as_str).zip(self.values.iter())
    }

    /// The row as a JSON object keyed by column name.
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        self.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }
}

/// A named lookup table.
#[derive(Debug)]
pub struct Table {
    name: String,
    columns: Arc<[String]>,
    rows: Vec<Row>,
    /// One lazily built index per column: key string -> index of the first row holding it.
    indexes: Box<[OnceLock<HashMap<String, usize>>]>,
    /// Which rows a lookup found, once [`Table::track_hits`] asked (`weir test --coverage`); unset, a
    /// lookup pays one atomic load for it.
    hits: OnceLock<Box<[std::sync::atomic::AtomicBool]>>,
}

/// The string a value is indexed (and looked up) under: strings as is, numbers and bools in their JSON
/// spelling. `null` is not indexed.
pub(crate) fn key_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl Table {
    /// Loads a CSV file whose header row names the columns. All values are strings. The delimiter is
    /// read from the header row (see [`Table::from_csv_path_with_delimiter`]).
    pub(crate) fn from_csv_path(name: &str, path: &Path) -> Result<Table, TableError> {
        Self::from_csv_path_with_delimiter(name, path, None)
    }

    /// Loads a CSV file with the field `delimiter`; `None`: `;` or a tab when the header row holds one
    /// of them and no comma (ERP exports often use semicolons), else `,`.
    pub(crate) fn from_csv_path_with_delimiter(
        name: &str,
        path: &Path,
        delimiter: Option<u8>,
    ) -> Result<Table, TableError> {
        let io = |reason: String| TableError::Io { table: name.to_string(), path: path.to_path_buf(), reason };
        let bytes = std::fs::read(path).map_err(|e| io(e.to_string()))?;
        if crate::config::encoding::looks_utf16(&bytes) {
            return Err(io(crate::config::encoding::UTF16_HINT.to_string()));
        }
        let delimiter = delimiter.unwrap_or_else(|| header_delimiter(&bytes));
        Self::from_csv_bytes(name, path, &bytes, delimiter)
    }

    /// Loads CSV data from any reader; `path` is only used in error messages.
    #[cfg(test)]
    pub(crate) fn from_csv_reader<R: std::io::Read>(
        name: &str,
        path: &Path,
        mut reader: R,
    ) -> Result<Table, TableError> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(|e| TableError::Io {
            table: name.to_string(),
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_csv_bytes(name, path, &bytes, b',')
    }

    fn from_csv_bytes(name: &str, path: &Path, bytes: &[u8], delimiter: u8) -> Result<Table, TableError> {
        use crate::csv_text;
        let csv_err = |e: csv::Error| TableError::Csv {
            table: name.to_string(),
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| csv_text::line_at(bytes, p.byte())),
            reason: csv_text::reason(&e),
        };
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).delimiter(delimiter).from_reader(bytes);
        let columns: Vec<String> = rdr.headers().map_err(csv_err)?.iter().map(|h| h.trim().to_string()).collect();
        let columns = check_columns(name, columns)?;
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(csv_err)?;
            let values: Box<[Value]> = rec.iter().map(|f| Value::String(f.to_string())).collect();
            rows.push(Row { columns: columns.clone(), values });
        }
        Ok(Self::assemble(name, columns, rows))
    }

    /// Builds a table from inline rows (YAML mappings of scalars). Columns are taken in the order the
    /// rows' keys iterate (sorted, as `serde_json::Map` is), first row first; use
    /// [`Table::from_rows_with_columns`] to fix the order (and so the default key column).
    pub(crate) fn from_rows(name: &str, rows: Vec<Map<String, Value>>) -> Result<Table, TableError> {
        let mut columns: Vec<String> = Vec::new();
        for row in &rows {
            for k in row.keys() {
                if !columns.iter().any(|c| c == k) {
                    columns.push(k.clone());
                }
            }
        }
        Self::from_rows_with_columns(name, columns, rows)
    }

    /// Builds a table from inline rows with an explicit column order (the first column is the default
    /// key column). A row naming a column not in `columns` is an error; a missing one is `null`.
    pub(crate) fn from_rows_with_columns(
        name: &str,
        columns: Vec<String>,
        rows: Vec<Map<String, Value>>,
    ) -> Result<Table, TableError> {
        let columns = check_columns(name, columns)?;
        let mut out = Vec::with_capacity(rows.len());
        for (i, mut row) in rows.into_iter().enumerate() {
            let mut values = Vec::with_capacity(columns.len());
            for c in columns.iter() {
                let v = row.remove(c).unwrap_or(Value::Null);
                if v.is_array() || v.is_object() {
                    return Err(TableError::NotScalar { table: name.to_string(), row: i, column: c.clone() });
                }
                values.push(v);
            }
            if let Some(extra) = row.keys().next() {
                return Err(TableError::UnknownColumn { table: name.to_string(), row: i, column: extra.clone() });
            }
            out.push(Row { columns: columns.clone(), values: values.into_boxed_slice() });
        }
        Ok(Self::assemble(name, columns, out))
    }

    fn assemble(name: &str, columns: Arc<[String]>, rows: Vec<Row>) -> Table {
        let indexes = columns.iter().map(|_| OnceLock::new()).collect();
        Table { name: name.to_string(), columns, rows, indexes, hits: OnceLock::new() }
    }

    /// The table's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Column names in order; the first is the default key column.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The default key column (the first one).
    pub fn key_column(&self) -> &str {
        self.columns.first().map(String::as_str).unwrap_or("")
    }

    /// Number of rows.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has a column named `c`.
    pub(crate) fn has_column(&self, c: &str) -> bool {
        self.columns.iter().any(|x| x == c)
    }

    /// The first row whose `key_column` value (in its [`key_string`] form) equals `key`. `None` when no
    /// row matches or the column does not exist. O(1) after the column's index is built.
    pub fn lookup(&self, key_column: &str, key: &str) -> Option<&Row> {
        let ci = self.columns.iter().position(|c| c == key_column)?;
        let index = self.indexes.get(ci)?.get_or_init(|| {
            let mut m = HashMap::with_capacity(self.rows.len());
            for (ri, row) in self.rows.iter().enumerate() {
                if let Some(k) = row.values.get(ci).and_then(key_string) {
                    m.entry(k).or_insert(ri);
                }
            }
            m
        });
        let ri = *index.get(key)?;
        if let Some(hits) = self.hits.get()
            && let Some(hit) = hits.get(ri)
        {
            hit.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.rows.get(ri)
    }

    /// From now on, remember which rows lookups find (`weir test --coverage`).
    pub(crate) fn track_hits(&self) {
        self.hits.get_or_init(|| self.rows.iter().map(|_| std::sync::atomic::AtomicBool::new(false)).collect());
    }

    /// Per row, whether a lookup found it since [`Table::track_hits`]; `None` when not tracked.
    pub(crate) fn hits(&self) -> Option<Vec<bool>> {
        self.hits.get().map(|h| h.iter().map(|b| b.load(std::sync::atomic::Ordering::Relaxed)).collect())
    }

    /// How row `i` is named in a report: its number (the CSV line, after the header) and first value.
    pub(crate) fn row_label(&self, i: usize) -> String {
        let first = self.rows.get(i).and_then(|r| r.values.first()).map_or(String::new(), |v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        format!("row {} ({first})", i + 1)
    }
}

fn check_columns(table: &str, columns: Vec<String>) -> Result<Arc<[String]>, TableError> {
    let bad = |reason: String| TableError::Columns { table: table.to_string(), reason };
    if columns.is_empty() {
        return Err(bad("no columns".to_string()));
    }
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(bad(format!("column {} has an empty name", i + 1)));
        }
        if columns[..i].contains(c) {
            return Err(bad(format!("column `{c}` appears twice")));
        }
    }
    Ok(columns.into())
}

/// The delimiter a CSV header row uses: `;` or a tab when it holds one of them and no comma, else `,`.
fn header_delimiter(bytes: &[u8]) -> u8 {
    let header = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    if header.contains(&b',') {
        return b',';
    }
    [b';', b'\t'].into_iter().find(|d| header.contains(d)).unwrap_or(b',')
}

/// All tables of a pipeline, by name.
#[derive(Debug, Default, Clone)]
pub struct Tables {
    by_name: BTreeMap<String, Arc<Table>>,
}

impl Tables {
    /// No tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a table under its own name; returns the table it replaced.
    pub(crate) fn insert(&mut self, table: Table) -> Option<Arc<Table>> {
        self.by_name.insert(table.name().to_string(), Arc::new(table))
    }

    /// Adds (or replaces) a table shared with other sets of tables.
    pub(crate) fn insert_shared(&mut self, table: Arc<Table>) {
        self.by_name.insert(table.name().to_string(), table);
    }

    /// The table called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Table>> {
        self.by_name.get(name)
    }

    /// All table names, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
