//! Unit tests for lookup tables: CSV and inline loading, lookups, errors.

use super::*;
use serde_json::json;
use std::io::Write;

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[test]
fn csv_load_and_lookup() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "magento_size,erp_size,label\nxs,XS-01,Extra small\ns,S-02,Small\nxs,DUP,dup").unwrap();
    let t = Table::from_csv_path("sizes", f.path()).unwrap();
    assert_eq!(t.name(), "sizes");
    assert_eq!(t.columns(), ["magento_size", "erp_size", "label"]);
    assert_eq!(t.len(), 3);
    assert!(t.has_column("erp_size"));
    assert!(!t.has_column("nope"));
    let row = t.lookup("magento_size", "xs").unwrap();
    assert_eq!(row.get("erp_size"), Some(&json!("XS-01")), "first matching row wins");
    assert_eq!(t.lookup("erp_size", "S-02").unwrap().get("label"), Some(&json!("Small")));
    assert!(t.lookup("magento_size", "xxl").is_none(), "miss");
    assert!(t.lookup("nope", "xs").is_none(), "unknown column");
    assert_eq!(row.to_map(), map(json!({"magento_size": "xs", "erp_size": "XS-01", "label": "Extra small"})));
}

#[test]
fn csv_errors_carry_path_and_line() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "a,b\n1,2\n3,4,5").unwrap();
    let err = Table::from_csv_path("t", f.path()).unwrap_err();
    match &err {
        TableError::Csv { line, path, .. } => {
            assert_eq!(*line, 3);
            assert_eq!(path, f.path());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains(":3:"), "{err}");

    let missing = Table::from_csv_path("t", Path::new("/nonexistent/x.csv")).unwrap_err();
    assert!(matches!(missing, TableError::Io { .. }));
    assert!(missing.to_string().contains("/nonexistent/x.csv"));

    let dup = Table::from_csv_reader("t", Path::new("d.csv"), "a,a\n1,2\n".as_bytes()).unwrap_err();
    assert!(matches!(dup, TableError::Columns { .. }), "{dup}");
}

#[test]
fn inline_rows() {
    let rows = vec![map(json!({"code": 1, "name": "one"})), map(json!({"code": 2, "name": "two", }))];
    let t = Table::from_rows_with_columns("n", vec!["code".into(), "name".into()], rows.clone()).unwrap();
    assert_eq!(t.key_column(), "code");
    assert_eq!(t.lookup("code", "2").unwrap().get("name"), Some(&json!("two")));
    assert_eq!(t.lookup("code", "2").unwrap().get("code"), Some(&json!(2)), "typed values kept");

    let t = Table::from_rows("n", vec![map(json!({"name": "x"})), map(json!({"code": 3}))]).unwrap();
    assert_eq!(t.columns(), ["name", "code"]);
    assert_eq!(t.lookup("code", "3").unwrap().get("name"), Some(&Value::Null));

    let bad = Table::from_rows("n", vec![map(json!({"a": [1]}))]).unwrap_err();
    assert!(matches!(bad, TableError::NotScalar { .. }));
    let bad = Table::from_rows_with_columns("n", vec!["a".into()], vec![map(json!({"b": 1}))]).unwrap_err();
    assert!(matches!(bad, TableError::UnknownColumn { .. }));
}

#[test]
fn tables_registry() {
    let mut ts = Tables::new();
    ts.insert(Table::from_rows("b", vec![map(json!({"k": "v"}))]).unwrap());
    ts.insert(Table::from_rows("a", vec![map(json!({"k": "v"}))]).unwrap());
    assert_eq!(ts.names(), ["a", "b"]);
    assert!(ts.get("a").is_some());
    assert!(ts.get("c").is_none());
}

#[test]
fn csv_delimiter_is_given_or_read_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sizes.csv");
    std::fs::write(&path, "size;code\nS;SM\nM;MD\n").unwrap();
    let sniffed = Table::from_csv_path("sizes", &path).unwrap();
    assert_eq!(sniffed.columns(), ["size", "code"], "a header without commas but with semicolons");
    assert_eq!(sniffed.lookup("size", "M").unwrap().get("code"), Some(&json!("MD")));
    let given = Table::from_csv_path_with_delimiter("sizes", &path, Some(b';')).unwrap();
    assert_eq!(given.columns(), ["size", "code"]);
    let comma = Table::from_csv_path_with_delimiter("sizes", &path, Some(b',')).unwrap();
    assert_eq!(comma.columns(), ["size;code"], "a given delimiter is not second-guessed");
}

#[test]
fn csv_lines_are_right_in_crlf_files_and_utf16_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "a,b\r\n1,2\r\n3,4,5\r\n").unwrap();
    let err = Table::from_csv_path("t", &path).unwrap_err();
    assert!(err.to_string().contains("t.csv:3: row has 3 fields"), "{err}");
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend("a,b\r\n1,2\r\n".encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&path, utf16).unwrap();
    let err = Table::from_csv_path("t", &path).unwrap_err();
    assert!(err.to_string().contains("looks UTF-16; save it as UTF-8"), "{err}");
}
