//! The file sink's formats and rejections.

use super::*;
use crate::transforms::testing::context;
use serde_json::json;

fn sink(dir: &std::path::Path, format: FileFormat) -> FileSink {
    let mut ctx = context();
    ctx.base_dir = dir.to_path_buf();
    FileSinkConfig { path: "out/x".into(), format, columns: None, mode: WriteMode::Truncate }
        .build(&ctx)
        .expect("builds")
}

#[test]
fn writes_each_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = vec![Record::new(json!({"a": 1, "b": "x,y"})), Record::new(json!({"a": 2, "b": null}))];
    for (format, expected) in [
        (FileFormat::Ndjson, "{\"a\":1,\"b\":\"x,y\"}\n{\"a\":2,\"b\":null}\n"),
        (FileFormat::Json, "[\n{\"a\":1,\"b\":\"x,y\"},\n{\"a\":2,\"b\":null}\n]\n"),
        (FileFormat::Csv, "a,b\n1,\"x,y\"\n2,\n"),
    ] {
        let mut s = sink(dir.path(), format);
        assert!(s.write(&records).expect("writes").is_empty());
        s.finish().expect("finishes");
        assert_eq!(std::fs::read_to_string(dir.path().join("out/x")).expect("read"), expected, "{format:?}");
    }
}

#[test]
fn csv_rejects_nested_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = sink(dir.path(), FileFormat::Csv);
    let rejected = s.write(&[Record::new(json!({"a": [1]}))]).expect("writes");
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].1.contains("field `a`"));
}

#[test]
fn empty_json_output_is_an_empty_array() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = sink(dir.path(), FileFormat::Json);
    s.finish().expect("finishes");
    let text = std::fs::read_to_string(dir.path().join("out/x")).expect("read");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("json"), json!([]));
}
