//! `webhook-load`: sends Adobe Commerce `sales_order_place_after` webhooks to a hook at a fixed rate
//! and records, for each event, when it was due and how long until it was answered `200`.
//!
//! Open loop: event *i* is due at `start + i / rate` and is sent then, however long earlier answers
//! take, and its accept latency is measured from when it was **due** — a slow server cannot hide its
//! backlog by slowing the sender (no coordinated omission). Every body and signature is made before the
//! clock starts: the RSA-SHA256 signature Commerce sends in `x-adobe-commerce-webhook-signature`, made
//! over the base64 of the body. A `503` (its `Retry-After` waited out), another 5xx or a refused
//! connection is sent again, at most 5 times, as Commerce would; a `4xx` is final.
//!
//! ```text
//! webhook-load --url URL --key KEY.pk8.der --items A,B,C [--rate 500] [--seconds 60]
//!              [--first 1] [--prefix L] [--max-in-flight 2000] --out sent.csv
//! ```
//!
//! `sent.csv`: `n,increment_id,due_unix_us,first_status,final_status,attempts,accept_us` (accept_us:
//! from due to the final answer). A summary goes to stderr.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

const ATTEMPTS: u32 = 6;

struct Args {
    url: String,
    key: PathBuf,
    items: Vec<String>,
    rate: f64,
    seconds: f64,
    first: u64,
    prefix: String,
    max_in_flight: usize,
    out: PathBuf,
}

fn usage(why: &str) -> ! {
    eprintln!("webhook-load: {why}");
    eprintln!(
        "usage: webhook-load --url URL --key KEY.pk8.der --items A,B,C [--rate 500] [--seconds 60] [--first 1] \
         [--prefix L] [--max-in-flight 2000] --out sent.csv"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let (mut url, mut key, mut items, mut out) = (None, None, None, None);
    let mut a = Args {
        url: String::new(),
        key: PathBuf::new(),
        items: Vec::new(),
        rate: 500.0,
        seconds: 60.0,
        first: 1,
        prefix: "L".into(),
        max_in_flight: 2000,
        out: PathBuf::new(),
    };
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = |v: &str| v.parse::<f64>().unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")));
        match flag.as_str() {
            "--url" => url = Some(value),
            "--key" => key = Some(PathBuf::from(value)),
            "--items" => items = Some(value.split(',').map(str::to_string).collect::<Vec<_>>()),
            "--rate" => a.rate = number(&value),
            "--seconds" => a.seconds = number(&value),
            "--first" => a.first = number(&value) as u64,
            "--prefix" => a.prefix = value,
            "--max-in-flight" => a.max_in_flight = number(&value) as usize,
            "--out" => out = Some(PathBuf::from(value)),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    a.url = url.unwrap_or_else(|| usage("--url is required"));
    a.key = key.unwrap_or_else(|| usage("--key is required"));
    a.items = items.filter(|i| !i.is_empty()).unwrap_or_else(|| usage("--items is required"));
    a.out = out.unwrap_or_else(|| usage("--out is required"));
    if !(a.rate > 0.0 && a.seconds > 0.0) {
        usage("--rate and --seconds must be positive");
    }
    a
}

/// One event, ready to send.
struct Event {
    increment_id: String,
    body: Vec<u8>,
    signature: String,
}

/// The webhook body Commerce sends for `observer.sales_order_place_after` (the order trimmed to what
/// an ERP order needs), for order `n`: one to three lines of the ERP's items.
fn body(n: u64, increment_id: &str, items: &[String]) -> Vec<u8> {
    let lines = 1 + (n % 3) as usize;
    let mut order_items = Vec::with_capacity(lines);
    let mut total = 0.0;
    for line in 0..lines {
        let sku = &items[(n as usize * 7 + line * 13) % items.len()];
        let qty = 1 + (n + line as u64) % 4;
        let price = 10.0 + ((n * 31 + line as u64 * 17) % 9000) as f64 / 100.0;
        total += qty as f64 * price;
        order_items.push(serde_json::json!({
            "item_id": n * 10 + line as u64, "sku": sku, "name": format!("Item {sku}"), "product_type": "simple",
            "qty_ordered": qty, "price": price, "row_total": (qty as f64 * price * 100.0).round() / 100.0,
        }));
    }
    let event = serde_json::json!({
        "subject": [],
        "eventName": "sales_order_place_after",
        "data": { "order": {
            "entity_id": n, "increment_id": increment_id, "state": "new", "status": "pending",
            "created_at": "2026-12-03 12:00:00", "customer_email": format!("load{n}@example.com"),
            "customer_firstname": "Load", "customer_lastname": format!("Test {n}"),
            "order_currency_code": "USD", "grand_total": (total * 100.0).round() / 100.0,
            "items": order_items,
        }},
    });
    serde_json::to_vec(&event).expect("JSON")
}

/// Every event's body and signature, made on all cores.
fn prepare(a: &Args, key: &Arc<RsaKeyPair>, count: u64) -> Vec<Event> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let chunk = count.div_ceil(threads);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let key = Arc::clone(key);
            let (items, prefix, first) = (a.items.clone(), a.prefix.clone(), a.first);
            std::thread::spawn(move || {
                let rng = SystemRandom::new();
                let mut signature = vec![0u8; key.public().modulus_len()];
                (t * chunk..((t + 1) * chunk).min(count))
                    .map(|i| {
                        let n = first + i;
                        let increment_id = format!("{prefix}{n:09}");
                        let body = body(n, &increment_id, &items);
                        let signed = base64::engine::general_purpose::STANDARD.encode(&body);
                        key.sign(&RSA_PKCS1_SHA256, &rng, signed.as_bytes(), &mut signature).expect("signed");
                        let signature = base64::engine::general_purpose::STANDARD.encode(&signature);
                        Event { increment_id, body, signature }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().expect("signing thread")).collect()
}

/// What became of one event.
#[derive(Clone, Copy, Default)]
struct Answer {
    first_status: u16,
    final_status: u16,
    attempts: u32,
    accept: Duration,
}

async fn send(client: reqwest::Client, url: Arc<str>, event: Arc<Event>, due: Instant) -> Answer {
    let mut answer = Answer::default();
    while answer.attempts < ATTEMPTS {
        answer.attempts += 1;
        let sent = client
            .post(&*url)
            .header("content-type", "application/json")
            .header("x-adobe-commerce-webhook-signature", &event.signature)
            .body(event.body.clone())
            .send()
            .await;
        let (status, wait) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map_or(Duration::from_secs(1), Duration::from_secs);
                let _ = response.bytes().await;
                (status, retry_after)
            }
            Err(_) => (0, Duration::from_secs(1)),
        };
        if answer.first_status == 0 && answer.attempts == 1 {
            answer.first_status = status;
        }
        answer.final_status = status;
        if status == 200 || (400..500).contains(&status) {
            break;
        }
        tokio::time::sleep(wait).await;
    }
    answer.accept = due.elapsed();
    answer
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn main() {
    let a = args();
    let der = std::fs::read(&a.key).unwrap_or_else(|e| usage(&format!("cannot read {}: {e}", a.key.display())));
    let key = Arc::new(RsaKeyPair::from_pkcs8(&der).unwrap_or_else(|e| usage(&format!("not a PKCS#8 RSA key: {e}"))));
    let count = (a.rate * a.seconds).round() as u64;
    let made = Instant::now();
    let events: Vec<Arc<Event>> = prepare(&a, &key, count).into_iter().map(Arc::new).collect();
    eprintln!("webhook-load: {count} events signed in {:.1} s", made.elapsed().as_secs_f64());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let period = Duration::from_secs_f64(1.0 / a.rate);
    let (answers, wall) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(a.max_in_flight)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let url: Arc<str> = Arc::from(a.url.as_str());
        let in_flight = Arc::new(tokio::sync::Semaphore::new(a.max_in_flight));
        let start = Instant::now() + Duration::from_millis(200);
        let start_unix = SystemTime::now() + Duration::from_millis(200);
        let mut tasks = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let due = start + period.mul_f64(i as f64);
            tokio::time::sleep_until(due.into()).await;
            let permit = Arc::clone(&in_flight).acquire_owned().await.expect("semaphore");
            let (client, url, event) = (client.clone(), Arc::clone(&url), Arc::clone(event));
            tasks.push(tokio::spawn(async move {
                let answer = send(client, url, event, due).await;
                drop(permit);
                answer
            }));
        }
        let mut answers = Vec::with_capacity(tasks.len());
        for task in tasks {
            answers.push(task.await.expect("send task"));
        }
        (answers, (start_unix, start.elapsed()))
    });

    let (start_unix, elapsed) = wall;
    let start_us = start_unix.duration_since(SystemTime::UNIX_EPOCH).expect("clock").as_micros() as u64;
    let mut csv = String::from("n,increment_id,due_unix_us,first_status,final_status,attempts,accept_us\n");
    for (i, (event, answer)) in events.iter().zip(&answers).enumerate() {
        let due_us = start_us + period.mul_f64(i as f64).as_micros() as u64;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            a.first + i as u64,
            event.increment_id,
            due_us,
            answer.first_status,
            answer.final_status,
            answer.attempts,
            answer.accept.as_micros()
        );
    }
    std::fs::write(&a.out, csv).unwrap_or_else(|e| usage(&format!("cannot write {}: {e}", a.out.display())));
    let ok: Vec<Duration> = answers.iter().filter(|x| x.final_status == 200).map(|x| x.accept).collect();
    let mut sorted = ok.clone();
    sorted.sort();
    let resent = answers.iter().filter(|x| x.attempts > 1).count();
    eprintln!(
        "webhook-load: {} sent in {:.1} s ({:.0}/s), {} answered 200 ({} after a resend), {} not; accept p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms",
        answers.len(),
        elapsed.as_secs_f64(),
        answers.len() as f64 / elapsed.as_secs_f64(),
        ok.len(),
        resent,
        answers.len() - ok.len(),
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0),
        percentile(&sorted, 100.0),
    );
}
