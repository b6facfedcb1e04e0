//! The faults both simulators serve, as a client sees them: a connection reset (no status), a
//! timeout (nothing until the client gives up), a lost answer (the work done, the answer too late),
//! and fault rates drawn per request — the same seed, the same faults — in each simulator's error
//! shape; the request log says which fault each request got.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::sim::{Simulator, api, get, token};

#[test]
fn resets_timeouts_and_lost_answers_as_the_client_sees_them() {
    let sim = Simulator::start("erp", &[]);
    let token = token(&sim);
    let orders = api(&sim, "salesOrders");
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
    let order = json!({"externalDocumentNumber": "LOST-1", "customerNumber": "C00010"}).to_string();
    sim.control(
        "POST",
        "faults",
        Some(json!([{"reset": true}, {"timeout": true}, {"lost": true, "latency_ms": 3000}])),
    );
    // A reset: no status, the connection closed under the request; the order not created.
    let reset = sim.try_send("POST", &orders, &auth, Some(order.clone()), None).err().expect("no answer");
    assert!(reset.status().is_none() && !reset.is_timeout(), "{reset:?}");
    // A timeout: nothing until the client gives up.
    let timeout = sim.try_send("POST", &orders, &auth, Some(order.clone()), Some(Duration::from_millis(300)));
    assert!(timeout.err().expect("no answer").is_timeout());
    // Lost: the client gives up, but the order was created.
    let lost = sim.try_send("POST", &orders, &auth, Some(order), Some(Duration::from_millis(300)));
    assert!(lost.err().expect("no answer").is_timeout());
    let created = sim.control("GET", "state", None)["salesOrders"].as_array().expect("orders").clone();
    assert_eq!(created.iter().filter(|o| o["externalDocumentNumber"] == "LOST-1").count(), 1);
    let faults: Vec<Value> = sim.requests().iter().map(|r| r["fault"].clone()).collect();
    assert_eq!(faults, [Value::Null, json!("reset"), json!("timeout"), json!("lost")]);
    // The log masks the token endpoint's secret.
    assert!(
        sim.requests()[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("client_secret=***") && !b.contains("sim-client-secret"))
    );
}

/// The faults each of `n` item reads got.
fn fault_sequence(sim: &Simulator, n: usize) -> Vec<Value> {
    let token = token(sim);
    let items = api(sim, "items");
    sim.control("DELETE", "requests", None);
    for _ in 0..n {
        let answer = get(sim, &items, &token, &[]);
        if answer.status == 429 {
            assert_eq!(answer.header("retry-after"), "2");
        }
        assert!(matches!(answer.status, 200 | 429 | 500 | 502 | 503), "{}", answer.status);
        if answer.status != 200 {
            assert!(answer.body["error"]["message"].is_string(), "OData's error shape: {}", answer.body);
        }
    }
    sim.requests().iter().map(|r| r["fault"].clone()).collect()
}

#[test]
fn fault_rates_are_drawn_per_request_and_reproducible_by_seed() {
    let args = ["--fault-5xx", "0.3", "--fault-429", "0.2", "--fault-seed", "42", "--retry-after", "2"];
    let a = Simulator::start("erp", &args);
    let b = Simulator::start("erp", &args);
    let first = fault_sequence(&a, 60);
    assert_eq!(first, fault_sequence(&b, 60), "the same seed, the same faults");
    let count = |name: &str| first.iter().filter(|f| f.as_str().is_some_and(|s| s.starts_with(name))).count();
    let (errors, limited) = (count("50"), count("429"));
    assert!((8..=30).contains(&errors) && (4..=22).contains(&limited), "5xx {errors}, 429 {limited}: {first:?}");
    assert_eq!(count("") + first.iter().filter(|f| f.is_null()).count(), 60);
    // Set through the control endpoint: another seed, other draws; rates of 0 draw nothing.
    let rates = json!({"5xx": 0.3, "429": 0.2, "seed": 43, "retry_after": 2});
    assert_eq!(a.control("POST", "faults/rates", Some(rates))["seed"], 43);
    assert_ne!(fault_sequence(&a, 60), first);
    a.control("DELETE", "faults/rates", None);
    assert!(fault_sequence(&a, 20).iter().all(Value::is_null));
    let bad = a.send("POST", "/__sim/faults/rates", &[], Some(json!({"5xx": 0.8, "429": 0.5}).to_string()));
    assert_eq!(bad.status, 400, "{}", bad.body);
    // The commerce simulator draws the same way, answering in Magento's shape.
    let commerce = Simulator::start("commerce", &["--fault-5xx", "1"]);
    let answer = commerce.send("GET", "/rest/V1/products", &[], None);
    assert!(answer.status >= 500 && answer.body["message"].is_string(), "{}", answer.body);
}

#[test]
fn the_commerce_simulator_resets_and_holds_requests_too() {
    let sim = Simulator::start("commerce", &[]);
    sim.control("POST", "faults", Some(json!([{"reset": true}, {"timeout": true}])));
    let reset = sim.try_send("GET", "/rest/V1/products", &[], None, None).err().expect("no answer");
    assert!(reset.status().is_none() && !reset.is_timeout(), "{reset:?}");
    let held = sim.try_send("GET", "/rest/V1/products", &[], None, Some(Duration::from_millis(300)));
    assert!(held.err().expect("no answer").is_timeout());
    // Then it answers again, in Magento's shape (401: no credentials).
    let answer = sim.send("GET", "/rest/V1/products", &[], None);
    assert_eq!((answer.status, answer.body["message"].is_string()), (401, true), "{}", answer.body);
    let faults: Vec<Value> = sim.requests().iter().map(|r| r["fault"].clone()).collect();
    assert_eq!(faults, [json!("reset"), json!("timeout"), Value::Null]);
}

#[test]
fn the_request_log_says_when_each_request_arrived_and_can_be_followed_from_an_index() {
    let sim = Simulator::start("erp", &[]);
    let token = token(&sim);
    let items = api(&sim, "items");
    sim.control("DELETE", "requests", None);
    let before = time::OffsetDateTime::now_utc();
    sim.control("POST", "faults", Some(json!([{"latency_ms": 200}])));
    for _ in 0..3 {
        assert_eq!(get(&sim, &items, &token, &[]).status, 200);
    }
    let parse = |r: &Value| {
        let at = r["at"].as_str().expect("an arrival time");
        assert!(at.ends_with('Z') && at.len() == 24, "{at}");
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).expect("RFC 3339")
    };
    let log = sim.requests();
    let arrivals: Vec<time::OffsetDateTime> = log.iter().map(parse).collect();
    assert_eq!(arrivals.len(), 3);
    // Logged on arrival, to the millisecond: the second request came after the first's 200 ms delay.
    assert!(arrivals[0] >= before - time::Duration::milliseconds(1), "{arrivals:?}");
    assert!(arrivals[1] - arrivals[0] >= time::Duration::milliseconds(200), "{arrivals:?}");
    assert!(arrivals[2] >= arrivals[1]);
    let tail = sim.control("GET", "requests?from=1", None);
    assert_eq!(tail.as_array().map(Vec::as_slice), Some(&log[1..]));
    assert_eq!(sim.control("GET", "requests?from=9", None), json!([]));
}
