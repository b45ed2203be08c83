//! Invoice amounts and the billing report: exact totals on worked examples (001's tax case
//! among them), totals against rated usage for random usage, and 001's CSV.

use fleet_tests::billing::{
    assert_invoices_verify, generate, price_book, record, record_usage, set_terms,
};
use fleet_tests::{json, Reply, TestApp};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn totals_are_exact_on_worked_examples() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    // 001's tax case: a 20.73 subtotal with 14.975% HST is 3.10 tax and 23.83 in all.
    record_usage(
        &app,
        vec![record(&sub, "t-1", "unit", "20.73", "2026-09-10")],
    )
    .await;
    set_terms(
        &app,
        &app.customer_id,
        json!({"taxes": [{"name": "hst", "rate": "14.975", "description": "Quebec harmonized sales tax"}]}),
    )
    .await
    .expect(200);
    let invoice = generate(&app, &app.customer_id, "2026-09")
        .await
        .expect(201)
        .body;
    assert_eq!(invoice["subtotal"], "20.73");
    assert_eq!(invoice["taxes"][0]["name"], "hst");
    assert_eq!(invoice["taxes"][0]["rate"], "14.975");
    assert_eq!(invoice["taxes"][0]["amount"], "3.10");
    assert_eq!(invoice["tax_total"], "3.10");
    assert_eq!(invoice["total"], "23.83");
    assert_eq!(invoice["currency"], "CAD");

    // Another customer, invoiced in EUR (1 EUR = 1.5 CAD) with 10% then 5.00 off, and a
    // levy on network lines only.
    let customer = app.create_customer("Globex").await;
    let sub2 = app
        .create_subscription(json!({"customer_id": customer}))
        .await;
    record_usage(
        &app,
        vec![
            // 300 vCPU hours x 0.0415 = 12.45 CAD = 8.30 EUR.
            record(&sub2, "g-1", "vcpu-hour", "300", "2026-09-03"),
            // 120 GB: 100 x 0.09 + 20 x 0.05 = 10.00 CAD = 6.67 EUR (6.6666… rounded).
            record(&sub2, "g-2", "egress-gb", "70", "2026-09-04"),
            record(&sub2, "g-3", "egress-gb", "50", "2026-09-20"),
        ],
    )
    .await;
    set_terms(
        &app,
        &customer,
        json!({"currency": "EUR", "discount_percentage": "10", "discount_flat": "5.00",
               "taxes": [{"name": "levy", "rate": "20", "categories": ["network"]}],
               "billing_provider": "STRIPE", "payment_terms_days": 15}),
    )
    .await
    .expect(200);
    let invoice = generate(&app, &customer, "2026-09").await.expect(201).body;
    let lines = invoice["lines"].as_array().unwrap();
    let totals: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["product"].as_str().unwrap(),
                l["quantity"].as_str().unwrap(),
                l["total"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        [("egress-gb", "120", "6.67"), ("vcpu-hour", "300", "8.30")]
    );
    assert_eq!(lines[1]["uptime"], "12:12:00:00");
    assert_eq!(lines[1]["rate_system"], "flat");
    assert_eq!(lines[0]["exchange_rate"], "0.6666666667");
    assert_eq!(invoice["subtotal"], "14.97");
    // 10% of 14.97 = 1.50 (1.497); flat 5.00; 6.50 off leaves 8.47.
    assert_eq!(invoice["discount_percentage_value"], "1.50");
    assert_eq!(invoice["discount_total"], "6.50");
    // Network's share of the discount: 6.50 x 6.67 / 14.97 = 2.896… -> 2.90 (largest
    // remainder); levy 20% of 3.77 = 0.754 -> 0.75.
    assert_eq!(invoice["taxes"][0]["base"], "3.77");
    assert_eq!(invoice["taxes"][0]["amount"], "0.75");
    assert_eq!(invoice["total"], "9.22");
    assert_eq!(invoice["billing_provider"], "STRIPE");
    assert_eq!(invoice["currency"], "EUR");

    // Terms changed later do not touch an issued invoice.
    set_terms(&app, &customer, json!({"discount_percentage": "100"}))
        .await
        .expect(200);
    let again = app
        .get(&format!("/v1/invoices/{}", invoice["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(again["total"], "9.22");
    // Verification rates each invoice with the terms as they stood when it was made.
    assert_eq!(assert_invoices_verify(&app).await, 2);
    // Bad terms are refused naming the field.
    for (terms, field) in [
        (json!({"discount_percentage": 10.5}), "discount_percentage"),
        (json!({"discount_percentage": "101"}), "discount_percentage"),
        (json!({"currency": "JPY"}), "currency"),
        (
            json!({"taxes": [{"name": "a", "rate": "-1"}]}),
            "taxes.rate",
        ),
        (json!({"metadata": [1]}), "metadata"),
    ] {
        let reply = set_terms(&app, &customer, terms.clone()).await.expect(422);
        assert!(
            reply.body["detail"].as_str().unwrap().contains(field),
            "{terms}: {}",
            reply.body
        );
    }
}

const HEADER: &str = "client_id,test_account,customer_email,customer_name,subscription_id,\
invoice_id,invoice_date,invoice_status,invoice_start,invoice_end,invoice_subtotal,\
invoice_discount_percentage,invoice_discount_flat,invoice_discount_total,invoice_total,\
customer_metadata,reseller";

fn csv_of(reply: Reply) -> Vec<String> {
    let reply = reply.expect(200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    reply
        .body
        .as_str()
        .expect("a CSV body")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_billing_report_has_001s_columns_and_scope() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    record_usage(
        &app,
        vec![record(&sub, "b-1", "unit", "24.04", "2026-09-03")],
    )
    .await;
    set_terms(
        &app,
        &app.customer_id,
        json!({"discount_percentage": "100", "metadata": {"tier": "gold, annual"}}),
    )
    .await
    .expect(200);
    let direct = generate(&app, &app.customer_id, "2026-09")
        .await
        .expect(201)
        .body;

    // A customer sold through reseller r-9, with 14.975% tax on 1.14.
    let resold = app.create_customer("Test abcd").await;
    app.post(
        &format!("/v1/customers/{resold}/reseller-relationships"),
        json!({"provider_instance_id": "pi-1", "reseller_id": "r-9"}),
    )
    .await
    .expect(201);
    let sub2 = app
        .create_subscription(json!({"customer_id": resold}))
        .await;
    record_usage(
        &app,
        vec![record(&sub2, "b-2", "unit", "1.14", "2026-09-05")],
    )
    .await;
    set_terms(
        &app,
        &resold,
        json!({"test_account": true, "taxes": [{"name": "hst", "rate": "14.975"}]}),
    )
    .await
    .expect(200);
    let through_reseller = generate(&app, &resold, "2026-09").await.expect(201);
    let position = through_reseller.position();
    let resold_invoice = through_reseller.body;

    let report = csv_of(
        app.get_at(
            "/v1/reports/billing.csv?start_date=2026-09-01&end_date=2026-09-30",
            position,
        )
        .await,
    );
    assert_eq!(report[0], HEADER);
    assert_eq!(report.len(), 2, "{report:?}");
    assert_eq!(
        report[1],
        format!(
            "{},False,ops@acme.example,Acme Corp,,{},2026-09,draft,2026-09-01,2026-09-30,24.04,100,0.00,24.04,0.00,\"{{\"\"tier\"\":\"\"gold, annual\"\"}}\",",
            app.customer_id,
            direct["id"].as_str().unwrap()
        )
    );

    // Every reseller's customers: admins only.
    let billing = app.api_key("acme", "billing").await;
    let all =
        "/v1/reports/billing.csv?start_date=2026-09-01&end_date=2026-09-30&show_all_resellers=True";
    app.request(Some(&billing), Method::GET, all, None, &[])
        .await
        .expect(403);
    let report = csv_of(app.get(all).await);
    assert_eq!(report.len(), 3);
    assert_eq!(
        report[2],
        format!(
            "{resold},True,ops@acme.example,Test abcd,,{},2026-09,draft,2026-09-01,2026-09-30,1.14,0,0.00,0.00,1.31,{{}},r-9",
            resold_invoice["id"].as_str().unwrap()
        )
    );

    // Detail adds one row per line; federation adds its two (empty) columns.
    let detailed = csv_of(
        app.get("/v1/reports/billing.csv?start_date=2026-09-01&detail=true&show_federated_invoices=true")
            .await,
    );
    assert!(detailed[0].starts_with(&format!(
        "{HEADER},federated_provider,federated_reseller,item_kind"
    )));
    assert_eq!(detailed.len(), 3);
    assert!(
        detailed[2]
            .ends_with(",usage,2026-09-01,2026-09-30,aws,proj-a,unit,Unit,24.04,unit,flat,24.04"),
        "{}",
        detailed[2]
    );

    // Outside the range: only the header. start_date after end_date: 400.
    let empty = csv_of(
        app.get("/v1/reports/billing.csv?start_date=2026-10-01&end_date=2026-10-31")
            .await,
    );
    assert_eq!(empty, [HEADER]);
    let bad = app
        .get("/v1/reports/billing.csv?start_date=2026-10-02&end_date=2026-10-01")
        .await
        .expect(400);
    assert!(bad.body["detail"]
        .as_str()
        .unwrap()
        .starts_with("start_date"));
    app.get("/v1/reports/billing.csv").await.expect(400);
    app.get("/v1/reports/billing.csv?start_date=2026-10-01&detail=maybe")
        .await
        .expect(400);
}

/// A small deterministic generator: the test is random in shape but reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[tokio::test]
async fn invoice_totals_equal_rated_usage_less_discounts_plus_taxes() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let mut random = Lcg(0x5eed);
    for round in 0..4 {
        let customer = app.create_customer(&format!("Random {round}")).await;
        let sub = app
            .create_subscription(json!({"customer_id": customer}))
            .await;
        let products = ["unit", "vcpu-hour", "egress-gb"];
        let records: Vec<Value> = (0..1 + random.next(40))
            .map(|i| {
                let quantity = format!("{}.{:03}", 1 + random.next(500), random.next(1000));
                let day = format!("2026-08-{:02}", 1 + random.next(31));
                let mut r = record(
                    &sub,
                    &format!("p{round}-{i}"),
                    products[random.next(3) as usize],
                    &quantity,
                    &day,
                );
                r["project_id"] = json!(format!("proj-{}", random.next(3)));
                r
            })
            .collect();
        let position = record_usage(&app, records).await;
        let pct = format!("{}.{}", random.next(60), random.next(10));
        let flat = format!("{}.{:02}", random.next(20), random.next(100));
        let rate = format!("{}.{:03}", random.next(25), random.next(1000));
        set_terms(
            &app,
            &customer,
            json!({"discount_percentage": pct, "discount_flat": flat,
                   "taxes": [{"name": "vat", "rate": rate}]}),
        )
        .await
        .expect(200);
        let rated = app
            .get_at(
                &format!("/v1/customers/{customer}/usage?start=2026-08-01&end=2026-08-31"),
                position,
            )
            .await
            .expect(200)
            .body;
        let invoice = generate(&app, &customer, "2026-08").await.expect(201).body;
        let dec = |v: &Value| {
            v.as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        };
        assert_eq!(
            dec(&invoice["subtotal"]),
            dec(&rated["subtotal"]),
            "round {round}"
        );
        // The usage statement carries the same discount and taxes as the invoice.
        assert_eq!(
            dec(&rated["discount"]),
            dec(&invoice["discount_total"]),
            "round {round}: {rated:#}"
        );
        assert_eq!(
            dec(&rated["total"]),
            dec(&invoice["total"]),
            "round {round}"
        );
        assert_eq!(rated["taxes"][0]["name"], "vat", "round {round}");
        let taxes: rust_decimal::Decimal = invoice["taxes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| dec(&t["amount"]))
            .sum();
        assert_eq!(
            dec(&invoice["total"]),
            dec(&rated["subtotal"]) - dec(&invoice["discount_total"]) + taxes,
            "round {round}: {invoice:#}"
        );
        let pct_value = (dec(&rated["subtotal"]) * pct.parse::<rust_decimal::Decimal>().unwrap()
            / rust_decimal::Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        assert_eq!(dec(&invoice["discount_percentage_value"]), pct_value);
        // Worked out here, independently of the server: the flat discount takes what the
        // percentage left, the tax applies to the rest, and the total is that plus the tax.
        let to_cents = |d: rust_decimal::Decimal| {
            d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        };
        let subtotal = dec(&rated["subtotal"]);
        let flat_applied = flat
            .parse::<rust_decimal::Decimal>()
            .unwrap()
            .min(subtotal - pct_value)
            .max(rust_decimal::Decimal::ZERO);
        assert_eq!(dec(&invoice["discount_flat"]), flat_applied);
        let base = subtotal - pct_value - flat_applied;
        let tax = to_cents(
            base * rate.parse::<rust_decimal::Decimal>().unwrap()
                / rust_decimal::Decimal::ONE_HUNDRED,
        );
        assert_eq!(dec(&invoice["taxes"][0]["amount"]), tax, "round {round}");
        assert_eq!(dec(&invoice["total"]), base + tax, "round {round}");
        let line_sum: rust_decimal::Decimal = invoice["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| dec(&l["total"]))
            .sum();
        assert_eq!(line_sum, dec(&invoice["subtotal"]));
    }
    assert_eq!(assert_invoices_verify(&app).await, 4);
}
