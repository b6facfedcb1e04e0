//! Hand-written serde_json::Value peer for Weir's canonical mapping benchmark.
//!
//! Per NDJSON input line (an Adobe Commerce product):
//!   item_no     = sku + "-" + size
//!   description = name + " (" + upper(size) + ")"
//!   unit_price  = price rounded half away from zero to 2 places, on the decimal
//!                 representation (184.185 -> 184.19); whole results are written
//!                 as integers (185, not 185.0), like jq does
//!   qty_on_hand = extension_attributes.stock_item.qty
//!   color       = value of the first custom_attributes entry with attribute_code "color"
//! (size likewise the first "size" entry). Output keys come out sorted (serde_json
//! without `preserve_order`); key order is free in the workload.
//!
//! Usage: serde-baseline [--threads N] [INPUT|-] [OUTPUT|-]   (default: stdin -> stdout)
//!
//! --threads 1 (default): one thread reads, parses, maps and writes.
//! --threads N > 1: one reader thread cuts the input into ~1 MiB chunks of whole
//! lines, N worker threads parse + map a chunk at a time, and the main thread
//! writes the results back in input order (ORDERED output, byte-identical to
//! --threads 1).

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

const CHUNK: usize = 1 << 20;

fn first_attr<'a>(attrs: &'a [Value], code: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|a| a.get("attribute_code").and_then(Value::as_str) == Some(code))
        .and_then(|a| a.get("value"))
}

/// Round half away from zero to 2 decimals on the shortest decimal
/// representation of the number (what the JSON text said).
fn round2(price: &Value) -> Result<Value, String> {
    let Value::Number(n) = price else {
        return Err(format!("price is not a number: {price}"));
    };
    if n.is_i64() || n.is_u64() {
        return Ok(price.clone());
    }
    let f = n.as_f64().ok_or("price is not finite")?;
    // Rust's Display for f64 prints the shortest round-tripping digits and
    // never uses exponent notation.
    let s = f.to_string();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.as_str()),
    };
    let Some((int, frac)) = digits.split_once('.') else {
        return Ok(price.clone()); // integral float, e.g. 12.0
    };
    if frac.len() <= 2 {
        return Ok(price.clone());
    }
    let scaled = format!("{int}{}", &frac[..2]);
    let Ok(mut scaled) = scaled.parse::<u64>() else {
        // absurdly large magnitude: binary rounding is as good as anything
        return Ok(Value::from((f * 100.0).round() / 100.0));
    };
    if frac.as_bytes()[2] >= b'5' {
        scaled += 1;
    }
    if scaled % 100 == 0 {
        let whole = scaled / 100;
        return Ok(if neg { Value::from(-(whole as i64)) } else { Value::from(whole) });
    }
    let r = scaled as f64 / 100.0;
    Number::from_f64(if neg { -r } else { r })
        .map(Value::Number)
        .ok_or_else(|| "rounded price is not finite".to_string())
}

fn map_record(v: &Value) -> Result<Value, String> {
    let sku = v.get("sku").and_then(Value::as_str).ok_or("missing string sku")?;
    let name = v.get("name").and_then(Value::as_str).ok_or("missing string name")?;
    let price = v.get("price").ok_or("missing price")?;
    let qty = v
        .pointer("/extension_attributes/stock_item/qty")
        .cloned()
        .unwrap_or(Value::Null);
    let attrs = v
        .get("custom_attributes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let size = first_attr(attrs, "size")
        .and_then(Value::as_str)
        .ok_or("no string custom attribute 'size'")?;
    let color = first_attr(attrs, "color").cloned().unwrap_or(Value::Null);

    let mut out = Map::new();
    out.insert("item_no".into(), Value::String(format!("{sku}-{size}")));
    out.insert(
        "description".into(),
        Value::String(format!("{name} ({})", size.to_uppercase())),
    );
    out.insert("unit_price".into(), round2(price)?);
    out.insert("qty_on_hand".into(), qty);
    out.insert("color".into(), color);
    Ok(Value::Object(out))
}

/// Map every line of `input` (whole lines, possibly without the final '\n') into `out`.
fn map_lines(input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    for line in input.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = serde_json::from_slice(line).map_err(|e| format!("bad JSON: {e}"))?;
        let item = map_record(&v)?;
        serde_json::to_writer(&mut *out, &item).map_err(|e| e.to_string())?;
        out.push(b'\n');
    }
    Ok(())
}

fn single_threaded(input: Box<dyn Read + Send>, output: &mut dyn Write) -> Result<(), String> {
    let mut reader = BufReader::with_capacity(CHUNK, input);
    let mut line = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(CHUNK + 4096);
    let mut lineno = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(|e| e.to_string())? == 0 {
            break;
        }
        lineno += 1;
        map_lines(&line, &mut out).map_err(|e| format!("line {lineno}: {e}"))?;
        if out.len() >= CHUNK {
            output.write_all(&out).map_err(|e| e.to_string())?;
            out.clear();
        }
    }
    output.write_all(&out).map_err(|e| e.to_string())?;
    Ok(())
}

fn multi_threaded(
    mut input: Box<dyn Read + Send>,
    output: &mut dyn Write,
    workers: usize,
) -> Result<(), String> {
    let (chunk_tx, chunk_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(workers * 2);
    let chunk_rx = Arc::new(Mutex::new(chunk_rx));
    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Result<Vec<u8>, String>)>(workers * 2);

    // Reader: ~1 MiB chunks cut after the last '\n'; the tail carries over.
    let reader = thread::spawn(move || -> Result<(), String> {
        let mut seq = 0u64;
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let mut buf = Vec::with_capacity(CHUNK + carry.len() + 4096);
            buf.append(&mut carry);
            let start = buf.len();
            buf.resize(start + CHUNK, 0);
            let mut filled = start;
            while filled < buf.len() {
                match input.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(k) => filled += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            buf.truncate(filled);
            let eof = filled < start + CHUNK;
            if !eof {
                match buf.iter().rposition(|&b| b == b'\n') {
                    Some(p) => carry.extend_from_slice(&buf[p + 1..]),
                    None => {
                        // a line longer than a chunk: keep reading into it
                        carry = buf;
                        continue;
                    }
                }
                let p = buf.len() - carry.len();
                buf.truncate(p);
            }
            if !buf.is_empty() && chunk_tx.send((seq, buf)).is_err() {
                return Ok(()); // workers gone (error downstream)
            }
            seq += 1;
            if eof {
                return Ok(());
            }
        }
    });

    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let rx = Arc::clone(&chunk_rx);
        let tx = done_tx.clone();
        handles.push(thread::spawn(move || {
            loop {
                let msg = rx.lock().expect("chunk queue poisoned").recv();
                let Ok((seq, chunk)) = msg else { return };
                let mut out = Vec::with_capacity(chunk.len() / 12 + 4096);
                let res = map_lines(&chunk, &mut out).map(|()| out);
                if tx.send((seq, res)).is_err() {
                    return;
                }
            }
        }));
    }
    drop(done_tx);

    // Writer (this thread): restore input order.
    let mut next = 0u64;
    let mut pending: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut result = Ok(());
    for (seq, res) in done_rx.iter() {
        match res {
            Ok(buf) => {
                pending.insert(seq, buf);
            }
            Err(e) => {
                result = Err(format!("chunk {seq}: {e}"));
                break;
            }
        }
        while let Some(buf) = pending.remove(&next) {
            output.write_all(&buf).map_err(|e| e.to_string())?;
            next += 1;
        }
    }
    result?;
    reader.join().map_err(|_| "reader panicked")??;
    for h in handles {
        h.join().map_err(|_| "worker panicked")?;
    }
    if !pending.is_empty() {
        return Err("internal error: chunks left unwritten".into());
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let mut threads = 1usize;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" | "-t" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&t| t >= 1)
                    .ok_or("--threads needs a number >= 1")?
            }
            "-h" | "--help" => {
                println!("usage: serde-baseline [--threads N] [INPUT|-] [OUTPUT|-]");
                return Ok(());
            }
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => paths.push(a),
        }
    }
    if paths.len() > 2 {
        return Err("too many arguments".into());
    }
    let input: Box<dyn Read + Send> = match paths.first().map(String::as_str) {
        None | Some("-") => Box::new(io::stdin()),
        Some(p) => Box::new(File::open(p).map_err(|e| format!("{p}: {e}"))?),
    };
    let sink: Box<dyn Write> = match paths.get(1).map(String::as_str) {
        None | Some("-") => Box::new(io::stdout().lock()),
        Some(p) => Box::new(File::create(p).map_err(|e| format!("{p}: {e}"))?),
    };
    let mut output = BufWriter::with_capacity(CHUNK, sink);
    if threads == 1 {
        single_threaded(input, &mut output)?;
    } else {
        multi_threaded(input, &mut output, threads)?;
    }
    output.flush().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serde-baseline: {e}");
            ExitCode::FAILURE
        }
    }
}
