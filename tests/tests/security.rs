//! Hostile callers: what one caller's key, headers or body must never get them.

use fleet_tests::TestApp;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_idempotency_key_replays_only_to_its_caller_and_never_a_secret() {
    let app = TestApp::spawn().await;
    let viewer = app.api_key("acme", "viewer").await;
    let body = json!({"name": "ops", "url": "https://hooks.example/fleet"});
    let key = [("idempotency-key", "channel-1")];
    let created = app
        .request(
            Some(&app.key),
            Method::POST,
            "/v1/notification-channels",
            Some(body.clone()),
            &key,
        )
        .await
        .expect(202);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    // Another key of the tenant sending the same request with the same key is a new request,
    // judged by its own role.
    let replayed_to_viewer = app
        .request(
            Some(&viewer),
            Method::POST,
            "/v1/notification-channels",
            Some(body.clone()),
            &key,
        )
        .await
        .expect(403);
    assert_eq!(replayed_to_viewer.header("idempotent-replayed"), None);
    assert!(!replayed_to_viewer.body.to_string().contains(&secret));

    // The caller's own retry is replayed, without the secret, which was shown once.
    let retry = app
        .request(
            Some(&app.key),
            Method::POST,
            "/v1/notification-channels",
            Some(body),
            &key,
        )
        .await
        .expect(202);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body["id"], created.body["id"]);
    assert!(retry.body["secret"].is_null(), "{:#}", retry.body);

    let pool = app.pool().await;
    let saved: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT response_body FROM idempotency_keys WHERE response_body IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!saved.is_empty());
    for body in saved {
        assert!(
            !String::from_utf8_lossy(&body).contains(&secret),
            "a saved response holds the secret"
        );
    }
}

#[tokio::test]
async fn a_keyed_request_is_buffered_no_further_than_the_body_limit() {
    let app = TestApp::spawn().await;
    let huge = json!({"name": "x".repeat(3 * 1024 * 1024)});
    let reply = app
        .request(
            Some(&app.key),
            Method::POST,
            "/v1/customers",
            Some(huge),
            &[("idempotency-key", "big-1")],
        )
        .await
        .expect(413);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
}

#[tokio::test]
async fn the_audit_export_defuses_formulas_a_caller_typed() {
    let app = TestApp::spawn().await;
    app.request(
        Some(&app.key),
        Method::POST,
        "/v1/customers",
        Some(json!({"name": "Formula Corp", "country": "PT", "email": "f@example.com"})),
        &[("user-agent", "=cmd|'/C calc'!A0")],
    )
    .await
    .expect(202);
    let caught_up = app.caught_up("audit").await;
    let csv = app
        .request(
            Some(&app.key),
            Method::GET,
            "/v1/audit-events/export?format=csv",
            None,
            &[("x-fleet-position", &caught_up.to_string())],
        )
        .await
        .expect(200);
    let text = csv.body.as_str().unwrap();
    assert!(text.contains("'=cmd|'/C calc'!A0"), "{text}");
    assert!(!text.contains(",=cmd"), "a formula reached the CSV as is");
}
