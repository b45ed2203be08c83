//! Cost of operating the fleet: runtime x cost rate, imported records, and the four reports.

use fleet_tests::{json, TestApp};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::Value;

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a decimal string"))
        .parse()
        .unwrap()
}

fn micros(v: &Value) -> i64 {
    let t: sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc> =
        v.as_str().unwrap().parse().unwrap();
    t.timestamp_micros()
}

#[tokio::test]
async fn cost_comes_from_runtime_and_imports_and_reports_by_every_dimension() {
    let app = TestApp::spawn().await;
    let put = |path: &str, body: Value| {
        let app = &app;
        let path = path.to_owned();
        async move {
            app.request(Some(&app.key), Method::PUT, &path, Some(body), &[])
                .await
        }
    };
    app.post("/v1/currencies", json!({"code": "EUR", "main": true}))
        .await
        .expect(200);
    app.post("/v1/currencies", json!({"code": "USD", "rate": "0.5"}))
        .await
        .expect(200);
    put(
        "/v1/cost-rates",
        json!({"cloud_provider": "aws", "region": "us-east-1", "instance_type": "m5.large",
               "hourly": "36000", "currency": "USD", "effective_from": "2026-01-01T00:00:00Z"}),
    )
    .await
    .expect(200);

    // Runtime: the instance runs a moment at capacity 2.
    let (id, _) = app.create_instance(json!({"capacity": 2})).await;
    app.post_empty(&format!("/v1/instances/{id}/ready"))
        .await
        .expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.post_empty(&format!("/v1/instances/{id}/stop"))
        .await
        .expect(200);
    let history = app.history(&format!("/v1/instances/{id}")).await;
    let run_micros = micros(&history[2]["occurred_at"]) - micros(&history[1]["occurred_at"]);
    let hours = (Decimal::from(run_micros) / Decimal::from(3_600_000_000i64)).round_dp(6);
    // hours x 2 replicas x 36000 USD x 0.5 EUR/USD
    let runtime = (hours * Decimal::from(2) * Decimal::from(36000) * Decimal::new(5, 1))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);

    let imported = app
        .post(
            "/v1/cost-records",
            json!({"records": [
                {"id": "c1", "resource_id": "vol-1", "charge_period_start": "2026-11-01T00:00:00Z",
                 "billed_cost": "10.00", "currency": "EUR", "cloud_provider": "aws",
                 "region": "us-east-1", "deployment_cell": "hc-1", "environment_type": "PROD"},
                {"id": "c2", "resource_id": "disk-9", "charge_period_start": "2026-11-02T00:00:00Z",
                 "billed_cost": "4.00", "currency": "USD", "cloud_provider": "gcp",
                 "region": "europe-west1", "deployment_cell": "hc-9", "environment_type": "PROD"},
                {"id": "c3", "resource_id": "vm-3", "charge_period_start": "2026-11-01T00:00:00Z",
                 "billed_cost": "7.00", "currency": "EUR", "cloud_provider": "aws",
                 "region": "eu-west-1", "deployment_cell": "hc-2", "environment_type": "DEV"},
                {"id": "c4", "resource_id": id, "instance_id": id,
                 "charge_period_start": "2026-11-03T00:00:00Z", "billed_cost": "5.00", "currency": "EUR"},
                {"id": "c5", "resource_id": "x", "charge_period_start": "2026-11-03T00:00:00Z",
                 "billed_cost": "5.00", "currency": "JPY"},
                {"id": "c6", "resource_id": "x", "charge_period_start": "2026-11-03T00:00:00Z",
                 "billed_cost": 5.5, "currency": "EUR"}
            ]}),
        )
        .await
        .expect(202);
    assert_eq!(imported.body["accepted"], 4);
    let fields: Vec<&str> = imported.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["currency", "billed_cost"]);

    let today = sqlx::types::chrono::Utc::now().date_naive();
    let window = format!("start=2026-11-01&end={today}&environment_type=PROD");
    let report = |view: &str, extra: &str| {
        let app = &app;
        let path = format!("/v1/cost/{view}?{window}{extra}");
        async move { app.get(&path).await.expect(200).body }
    };
    let providers = app
        .eventually("the runtime cost to be recorded", || async {
            let body = report("cloud-provider", "").await;
            let aws = body["groups"]
                .as_array()?
                .iter()
                .find(|g| g["key"] == "aws")?
                .clone();
            (dec(&aws["total_cost"]) == Decimal::from(15) + runtime).then_some(body)
        })
        .await;
    assert!(runtime > Decimal::ZERO, "a runtime cost was recorded");
    assert_eq!(providers["currency"], "EUR");
    let gcp = providers["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "gcp")
        .unwrap();
    assert_eq!(gcp["total_cost"], "2.00", "4.00 USD at 0.5");
    assert_eq!(dec(&providers["total_cost"]), Decimal::from(17) + runtime);
    let series_sum: Decimal = providers["groups"][0]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| dec(&p["cost"]))
        .sum();
    assert_eq!(
        series_sum,
        dec(&providers["groups"][0]["total_cost"]),
        "totals are the sum of their points"
    );

    let monthly = report(
        "cloud-provider",
        "&frequency=monthly&exclude_cloud_providers=gcp",
    )
    .await;
    assert_eq!(monthly["groups"].as_array().unwrap().len(), 1);
    assert_eq!(monthly["groups"][0]["series"][0]["date"], "2026-11-01");
    let dev = app
        .get(&format!(
            "/v1/cost/cloud-provider?start=2026-11-01&end={today}&environment_type=DEV"
        ))
        .await
        .body;
    assert_eq!(dev["total_cost"], "7.00");

    let regions = report("region", "&include_regions=us-east-1").await;
    assert_eq!(regions["groups"][0]["key"], "aws/us-east-1");
    assert_eq!(regions["groups"].as_array().unwrap().len(), 1);

    let cells = report(
        "deployment-cell",
        "&top_instances=1&include_cloud_providers=aws",
    )
    .await;
    let hc1 = &cells["groups"][0];
    assert_eq!(hc1["key"], "aws/us-east-1/hc-1");
    assert_eq!(hc1["instances"][0]["instance_id"], id.as_str());
    assert_eq!(
        dec(&hc1["instances"][0]["total_cost"]),
        Decimal::from(5) + runtime
    );

    let users = report(
        "user",
        &format!("&include_users={}&top_instances=5", app.customer_id),
    )
    .await;
    assert_eq!(users["groups"].as_array().unwrap().len(), 1);
    // The most expensive customer is the cost no instance carries (12.00), then the app's.
    let top = report("user", "&top_users=1").await;
    assert_eq!(top["groups"].as_array().unwrap().len(), 1);
    assert_eq!(top["groups"][0]["key"], "");
    assert_eq!(top["groups"][0]["total_cost"], "12.00");
    assert_eq!(
        dec(&users["groups"][0]["total_cost"]),
        Decimal::from(5) + runtime
    );

    // A window of whole months and partial ones: its top customers are chosen from the
    // monthly sums for October and the daily ones for the days around it.
    app.post(
        "/v1/cost-records",
        json!({"records": [{"id": "c7", "resource_id": id, "instance_id": id,
            "charge_period_start": "2026-10-10T00:00:00Z", "billed_cost": "50.00", "currency": "EUR"}]}),
    )
    .await
    .expect(202);
    let long =
        format!("/v1/cost/user?start=2026-09-15&end={today}&environment_type=PROD&top_users=1");
    let top = app
        .eventually("October's cost to count", || async {
            let body = app.get(&long).await.body;
            (body["groups"][0]["key"] == app.customer_id.as_str()).then_some(body)
        })
        .await;
    assert_eq!(
        dec(&top["groups"][0]["total_cost"]),
        Decimal::from(55) + runtime
    );
    let after_it = app
        .get(&format!(
            "/v1/cost/user?start=2026-10-11&end={today}&environment_type=PROD&top_users=1"
        ))
        .await
        .body;
    assert_eq!(after_it["groups"][0]["key"], "");

    // Monthly reports add the monthly sums of whole months to the days of partial ones.
    let october = |start: &str| {
        let path = format!(
            "/v1/cost/region?start={start}&end={today}&environment_type=PROD&frequency=monthly\
             &include_regions=us-east-1&include_cloud_providers=aws"
        );
        let app = &app;
        async move {
            let body = app.get(&path).await.expect(200).body;
            let series = body["groups"][0]["series"].as_array().unwrap().clone();
            let points: Vec<(String, Decimal)> = series
                .iter()
                .map(|p| (p["date"].as_str().unwrap().to_owned(), dec(&p["cost"])))
                .collect();
            points
        }
    };
    for start in ["2026-09-15", "2026-10-01", "2026-10-10"] {
        let points = october(start).await;
        assert_eq!(
            points[0],
            ("2026-10-01".to_owned(), Decimal::from(50)),
            "from {start}"
        );
        assert_eq!(
            points[1],
            ("2026-11-01".to_owned(), Decimal::from(15)),
            "from {start}"
        );
    }
    assert_eq!(october("2026-10-11").await[0].0, "2026-11-01");

    for (query, status) in [
        (
            "/v1/cost/cloud-provider?start=2026-11-02&end=2026-11-01",
            400,
        ),
        (
            "/v1/cost/cloud-provider?start=2026-11-01&end=2026-11-02&frequency=weekly",
            400,
        ),
        (
            "/v1/cost/cloud-provider?start=yesterday&end=2026-11-02",
            400,
        ),
        ("/v1/cost/planet?start=2026-11-01&end=2026-11-02", 404),
    ] {
        app.get(query).await.expect(status);
    }
}
