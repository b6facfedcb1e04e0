//! Deterministic generator for Weir's canonical benchmark input
//! (see `benches/README.md` / the workload description).
//!
//! Writes N Adobe Commerce `GET /V1/products`-shaped records as NDJSON,
//! ~1.5 KB each. Record `i` is produced from its own RNG stream seeded by
//! `(seed, i)`, so the output for N records is exactly the first N lines of
//! the output for any larger N (`head -n 200000` of the 1M file == `--n 200000`).
//!
//! Usage: gen-products [--n N] [--seed S] [OUTPUT]
//!        (default N = 1000000, S = 42, OUTPUT = bench-data/products.ndjson; `-` = stdout)
//!
//! Strings are drawn from fixed ASCII word lists without quotes or backslashes,
//! so they are written without JSON escaping.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

/// SplitMix64: tiny, fast, good enough for synthetic data, and fully specified
/// here so the data never changes with a dependency upgrade.
struct Rng(u64);

impl Rng {
    fn for_record(seed: u64, i: u64) -> Self {
        let mut r = Rng(seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            xs.swap(i, j);
        }
    }
}

const FIRST: &[&str] = &[
    "Teton", "Aether", "Apollo", "Argus", "Atlas", "Breathe-Easy", "Cassius", "Chaz", "Deion", "Hero",
    "Helios", "Jupiter", "Kratos", "Lando", "Livingston", "Mars", "Marco", "Meteor", "Orion", "Proteus",
    "Sparta", "Typhon", "Zeppelin", "Zoltan", "Ajax", "Ariel", "Circe", "Diana", "Echo", "Gwyn",
    "Hera", "Ida", "Juno", "Karmen", "Layla", "Mona", "Nadia", "Olivia", "Phoebe", "Selene",
];
const MIDDLE: &[&str] = &[
    "Running", "Training", "Yoga", "Hiking", "Lightweight", "Cross-Train", "Compression", "Fleece",
    "Performance", "Thermal", "Trail", "Studio", "Everyday", "Insulated", "Breathable", "Tech",
];
const GARMENT: &[&str] = &[
    "Short", "Tee", "Jacket", "Hoodie", "Pant", "Tank", "Bra", "Legging", "Sweatshirt", "Shell",
    "Capri", "Pullover", "Parka", "Jogger", "Top",
];
const SIZES: &[&str] = &["xs", "s", "m", "l", "xl", "xxl", "28", "30", "32", "34", "36"];
const COLORS: &[&str] = &[
    "navy", "black", "blue", "gray", "green", "orange", "purple", "red", "white", "yellow", "brown",
    "lavender",
];
const WORDS: &[&str] = &[
    "comfort", "ribbed", "fabric", "reflective", "durable", "moisture-wicking", "lightweight",
    "breathable", "stretch", "soft", "seamless", "quick-dry", "flatlock", "seams", "zippered",
    "pocket", "mesh", "panels", "relaxed", "fit", "brushed", "interior", "odor-resistant", "cotton",
];
const CLIMATES: &[&str] = &["All-Weather", "Cool", "Indoor", "Warm", "Spring", "Windy", "Rainy"];
const PATTERNS: &[&str] = &["Solid", "Color-Blocked", "Striped", "Graphic Print", "Camo"];
const ACTIVITIES: &[&str] = &["Running", "Yoga", "Gym", "Hiking", "Cycling", "Lounge", "Crossfit"];

/// Optional custom attributes besides `size` and `color` (the generator keeps
/// 9..=13 of them so every record has 11..=15 entries).
const OPTIONAL_ATTRS: &[&str] = &[
    "eco_collection", "tax_class_id", "special_price", "climate", "description", "pattern",
    "material", "url_key", "category_ids", "meta_title", "options_container", "required_options",
    "has_options", "activity", "gender", "new", "sale", "performance_fabric", "erin_recommends",
];

struct Product<'a> {
    id: u64,
    name: &'a str,
    url_key: &'a str,
}

/// Days since 1970-01-01 -> (y, m, d) (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_datetime(out: &mut String, epoch_s: u64) {
    let (y, m, d) = civil_from_days((epoch_s / 86_400) as i64);
    let s = epoch_s % 86_400;
    let _ = write!(out, "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

/// A price with 0, 2 or 3 decimals (one third each). The last decimal is never
/// 0, so the number of decimals is exactly what was drawn and rounding to two
/// places is a real operation for a third of the records (1 in 9 of those ends
/// in 5, exercising half-away-from-zero on the decimal representation).
fn push_price(out: &mut String, rng: &mut Rng) {
    let whole = rng.range(5, 399);
    match rng.range(0, 2) {
        0 => {
            let _ = write!(out, "{whole}");
        }
        1 => {
            let cents = rng.range(0, 9) * 10 + rng.range(1, 9);
            let _ = write!(out, "{whole}.{cents:02}");
        }
        _ => {
            let mills = rng.range(0, 99) * 10 + rng.range(1, 9);
            let _ = write!(out, "{whole}.{mills:03}");
        }
    }
}

fn push_attr_value(out: &mut String, code: &str, rng: &mut Rng, p: &Product) {
    match code {
        "eco_collection" | "new" | "sale" | "performance_fabric" | "erin_recommends" => {
            let _ = write!(out, "\"{}\"", rng.range(0, 1));
        }
        "required_options" | "has_options" => out.push_str("\"0\""),
        "tax_class_id" => {
            let _ = write!(out, "\"{}\"", rng.pick(&[0, 2, 4]));
        }
        "special_price" => {
            let _ = write!(out, "\"{}.{:02}\"", rng.range(5, 200), rng.range(0, 99));
        }
        "climate" => {
            let _ = write!(out, "\"{}\"", rng.pick(CLIMATES));
        }
        "pattern" => {
            let _ = write!(out, "\"{}\"", rng.pick(PATTERNS));
        }
        "activity" => {
            let _ = write!(out, "\"{}\"", rng.pick(ACTIVITIES));
        }
        "gender" => {
            let _ = write!(out, "\"{}\"", rng.range(80, 95));
        }
        "material" => {
            let _ = write!(out, "\"{}\"", rng.range(30, 180));
        }
        "url_key" => {
            let _ = write!(out, "\"{}\"", p.url_key);
        }
        "meta_title" => {
            let _ = write!(out, "\"{}\"", p.name);
        }
        "options_container" => out.push_str("\"container2\""),
        "description" => {
            out.push_str("\"<p>");
            let n = rng.range(4, 9);
            for k in 0..n {
                if k > 0 {
                    out.push(' ');
                }
                out.push_str(rng.pick(WORDS));
            }
            out.push_str(".</p>\"");
        }
        "category_ids" => {
            out.push('[');
            let n = rng.range(2, 5);
            for k in 0..n {
                if k > 0 {
                    out.push(',');
                }
                let _ = write!(out, "\"{}\"", rng.range(2, 40));
            }
            out.push(']');
        }
        other => unreachable!("no value generator for {other} (product {})", p.id),
    }
}

fn push_record(out: &mut String, seed: u64, id: u64) {
    let mut rng = Rng::for_record(seed, id);
    let (first, middle, garment) = (rng.pick(FIRST), rng.pick(MIDDLE), rng.pick(GARMENT));
    let name = format!("{first} {middle} {garment}");
    let url_key = format!("{}-{id}", name.to_ascii_lowercase().replace(' ', "-"));
    let initials: String = [first, middle, garment]
        .iter()
        .map(|w| w.as_bytes()[0].to_ascii_uppercase() as char)
        .collect();
    let p = Product { id, name: &name, url_key: &url_key };
    let configurable = rng.chance(15);
    let created = 1_640_995_200 + rng.range(0, 3 * 365 * 86_400); // 2022-01-01 + up to 3 years
    let updated = created + rng.range(0, 200 * 86_400);

    let _ = write!(
        out,
        "{{\"id\":{id},\"sku\":\"{initials}{id:06}\",\"name\":\"{name}\",\"attribute_set_id\":{},\"price\":",
        rng.pick(&[4, 9, 10, 15])
    );
    push_price(out, &mut rng);
    let _ = write!(
        out,
        ",\"status\":{},\"visibility\":{},\"type_id\":\"{}\",\"created_at\":\"",
        if rng.chance(92) { 1 } else { 2 },
        if configurable || rng.chance(70) { 4 } else { 1 },
        if configurable { "configurable" } else { "simple" },
    );
    push_datetime(out, created);
    out.push_str("\",\"updated_at\":\"");
    push_datetime(out, updated);
    let weight = rng.range(1, 40);
    if weight % 10 == 0 {
        let _ = write!(out, "\",\"weight\":{}", weight / 10);
    } else {
        let _ = write!(out, "\",\"weight\":{}.{}", weight / 10, weight % 10);
    }

    // extension_attributes
    out.push_str(",\"extension_attributes\":{\"website_ids\":[1],\"category_links\":[");
    for k in 0..rng.range(1, 3) {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"position\":{k},\"category_id\":\"{}\"}}", rng.range(2, 60));
    }
    let qty = if configurable { 0 } else { rng.range(0, 9999) };
    let _ = write!(
        out,
        "],\"stock_item\":{{\"item_id\":{id},\"product_id\":{id},\"stock_id\":1,\"qty\":{qty},\
         \"is_in_stock\":{},\"is_qty_decimal\":false,\"min_sale_qty\":1,\"max_sale_qty\":10000,\
         \"low_stock_date\":null,\"manage_stock\":true}}}}",
        configurable || qty > 0
    );

    out.push_str(",\"product_links\":[],\"options\":[],\"media_gallery_entries\":[");
    // 1..=3 gallery entries, weighted 45% / 40% / 15%.
    let media = match rng.range(0, 99) {
        0..=44 => 1,
        45..=84 => 2,
        _ => 3,
    };
    for k in 0..media {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"id\":{},\"media_type\":\"image\",\"label\":null,\"position\":{},\"disabled\":false,\
             \"types\":{},\"file\":\"/{}/{}/{}_{k}.jpg\"}}",
            id * 3 + k,
            k + 1,
            if k == 0 { "[\"image\",\"small_image\",\"thumbnail\"]" } else { "[]" },
            &url_key[0..1],
            &url_key[1..2],
            url_key,
        );
    }
    out.push_str("],\"tier_prices\":[");
    if rng.chance(10) {
        let _ = write!(
            out,
            "{{\"customer_group_id\":0,\"qty\":{},\"value\":{}.{:02},\"extension_attributes\":{{\"website_id\":0}}}}",
            rng.range(2, 10),
            rng.range(5, 300),
            rng.range(1, 99)
        );
    }

    // custom_attributes: size + color + 9..=13 optional ones, in random order.
    let mut codes: Vec<&str> = OPTIONAL_ATTRS.to_vec();
    rng.shuffle(&mut codes);
    codes.truncate(rng.range(9, 13) as usize);
    codes.push("size");
    codes.push("color");
    rng.shuffle(&mut codes);
    out.push_str("],\"custom_attributes\":[");
    for (k, code) in codes.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"attribute_code\":\"{code}\",\"value\":");
        match *code {
            "size" => {
                let _ = write!(out, "\"{}\"", rng.pick(SIZES));
            }
            "color" => {
                let _ = write!(out, "\"{}\"", rng.pick(COLORS));
            }
            _ => push_attr_value(out, code, &mut rng, &p),
        }
        out.push('}');
    }
    out.push_str("]}\n");
}

fn run() -> Result<(), String> {
    let mut n: u64 = 1_000_000;
    let mut seed: u64 = 42;
    let mut output = String::from("bench-data/products.ndjson");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" | "-n" => n = args.next().and_then(|v| v.replace('_', "").parse().ok()).ok_or("--n needs a number")?,
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).ok_or("--seed needs a number")?,
            "-h" | "--help" => {
                println!("usage: gen-products [--n N] [--seed S] [OUTPUT|-]  (defaults: 1000000, 42, bench-data/products.ndjson)");
                return Ok(());
            }
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => output = a,
        }
    }
    let sink: Box<dyn Write> = if output == "-" {
        Box::new(io::stdout().lock())
    } else {
        if let Some(dir) = Path::new(&output).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        Box::new(File::create(&output).map_err(|e| format!("{output}: {e}"))?)
    };
    let mut w = BufWriter::with_capacity(1 << 20, sink);
    let mut buf = String::with_capacity(1 << 20);
    for id in 1..=n {
        push_record(&mut buf, seed, id);
        if buf.len() > (1 << 20) - 4096 {
            w.write_all(buf.as_bytes()).map_err(|e| e.to_string())?;
            buf.clear();
        }
    }
    w.write_all(buf.as_bytes()).map_err(|e| e.to_string())?;
    w.flush().map_err(|e| e.to_string())?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-products: {e}");
            ExitCode::FAILURE
        }
    }
}
