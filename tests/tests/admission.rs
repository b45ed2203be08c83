//! Instances under subscriptions: active subscriptions only, `max_instances` decided by the
//! subscription from its own history, admissions that survive a crash, and caps set later.

use fleet_tests::{json, TestApp};
use reqwest::Method;

#[tokio::test]
async fn instances_need_an_active_subscription_with_room() {
    let app = TestApp::spawn().await;
    let capped = app.create_subscription(json!({"max_instances": 2})).await;
    let mut body = app.instance_body();
    body["subscription_id"] = json!(capped);
    app.post("/v1/instances", body.clone()).await.expect(202);
    let second = app.post("/v1/instances", body.clone()).await.expect(202);
    let refused = app.post("/v1/instances", body.clone()).await.expect(409);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("at most 2 live instances"));
    // Deleting one makes room again.
    let id = second.body["id"].as_str().unwrap();
    app.delete(&format!("/v1/instances/{id}")).await.expect(200);
    app.post("/v1/instances", body.clone()).await.expect(202);

    // Concurrent creations never exceed the cap.
    let roomy = app.create_subscription(json!({"max_instances": 3})).await;
    body["subscription_id"] = json!(roomy);
    let replies =
        futures::future::join_all((0..8).map(|_| app.post("/v1/instances", body.clone()))).await;
    let created = replies.iter().filter(|r| r.status.as_u16() == 202).count();
    let refused = replies.iter().filter(|r| r.status.as_u16() == 409).count();
    assert_eq!((created, refused), (3, 5));

    let suspended = app.create_subscription(json!({})).await;
    app.post_empty(&format!("/v1/subscriptions/{suspended}/suspend"))
        .await
        .expect(200);
    body["subscription_id"] = json!(suspended);
    let reply = app.post("/v1/instances", body.clone()).await.expect(409);
    assert_eq!(reply.body["current_state"], "suspended");

    body["subscription_id"] = json!(uuid::Uuid::now_v7());
    let reply = app.post("/v1/instances", body.clone()).await.expect(422);
    assert_eq!(reply.body["errors"][0]["field"], "subscription_id");
    body["subscription_id"] = json!(app.subscription_id);
    body["customer_id"] = json!(uuid::Uuid::now_v7());
    let reply = app.post("/v1/instances", body.clone()).await.expect(422);
    assert_eq!(reply.body["errors"][0]["field"], "customer_id");

    // Another tenant's subscription does not exist for its instances.
    let other = app.api_key("globex", "admin").await;
    body["customer_id"] = json!(null);
    let reply = app
        .request(Some(&other), Method::POST, "/v1/instances", Some(body), &[])
        .await;
    assert_eq!(reply.status.as_u16(), 422);
}

#[tokio::test]
async fn an_admitted_instance_is_created_once_even_when_its_creator_died_first() {
    let app = TestApp::spawn().await;
    let capped = app.create_subscription(json!({"max_instances": 1})).await;
    let instance_id = uuid::Uuid::now_v7().to_string();
    // The admission as a process records it just before dying: the place is taken, the
    // instance not yet created.
    let admission = json!({
        "event_id": uuid::Uuid::now_v7(), "event_type": "SubscriptionInstanceAdmitted",
        "schema_version": 1, "tenant": "acme", "aggregate_type": "subscription",
        "aggregate_id": capped, "occurred_at": "2026-12-01T00:00:00Z",
        "actor": {"id": "x", "role": "admin", "auth_method": "api_key"}, "correlation_id": "crash-1",
        "payload": {"instance_id": instance_id, "capacity": 2, "spec": {
            "service_id": "s-postgres", "plan_id": "pt-standard", "cloud_provider": "aws",
            "region": "us-east-1", "deployment_cell": "hc-1", "instance_type": "m5.large",
            "environment_type": "PROD", "customer_id": app.customer_id, "subscription_id": capped}}
    });
    app.publish_raw(
        &format!("acme.subscription.{capped}"),
        serde_json::to_vec(&admission).unwrap(),
    )
    .await;
    let row = app
        .eventually("the admitted instance to be created", || async {
            let reply = app.get(&format!("/v1/instances/{instance_id}")).await;
            (reply.status.as_u16() == 200).then_some(reply.body)
        })
        .await;
    assert_eq!(row["capacity"], 2);
    assert_eq!(row["subscription_id"], capped.as_str());
    let history = app.history(&format!("/v1/instances/{instance_id}")).await;
    assert_eq!(history.len(), 1, "created once: {history:#?}");
    assert_eq!(history[0]["causation_id"], admission["event_id"]);

    // The admitted instance holds the subscription's one place, until it is deleted.
    let mut body = app.instance_body();
    body["subscription_id"] = json!(capped);
    let refused = app.post("/v1/instances", body.clone()).await.expect(409);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("at most 1 live instances"));
    app.delete(&format!("/v1/instances/{instance_id}"))
        .await
        .expect(200);
    app.post("/v1/instances", body).await.expect(202);
    let events = app.history(&format!("/v1/subscriptions/{capped}")).await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "SubscriptionCreated",
            "SubscriptionInstanceAdmitted",
            "SubscriptionInstanceReleased",
            "SubscriptionInstanceAdmitted"
        ]
    );
}

#[tokio::test]
async fn a_cap_set_later_counts_the_instances_live_then() {
    let app = TestApp::spawn().await;
    let open = app.create_subscription(json!({"max_instances": -1})).await;
    let mut body = app.instance_body();
    body["subscription_id"] = json!(open);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let reply = app.post("/v1/instances", body.clone()).await.expect(202);
        ids.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    app.delete(&format!("/v1/instances/{}", ids[0]))
        .await
        .expect(200);
    app.request(
        Some(&app.key),
        Method::PATCH,
        &format!("/v1/subscriptions/{open}"),
        Some(json!({"max_instances": 2})),
        &[],
    )
    .await
    .expect(200);
    let refused = app.post("/v1/instances", body.clone()).await.expect(409);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("at most 2 live instances (max_instances) and has 2"),
        "{:#}",
        refused.body
    );
    app.delete(&format!("/v1/instances/{}", ids[1]))
        .await
        .expect(200);
    app.post("/v1/instances", body.clone()).await.expect(202);
    app.post("/v1/instances", body).await.expect(409);
}
