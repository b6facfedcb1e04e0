use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::connectors::http::HttpConnection;
use crate::connectors::http::connection::KIND;
use crate::expr::template::RenderContext;
use crate::kernel::build::NamedConnection;
use crate::sinks::{Sink, SinkContext};

/// Named connections as the build context holds them.
type Connections = BTreeMap<String, NamedConnection>;
use crate::transforms::testing::context;

fn config(yaml: &str) -> HttpSinkConfig {
    serde_yaml::from_str(yaml).expect("valid config")
}

fn build_errors(yaml: &str, connections: Connections) -> Vec<(String, String)> {
    let mut ctx = context();
    ctx.connections = Arc::new(connections);
    match config(yaml).build(&ctx) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| (e.field.join("."), e.message)).collect(),
    }
}

fn erp_connection() -> Connections {
    let erp = HttpConnection {
        base_url: "http://127.0.0.1:9/api".into(),
        headers: BTreeMap::new(),
        timeout: None,
        limit: None,
        client: Default::default(),
        auth: None,
        retry: None,
        on_status: BTreeMap::new(),
    };
    BTreeMap::from([("erp".to_string(), NamedConnection::new(KIND, erp))])
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let errors = build_errors(
        r#"
url: "erp.example.com/orders"
method: FETCH
capture: { id: "$.[" }
idempotency:
  lookup: { path: "/orders", found: "$[0]" }
"#,
        Connections::new(),
    );
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["url", "method", "capture.id", "idempotency.lookup.path"], "{errors:?}");
    assert!(errors[0].1.contains("not an absolute http(s) URL"));
    assert!(errors[1].1.contains("not a supported HTTP method"));

    let errors = build_errors("connection: epr\npath: /orders\n", erp_connection());
    assert_eq!(errors, [("connection".to_string(), "unknown connection `epr`".to_string())]);
    let errors = build_errors("connection: erp\nurl: http://x/y\n", erp_connection());
    assert!(errors[0].1.contains("not both"), "{errors:?}");
    assert!(build_errors("connection: erp\npath: orders\n", erp_connection()).is_empty());
}

#[test]
fn paths_join_the_connection_base_url() {
    let mut ctx = context();
    ctx.connections = Arc::new(erp_connection());
    let sink = config("connection: erp\npath: \"/orders/{{ record.id }}\"\nmethod: \"{{ record.m }}\"\n")
        .build(&ctx)
        .expect("builds");
    let request =
        sink.core.create.render(&RenderContext::new(Arc::new(json!({"id": 7, "m": "put"})))).expect("renders");
    assert_eq!(request.target, "PUT http://127.0.0.1:9/api/orders/7");
    assert_eq!(request.body, Some(json!({"id": 7, "m": "put"})), "the record is the default body");
    let bad = sink.core.create.render(&RenderContext::new(Arc::new(json!({"id": 7, "m": "FETCH"}))));
    assert!(bad.expect_err("bad method").contains("not a supported HTTP method"));
}

#[test]
fn idempotency_and_capture_need_the_state_store() {
    let mut sink = config(
        r#"
url: "http://127.0.0.1:9/orders"
idempotency: { lookup: { url: "http://127.0.0.1:9/orders", found: "$[0]" } }
"#,
    )
    .build(&context())
    .expect("builds");
    let ctx = SinkContext { pipeline: "p".into(), sink: "s".into(), state: None, run_id: None, resumed: false };
    let e = sink.open(&ctx).expect_err("refuses to start");
    assert!(!e.retryable);
    assert!(e.message.contains("`idempotency` needs the state store"), "{}", e.message);
}

/// Accepts connections and never answers.
fn silent_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        // Two connections at most (one per attempt), then stop.
        for stream in listener.incoming().take(2) {
            held.push(stream);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    });
    (addr, handle)
}

#[test]
fn a_timeout_is_a_retryable_failure_without_the_secret() {
    crate::config::secrets::register("s3cret-in-url");
    let (addr, server) = silent_server();
    let mut sink = config(&format!(
        "url: \"http://{addr}/orders?token=s3cret-in-url\"\ntimeout: 100ms\nretries: 1\nretry_backoff: 1ms\n"
    ))
    .build(&context())
    .expect("builds");
    let ctx = SinkContext { pipeline: "p".into(), sink: "s".into(), state: None, run_id: None, resumed: false };
    sink.open(&ctx).expect("opens");
    let e = sink.write(&[Record::new(json!({"a": 1}))]).expect_err("times out");
    assert!(e.retryable, "{}", e.message);
    assert!(e.message.contains("timed out") && e.message.contains("after 2 attempts"), "{}", e.message);
    assert!(e.message.contains("token=***") && !e.message.contains("s3cret-in-url"), "{}", e.message);
    drop(sink);
    server.join().expect("server");
}

#[test]
fn a_secret_cut_by_the_excerpt_of_an_answer_is_still_masked() {
    // The excerpt of an answer ends at 300 characters; a secret echoed across that boundary must not
    // leave its start behind.
    crate::config::secrets::register("cut-s3cret-0123456789");
    let body = serde_json::Value::String(format!("{} token cut-s3cret-0123456789 echoed", "x".repeat(280)));
    let text = client::Answer::Response {
        status: 401,
        body,
        json: false,
        retry_after: None,
        headers: Default::default(),
        oversized: false,
    }
    .describe();
    assert!(!text.contains("cut-s3cret"), "{text}");
    let errors = build_errors(&format!("url: \"{}cut-s3cret-0123456789\"\n", "y".repeat(70)), Connections::new());
    assert!(!errors[0].1.contains("cut-s3cret"), "{errors:?}");
}

#[test]
fn an_answer_body_is_read_up_to_a_limit() {
    // Both ways of sending: blocking, and the async client of the requests in flight.
    for asynchronous in [false, true] {
        answer_body_is_read_up_to_a_limit(asynchronous);
    }
}

fn answer_body_is_read_up_to_a_limit(asynchronous: bool) {
    // A server answering 200 with a body that does not end (until the client hangs up, or 3 × the limit).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < 3 * client::MAX_BODY && stream.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        sent
    });
    let sink = config(&format!("url: \"http://{addr}/orders\"\n")).build(&context()).expect("builds");
    let prepared = sink.core.create.render(&RenderContext::new(Arc::new(json!({"a": 1})))).expect("renders");
    let client =
        client::Client::new(std::time::Duration::from_secs(30), &Default::default(), None, None).expect("client");
    let answer = if asynchronous {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(client.send_async(&prepared))
    } else {
        client.send(&prepared)
    }
    .expect("no credentials to refuse");
    let client::Answer::Response { status: 200, body, json: false, .. } = &answer else { panic!("{answer:?}") };
    assert!(body.as_str().is_some_and(|t| t.len() < 1000 && t.contains("larger than")), "{}", answer.describe());
    drop(answer);
    assert!(server.join().expect("server") < 3 * client::MAX_BODY, "the client stopped reading");
}

#[test]
fn a_connection_of_another_kind_is_named_as_such() {
    let connections = BTreeMap::from([("db".to_string(), NamedConnection::new("postgres", 5u32))]);
    let errors = build_errors("connection: db\npath: /orders\n", connections);
    assert_eq!(
        errors,
        [("connection".to_string(), "connection `db` is a `postgres` connection, not `http`".to_string())]
    );
}

#[test]
fn a_connection_with_errors_of_its_own_fails_the_sink_without_a_second_report() {
    let connections = BTreeMap::from([("erp".to_string(), NamedConnection::invalid())]);
    let mut ctx = context();
    ctx.connections = Arc::new(connections);
    let errors = config("connection: erp\npath: /orders\n").build(&ctx).err().map(|e| e.0);
    let codes: Option<Vec<&str>> = errors.as_ref().map(|e| e.iter().map(|e| e.code).collect());
    assert_eq!(codes, Some(vec![crate::kernel::build::FOLLOW_ON]), "{errors:?}");
}

#[test]
fn per_record_keys_cannot_be_combined_with_batches_or_bulks() {
    let idem = "idempotency: { lookup: { url: \"http://127.0.0.1:9/o\", found: \"$[0]\" } }";
    let errors = build_errors(&format!("url: \"http://127.0.0.1:9/o\"\nbatch_size: 20\n{idem}\n"), Connections::new());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "idempotency");
    assert!(errors[0].1.contains("cannot be combined with `batch_size`"), "{errors:?}");
    let errors =
        build_errors("url: \"http://127.0.0.1:9/o\"\nbulk: {}\ncapture: { id: \"$.id\" }\n", Connections::new());
    assert_eq!(errors.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["capture", "bulk.status"], "{errors:?}");
    assert!(errors[0].1.contains("cannot be combined with `bulk`"), "{errors:?}");
    assert!(config_fails("url: \"http://127.0.0.1:9/o\"\nbatch_size: 0\n"), "a batch holds a record at least");
}

/// True when `yaml` is refused before it is built.
fn config_fails(yaml: &str) -> bool {
    serde_yaml::from_str::<HttpSinkConfig>(yaml).is_err()
}

#[test]
fn query_values_are_encoded_and_masked_in_the_target() {
    crate::config::secrets::register("q s3cret/+");
    let sink = config(
        "url: \"http://127.0.0.1:9/V1/products?fields=items\"\nquery:\n  \"searchCriteria[pageSize]\": \"{{ record.size }}\"\n  token: \"q s3cret/+\"\n",
    )
    .build(&context())
    .expect("builds");
    let request = sink.core.create.render(&RenderContext::new(Arc::new(json!({"size": 20})))).expect("renders");
    assert_eq!(
        request.url.as_str(),
        "http://127.0.0.1:9/V1/products?fields=items&searchCriteria%5BpageSize%5D=20&token=q+s3cret%2F%2B"
    );
    assert_eq!(
        request.target,
        "POST http://127.0.0.1:9/V1/products?fields=items&searchCriteria%5BpageSize%5D=20&token=***"
    );
}
