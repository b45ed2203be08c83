//! Subscriptions and subscription requests: lifecycles, and the rules that cross aggregates.

use fleet_tests::{json, TestApp};
use reqwest::Method;
use serde_json::Value;

fn types(history: &[Value]) -> Vec<&str> {
    history
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_subscription_goes_through_every_transition() {
    let app = TestApp::spawn().await;
    let id = app.create_subscription(json!({"trial_days": 14})).await;
    let path = format!("/v1/subscriptions/{id}");
    let created = app.get(&path).await;
    let row = if created.status.as_u16() == 200 {
        created.body
    } else {
        app.eventually("the subscription to be projected", || async {
            let reply = app.get(&path).await;
            (reply.status.as_u16() == 200).then_some(reply.body)
        })
        .await
    };
    assert_eq!(row["terms"], "trial");
    assert_eq!(row["marketplace"], "direct");
    assert_eq!(row["max_instances"], -1);
    assert!(row["trial_ends_at"].is_string());

    let conflict = app.post_empty(&format!("{path}/resume")).await.expect(409);
    assert_eq!(conflict.body["current_state"], "active");
    app.post(
        &format!("{path}/suspend"),
        json!({"reason": "payment overdue"}),
    )
    .await
    .expect(200);
    app.post_empty(&format!("{path}/suspend")).await.expect(409);
    app.post_empty(&format!("{path}/resume")).await.expect(200);
    let updated = app
        .request(
            Some(&app.key),
            Method::PATCH,
            &path,
            Some(json!({"plan_id": "pt-premium", "max_instances": 5})),
            &[],
        )
        .await
        .expect(200);
    assert_eq!(updated.body["plan_id"], "pt-premium");
    let missing = app
        .post_empty(&format!("{path}/convert-to-paid"))
        .await
        .expect(422);
    assert_eq!(missing.body["errors"][0]["field"], "payment_profile_id");
    let paid = app
        .post(
            &format!("{path}/convert-to-paid"),
            json!({"payment_profile_id": "pp-77"}),
        )
        .await
        .expect(200);
    assert_eq!(paid.body["terms"], "paid");
    assert_eq!(paid.body["trial_ends_at"], json!(null));
    let again = app
        .post(
            &format!("{path}/convert-to-paid"),
            json!({"payment_profile_id": "pp-77"}),
        )
        .await
        .expect(409);
    assert_eq!(again.body["current_state"], "already paid");

    let terminated = app
        .post(
            &format!("{path}/terminate"),
            json!({"reason": "contract ended"}),
        )
        .await
        .expect(200);
    assert_eq!(terminated.body["status"], "terminated");
    for action in [
        "resume",
        "suspend",
        "cancel",
        "terminate",
        "convert-to-paid",
    ] {
        let reply = app
            .post_empty(&format!("{path}/{action}"))
            .await
            .expect(409);
        assert_eq!(reply.body["current_state"], "terminated", "{action}");
    }
    let row = app.get_at(&path, terminated.position()).await.body;
    assert_eq!(row["status"], "terminated");
    assert!(row["ended_at"].is_string());

    let other = app.create_subscription(json!({})).await;
    let cancelled = app
        .post_empty(&format!("/v1/subscriptions/{other}/cancel"))
        .await
        .expect(200);
    assert_eq!(cancelled.body["status"], "cancelled");

    let summary = app
        .get_at("/v1/inventory/summary", cancelled.position())
        .await
        .body;
    assert_eq!(summary["subscriptions"]["total"], 3);
    assert_eq!(summary["subscriptions"]["by_status"]["active"], 1);
    assert_eq!(summary["subscriptions"]["by_status"]["terminated"], 1);
    assert_eq!(summary["subscriptions"]["by_status"]["cancelled"], 1);
    assert_eq!(summary["subscriptions"]["by_plan"]["pt-standard"], 1);

    for (body, field) in [
        (json!({"terms": "forever"}), "terms"),
        (json!({"marketplace": "ebay"}), "marketplace"),
        (json!({"max_instances": -5}), "max_instances"),
        (json!({"trial_days": 400}), "trial_days"),
        (json!({"terms": "paid"}), "payment_profile_id"),
        (json!({"customer_id": uuid::Uuid::now_v7()}), "customer_id"),
    ] {
        let mut full = json!({"customer_id": app.customer_id, "service_id": "s", "plan_id": "p"});
        fleet_tests::merge(&mut full, body);
        let reply = app.post("/v1/subscriptions", full).await.expect(422);
        assert_eq!(reply.body["errors"][0]["field"], field);
    }
}

#[tokio::test]
async fn a_bulk_update_is_one_event_per_subscription_with_a_result_each() {
    let app = TestApp::spawn().await;
    let a = app.create_subscription(json!({})).await;
    let b = app.create_subscription(json!({})).await;
    let ended = app.create_subscription(json!({})).await;
    app.post_empty(&format!("/v1/subscriptions/{ended}/cancel"))
        .await
        .expect(200);
    let unknown = uuid::Uuid::now_v7().to_string();
    let reply = app
        .post(
            "/v1/subscriptions/bulk-update",
            json!({"subscription_ids": [a, b, unknown, ended],
                   "changes": {"plan_id": "pt-gold", "max_instances": 10}}),
        )
        .await
        .expect(200);
    let results = reply.body["results"].as_array().unwrap();
    let statuses: Vec<u64> = results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 404, 409]);
    assert_ne!(results[0]["position"], results[1]["position"]);
    for id in [&a, &b] {
        let row = app
            .get_at(&format!("/v1/subscriptions/{id}"), reply.position())
            .await
            .body;
        assert_eq!(row["plan_id"], "pt-gold");
        assert_eq!(row["max_instances"], 10);
        let updates = app.history(&format!("/v1/subscriptions/{id}")).await;
        assert_eq!(
            types(&updates),
            ["SubscriptionCreated", "SubscriptionUpdated"]
        );
    }
    app.post(
        "/v1/subscriptions/bulk-update",
        json!({"subscription_ids": [], "changes": {"plan_id": "x"}}),
    )
    .await
    .expect(422);
}

#[tokio::test]
async fn ending_a_subscription_deletes_its_live_instances_once_each() {
    let app = TestApp::spawn().await;
    let doomed = app.create_subscription(json!({})).await;
    let mut body = app.instance_body();
    body["subscription_id"] = json!(doomed);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let reply = app.post("/v1/instances", body.clone()).await.expect(202);
        ids.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    app.post_empty(&format!("/v1/instances/{}/ready", ids[1]))
        .await
        .expect(200);
    app.delete(&format!("/v1/instances/{}", ids[2]))
        .await
        .expect(200);
    let (bystander, _) = app.running_instance().await;

    let terminated = app
        .post_empty(&format!("/v1/subscriptions/{doomed}/terminate"))
        .await
        .expect(200);
    let termination = app.history(&format!("/v1/subscriptions/{doomed}")).await;
    let termination_id = termination.last().unwrap()["event_id"].clone();
    assert_eq!(
        termination.last().unwrap()["sequence"],
        terminated.position()
    );

    for id in &ids {
        let path = format!("/v1/instances/{id}");
        let history = app
            .eventually("the instance to be deleted", || async {
                let history = app.history(&path).await;
                (history.last().unwrap()["event_type"] == "InstanceDeleted").then_some(history)
            })
            .await;
        let deletions: Vec<&Value> = history
            .iter()
            .filter(|e| e["event_type"] == "InstanceDeleted")
            .collect();
        assert_eq!(deletions.len(), 1, "deleted exactly once");
        if id != &ids[2] {
            assert_eq!(deletions[0]["causation_id"], termination_id);
            assert_eq!(deletions[0]["actor"]["id"], "system");
            assert_eq!(
                deletions[0]["correlation_id"],
                termination.last().unwrap()["correlation_id"]
            );
        }
    }
    let untouched = app.history(&format!("/v1/instances/{bystander}")).await;
    assert_eq!(
        untouched.last().unwrap()["event_type"],
        "InstanceProvisioned"
    );
}

#[tokio::test]
async fn an_expired_trial_is_suspended_by_the_system_unless_converted_first() {
    let mut app = TestApp::spawn_with(&[
        ("FLEET_SCHEDULER_INTERVAL_MS", "100"),
        ("FLEET_NO_PROCESS_MANAGERS", "true"),
    ])
    .await;
    // With the scheduler off, two trials end at once; one is converted in time.
    let expiring = app.create_subscription(json!({"trial_days": 0})).await;
    let converted = app.create_subscription(json!({"trial_days": 0})).await;
    let paid = app
        .post(
            &format!("/v1/subscriptions/{converted}/convert-to-paid"),
            json!({"payment_profile_id": "pp-1"}),
        )
        .await
        .expect(200);
    app.get_at(&format!("/v1/subscriptions/{converted}"), paid.position())
        .await
        .expect(200);
    app.kill9().await;
    app.set_env("FLEET_NO_PROCESS_MANAGERS", "false");
    app.start().await;

    let path = format!("/v1/subscriptions/{expiring}");
    let row = app
        .eventually("the trial to expire", || async {
            let row = app.get(&path).await.body;
            (row["status"] == "suspended").then_some(row)
        })
        .await;
    assert_eq!(row["suspension_reason"], "trial_expired");
    let history = app.history(&path).await;
    let expiry = history.last().unwrap();
    assert_eq!(expiry["event_type"], "SubscriptionTrialExpired");
    assert_eq!(expiry["actor"]["id"], "system");
    assert_eq!(expiry["actor"]["name"], "trial-scheduler");

    let resumed = app.post_empty(&format!("{path}/resume")).await.expect(409);
    assert!(resumed.body["detail"]
        .as_str()
        .unwrap()
        .contains("trial expired"));
    let reply = app
        .post(
            &format!("{path}/convert-to-paid"),
            json!({"payment_profile_id": "pp-2"}),
        )
        .await
        .expect(200);
    assert_eq!(reply.body["status"], "active");

    let kept = app
        .get(&format!("/v1/subscriptions/{converted}"))
        .await
        .body;
    assert_eq!(kept["status"], "active");
    let history = app.history(&format!("/v1/subscriptions/{converted}")).await;
    assert_eq!(
        types(&history),
        ["SubscriptionCreated", "SubscriptionConvertedToPaid"]
    );
}

#[tokio::test]
async fn requests_are_approved_denied_or_cancelled_once() {
    let app = &TestApp::spawn().await;
    let request = |plan: &str| {
        let body = json!({"customer_id": app.customer_id, "service_id": "s-pg", "plan_id": plan});
        async move {
            let reply = app
                .post("/v1/subscription-requests", body)
                .await
                .expect(202);
            assert_eq!(reply.body["status"], "pending");
            reply.body["id"].as_str().unwrap().to_owned()
        }
    };
    let denied = request("p-1").await;
    let cancelled = request("p-2").await;
    let approved = request("p-3").await;
    app.caught_up("inventory").await;
    let pending = app
        .get("/v1/subscription-requests?status=pending")
        .await
        .body;
    assert_eq!(pending["items"].as_array().unwrap().len(), 3);

    let path = |id: &str, action: &str| format!("/v1/subscription-requests/{id}/{action}");
    app.post(&path(&denied, "deny"), json!({}))
        .await
        .expect(422);
    app.post(
        &path(&denied, "deny"),
        json!({"reason": "no capacity in region"}),
    )
    .await
    .expect(200);
    let again = app
        .post(&path(&denied, "deny"), json!({"reason": "still no"}))
        .await
        .expect(409);
    assert_eq!(again.body["current_state"], "denied");
    app.post_empty(&path(&cancelled, "cancel"))
        .await
        .expect(200);
    let reply = app
        .post_empty(&path(&cancelled, "approve"))
        .await
        .expect(409);
    assert_eq!(reply.body["current_state"], "cancelled");

    let approve = |key: &'static str| {
        let url = path(&approved, "approve");
        async move {
            app.request(
                Some(&app.key),
                Method::POST,
                &url,
                Some(json!({"terms": "trial", "trial_days": 7, "max_instances": 4})),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let first = approve("approve-1").await.expect(200);
    let retried = approve("approve-1").await.expect(200);
    assert_eq!(first.body, retried.body);
    let subscription_id = first.body["subscription_id"].as_str().unwrap().to_owned();
    let twice = approve("approve-2").await.expect(409);
    assert_eq!(twice.body["current_state"], "approved");

    let subscription = app
        .eventually("the approved subscription to exist", || async {
            let reply = app
                .get(&format!("/v1/subscriptions/{subscription_id}"))
                .await;
            (reply.status.as_u16() == 200).then_some(reply.body)
        })
        .await;
    assert_eq!(subscription["request_id"], approved.as_str());
    assert_eq!(subscription["plan_id"], "p-3");
    assert_eq!(subscription["max_instances"], 4);
    let created = app
        .history(&format!("/v1/subscriptions/{subscription_id}"))
        .await;
    let approval = app
        .history(&format!("/v1/subscription-requests/{approved}"))
        .await;
    assert_eq!(
        created[0]["causation_id"],
        approval.last().unwrap()["event_id"]
    );

    let row = app
        .get(&format!("/v1/subscription-requests/{approved}"))
        .await
        .body;
    assert_eq!(row["status"], "approved");
    assert_eq!(row["subscription_id"], subscription_id.as_str());
    let listed = app
        .get("/v1/subscription-requests?status=denied")
        .await
        .body;
    assert_eq!(listed["items"][0]["id"], denied.as_str());
    assert_eq!(listed["items"][0]["deny_reason"], "no capacity in region");
}

#[tokio::test]
async fn a_crash_between_approval_and_creation_still_makes_exactly_one_subscription() {
    let mut app = TestApp::spawn_with(&[("FLEET_NO_PROCESS_MANAGERS", "true")]).await;
    let request = app
        .post(
            "/v1/subscription-requests",
            json!({"customer_id": app.customer_id, "service_id": "s", "plan_id": "p-crash"}),
        )
        .await
        .expect(202);
    let id = request.body["id"].as_str().unwrap().to_owned();
    let approved = app
        .post_empty(&format!("/v1/subscription-requests/{id}/approve"))
        .await
        .expect(200);
    let subscription_id = approved.body["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The approval is recorded; the process manager that creates the subscription is not
    // running, so the process dies between the two steps.
    app.get_at(
        &format!("/v1/subscription-requests/{id}"),
        approved.position(),
    )
    .await
    .expect(200);
    app.get(&format!("/v1/subscriptions/{subscription_id}"))
        .await
        .expect(404);
    app.kill9().await;

    app.set_env("FLEET_NO_PROCESS_MANAGERS", "false");
    app.start().await;
    let (_second, _) = app.spawn_process().await;
    app.eventually("the subscription to be created", || async {
        let reply = app
            .get(&format!("/v1/subscriptions/{subscription_id}"))
            .await;
        (reply.status.as_u16() == 200).then_some(())
    })
    .await;
    // Restart once more: the process manager replays nothing twice.
    app.kill9().await;
    app.start().await;
    app.caught_up("approved_requests").await;
    app.caught_up("inventory").await;
    let listed = app
        .get(&format!(
            "/v1/subscriptions?customer_id={}&plan_id=p-crash",
            app.customer_id
        ))
        .await
        .body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let history = app
        .history(&format!("/v1/subscriptions/{subscription_id}"))
        .await;
    assert_eq!(types(&history), ["SubscriptionCreated"]);
}
