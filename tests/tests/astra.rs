//! NetApp Astra's Subscription API (004) in its own shape: media types and versions, problem
//! details with string statuses, the collection grammar, PUT read as the changes it makes, the
//! grace before instances stop, and what cancellation and deletion do to the charges.

use fleet_tests::billing::{generate, price_book, record, record_usage};
use fleet_tests::{json, TestApp};
use reqwest::Method;
use serde_json::Value;

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

async fn call(
    app: &TestApp,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", app.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("read");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        body,
    }
}

fn collection(account: &str) -> String {
    format!("/accounts/{account}/core/v1/subscriptions")
}

async fn create(app: &TestApp, account: &str, body: Value) -> Answer {
    call(
        app,
        Some(&app.key),
        Method::POST,
        &collection(account),
        Some(body),
        &[],
    )
    .await
}

async fn get(app: &TestApp, path: &str) -> Answer {
    call(app, Some(&app.key), Method::GET, path, None, &[]).await
}

async fn put(app: &TestApp, path: &str, body: Value) -> Answer {
    call(app, Some(&app.key), Method::PUT, path, Some(body), &[]).await
}

/// Checks the problem's shape and answers its body.
fn problem(answer: &Answer, status: u16, number: u16) -> &Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(
        answer.headers["content-type"], "application/problem+json",
        "{}",
        answer.text
    );
    let body = &answer.body;
    assert_eq!(
        body["status"],
        status.to_string(),
        "status is a string: {body}"
    );
    assert_eq!(
        body["type"],
        format!("https://astra.netapp.io/problems/{number}"),
        "{body}"
    );
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

fn trial() -> Value {
    json!({"type": "application/astra-subscription", "version": "1.2", "terms": "trial"})
}

#[tokio::test]
async fn a_subscription_is_created_read_and_negotiated() {
    let app = TestApp::spawn().await;
    let account = app.customer_id.clone();
    let unauthenticated = call(&app, None, Method::GET, &collection(&account), None, &[]).await;
    assert_eq!(
        problem(&unauthenticated, 401, 3)["title"],
        "Missing bearer token"
    );
    let wrong = call(
        &app,
        Some("fl_bogus"),
        Method::GET,
        &collection(&account),
        None,
        &[],
    )
    .await;
    problem(&wrong, 401, 3);

    let created = create(&app, &account, trial()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let sub = &created.body;
    let id = sub["id"].as_str().unwrap();
    assert_eq!(
        created.headers["location"],
        format!("{}/{id}", collection(&account)).as_str()
    );
    assert_eq!(sub["type"], "application/astra-subscription");
    assert_eq!(sub["version"], "1.2");
    assert_eq!(sub["terms"], "trial");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["marketplace"], "netapp");
    assert_eq!(sub["subscriptionPeriod"], 90);
    assert_eq!(sub["gracePeriod"], 7);
    assert_eq!(sub["reminderBeforePeriod"], 30);
    assert_eq!(sub["customerProfileID"], "");
    assert!(sub.get("paymentExpiry").is_none());
    assert_eq!(sub["metadata"]["labels"], json!([]));
    assert!(sub["metadata"]["creationTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert!(created.text.contains(r#""costPerNamespaceUnit":0"#));

    // The version and media type a client asks for.
    let item = format!("{}/{id}", collection(&account));
    let versioned = call(
        &app,
        Some(&app.key),
        Method::GET,
        &item,
        None,
        &[("accept", "application/astra-subscription+json; version=1.1")],
    )
    .await;
    assert_eq!(versioned.status, 200);
    assert_eq!(
        versioned.headers["content-type"],
        "application/astra-subscription+json"
    );
    assert_eq!(versioned.body["version"], "1.1");
    let json = get(&app, &item).await;
    assert_eq!(json.headers["content-type"], "application/json");
    let refused = call(
        &app,
        Some(&app.key),
        Method::GET,
        &item,
        None,
        &[("accept", "text/html")],
    )
    .await;
    problem(&refused, 406, 13);
    let old = call(
        &app,
        Some(&app.key),
        Method::GET,
        &item,
        None,
        &[("accept", "application/astra-subscription; version=0.9")],
    )
    .await;
    problem(&old, 406, 13);
    let text_body = reqwest::Client::new()
        .post(format!("{}{}", app.base, collection(&account)))
        .bearer_auth(&app.key)
        .header("content-type", "text/plain")
        .body(trial().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(text_body.status().as_u16(), 415);

    // Created in 1.0, read in 1.0 by default.
    let mut v10 = trial();
    v10["version"] = json!("1.0");
    let older = create(&app, &account, v10).await;
    assert_eq!(older.body["version"], "1.0");

    let missing = get(
        &app,
        &format!("{}/{}", collection(&account), uuid::Uuid::now_v7()),
    )
    .await;
    problem(&missing, 404, 1);
    let no_account = get(&app, &collection(&uuid::Uuid::now_v7().to_string())).await;
    problem(&no_account, 404, 2);
    let query = get(&app, &format!("{item}?include=id")).await;
    assert_eq!(
        problem(&query, 400, 5)["invalidParams"][0]["name"],
        "include"
    );
    let document = get(&app, "/accounts/openapi.json").await;
    assert!(document.body["paths"]
        .get("/accounts/{account_id}/core/v1/subscriptions/{subscription_id}")
        .is_some());
}

#[tokio::test]
async fn bad_bodies_name_every_field_at_fault() {
    let app = TestApp::spawn().await;
    let account = app.customer_id.clone();
    let answer = create(
        &app,
        &account,
        json!({"type": "application/astra-app", "version": "2.0", "status": "active",
               "id": "x", "appLimit": 3, "colour": "blue",
               "paymentAddress": {"addressCountry": "FRA", "addressLocality": "Paris"},
               "metadata": {"labels": [], "createdBy": "me"}}),
    )
    .await;
    let body = problem(&answer, 400, 7);
    let invalid = names(&body["invalidFields"]);
    for name in [
        "type",
        "version",
        "terms",
        "status",
        "id",
        "appLimit",
        "colour",
        "paymentAddress.addressCountry",
        "paymentAddress.postalCode",
        "metadata.createdBy",
    ] {
        assert!(invalid.contains(&name.to_owned()), "{name} in {invalid:?}");
    }
    let not_json = call(
        &app,
        Some(&app.key),
        Method::POST,
        &collection(&account),
        None,
        &[("content-type", "application/json")],
    )
    .await;
    problem(&not_json, 400, 7);
    // netapp is NetApp's own channel: paid terms need its payment profile.
    let paid = create(
        &app,
        &account,
        json!({"type": "application/astra-subscription", "version": "1.2", "terms": "paid"}),
    )
    .await;
    assert_eq!(
        problem(&paid, 400, 7)["invalidFields"][0]["name"],
        "paymentProfileID"
    );
    let viewer = app.api_key("acme", "viewer").await;
    let forbidden = call(
        &app,
        Some(&viewer),
        Method::POST,
        &collection(&account),
        Some(trial()),
        &[],
    )
    .await;
    problem(&forbidden, 403, 11);
    // Another tenant's account is not found, never served.
    let other = app.api_key("globex", "admin").await;
    let elsewhere = call(
        &app,
        Some(&other),
        Method::GET,
        &collection(&account),
        None,
        &[],
    )
    .await;
    problem(&elsewhere, 404, 2);
}

#[tokio::test]
async fn the_collection_filters_orders_includes_and_pages() {
    let app = TestApp::spawn().await;
    let account = app.customer_id.clone();
    create(&app, &account, trial()).await;
    let paid = create(
        &app,
        &account,
        json!({"type": "application/astra-subscription", "version": "1.2", "terms": "paid",
               "paymentProfileID": "E7CEB0A9F1BECA32A02493E1B31D5955",
               "customerProfileID": "2157047189", "paymentExpiry": "2027-05-01T00:00:00Z",
               "metadata": {"labels": [{"name": "team", "value": "storage"}]}}),
    )
    .await;
    assert_eq!(paid.status, 201, "{}", paid.text);
    assert!(
        paid.text.contains(r#""costPerNamespaceUnit":0.005"#),
        "{}",
        paid.text
    );
    assert_eq!(paid.body["paymentExpiry"], "2027-05-01T00:00:00Z");
    assert_eq!(paid.body["metadata"]["labels"][0]["value"], "storage");
    create(&app, &account, trial()).await;
    let base = collection(&account);

    let all = get(&app, &base).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["type"], "application/astra-subscriptions");
    assert_eq!(all.body["items"].as_array().unwrap().len(), 3);
    let paid_only = get(
        &app,
        &format!("{base}?filter=terms%20eq%20%27paid%27&include=id,terms"),
    )
    .await;
    assert_eq!(
        paid_only.body["items"],
        json!([[paid.body["id"], "paid"]]),
        "{}",
        paid_only.text
    );
    let cheap = get(
        &app,
        &format!(
            "{base}?filter=costPerNamespaceUnit lt 0.001 and status eq 'active'&include=terms"
        ),
    )
    .await;
    assert_eq!(cheap.body["items"], json!([["trial"], ["trial"]]));
    let ordered = get(&app, &format!("{base}?orderBy=terms desc&include=terms")).await;
    assert_eq!(ordered.body["items"][0], json!(["trial"]));
    assert_eq!(ordered.body["items"][2], json!(["paid"]));
    let first = get(&app, &format!("{base}?limit=2&count=true&include=id")).await;
    assert_eq!(first.body["metadata"]["count"], 3);
    let token = first.body["metadata"]["continue"].as_str().unwrap();
    let rest = get(&app, &format!("{base}?continue={token}&include=id")).await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert!(rest.body["metadata"].get("continue").is_none());
    assert_ne!(rest.body["items"][0], first.body["items"][0]);
    let labelled = get(
        &app,
        &format!("{base}?filter=metadata.creationTimestamp gte '2000-01-01'&count=true&limit=1"),
    )
    .await;
    assert_eq!(labelled.body["metadata"]["count"], 3);

    let bad = get(
        &app,
        &format!("{base}?filter=terms eq paid&limit=0&sort=id"),
    )
    .await;
    let params = names(&problem(&bad, 400, 5)["invalidParams"]);
    assert_eq!(params, ["filter", "limit", "sort"]);
}

#[tokio::test]
async fn a_put_is_the_changes_it_makes_and_refuses_what_it_cannot_change() {
    let app = TestApp::spawn().await;
    let account = app.customer_id.clone();
    let created = create(&app, &account, trial()).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let item = format!("{}/{id}", collection(&account));

    // 004's own example: a partial body that attaches a payment method.
    let attached = put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2",
               "customerProfileID": "2157047189",
               "paymentProfileID": "E7CEB0A9F1BECA32A02493E1B31D5955",
               "paymentExpiry": "2022-05-01T00:00:00Z", "onboardStatus": "success",
               "purchaseOrderNumber": "72384632", "costPerNamespaceUnit": 0.0050}),
    )
    .await;
    assert_eq!(attached.status, 204, "{}", attached.text);
    assert!(attached.text.is_empty());
    let read = get(&app, &item).await;
    assert_eq!(read.body["customerProfileID"], "2157047189");
    assert_eq!(
        read.body["paymentProfileID"],
        "E7CEB0A9F1BECA32A02493E1B31D5955"
    );
    assert_eq!(read.body["onboardStatus"], "success");
    assert_eq!(read.body["purchaseOrderNumber"], "72384632");
    assert!(
        read.text.contains(r#""costPerNamespaceUnit":0.005"#),
        "{}",
        read.text
    );
    assert!(
        read.body.get("paymentExpiry").is_none(),
        "not written for a trial"
    );
    assert!(read.body["metadata"]["modifiedBy"].is_string());

    for (body, field) in [
        (json!({"id": uuid::Uuid::now_v7().to_string()}), "id"),
        (json!({"marketplace": "aws"}), "marketplace"),
        (json!({"subscriptionPeriod": -1}), "subscriptionPeriod"),
    ] {
        let mut full = json!({"type": "application/astra-subscription", "version": "1.2"});
        fleet_tests::merge(&mut full, body);
        let conflict = put(&app, &item, full).await;
        assert_eq!(
            problem(&conflict, 409, 10)["invalidFields"][0]["name"],
            field
        );
    }
    let untyped = put(&app, &item, json!({"terms": "paid"})).await;
    let invalid = names(&problem(&untyped, 400, 7)["invalidFields"]);
    assert_eq!(invalid, ["type", "version"]);
    let bad_cost = put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2",
               "costPerAppUnit": -1, "onboardStatus": "halfway"}),
    )
    .await;
    assert_eq!(
        names(&problem(&bad_cost, 400, 7)["invalidFields"]),
        ["onboardStatus", "costPerAppUnit"]
    );

    // A body that cannot be done in whole changes nothing: the conversion and the onboarding
    // status are refused with the conflicting marketplace.
    let whole = put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2",
               "terms": "paid", "onboardStatus": "failed", "marketplace": "gcp"}),
    )
    .await;
    problem(&whole, 409, 10);
    let read = get(&app, &item).await;
    assert_eq!(read.body["terms"], "trial");
    assert_eq!(read.body["onboardStatus"], "success");

    // Trial to paid, with a change of details and the status it already has.
    let converted = put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2",
               "terms": "paid", "onboardStatus": "failed", "status": "active"}),
    )
    .await;
    assert_eq!(converted.status, 204, "{}", converted.text);
    let read = get(&app, &item).await;
    assert_eq!(read.body["terms"], "paid");
    assert_eq!(read.body["onboardStatus"], "failed");
    assert_eq!(read.body["subscriptionPeriod"], -1);
    assert_eq!(read.body["paymentExpiry"], "2022-05-01T00:00:00Z");
    let back = put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2", "terms": "trial"}),
    )
    .await;
    problem(&back, 409, 10);

    // Cancelled, it cannot be made active again; its record stays until deleted.
    let cancel = put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2", "status": "inactive"}),
    )
    .await;
    assert_eq!(cancel.status, 204);
    assert_eq!(get(&app, &item).await.body["status"], "inactive");
    let revive = put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2", "status": "active"}),
    )
    .await;
    problem(&revive, 409, 10);
    let change_after = put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2", "appLimit": 5}),
    )
    .await;
    problem(&change_after, 409, 10);

    let deleted = call(&app, Some(&app.key), Method::DELETE, &item, None, &[]).await;
    assert_eq!(deleted.status, 204);
    problem(&get(&app, &item).await, 404, 1);
    let again = call(&app, Some(&app.key), Method::DELETE, &item, None, &[]).await;
    problem(&again, 404, 1);
    let events = app.history(&format!("/v1/subscriptions/{id}")).await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "SubscriptionCreated",
            "SubscriptionUpdated",
            "SubscriptionUpdated",
            "SubscriptionConvertedToPaid",
            "SubscriptionCancelled",
            "SubscriptionDeleted"
        ]
    );
}

/// A trial subscription through Astra, with a running instance under it.
async fn trial_with_instance(app: &TestApp, grace: i64) -> (String, String, String) {
    let account = app.customer_id.clone();
    let created = create(app, &account, trial()).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let item = format!("{}/{id}", collection(&account));
    let (instance, _) = app.create_instance(json!({"subscription_id": id})).await;
    app.post_empty(&format!("/v1/instances/{instance}/ready"))
        .await
        .expect(200);
    let graced = put(
        app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2", "gracePeriod": grace}),
    )
    .await;
    assert_eq!(graced.status, 204, "{}", graced.text);
    (id, item, instance)
}

async fn instance_status(app: &TestApp, instance: &str) -> String {
    app.get(&format!("/v1/instances/{instance}"))
        .await
        .expect(200)
        .body["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn instances_run_through_the_grace_and_stop_when_it_ends() {
    let app = TestApp::spawn_with(&[("FLEET_SCHEDULER_INTERVAL_MS", "200")]).await;
    // A cancellation with seven days of grace leaves the instance running.
    let (id, item, instance) = trial_with_instance(&app, 7).await;
    put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2", "status": "inactive"}),
    )
    .await;
    let events = app.history(&format!("/v1/subscriptions/{id}")).await;
    let cancelled = events.last().unwrap();
    assert_eq!(cancelled["event_type"], "SubscriptionCancelled");
    assert!(
        cancelled["payload"]["grace_ends_at"].is_string(),
        "{cancelled}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(instance_status(&app, &instance).await, "running");

    // With no grace (-1, "not applicable"), the instance is stopped once the grace is over.
    let (_, item, instance) = trial_with_instance(&app, -1).await;
    assert_eq!(get(&app, &item).await.body["gracePeriod"], 0);
    put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2", "status": "inactive"}),
    )
    .await;
    app.eventually("the instance stops when the grace ends", || async {
        (instance_status(&app, &instance).await == "stopped").then_some(())
    })
    .await;

    // A trial that expires has its grace too: ended at once here, and the instance stops.
    let (id, item, instance) = trial_with_instance(&app, 0).await;
    put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2", "subscriptionPeriod": 0}),
    )
    .await;
    app.eventually("the trial expires and its grace ends", || async {
        (instance_status(&app, &instance).await == "stopped").then_some(())
    })
    .await;
    assert_eq!(get(&app, &item).await.body["status"], "inactive");
    // An expired trial is resumed by converting it, not by setting it active: the whole PUT
    // is refused, its onboarding change with it.
    let resumed = put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2",
               "onboardStatus": "failed", "status": "active"}),
    )
    .await;
    problem(&resumed, 409, 10);
    assert_eq!(get(&app, &item).await.body["onboardStatus"], "not started");
    let types: Vec<String> = app
        .history(&format!("/v1/subscriptions/{id}"))
        .await
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        types.contains(&"SubscriptionTrialExpired".to_owned()),
        "{types:?}"
    );
    assert!(
        types.contains(&"SubscriptionGraceEnded".to_owned()),
        "{types:?}"
    );
}

#[tokio::test]
async fn the_end_of_a_trial_is_announced_before_it_comes() {
    let app = TestApp::spawn_with(&[("FLEET_SCHEDULER_INTERVAL_MS", "200")]).await;
    let account = app.customer_id.clone();
    let created = create(&app, &account, trial()).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let item = format!("{}/{id}", collection(&account));
    // Ninety days of trial, announced a hundred days before its end: due now.
    put(
        &app,
        &item,
        json!({"type": "application/astra-subscription", "version": "1.2",
               "reminderBeforePeriod": 100}),
    )
    .await;
    let announced = app
        .eventually("the trial's end is announced", || async {
            app.history(&format!("/v1/subscriptions/{id}"))
                .await
                .into_iter()
                .find(|e| e["event_type"] == "SubscriptionTrialEndingAnnounced")
        })
        .await;
    assert!(announced["payload"]["trial_ends_at"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let announcements = app
        .history(&format!("/v1/subscriptions/{id}"))
        .await
        .into_iter()
        .filter(|e| e["event_type"] == "SubscriptionTrialEndingAnnounced")
        .count();
    assert_eq!(announcements, 1, "announced once");
    assert_eq!(get(&app, &item).await.body["status"], "active");
}

#[tokio::test]
async fn cancelled_charges_are_billed_and_deleted_ones_are_not() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let account = app.create_customer("Initech").await;
    let kept = create(
        &app,
        &account,
        json!({"type": "application/astra-subscription", "version": "1.2", "terms": "paid",
               "marketplace": "aws"}),
    )
    .await;
    assert_eq!(kept.status, 201, "{}", kept.text);
    let dropped = create(
        &app,
        &account,
        json!({"type": "application/astra-subscription", "version": "1.2", "terms": "paid",
               "marketplace": "aws"}),
    )
    .await;
    let (kept, dropped) = (
        kept.body["id"].as_str().unwrap().to_owned(),
        dropped.body["id"].as_str().unwrap().to_owned(),
    );
    record_usage(
        &app,
        vec![
            record(&kept, "k-1", "unit", "5", "2026-11-10"),
            record(&dropped, "d-1", "unit", "7", "2026-11-11"),
        ],
    )
    .await;
    let base = collection(&account);
    let cancel = put(
        &app,
        &format!("{base}/{kept}"),
        json!({"type": "application/astra-subscription", "version": "1.2", "status": "inactive"}),
    )
    .await;
    assert_eq!(cancel.status, 204);
    let deleted = call(
        &app,
        Some(&app.key),
        Method::DELETE,
        &format!("{base}/{dropped}"),
        None,
        &[],
    )
    .await;
    assert_eq!(deleted.status, 204);
    let listed = get(&app, &format!("{base}?include=id")).await;
    assert_eq!(listed.body["items"], json!([[kept]]));

    // The cancelled subscription's usage is on the next invoice; the deleted one's is not.
    let invoice = generate(&app, &account, "2026-11").await.expect(201).body;
    assert_eq!(invoice["subtotal"], "5.00", "{invoice:#}");
    let statement = app
        .get(&format!(
            "/v1/customers/{account}/usage?start=2026-11-01&end=2026-11-30"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(statement["subtotal"], invoice["subtotal"]);
    assert_eq!(statement["total"], invoice["total"]);
}
