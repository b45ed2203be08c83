//! Billing that proves itself: `fleetd verify invoices` re-derives every invoice from the
//! streams and names what a table got wrong; `POST /v1/billing/simulations` rates a period
//! under draft prices and terms without recording anything.

use fleet_tests::billing::{
    assert_invoices_verify, generate, price_book, price_book_with, record, record_usage, set_terms,
};
use fleet_tests::{json, TestApp};
use serde_json::Value;

#[tokio::test]
async fn verify_invoices_names_an_edited_row_and_a_price_changed_behind_the_streams_back() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    record_usage(
        &app,
        vec![
            record(&sub, "v-1", "unit", "10", "2026-09-10"),
            record(&sub, "v-2", "egress-gb", "80", "2026-09-11"),
        ],
    )
    .await;
    let september = generate(&app, &app.customer_id, "2026-09")
        .await
        .expect(201)
        .body;
    let sep_id = september["id"].as_str().unwrap().to_owned();
    assert_eq!(assert_invoices_verify(&app).await, 1);

    let pool = app.pool().await;
    let edit = |sql: &'static str| {
        let (pool, id) = (pool.clone(), sep_id.clone());
        async move {
            sqlx::query(sql)
                .bind(uuid::Uuid::parse_str(&id).unwrap())
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    // An amount column edited in the read model.
    edit("UPDATE invoices.invoices SET total = total + 1 WHERE id = $1").await;
    let (ok, _, err) = app.fleetd_result(&["verify", "invoices"]).await;
    assert!(!ok, "an edited total passes: {err}");
    assert!(
        err.contains(&sep_id) && err.contains("read model") && err.contains("column total"),
        "{err}"
    );
    app.fleetd(&["replay", "invoices"]).await;
    assert_eq!(
        assert_invoices_verify(&app).await,
        1,
        "a rebuild restores it"
    );

    // A line of the stored document edited.
    edit(
        "UPDATE invoices.invoices
         SET document = jsonb_set(document, '{lines,0,total}', '\"99.00\"') WHERE id = $1",
    )
    .await;
    let (ok, _, err) = app.fleetd_result(&["verify", "invoices"]).await;
    assert!(!ok, "an edited line passes: {err}");
    assert!(
        err.contains("total is 99.00, re-derived") && err.contains("line"),
        "{err}"
    );
    app.fleetd(&["replay", "invoices"]).await;
    assert_eq!(assert_invoices_verify(&app).await, 1);

    // A price edited in the pricing read model, behind the stream's back: the next invoice is
    // generated with it, and is not what the recorded price book gives.
    sqlx::query(
        "UPDATE pricing.product_prices SET pricing = jsonb_set(pricing, '{unit_price}', '\"2\"')
         WHERE code = 'unit'",
    )
    .execute(&pool)
    .await
    .unwrap();
    record_usage(&app, vec![record(&sub, "v-3", "unit", "4", "2026-10-02")]).await;
    let october = generate(&app, &app.customer_id, "2026-10")
        .await
        .expect(201)
        .body;
    assert_eq!(october["total"], "8.00", "generated with the edited price");
    let oct_id = october["id"].as_str().unwrap();
    app.all_caught_up().await;
    let (ok, _, err) = app.fleetd_result(&["verify", "invoices"]).await;
    assert!(!ok, "a price edited behind the stream passes: {err}");
    assert!(
        err.contains(oct_id)
            && err.contains("in the stream")
            && err.contains("usage line unit")
            && err.contains("total is 8.00, re-derived 4.00"),
        "{err}"
    );
    assert!(err.contains("1 of 2 differ"), "{err}");
    // The filters narrow what is compared, not what is read.
    let (ok, out, err) = app
        .fleetd_result(&["verify", "invoices", "--period", "2026-09"])
        .await;
    assert!(ok && out.contains("1 verified"), "{out}{err}");
    let (ok, _, _) = app
        .fleetd_result(&["verify", "invoices", "--customer", &app.customer_id])
        .await;
    assert!(!ok);
    let (ok, _, err) = app
        .fleetd_result(&["verify", "invoices", "--period", "October"])
        .await;
    assert!(!ok && err.contains("YYYY-MM"), "{err}");
}

/// Lines as (kind, product, quantity, total), in key order.
fn lines_of(lines: &Value) -> Vec<(String, String, String, String)> {
    let mut lines: Vec<_> = lines
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            let text = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (
                text("kind"),
                text("product"),
                text("quantity"),
                text("total"),
            )
        })
        .collect();
    lines.sort();
    lines
}

fn totals_of(invoice: &Value) -> [Value; 4] {
    ["subtotal", "discount_total", "tax_total", "total"].map(|k| invoice[k].clone())
}

/// September's usage of the two customers of the tests below.
fn first_usage(sub: &str) -> Vec<Value> {
    vec![
        record(sub, "a-1", "unit", "10", "2026-09-10"),
        record(sub, "a-2", "egress-gb", "80", "2026-09-11"),
        record(sub, "a-3", "vcpu-hour", "300", "2026-09-12"),
    ]
}

fn second_usage(sub: &str) -> Vec<Value> {
    vec![
        record(sub, "b-1", "unit", "5", "2026-09-03"),
        record(sub, "b-2", "egress-gb", "150", "2026-09-04"),
    ]
}

#[tokio::test]
async fn a_simulation_matches_invoices_generated_with_its_drafts_made_live() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let first = app.customer_id.clone();
    record_usage(&app, first_usage(&app.subscription_id)).await;
    let issued = generate(&app, &first, "2026-09").await.expect(201).body;
    let issued_id = issued["id"].as_str().unwrap().to_owned();
    app.post_empty(&format!("/v1/invoices/{issued_id}/approve"))
        .await
        .expect(200);
    let second = app.create_customer("Globex").await;
    let second_sub = app
        .create_subscription(json!({"customer_id": second}))
        .await;
    record_usage(&app, second_usage(&second_sub)).await;
    app.all_caught_up().await;
    let before = app.last_sequence().await;

    let drafts = json!({
        "period": "2026-09",
        "price_book": {
            "prices": [
                {"product": "unit", "rate_system": "flat", "unit_price": "1.25"},
                {"product": "egress-gb", "rate_system": "tiered",
                 "tiers": [{"up_to": "50", "unit_price": "0.10"}, {"unit_price": "0.04"}]}
            ],
            "exchange_rates": [{"code": "EUR", "rate": "1.4"}]
        },
        "billing_terms": {"discount_percentage": "10",
                          "taxes": [{"name": "gst", "rate": "5"}]}
    });
    let simulation = app
        .post("/v1/billing/simulations", drafts.clone())
        .await
        .expect(200)
        .body;
    let of = |customer: &str| {
        simulation["customers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["customer_id"] == customer)
            .cloned()
            .unwrap_or_else(|| panic!("{customer} not simulated: {simulation:#}"))
    };
    let (sim_first, sim_second) = (of(&first), of(&second));
    assert_eq!(simulation["customers"].as_array().unwrap().len(), 2);
    assert_eq!(sim_first["baseline"], "issued");
    assert_eq!(sim_first["invoice_id"], issued_id.as_str());
    assert_eq!(sim_first["status"], "open");
    assert_eq!(
        lines_of(&sim_first["before"]["lines"]),
        lines_of(&issued["lines"])
    );
    assert_eq!(sim_first["before"]["totals"]["total"], issued["total"]);
    assert_eq!(sim_second["baseline"], "current_price_book");
    // 10 x 1.25 + (50 x 0.10 + 30 x 0.04) + 300 x 0.0415 = 12.50 + 6.20 + 12.45 = 31.15;
    // 10% off is 3.12 (3.115), leaving 28.03, and 5% GST of it is 1.40.
    assert_eq!(sim_first["after"]["totals"]["subtotal"], "31.15");
    assert_eq!(sim_first["after"]["totals"]["total"], "29.43");
    assert_eq!(sim_first["difference"], "-0.22");
    let unit = sim_first["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product"] == "unit")
        .unwrap();
    assert_eq!(
        (
            &unit["baseline_total"],
            &unit["simulated_total"],
            &unit["difference"]
        ),
        (&json!("10.00"), &json!("12.50"), &json!("2.50"))
    );
    let cad = &simulation["totals"][0];
    assert_eq!(
        (&cad["currency"], &cad["customers"]),
        (&json!("CAD"), &json!(2))
    );

    // Nothing reached the stream or the read models.
    app.all_caught_up().await;
    assert_eq!(
        app.last_sequence().await,
        before,
        "a simulation appended events"
    );
    let none = app
        .get(&format!("/v1/customers/{second}/invoices"))
        .await
        .expect(200)
        .body;
    assert_eq!(none["items"], json!([]));
    // Its "before" is what generation gives with the book in force.
    let current = generate(&app, &second, "2026-09").await.expect(201).body;
    assert_eq!(
        lines_of(&current["lines"]),
        lines_of(&sim_second["before"]["lines"])
    );
    assert_eq!(current["total"], sim_second["before"]["totals"]["total"]);

    // A twin deployment where the drafts are the live book and terms, with the same usage:
    // its invoices are the simulation's "after", line by line and to the cent.
    let twin = TestApp::spawn().await;
    price_book_with(
        &twin,
        "1.4",
        "1.25",
        drafts["price_book"]["prices"][1]["tiers"].clone(),
    )
    .await;
    let terms = drafts["billing_terms"].clone();
    let twin_second = twin.create_customer("Globex").await;
    let twin_second_sub = twin
        .create_subscription(json!({"customer_id": twin_second}))
        .await;
    record_usage(&twin, first_usage(&twin.subscription_id)).await;
    record_usage(&twin, second_usage(&twin_second_sub)).await;
    for (customer, simulated) in [(&twin.customer_id, &sim_first), (&twin_second, &sim_second)] {
        set_terms(&twin, customer, terms.clone()).await.expect(200);
        let real = generate(&twin, customer, "2026-09").await.expect(201).body;
        assert_eq!(
            lines_of(&real["lines"]),
            lines_of(&simulated["after"]["lines"]),
            "{simulated:#}"
        );
        let after = &simulated["after"]["totals"];
        assert_eq!(
            totals_of(&real),
            totals_of(after),
            "{real:#} against {after:#}"
        );
        assert_eq!(real["taxes"], after["taxes"]);
    }
}

#[tokio::test]
async fn a_simulation_refuses_bad_drafts_naming_the_field() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    record_usage(&app, first_usage(&app.subscription_id)).await;
    let refused = |body: Value, field: &'static str| {
        let app = &app;
        async move {
            let reply = app.post("/v1/billing/simulations", body.clone()).await;
            assert_eq!(reply.status.as_u16(), 422, "{body}: {}", reply.body);
            let detail = reply.body["detail"].as_str().unwrap_or_default().to_owned();
            assert!(detail.contains(field), "{body}: {detail}");
        }
    };
    refused(json!({"period": "2099-01"}), "period").await;
    refused(json!({"period": "September"}), "period").await;
    refused(
        json!({"period": "2026-09", "price_book": {"prices": [
            {"product": "gpu-hour", "rate_system": "flat", "unit_price": "3"}]}}),
        "price_book.prices[0].product",
    )
    .await;
    refused(
        json!({"period": "2026-09", "price_book": {"prices": [
            {"product": "unit", "rate_system": "flat", "unit_price": "-1"}]}}),
        "price_book.prices[0].pricing",
    )
    .await;
    refused(
        json!({"period": "2026-09", "price_book": {"exchange_rates": [
            {"code": "CAD", "rate": "2"}]}}),
        "price_book.exchange_rates[0].code",
    )
    .await;
    refused(
        json!({"period": "2026-09", "billing_terms": {"currency": "JPY"}}),
        "billing_terms.currency",
    )
    .await;
    refused(
        json!({"period": "2026-09", "billing_terms": {"discount_percentage": "150"}}),
        "discount_percentage",
    )
    .await;
    refused(
        json!({"period": "2026-09", "customer_ids": ["nobody"]}),
        "customer_ids[0]",
    )
    .await;
    // A draft may price a product down to nothing: 300 vCPU hours then cost 0.
    let reply = app
        .post(
            "/v1/billing/simulations",
            json!({"period": "2026-09", "customer_ids": [app.customer_id],
                   "price_book": {"prices": [{"product": "vcpu-hour", "rate_system": "flat",
                                              "unit_price": "0"}]}}),
        )
        .await
        .expect(200);
    assert_eq!(
        reply.body["customers"][0]["after"]["totals"]["subtotal"], "17.20",
        "{}",
        reply.body
    );
    // Only billing may simulate.
    let viewer = app.api_key("acme", "viewer").await;
    let reply = app
        .request(
            Some(&viewer),
            reqwest::Method::POST,
            "/v1/billing/simulations",
            Some(json!({"period": "2026-09"})),
            &[],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.body);
}
