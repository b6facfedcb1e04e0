//! The seeded ERP data, shaped like Business Central's API v2.0 entities: one company, locations
//! (warehouses), items with prices and stock per location, customers with e-mail, credit limit and
//! blocked status, sales prices (special, group and quantity prices) for a few items, and the
//! apparel items per style and size with a variant per color (`apparel`). Orders and shipments start
//! empty: they are what the tests create.

use serde_json::{Value, json};

use super::stamps::{guid, timestamp};
use super::store::Seeded;

/// Item numbers, names and unit prices.
const ITEMS: &[(&str, &str, f64)] = &[
    ("1896-S", "ATHENS Desk", 1000.8),
    ("1900-S", "PARIS Guest Chair, black", 192.8),
    ("1906-S", "ATHENS Mobile Pedestal", 281.4),
    ("1908-S", "LONDON Swivel Chair, blue", 190.1),
    ("1920-S", "ANTWERP Conference Table", 1050.0),
    ("1928-S", "AMSTERDAM Lamp", 54.9),
    ("1936-S", "BERLIN Guest Chair, yellow", 192.8),
    ("1952-W", "MH01-XS-Black", 52.0),
    ("1953-W", "MH01-S-Blue", 52.0),
    ("1954-W", "WT/09 Blue", 34.0),
    ("1955-W", "GIFT+CARD 50", 50.0),
    ("1956-W", "100%-COTTON", 19.0),
];
/// Location codes and names.
const LOCATIONS: &[(&str, &str)] =
    &[("MAIN", "Main Warehouse"), ("EAST", "East Warehouse"), ("WEST", "West Warehouse")];
/// Customer names.
const CUSTOMERS: &[&str] = &[
    "Adatum Corporation",
    "Trey Research",
    "School of Fine Art",
    "Alpine Ski House",
    "Relecloud",
    "Coho Winery",
    "Fabrikam, Inc.",
    "Contoso Retail",
];
/// When the seeded records were last modified: 2026-01-01T00:00:00Z, plus an hour per record.
const EPOCH: i64 = 1_767_225_600;

/// Generates the data from `seed`: the same seed gives the same ids, stock and customers.
pub(super) fn generate(seed: u64) -> Seeded {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut hour = 0_i128;
    let mut modified = || {
        hour += 1;
        timestamp((i128::from(EPOCH) + hour * 3600) * 1000)
    };
    let company = guid(&mut rng);
    let companies = vec![json!({
        "id": company, "systemVersion": "26.0.30643.32481", "timestamp": 0, "name": "CRONUS USA, Inc.",
        "displayName": "CRONUS USA, Inc.", "businessProfileId": "", "systemCreatedAt": modified(),
        "systemCreatedBy": "00000000-0000-0000-0000-000000000001", "systemModifiedAt": modified(),
        "systemModifiedBy": "00000000-0000-0000-0000-000000000001",
    })];
    let locations: Vec<Value> = LOCATIONS
        .iter()
        .map(|(code, name)| {
            json!({"id": guid(&mut rng), "code": code, "displayName": name, "contact": "", "addressLine1": "",
                   "city": "", "country": "US", "lastModifiedDateTime": modified()})
        })
        .collect();
    let mut items = Vec::new();
    let mut stocks = Vec::new();
    for (number, name, price) in ITEMS {
        let id = guid(&mut rng);
        let mut total = 0;
        for location in &locations {
            let quantity = rng.i64(0..60);
            total += quantity;
            stocks.push(json!({
                "id": guid(&mut rng), "itemId": id, "itemNumber": number, "locationId": location["id"],
                "locationCode": location["code"], "inventory": quantity, "lastModifiedDateTime": modified(),
            }));
        }
        items.push(json!({
            "id": id, "number": number, "displayName": name, "displayName2": "", "type": "Inventory",
            "itemCategoryId": "00000000-0000-0000-0000-000000000000", "itemCategoryCode": "", "blocked": false,
            "gtin": "", "inventory": total, "unitPrice": price, "priceIncludesTax": false,
            "unitCost": (price * 0.6 * 100.0).round() / 100.0, "taxGroupCode": "FURNITURE",
            "baseUnitOfMeasureCode": "PCS", "lastModifiedDateTime": modified(),
        }));
    }
    let blocked = ["_x0020_", "_x0020_", "_x0020_", "Ship", "_x0020_", "All", "_x0020_", "Invoice"];
    let customers: Vec<Value> = CUSTOMERS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let credit = [0, 5000, 10000, 25000][rng.usize(0..4)];
            let domain: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
            json!({
                "id": guid(&mut rng), "number": format!("C{:05}", (i + 1) * 10), "displayName": name,
                "type": "Company", "addressLine1": format!("{} Main Street", 100 + i), "addressLine2": "", "city": "Atlanta",
                "state": "GA", "country": "US", "postalCode": "31772", "phoneNumber": "",
                "email": format!("orders@{domain}.example"), "website": "", "taxLiable": true,
                "currencyCode": "USD", "creditLimit": credit,
                "balanceDue": 0, "blocked": blocked[i % blocked.len()], "lastModifiedDateTime": modified(),
            })
        })
        .collect();
    let sales_prices = super::prices::seed(&items, &mut || guid(&mut rng), &mut modified);
    let (apparel, variants) = super::apparel::seed(&mut rng, &mut modified);
    items.extend(apparel);
    Seeded {
        company,
        sets: vec![
            ("companies", companies),
            ("locations", locations),
            ("items", items),
            ("itemVariants", variants),
            ("customers", customers),
            ("itemStocks", stocks),
            ("salesPrices", sales_prices),
            ("salesOrders", Vec::new()),
            ("salesShipments", Vec::new()),
        ],
    }
}
