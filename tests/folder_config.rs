//! Client-folder configuration through the library API: inline tables keep their written column order
//! (in a pipeline and in `shared.yaml`), and explicit `null`s in step options mean `null`.

use std::path::Path;

use weir::assemble::load::load_paths;
use weir::config::diagnostic::Diagnostics;
use weir::graph::plan::compile;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write config file");
}

#[test]
fn inline_tables_keep_their_written_column_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "shared.yaml",
        "tables:\n  countries:\n    - { iso2: US, erp_country: USA }\n    - { iso2: DE, erp_country: DEU }\n",
    );
    write(
        dir.path(),
        "p.yaml",
        r#"name: p
source: { id: in, type: file, path: in.ndjson }
tables:
  sizes:
    - zeta: M
      alpha: MD
      middle: 1
    - { zeta: L, alpha: LG, beta: extra }
sinks:
  - { id: out, type: stdout }
"#,
    );
    let pipelines = load_paths(&[dir.path().to_path_buf()], &|_| None).unwrap_or_else(|d| panic!("{d}"));
    let mut diagnostics = Diagnostics::default();
    let tables = pipelines[0].tables(&mut diagnostics);
    assert!(diagnostics.is_empty(), "{diagnostics}");

    let countries = tables.get("countries").expect("shared table");
    assert_eq!(countries.columns(), ["iso2", "erp_country"]);
    assert_eq!(countries.key_column(), "iso2");
    assert!(countries.lookup("iso2", "DE").is_some());

    let sizes = tables.get("sizes").expect("pipeline table");
    // The first row's keys as written, then what a later row adds.
    assert_eq!(sizes.columns(), ["zeta", "alpha", "middle", "beta"]);
    assert_eq!(sizes.key_column(), "zeta");
}

#[test]
fn explicit_nulls_in_jsonpath_and_lookup_options_validate() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "p.yaml",
        r#"name: p
source: { id: in, type: file, path: in.ndjson }
steps:
  - id: extract
    type: jsonpath
    missing: null
    set:
      coupon: { path: "$.coupon", default: null }
      note: { path: "$.note", missing: null }
  - id: map
    type: lookup
    rows: [ { k: M, v: MD } ]
    key: "{{ record.size }}"
    key_column: k
    column: v
    target: erp_size
    on_miss: default
    default: null
sinks:
  - { id: out, type: stdout }
"#,
    );
    let pipelines = load_paths(&[dir.path().to_path_buf()], &|_| None).unwrap_or_else(|d| panic!("{d}"));
    compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
}

#[test]
fn csv_tables_take_a_delimiter() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("tables")).expect("mkdir");
    // `tables/*.csv`: the delimiter is read from the header row.
    write(&dir.path().join("tables"), "sizes.csv", "size;code\nM;MD\n");
    // Declared: `{ path, delimiter }`, here a pipe the header alone would not reveal.
    write(dir.path(), "erp.csv", "item|warehouse\nA|WH1\n");
    write(dir.path(), "shared.yaml", "tables:\n  erp: { path: erp.csv, delimiter: \"|\" }\n");
    write(
        dir.path(),
        "p.yaml",
        "name: p\nsource: { id: in, type: file, path: in.ndjson }\nsinks:\n  - { id: out, type: stdout }\n",
    );
    let pipelines = load_paths(&[dir.path().to_path_buf()], &|_| None).unwrap_or_else(|d| panic!("{d}"));
    let mut diagnostics = Diagnostics::default();
    let tables = pipelines[0].tables(&mut diagnostics);
    assert!(diagnostics.is_empty(), "{diagnostics}");
    assert_eq!(tables.get("sizes").expect("sizes").columns(), ["size", "code"]);
    assert_eq!(tables.get("erp").expect("erp").columns(), ["item", "warehouse"]);
}
