//! The Waldur dialect driven by the real `waldur-api-client` from PyPI (tests/waldur), then
//! checked through the native API: the usage it reported is in the customer's usage and on
//! the customer's invoice.

use std::path::PathBuf;

use fleet_tests::billing::{generate, price_book};
use fleet_tests::{json, TestApp};

/// The virtualenv `make test` creates with the pinned client (tests/waldur/requirements.txt).
fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var("WALDUR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/venv-waldur/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: `make test` (or `make venv`) creates it",
        python.display()
    );
    python
}

#[tokio::test]
async fn a_site_agent_runs_its_loop_against_the_dialect_with_the_real_client() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let (offering_id, plan) = app.create_offering("HPC", "hpc").await;
    let mut projects = Vec::new();
    for name in ["Research", "Teaching"] {
        let project = app
            .post(
                "/v1/projects",
                json!({"customer_id": app.customer_id, "name": name}),
            )
            .await
            .expect(201);
        projects.push(project.body["id"].as_str().unwrap().to_owned());
    }
    // Staff, and a read-only key (support).
    let viewer = app.api_key("acme", "viewer").await;

    let output = tokio::process::Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/waldur/site_agent.py"))
        .env("WALDUR_URL", &app.base)
        .env("WALDUR_TOKEN", &app.key)
        .env("WALDUR_VIEWER_TOKEN", &viewer)
        .env("OFFERING", &offering_id)
        .env("PLAN", &plan)
        .env("PROJECT", &projects[0])
        .env("OTHER_PROJECT", &projects[1])
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        eprintln!(
            "parked: {:?}",
            app.dump("projection_parked", "sequence").await
        );
    }
    assert!(
        output.status.success(),
        "the client's run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let made: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
    let resource = made["resource"].as_str().unwrap().to_owned();

    // The native API sees the resource and its history.
    let native = app
        .get(&format!("/v1/marketplace-resources/{resource}"))
        .await
        .expect(200);
    assert_eq!(native.body["state"], "Terminated", "{}", native.body);
    let history = app
        .history(&format!("/v1/marketplace-resources/{resource}"))
        .await;
    let types: Vec<&str> = history
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "ResourceUsageReported")
            .count(),
        2,
        "{types:?}"
    );

    // 10.5 then 12.25 of the same period: 12.25 counted, once, rated at 0.0415 per unit.
    let usage = app
        .eventually("the reported usage is counted", || async {
            let reply = app
                .get(&format!(
                    "/v1/customers/{}/usage?start=2026-11-01&end=2026-11-30",
                    app.customer_id
                ))
                .await;
            let text = reply.body.to_string();
            text.contains("12.25").then_some(reply.body)
        })
        .await;
    assert!(usage.to_string().contains("vcpu-hour"), "{usage}");
    let invoice = generate(&app, &app.customer_id, "2026-11")
        .await
        .expect(201);
    let lines = invoice.body["lines"].as_array().expect("lines");
    let line = lines
        .iter()
        .find(|l| l["product"] == "vcpu-hour")
        .unwrap_or_else(|| panic!("no vcpu-hour line: {}", invoice.body));
    assert_eq!(line["quantity"], "12.25", "{line}");
    assert_eq!(invoice.body["total"], "0.51", "{}", invoice.body);
}

#[tokio::test]
async fn the_dialect_answers_in_drf_shapes_and_documents_itself() {
    let app = TestApp::spawn().await;
    let reply = app
        .request(
            None,
            reqwest::Method::GET,
            "/api/marketplace-provider-resources/",
            None,
            &[("authorization", "Token flk_nothing")],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 401, "{}", reply.body);
    assert_eq!(reply.body["detail"], "Invalid token.");
    let key = format!("Token {}", app.key);
    let auth = [("authorization", key.as_str())];
    let unknown = app
        .request(
            None,
            reqwest::Method::GET,
            &format!(
                "/api/marketplace-provider-resources/{}/",
                uuid::Uuid::now_v7()
            ),
            None,
            &auth,
        )
        .await;
    assert_eq!(unknown.status.as_u16(), 404);
    assert_eq!(unknown.body["detail"], "Not found.");
    let bad = app
        .request(
            None,
            reqwest::Method::GET,
            "/api/marketplace-provider-resources/?state=Sleeping",
            None,
            &auth,
        )
        .await;
    assert_eq!(bad.status.as_u16(), 400);
    assert!(
        bad.body["state"][0].as_str().unwrap().contains("Sleeping"),
        "{}",
        bad.body
    );
    let empty = app
        .request(
            None,
            reqwest::Method::GET,
            "/api/marketplace-provider-resources/",
            None,
            &auth,
        )
        .await;
    assert_eq!(empty.status.as_u16(), 200);
    assert_eq!(empty.body, json!([]));
    assert_eq!(empty.header("x-result-count"), Some("0"));
    let document = app.get("/api/openapi.json").await.expect(200);
    let paths = document.body["paths"].as_object().unwrap();
    let provider_ops: usize = paths
        .iter()
        .filter(|(p, _)| p.starts_with("/api/marketplace-provider-resources/"))
        .map(|(_, item)| item.as_object().unwrap().len())
        .sum();
    assert_eq!(provider_ops, 29, "{:?}", paths.keys().collect::<Vec<_>>());
    assert!(paths.contains_key("/api/marketplace-component-usages/set_usage/"));
}
