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
    // The process managers' reactions (the deployment workflow) are on the stream too.
    let settled = app.all_caught_up().await;
    let ready = app
        .request(Some(&app.key), Method::GET, "/readyz", None, &[])
        .await
        .expect(200);
    assert_eq!(ready.body["ready"], true);
    assert_eq!(ready.body["postgres"]["ok"], true);
    assert_eq!(ready.body["nats"]["ok"], true);
    assert_eq!(ready.body["stream_position"], settled);
    assert_eq!(ready.body["projections"][0]["name"], "inventory");
    assert_eq!(ready.body["projections"][0]["lag"], 0);

    // Without a key: whether it is ready, and nothing of how it runs.
    let bare = app
        .request(None, Method::GET, "/readyz", None, &[])
        .await
        .expect(200);
    assert_eq!(bare.body, serde_json::json!({"ready": true}));
    app.request(None, Method::GET, "/metrics", None, &[])
        .await
        .expect(401);
    let viewer = app.api_key("acme", "viewer").await;
    app.request(Some(&viewer), Method::GET, "/metrics", None, &[])
        .await
        .expect(403);
    // A refused credential is counted (and logged with where it came from).
    app.request(
        Some("flk_not_a_key"),
        Method::GET,
        "/v1/instances",
        None,
        &[],
    )
    .await
    .expect(401);

    app.assert_metrics(&[
        "fleet_commands_total{aggregate=\"instance\",outcome=\"accepted\"} 2",
        "fleet_append_seconds_count{aggregate=\"instance\"} 2",
        "fleet_append_conflicts_total",
        "fleet_auth_failures_total{api=\"native\",reason=\"invalid\"} 1",
        &format!("fleet_projection_position{{projection=\"inventory\"}} {settled}"),
        "fleet_projection_lag{projection=\"inventory\"} 0",
        "fleet_http_requests_total{method=\"POST\",route=\"/v1/instances\",status=\"202\"} 1",
    ])
    .await;
}

/// The document is generated from the routers, and every `/v1` route is added with its
/// documentation, so this walks the document itself: each operation is served, says what it
/// answers, and its shapes are described.
#[tokio::test]
async fn the_openapi_document_describes_every_route_it_serves() {
    let app = TestApp::spawn().await;
    let doc = app
        .request(None, Method::GET, "/v1/openapi.json", None, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let what = format!("{method} {path}");
            assert!(op["summary"].is_string(), "{what} has no summary");
            assert!(op["tags"][0].is_string(), "{what} has no tag");
            let responses = op["responses"].as_object().unwrap();
            let success: Vec<_> = responses.keys().filter(|c| c.starts_with('2')).collect();
            assert!(!success.is_empty(), "{what} declares no success");
            for code in success {
                let content = responses[code]["content"].as_object();
                assert!(
                    content.is_some_and(|c| !c.is_empty()),
                    "{what} {code} declares no content type"
                );
            }
            // Every schema the operation names is in the document.
            let text = op.to_string();
            for reference in text.split("#/components/schemas/").skip(1) {
                let name = reference.split('"').next().unwrap();
                assert!(schemas.contains_key(name), "{what} names a missing {name}");
            }
            for template in path.split('/').filter(|s| s.starts_with('{')) {
                let name = template.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    op["parameters"].as_array().is_some_and(|ps| ps
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path")),
                    "{what} does not declare its path parameter {name}"
                );
            }
            let guarded = path.starts_with("/v1/") && path != "/v1/openapi.json";
            if guarded {
                assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{what}");
                assert!(responses.contains_key("401"), "{what} does not say 401");
                assert_eq!(
                    responses["401"]["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem"
                );
            }
            // It is served: not the router's fallback, not another method's route.
            if path == "/v1/events/stream" {
                continue; // never ends; the subscribers tests read it
            }
            let url = path
                .replace("{id}", &uuid::Uuid::now_v7().to_string())
                .replace("{relationship_id}", "r")
                .replace("{code}", "c")
                .replace("{view}", "region");
            let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = app
                .request(Some(&app.key), verb.clone(), &url, None, &[])
                .await;
            assert_ne!(
                reply.body["detail"], "no such route",
                "{what} is documented but not routed"
            );
            assert_ne!(reply.status.as_u16(), 405, "{what}");
            if guarded {
                let anonymous = app.request(None, verb, &url, None, &[]).await;
                assert_eq!(anonymous.status.as_u16(), 401, "{what} without a key");
            }
        }
    }
    assert!(operations >= 97, "{operations} operations");
    // Shapes are described, not left open: a command's answer names its fields and types.
    let instance = &schemas["InstanceState"];
    assert_eq!(instance["properties"]["capacity"]["type"], "integer");
    assert!(instance["properties"]["status"].is_object());
    assert_eq!(
        schemas["Problem"]["properties"]["errors"]["type"], "array",
        "{:#}",
        schemas["Problem"]
    );
    let csv = &doc["paths"]["/v1/reports/billing.csv"]["get"]["responses"]["200"]["content"];
    assert!(csv["text/csv; charset=utf-8"].is_object(), "{csv:#}");
    let sse = &doc["paths"]["/v1/events/stream"]["get"]["responses"]["200"]["content"];
    assert!(sse["text/event-stream"].is_object(), "{sse:#}");
    let export = &doc["paths"]["/v1/audit-events/export"]["get"]["responses"]["200"]["content"];
    assert!(export["application/x-ndjson"].is_object(), "{export:#}");
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

/// Every `$ref` of every document fleetd serves names a schema the document holds: code
/// generated from a document with a dangling reference does not build.
#[tokio::test]
async fn every_document_resolves_every_reference_it_makes() {
    let app = TestApp::spawn().await;
    for document in [
        "/v1/openapi.json",
        "/api/openapi.json",
        "/2022-09-01-00/fleet/openapi.json",
        "/reseller/billing/v1/openapi.json",
        "/accounts/openapi.json",
        "/v1/Customers/openapi.json",
    ] {
        let doc = app
            .request(None, Method::GET, document, None, &[])
            .await
            .expect(200)
            .body;
        let text = doc.to_string();
        let mut references = 0;
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = reference.split('"').next().unwrap();
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{document}: a reference outside components: {target}"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{document}: {target} names nothing"
            );
            references += 1;
        }
        assert!(references > 0, "{document} references no schema at all");
    }
}
