//! The audit log, its tamper evidence, full replays and point-in-time queries.

use fleet_tests::{json, TestApp};
use reqwest::Method;
use serde_json::Value;

fn actions(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["action"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_audit_log_says_who_did_what_and_filters_and_exports() {
    let app = TestApp::spawn().await;
    let (id, _) = app.running_instance().await;
    let stop = app
        .request(
            Some(&app.key),
            Method::POST,
            &format!("/v1/instances/{id}/stop"),
            None,
            &[
                ("x-correlation-id", "ticket-981"),
                ("user-agent", "ops-console/3"),
            ],
        )
        .await
        .expect(200);
    let position = stop.position();
    let page = app
        .get_at(
            &format!("/v1/audit-events?instance_id={id}&aggregate_type=instance"),
            position,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        actions(&page),
        ["InstanceStopped", "InstanceProvisioned", "InstanceCreated"],
        "newest first"
    );
    let stopped = &page["items"][0];
    assert_eq!(stopped["correlation_id"], "ticket-981");
    assert_eq!(stopped["user_agent"], "ops-console/3");
    assert_eq!(stopped["ip"], "127.0.0.1");
    assert_eq!(stopped["actor_role"], "admin");
    assert_eq!(stopped["auth_method"], "api_key");
    assert_eq!(stopped["customer_id"], app.customer_id.as_str());
    assert_eq!(stopped["subscription_id"], app.subscription_id.as_str());
    assert!(stopped["message"]
        .as_str()
        .unwrap()
        .contains("InstanceStopped on instance"));
    // The chain runs over the tenant's whole log: the stop follows the row before it there.
    let whole = app
        .get("/v1/audit-events?page_size=100")
        .await
        .expect(200)
        .body;
    let before_stop = stopped["sequence"].as_u64().unwrap() - 1;
    let previous = whole["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sequence"].as_u64() == Some(before_stop))
        .expect("the row before the stop");
    assert_eq!(stopped["prev_hash"], previous["hash"]);

    // The stop's workflow carries the stop's correlation.
    app.all_caught_up().await;
    let by_correlation = app
        .get("/v1/audit-events?correlation_id=ticket-981")
        .await
        .body;
    assert_eq!(
        actions(&by_correlation),
        ["WorkflowStarted", "InstanceStopped"]
    );
    let by_type = app
        .get("/v1/audit-events?event_types=CustomerCreated,SubscriptionCreated")
        .await
        .body;
    assert_eq!(
        actions(&by_type),
        ["SubscriptionCreated", "CustomerCreated"]
    );
    let by_customer = app
        .get(&format!("/v1/audit-events?customer_id={}", app.customer_id))
        .await
        .body;
    assert_eq!(by_customer["items"].as_array().unwrap().len(), 5);
    let future = app
        .get("/v1/audit-events?start=2100-01-01T00:00:00Z")
        .await
        .body;
    assert_eq!(future["items"], json!([]));
    app.get("/v1/audit-events?start=2026-02-01T00:00:00Z&end=2026-01-01T00:00:00Z")
        .await
        .expect(400);

    // Pages of two walk all five events, newest first, without repeats.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .get(&format!("/v1/audit-events?page_size=2&page_token={token}"))
            .await
            .expect(200)
            .body;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["sequence"].as_u64().unwrap()),
        );
        match page["next_page_token"].as_str() {
            Some(next) => token = next.to_owned(),
            None => break,
        }
    }
    // With the deployment's and the stop's workflows.
    assert_eq!(seen, [8, 7, 6, 5, 4, 3, 2, 1]);

    let jsonl = app
        .request(
            Some(&app.key),
            Method::GET,
            "/v1/audit-events/export?format=jsonl",
            None,
            &[],
        )
        .await
        .expect(200);
    let text = jsonl.body.as_str().unwrap().to_owned();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    assert_eq!(
        lines[0]["action"], "CustomerCreated",
        "exports run oldest first"
    );
    let csv = app
        .request(
            Some(&app.key),
            Method::GET,
            &format!("/v1/audit-events/export?format=csv&instance_id={id}&aggregate_type=instance"),
            None,
            &[],
        )
        .await
        .expect(200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let csv = csv.body.as_str().unwrap().to_owned();
    let mut rows = csv.lines();
    assert!(rows
        .next()
        .unwrap()
        .starts_with("sequence,occurred_at,recorded_at,tenant,actor_id"));
    assert_eq!(rows.count(), 3);
    app.get("/v1/audit-events/export?format=xml")
        .await
        .expect(400);

    let viewer = app.api_key("acme", "viewer").await;
    let auditor = app.api_key("acme", "auditor").await;
    let other = app.api_key("globex", "admin").await;
    let as_role = |key: String| {
        let app = &app;
        async move {
            app.request(Some(&key), Method::GET, "/v1/audit-events", None, &[])
                .await
        }
    };
    assert_eq!(as_role(viewer).await.status.as_u16(), 403);
    assert_eq!(as_role(auditor).await.status.as_u16(), 200);
    assert_eq!(as_role(other).await.body["items"], json!([]));
}

#[tokio::test]
async fn verify_audit_names_an_edited_or_deleted_row() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.running_instance().await;
    }
    app.all_caught_up().await;
    let (ok, out, _) = app.fleetd_result(&["verify", "audit"]).await;
    assert!(ok, "{out}");
    // The customer and subscription; each instance's creation and provisioning, and its
    // deployment workflow's start and end.
    assert!(out.contains("14 rows verified"), "{out}");

    let pool = app.pool().await;
    sqlx::query("UPDATE audit.events SET payload = '{\"capacity\": 99}' WHERE sequence = 5")
        .execute(&pool)
        .await
        .unwrap();
    let (ok, _, err) = app.fleetd_result(&["verify", "audit"]).await;
    assert!(!ok);
    assert!(err.contains("row 5 differs"), "{err}");
    assert!(err.contains("payload") || err.contains("hash"), "{err}");

    // A forger who also fixes the row's hash still breaks the chain at the next row.
    app.fleetd(&["replay", "audit"]).await;
    sqlx::query("UPDATE audit.events SET actor_role = 'viewer' WHERE sequence = 6")
        .execute(&pool)
        .await
        .unwrap();
    let (ok, _, err) = app.fleetd_result(&["verify", "audit"]).await;
    assert!(!ok);
    assert!(err.contains("row 6 differs"), "{err}");

    app.fleetd(&["replay", "audit"]).await;
    let (ok, _, _) = app.fleetd_result(&["verify", "audit"]).await;
    assert!(ok, "a rebuild from the stream restores the log");
    sqlx::query("DELETE FROM audit.events WHERE sequence = 3")
        .execute(&pool)
        .await
        .unwrap();
    let (ok, _, err) = app.fleetd_result(&["verify", "audit"]).await;
    assert!(!ok);
    assert!(
        err.contains("row 3 differs") && err.contains("missing"),
        "{err}"
    );
}

#[tokio::test]
async fn a_full_replay_reproduces_every_read_model_exactly() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("Initech").await;
    let users = format!("/v1/customers/{customer}/users");
    let user = app
        .post(
            &users,
            json!({"email": "peter@initech.example", "name": "Peter"}),
        )
        .await
        .expect(202);
    app.post_empty(&format!(
        "/v1/users/{}/suspend",
        user.body["id"].as_str().unwrap()
    ))
    .await
    .expect(200);
    app.post(
        &format!("/v1/customers/{customer}/reseller-relationships"),
        json!({"provider_instance_id": "pi-1", "reseller_id": "r-1"}),
    )
    .await
    .expect(201);
    app.request(
        Some(&app.key),
        Method::PUT,
        &format!("/v1/customers/{customer}/licenses"),
        Some(json!({"provider_instance_id": "pi-1", "sku_id": "e3", "name": "E3", "total": 5, "consumed": 2})),
        &[],
    )
    .await
    .expect(200);
    let request = app
        .post(
            "/v1/subscription-requests",
            json!({"customer_id": customer, "service_id": "s", "plan_id": "p"}),
        )
        .await
        .expect(202);
    app.post_empty(&format!(
        "/v1/subscription-requests/{}/approve",
        request.body["id"].as_str().unwrap()
    ))
    .await
    .expect(200);
    let (instance, _) = app.running_instance().await;
    app.post(
        &format!("/v1/instances/{instance}/capacity"),
        json!({"delta": 2}),
    )
    .await
    .expect(200);
    // A host cluster, and a custom DNS name (set through the Omnistrate dialect).
    app.post(
        "/v1/host-clusters",
        json!({"id": "hc-audit", "cloud_provider": "aws", "region": "us-east-1", "description": "Cell"}),
    )
    .await
    .expect(202);
    app.request(
        Some(&app.key),
        Method::POST,
        &format!(
            "/2022-09-01-00/fleet/service/s-postgres/environment/se/http/instance/instance-{instance}/custom-dns"
        ),
        Some(json!({"customDNS": "db.acme.example"})),
        &[],
    )
    .await
    .expect(200);
    // A snapshot, completed, restored into a new instance.
    let snapshot = app
        .post_empty(&format!("/v1/instances/{instance}/snapshots"))
        .await
        .expect(202);
    let snapshot = snapshot.body["id"].as_str().unwrap().to_owned();
    app.post_empty(&format!("/v1/snapshots/{snapshot}/complete"))
        .await
        .expect(200);
    app.post_empty(&format!("/v1/snapshots/{snapshot}/restore"))
        .await
        .expect(202);
    let doomed = app.create_subscription(json!({})).await;
    let mut body = app.instance_body();
    body["subscription_id"] = json!(doomed);
    app.post("/v1/instances", body).await.expect(202);
    app.post_empty(&format!("/v1/subscriptions/{doomed}/terminate"))
        .await
        .expect(200);
    app.eventually("the terminated subscription's instance to go", || async {
        let listed = app
            .get(&format!(
                "/v1/instances?subscription_id={doomed}&status=deleted"
            ))
            .await
            .body;
        (listed["items"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;

    app.post(
        "/v1/notification-channels",
        json!({"name": "audit-trail", "url": "https://hooks.example/fleet", "event_types": ["InstanceStopped"]}),
    )
    .await
    .expect(202);
    // The fleet's setup: an account config, a network, an onboarding, an upgrade path and an
    // orchestration, at Omnistrate's paths where only it has them.
    let account = app
        .post(
            "/v1/account-configs",
            json!({"name": "BYOA", "cloud_provider": "gcp", "gcp_project_id": "p-1"}),
        )
        .await
        .expect(202);
    let account = account.body["id"].as_str().unwrap().to_owned();
    let omnistrate = |method: Method, path: &str, body: Value| {
        let path = format!("/2022-09-01-00/fleet{path}");
        let app = &app;
        async move {
            app.request(Some(&app.key), method, &path, Some(body), &[])
                .await
        }
    };
    omnistrate(
        Method::POST,
        &format!("/service/s/account-config-instance/ac-{account}"),
        json!({"setConnection": true}),
    )
    .await
    .expect(202);
    omnistrate(
        Method::POST,
        "/custom-network",
        json!({"cidr": "10.8.0.0/16", "cloudProviderName": "aws", "cloudProviderRegion": "us-east-1"}),
    )
    .await
    .expect(200);
    let onboarding = omnistrate(Method::POST, "/customer-onboarding", json!({}))
        .await
        .expect(200);
    omnistrate(
        Method::PATCH,
        &format!("/customer-onboarding/{}", onboarding.body.as_str().unwrap()),
        json!({"stage": {"name": "BuildSaaS", "status": "SKIPPED"}}),
    )
    .await
    .expect(200);
    let (upgraded, _) = app.running_instance().await;
    omnistrate(
        Method::POST,
        "/service/s-postgres/productTier/pt-standard/upgrade-path",
        json!({"sourceVersion": "1.0", "targetVersion": "1.1",
               "upgradeFilters": {"INSTANCE_IDS": [format!("instance-{upgraded}")]}}),
    )
    .await
    .expect(200);
    use base64::Engine;
    let dsl = base64::engine::general_purpose::STANDARD.encode(
        json!({"deployments": [{"alias": "db", "serviceId": "s-postgres",
            "productTierId": "pt-standard", "subscriptionId": format!("sub-{}", app.subscription_id),
            "cloudProvider": "aws", "region": "us-east-1", "resourceKey": "postgres"}]})
        .to_string(),
    );
    omnistrate(
        Method::POST,
        "/services-orchestration",
        json!({"orchestrationCreateDSL": dsl}),
    )
    .await
    .expect(202);

    // Invoices: one paid, and one voided (which gives its usage coverage back).
    app.post("/v1/currencies", json!({"code": "EUR", "main": true}))
        .await
        .expect(200);
    app.post(
        "/v1/products",
        json!({"code": "unit", "name": "Unit", "category": "compute", "unit": "unit",
               "currency": "EUR", "rate_system": "flat", "unit_price": "2.5",
               "effective_from": "2026-01-01T00:00:00Z"}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/usage",
        json!({"records": [{"id": "u-1", "subscription_id": app.subscription_id, "product": "unit",
                            "quantity": "3", "occurred_at": "2026-09-09T09:00:00Z"}]}),
    )
    .await
    .expect(202);
    for (period, last) in [("2026-09", "pay"), ("2026-08", "void")] {
        let invoice = app
            .post(
                "/v1/invoices",
                json!({"customer_id": app.customer_id, "period": period}),
            )
            .await
            .expect(201);
        let path = format!("/v1/invoices/{}", invoice.body["id"].as_str().unwrap());
        app.post_empty(&format!("{path}/approve")).await.expect(200);
        app.post_empty(&format!("{path}/{last}")).await.expect(200);
    }
    app.all_caught_up().await;
    app.caught_up("invoices").await;
    let schemas = ["inventory", "audit", "notifications", "invoices"];
    let before = app.dump_schemas(&schemas).await;
    assert!(
        before.iter().all(|(_, rows)| !rows.is_empty()),
        "every table has rows"
    );
    let out = app.fleetd(&["replay", "all"]).await;
    assert!(
        out.contains("inventory: rebuilt")
            && out.contains("audit: rebuilt")
            && out.contains("invoices: rebuilt"),
        "{out}"
    );
    let after = app.dump_schemas(&schemas).await;
    assert_eq!(before.len(), after.len());
    for ((table, rows), (_, again)) in before.iter().zip(&after) {
        assert_eq!(rows, again, "{table} differs after the replay");
    }
    let (ok, out, err) = app.fleetd_result(&["verify", "audit"]).await;
    assert!(ok, "{out}{err}");
}

#[tokio::test]
async fn as_of_answers_match_the_history_and_past_replays_stand_aside() {
    let app = TestApp::spawn().await;
    let (id, _) = app.running_instance().await;
    let path = format!("/v1/instances/{id}");
    app.post(&format!("{path}/capacity"), json!({"delta": 4}))
        .await
        .expect(200);
    let stopped = app.post_empty(&format!("{path}/stop")).await.expect(200);
    let history = app.history(&path).await;
    let at = |i: usize| history[i]["recorded_at"].as_str().unwrap().to_owned();

    let expectations = [
        (0, "deploying", 1),
        (1, "running", 1),
        (2, "running", 5),
        (3, "stopped", 5),
    ];
    for (i, status, capacity) in expectations {
        let row = app
            .get(&format!("{path}?as_of={}", at(i).replace('+', "%2B")))
            .await
            .expect(200)
            .body;
        assert_eq!(row["status"], status, "as of event {i}");
        assert_eq!(row["capacity"], capacity, "as of event {i}");
        assert_eq!(row["version"], history[i]["sequence"]);
    }
    app.get(&format!("{path}?as_of=2000-01-01T00:00:00Z"))
        .await
        .expect(404);
    app.get(&format!("{path}?as_of=yesterday"))
        .await
        .expect(400);
    let now = app
        .get(&format!("{path}?as_of=2100-01-01T00:00:00Z"))
        .await
        .body;
    let live = app.get_at(&path, stopped.position()).await.body;
    assert_eq!(now, live, "as of the future is now");

    let subscription = format!("/v1/subscriptions/{}", app.subscription_id);
    app.post(
        &format!("{subscription}/suspend"),
        json!({"reason": "audit"}),
    )
    .await
    .expect(200);
    let sub_history = app.history(&subscription).await;
    let created_at = sub_history[0]["recorded_at"]
        .as_str()
        .unwrap()
        .replace('+', "%2B");
    let then = app
        .get(&format!("{subscription}?as_of={created_at}"))
        .await
        .expect(200)
        .body;
    assert_eq!(then["status"], "active");
    let later = app
        .get(&format!("{subscription}?as_of=2100-01-01T00:00:00Z"))
        .await
        .body;
    assert_eq!(later["status"], "suspended");

    // A replay up to a past position builds beside the live tables, which keep serving.
    let position = history[1]["sequence"].as_u64().unwrap();
    let out = app
        .fleetd(&[
            "replay",
            "inventory",
            "--to-position",
            &position.to_string(),
        ])
        .await;
    assert!(out.contains(&format!("inventory_at_{position}")), "{out}");
    let past = app
        .dump(&format!("inventory_at_{position}.instances"), "id")
        .await;
    assert_eq!(past[0]["status"], "running");
    assert_eq!(past[0]["capacity"], 1);
    assert_eq!(app.get(&path).await.body["status"], "stopped");

    // A full rebuild left interrupted further on than a later `--to-position` asks for is
    // not resumed: the past is built from the beginning, up to the position asked for.
    let pool = app.pool().await;
    let end = app.caught_up("inventory").await;
    sqlx::query("CREATE SCHEMA inventory__rebuild")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO projection_checkpoints (projection, position) VALUES ('inventory__rebuild', $1)")
        .bind(end as i64)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = app
        .fleetd(&[
            "replay",
            "inventory",
            "--to-position",
            &position.to_string(),
        ])
        .await;
    assert!(out.contains(&format!("inventory_at_{position}")), "{out}");
}

#[tokio::test]
async fn the_verification_endpoint_gives_the_same_verdict_to_auditors_only() {
    let app = TestApp::spawn().await;
    app.running_instance().await;
    let last = app.all_caught_up().await;
    let verdict = app
        .get("/v1/audit-events/verification")
        .await
        .expect(200)
        .body;
    assert_eq!(verdict, json!({"intact": true, "position": last}));

    let viewer = app.api_key("acme", "viewer").await;
    let refused = app
        .request(
            Some(&viewer),
            reqwest::Method::GET,
            "/v1/audit-events/verification",
            None,
            &[],
        )
        .await;
    assert_eq!(refused.status.as_u16(), 403);

    let pool = app.pool().await;
    sqlx::query("UPDATE audit.events SET payload = '{\"capacity\": 99}' WHERE sequence = 3")
        .execute(&pool)
        .await
        .unwrap();
    let verdict = app
        .get("/v1/audit-events/verification")
        .await
        .expect(200)
        .body;
    assert_eq!(verdict["intact"], false, "{verdict}");
    assert_eq!(verdict["sequence"], 3, "{verdict}");
}
