//! Hostile callers: what one caller's key, headers or body must never get them.

use fleet_tests::TestApp;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_idempotency_key_replays_only_to_its_caller_and_never_a_secret() {
    let app = TestApp::spawn().await;
    let viewer = app.api_key("acme", "viewer").await;
    let body = json!({"name": "ops", "url": "https://hooks.example/fleet"});
    let key = [("idempotency-key", "channel-1")];
    let created = app
        .request(
            Some(&app.key),
            Method::POST,
            "/v1/notification-channels",
            Some(body.clone()),
            &key,
        )
        .await
        .expect(202);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    // Another key of the tenant sending the same request with the same key is a new request,
    // judged by its own role.
    let replayed_to_viewer = app
        .request(
            Some(&viewer),
            Method::POST,
            "/v1/notification-channels",
            Some(body.clone()),
            &key,
        )
        .await
        .expect(403);
    assert_eq!(replayed_to_viewer.header("idempotent-replayed"), None);
    assert!(!replayed_to_viewer.body.to_string().contains(&secret));

    // The caller's own retry is replayed, without the secret, which was shown once.
    let retry = app
        .request(
            Some(&app.key),
            Method::POST,
            "/v1/notification-channels",
            Some(body),
            &key,
        )
        .await
        .expect(202);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body["id"], created.body["id"]);
    assert!(retry.body["secret"].is_null(), "{:#}", retry.body);

    let pool = app.pool().await;
    let saved: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT response_body FROM idempotency_keys WHERE response_body IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!saved.is_empty());
    for body in saved {
        assert!(
            !String::from_utf8_lossy(&body).contains(&secret),
            "a saved response holds the secret"
        );
    }
}

#[tokio::test]
async fn a_keyed_request_is_buffered_no_further_than_the_body_limit() {
    let app = TestApp::spawn().await;
    let huge = json!({"name": "x".repeat(3 * 1024 * 1024)});
    let reply = app
        .request(
            Some(&app.key),
            Method::POST,
            "/v1/customers",
            Some(huge),
            &[("idempotency-key", "big-1")],
        )
        .await
        .expect(413);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
}

#[tokio::test]
async fn the_audit_export_defuses_formulas_a_caller_typed() {
    let app = TestApp::spawn().await;
    app.request(
        Some(&app.key),
        Method::POST,
        "/v1/customers",
        Some(json!({"name": "Formula Corp", "country": "PT", "email": "f@example.com"})),
        &[("user-agent", "=cmd|'/C calc'!A0")],
    )
    .await
    .expect(202);
    let caught_up = app.caught_up("audit").await;
    let csv = app
        .request(
            Some(&app.key),
            Method::GET,
            "/v1/audit-events/export?format=csv",
            None,
            &[("x-fleet-position", &caught_up.to_string())],
        )
        .await
        .expect(200);
    let text = csv.body.as_str().unwrap();
    assert!(text.contains("'=cmd|'/C calc'!A0"), "{text}");
    assert!(!text.contains(",=cmd"), "a formula reached the CSV as is");
}

/// Creates a key with `fleetd apikey create`; answers its id and the key.
async fn created_key(app: &TestApp, role: &str) -> (String, String) {
    let out = app
        .fleetd(&[
            "apikey", "create", "--tenant", "acme", "--role", role, "--name", "ci",
        ])
        .await;
    let id = out
        .split_whitespace()
        .nth(3)
        .expect("created API key <id> …")
        .to_owned();
    (id, out.lines().last().unwrap().trim().to_owned())
}

async fn status_with(app: &TestApp, key: &str) -> u16 {
    app.request(Some(key), Method::GET, "/v1/instances", None, &[])
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn api_keys_are_listed_revoked_and_rotated_without_logging_anyone_out() {
    let app = TestApp::spawn_with(&[("FLEET_KEY_CACHE_MS", "100")]).await;
    let (id, key) = created_key(&app, "operator").await;
    assert_eq!(status_with(&app, &key).await, 200);

    let listed = app.fleetd(&["apikey", "list", "--tenant", "acme"]).await;
    let row = listed
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} in {listed}"));
    assert!(
        row.contains("operator") && row.contains("ci") && row.ends_with('-'),
        "{row}"
    );
    assert!(!listed.contains(&key), "a listing never shows a key");
    let others = app.fleetd(&["apikey", "list", "--tenant", "globex"]).await;
    assert!(!others.contains(&id));

    // Rotated with a grace: both keys work until it ends, then only the new one.
    let rotated = app
        .fleetd(&["apikey", "rotate", &id, "--grace-seconds", "2"])
        .await;
    let new_key = rotated.lines().last().unwrap().trim().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(
        status_with(&app, &key).await,
        200,
        "the old key works through the grace"
    );
    assert_eq!(status_with(&app, &new_key).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    assert_eq!(status_with(&app, &key).await, 401, "the grace is over");
    assert_eq!(status_with(&app, &new_key).await, 200);

    // Revoked, it stops working within the cache's lifetime.
    let new_id = rotated
        .split_whitespace()
        .nth(3)
        .expect("issued API key <id> …")
        .to_owned();
    app.fleetd(&["apikey", "revoke", &new_id]).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(status_with(&app, &new_key).await, 401);
    let (ok, _, err) = app.fleetd_result(&["apikey", "revoke", &new_id]).await;
    assert!(!ok, "a key is revoked once");
    assert!(err.contains("no working API key"), "{err}");
}

#[tokio::test]
async fn a_credential_past_its_rate_is_told_when_to_come_back() {
    let app = TestApp::spawn_with(&[
        ("FLEET_RATE_LIMIT_PER_SECOND", "2"),
        ("FLEET_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    // The harness's own setup used the key: let its bucket fill again.
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(status_with(&app, &app.key).await);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let limited = app
        .request(Some(&app.key), Method::GET, "/v1/instances", None, &[])
        .await;
    assert_eq!(limited.status.as_u16(), 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(
        limited.header("content-type"),
        Some("application/problem+json")
    );
    // Another credential has its own allowance, and a made-up one is limited like any.
    let other = app.api_key("acme", "viewer").await;
    assert_eq!(status_with(&app, &other).await, 200);
    let mut forged = Vec::new();
    for _ in 0..4 {
        forged.push(status_with(&app, "flk_forged").await);
    }
    assert_eq!(forged, [401, 401, 401, 429]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(status_with(&app, &app.key).await, 200, "the rate refills");
}

/// Every secret a run issues or is given: none is ever in the stream, in the logs or in an
/// answer other than the one that issued it.
#[tokio::test]
async fn secrets_never_reach_the_stream_the_logs_or_an_error() {
    let log = std::env::temp_dir().join(format!("fleetd-{}.log", uuid::Uuid::new_v4()));
    let hook_secret = "hook-secret-that-must-stay-hidden";
    let hooks = format!("billing=acme:{hook_secret}");
    let app = TestApp::spawn_with(&[
        ("FLEET_TEST_STDERR_FILE", log.to_str().unwrap()),
        ("FLEET_LOG", "debug"),
        ("FLEET_INBOUND_HOOKS", &hooks),
    ])
    .await;
    let (_, operator_key) = created_key(&app, "operator").await;
    let channel = app
        .post(
            "/v1/notification-channels",
            json!({"name": "ops", "url": "http://127.0.0.1:9/hook",
                   "secret": "whsec_0123456789abcdef0123456789abcdef"}),
        )
        .await;
    assert_eq!(channel.status.as_u16(), 202, "{}", channel.body);
    let generated = app
        .post(
            "/v1/notification-channels",
            json!({"name": "generated", "url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    let generated_secret = generated.body["secret"].as_str().unwrap().to_owned();
    // A wrong key and a forged signature are refused without being echoed.
    let forged = "flk_forged_key_never_to_be_logged";
    let refused = app
        .request(Some(forged), Method::GET, "/v1/instances", None, &[])
        .await;
    assert_eq!(refused.status.as_u16(), 401);
    assert!(!refused.body.to_string().contains(forged));
    let hook = app
        .http
        .post(format!("{}/2022-09-01-00/fleet/hooks/billing", app.base))
        .header("X-Hub-Signature-256", format!("sha256={}", "00".repeat(32)))
        .body("\"x\"")
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status().as_u16(), 401);
    app.running_instance().await;
    app.all_caught_up().await;

    let secrets = [
        app.key.as_str(),
        operator_key.as_str(),
        "whsec_0123456789abcdef0123456789abcdef",
        generated_secret.as_str(),
        forged,
        hook_secret,
    ];
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("authentication failed"),
        "the refusal is logged"
    );
    let client = async_nats::connect(fleet_tests::nats_url()).await.unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(
            fleet_events::Namespace::parse(&app.namespace)
                .unwrap()
                .domain_stream(),
        )
        .await
        .unwrap();
    let last = app.last_sequence().await;
    let mut recorded = String::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await.unwrap();
        recorded.push_str(&String::from_utf8_lossy(&message.payload));
    }
    assert!(
        recorded.contains("NotificationChannelCreated"),
        "the stream was read"
    );
    for secret in secrets {
        assert!(!recorded.contains(secret), "a secret is on the stream");
        assert!(!logs.contains(secret), "a secret is in the logs");
    }
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn oversized_headers_are_refused_with_431_on_every_api() {
    let app = TestApp::spawn().await;
    let many: Vec<(String, String)> = (0..80)
        .map(|i| (format!("x-filler-{i}"), "1".to_owned()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let long = "a".repeat(20 * 1024);
    for path in [
        "/v1/instances",
        "/api/customers/",
        "/v1/Customers/x/licenses",
    ] {
        let reply = app
            .request(Some(&app.key), Method::GET, path, None, &many)
            .await;
        assert_eq!(reply.status.as_u16(), 431, "{path}: {}", reply.body);
        let reply = app
            .request(
                Some(&app.key),
                Method::GET,
                path,
                None,
                &[("x-long", &long)],
            )
            .await;
        assert_eq!(reply.status.as_u16(), 431, "{path}: {}", reply.body);
    }
    let reply = app
        .request(Some(&app.key), Method::GET, "/v1/instances", None, &many)
        .await;
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("header fields"),
        "{}",
        reply.body
    );
    // Ordinary requests are untouched.
    app.request(
        Some(&app.key),
        Method::GET,
        "/v1/instances",
        None,
        &[("x-long", "b")],
    )
    .await
    .expect(200);
}
