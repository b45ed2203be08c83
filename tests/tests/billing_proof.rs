//! Billing that proves itself: `fleetd verify invoices` re-derives every invoice from the
//! streams and names what a table got wrong.

use fleet_tests::billing::{assert_invoices_verify, generate, price_book, record, record_usage};
use fleet_tests::TestApp;

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
