//! Records come out as they went in, through the CLI: numbers keep their text, and a hostile line ends
//! delivered or dead-lettered — the same way whatever the pipeline reads of it — without the process
//! ever aborting.

use std::path::Path;

use crate::support::cli::weir;

/// Runs `pipeline` (YAML) in `dir`; the run's JSON summary. The process must end normally.
fn run(dir: &Path, name: &str, pipeline: &str) -> serde_json::Value {
    let file = format!("{name}.yaml");
    std::fs::write(dir.join(&file), pipeline).expect("write pipeline");
    let out = weir(&["run", &file, "--from-start", "--json"], dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "`{name}` ended with {:?}: {stderr}", out.status);
    // The `--json` summary is the last line on stdout (logs stay on stderr).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("`{name}`: no JSON summary ({e}): {stdout}\n{stderr}"))
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

// Keys in alphabetical order: this test is about numbers, not key order.
const NUMBERS: &str = r#"{"big":12345678901234567890123,"dec":123456789.123456789123456789,"e":1e400,"f":1.50,"g":2E-3,"h":1.0E10,"neg":-9223372036854775809,"small":21,"z":-0}"#;
const NUMBER_TEXTS: [&str; 8] = [
    "12345678901234567890123",
    "-9223372036854775809",
    "123456789.123456789123456789",
    "-0",
    "1e400",
    "1.50",
    "2E-3",
    "1.0E10",
];
/// How the numbers are written: as read, exponents included.
const NUMBERS_WRITTEN: &str = NUMBERS;

#[test]
fn numbers_no_step_touches_are_written_as_they_were_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("in.ndjson"), format!("{NUMBERS}\n")).expect("write");
    std::fs::write(d.join("in.json"), format!("[{NUMBERS}]")).expect("write");
    for (input, format) in [("in.ndjson", "ndjson"), ("in.json", "json")] {
        let pipeline = format!(
            "name: pass\nsource: {{ id: in, type: file, path: {input}, format: {format} }}\nsinks:\n  \
             - {{ id: nd, type: file, path: out.ndjson }}\n  \
             - {{ id: arr, type: file, path: out.json, format: json }}\n  \
             - {{ id: csv, type: file, path: out.csv, format: csv }}\n"
        );
        let summary = run(d, "pass", &pipeline);
        assert_eq!(summary["records"]["delivered"], 1, "{summary}");
        assert_eq!(read(d, "out.ndjson"), format!("{NUMBERS_WRITTEN}\n"), "from {input}");
        let array = read(d, "out.json");
        assert!(array.contains(NUMBERS_WRITTEN), "from {input}: {array}");
        let csv = read(d, "out.csv");
        let row = csv.lines().nth(1).unwrap_or_default();
        for text in NUMBER_TEXTS {
            assert!(row.split(',').any(|cell| cell == text), "from {input}: {text} in {row}");
        }
    }
}

#[test]
fn numbers_copied_by_steps_keep_their_text_and_arithmetic_is_defined() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("in.ndjson"), format!("{NUMBERS}\n")).expect("write");
    // `copied` is rendered without minijinja (the shortcut), `computed` through it (the `~` takes the
    // whole template there); both copy the same numbers.
    let pipeline = r##"name: copy
source: { id: in, type: file, path: in.ndjson }
steps:
  - id: pick
    type: jsonpath
    set: { dec_copy: "$.dec", big_copy: "$.big" }
  - id: shape
    type: template
    value:
      copied: { big: "{{ record.big }}", dec: "{{ record.dec_copy }}", e: "{{ record.e }}", f: "{{ record.f }}", text: "#{{ record.big }}", z: "{{ record.z }}" }
  - id: shape2
    type: template
    value:
      copied: "{{ record.copied }}"
      computed: { big: "{{ record.copied.big }}", big2: "{{ record.copied.big * 2 }}", dec: "{{ record.copied.dec }}", dec2: "{{ record.copied.dec * 2 }}", f: "{{ record.copied.f }}", f2: "{{ record.copied.f * 2 }}", note: "{{ record.copied.text ~ '!' }}", r: "{{ record.copied.dec | round(2) }}", z: "{{ record.copied.z }}" }
sinks:
  - { id: out, type: file, path: out.ndjson }
"##;
    let summary = run(d, "copy", pipeline);
    assert_eq!(summary["records"]["delivered"], 1, "{summary}");
    let out = read(d, "out.ndjson");
    let expected_copy = r##"{"big":12345678901234567890123,"dec":123456789.123456789123456789,"e":1e400,"f":1.50,"text":"#12345678901234567890123","z":-0}"##;
    assert!(out.contains(&format!(r#""copied":{expected_copy}"#)), "{out}");
    // Copies through minijinja keep their text too; arithmetic is exact on integers (128 bits) and
    // 64-bit floating point on anything else.
    let expected_computed = r##""computed":{"big":12345678901234567890123,"big2":24691357802469135780246,"dec":123456789.123456789123456789,"dec2":246913578.24691358,"f":1.50,"f2":3.0,"note":"#12345678901234567890123!","r":123456789.12,"z":-0}"##;
    assert!(out.contains(expected_computed), "{out}");
}

#[test]
fn dead_letters_and_their_replay_keep_numbers_as_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("in.ndjson"), format!("{NUMBERS}\n")).expect("write");
    std::fs::create_dir(d.join("tables")).expect("mkdir");
    std::fs::write(d.join("tables/codes.csv"), "code,name\n1,one\n").expect("write");
    // The lookup misses (no code 21) until the table is fixed; the replayed record is the one read.
    let pipeline = "name: dl\nsource: { id: in, type: file, path: in.ndjson }\nsteps:\n  \
                    - { id: name, type: lookup, table: codes, key: \"{{ record.small }}\", key_column: code, \
                    column: name, target: code_name }\nsinks:\n  - { id: out, type: file, path: out.ndjson }\n";
    let summary = run(d, "dl", pipeline);
    assert_eq!(summary["records"]["dead_lettered"], 1, "{summary}");
    let listed = weir(&["dlq", "list", "dl", "--json"], d);
    let listed = String::from_utf8_lossy(&listed.stdout);
    for text in ["2E-3", "1.0E10", "1e400", "123456789.123456789123456789"] {
        assert!(listed.contains(&format!(": {text},")), "the dead letter keeps {text}: {listed}");
    }
    std::fs::write(d.join("tables/codes.csv"), "code,name\n21,twenty-one\n").expect("write");
    let replay = weir(&["dlq", "replay", "--all", "--config", "dl.yaml"], d);
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let out = read(d, "out.ndjson");
    assert!(out.starts_with(NUMBERS.trim_end_matches('}')), "replayed as read: {out}");
}

/// Hostile values, each placed in field `x` of a record, with whether the record is delivered. The
/// rule: a record is delivered when its whole text is valid JSON (RFC 8259: UTF-8, no lone surrogate
/// escape) nested at most 127 levels deep, whether or not a step reads the member; numbers of any size
/// or precision are valid.
fn hostile_values() -> Vec<(&'static str, Vec<u8>, bool)> {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    vec![
        ("depth 32 in all (the deepest the skipping parser sees)", nested(31), true),
        ("depth 33 in all", nested(32), true),
        ("depth 127 in all", nested(126), true),
        ("depth 128 in all", nested(127), false),
        ("nested 10k", nested(10_000), false),
        ("nested 50k", nested(50_000), false),
        ("nested 200k", nested(200_000), false),
        ("objects nested 50k", format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)).into_bytes(), false),
        ("lone surrogate", br#""a\ud800b""#.to_vec(), false),
        ("lone low surrogate", br#""\udc00""#.to_vec(), false),
        ("surrogate pair", br#""\ud83d\ude00""#.to_vec(), true),
        ("1e400", b"1e400".to_vec(), true),
        ("-0", b"-0".to_vec(), true),
        ("huge integer", b"123456789012345678901234567890123456789012345678901234567890".to_vec(), true),
        ("control character", b"\"a\x01b\"".to_vec(), false),
        ("invalid escape", br#""a\xb""#.to_vec(), false),
        ("short unicode escape", br#""\u12""#.to_vec(), false),
        ("duplicate keys", br#"{"a":1,"a":2}"#.to_vec(), true),
        ("invalid UTF-8", b"\"a\xffb\"".to_vec(), false),
        ("NaN", b"NaN".to_vec(), false),
        ("leading zero", b"01".to_vec(), false),
        ("bare dot", b"1.".to_vec(), false),
        ("bad literal", b"tru".to_vec(), false),
        ("brackets in a string", br#""[[[{{{""#.to_vec(), true),
    ]
}

/// Values that break the document's structure rather than one record (a JSON array cannot be cut into
/// elements after them): NDJSON only.
fn line_breaking_values() -> Vec<(&'static str, Vec<u8>, bool)> {
    vec![
        ("truncated array", b"[1,2".to_vec(), false),
        ("unterminated string", b"\"abc".to_vec(), false),
        ("lone closing bracket", b"1]".to_vec(), false),
    ]
}

/// Ids of the records written to `file` (one JSON object per line).
fn delivered_ids(dir: &Path, file: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = read(dir, file)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("output is JSON")["id"].as_u64().expect("id"))
        .collect();
    ids.sort_unstable();
    ids
}

/// Runs the three pipelines (reads everything / reads `id` only / reads `id` and `x`) on `input`; the
/// delivered ids of each.
fn outcomes(dir: &Path, input: &str, format: &str, received: usize) -> [Vec<u64>; 3] {
    let source = format!("source: {{ id: in, type: file, path: {input}, format: {format} }}\n");
    let pipelines = [
        ("all", String::new()),
        ("one", "steps:\n  - { id: t, type: template, value: { id: \"{{ record.id }}\" } }\n".to_string()),
        (
            "x",
            "steps:\n  - { id: t, type: template, value: { id: \"{{ record.id }}\", x: \"{{ record.x }}\" } }\n"
                .to_string(),
        ),
    ];
    pipelines.map(|(name, steps)| {
        let out = format!("out-{name}.ndjson");
        let yaml = format!("name: {name}\n{source}{steps}sinks:\n  - {{ id: out, type: file, path: {out} }}\n");
        let summary = run(dir, name, &yaml);
        let records = &summary["records"];
        assert_eq!(records["received"], received, "{name} on {input}: {summary}");
        let ids = delivered_ids(dir, &out);
        assert_eq!(records["delivered"], ids.len(), "{name} on {input}: {summary}");
        assert_eq!(records["dead_lettered"], received - ids.len(), "{name} on {input}: {summary}");
        ids
    })
}

#[test]
fn hostile_values_end_the_same_whatever_the_pipeline_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let record = |id: usize, value: &[u8]| [format!("{{\"id\":{id},\"x\":").as_bytes(), value, b"}"].concat();
    let values = hostile_values();
    let mut ndjson = Vec::new();
    let mut array = b"[".to_vec();
    for (id, (_, value, _)) in values.iter().enumerate() {
        ndjson.extend(record(id, value));
        ndjson.push(b'\n');
        if id > 0 {
            array.extend(b",\n");
        }
        array.extend(record(id, value));
    }
    array.extend(b"]\n");
    let line_only = line_breaking_values();
    for (i, (_, value, _)) in line_only.iter().enumerate() {
        ndjson.extend(record(values.len() + i, value));
        ndjson.push(b'\n');
    }
    std::fs::write(d.join("in.ndjson"), &ndjson).expect("write");
    std::fs::write(d.join("in.json"), &array).expect("write");

    // The values that break a line are all dead-lettered: the same ids are delivered from both files.
    assert!(line_only.iter().all(|v| !v.2));
    let expected: Vec<u64> = values.iter().enumerate().filter(|(_, v)| v.2).map(|(i, _)| i as u64).collect();
    let names: Vec<&str> = values.iter().chain(&line_only).map(|v| v.0).collect();
    let describe = |ids: &[u64]| ids.iter().map(|&i| names[i as usize]).collect::<Vec<_>>().join(", ");
    for [all, one, x] in [
        outcomes(d, "in.ndjson", "ndjson", values.len() + line_only.len()),
        outcomes(d, "in.json", "json", values.len()),
    ] {
        assert_eq!(describe(&all), describe(&expected), "pipeline reading everything");
        assert_eq!(describe(&one), describe(&expected), "pipeline reading `id` only");
        assert_eq!(describe(&x), describe(&expected), "pipeline reading `id` and `x`");
    }
}

#[test]
fn records_keep_their_key_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let input = r#"{"z":1,"a":{"y":2,"b":3},"m":[{"k":1,"c":2}],"kv":"sku=A,size=M,color=red"}"#;
    std::fs::write(d.join("in.ndjson"), format!("{input}\n")).expect("write");
    std::fs::write(d.join("in.csv"), "zip,city,addr\n1,b,c\n").expect("write");
    // Passed through: the input's order (a removed member leaves the others in place); a CSV row's
    // members in the header's order, and a CSV sink's columns in the first record's.
    let pass = "name: pass\nsource: { id: in, type: file, path: in.ndjson }\nsteps:\n  - { id: drop, type: remove, fields: [m] }\nsinks:\n  - { id: out, type: file, path: pass.ndjson }\n";
    run(d, "pass", pass);
    assert_eq!(read(d, "pass.ndjson"), "{\"z\":1,\"a\":{\"y\":2,\"b\":3},\"kv\":\"sku=A,size=M,color=red\"}\n");
    let csv_in = "name: csv\nsource: { id: in, type: file, path: in.csv, format: csv }\nsinks:\n  - { id: out, type: file, path: csv.ndjson }\n  - { id: csv, type: file, path: csv.csv, format: csv }\n";
    run(d, "csv", csv_in);
    assert_eq!(read(d, "csv.ndjson"), "{\"zip\":\"1\",\"city\":\"b\",\"addr\":\"c\"}\n");
    assert_eq!(read(d, "csv.csv"), "zip,city,addr\n1,b,c\n");
    // Built: the order the template and the steps write, through the shortcut and through minijinja.
    let built = r#"name: built
source: { id: in, type: file, path: in.ndjson }
steps:
  - id: pick
    type: jsonpath
    set: { "y2": "$.a.y", "b2": "$.a.b" }
  - id: add
    type: set
    fields: { zz: 1, aa: "{{ record.z }}" }
  - id: ren
    type: rename
    fields: { z: last }
  - id: fast
    type: template
    value: { x: "{{ record.y2 }}", c: "{{ record.b2 }}", rest: "{{ record }}" }
  - id: slow
    type: template
    value: { q: "{{ record.x ~ '' }}", p: "{{ record.rest.kv | parse_kv }}", o: "{{ record.rest }}", n: { s: 1, r: 2 } }
sinks:
  - { id: out, type: file, path: built.ndjson }
"#;
    run(d, "built", built);
    let rest =
        r#"{"last":1,"a":{"y":2,"b":3},"m":[{"k":1,"c":2}],"kv":"sku=A,size=M,color=red","y2":2,"b2":3,"zz":1,"aa":1}"#;
    let expected = format!(r#"{{"q":"2","p":{{"sku":"A","size":"M","color":"red"}},"o":{rest},"n":{{"s":1,"r":2}}}}"#);
    assert_eq!(read(d, "built.ndjson"), format!("{expected}\n"));
    // A template of record lookups only (rendered without minijinja).
    let fast = "name: fast\nsource: { id: in, type: file, path: in.ndjson }\nsteps:\n  - { id: t, type: template, value: { x: \"{{ record.a.y }}\", c: \"{{ record.a.b }}\", b: \"{{ record.z }}\" } }\nsinks:\n  - { id: out, type: file, path: fast.ndjson }\n";
    run(d, "fast", fast);
    assert_eq!(read(d, "fast.ndjson"), "{\"x\":2,\"c\":3,\"b\":1}\n");
}
