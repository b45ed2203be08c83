//! The projection engine under stress: rebuilds, crashes, bad events, a second process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fleet_tests::{json, TestApp};
use reqwest::Method;

const INSTANCES: &str = "inventory.instances";

/// Some instances in every state, for a rebuild to reproduce.
async fn varied_fleet(app: &TestApp) {
    for i in 0..12 {
        let (id, _) = app
            .create_instance(json!({"name": format!("i-{i}"), "region": format!("r-{}", i % 3)}))
            .await;
        let path = format!("/v1/instances/{id}");
        if i % 4 == 0 {
            continue; // stays deploying
        }
        app.post_empty(&format!("{path}/ready")).await.expect(200);
        match i % 4 {
            1 => {
                app.post(&format!("{path}/capacity"), json!({"delta": i}))
                    .await
                    .expect(200);
            }
            2 => {
                app.post_empty(&format!("{path}/stop")).await.expect(200);
            }
            _ => {
                app.post(&format!("{path}/fail"), json!({"reason": "lost"}))
                    .await
                    .expect(200);
                app.delete(&path).await.expect(200);
            }
        }
    }
}

#[tokio::test]
async fn replay_rebuilds_exactly_the_same_rows_while_serving() {
    let app = TestApp::spawn().await;
    varied_fleet(&app).await;
    let position = app.all_caught_up().await;
    let before = app.dump(INSTANCES, "id").await;
    assert_eq!(before.len(), 12);

    let out = app.fleetd(&["replay", "inventory"]).await;
    assert!(
        out.contains(&format!("rebuilt up to position {position}")),
        "{out}"
    );
    let after = app.dump(INSTANCES, "id").await;
    assert_eq!(before, after);

    // The live projector continues on the swapped-in tables.
    let (id, position) = app.create_instance(json!({})).await;
    app.get_at(&format!("/v1/instances/{id}"), position)
        .await
        .expect(200);
    assert_eq!(app.dump(INSTANCES, "id").await.len(), 13);
}

#[tokio::test]
async fn kill_9_loses_nothing_acknowledged_and_the_read_model_equals_a_rebuild() {
    let mut app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(app.running_instance().await.0);
    }
    let acknowledged: Arc<Vec<AtomicU64>> =
        Arc::new(ids.iter().map(|_| AtomicU64::new(0)).collect());

    // Eight clients keep adding capacity until the server dies under them.
    let clients: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (http, base, key) = (app.http.clone(), app.base.clone(), app.key.clone());
            let (url, acknowledged) =
                (format!("/v1/instances/{id}/capacity"), acknowledged.clone());
            tokio::spawn(async move {
                loop {
                    let sent = http
                        .post(format!("{base}{url}"))
                        .bearer_auth(&key)
                        .json(&json!({"delta": 1}))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status().is_success() => {
                            acknowledged[i].fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(response) => panic!("unexpected {}", response.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.kill9().await;
    for client in clients {
        client.await.expect("client task");
    }
    let total: u64 = acknowledged.iter().map(|a| a.load(Ordering::SeqCst)).sum();
    assert!(total > 50, "the load ran ({total} commands acknowledged)");

    app.start().await;
    app.caught_up("inventory").await;
    for (i, id) in ids.iter().enumerate() {
        let row = app
            .get(&format!("/v1/instances/{id}"))
            .await
            .expect(200)
            .body;
        let history = app.get(&format!("/v1/instances/{id}/events")).await.body;
        let changes = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event_type"] == "InstanceCapacityChanged")
            .count() as i64;
        let acked = acknowledged[i].load(Ordering::SeqCst) as i64;
        // A command in flight at the kill may have landed without its reply: never fewer.
        assert!(
            changes >= acked,
            "instance {i}: {changes} events < {acked} acknowledged"
        );
        assert!(
            changes <= acked + 1,
            "instance {i}: at most one unacknowledged command in flight"
        );
        assert_eq!(row["capacity"].as_i64().unwrap(), 1 + changes);
    }

    let projected = app.dump(INSTANCES, "id").await;
    app.fleetd(&["replay", "inventory"]).await;
    assert_eq!(projected, app.dump(INSTANCES, "id").await);
}

#[tokio::test]
async fn events_the_projection_cannot_apply_are_parked_and_passed() {
    let app = TestApp::spawn().await;
    let garbage = app
        .publish_raw(
            &format!("acme.instance.{}", uuid::Uuid::now_v7()),
            b"{not json".to_vec(),
        )
        .await;
    let unknown = json!({
        "event_id": uuid::Uuid::now_v7(), "event_type": "InstanceTeleported", "schema_version": 1,
        "tenant": "acme", "aggregate_type": "instance", "aggregate_id": uuid::Uuid::now_v7(),
        "occurred_at": "2026-11-23T00:00:00Z", "actor": {"id": "x", "role": "admin", "auth_method": "api_key"},
        "correlation_id": "c", "payload": {}
    });
    let teleported = app
        .publish_raw(
            &format!(
                "acme.instance.{}",
                unknown["aggregate_id"].as_str().unwrap()
            ),
            serde_json::to_vec(&unknown).unwrap(),
        )
        .await;
    // Another aggregate's garbage is none of the inventory's business.
    app.publish_raw("acme.elsewhere.x", b"junk".to_vec()).await;

    let (id, position) = app.create_instance(json!({})).await;
    app.get_at(&format!("/v1/instances/{id}"), position)
        .await
        .expect(200);

    // Each projection parks on its own account. The audit log reads every aggregate: it parks
    // both unreadable messages, and records the well-formed event of an unknown type.
    app.caught_up("audit").await;
    let audit = app
        .dump(
            "(SELECT * FROM projection_parked WHERE projection = 'audit')",
            "sequence",
        )
        .await;
    assert_eq!(audit.len(), 2);
    let parked = app
        .dump(
            "(SELECT * FROM projection_parked WHERE projection = 'inventory')",
            "sequence",
        )
        .await;
    let sequences: Vec<u64> = parked
        .iter()
        .map(|p| p["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, [garbage, teleported]);
    assert!(parked[1]["error"]
        .as_str()
        .unwrap()
        .contains("InstanceTeleported"));
    assert_eq!(parked[1]["event_type"], "InstanceTeleported");

    let metrics = app
        .request(Some(&app.key), Method::GET, "/metrics", None, &[])
        .await
        .body;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("fleet_projection_parked_total{projection=\"inventory\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn another_process_takes_over_the_projection_when_the_leader_dies() {
    let mut app = TestApp::spawn().await;
    let (id, position) = app.running_instance().await;
    app.get_at(&format!("/v1/instances/{id}"), position)
        .await
        .expect(200);
    let (_second, second_base) = app.spawn_process().await;
    app.kill9().await;

    // Commands and queries through the survivor; its projector takes over the lock.
    let url = |path: &str| format!("{second_base}{path}");
    let response = app
        .http
        .post(url(&format!("/v1/instances/{id}/stop")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let position = response.headers()["x-fleet-position"]
        .to_str()
        .unwrap()
        .to_owned();
    let row: serde_json::Value = app
        .http
        .get(url(&format!("/v1/instances/{id}")))
        .bearer_auth(&app.key)
        .header("x-fleet-position", position)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(row["status"], "stopped");
}

/// A NUL character in an event (written before the APIs refused it, or by another writer)
/// can be stored neither as text nor as jsonb: each projection parks the event, with a copy it
/// can store, and moves on. The APIs refuse such a body with a 400.
#[tokio::test]
async fn an_event_holding_a_nul_is_parked_and_passed_and_the_apis_refuse_one() {
    let app = TestApp::spawn().await;
    let created = app
        .history(&format!("/v1/customers/{}", app.customer_id))
        .await
        .remove(0);
    let id = uuid::Uuid::now_v7().to_string();
    let mut event = created.clone();
    for field in ["sequence", "recorded_at"] {
        event.as_object_mut().unwrap().remove(field);
    }
    event["event_id"] = json!(uuid::Uuid::now_v7());
    event["aggregate_id"] = json!(id);
    event["payload"]["profile"]["name"] = json!("Null\u{0}Corp");
    let poisoned = app
        .publish_raw(
            &format!("acme.customer.{id}"),
            serde_json::to_vec(&event).unwrap(),
        )
        .await;

    let after = app.create_customer("After Corp").await;
    app.all_caught_up().await;
    // Every projection passed it (all caught up); those that could not store it parked it,
    // the audit log among them, with the NUL replaced in the copy.
    let parked = app
        .dump(
            "(SELECT projection, sequence, event::text LIKE '%Null\u{FFFD}Corp%' AS kept
              FROM projection_parked)",
            "projection",
        )
        .await;
    let audit = parked
        .iter()
        .find(|p| p["projection"] == "audit")
        .unwrap_or_else(|| panic!("poisoned {poisoned}: {parked:?}"));
    assert_eq!(audit["sequence"], poisoned);
    assert_eq!(audit["kept"], true, "{parked:?}");
    // Operators see it counted beside each projection's position.
    let ready = app.get("/readyz").await.expect(200).body;
    let audit_state = ready["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "audit")
        .unwrap()
        .clone();
    assert_eq!(audit_state["parked"], 1, "{ready}");
    app.get(&format!("/v1/customers/{after}")).await.expect(200);

    for (path, scheme, body) in [
        (
            "/v1/customers",
            "Bearer",
            r#"{"name": "a\u0000b", "country": "PT", "email": "x@y.example"}"#,
        ),
        (
            "/api/marketplace-component-usages/set_usage/",
            "Token",
            r#"{"usages": [{"type": "a\u0000b", "amount": 1}]}"#,
        ),
    ] {
        let reply = app
            .http
            .post(format!("{}{path}", app.base))
            .header("authorization", format!("{scheme} {}", app.key))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = reply.status();
        let text = reply.text().await.unwrap();
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains("NUL"), "{path}: {text}");
    }
}
