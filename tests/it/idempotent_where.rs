//! `idempotency.lookup.where`: after a create whose answer was lost, the lookup's candidates (an
//! order's shipments) are told apart by an expression over `found` and `record` — the one carrying the
//! record's tracking number is the record the target has; another is not taken for it; a `where` that
//! fails on a candidate dead-letters the record; a `where` that does not compile is a config error at
//! its place. Run through `weir test` (mocked HTTP) and `weir validate`.

use crate::support::cli::{outcome, weir};

const PIPELINE: &str = r#"name: ship
source: { id: shipments, type: file, path: data/shipments.ndjson, key: "shipment:{{ record.number }}" }
sinks:
  - id: shop
    type: http
    url: "http://shop.invalid/V1/order/{{ record.order }}/ship"
    body: { tracks: [{ track_number: "{{ record.tracking }}" }] }
    capture: { shipment_id: "$" }
    idempotency:
      lookup:
        url: "http://shop.invalid/V1/shipments?order_id={{ record.order }}"
        found: "$.items[*]"
        where: WHERE
        capture: { shipment_id: "$.entity_id" }
"#;

const TESTS: &str = r#"pipeline: ../ship.yaml
tests:
  - name: the candidate with the record's track is the one the lost create made
    given: [{ rows: [{ number: S1, order: 7, tracking: T-2 }] }]
    mocks:
      shop:
        - when: { method: POST }
          then: { timeout: true }
          times: 1
        - when: { method: GET, path: /V1/shipments }
          then: { body: { items: [{ entity_id: 1, tracks: [{ track_number: T-1 }] }, { entity_id: 2, tracks: [{ track_number: T-2 }] }] } }
    expect:
      ids: { "shipment:S1": { shipment_id: 2 } }
      counters: { delivered: 1, dead_lettered: 0 }
  - name: another shipment's track is not this one, so the create is sent again
    given: [{ rows: [{ number: S1, order: 7, tracking: T-3 }] }]
    mocks:
      shop:
        - when: { method: POST }
          then: [{ timeout: true }, { body: 5 }]
          times: 2
        - when: { method: GET, path: /V1/shipments }
          then: { body: { items: [{ entity_id: 1, tracks: [{ track_number: T-1 }] }] } }
    expect:
      ids: { "shipment:S1": { shipment_id: 5 } }
  - name: a where that fails on a candidate (it has no tracks) dead-letters the record, not sent again
    given: [{ rows: [{ number: S1, order: 7, tracking: T-2 }] }]
    mocks:
      shop:
        - { when: { method: POST }, then: { timeout: true }, times: 1 }
        - { when: { method: GET, path: /V1/shipments }, then: { body: { items: [{ entity_id: 1 }] } } }
    expect:
      dead_letters: [{ step: shop, key: "shipment:S1", reason: "`where`: .*earlier attempt's outcome is unknown" }]
"#;

fn folder(condition: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = PIPELINE.replace("WHERE", condition);
    for (rel, text) in [("ship.yaml", pipeline.as_str()), ("tests/ship.yaml", TESTS), ("data/shipments.ndjson", "")] {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

#[test]
fn where_picks_the_lookups_candidate_that_is_the_record() {
    let dir = folder("\"record.tracking == found.tracks[0].track_number\"");
    let (code, stdout, stderr) = outcome(weir(&["test"], dir.path()));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("3 passed"), "{stdout}");
}

#[test]
fn a_where_that_does_not_compile_is_reported_at_its_place() {
    let dir = folder("\"record.tracking ==\"");
    let (code, stdout, stderr) = outcome(weir(&["validate", "ship.yaml"], dir.path()));
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("idempotency.lookup.where"), "{stderr}");
}
