//! Invoices: generation (idempotent per period), the lifecycle and its refusals, exact totals,
//! late usage as adjustments, the billing report, and totals against rated usage.

use fleet_tests::{json, Reply, TestApp};
use reqwest::Method;
use serde_json::Value;

/// CAD is the main currency; `unit` costs exactly 1.00 CAD, `vcpu-hour` 0.0415, and egress is
/// graduated: 0.09 up to 100 GB, 0.05 above.
async fn price_book(app: &TestApp) {
    app.post("/v1/currencies", json!({"code": "CAD", "main": true}))
        .await
        .expect(200);
    app.post("/v1/currencies", json!({"code": "EUR", "rate": "1.5"}))
        .await
        .expect(200);
    for product in [
        json!({"code": "unit", "name": "Unit", "category": "compute", "unit": "unit",
               "currency": "CAD", "rate_system": "flat", "unit_price": "1"}),
        json!({"code": "vcpu-hour", "name": "vCPU hour", "category": "compute", "unit": "hour",
               "currency": "CAD", "rate_system": "flat", "unit_price": "0.0415"}),
        json!({"code": "egress-gb", "name": "Egress", "category": "network", "unit": "GB",
               "currency": "CAD", "rate_system": "tiered",
               "tiers": [{"up_to": "100", "unit_price": "0.09"}, {"unit_price": "0.05"}]}),
    ] {
        let mut product = product;
        product["effective_from"] = json!("2026-01-01T00:00:00Z");
        app.post("/v1/products", product).await.expect(200);
    }
}

fn record(subscription: &str, id: &str, product: &str, quantity: &str, day: &str) -> Value {
    json!({"id": id, "subscription_id": subscription, "product": product,
           "quantity": quantity, "occurred_at": format!("{day}T12:00:00Z"),
           "project_id": "proj-a", "provider_id": "aws"})
}

async fn record_usage(app: &TestApp, records: Vec<Value>) -> u64 {
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

async fn set_terms(app: &TestApp, customer: &str, terms: Value) -> Reply {
    app.request(
        Some(&app.key),
        Method::PUT,
        &format!("/v1/customers/{customer}/billing-terms"),
        Some(terms),
        &[],
    )
    .await
}

async fn generate(app: &TestApp, customer: &str, period: &str) -> Reply {
    app.post(
        "/v1/invoices",
        json!({"customer_id": customer, "period": period}),
    )
    .await
}

fn id_of(reply: &Reply) -> String {
    reply.body["id"].as_str().expect("an invoice id").to_owned()
}

#[track_caller]
fn refused(reply: Reply, status: &str) {
    let reply = reply.expect(409);
    assert_eq!(reply.body["current_state"], status, "{}", reply.body);
    assert!(
        reply.body["detail"].as_str().unwrap().contains(status),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn the_lifecycle_refuses_every_other_transition_naming_the_status() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    record_usage(&app, vec![record(&sub, "u-1", "unit", "12", "2026-10-05")]).await;

    let first = generate(&app, &app.customer_id, "2026-10")
        .await
        .expect(201);
    let id = id_of(&first);
    assert_eq!(first.body["status"], "draft");
    assert_eq!(first.body["total"], "12.00");
    assert_eq!(
        first.header("location"),
        Some(format!("/v1/invoices/{id}").as_str())
    );
    // The same period again is the same invoice, also with explicit dates.
    let again = generate(&app, &app.customer_id, "2026-10")
        .await
        .expect(200);
    assert_eq!(id_of(&again), id);
    let explicit = app
        .post(
            "/v1/invoices",
            json!({"customer_id": app.customer_id, "start": "2026-10-01", "end": "2026-10-31"}),
        )
        .await
        .expect(200);
    assert_eq!(id_of(&explicit), id);
    // A period overlapping it is refused; one not over yet is invalid.
    app.post(
        "/v1/invoices",
        json!({"customer_id": app.customer_id, "start": "2026-10-15", "end": "2026-11-14"}),
    )
    .await
    .expect(409);
    generate(&app, &app.customer_id, "2027-01")
        .await
        .expect(422);
    generate(&app, &app.customer_id, "2026-13")
        .await
        .expect(422);

    let path = format!("/v1/invoices/{id}");
    let act = |action: &'static str| {
        let path = format!("{path}/{action}");
        let app = &app;
        async move { app.post_empty(&path).await }
    };
    for action in ["pay", "mark-uncollectible", "void", "resend"] {
        refused(act(action).await, "draft");
    }
    let viewer = app.api_key("acme", "viewer").await;
    app.request(
        Some(&viewer),
        Method::POST,
        &format!("{path}/approve"),
        None,
        &[],
    )
    .await
    .expect(403);
    let approved = act("approve").await.expect(200);
    assert_eq!(approved.body["status"], "open");
    assert!(approved.body["approved_at"].is_string());
    let after_approval = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    refused(act("approve").await, "open");
    refused(app.delete(&path).await, "open");
    act("resend").await.expect(200);
    act("mark-uncollectible").await.expect(200);
    for action in ["approve", "mark-uncollectible", "resend"] {
        refused(act(action).await, "uncollectible");
    }
    refused(app.delete(&path).await, "uncollectible");
    let paid = act("pay").await.expect(200);
    assert_eq!(paid.body["status"], "paid");
    for action in ["approve", "pay", "mark-uncollectible", "void"] {
        refused(act(action).await, "paid");
    }
    refused(app.delete(&path).await, "paid");
    act("resend").await.expect(200);
    // A paid invoice stays the period's invoice.
    assert_eq!(
        id_of(
            &generate(&app, &app.customer_id, "2026-10")
                .await
                .expect(200)
        ),
        id
    );

    // Resends are recorded on the stream, where subscribers read them.
    let history = app.history(&path).await;
    let types: Vec<&str> = history
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "InvoiceGenerated",
            "InvoiceApproved",
            "InvoiceResent",
            "InvoiceMarkedUncollectible",
            "InvoicePaid",
            "InvoiceResent"
        ]
    );
    let view = app.get(&path).await.expect(200).body;
    assert_eq!(view["resent"].as_array().unwrap().len(), 2);
    // As it was just after approval.
    let then = app
        .get(&format!("{path}?as_of={after_approval}"))
        .await
        .expect(200)
        .body;
    assert_eq!(then["status"], "open");
    assert!(then.get("paid_at").is_none());

    // Void: open -> void, then the period can be invoiced anew.
    let customer = app.create_customer("Initech").await;
    let sub2 = app
        .create_subscription(json!({"customer_id": customer}))
        .await;
    record_usage(&app, vec![record(&sub2, "u-2", "unit", "3", "2026-10-07")]).await;
    let voided = id_of(&generate(&app, &customer, "2026-10").await.expect(201));
    let vpath = format!("/v1/invoices/{voided}");
    app.post(&format!("{vpath}/approve"), json!({}))
        .await
        .expect(200);
    let void = app
        .post(&format!("{vpath}/void"), json!({"reason": "wrong address"}))
        .await
        .expect(200);
    assert_eq!(void.body["status"], "void");
    assert_eq!(void.body["void_reason"], "wrong address");
    for action in ["approve", "pay", "mark-uncollectible", "void", "resend"] {
        refused(app.post_empty(&format!("{vpath}/{action}")).await, "void");
    }
    let anew = generate(&app, &customer, "2026-10").await.expect(201);
    assert_ne!(id_of(&anew), voided);
    assert_eq!(anew.body["total"], "3.00");

    // Delete: drafts only; a deleted invoice is gone and its period free again.
    let draft = id_of(&anew);
    let deleted = app
        .delete(&format!("/v1/invoices/{draft}"))
        .await
        .expect(200);
    assert_eq!(deleted.body["status"], "deleted");
    app.get(&format!("/v1/invoices/{draft}")).await.expect(404);
    app.post_empty(&format!("/v1/invoices/{draft}/approve"))
        .await
        .expect(404);
    let third = generate(&app, &customer, "2026-10").await.expect(201);
    assert_ne!(id_of(&third), draft);

    // Unknown and foreign invoices are not found.
    app.get(&format!("/v1/invoices/{}", uuid::Uuid::now_v7()))
        .await
        .expect(404);
    let globex = app.api_key("globex", "admin").await;
    app.request(Some(&globex), Method::GET, &path, None, &[])
        .await
        .expect(404);
}

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

#[tokio::test]
async fn late_usage_lands_on_the_next_invoice_as_an_adjustment() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    let customer = app.customer_id.clone();
    record_usage(
        &app,
        vec![
            record(&sub, "s-1", "unit", "10", "2026-09-10"),
            record(&sub, "s-2", "egress-gb", "80", "2026-09-11"),
        ],
    )
    .await;
    let september = generate(&app, &customer, "2026-09").await.expect(201).body;
    let sep_id = september["id"].as_str().unwrap().to_owned();
    app.post_empty(&format!("/v1/invoices/{sep_id}/approve"))
        .await
        .expect(200);
    assert_eq!(september["total"], "17.20");

    // September usage arriving after the invoice, and October's own.
    record_usage(
        &app,
        vec![
            record(&sub, "s-3", "unit", "2.5", "2026-09-28"),
            // 80 GB were billed; 40 more continue the tiers: 20 x 0.09 + 20 x 0.05 = 2.80.
            record(&sub, "s-4", "egress-gb", "40", "2026-09-29"),
            record(&sub, "o-1", "unit", "4", "2026-10-02"),
        ],
    )
    .await;
    let unchanged = app.get(&format!("/v1/invoices/{sep_id}")).await.body;
    assert_eq!(unchanged["total"], "17.20");
    assert_eq!(unchanged["lines"], september["lines"]);

    let october = generate(&app, &customer, "2026-10").await.expect(201).body;
    let lines: Vec<(&str, &str, &str, &str, &str)> = october["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap(),
                l["origin_period"]["start"].as_str().unwrap(),
                l["product"].as_str().unwrap(),
                l["quantity"].as_str().unwrap(),
                l["total"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("usage", "2026-10-01", "unit", "4", "4.00"),
            ("adjustment", "2026-09-01", "egress-gb", "40", "2.80"),
            ("adjustment", "2026-09-01", "unit", "2.5", "2.50"),
        ]
    );
    assert_eq!(october["total"], "9.30");
    // A usage record sent again adds nothing anywhere.
    record_usage(&app, vec![record(&sub, "s-3", "unit", "2.5", "2026-09-28")]).await;
    let oct_id = october["id"].as_str().unwrap().to_owned();
    assert_eq!(
        generate(&app, &customer, "2026-10").await.expect(200).body["total"],
        "9.30"
    );

    // Voiding October gives its usage back: the next October invoice bills it again, once.
    let oct = format!("/v1/invoices/{oct_id}");
    app.post_empty(&format!("{oct}/approve")).await.expect(200);
    app.post_empty(&format!("{oct}/void")).await.expect(200);
    let reissued = generate(&app, &customer, "2026-10").await.expect(201).body;
    assert_eq!(reissued["total"], "9.30");
    assert_eq!(reissued["lines"].as_array().unwrap().len(), 3);

    // The customer's invoices, the last one, and list filters.
    let position = app
        .post_empty(&format!(
            "/v1/invoices/{}/approve",
            reissued["id"].as_str().unwrap()
        ))
        .await
        .expect(200)
        .position();
    let all = app
        .get_at(&format!("/v1/customers/{customer}/invoices"), position)
        .await
        .expect(200)
        .body;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    let last = app
        .get(&format!("/v1/customers/{customer}/invoices/last"))
        .await
        .expect(200)
        .body;
    assert_eq!(last["id"], reissued["id"]);
    let open = app
        .get(&format!(
            "/v1/invoices?status=open&customer_id={customer}&start_date=2026-10-01&end_date=2026-10-31"
        ))
        .await
        .expect(200)
        .body;
    let ids: Vec<&Value> = open["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(ids, [&reissued["id"]]);
    let camel = app
        .get(&format!(
            "/v1/invoices?status=open&customerId={customer}&startDate=2026-10-01"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(camel["items"], open["items"]);
    let void = app.get("/v1/invoices?status=void").await.body;
    assert_eq!(void["items"][0]["id"], oct_id.as_str());
    let none = app.get("/v1/invoices?billing_provider=STRIPE").await.body;
    assert!(none["items"].as_array().unwrap().is_empty());
    let paged = app.get("/v1/invoices?page_size=2").await.body;
    assert_eq!(paged["items"].as_array().unwrap().len(), 2);
    let token = paged["next_page_token"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/invoices?page_size=2&page_token={token}"))
        .await
        .body;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    app.get("/v1/invoices?status=deleted").await.expect(400);
    app.get("/v1/invoices?start_date=2026-10-02&end_date=2026-10-01")
        .await
        .expect(400);
    let stranger = app.create_customer("Nobody").await;
    app.get(&format!("/v1/customers/{stranger}/invoices/last"))
        .await
        .expect(404);
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
        let line_sum: rust_decimal::Decimal = invoice["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| dec(&l["total"]))
            .sum();
        assert_eq!(line_sum, dec(&invoice["subtotal"]));
    }
}

#[tokio::test]
async fn concurrent_generations_across_processes_make_one_invoice() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    record_usage(&app, vec![record(&sub, "c-1", "unit", "7", "2026-10-05")]).await;
    let (_second, other) = app.spawn_process().await;
    let body = json!({"customer_id": app.customer_id, "period": "2026-10"});
    let requests = (0..12).map(|i| {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            other.clone()
        };
        let request = app
            .http
            .post(format!("{base}/v1/invoices"))
            .bearer_auth(&app.key)
            .json(&body);
        async move {
            let response = request.send().await.expect("sent");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("json");
            (status, body["id"].as_str().map(str::to_owned), body)
        }
    });
    let replies = futures::future::join_all(requests).await;
    let created = replies
        .iter()
        .filter(|(status, _, _)| *status == 201)
        .count();
    assert_eq!(created, 1, "{replies:#?}");
    assert!(
        replies
            .iter()
            .all(|(status, _, _)| *status == 201 || *status == 200),
        "{replies:#?}"
    );
    let first = &replies[0].1;
    assert!(replies.iter().all(|(_, id, _)| id == first), "{replies:#?}");
    let list = app
        .get_at(
            &format!("/v1/customers/{}/invoices", app.customer_id),
            app.caught_up("invoices").await,
        )
        .await
        .body;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["total"], "7.00");
}

#[tokio::test]
async fn the_scheduler_drafts_last_months_invoices_once() {
    use chrono::{Datelike, Months};
    let mut app = TestApp::spawn_with(&[
        ("FLEET_MONTHLY_INVOICES_AFTER_HOURS", "0"),
        ("FLEET_SCHEDULER_INTERVAL_MS", "100"),
    ])
    .await;
    price_book(&app).await;
    let today = chrono::Utc::now().date_naive();
    let this_month = today.with_day(1).unwrap();
    let last_month = this_month - Months::new(1);
    let older = this_month - Months::new(2);
    let sub = app.subscription_id.clone();
    let day = |month: chrono::NaiveDate| (month + chrono::Days::new(4)).to_string();
    record_usage(
        &app,
        vec![
            record(&sub, "m-1", "unit", "5", &day(last_month)),
            record(&sub, "m-2", "unit", "9", &day(older)),
        ],
    )
    .await;
    let customer = app.customer_id.clone();
    let draft = app
        .eventually("last month's draft", || async {
            let list = app
                .get(&format!("/v1/customers/{customer}/invoices"))
                .await
                .body;
            list["items"]
                .as_array()
                .and_then(|items| items.first().cloned())
        })
        .await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["period_start"], last_month.to_string());
    assert_eq!(draft["total"], "5.00");
    let id = draft["id"].as_str().unwrap().to_owned();
    let history = app.history(&format!("/v1/invoices/{id}")).await;
    assert_eq!(history[0]["actor"]["id"], "system");
    assert_eq!(history[0]["actor"]["name"], "invoice-scheduler");

    // Deleted by finance: it stays deleted, even for a scheduler that starts afresh.
    app.delete(&format!("/v1/invoices/{id}")).await.expect(200);
    app.kill9().await;
    app.start().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let position = app.caught_up("invoices").await;
    let list = app
        .get_at(&format!("/v1/customers/{customer}/invoices"), position)
        .await
        .body;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    // The month before was not drafted: it is not the month just ended.
    let older_period = older.format("%Y-%m").to_string();
    assert_eq!(
        generate(&app, &customer, &older_period)
            .await
            .expect(201)
            .body["total"],
        "9.00"
    );
}
