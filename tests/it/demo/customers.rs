//! `customers-to-erp.yaml` and `customers-from-erp.yaml` against both simulators: the ERP's customers
//! and the shop's customers read back — each shop customer once in the ERP (an e-mail the ERP had
//! already linked, not duplicated), nothing created by a second run, the ERP's account status and
//! credit limit on the shop customer, a change flowing on the next run, and a shop refusing a group it
//! does not have dead-lettered, then replayed once the group exists.

use serde_json::{Value, json};

use super::Demo;
use crate::support::cli::{command, outcome};
use crate::support::repo;

/// Every shop customer, by id.
fn shop_customers(demo: &Demo) -> Vec<Value> {
    let token = demo.commerce.token();
    let found = demo.commerce.get("/rest/V1/customers/search", &token);
    found["items"].as_array().expect("customers").clone()
}

fn shop_customer(demo: &Demo, email: &str) -> Value {
    let all = shop_customers(demo);
    all.into_iter().find(|c| c["email"] == email).unwrap_or_else(|| panic!("no shop customer {email}"))
}

/// A shop customer's custom attribute.
fn attribute(customer: &Value, code: &str) -> Option<String> {
    let attributes = customer["custom_attributes"].as_array()?;
    let found = attributes.iter().find(|a| a["attribute_code"] == code)?;
    found["value"].as_str().map(str::to_string)
}

/// The ERP's customers whose e-mail is `email`, compared without case as Business Central does.
fn erp_customers_with(demo: &Demo, email: &str) -> Vec<Value> {
    let state = demo.erp_state();
    let all = state["customers"].as_array().expect("customers").clone();
    all.into_iter().filter(|c| c["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email))).collect()
}

/// The `POST …/customers` the ERP received since the last call (and every `GET` it received came
/// without a body: the links are reads).
fn erp_customer_creates(demo: &Demo) -> usize {
    let requests = demo.erp.requests();
    let bodies: Vec<&Value> = requests.iter().filter(|r| r["method"] == "GET").map(|r| &r["body"]).collect();
    assert!(bodies.iter().all(|b| b.is_null() || *b == ""), "{bodies:?}");
    let creates = requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/customers")))
        .count();
    demo.erp.control("DELETE", "requests", None);
    creates
}

fn create_shop_group(demo: &Demo, code: &str) -> u64 {
    let token = demo.commerce.token();
    let (status, group) = demo.commerce.send(
        "POST",
        "/rest/V1/customerGroups",
        Some(&token),
        Some(json!({"group": {"code": code, "tax_class_id": 3}})),
    );
    assert_eq!(status, 200, "{group}");
    group["id"].as_u64().expect("a group id")
}

/// `weir dlq …` on the demo's state; `replay` sends again, so the connections point at the sims.
fn dlq(demo: &Demo, args: &[&str]) -> String {
    let state = demo.state.path().join("state.db").display().to_string();
    let mut all = vec!["dlq"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--state", &state]);
    let out = command(&all, &repo())
        .env("COMMERCE_URL", &demo.commerce.base)
        .env("ERP_URL", &demo.erp.base)
        .env("ERP_COMPANY", &demo.company)
        .env("ERP_TOKEN_URL", format!("{}/tenant-1/oauth2/v2.0/token", demo.erp.base))
        .output()
        .expect("weir runs");
    let (code, stdout, stderr) = outcome(out);
    assert_eq!(code, Some(0), "weir {all:?}:\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn customers_are_matched_by_email_both_ways_and_the_erps_status_reaches_the_shop() {
    let demo = Demo::start();
    // The ERP knows customer 5 already, under another spelling of the e-mail: it must be linked.
    demo.erp.control(
        "POST",
        "customers/C09000",
        Some(json!({"displayName": "Customer Five Ltd", "email": "Customer5@Example.com", "blocked": "Invoice", "creditLimit": 10000})),
    );
    // A shop customer whose e-mail holds a quote (OData doubles it in the filter).
    let token = demo.commerce.token();
    let pat = json!({"customer": {"email": "pat.o'brien@example.com", "firstname": "Pat", "lastname": "O'Brien"}});
    assert_eq!(demo.commerce.send("POST", "/rest/V1/customers", Some(&token), Some(pat)).0, 200);
    // The shop's groups for the ERP's holds; `All`'s (6) is not there yet.
    assert_eq!(
        (create_shop_group(&demo, "ERP hold: shipping"), create_shop_group(&demo, "ERP hold: invoicing")),
        (4, 5)
    );
    erp_customer_creates(&demo);

    demo.run("customers-to-erp.yaml");
    let shop = shop_customers(&demo);
    assert_eq!(shop.len(), 21);
    for customer in &shop {
        let email = customer["email"].as_str().expect("an e-mail");
        assert_eq!(erp_customers_with(&demo, email).len(), 1, "{email} once in the ERP");
    }
    let linked = erp_customers_with(&demo, "customer5@example.com");
    assert_eq!(
        (linked[0]["number"].as_str(), linked[0]["displayName"].as_str()),
        (Some("C09000"), Some("Customer Five Ltd"))
    );
    let veronica = &erp_customers_with(&demo, "roni_cost@example.com")[0];
    let address: Vec<&str> =
        ["displayName", "type", "addressLine1", "city", "state", "country", "postalCode", "phoneNumber"]
            .iter()
            .map(|f| veronica[*f].as_str().expect("a text"))
            .collect();
    assert_eq!(
        address,
        [
            "Veronica Costello",
            "Person",
            "6146 Honey Bluff Parkway",
            "Calder",
            "MI",
            "US",
            "49628-7978",
            "(555) 229-3326"
        ]
    );
    assert_eq!(erp_customer_creates(&demo), 20, "every shop customer but the linked one created");

    demo.run("customers-from-erp.yaml");
    let five = shop_customer(&demo, "customer5@example.com");
    assert_eq!(five["group_id"], 5, "Invoice → the invoicing hold");
    assert_eq!(attribute(&five, "erp_credit_limit").as_deref(), Some("10000.00"));
    assert_eq!(attribute(&five, "erp_customer_number").as_deref(), Some("C09000"));
    let roni = shop_customer(&demo, "roni_cost@example.com");
    assert_eq!((roni["group_id"].clone(), roni["addresses"][0]["city"].clone()), (json!(1), json!("Calder")));
    assert_eq!(attribute(&roni, "erp_customer_number").as_deref(), veronica["number"].as_str());
    assert_eq!(roni["dob"], "1973-12-15", "the rest of the customer kept");

    // The shop's updates changed every customer's `updated_at`: read again, matched, nothing created.
    demo.run("customers-to-erp.yaml");
    assert_eq!(erp_customer_creates(&demo), 0, "a second run creates nothing");

    // Changed in the ERP: a shipping hold and a new credit limit; a full block whose group the shop lacks.
    let three = erp_customers_with(&demo, "customer3@example.com")[0]["number"].as_str().expect("a number").to_string();
    let four = erp_customers_with(&demo, "customer4@example.com")[0]["number"].as_str().expect("a number").to_string();
    demo.erp.control("POST", &format!("customers/{three}"), Some(json!({"blocked": "Ship", "creditLimit": 2500})));
    demo.erp.control("POST", &format!("customers/{four}"), Some(json!({"blocked": "All"})));
    demo.run("customers-from-erp.yaml");
    let customer3 = shop_customer(&demo, "customer3@example.com");
    assert_eq!(
        (customer3["group_id"].clone(), attribute(&customer3, "erp_credit_limit")),
        (json!(4), Some("2500.00".into()))
    );
    assert_eq!(shop_customer(&demo, "customer4@example.com")["group_id"], 1, "refused: group 6 does not exist");
    let entries: Value = serde_json::from_str(&dlq(&demo, &["list", "--json"])).expect("JSON");
    let entries = entries.as_array().expect("a list");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0]["step"].as_str(), entries[0]["key"].as_str()),
        (Some("shop_customer_update"), Some(format!("erp-customer:{four}").as_str()))
    );
    let reason = entries[0]["error"].as_str().expect("a reason");
    assert!(
        reason.contains("answered HTTP 400") && reason.contains("The specified customer group id does not exist."),
        "{reason}"
    );

    // The shop admin adds the group; the dead letter is replayed and arrives.
    assert_eq!(create_shop_group(&demo, "ERP hold: blocked"), 6);
    dlq(&demo, &["replay", "--all", "--config", "pipelines/demo/customers-from-erp.yaml"]);
    let customer4 = shop_customer(&demo, "customer4@example.com");
    assert_eq!((customer4["group_id"].clone(), attribute(&customer4, "erp_customer_number")), (json!(6), Some(four)));
    let left: Value = serde_json::from_str(&dlq(&demo, &["list", "--json"])).expect("JSON");
    assert_eq!(left, json!([]));
}
