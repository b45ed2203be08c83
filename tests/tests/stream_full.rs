//! A stream that is full (a small `max_bytes`, as a full disk would be) refuses what would be
//! appended with a 503 that says so, and nothing of a refused command or batch is applied.

use fleet_tests::{json, TestApp};

#[tokio::test]
async fn a_full_stream_refuses_commands_and_batches_whole_with_a_503() {
    let app = TestApp::spawn_with(&[("FLEET_STREAM_MAX_BYTES", "65536")]).await;
    // The price book is in the domain stream too: written while it has room.
    fleet_tests::billing::price_book(&app).await;

    let mut created = 0;
    let refused = loop {
        assert!(created < 1000, "the stream never filled up");
        let reply = app.post("/v1/instances", app.instance_body()).await;
        match reply.status.as_u16() {
            202 => created += 1,
            503 => break reply,
            other => panic!("unexpected {other}: {}", reply.body),
        }
    };
    assert!(created > 0, "the stream was full from the start");
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("full"), "{detail}");

    // The refused command left nothing: the stream and the inventory hold the others only.
    let last = app.last_sequence().await;
    let again = app.post("/v1/instances", app.instance_body()).await;
    assert_eq!(again.status.as_u16(), 503, "{}", again.body);
    assert_eq!(app.last_sequence().await, last);
    // (Process managers wait with what they would append until there is room, so only the
    // inventory is waited for.)
    app.caught_up("inventory").await;
    let listed = app
        .get("/v1/instances?page_size=1000")
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"].as_array().unwrap().len(), created);

    // The usage stream has room, but not for a batch larger than it: the batch is refused
    // whole, and nothing of it is counted.
    let records: Vec<_> = (0..2000)
        .map(|i| {
            json!({"id": format!("r-{i}"), "subscription_id": app.subscription_id,
                   "product": "vcpu-hour", "quantity": "1",
                   "occurred_at": "2026-11-02T12:00:00Z"})
        })
        .collect();
    let reply = app.post("/v1/usage", json!({"records": records})).await;
    assert_eq!(
        reply.status.as_u16(),
        503,
        "{:.300}",
        reply.body.to_string()
    );
    let usage = app.dump("usage.records", "id").await;
    assert!(usage.is_empty(), "{usage:?}");
}
