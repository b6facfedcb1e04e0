//! `weir sim erp` as a process, called over HTTP: OData paging to the end with `@odata.nextLink`
//! (and what an item changed during paging does), `$filter`/`$orderby`/`$top`/`$select`, etags and
//! `If-Match`, orders (duplicates accepted) and shipments, the 429 budget; and Weir's own http source
//! reading it through `oauth2_client_credentials` and `session` auth, with the token renewed on
//! expiry and after a revocation. The faults both simulators share are in `sim_faults`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::cli::weir;
use crate::support::sim::{Answer, Simulator, api, get, token};

fn send_json(sim: &Simulator, method: &str, path: &str, token: &str, extra: &[(&str, &str)], body: &Value) -> Answer {
    let bearer = format!("Bearer {token}");
    let mut all = vec![("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
    all.extend_from_slice(extra);
    sim.send(method, path, &all, Some(body.to_string()))
}

fn numbers(page: &Value) -> Vec<String> {
    page["value"].as_array().expect("value").iter().map(|e| e["number"].as_str().expect("number").to_string()).collect()
}

#[test]
fn pages_to_the_end_with_next_link_and_filters_orders_and_selects() {
    let sim = Simulator::start("erp", &["--seed", "3"]);
    let token = token(&sim);
    let items = api(&sim, "items");
    // Every item once (the classic items and the apparel ones), 50 a page, following the next link.
    let mut url = items.clone();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let answer = get(&sim, &url, &token, &[("Prefer", "odata.maxpagesize=50")]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.header("preference-applied"), "odata.maxpagesize=50");
        assert!(answer.body["value"].as_array().expect("value").iter().all(|e| e["@odata.etag"].is_string()));
        seen.extend(numbers(&answer.body));
        pages += 1;
        match answer.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    let all = sim.control("GET", "state", None)["items"].as_array().expect("items").len();
    assert!(all > 600, "the apparel items are there: {all}");
    assert_eq!((seen.len(), pages), (all, all.div_ceil(50)), "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no item twice: {seen:?}");

    let query = |q: &str| get(&sim, &format!("{items}?{q}"), &token, &[]);
    let cheap = query(
        "$filter=unitPrice%20ge%2050%20and%20unitPrice%20lt%20100%20and%20itemCategoryCode%20ne%20'APPAREL'&$orderby=unitPrice%20desc,number",
    );
    assert_eq!(numbers(&cheap.body), ["1928-S", "1952-W", "1953-W", "1955-W"], "{}", cheap.body);
    let or =
        query("$filter=displayName%20eq%20'100%25-COTTON'%20or%20displayName%20eq%20'WT/09%20Blue'&$orderby=number");
    assert_eq!(numbers(&or.body), ["1954-W", "1956-W"], "{}", or.body);
    // Seeded items were modified in 2026's first hours; a date-time compares as an instant.
    let late = query("$filter=lastModifiedDateTime%20gt%202026-01-01T20:00:00Z");
    let early = query("$filter=lastModifiedDateTime%20le%202026-01-01T20:00:00Z");
    assert_eq!(numbers(&late.body).len() + numbers(&early.body).len(), all);
    assert!(!numbers(&late.body).is_empty() && !numbers(&early.body).is_empty());
    let top = query("$orderby=unitPrice%20desc&$top=2&$skip=1&$select=number,unitPrice");
    assert_eq!(
        top.body["value"],
        json!([
            {"@odata.etag": top.body["value"][0]["@odata.etag"], "number": "1896-S", "unitPrice": 1000.8},
            {"@odata.etag": top.body["value"][1]["@odata.etag"], "number": "1906-S", "unitPrice": 281.4},
        ])
    );
    assert!(top.body.get("@odata.nextLink").is_none());
    // Malformed queries answer 400 in OData's error shape.
    for bad in ["$filter=number%20is%20'x'", "$filter=colour%20eq%20'red'", "$top=-1", "$apply=x"] {
        let answer = query(bad);
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert!(answer.body["error"]["code"].is_string() && answer.body["error"]["message"].is_string(), "{bad}");
    }
}

#[test]
fn an_item_changed_during_paging_moves_behind_the_page_token() {
    // The skip token holds the last entity's sort key: an item read on page one and changed before
    // page two comes again at the end of a read ordered by `lastModifiedDateTime` (the watermark
    // trap), while a read ordered by id neither loses nor repeats anything.
    let sim = Simulator::start("erp", &[]);
    let token = token(&sim);
    let items = api(&sim, "items");
    let first =
        get(&sim, &format!("{items}?$orderby=lastModifiedDateTime"), &token, &[("Prefer", "odata.maxpagesize=4")]);
    let read = numbers(&first.body);
    let changed = sim.control("POST", &format!("items/{}", read[0]), Some(json!({"unitPrice": 1.5})));
    assert_eq!(changed["unitPrice"], 1.5);
    assert_ne!(changed["@odata.etag"], first.body["value"][0]["@odata.etag"]);
    let added = sim.control(
        "POST",
        "items/NEW-1",
        Some(json!({"displayName": "New", "lastModifiedDateTime": "2027-01-01T00:00:00.000Z"})),
    );
    assert_eq!(added["number"], "NEW-1");
    let mut url = first.body["@odata.nextLink"].as_str().expect("a next link").to_string();
    let mut rest = Vec::new();
    loop {
        let page = get(&sim, &url, &token, &[("Prefer", "odata.maxpagesize=4")]).body;
        rest.extend(numbers(&page));
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(rest.iter().filter(|n| **n == read[0]).count(), 1, "the changed item comes again: {rest:?}");
    assert_eq!(rest.last().map(String::as_str), Some("NEW-1"), "{rest:?}");
    assert!(read[1..].iter().all(|n| !rest.contains(n)), "nothing else twice: {read:?} {rest:?}");
    let total = sim.control("GET", "state", None)["items"].as_array().map(Vec::len);
    assert_eq!(Some(read.len() + rest.len() - 1), total);
}

#[test]
fn patch_needs_the_current_etag_and_every_update_changes_it() {
    let sim = Simulator::start("erp", &[]);
    let token = token(&sim);
    let customers = api(&sim, "customers");
    let first = get(&sim, &format!("{customers}?$top=1"), &token, &[]).body["value"][0].clone();
    let path = format!("{customers}({})", first["id"].as_str().expect("id"));
    let one = get(&sim, &path, &token, &[]);
    let etag = one.body["@odata.etag"].as_str().expect("an etag").to_string();
    assert_eq!(one.header("etag"), etag);
    let change = json!({"creditLimit": 777});
    let missing = send_json(&sim, "PATCH", &path, &token, &[], &change);
    assert_eq!((missing.status, missing.body["error"]["code"].as_str()), (400, Some("BadRequest_InvalidToken")));
    let wrong = send_json(&sim, "PATCH", &path, &token, &[("If-Match", "W/\"JzE7Jw==\"")], &change);
    assert_eq!((wrong.status, wrong.body["error"]["code"].as_str()), (412, Some("Request_EntityChanged")));
    let done = send_json(&sim, "PATCH", &path, &token, &[("If-Match", &etag)], &change);
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["creditLimit"], 777);
    let new_etag = done.body["@odata.etag"].as_str().expect("an etag");
    assert_ne!(new_etag, etag);
    assert!(done.body["lastModifiedDateTime"].as_str() > first["lastModifiedDateTime"].as_str());
    // The old etag is stale now; `*` matches any.
    assert_eq!(send_json(&sim, "PATCH", &path, &token, &[("If-Match", &etag)], &change).status, 412);
    let any = send_json(&sim, "PATCH", &path, &token, &[("If-Match", "*")], &json!({"blocked": "Ship"}));
    assert_eq!((any.status, any.body["blocked"].as_str()), (200, Some("Ship")));
    let read_only = send_json(&sim, "PATCH", &path, &token, &[("If-Match", "*")], &json!({"id": "x"}));
    assert_eq!(read_only.status, 400);
}

#[test]
fn orders_are_created_with_lines_duplicates_included_and_shipped_with_tracking() {
    let sim = Simulator::start("erp", &[]);
    let token = token(&sim);
    let orders = api(&sim, "salesOrders");
    let order = json!({"externalDocumentNumber": "000000042", "customerNumber": "C00010", "salesOrderLines": [
        {"lineType": "Item", "lineObjectNumber": "1896-S", "quantity": 2},
        {"lineType": "Item", "lineObjectNumber": "1954-W", "quantity": 1, "unitPrice": 30.0},
    ]});
    let created = send_json(&sim, "POST", &orders, &token, &[], &order);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["salesOrderLines"].as_array().map(Vec::len), Some(2));
    assert_eq!(created.body["totalAmountExcludingTax"], 2031.6);
    assert!(created.body["number"].as_str().is_some_and(|n| n.starts_with("S-ORD")));
    // The same external document number again: a real ERP creates a second order.
    assert_eq!(send_json(&sim, "POST", &orders, &token, &[], &order).status, 201);
    let same = get(&sim, &format!("{orders}?$filter=externalDocumentNumber%20eq%20'000000042'"), &token, &[]);
    assert_eq!(same.body["value"].as_array().map(Vec::len), Some(2));
    // Unknown items and customers blocked for everything are refused.
    let unknown = json!({"customerNumber": "C00010", "salesOrderLines": [{"lineObjectNumber": "NOPE", "quantity": 1}]});
    let refused = send_json(&sim, "POST", &orders, &token, &[], &unknown);
    assert_eq!(refused.status, 400);
    assert!(refused.body["error"]["message"].as_str().is_some_and(|m| m.contains("No.='NOPE'")), "{}", refused.body);
    let blocked = send_json(&sim, "POST", &orders, &token, &[], &json!({"customerNumber": "C00060"}));
    assert_eq!(blocked.status, 400, "{}", blocked.body);

    let stock_of = |sim: &Simulator| -> f64 {
        let state = sim.control("GET", "state", None);
        let stocks = state["itemStocks"].as_array().expect("stocks").clone();
        stocks.iter().find(|s| s["itemNumber"] == "1896-S" && s["locationCode"] == "MAIN").expect("a row")["inventory"]
            .as_f64()
            .expect("a number")
    };
    let before = stock_of(&sim);
    let number = created.body["number"].as_str().expect("a number");
    let shipped = sim.control(
        "POST",
        "ship",
        Some(json!({"order": number, "trackingNumber": "1Z999", "lines": [{"sequence": 10000, "quantity": 1}]})),
    );
    assert_eq!(shipped["salesShipmentLines"].as_array().map(Vec::len), Some(1));
    assert_eq!(stock_of(&sim), before - 1.0);
    let shipments = api(&sim, "salesShipments");
    let found = get(&sim, &format!("{shipments}?$filter=externalDocumentNumber%20eq%20'000000042'"), &token, &[]);
    assert_eq!(found.body["value"][0]["packageTrackingNumber"], "1Z999", "{}", found.body);
    let id = found.body["value"][0]["id"].as_str().expect("an id");
    let lines = get(&sim, &format!("{shipments}({id})/salesShipmentLines"), &token, &[]);
    assert_eq!(lines.body["value"][0]["lineObjectNumber"], "1896-S");
    let order = get(
        &sim,
        &format!("{orders}({})?$expand=salesOrderLines", created.body["id"].as_str().expect("id")),
        &token,
        &[],
    );
    assert_eq!(order.body["fullyShipped"], false);
    assert_eq!(order.body["salesOrderLines"][0]["shippedQuantity"], 1.0);
    // More than is left to ship is refused; the rest ships the order fully.
    let over = sim.send(
        "POST",
        "/__sim/ship",
        &[],
        Some(
            json!({"order": number, "trackingNumber": "x", "lines": [{"sequence": 10000, "quantity": 5}]}).to_string(),
        ),
    );
    assert_eq!(over.status, 400);
    sim.control("POST", "ship", Some(json!({"order": number, "trackingNumber": "1Z998"})));
    let order = get(&sim, &format!("{orders}({})", created.body["id"].as_str().expect("id")), &token, &[]);
    assert_eq!(order.body["fullyShipped"], true);
}

#[test]
fn apparel_is_one_item_per_style_and_size_with_a_variant_per_color_and_order_lines_name_the_variant() {
    let sim = Simulator::start("erp", &[]);
    let token = token(&sim);
    let items = api(&sim, "items");
    let small = get(&sim, &format!("{items}?$filter=number%20eq%20'MH01-SM'"), &token, &[]);
    let item = &small.body["value"][0];
    assert_eq!(item["displayName"], "Chaz Kangeroo Hoodie, size S", "{}", small.body);
    let variants = get(
        &sim,
        &format!("{}?$filter=itemNumber%20eq%20'MH01-SM'&$orderby=code", api(&sim, "itemVariants")),
        &token,
        &[],
    );
    let codes: Vec<&str> =
        variants.body["value"].as_array().expect("value").iter().filter_map(|v| v["code"].as_str()).collect();
    assert_eq!(codes, ["BLK", "GRY", "ORG"], "{}", variants.body);
    let black = variants.body["value"][0]["id"].as_str().expect("an id");
    let orders = api(&sim, "salesOrders");
    let line = |variant: &str| {
        json!({"customerNumber": "C00010", "salesOrderLines": [
            {"lineObjectNumber": "MH01-SM", "itemVariantId": variant, "quantity": 1}]})
    };
    let created = send_json(&sim, "POST", &orders, &token, &[], &line(black));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["salesOrderLines"][0]["itemVariantId"], black);
    assert_eq!(created.body["salesOrderLines"][0]["unitPrice"], item["unitPrice"]);
    // Another item's variant, and one that does not exist, are refused.
    let other = get(&sim, &format!("{}?$filter=itemNumber%20eq%20'MH01-XS'", api(&sim, "itemVariants")), &token, &[]);
    let theirs = other.body["value"][0]["id"].as_str().expect("an id");
    let refused = send_json(&sim, "POST", &orders, &token, &[], &line(theirs));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body["error"]["message"].as_str().is_some_and(|m| m.contains("does not belong")),
        "{}",
        refused.body
    );
    let missing = send_json(&sim, "POST", &orders, &token, &[], &line("no-such-variant"));
    assert_eq!(missing.status, 400, "{}", missing.body);
    // A shipment line names the variant shipped.
    let number = created.body["number"].as_str().expect("a number");
    let shipped = sim.control("POST", "ship", Some(json!({"order": number, "trackingNumber": "1Z1"})));
    assert_eq!(shipped["salesShipmentLines"][0]["itemVariantId"], black, "{shipped}");
}

#[test]
fn the_429_budget_answers_retry_after_per_client() {
    let sim = Simulator::start("erp", &["--budget", "3", "--budget-window", "60"]);
    let token = token(&sim);
    let items = api(&sim, "items");
    for _ in 0..3 {
        assert_eq!(get(&sim, &items, &token, &[]).status, 200);
    }
    let refused = get(&sim, &items, &token, &[]);
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "Application_TooManyRequests");
    let wait: u64 = refused.header("retry-after").parse().expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // A session of another user has its own budget.
    let login = sim.send(
        "POST",
        "/b1s/v1/Login",
        &[],
        Some(json!({"CompanyDB": "SBODEMOUS", "UserName": "manager", "Password": "manager-password"}).to_string()),
    );
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = format!("B1SESSION={}", login.body["SessionId"].as_str().expect("a session id"));
    assert_eq!(sim.send("GET", &items, &[("Cookie", &cookie)], None).status, 200);
}

/// Writes a folder reading the ERP's twelve classic items (not the apparel) through `auth` (YAML flow
/// mapping) into `out.ndjson`.
fn folder(sim: &Simulator, auth: &str, page_size: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let connections = format!(
        "connections:\n  erp:\n    type: http\n    base_url: \"{}\"\n    headers: {{ Prefer: \"odata.maxpagesize={page_size}\" }}\n    auth: {auth}\n",
        sim.base
    );
    std::fs::write(dir.path().join("connections.yaml"), connections).expect("connections");
    let pipeline = format!(
        "name: items\nsource:\n  id: items\n  type: http\n  connection: erp\n  path: \"{}\"\n  records: \"$.value[*]\"\n  \
         paginate: {{ type: next_link }}\n  query: {{ \"$filter\": \"itemCategoryCode ne 'APPAREL'\" }}\nsinks:\n  - {{ id: out, type: file, path: out.ndjson }}\n",
        api(sim, "items")
    );
    std::fs::write(dir.path().join("items.yaml"), pipeline).expect("pipeline");
    dir
}

/// Runs the folder's pipeline; the item numbers written, each once.
fn run_items(dir: &Path) -> Vec<String> {
    let _ = std::fs::remove_file(dir.join("out.ndjson"));
    let output = weir(&["run", "items.yaml"], dir);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(dir.join("out.ndjson")).expect("output");
    let numbers: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON")["number"].as_str().expect("number").to_string())
        .collect();
    let mut unique = numbers.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), numbers.len(), "{numbers:?}");
    numbers
}

fn paths(sim: &Simulator, part: &str) -> usize {
    sim.requests().iter().filter(|r| r["path"].as_str().is_some_and(|p| p.contains(part))).count()
}

const OAUTH2: &str = "{ type: oauth2_client_credentials, token_url: \"TOKEN\", client_id: sim-client, client_secret: sim-client-secret, scope: \"https://api.businesscentral.dynamics.com/.default\" }";

#[test]
fn weirs_oauth2_source_reads_every_page_and_renews_its_token_when_it_expires() {
    // Tokens live 2 s: Weir renews one after 1 s. The second page is held 1.2 s, so the third needs a
    // new token.
    let sim = Simulator::start("erp", &["--token-lifetime", "2"]);
    let auth = OAUTH2.replace("TOKEN", &format!("{}/tenant-1/oauth2/v2.0/token", sim.base));
    let dir = folder(&sim, &auth, 5);
    sim.control("POST", "faults", Some(json!([{}, {}, {"latency_ms": 1200}])));
    assert_eq!(run_items(dir.path()).len(), 12);
    assert_eq!(paths(&sim, "/oauth2/v2.0/token"), 2, "{:?}", sim.requests());
    assert_eq!(paths(&sim, "/items"), 3);
    assert!(sim.requests().iter().all(|r| !r.to_string().contains("sim-client-secret")));
}

#[test]
fn weirs_oauth2_source_logs_in_again_after_the_tokens_are_revoked() {
    let sim = Simulator::start("erp", &[]);
    let auth = OAUTH2.replace("TOKEN", &format!("{}/tenant-1/oauth2/v2.0/token", sim.base));
    let dir = folder(&sim, &auth, 5);
    // The second page is held 1.5 s; the tokens are revoked meanwhile, so it answers 401.
    sim.control("POST", "faults", Some(json!([{}, {}, {"latency_ms": 1500}])));
    let revoker = std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            // Waits (by condition, not by time) for the second page to arrive, then revokes.
            while paths(&sim, "/items") < 2 {
                std::thread::sleep(Duration::from_millis(10));
            }
            sim.control("POST", "tokens/revoke", None)["revoked"].as_u64()
        });
        assert_eq!(run_items(dir.path()).len(), 12);
        handle.join().expect("the revoker")
    });
    assert_eq!(revoker, Some(1));
    assert_eq!(paths(&sim, "/oauth2/v2.0/token"), 2, "{:?}", sim.requests());
    assert_eq!(paths(&sim, "/items"), 4, "the second page asked again after the 401");
}

#[test]
fn weirs_session_source_logs_in_with_the_b1session_cookie_and_again_after_a_revocation() {
    let sim = Simulator::start("erp", &[]);
    let auth = "{ type: session, path: /b1s/v1/Login, body: { CompanyDB: SBODEMOUS, UserName: manager, Password: manager-password }, cookie: B1SESSION }";
    let dir = folder(&sim, auth, 4);
    assert_eq!(run_items(dir.path()).len(), 12);
    assert_eq!(paths(&sim, "/b1s/v1/Login"), 1);
    let pages: Vec<Value> =
        sim.requests().into_iter().filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/items"))).collect();
    assert_eq!(pages.len(), 3);
    assert!(pages.iter().all(|r| r["headers"]["cookie"] == "B1SESSION=***"), "{pages:?}");
    assert!(sim.requests().iter().all(|r| !r.to_string().contains("manager-password")));
    // Each run logs in afresh, so the session is revoked during one: the second page is held meanwhile.
    sim.control("DELETE", "requests", None);
    sim.control("POST", "faults", Some(json!([{}, {}, {"latency_ms": 1500}])));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while paths(&sim, "/items") < 2 {
                std::thread::sleep(Duration::from_millis(10));
            }
            sim.control("POST", "tokens/revoke", None);
        });
        assert_eq!(run_items(dir.path()).len(), 12);
    });
    assert_eq!(paths(&sim, "/b1s/v1/Login"), 2, "{:?}", sim.requests());
}

#[test]
fn an_if_match_sink_sends_the_current_etag_and_reads_it_again_after_a_412() {
    // Two items are updated through the http sink with `if_match`. Each write reads the item first
    // and sends its etag; the simulator answers the first item's first PATCH 412 (changed meanwhile):
    // the sink reads it again and succeeds. The second item's PATCH is refused twice: dead-lettered.
    let sim = Simulator::start("erp", &[]);
    let token = token(&sim);
    let items = get(&sim, &format!("{}?$top=2", api(&sim, "items")), &token, &[]).body["value"].clone();
    let ids: Vec<&str> = items.as_array().expect("items").iter().map(|i| i["id"].as_str().expect("id")).collect();
    let auth = OAUTH2.replace("TOKEN", &format!("{}/tenant-1/oauth2/v2.0/token", sim.base));
    let dir = folder(&sim, &auth, 100);
    let input: String = ids.iter().map(|id| format!("{{\"id\": \"{id}\", \"unitPrice\": 77.5}}\n")).collect();
    std::fs::write(dir.path().join("prices.ndjson"), input).expect("input");
    let entity = format!("{}({{{{ record.id }}}})", api(&sim, "items"));
    let pipeline = format!(
        "name: prices\nsource: {{ id: prices, type: file, path: prices.ndjson, key: \"{{{{ record.id }}}}\" }}\n\
         dead_letter: {{ path: dead.ndjson }}\nsinks:\n  - id: erp\n    type: http\n    connection: erp\n    \
         method: PATCH\n    path: \"{entity}\"\n    body: {{ unitPrice: \"{{{{ record.unitPrice }}}}\" }}\n    \
         if_match: {{ path: \"{entity}\", etag: \"$['@odata.etag']\" }}\n"
    );
    std::fs::write(dir.path().join("prices.yaml"), pipeline).expect("pipeline");
    let requests_before = sim.requests().len();
    // The token, then per item: read, write (412), read, write.
    let stale = json!({"status": 412});
    sim.control("POST", "faults", Some(json!([{}, {}, stale, {}, {}, {}, stale, {}, stale])));
    let output = weir(&["run", "prices.yaml"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));

    let log: Vec<Value> = sim.requests()[requests_before..].to_vec();
    let calls: Vec<String> = log
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.contains("/items(")))
        .map(|r| format!("{} {}", r["method"].as_str().unwrap_or_default(), r["fault"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(calls.len(), 8, "{calls:?}");
    let patches: Vec<&Value> = log.iter().filter(|r| r["method"] == "PATCH").collect();
    assert!(
        patches.iter().all(|p| p["headers"]["if-match"].as_str().is_some_and(|t| t.starts_with("W/"))),
        "{patches:?}"
    );
    let first = get(&sim, &format!("{}({})", api(&sim, "items"), ids[0]), &token, &[]);
    assert_eq!(first.body["unitPrice"], json!(77.5), "the first item is updated");
    let second = get(&sim, &format!("{}({})", api(&sim, "items"), ids[1]), &token, &[]);
    assert_ne!(second.body["unitPrice"], json!(77.5), "the second is not");
    let dead = std::fs::read_to_string(dir.path().join("dead.ndjson")).expect("a dead letter");
    assert!(dead.contains(ids[1]) && dead.contains("412"), "{dead}");
}

#[test]
fn customers_are_added_and_changed_by_number_and_found_by_an_email_holding_a_quote() {
    let sim = Simulator::start("erp", &[]);
    let token = token(&sim);
    let customers = api(&sim, "customers");
    let added = sim.control(
        "POST",
        "customers/C09000",
        Some(json!({"displayName": "Pat O'Brien", "email": "pat.o'brien@example.com"})),
    );
    assert_eq!((added["number"].as_str(), added["balanceDue"].as_i64()), (Some("C09000"), Some(0)));
    let changed = sim.control("POST", "customers/C09000", Some(json!({"blocked": "Invoice", "creditLimit": 2500})));
    assert_eq!((changed["id"].clone(), changed["blocked"].as_str()), (added["id"].clone(), Some("Invoice")));
    assert!(changed["lastModifiedDateTime"].as_str() > added["lastModifiedDateTime"].as_str());
    // OData doubles a quote inside a string literal; Business Central compares without case.
    let filter = "email eq 'PAT.O''BRIEN@example.com'".replace(' ', "%20").replace('\'', "%27");
    let found = get(&sim, &format!("{customers}?$filter={filter}"), &token, &[]).body;
    assert_eq!(numbers(&found), vec!["C09000".to_string()]);
    assert_eq!(found["value"][0]["creditLimit"], 2500);
}
