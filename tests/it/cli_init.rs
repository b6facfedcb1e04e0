//! `weir init DIR` scaffolds a client folder that validates and runs as it is, with a `.gitignore`
//! keeping state and outputs out of git, and never overwrites a file.

use crate::support::cli::weir;

#[test]
fn init_scaffolds_a_folder_that_validates_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let init = weir(&["init", "acme"], d);
    assert_eq!(init.status.code(), Some(0), "{}", String::from_utf8_lossy(&init.stderr));
    let acme = d.join("acme");
    for file in
        ["connections.yaml", "shared.yaml", "tables/sizes.csv", "data/orders.ndjson", "orders.yaml", ".gitignore"]
    {
        assert!(acme.join(file).is_file(), "{file} is scaffolded");
    }
    let ignore = std::fs::read_to_string(acme.join(".gitignore")).expect("gitignore");
    assert!(ignore.lines().any(|l| l == ".weir/") && ignore.lines().any(|l| l == "out/"), "{ignore}");

    let validate = weir(&["validate", "acme"], d);
    assert_eq!(validate.status.code(), Some(0), "{}", String::from_utf8_lossy(&validate.stderr));
    let run = weir(&["run", "acme"], d);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let out = std::fs::read_to_string(acme.join("out/orders.ndjson")).expect("the pipeline wrote its output");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("\"MD\""), "the lookup table was used: {out}");
    assert!(acme.join(".weir/state.db").is_file(), "state lands in the ignored .weir/");

    // A second init touches nothing.
    std::fs::write(acme.join("orders.yaml"), "edited").expect("write");
    let again = weir(&["init", "acme"], d);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::read_to_string(acme.join("orders.yaml")).expect("read"), "edited");
}
