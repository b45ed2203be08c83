//! Usage: exactly-once counting, per-record rejection, windows and days, rated customer usage.

use fleet_tests::{json, TestApp};
use serde_json::Value;

async fn price_book(app: &TestApp) {
    app.post("/v1/currencies", json!({"code": "EUR", "main": true}))
        .await
        .expect(200);
    app.post(
        "/v1/products",
        json!({"code": "vcpu-hour", "name": "vCPU hour", "category": "compute", "unit": "hour",
               "currency": "EUR", "rate_system": "flat", "unit_price": "0.0415",
               "effective_from": "2026-01-01T00:00:00Z"}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/products",
        json!({"code": "egress-gb", "name": "Egress", "category": "network", "unit": "GB",
               "currency": "EUR", "rate_system": "tiered", "effective_from": "2026-01-01T00:00:00Z",
               "tiers": [{"up_to": "100", "unit_price": "0.09"}, {"unit_price": "0.05"}]}),
    )
    .await
    .expect(200);
}

fn record(app: &TestApp, id: &str, product: &str, quantity: &str, day: &str) -> Value {
    json!({"id": id, "subscription_id": app.subscription_id, "product": product,
           "quantity": quantity, "occurred_at": format!("{day}T12:00:00Z"),
           "project_id": "proj-a", "provider_id": "aws"})
}

#[tokio::test]
async fn usage_counts_once_ever_and_rejects_record_by_record() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let other = app.api_key("globex", "admin").await;
    let _ = other;
    let mut records = vec![
        record(&app, "r-1", "vcpu-hour", "10", "2026-11-02"),
        record(&app, "r-2", "vcpu-hour", "2.5", "2026-11-02"),
        record(&app, "r-3", "egress-gb", "120", "2026-11-03"),
        record(&app, "r-1", "vcpu-hour", "10", "2026-11-02"),
        record(&app, "r-4", "vcpu-hour", "-1", "2026-11-02"),
        record(&app, "r-5", "vcpu-hour", "NaN", "2026-11-02"),
        record(&app, "r-6", "unknown-sku", "1", "2026-11-02"),
        record(&app, "r-8", "vcpu-hour", "1", "2099-11-02"),
    ];
    let mut foreign = record(&app, "r-7", "vcpu-hour", "1", "2026-11-02");
    foreign["subscription_id"] = json!(uuid::Uuid::now_v7());
    records.push(foreign);
    let mut float = record(&app, "r-9", "vcpu-hour", "1", "2026-11-02");
    float["quantity"] = json!(1.5);
    records.push(float);
    // More than one record may count: it would outgrow what an invoice can price.
    records.push(record(
        &app,
        "r-10",
        "vcpu-hour",
        "1000000000001",
        "2026-11-02",
    ));

    let reply = app
        .post("/v1/usage", json!({"records": records}))
        .await
        .expect(202);
    assert_eq!(reply.body["accepted"], 3);
    assert_eq!(reply.body["duplicates"], json!(["r-1"]));
    let rejected: Vec<(&str, &str)> = reply.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        [
            ("r-4", "quantity"),
            ("r-5", "quantity"),
            ("r-6", "product"),
            ("r-8", "occurred_at"),
            ("r-7", "subscription_id"),
            ("r-9", "quantity"),
            ("r-10", "quantity"),
        ]
    );

    // The same records again, at once and after they were counted: nothing is added. (A retry
    // racing the first batch may be reported accepted; it is still counted once.)
    let retry = app
        .post("/v1/usage", json!({"records": [record(&app, "r-1", "vcpu-hour", "10", "2026-11-02"),
                                              record(&app, "r-3", "egress-gb", "120", "2026-11-03")]}))
        .await
        .expect(202);
    let path = format!(
        "/v1/subscriptions/{}/usage?start=2026-11-01&end=2026-11-30",
        app.subscription_id
    );
    app.get_at(&path, retry.position().max(reply.position()))
        .await
        .expect(200);
    let later = app
        .post(
            "/v1/usage",
            json!({"records": [record(&app, "r-1", "vcpu-hour", "10", "2026-11-02")]}),
        )
        .await
        .expect(202);
    assert_eq!(later.body["accepted"], 0);
    assert_eq!(later.body["duplicates"], json!(["r-1"]));

    let usage = app.get(&path).await.expect(200).body;
    assert_eq!(
        usage["totals"],
        json!([{"product": "egress-gb", "quantity": "120"}, {"product": "vcpu-hour", "quantity": "12.5"}])
    );
    let daily = app
        .get(&format!(
            "/v1/subscriptions/{}/usage/daily?start=2026-11-01&end=2026-11-30",
            app.subscription_id
        ))
        .await
        .body;
    assert_eq!(
        daily["items"],
        json!([{"day": "2026-11-02", "product": "vcpu-hour", "quantity": "12.5"},
               {"day": "2026-11-03", "product": "egress-gb", "quantity": "120"}])
    );
    let first_day = app
        .get(&format!(
            "/v1/subscriptions/{}/usage?start=2026-11-03&end=2026-11-03",
            app.subscription_id
        ))
        .await
        .body;
    assert_eq!(first_day["totals"].as_array().unwrap().len(), 1);

    // A late record counts in the period it occurred in.
    let late = app
        .post(
            "/v1/usage",
            json!({"records": [record(&app, "r-late", "vcpu-hour", "4", "2026-10-31")]}),
        )
        .await
        .expect(202);
    let october = app
        .get_at(
            &format!(
                "/v1/subscriptions/{}/usage?start=2026-10-01&end=2026-10-31",
                app.subscription_id
            ),
            late.position(),
        )
        .await
        .body;
    assert_eq!(
        october["totals"],
        json!([{"product": "vcpu-hour", "quantity": "4"}])
    );

    app.post("/v1/usage", json!({"records": []}))
        .await
        .expect(422);
    app.get(&format!(
        "/v1/subscriptions/{}/usage?start=2026-12-01&end=2026-11-01",
        app.subscription_id
    ))
    .await
    .expect(400);
}

/// The API keeps the ids it knows out of a batch, but a message on the stream can still repeat
/// one (a retry racing its original, a resend after a crash): the projection counts the
/// repeated record once and the new ones beside it, in the same message.
#[tokio::test]
async fn a_message_repeating_a_counted_record_adds_only_its_new_records() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let first = app
        .post(
            "/v1/usage",
            json!({"records": [record(&app, "r-1", "vcpu-hour", "10", "2026-11-02")]}),
        )
        .await
        .expect(202);
    let path = format!(
        "/v1/subscriptions/{}/usage?start=2026-11-01&end=2026-11-30",
        app.subscription_id
    );
    app.get_at(&path, first.position()).await.expect(200);

    let counted = |id: &str, quantity: &str| {
        json!({"id": id, "subscription_id": app.subscription_id, "customer_id": app.customer_id,
               "product": "vcpu-hour", "quantity": quantity, "occurred_at": "2026-11-02T12:00:00Z",
               "project_id": "proj-a", "provider_id": "aws"})
    };
    // Enough records for the projection to try the plain insert first, which the repeated id
    // makes fail: the batch must be inserted again, carefully.
    let mut records = vec![counted("r-1", "10")];
    records.extend((2..=100).map(|i| counted(&format!("r-{i}"), "1.5")));
    let envelope = json!({
        "event_id": uuid::Uuid::now_v7(), "event_type": "UsageRecorded", "schema_version": 1,
        "tenant": "acme", "aggregate_type": "usage", "aggregate_id": "resent",
        "occurred_at": "2026-11-02T12:05:00Z",
        "actor": {"id": "a-test", "role": "admin", "auth_method": "api_key"},
        "correlation_id": "resent",
        "payload": {"records": records}
    });
    let client = app.services.connect_nats().await.expect("nats");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Fleet-Event-Type", "UsageRecorded");
    headers.insert("Fleet-Tenant", "acme");
    headers.insert("Fleet-Aggregate-Type", "usage");
    let position = async_nats::jetstream::new(client)
        .publish_with_headers(
            format!("{}-usage.acme", app.namespace),
            headers,
            serde_json::to_vec(&envelope).unwrap().into(),
        )
        .await
        .expect("publish")
        .await
        .expect("ack")
        .sequence;

    let usage = app.get_at(&path, position).await.expect(200).body;
    assert_eq!(
        usage["totals"],
        json!([{"product": "vcpu-hour", "quantity": "158.5"}])
    );
    let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_parked")
        .fetch_one(&app.pool().await)
        .await
        .expect("parked events");
    assert_eq!(parked, 0, "the resent message was applied, not parked");
}

#[tokio::test]
async fn a_customer_s_usage_is_split_by_provider_and_project_and_rated_exactly() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let mut other_project = record(&app, "e-2", "egress-gb", "30", "2026-11-05");
    other_project["project_id"] = json!("proj-b");
    let reply = app
        .post(
            "/v1/usage",
            json!({"records": [
                record(&app, "c-1", "vcpu-hour", "720", "2026-11-01"),
                record(&app, "c-2", "vcpu-hour", "0.5", "2026-11-02"),
                record(&app, "e-1", "egress-gb", "150.5", "2026-11-04"),
                other_project,
            ]}),
        )
        .await
        .expect(202);
    let usage = app
        .get_at(
            &format!(
                "/v1/customers/{}/usage?start=2026-11-01&end=2026-11-30",
                app.customer_id
            ),
            reply.position(),
        )
        .await
        .expect(200)
        .body;
    let lines = usage["lines"].as_array().unwrap();
    let line = |project: &str, product: &str| {
        lines
            .iter()
            .find(|l| l["project_id"] == project && l["product"] == product)
            .unwrap_or_else(|| panic!("{project} {product} in {usage:#}"))
            .clone()
    };
    // 720.5 h x 0.0415 = 29.90075 -> 29.90
    assert_eq!(line("proj-a", "vcpu-hour")["total"], "29.90");
    assert_eq!(line("proj-a", "vcpu-hour")["quantity"], "720.5");
    // 100 x 0.09 + 50.5 x 0.05 = 9 + 2.525 = 11.525 -> 11.53
    assert_eq!(line("proj-a", "egress-gb")["total"], "11.53");
    // 30 x 0.09 = 2.70
    assert_eq!(line("proj-b", "egress-gb")["total"], "2.70");
    assert_eq!(usage["subtotal"], "44.13");
    assert_eq!(usage["total"], "44.13");
    assert_eq!(usage["currency"], "EUR");
    assert_eq!(line("proj-a", "egress-gb")["provider_id"], "aws");
}

/// Hours between two RFC 3339 instants, to the microsecond, at six decimal places.
fn hours(from: &Value, to: &Value) -> rust_decimal::Decimal {
    let parse = |v: &Value| chrono_like_micros(v.as_str().unwrap());
    let micros = parse(to) - parse(from);
    (rust_decimal::Decimal::from(micros) / rust_decimal::Decimal::from(3_600_000_000i64))
        .round_dp(6)
}

/// Microseconds since the epoch of an RFC 3339 UTC instant (as the API writes them).
fn chrono_like_micros(text: &str) -> i64 {
    let client_side: sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc> =
        text.parse().unwrap();
    client_side.timestamp_micros()
}

#[tokio::test]
async fn running_instances_accrue_instance_hours_to_their_subscription() {
    let app = TestApp::spawn().await;
    let (id, _) = app.running_instance().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.post(&format!("/v1/instances/{id}/capacity"), json!({"delta": 2}))
        .await
        .expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.post_empty(&format!("/v1/instances/{id}/stop"))
        .await
        .expect(200);
    let history = app.history(&format!("/v1/instances/{id}")).await;
    let at = |i: usize| history[i]["occurred_at"].clone();
    // Running at capacity 1 from "provisioned" to the change, then at 3 until "stopped".
    let expected = hours(&at(1), &at(2)) + hours(&at(2), &at(3)) * rust_decimal::Decimal::from(3);

    let path = format!("/v1/subscriptions/{}/usage", app.subscription_id);
    let recorded = app
        .eventually("the uptime to be recorded", || async {
            let usage = app.get(&path).await.body;
            let total = usage["totals"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["product"] == "instance_hours")
                .map(|t| {
                    t["quantity"]
                        .as_str()
                        .unwrap()
                        .parse::<rust_decimal::Decimal>()
                        .unwrap()
                });
            total.filter(|q| *q == expected)
        })
        .await;
    assert!(recorded > rust_decimal::Decimal::ZERO);

    // A running instance's open interval counts up to now, without a record yet.
    app.post_empty(&format!("/v1/instances/{id}/start"))
        .await
        .expect(200);
    let growing = app
        .eventually("the open interval to count", || async {
            let usage = app.get(&path).await.body;
            let total = usage["totals"][0]["quantity"]
                .as_str()?
                .parse::<rust_decimal::Decimal>()
                .ok()?;
            (total > expected).then_some(total)
        })
        .await;
    assert!(growing > expected);
}

#[tokio::test]
async fn kill_9_in_the_middle_of_ingestion_then_retrying_everything_counts_each_record_once() {
    let mut app = TestApp::spawn().await;
    price_book(&app).await;
    let batches: Vec<Value> = (0..20)
        .map(|b| {
            let records: Vec<Value> = (0..500)
                .map(|i| record(&app, &format!("k-{b}-{i}"), "vcpu-hour", "1", "2026-11-10"))
                .collect();
            json!({"records": records})
        })
        .collect();
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let send_all = |base: String, key: String, http: reqwest::Client, batches: Vec<Value>| {
        let acked = acked.clone();
        async move {
            let mut sent = 0;
            for batch in batches {
                match http
                    .post(format!("{base}/v1/usage"))
                    .bearer_auth(&key)
                    .json(&batch)
                    .send()
                    .await
                {
                    Ok(response) if response.status().as_u16() == 202 => {
                        sent += 1;
                        acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
            sent
        }
    };
    let sender = tokio::spawn(send_all(
        app.base.clone(),
        app.key.clone(),
        app.http.clone(),
        batches.clone(),
    ));
    // Kill once a few batches are in: by count, not by time, whatever the machine's speed.
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    app.kill9().await;
    let acknowledged = sender.await.unwrap();
    assert!(
        acknowledged < 20,
        "the kill came in the middle ({acknowledged} of 20 acknowledged)"
    );

    app.start().await;
    // The client retries every batch, acknowledged or not.
    let resent = send_all(app.base.clone(), app.key.clone(), app.http.clone(), batches).await;
    assert_eq!(resent, 20);
    let path = format!(
        "/v1/subscriptions/{}/usage?start=2026-11-10&end=2026-11-10",
        app.subscription_id
    );
    app.eventually("every record to be counted", || async {
        let usage = app.get(&path).await.body;
        (usage["totals"][0]["quantity"] == "10000").then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let usage = app.get(&path).await.body;
    assert_eq!(usage["totals"][0]["quantity"], "10000", "and not one more");
}

/// Uptime is recorded through the same write path as any fact: caused by the event that
/// closed the interval, in its correlation, by the system.
#[tokio::test]
async fn uptime_facts_name_the_event_that_caused_them() {
    let app = TestApp::spawn().await;
    let (id, _) = app.running_instance().await;
    // Hours are kept to six decimals (3.6 ms): an instance stopped a millisecond after it
    // started accrues nothing, and records nothing.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    app.request(
        Some(&app.key),
        reqwest::Method::POST,
        &format!("/v1/instances/{id}/stop"),
        None,
        &[("x-correlation-id", "stop-77")],
    )
    .await
    .expect(200);
    let history = app.history(&format!("/v1/instances/{id}")).await;
    let stop = history.last().unwrap().clone();
    assert_eq!(stop["event_type"], "InstanceStopped");

    let client = async_nats::connect(fleet_tests::nats_url()).await.unwrap();
    let stream = async_nats::jetstream::new(client)
        .get_stream(
            fleet_events::Namespace::parse(&app.namespace)
                .unwrap()
                .usage_stream(),
        )
        .await
        .unwrap();
    let facts: Vec<Value> = app
        .eventually("the uptime and its cost to be recorded", || {
            let mut stream = stream.clone();
            async move {
                let last = stream.info().await.ok()?.state.last_sequence;
                let mut facts = Vec::new();
                for sequence in 1..=last {
                    let message = stream.get_raw_message(sequence).await.ok()?;
                    facts.push(serde_json::from_slice::<Value>(&message.payload).ok()?);
                }
                (facts.len() >= 2).then_some(facts)
            }
        })
        .await;
    let types: Vec<&str> = facts
        .iter()
        .map(|f| f["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["UsageRecorded", "CostRecorded"]);
    for fact in &facts {
        assert_eq!(fact["causation_id"], stop["event_id"], "{fact:#}");
        assert_eq!(fact["correlation_id"], "stop-77", "{fact:#}");
        assert_eq!(fact["actor"]["role"], "system", "{fact:#}");
    }
}
