//! Instances over HTTP: every transition, the refusals, auth and tenancy, concurrency,
//! idempotency and read-your-writes.

use fleet_tests::{json, TestApp};
use reqwest::Method;

#[tokio::test]
async fn an_instance_goes_through_its_whole_lifecycle() {
    let app = TestApp::spawn().await;
    let (id, position) = app
        .create_instance(json!({"name": "orders-db", "capacity": 2}))
        .await;
    let path = format!("/v1/instances/{id}");

    let row = app.get_at(&path, position).await.expect(200).body;
    assert_eq!(row["status"], "deploying");
    assert_eq!(row["name"], "orders-db");
    assert_eq!(row["capacity"], 2);
    assert_eq!(
        row["customer_id"],
        app.customer_id.as_str(),
        "taken from the subscription"
    );
    assert_eq!(row["subscription_id"], app.subscription_id.as_str());

    let steps = [
        ("ready", json!(null), "running"),
        ("stop", json!(null), "stopped"),
        ("start", json!(null), "running"),
        ("restart", json!(null), "running"),
        ("failover", json!({"replica_id": "db-0"}), "running"),
        ("capacity", json!({"delta": 3}), "running"),
        ("capacity", json!({"delta": -4}), "running"),
        ("fail", json!({"reason": "disk full"}), "failed"),
    ];
    let mut position = 0;
    for (action, body, status) in steps {
        let url = format!("{path}/{action}");
        let reply = if body.is_null() {
            app.post_empty(&url).await
        } else {
            app.post(&url, body).await
        }
        .expect(200);
        assert_eq!(reply.body["status"], status, "after {action}");
        assert!(reply.position() > position, "positions grow");
        position = reply.position();
    }
    let row = app.get_at(&path, position).await.expect(200).body;
    assert_eq!(row["status"], "failed");
    assert_eq!(row["failure_reason"], "disk full");
    assert_eq!(row["capacity"], 1);
    assert_eq!(row["restarts"], 1);
    assert_eq!(row["failovers"], 1);

    let deleted = app.delete(&path).await.expect(200);
    let row = app.get_at(&path, deleted.position()).await.expect(200).body;
    assert_eq!(row["status"], "deleted");
    assert!(row["deleted_at"].is_string());

    let history = app.get(&format!("{path}/events")).await.expect(200).body;
    let types: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "InstanceCreated",
            "InstanceProvisioned",
            "InstanceStopped",
            "InstanceStarted",
            "InstanceRestarted",
            "InstanceFailedOver",
            "InstanceCapacityChanged",
            "InstanceCapacityChanged",
            "InstanceFailed",
            "InstanceDeleted"
        ]
    );
    let first = &history["items"][0];
    assert_eq!(first["actor"]["role"], "admin");
    assert_eq!(first["actor"]["auth_method"], "api_key");
    assert_eq!(first["tenant"], "acme");
    assert!(first["correlation_id"].is_string());
}

#[tokio::test]
async fn illegal_transitions_are_409_and_name_the_current_state() {
    let app = TestApp::spawn().await;
    let (id, _) = app.running_instance().await;
    let reply = app
        .post_empty(&format!("/v1/instances/{id}/start"))
        .await
        .expect(409);
    assert_eq!(reply.body["current_state"], "running");
    assert!(reply.body["detail"].as_str().unwrap().contains("running"));
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );

    app.delete(&format!("/v1/instances/{id}")).await.expect(200);
    for action in ["start", "stop", "restart", "ready", "failover"] {
        let reply = app
            .post_empty(&format!("/v1/instances/{id}/{action}"))
            .await
            .expect(409);
        assert_eq!(reply.body["current_state"], "deleted", "{action}");
    }
    app.delete(&format!("/v1/instances/{id}")).await.expect(409);
    let reply = app
        .post(&format!("/v1/instances/{id}/capacity"), json!({"delta": 1}))
        .await
        .expect(409);
    assert_eq!(reply.body["current_state"], "deleted");
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = TestApp::spawn().await;
    let reply = app
        .post("/v1/instances", json!({"service_id": "s", "plan_id": "p"}))
        .await
        .expect(422);
    assert!(reply.body["errors"][0]["field"].is_string());

    let mut body = app.instance_body();
    body["cloud_provider"] = json!("mars");
    let reply = app.post("/v1/instances", body.clone()).await.expect(422);
    assert_eq!(reply.body["errors"][0]["field"], "cloud_provider");

    body["cloud_provider"] = json!("gcp");
    body["capacity"] = json!(0);
    let reply = app.post("/v1/instances", body.clone()).await.expect(422);
    assert_eq!(reply.body["errors"][0]["field"], "capacity");

    body["capacity"] = json!("two");
    let reply = app.post("/v1/instances", body.clone()).await.expect(422);
    assert_eq!(reply.body["errors"][0]["field"], "capacity");

    let reply = app
        .request(
            Some(&app.key),
            Method::POST,
            "/v1/instances",
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400);

    let (id, _) = app.running_instance().await;
    let reply = app
        .post(
            &format!("/v1/instances/{id}/capacity"),
            json!({"delta": -1}),
        )
        .await
        .expect(422);
    assert_eq!(reply.body["errors"][0]["field"], "delta");
    let reply = app
        .post(&format!("/v1/instances/{id}/fail"), json!({"reason": " "}))
        .await
        .expect(422);
    assert_eq!(reply.body["errors"][0]["field"], "reason");

    let reply = app.get("/v1/instances?status=sleeping").await.expect(400);
    assert_eq!(reply.body["errors"][0]["field"], "status");
    let reply = app
        .get("/v1/instances?page_token=nonsense")
        .await
        .expect(400);
    assert_eq!(reply.body["errors"][0]["field"], "page_token");
    let reply = app
        .request(
            Some(&app.key),
            Method::GET,
            &format!("/v1/instances/{id}"),
            None,
            &[("x-fleet-position", "soon")],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 400);
}

#[tokio::test]
async fn unknown_and_foreign_instances_are_404_and_credentials_are_checked() {
    let app = TestApp::spawn().await;
    let (id, position) = app.running_instance().await;
    let other = app.api_key("globex", "admin").await;
    let viewer = app.api_key("acme", "viewer").await;

    for path in [
        format!("/v1/instances/{}", uuid::Uuid::now_v7()),
        "/v1/instances/not-a-uuid".to_owned(),
    ] {
        app.get(&path).await.expect(404);
    }
    app.post_empty(&format!("/v1/instances/{}/stop", uuid::Uuid::now_v7()))
        .await
        .expect(404);

    // Another tenant sees nothing of acme's instance, and cannot act on it.
    let path = format!("/v1/instances/{id}");
    let pos = position.to_string();
    let get = |key: &str| {
        let (key, path, pos) = (key.to_owned(), path.clone(), pos.clone());
        let app = &app;
        async move {
            app.request(
                Some(&key),
                Method::GET,
                &path,
                None,
                &[("x-fleet-position", &pos)],
            )
            .await
        }
    };
    assert_eq!(get(&other).await.status.as_u16(), 404);
    let reply = app
        .request(
            Some(&other),
            Method::POST,
            &format!("{path}/stop"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 404);
    let reply = app
        .request(
            Some(&other),
            Method::GET,
            &format!("{path}/events"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 404);
    let list = app
        .request(Some(&other), Method::GET, "/v1/instances", None, &[])
        .await;
    assert_eq!(list.body["items"], json!([]));
    let summary = app
        .request(
            Some(&other),
            Method::GET,
            "/v1/inventory/summary",
            None,
            &[],
        )
        .await;
    assert_eq!(summary.body["total"], 0);

    // A viewer reads but does not write.
    assert_eq!(get(&viewer).await.status.as_u16(), 200);
    let reply = app
        .request(
            Some(&viewer),
            Method::POST,
            &format!("{path}/stop"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 403);

    // No key, a wrong key, a malformed header.
    for key in [None, Some("flk_0000"), Some("not-a-key")] {
        let reply = app
            .request(key, Method::GET, "/v1/instances", None, &[])
            .await;
        assert_eq!(reply.status.as_u16(), 401, "{key:?}");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
}

#[tokio::test]
async fn fifty_concurrent_capacity_changes_all_land_as_one_event_each() {
    let app = TestApp::spawn().await;
    let (id, _) = app.running_instance().await;
    let path = format!("/v1/instances/{id}/capacity");
    let replies =
        futures::future::join_all((0..50).map(|_| app.post(&path, json!({"delta": 1})))).await;
    let mut positions: Vec<u64> = replies
        .into_iter()
        .map(|reply| reply.expect(200).position())
        .collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), 50, "every command has its own event");

    let row = app
        .get_at(&format!("/v1/instances/{id}"), *positions.last().unwrap())
        .await
        .expect(200)
        .body;
    assert_eq!(row["capacity"], 51);
    let history = app
        .get(&format!("/v1/instances/{id}/events"))
        .await
        .expect(200)
        .body;
    assert_eq!(history["items"].as_array().unwrap().len(), 52);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_harmless() {
    let app = TestApp::spawn().await;
    let (id, _) = app.running_instance().await;
    let path = format!("/v1/instances/{id}/capacity");
    let send = |body: serde_json::Value, key: &'static str| {
        let app = &app;
        let path = path.clone();
        async move {
            app.request(
                Some(&app.key),
                Method::POST,
                &path,
                Some(body),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let first = send(json!({"delta": 2}), "k-1").await.expect(200);
    let retry = send(json!({"delta": 2}), "k-1").await.expect(200);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.position(), first.position());
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let reused = send(json!({"delta": 5}), "k-1").await.expect(422);
    assert_eq!(reused.body["errors"][0]["field"], "Idempotency-Key");

    let create = |key: &'static str| {
        let app = &app;
        async move {
            app.request(
                Some(&app.key),
                Method::POST,
                "/v1/instances",
                Some(app.instance_body()),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let a = create("create-1").await.expect(202);
    let b = create("create-1").await.expect(202);
    assert_eq!(
        a.body["id"], b.body["id"],
        "a retried create makes one instance"
    );

    let row = app
        .get_at(&format!("/v1/instances/{id}"), b.position())
        .await
        .expect(200)
        .body;
    assert_eq!(row["capacity"], 3, "the retried +2 counted once");
    let summary = app.get_at("/v1/inventory/summary", b.position()).await.body;
    assert_eq!(summary["total"], 2);
}

#[tokio::test]
async fn a_query_with_a_position_sees_the_write_or_says_it_cannot() {
    let app = TestApp::spawn_with(&[("FLEET_READ_WAIT_MS", "500")]).await;
    for _ in 0..10 {
        let (id, position) = app.create_instance(json!({})).await;
        let row = app
            .get_at(&format!("/v1/instances/{id}"), position)
            .await
            .expect(200)
            .body;
        assert_eq!(row["id"], id.as_str());
    }
    // A position past the end of the stream can never be reached: refused at once.
    let reply = app
        .get_at("/v1/inventory/summary", 2_156_967_810_502_350)
        .await
        .expect(400);
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("past the end of the stream"),
        "{:#}",
        reply.body
    );

    // A position in the stream that the read model has not applied within the wait: 503.
    // Holding the inventory's checkpoint row stops its projector between batches.
    let pool = app.pool().await;
    let mut stall = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM projection_checkpoints WHERE projection = 'inventory' FOR UPDATE")
        .execute(&mut *stall)
        .await
        .unwrap();
    let (id, position) = app.create_instance(json!({})).await;
    let reply = app
        .get_at(&format!("/v1/instances/{id}"), position)
        .await
        .expect(503);
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("has not reached position {position}")));
    assert_eq!(reply.header("retry-after"), Some("1"));
    stall.rollback().await.unwrap();
    let row = app
        .get_at(&format!("/v1/instances/{id}"), position)
        .await
        .expect(200)
        .body;
    assert_eq!(row["id"], id.as_str());
}

#[tokio::test]
async fn lists_filter_and_page_and_the_summary_counts() {
    let app = TestApp::spawn().await;
    let mut position = 0;
    for (provider, region, cell) in [
        ("aws", "us-east-1", "hc-1"),
        ("aws", "eu-west-1", "hc-2"),
        ("gcp", "us-central1", "hc-3"),
        ("azure", "westeurope", "hc-4"),
        ("aws", "us-east-1", "hc-1"),
    ] {
        let (id, _) = app
            .create_instance(
                json!({"cloud_provider": provider, "region": region, "deployment_cell": cell}),
            )
            .await;
        position = app
            .post_empty(&format!("/v1/instances/{id}/ready"))
            .await
            .expect(200)
            .position();
    }
    let (gone, _) = app.create_instance(json!({"cloud_provider": "gcp"})).await;
    position = position.max(
        app.delete(&format!("/v1/instances/{gone}"))
            .await
            .expect(200)
            .position(),
    );

    let aws = app
        .get_at("/v1/instances?cloud_provider=aws", position)
        .await
        .expect(200)
        .body;
    assert_eq!(aws["items"].as_array().unwrap().len(), 3);
    // Deleted instances stay listed (cost and audit need them): two live ones and the gone one.
    let cell = app
        .get("/v1/instances?deployment_cell=hc-1&region=us-east-1")
        .await
        .body;
    assert_eq!(cell["items"].as_array().unwrap().len(), 3);
    let deleted = app.get("/v1/instances?status=deleted").await.body;
    assert_eq!(deleted["items"][0]["id"], gone.as_str());

    // Pages of two walk all six, in creation order, with no repeats.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .get(&format!("/v1/instances?page_size=2&page_token={token}"))
            .await
            .expect(200)
            .body;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_page_token"].as_str() {
            Some(next) => token = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    let summary = app.get("/v1/inventory/summary").await.expect(200).body;
    assert_eq!(summary["total"], 6);
    assert_eq!(summary["live"], 5);
    assert_eq!(summary["by_status"]["running"], 5);
    assert_eq!(summary["by_status"]["deleted"], 1);
    assert_eq!(summary["by_cloud_provider"]["aws"], 3);
    assert_eq!(summary["by_cloud_provider"].get("gcp"), Some(&json!(1)));
    assert_eq!(summary["by_region"]["us-east-1"], 2);
    assert_eq!(summary["by_deployment_cell"]["hc-4"], 1);
}
