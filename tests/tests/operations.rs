//! Health, readiness, metrics, the OpenAPI document and correlation ids.

use fleet_tests::TestApp;
use reqwest::Method;

#[tokio::test]
async fn health_readiness_and_metrics_report_the_parts() {
    let app = TestApp::spawn().await;
    let (_, position) = app.running_instance().await;
    app.get_at("/v1/inventory/summary", position)
        .await
        .expect(200);

    let health = app
        .request(None, Method::GET, "/healthz", None, &[])
        .await
        .expect(200);
    assert_eq!(health.body["status"], "ok");
    let ready = app
        .request(None, Method::GET, "/readyz", None, &[])
        .await
        .expect(200);
    assert_eq!(ready.body["ready"], true);
    assert_eq!(ready.body["postgres"]["ok"], true);
    assert_eq!(ready.body["nats"]["ok"], true);
    assert_eq!(ready.body["stream_position"], position);
    assert_eq!(ready.body["projections"][0]["name"], "inventory");
    assert_eq!(ready.body["projections"][0]["lag"], 0);

    let metrics = app
        .request(None, Method::GET, "/metrics", None, &[])
        .await
        .expect(200);
    let text = metrics.body.as_str().unwrap();
    for needle in [
        "fleet_commands_total{aggregate=\"instance\",outcome=\"accepted\"} 2",
        "fleet_append_seconds_count{aggregate=\"instance\"} 2",
        "fleet_append_conflicts_total",
        &format!("fleet_projection_position{{projection=\"inventory\"}} {position}"),
        "fleet_projection_lag{projection=\"inventory\"} 0",
        "fleet_http_requests_total{method=\"POST\",route=\"/v1/instances\",status=\"202\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let app = TestApp::spawn().await;
    let doc = app
        .request(None, Method::GET, "/v1/openapi.json", None, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(doc["openapi"], "3.1.0");
    let expected = [
        ("/v1/instances", "post"),
        ("/v1/instances", "get"),
        ("/v1/instances/{id}", "get"),
        ("/v1/instances/{id}", "delete"),
        ("/v1/instances/{id}/events", "get"),
        ("/v1/instances/{id}/ready", "post"),
        ("/v1/instances/{id}/fail", "post"),
        ("/v1/instances/{id}/stop", "post"),
        ("/v1/instances/{id}/start", "post"),
        ("/v1/instances/{id}/restart", "post"),
        ("/v1/instances/{id}/failover", "post"),
        ("/v1/instances/{id}/capacity", "post"),
        ("/v1/inventory/summary", "get"),
        ("/v1/customers", "post"),
        ("/v1/customers", "get"),
        ("/v1/customers/{id}", "get"),
        ("/v1/customers/{id}", "patch"),
        ("/v1/customers/{id}", "delete"),
        ("/v1/customers/{id}/events", "get"),
        ("/v1/customers/{id}/reseller-relationships", "post"),
        ("/v1/customers/{id}/reseller-relationships", "get"),
        (
            "/v1/customers/{id}/reseller-relationships/{relationship_id}",
            "delete",
        ),
        ("/v1/customers/{id}/licenses", "put"),
        ("/v1/customers/{id}/licenses", "get"),
        ("/v1/customers/{id}/users", "post"),
        ("/v1/customers/{id}/users", "get"),
        ("/v1/users/{id}", "get"),
        ("/v1/users/{id}", "delete"),
        ("/v1/users/{id}/events", "get"),
        ("/v1/users/{id}/suspend", "post"),
        ("/v1/users/{id}/unsuspend", "post"),
        ("/v1/subscriptions", "post"),
        ("/v1/subscriptions", "get"),
        ("/v1/subscriptions/bulk-update", "post"),
        ("/v1/subscriptions/{id}", "get"),
        ("/v1/subscriptions/{id}", "patch"),
        ("/v1/subscriptions/{id}/events", "get"),
        ("/v1/subscriptions/{id}/convert-to-paid", "post"),
        ("/v1/subscriptions/{id}/suspend", "post"),
        ("/v1/subscriptions/{id}/resume", "post"),
        ("/v1/subscriptions/{id}/terminate", "post"),
        ("/v1/subscriptions/{id}/cancel", "post"),
        ("/v1/subscription-requests", "post"),
        ("/v1/subscription-requests", "get"),
        ("/v1/subscription-requests/{id}", "get"),
        ("/v1/subscription-requests/{id}/events", "get"),
        ("/v1/subscription-requests/{id}/approve", "post"),
        ("/v1/subscription-requests/{id}/deny", "post"),
        ("/v1/subscription-requests/{id}/cancel", "post"),
        ("/v1/audit-events", "get"),
        ("/v1/audit-events/export", "get"),
        ("/v1/event-schemas", "get"),
        ("/v1/events/stream", "get"),
        ("/v1/notification-channels", "post"),
        ("/v1/notification-channels", "get"),
        ("/v1/notification-channels/{id}", "get"),
        ("/v1/notification-channels/{id}", "patch"),
        ("/v1/notification-channels/{id}", "delete"),
        ("/v1/notification-channels/{id}/events", "get"),
        ("/v1/notification-channels/{id}/deliveries", "get"),
        ("/v1/notification-channels/{id}/replay", "post"),
        ("/v1/currencies", "get"),
        ("/v1/currencies", "post"),
        ("/v1/currencies/{code}/rate", "put"),
        ("/v1/products", "get"),
        ("/v1/products", "post"),
        ("/v1/products/{code}", "get"),
        ("/v1/products/{code}/prices", "post"),
        ("/v1/products/{code}/quote", "get"),
        ("/v1/cost-rates", "get"),
        ("/v1/cost-rates", "put"),
        ("/v1/price-book/events", "get"),
        ("/v1/usage", "post"),
        ("/v1/subscriptions/{id}/usage", "get"),
        ("/v1/subscriptions/{id}/usage/daily", "get"),
        ("/v1/customers/{id}/usage", "get"),
        ("/v1/cost-records", "post"),
        ("/v1/cost/{view}", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/v1/openapi.json", "get"),
        ("/v1/customers/{id}/billing-terms", "get"),
        ("/v1/customers/{id}/billing-terms", "put"),
        ("/v1/invoices", "post"),
        ("/v1/invoices", "get"),
        ("/v1/invoices/{id}", "get"),
        ("/v1/invoices/{id}", "delete"),
        ("/v1/invoices/{id}/approve", "post"),
        ("/v1/invoices/{id}/pay", "post"),
        ("/v1/invoices/{id}/mark-uncollectible", "post"),
        ("/v1/invoices/{id}/void", "post"),
        ("/v1/invoices/{id}/resend", "post"),
        ("/v1/invoices/{id}/events", "get"),
        ("/v1/customers/{id}/invoices", "get"),
        ("/v1/customers/{id}/invoices/last", "get"),
        ("/v1/reports/billing.csv", "get"),
    ];
    for (path, method) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    let mut paths: Vec<&str> = expected.iter().map(|(path, _)| *path).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(
        doc["paths"].as_object().unwrap().len(),
        paths.len(),
        "the document and this list of routes disagree"
    );
    // Every documented operation is served: none falls through to the router's fallback.
    let key = app.key.clone();
    for (path, method) in expected {
        if path == "/v1/events/stream" {
            continue; // never ends; the subscribers tests read it
        }
        let url = path
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{relationship_id}", "r")
            .replace("{code}", "c")
            .replace("{view}", "region");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let reply = app
            .request(Some(&key), method.clone(), &url, None, &[])
            .await;
        assert_ne!(
            reply.body["detail"], "no such route",
            "{method} {path} is documented but not routed"
        );
        assert_ne!(reply.status.as_u16(), 405, "{method} {path}");
    }
}

#[tokio::test]
async fn the_correlation_id_is_echoed_and_recorded_on_the_event() {
    let app = TestApp::spawn().await;
    let (id, _) = app.running_instance().await;
    let reply = app
        .request(
            Some(&app.key),
            Method::POST,
            &format!("/v1/instances/{id}/stop"),
            None,
            &[
                ("x-correlation-id", "order-4711"),
                ("user-agent", "portal/2.1"),
            ],
        )
        .await
        .expect(200);
    assert_eq!(reply.header("x-correlation-id"), Some("order-4711"));
    let history = app.get(&format!("/v1/instances/{id}/events")).await.body;
    let stop = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(stop["correlation_id"], "order-4711");
    assert_eq!(stop["actor"]["user_agent"], "portal/2.1");
    assert_eq!(stop["actor"]["ip"], "127.0.0.1");

    let problem = app
        .post_empty(&format!("/v1/instances/{id}/stop"))
        .await
        .expect(409);
    assert_eq!(
        problem.body["correlation_id"].as_str(),
        problem.header("x-correlation-id")
    );
    let fallback = app.get("/v1/nothing-here").await.expect(404);
    assert_eq!(fallback.body["status"], 404);
}
