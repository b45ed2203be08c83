//! The three ways to follow events: webhooks (signed, retried, recorded, replayable), server-
//! sent events, and the documented NATS subjects with their JSON Schemas.

use std::time::Duration;

use axum::http::HeaderMap;
use fleet_tests::webhook_receiver::receiver;
use fleet_tests::{json, TestApp};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::Value;
use sha2::Sha256;

fn verify_signature(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = headers["fleet-signature"].to_str().unwrap();
    let (t, v1) = header.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

#[tokio::test]
async fn webhooks_are_signed_retried_recorded_and_replayable() {
    let app = TestApp::spawn_with(&[("FLEET_WEBHOOK_BACKOFF_MS", "50")]).await;
    let (url, received) = receiver(2).await;
    let secret = "a-long-enough-shared-secret";
    let created = app
        .post(
            "/v1/notification-channels",
            json!({"name": "ops", "url": url, "secret": secret,
                   "event_types": ["InstanceCreated", "InstanceStopped"]}),
        )
        .await
        .expect(202);
    assert_eq!(created.body["secret"], secret, "shown once");
    let channel = created.body["id"].as_str().unwrap().to_owned();
    let history = app
        .history(&format!("/v1/notification-channels/{channel}"))
        .await;
    assert!(
        !history[0].to_string().contains(secret),
        "the secret stays out of the stream"
    );

    let (id, _) = app.running_instance().await;
    app.post_empty(&format!("/v1/instances/{id}/restart"))
        .await
        .expect(200);
    app.post_empty(&format!("/v1/instances/{id}/stop"))
        .await
        .expect(200);

    let delivered = app
        .eventually("two deliveries", || async {
            let received = received.lock().unwrap();
            (received.delivered.len() == 2).then(|| received.delivered.clone())
        })
        .await;
    let mut types = Vec::new();
    for (headers, body) in &delivered {
        assert!(verify_signature(secret, headers, body), "signature");
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(event["aggregate_id"], id.as_str());
        assert_eq!(
            headers["fleet-event-type"].to_str().unwrap(),
            event["event_type"]
        );
        types.push(event["event_type"].as_str().unwrap().to_owned());
    }
    types.sort();
    assert_eq!(
        types,
        ["InstanceCreated", "InstanceStopped"],
        "only the wanted types"
    );

    let deliveries = app
        .eventually("the history to record both", || async {
            let page = app
                .get(&format!("/v1/notification-channels/{channel}/deliveries"))
                .await
                .body;
            let items = page["items"].as_array().unwrap().clone();
            items
                .iter()
                .all(|d| d["status"] == "delivered")
                .then_some(items)
        })
        .await;
    let attempts: Vec<i64> = deliveries
        .iter()
        .map(|d| d["attempts"].as_i64().unwrap())
        .collect();
    assert_eq!(
        attempts.iter().sum::<i64>(),
        4,
        "two failed attempts, then one each: {attempts:?}"
    );
    assert!(deliveries.iter().all(|d| d["last_status_code"] == 200));

    // Any past event can be delivered again.
    let replay = app
        .post(
            &format!("/v1/notification-channels/{channel}/replay"),
            json!({"from_position": 1}),
        )
        .await
        .expect(200);
    assert_eq!(replay.body["enqueued"], 2);
    app.eventually("the replayed deliveries", || async {
        (received.lock().unwrap().delivered.len() == 4).then_some(())
    })
    .await;

    // Deleted: nothing more is delivered.
    app.delete(&format!("/v1/notification-channels/{channel}"))
        .await
        .expect(200);
    let (other, _) = app.create_instance(json!({})).await;
    app.caught_up("notifications").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = received.lock().unwrap();
    assert_eq!(
        received.delivered.len(),
        4,
        "nothing for {other} after deletion"
    );
}

#[tokio::test]
async fn a_dead_endpoint_is_retried_without_holding_anything_up() {
    let app = TestApp::spawn_with(&[
        ("FLEET_WEBHOOK_BACKOFF_MS", "20"),
        ("FLEET_WEBHOOK_MAX_ATTEMPTS", "3"),
    ])
    .await;
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let channel = app
        .post(
            "/v1/notification-channels",
            json!({"name": "dead", "url": format!("http://127.0.0.1:{port}/hook"),
                   "event_types": ["InstanceCreated", "InstanceProvisioned"]}),
        )
        .await
        .expect(202)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        app.running_instance().await;
    }
    let failed = app
        .eventually("the deliveries to be given up", || async {
            let reply = app
                .get(&format!(
                    "/v1/notification-channels/{channel}/deliveries?page_size=100"
                ))
                .await;
            // Until the notifications read model has the new channel, it is not found.
            let items = reply.body["items"].as_array()?.clone();
            (items.len() == 10 && items.iter().all(|d| d["status"] == "failed")).then_some(items)
        })
        .await;
    assert!(failed.iter().all(|d| d["attempts"] == 3));
    assert!(failed.iter().all(|d| d["last_error"].is_string()));

    for (body, field) in [
        (json!({"name": "x", "url": "ftp://x"}), "url"),
        (
            json!({"name": "x", "url": "https://h.example", "event_types": ["Nope"]}),
            "event_types",
        ),
        (
            json!({"name": "x", "url": "https://h.example", "secret": "short"}),
            "secret",
        ),
    ] {
        let reply = app
            .post("/v1/notification-channels", body)
            .await
            .expect(422);
        assert_eq!(reply.body["errors"][0]["field"], field);
    }
    let viewer = app.api_key("acme", "viewer").await;
    let reply = app
        .request(
            Some(&viewer),
            Method::POST,
            "/v1/notification-channels",
            Some(json!({"name": "x", "url": "https://h.example"})),
            &[],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 403);
    let other = app.api_key("globex", "admin").await;
    let reply = app
        .request(
            Some(&other),
            Method::GET,
            &format!("/v1/notification-channels/{channel}"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 404);
}

/// Reads server-sent events until `count` have arrived: (id, event type).
async fn read_sse(response: reqwest::Response, count: usize) -> Vec<(u64, String)> {
    let mut response = response;
    let mut text = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events.len() < count {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("events within 10 s")
            .expect("the stream")
            .expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                block.lines().find_map(|l| {
                    l.strip_prefix(&format!("{name}:"))
                        .map(|v| v.trim().to_owned())
                })
            };
            if let (Some(id), Some(event)) = (field("id"), field("event")) {
                events.push((id.parse().unwrap(), event));
            }
        }
    }
    events
}

#[tokio::test]
async fn server_sent_events_resume_and_stay_within_the_tenant() {
    let app = TestApp::spawn().await;
    let other = app.api_key("globex", "admin").await;
    app.request(
        Some(&other),
        Method::POST,
        "/v1/customers",
        Some(json!({"name": "Globex", "country": "US", "email": "it@globex.example"})),
        &[],
    )
    .await;
    let (id, _) = app.running_instance().await;
    app.post_empty(&format!("/v1/instances/{id}/stop"))
        .await
        .expect(200);
    // The deployment's and the stop's workflows are acme's events too.
    app.all_caught_up().await;

    let open = |query: &str, last_event_id: Option<u64>| {
        let mut request = app
            .http
            .get(format!("{}/v1/events/stream?{query}", app.base))
            .bearer_auth(&app.key);
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last.to_string());
        }
        request.send()
    };
    let all = read_sse(open("from_position=1", None).await.unwrap(), 8).await;
    let (workflows, types): (Vec<&str>, Vec<&str>) = all
        .iter()
        .map(|(_, t)| t.as_str())
        .partition(|t| t.starts_with("Workflow"));
    assert_eq!(workflows.len(), 3, "{all:?}");
    assert_eq!(
        types,
        [
            "CustomerCreated",
            "SubscriptionCreated",
            "InstanceCreated",
            "InstanceProvisioned",
            "InstanceStopped"
        ],
        "acme's events only, in order"
    );
    let filtered = read_sse(
        open(
            "from_position=1&types=InstanceCreated,InstanceStopped",
            None,
        )
        .await
        .unwrap(),
        2,
    )
    .await;
    assert_eq!(filtered[1].1, "InstanceStopped");
    // A reconnecting client resumes after the last id it saw.
    let resumed = read_sse(open("", Some(all[3].0)).await.unwrap(), 1).await;
    assert_eq!(resumed[0], all[4]);

    // New events arrive on an open stream.
    let live = open("", None).await.unwrap();
    app.post_empty(&format!("/v1/instances/{id}/start"))
        .await
        .expect(200);
    let arrived = read_sse(live, 1).await;
    assert_eq!(arrived[0].1, "InstanceStarted");
}

#[tokio::test]
async fn event_schemas_document_every_event_type() {
    let app = TestApp::spawn().await;
    let catalog = app.get("/v1/event-schemas").await.expect(200).body;
    assert_eq!(
        catalog["subjects"],
        "<namespace>.<tenant>.<aggregate_type>.<aggregate_id>"
    );
    let events = catalog["events"].as_object().unwrap();
    assert!(events.len() >= 30, "{} event types", events.len());
    // Every event the system wrote in this test has a schema.
    let (id, _) = app.running_instance().await;
    for event in app.history(&format!("/v1/instances/{id}")).await {
        let schema = &events[event["event_type"].as_str().unwrap()];
        assert_eq!(schema["aggregate_type"], "instance");
        assert!(schema["payload"].is_object());
    }
}

/// A loopback endpoint answering every call with a redirect to `to`.
async fn redirecting(to: &str) -> String {
    let to = to.to_owned();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let to = to.clone();
            async move { axum::response::Redirect::temporary(&to) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn deliveries(app: &TestApp, channel: &str) -> Option<Vec<Value>> {
    let reply = app
        .get(&format!("/v1/notification-channels/{channel}/deliveries"))
        .await;
    reply.body["items"].as_array().cloned()
}

#[tokio::test]
async fn webhook_targets_cannot_reach_inside_and_redirects_are_not_followed() {
    let mut app = TestApp::spawn_with(&[
        ("FLEET_WEBHOOK_ALLOWED_TARGETS", ""),
        ("FLEET_WEBHOOK_BACKOFF_MS", "20"),
        ("FLEET_WEBHOOK_MAX_ATTEMPTS", "1"),
    ])
    .await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/hook",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
    ] {
        let refused = app
            .post(
                "/v1/notification-channels",
                json!({"name": "in", "url": url}),
            )
            .await
            .expect(422);
        assert_eq!(refused.body["errors"][0]["field"], "url", "{url}");
    }

    // Allowed when the channel was made, refused at delivery once the allowance is gone: the
    // check is made again where the connection is.
    let (url, received) = receiver(0).await;
    app.set_env("FLEET_WEBHOOK_ALLOWED_TARGETS", "127.0.0.1");
    app.kill9().await;
    app.start().await;
    let channel = app
        .post(
            "/v1/notification-channels",
            json!({"name": "once allowed", "url": url, "event_types": ["InstanceCreated"]}),
        )
        .await
        .expect(202);
    let channel = channel.body["id"].as_str().unwrap().to_owned();
    // The redirect leads inside; it is recorded as a failure, never followed.
    let bouncing = redirecting(&url).await;
    let redirected = app
        .post(
            "/v1/notification-channels",
            json!({"name": "bounce", "url": bouncing, "event_types": ["InstanceCreated"]}),
        )
        .await
        .expect(202);
    let redirected = redirected.body["id"].as_str().unwrap().to_owned();
    app.caught_up("notifications").await;
    app.set_env("FLEET_WEBHOOK_ALLOWED_TARGETS", "");
    app.kill9().await;
    app.start().await;
    app.create_instance(json!({})).await;
    let failed = app
        .eventually("the inward delivery is refused", || async {
            deliveries(&app, &channel)
                .await
                .filter(|d| d.len() == 1 && d[0]["status"] == "failed")
        })
        .await;
    assert!(
        failed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("internal address"),
        "{failed:?}"
    );
    let bounced = app
        .eventually("the redirected delivery fails", || async {
            deliveries(&app, &redirected)
                .await
                .filter(|d| d.len() == 1 && d[0]["status"] == "failed")
        })
        .await;
    // Refused before any connection: the bouncing endpoint is on loopback too.
    assert!(bounced[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("internal address"));
    assert_eq!(received.lock().unwrap().calls, 0, "nothing reached inside");
}

#[tokio::test]
async fn a_redirect_is_a_failed_delivery() {
    let app = TestApp::spawn_with(&[("FLEET_WEBHOOK_MAX_ATTEMPTS", "1")]).await;
    let (url, received) = receiver(0).await;
    let bouncing = redirecting(&url).await;
    let channel = app
        .post(
            "/v1/notification-channels",
            json!({"name": "bounce", "url": bouncing, "event_types": ["InstanceCreated"]}),
        )
        .await
        .expect(202);
    let channel = channel.body["id"].as_str().unwrap().to_owned();
    app.create_instance(json!({})).await;
    let failed = app
        .eventually("the redirected delivery fails", || async {
            deliveries(&app, &channel)
                .await
                .filter(|d| d.len() == 1 && d[0]["status"] == "failed")
        })
        .await;
    assert_eq!(failed[0]["last_status_code"], 307);
    assert!(failed[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("redirects are not followed"));
    assert_eq!(
        received.lock().unwrap().calls,
        0,
        "the signed body was not resent"
    );
}

#[tokio::test]
async fn a_credential_holds_a_bounded_number_of_event_streams() {
    let app = TestApp::spawn().await;
    let open = || {
        app.http
            .get(format!("{}/v1/events/stream", app.base))
            .bearer_auth(&app.key)
            .send()
    };
    let mut held = Vec::new();
    for _ in 0..10 {
        let stream = open().await.unwrap();
        assert_eq!(stream.status().as_u16(), 200);
        held.push(stream);
    }
    let refused = open().await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("10 event streams"),
        "{body}"
    );
    // Another credential of the tenant has places of its own.
    let other = app.api_key("acme", "viewer").await;
    let stream = app
        .http
        .get(format!("{}/v1/events/stream", app.base))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    drop(held);
}
