//! Helpers of the invoicing tests: a price book, usage records, billing terms, generation.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{Reply, TestApp};

/// CAD is the main currency; `unit` costs exactly 1.00 CAD, `vcpu-hour` 0.0415, and egress is
/// graduated: 0.09 up to 100 GB, 0.05 above.
pub async fn price_book(app: &TestApp) {
    price_book_with(
        app,
        "1.5",
        "1",
        json!([{"up_to": "100", "unit_price": "0.09"}, {"unit_price": "0.05"}]),
    )
    .await;
}

/// The same book with other prices: EUR's rate, `unit`'s price and egress's tiers.
pub async fn price_book_with(app: &TestApp, eur_rate: &str, unit_price: &str, egress: Value) {
    app.post("/v1/currencies", json!({"code": "CAD", "main": true}))
        .await
        .expect(200);
    app.post("/v1/currencies", json!({"code": "EUR", "rate": eur_rate}))
        .await
        .expect(200);
    for product in [
        json!({"code": "unit", "name": "Unit", "category": "compute", "unit": "unit",
               "currency": "CAD", "rate_system": "flat", "unit_price": unit_price}),
        json!({"code": "vcpu-hour", "name": "vCPU hour", "category": "compute", "unit": "hour",
               "currency": "CAD", "rate_system": "flat", "unit_price": "0.0415"}),
        json!({"code": "egress-gb", "name": "Egress", "category": "network", "unit": "GB",
               "currency": "CAD", "rate_system": "tiered", "tiers": egress}),
    ] {
        let mut product = product;
        product["effective_from"] = json!("2026-01-01T00:00:00Z");
        app.post("/v1/products", product).await.expect(200);
    }
}

pub fn record(subscription: &str, id: &str, product: &str, quantity: &str, day: &str) -> Value {
    json!({"id": id, "subscription_id": subscription, "product": product,
           "quantity": quantity, "occurred_at": format!("{day}T12:00:00Z"),
           "project_id": "proj-a", "provider_id": "aws"})
}

pub async fn record_usage(app: &TestApp, records: Vec<Value>) -> u64 {
    let reply = app
        .post("/v1/usage", json!({ "records": records }))
        .await
        .expect(202);
    assert!(
        reply.body["rejected"].as_array().unwrap().is_empty(),
        "{}",
        reply.body
    );
    reply.position()
}

pub async fn set_terms(app: &TestApp, customer: &str, terms: Value) -> Reply {
    app.request(
        Some(&app.key),
        Method::PUT,
        &format!("/v1/customers/{customer}/billing-terms"),
        Some(terms),
        &[],
    )
    .await
}

pub async fn generate(app: &TestApp, customer: &str, period: &str) -> Reply {
    app.post(
        "/v1/invoices",
        json!({"customer_id": customer, "period": period}),
    )
    .await
}

/// Runs `fleetd verify invoices` on the test's data and asserts that every invoice re-derives
/// from the streams; answers how many were verified.
pub async fn assert_invoices_verify(app: &TestApp) -> u64 {
    app.all_caught_up().await;
    let (ok, out, err) = app.fleetd_result(&["verify", "invoices"]).await;
    assert!(ok, "verify invoices failed:\n{out}\n{err}");
    let verified = out
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"));
    assert!(verified > 0, "{out}");
    verified
}
