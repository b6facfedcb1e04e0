//! http-baseline BASE_URL INPUT.ndjson CONCURRENCY
//!
//! Logs in (`POST {BASE}/V1/integration/admin/token`, admin/admin123), then for every line of
//! INPUT parses it, wraps it as `{"sourceItems":[item]}` and POSTs it to
//! `{BASE}/V1/inventory/source-items` with the bearer token, CONCURRENCY requests in flight
//! (CONCURRENCY tasks pulling the next line from a shared counter). Each answer must be 2xx;
//! its body is read whole. Prints `requests=N failed=F seconds=S` on stderr.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, input, concurrency] = &args[..] else {
        eprintln!("usage: http-baseline BASE_URL INPUT.ndjson CONCURRENCY");
        std::process::exit(2);
    };
    let concurrency: usize = concurrency.parse().expect("CONCURRENCY");
    let text = std::fs::read_to_string(input).expect("read INPUT");
    let lines: Arc<Vec<String>> = Arc::new(text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect());
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let token: String = {
        let answer = client
            .post(format!("{base}/V1/integration/admin/token"))
            .header("content-type", "application/json")
            .body(r#"{"username":"admin","password":"admin123"}"#)
            .send()
            .await
            .expect("log in");
        let body = answer.text().await.expect("token");
        serde_json::from_str::<String>(&body).expect("token is a JSON string")
    };
    let auth = Arc::new(format!("Bearer {token}"));
    let url = Arc::new(format!("{base}/V1/inventory/source-items"));
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, lines, auth, url, next, failed) =
            (client.clone(), lines.clone(), auth.clone(), url.clone(), next.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(line) = lines.get(i) else { break };
                let item: Value = serde_json::from_str(line).expect("an NDJSON line");
                let body = serde_json::to_vec(&json!({ "sourceItems": [item] })).expect("serialise");
                let ok = match client
                    .post(url.as_str())
                    .header("authorization", auth.as_str())
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(answer) => {
                        let success = answer.status().is_success();
                        answer.bytes().await.is_ok() && success
                    }
                    Err(_) => false,
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("a task");
    }
    let seconds = start.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    eprintln!("requests={} failed={failed} seconds={seconds:.3}", lines.len());
    if failed > 0 {
        std::process::exit(1);
    }
}
