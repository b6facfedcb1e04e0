//! Client-folder configuration through the library API: inline tables keep their written column order
//! (in a pipeline and in `shared.yaml`), explicit `null`s in step options mean `null`, and the connections
//! of `connections.yaml` are checked by their kind, each error at its own line.

use std::path::Path;

use weir::api::{Diagnostics, compile, load_paths};

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

/// One error as `(code, component, line, col, hint)`.
type Error = (&'static str, Option<String>, usize, usize, Option<String>);

/// Every error of loading and compiling the folder `dir`.
fn folder_errors(dir: &Path) -> Vec<Error> {
    let (pipelines, mut diagnostics) = weir::api::load_paths_partial(&[dir.to_path_buf()], &|_| None);
    for p in &pipelines {
        if let Err(d) = compile(p) {
            d.0.into_iter().for_each(|d| diagnostics.push(d));
        }
    }
    diagnostics
        .0
        .into_iter()
        .map(|d| {
            let (line, col) = d.location.as_ref().map_or((0, 0), |l| (l.pos.line, l.pos.col));
            (d.code, d.component, line, col, d.hint)
        })
        .collect()
}

#[test]
fn connections_are_checked_by_their_kind_each_error_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "connections.yaml",
        "connections:\n  shop:\n    type: htp\n    base_url: https://shop.example.com\n  erp:\n    type: http\n    \
         base_url: erp.example.com/api\n  fine:\n    type: http\n    base_url: https://fine.example.com\n",
    );
    // The sinks naming `shop` and `erp` fail with their connections and add no error of their own;
    // the one naming `fine` builds.
    write(
        dir.path(),
        "p.yaml",
        "name: p\nsource: { id: in, type: file, path: in.ndjson }\nsinks:\n  - { id: a, type: http, connection: shop, \
         path: /x }\n  - { id: b, type: http, connection: erp, path: /x }\n  - { id: c, type: http, connection: \
         fine, path: /x }\n",
    );
    let errors = folder_errors(dir.path());
    let shop = Some("connection `shop`".to_string());
    let erp = Some("connection `erp`".to_string());
    assert_eq!(
        errors
            .iter()
            .map(|(code, component, line, col, _)| (*code, component.clone(), *line, *col))
            .collect::<Vec<_>>(),
        [("unknown-type", shop, 3, 11), ("bad-url", erp, 7, 15)],
        "{errors:?}"
    );
    assert_eq!(errors[0].4.as_deref(), Some("did you mean `http`?"));

    // Fixed, the folder validates: a connection of the right kind builds its components.
    write(
        dir.path(),
        "connections.yaml",
        "connections:\n  shop: { type: http, base_url: \"https://shop.example.com\" }\n  erp: { type: http, base_url: \
         \"https://erp.example.com/api\" }\n  fine: { type: http, base_url: \"https://fine.example.com\" }\n",
    );
    assert_eq!(folder_errors(dir.path()), []);
}

#[test]
fn an_unreadable_connections_file_is_reported_once_not_by_every_component_naming_a_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = "name: p\nsource: { id: in, type: file, path: in.ndjson }\nsinks:\n  - { id: a, type: http, \
                    connection: shop, path: /x }\n";
    write(dir.path(), "p.yaml", pipeline);
    for (text, code) in [
        ("connections:\n  shop: { type: http, base_url: [\n", "yaml-syntax"),
        ("connections: [shop]\n", "wrong-type"),
        ("connections:\n  shop: { type: http, base_url: \"https://${secret:SURELY_UNSET_SHOP}\" }\n", "interpolation"),
    ] {
        write(dir.path(), "connections.yaml", text);
        let codes: Vec<&str> = folder_errors(dir.path()).into_iter().map(|e| e.0).collect();
        assert_eq!(codes, [code], "{text}");
    }
}
