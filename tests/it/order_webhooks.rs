//! The webhook benchmark's folder (`benches/webhooks/folder`), as `benches/webhooks/run.sh` runs it but
//! small: `weir serve` takes Adobe Commerce `sales_order_place_after` webhooks signed as Commerce signs
//! them (RSA-SHA256 over the base64 of the body) and creates each order once in the ERP simulator — a
//! repeated event is not created again, a forged or re-signed one is refused and never created.

use std::time::Duration;

use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};

use crate::support::served::Served;
use crate::support::sim::Simulator;

/// An order-placed event as the load generator makes it: `lines` lines of the given ERP items.
fn order_event(number: u32, items: &[(String, u32)]) -> String {
    let lines: Vec<Value> = items
        .iter()
        .map(|(sku, qty)| json!({"sku": sku, "product_type": "simple", "qty_ordered": qty, "price": 19.999}))
        .collect();
    json!({
        "subject": [], "eventName": "sales_order_place_after",
        "data": {"order": {"increment_id": format!("T{number:09}"), "created_at": "2026-12-03 12:00:00",
                           "customer_email": format!("t{number}@example.com"), "items": lines}},
    })
    .to_string()
}

/// Records written by the `erp_order` sink so far, from `/metrics`.
fn delivered(served: &Served) -> f64 {
    let text = served.client.get(format!("{}/metrics", served.base)).send().expect("/metrics").text().expect("text");
    text.lines()
        .find(|l| l.starts_with("weir_records_out_total{") && l.contains(r#"node="erp_order""#))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn signed_order_events_become_erp_orders_once_each() {
    let erp = Simulator::start("erp", &["--seed", "7"]);
    let state = erp.control("GET", "state", None);
    let company = state["companyId"].as_str().expect("a company").to_string();
    let items: Vec<String> = state["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["blocked"] != true)
        .filter_map(|i| i["number"].as_str().map(str::to_string))
        .collect();
    assert!(items.len() >= 3, "{items:?}");

    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
    let public_pem = private.to_public_key().to_public_key_pem(LineEnding::LF).expect("PEM");
    let signer = SigningKey::<rsa::sha2::Sha256>::new(private);
    let b64 = base64::engine::general_purpose::STANDARD;
    let sign = |body: &str| b64.encode(signer.sign(b64.encode(body).as_bytes()).to_bytes());

    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::copy_dir(&crate::support::repo().join("benches/webhooks/folder"), dir.path(), &[]);
    let token_url = format!("{}/tenant-1/oauth2/v2.0/token", erp.base);
    let served = Served::start(
        dir.path(),
        &[
            ("COMMERCE_WEBHOOKS_PUBLIC_KEY", &public_pem),
            ("ERP_URL", &erp.base),
            ("ERP_COMPANY", &company),
            ("ERP_TOKEN_URL", &token_url),
        ],
    );
    let post = |body: &str, signature: &str| {
        served
            .client
            .post(format!("{}/hooks/order-placed", served.base))
            .header("content-type", "application/json")
            .header("x-adobe-commerce-webhook-signature", signature)
            .body(body.to_string())
            .send()
            .expect("weir serve answers")
            .status()
            .as_u16()
    };

    let orders = 24u32;
    for n in 1..=orders {
        let lines: Vec<(String, u32)> =
            (0..1 + n % 3).map(|l| (items[(n * 7 + l * 13) as usize % items.len()].clone(), 1 + l)).collect();
        let body = order_event(n, &lines);
        assert_eq!(post(&body, &sign(&body)), 200, "event {n}");
        if n % 8 == 0 {
            assert_eq!(post(&body, &sign(&body)), 200, "a repeated event is answered 200");
        }
    }
    // Refused, never created: a forged signature, and a genuine signature of another body.
    let forged = order_event(900, &[(items[0].clone(), 1)]);
    assert_eq!(post(&forged, &b64.encode([7u8; 256])), 401);
    let other = order_event(901, &[(items[0].clone(), 1)]);
    assert_eq!(post(&other, &sign(&forged)), 401);

    let sales_orders = || erp.control("GET", "state", None)["salesOrders"].as_array().cloned().unwrap_or_default();
    served.wait_for(Duration::from_secs(60), "every order in the ERP", |_| sales_orders().len() >= orders as usize);
    // Every record through the sink (the ERP's count could include one created twice, still coming).
    served.wait_for(Duration::from_secs(30), "every record through the sink", |s| delivered(s) >= f64::from(orders));
    let created = sales_orders();
    let mut numbers: Vec<&str> = created.iter().filter_map(|o| o["externalDocumentNumber"].as_str()).collect();
    numbers.sort_unstable();
    let expected: Vec<String> = (1..=orders).map(|n| format!("T{n:09}")).collect();
    assert_eq!(numbers, expected, "each accepted order exactly once, nothing refused created");
    for order in &created {
        let number = order["externalDocumentNumber"].as_str().unwrap_or_default();
        let n: u32 = number[1..].parse().expect("a number");
        let lines = order["salesOrderLines"].as_array().expect("lines");
        assert_eq!(lines.len() as u32, 1 + n % 3, "{number}");
        assert_eq!(lines[0]["unitPrice"], json!(20.0), "{number}: the price rounded to cents");
        assert_eq!(order["customerNumber"], "C00010", "{number}");
    }
}
