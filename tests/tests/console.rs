//! The console at `/console`, driven in a real browser: Debian's Chromium under playwright-core
//! (`console/e2e.mjs`, from `console/node_modules`; `make test` installs both). This test
//! seeds a fleetd of the harness through the API, runs the script, and keeps a screenshot of
//! every view in `target/console-screenshots`.

use std::path::PathBuf;

use fleet_tests::billing::{generate, price_book, record, record_usage};
use fleet_tests::{json, TestApp};
use futures::StreamExt;

/// Instances beside the one the steps drive, so the inventory's first paint is measured on a
/// fleet of a realistic size (the figure is printed, not asserted).
const FLEET: usize = 10_000;

fn console_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../console")
}

#[tokio::test]
async fn an_operator_works_through_every_view_in_a_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `make console-deps` installs Debian's chromium (make test does)"
    );
    assert!(
        console_dir().join("node_modules/playwright-core").exists(),
        "console/node_modules is missing: `make console-deps` runs npm ci (make test does)"
    );

    let app = TestApp::spawn().await;
    let (instance, _) = app.create_instance(json!({})).await;
    // The inventory as an operator meets it: ten thousand more instances, of another customer.
    let other = app.create_customer("Globex").await;
    let other_subscription = app
        .create_subscription(json!({"customer_id": other, "terms": "paid", "marketplace": "aws"}))
        .await;
    let mut body = app.instance_body();
    body["subscription_id"] = json!(other_subscription);
    futures::stream::iter(0..FLEET)
        .map(|_| app.post("/v1/instances", body.clone()))
        .buffer_unordered(32)
        .for_each(|reply| async move {
            reply.expect(202);
        })
        .await;
    price_book(&app).await;
    record_usage(
        &app,
        vec![
            record(
                &app.subscription_id,
                "u-1",
                "vcpu-hour",
                "300",
                "2026-11-02",
            ),
            record(
                &app.subscription_id,
                "u-2",
                "vcpu-hour",
                "120",
                "2026-11-03",
            ),
        ],
    )
    .await;
    app.post(
        "/v1/cost-records",
        json!({"records": [
            {"id": "c-1", "resource_id": instance, "instance_id": instance,
             "charge_period_start": "2026-11-02T00:00:00Z", "billed_cost": "12.50", "currency": "CAD"},
            {"id": "c-2", "resource_id": instance, "instance_id": instance,
             "charge_period_start": "2026-11-03T00:00:00Z", "billed_cost": "7.25", "currency": "CAD"}
        ]}),
    )
    .await
    .expect(202);
    // A channel whose deliveries fail (nothing listens): the health view lists and replays it.
    app.post(
        "/v1/notification-channels",
        json!({"name": "ops-hooks", "url": "http://127.0.0.1:9/hook",
               "event_types": ["InstanceCreated", "InstanceStopped"]}),
    )
    .await
    .expect(202);
    let invoice = generate(&app, &app.customer_id, "2026-11")
        .await
        .expect(201);
    let invoice = invoice.body["id"]
        .as_str()
        .expect("an invoice id")
        .to_owned();
    app.all_caught_up().await;

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let output = tokio::process::Command::new("node")
        .arg("e2e.mjs")
        .current_dir(console_dir())
        .env("BASE", &app.base)
        .env("KEY", &app.key)
        .env("INSTANCE_ID", &instance)
        .env("CUSTOMER_ID", &app.customer_id)
        .env("SUBSCRIPTION_ID", &app.subscription_id)
        .env("INVOICE_ID", &invoice)
        .env("COST_START", "2026-11-01")
        .env("COST_END", "2026-11-30")
        .env("SHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .env("INSTANCES", (FLEET + 1).to_string())
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("every step passed"), "{stdout}");
    for figure in stdout.lines().filter(|l| l.starts_with("figure:")) {
        println!("{figure}");
    }
    for view in [
        "inventory",
        "instance",
        "cost",
        "usage",
        "invoices",
        "invoice",
        "audit",
        "health",
    ] {
        let shot = shots.join(format!("{view}.png"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is missing or blank", shot.display());
    }
    // What the browser did went through the API: the instance's lifecycle is in its history.
    let history = app.history(&format!("/v1/instances/{instance}")).await;
    let types: Vec<&str> = history
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    for expected in [
        "InstanceProvisioned",
        "InstanceCapacityChanged",
        "InstanceStopped",
        "InstanceStarted",
    ] {
        assert!(types.contains(&expected), "{types:?}");
    }
    let approved = app
        .get(&format!("/v1/invoices/{invoice}"))
        .await
        .expect(200)
        .body;
    assert_eq!(approved["status"], "open", "{approved}");
}
