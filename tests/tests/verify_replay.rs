//! `fleetd verify replay`: after ordinary traffic every read model equals a fresh replay, and a
//! read model changed behind the projection's back is named.

use fleet_tests::{json, TestApp};

#[tokio::test]
async fn a_fresh_replay_equals_the_live_read_models_and_a_tampered_one_is_named() {
    let app = TestApp::spawn().await;
    fleet_tests::billing::price_book(&app).await;
    let (id, _) = app.running_instance().await;
    for _ in 0..3 {
        app.post(&format!("/v1/instances/{id}/capacity"), json!({"delta": 1}))
            .await
            .expect(200);
    }
    for batch in 0..3 {
        let records: Vec<_> = (0..50)
            .map(|i| {
                json!({"id": format!("r-{}", i + batch * 40), "subscription_id": app.subscription_id,
                       "product": "vcpu-hour", "quantity": "1",
                       "occurred_at": "2026-11-02T12:00:00Z"})
            })
            .collect();
        app.post("/v1/usage", json!({"records": records}))
            .await
            .expect(202);
    }
    app.all_caught_up().await;
    let out = app.fleetd(&["verify", "replay"]).await;
    assert!(out.contains("tables identical to the live ones"), "{out}");
    let pool = app.pool().await;
    let (records, daily): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM usage.records WHERE product = 'vcpu-hour'),
                (SELECT sum(quantity)::bigint FROM usage.daily WHERE product = 'vcpu-hour')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((records, daily), (130, 130));

    sqlx::query("UPDATE usage.daily SET quantity = quantity + 1")
        .execute(&pool)
        .await
        .unwrap();
    let (ok, out, err) = app.fleetd_result(&["verify", "replay"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("usage.daily"), "{err}");
    assert!(!err.contains("usage.records"), "{err}");
}
