//! Invoices: generation (idempotent per period, one across processes, monthly by the
//! scheduler), the lifecycle and its refusals, late usage as adjustments, and the queries.

use fleet_tests::billing::{assert_invoices_verify, generate, price_book, record, record_usage};
use fleet_tests::webhook_receiver::receiver;
use fleet_tests::{json, Reply, TestApp};
use reqwest::Method;
use serde_json::Value;

fn id_of(reply: &Reply) -> String {
    reply.body["id"].as_str().expect("an invoice id").to_owned()
}

#[track_caller]
fn refused(reply: Reply, status: &str) {
    let reply = reply.expect(409);
    assert_eq!(reply.body["current_state"], status, "{}", reply.body);
    assert!(
        reply.body["detail"].as_str().unwrap().contains(status),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn the_lifecycle_refuses_every_other_transition_naming_the_status() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    record_usage(&app, vec![record(&sub, "u-1", "unit", "12", "2026-10-05")]).await;

    let first = generate(&app, &app.customer_id, "2026-10")
        .await
        .expect(201);
    let id = id_of(&first);
    assert_eq!(first.body["status"], "draft");
    assert_eq!(first.body["total"], "12.00");
    assert_eq!(
        first.header("location"),
        Some(format!("/v1/invoices/{id}").as_str())
    );
    // The same period again is the same invoice, also with explicit dates.
    let again = generate(&app, &app.customer_id, "2026-10")
        .await
        .expect(200);
    assert_eq!(id_of(&again), id);
    let explicit = app
        .post(
            "/v1/invoices",
            json!({"customer_id": app.customer_id, "start": "2026-10-01", "end": "2026-10-31"}),
        )
        .await
        .expect(200);
    assert_eq!(id_of(&explicit), id);
    // A period overlapping it is refused; one not over yet is invalid.
    app.post(
        "/v1/invoices",
        json!({"customer_id": app.customer_id, "start": "2026-10-15", "end": "2026-11-14"}),
    )
    .await
    .expect(409);
    generate(&app, &app.customer_id, "2027-01")
        .await
        .expect(422);
    generate(&app, &app.customer_id, "2026-13")
        .await
        .expect(422);
    for body in [
        json!({"customer_id": app.customer_id, "start": "2024-01-01", "end": "2026-01-01"}),
        json!({"customer_id": app.customer_id, "period": "2026-10", "start": "2026-10-01"}),
        json!({"customer_id": "not-a-customer", "period": "2026-10"}),
        json!({"customer_id": app.customer_id, "period": "2026-10", "extra": 1}),
    ] {
        let reply = app.post("/v1/invoices", body.clone()).await.expect(422);
        assert!(reply.body["detail"].is_string(), "{body}: {}", reply.body);
    }

    // Subscribers hear of resends.
    let (url, received) = receiver(0).await;
    app.post(
        "/v1/notification-channels",
        json!({"name": "billing", "url": url, "secret": "a-long-enough-shared-secret",
               "event_types": ["InvoiceResent"]}),
    )
    .await
    .expect(202);

    let path = format!("/v1/invoices/{id}");
    let act = |action: &'static str| {
        let path = format!("{path}/{action}");
        let app = &app;
        async move { app.post_empty(&path).await }
    };
    for action in ["pay", "mark-uncollectible", "void", "resend"] {
        refused(act(action).await, "draft");
    }
    let viewer = app.api_key("acme", "viewer").await;
    app.request(
        Some(&viewer),
        Method::POST,
        &format!("{path}/approve"),
        None,
        &[],
    )
    .await
    .expect(403);
    let approved = act("approve").await.expect(200);
    assert_eq!(approved.body["status"], "open");
    assert!(approved.body["approved_at"].is_string());
    let after_approval = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    refused(act("approve").await, "open");
    refused(app.delete(&path).await, "open");
    act("resend").await.expect(200);
    act("mark-uncollectible").await.expect(200);
    for action in ["approve", "mark-uncollectible", "resend"] {
        refused(act(action).await, "uncollectible");
    }
    refused(app.delete(&path).await, "uncollectible");
    let paid = act("pay").await.expect(200);
    assert_eq!(paid.body["status"], "paid");
    for action in ["approve", "pay", "mark-uncollectible", "void"] {
        refused(act(action).await, "paid");
    }
    refused(app.delete(&path).await, "paid");
    act("resend").await.expect(200);
    // A paid invoice stays the period's invoice.
    assert_eq!(
        id_of(
            &generate(&app, &app.customer_id, "2026-10")
                .await
                .expect(200)
        ),
        id
    );

    // Resends are recorded on the stream, where subscribers read them.
    let history = app.history(&path).await;
    let types: Vec<&str> = history
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "InvoiceGenerated",
            "InvoiceApproved",
            "InvoiceResent",
            "InvoiceMarkedUncollectible",
            "InvoicePaid",
            "InvoiceResent"
        ]
    );
    let view = app.get(&path).await.expect(200).body;
    assert_eq!(view["resent"].as_array().unwrap().len(), 2);
    let announced = app
        .eventually("both resends delivered", || async {
            let received = received.lock().unwrap();
            (received.delivered.len() == 2).then(|| received.delivered.clone())
        })
        .await;
    for (_, body) in announced {
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["event_type"], "InvoiceResent", "{event}");
        assert_eq!(event["aggregate_id"], id.as_str());
        assert_eq!(event["payload"]["to"], "ops@acme.example");
    }
    // As it was just after approval.
    let then = app
        .get(&format!("{path}?as_of={after_approval}"))
        .await
        .expect(200)
        .body;
    assert_eq!(then["status"], "open");
    assert!(then.get("paid_at").is_none());

    // Void: open -> void, then the period can be invoiced anew.
    let customer = app.create_customer("Initech").await;
    let sub2 = app
        .create_subscription(json!({"customer_id": customer}))
        .await;
    record_usage(&app, vec![record(&sub2, "u-2", "unit", "3", "2026-10-07")]).await;
    let voided = id_of(&generate(&app, &customer, "2026-10").await.expect(201));
    let vpath = format!("/v1/invoices/{voided}");
    app.post(&format!("{vpath}/approve"), json!({}))
        .await
        .expect(200);
    // uncollectible -> void (open -> void is in the late-usage test).
    app.post_empty(&format!("{vpath}/mark-uncollectible"))
        .await
        .expect(200);
    let void = app
        .post(&format!("{vpath}/void"), json!({"reason": "wrong address"}))
        .await
        .expect(200);
    assert_eq!(void.body["status"], "void");
    assert_eq!(void.body["void_reason"], "wrong address");
    for action in ["approve", "pay", "mark-uncollectible", "void", "resend"] {
        refused(app.post_empty(&format!("{vpath}/{action}")).await, "void");
    }
    refused(app.delete(&vpath).await, "void");
    let anew = generate(&app, &customer, "2026-10").await.expect(201);
    assert_ne!(id_of(&anew), voided);
    assert_eq!(anew.body["total"], "3.00");

    // Delete: drafts only; a deleted invoice is gone and its period free again.
    let draft = id_of(&anew);
    let deleted = app
        .delete(&format!("/v1/invoices/{draft}"))
        .await
        .expect(200);
    assert_eq!(deleted.body["status"], "deleted");
    app.get(&format!("/v1/invoices/{draft}")).await.expect(404);
    app.post_empty(&format!("/v1/invoices/{draft}/approve"))
        .await
        .expect(404);
    let third = generate(&app, &customer, "2026-10").await.expect(201);
    assert_ne!(id_of(&third), draft);
    // open -> paid directly.
    let tpath = format!("/v1/invoices/{}", id_of(&third));
    app.post_empty(&format!("{tpath}/approve"))
        .await
        .expect(200);
    let paid = app.post_empty(&format!("{tpath}/pay")).await.expect(200);
    assert_eq!(paid.body["status"], "paid");

    // Unknown and foreign invoices are not found.
    app.get(&format!("/v1/invoices/{}", uuid::Uuid::now_v7()))
        .await
        .expect(404);
    let globex = app.api_key("globex", "admin").await;
    app.request(Some(&globex), Method::GET, &path, None, &[])
        .await
        .expect(404);
}

#[tokio::test]
async fn late_usage_lands_on_the_next_invoice_as_an_adjustment() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    let customer = app.customer_id.clone();
    record_usage(
        &app,
        vec![
            record(&sub, "s-1", "unit", "10", "2026-09-10"),
            record(&sub, "s-2", "egress-gb", "80", "2026-09-11"),
        ],
    )
    .await;
    let september = generate(&app, &customer, "2026-09").await.expect(201).body;
    let sep_id = september["id"].as_str().unwrap().to_owned();
    app.post_empty(&format!("/v1/invoices/{sep_id}/approve"))
        .await
        .expect(200);
    assert_eq!(september["total"], "17.20");

    // September usage arriving after the invoice, and October's own.
    record_usage(
        &app,
        vec![
            record(&sub, "s-3", "unit", "2.5", "2026-09-28"),
            // 80 GB were billed; 40 more continue the tiers: 20 x 0.09 + 20 x 0.05 = 2.80.
            record(&sub, "s-4", "egress-gb", "40", "2026-09-29"),
            record(&sub, "o-1", "unit", "4", "2026-10-02"),
        ],
    )
    .await;
    let unchanged = app.get(&format!("/v1/invoices/{sep_id}")).await.body;
    assert_eq!(unchanged["total"], "17.20");
    assert_eq!(unchanged["lines"], september["lines"]);

    let october = generate(&app, &customer, "2026-10").await.expect(201).body;
    let lines: Vec<(&str, &str, &str, &str, &str)> = october["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap(),
                l["origin_period"]["start"].as_str().unwrap(),
                l["product"].as_str().unwrap(),
                l["quantity"].as_str().unwrap(),
                l["total"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("usage", "2026-10-01", "unit", "4", "4.00"),
            ("adjustment", "2026-09-01", "egress-gb", "40", "2.80"),
            ("adjustment", "2026-09-01", "unit", "2.5", "2.50"),
        ]
    );
    assert_eq!(october["total"], "9.30");
    // A usage record sent again adds nothing anywhere.
    record_usage(&app, vec![record(&sub, "s-3", "unit", "2.5", "2026-09-28")]).await;
    let oct_id = october["id"].as_str().unwrap().to_owned();
    assert_eq!(
        generate(&app, &customer, "2026-10").await.expect(200).body["total"],
        "9.30"
    );

    // Voiding October gives its usage back: the next October invoice bills it again, once.
    let oct = format!("/v1/invoices/{oct_id}");
    app.post_empty(&format!("{oct}/approve")).await.expect(200);
    app.post_empty(&format!("{oct}/void")).await.expect(200);
    let reissued = generate(&app, &customer, "2026-10").await.expect(201).body;
    assert_eq!(reissued["total"], "9.30");
    assert_eq!(reissued["lines"].as_array().unwrap().len(), 3);

    // The customer's invoices, the last one, and list filters.
    let position = app
        .post_empty(&format!(
            "/v1/invoices/{}/approve",
            reissued["id"].as_str().unwrap()
        ))
        .await
        .expect(200)
        .position();
    let all = app
        .get_at(&format!("/v1/customers/{customer}/invoices"), position)
        .await
        .expect(200)
        .body;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    let last = app
        .get(&format!("/v1/customers/{customer}/invoices/last"))
        .await
        .expect(200)
        .body;
    assert_eq!(last["id"], reissued["id"]);
    let open = app
        .get(&format!(
            "/v1/invoices?status=open&customer_id={customer}&start_date=2026-10-01&end_date=2026-10-31"
        ))
        .await
        .expect(200)
        .body;
    let ids: Vec<&Value> = open["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(ids, [&reissued["id"]]);
    let camel = app
        .get(&format!(
            "/v1/invoices?status=open&customerId={customer}&startDate=2026-10-01"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(camel["items"], open["items"]);
    let void = app.get("/v1/invoices?status=void").await.body;
    assert_eq!(void["items"][0]["id"], oct_id.as_str());
    let none = app.get("/v1/invoices?billing_provider=STRIPE").await.body;
    assert!(none["items"].as_array().unwrap().is_empty());
    let paged = app.get("/v1/invoices?page_size=2").await.body;
    assert_eq!(paged["items"].as_array().unwrap().len(), 2);
    let token = paged["next_page_token"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/invoices?page_size=2&page_token={token}"))
        .await
        .body;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    app.get("/v1/invoices?status=deleted").await.expect(400);
    app.get("/v1/invoices?start_date=2026-10-02&end_date=2026-10-01")
        .await
        .expect(400);
    let stranger = app.create_customer("Nobody").await;
    app.get(&format!("/v1/customers/{stranger}/invoices/last"))
        .await
        .expect(404);
    // Tiers continued across invoices, late usage, a record sent twice and a void: every
    // invoice still re-derives from the streams alone.
    assert_eq!(assert_invoices_verify(&app).await, 3);
}

#[tokio::test]
async fn concurrent_generations_across_processes_make_one_invoice() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    record_usage(&app, vec![record(&sub, "c-1", "unit", "7", "2026-10-05")]).await;
    let (_second, other) = app.spawn_process().await;
    let body = json!({"customer_id": app.customer_id, "period": "2026-10"});
    let requests = (0..12).map(|i| {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            other.clone()
        };
        let request = app
            .http
            .post(format!("{base}/v1/invoices"))
            .bearer_auth(&app.key)
            .json(&body);
        async move {
            let response = request.send().await.expect("sent");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("json");
            (status, body["id"].as_str().map(str::to_owned), body)
        }
    });
    let replies = futures::future::join_all(requests).await;
    let created = replies
        .iter()
        .filter(|(status, _, _)| *status == 201)
        .count();
    assert_eq!(created, 1, "{replies:#?}");
    assert!(
        replies
            .iter()
            .all(|(status, _, _)| *status == 201 || *status == 200),
        "{replies:#?}"
    );
    let first = &replies[0].1;
    assert!(replies.iter().all(|(_, id, _)| id == first), "{replies:#?}");
    let list = app
        .get_at(
            &format!("/v1/customers/{}/invoices", app.customer_id),
            app.caught_up("invoices").await,
        )
        .await
        .body;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["total"], "7.00");
}

#[tokio::test]
async fn the_scheduler_drafts_last_months_invoices_once() {
    use chrono::{Datelike, Months};
    let mut app = TestApp::spawn_with(&[
        ("FLEET_MONTHLY_INVOICES_AFTER_HOURS", "0"),
        ("FLEET_SCHEDULER_INTERVAL_MS", "100"),
    ])
    .await;
    price_book(&app).await;
    let today = chrono::Utc::now().date_naive();
    let this_month = today.with_day(1).unwrap();
    let last_month = this_month - Months::new(1);
    let older = this_month - Months::new(2);
    let sub = app.subscription_id.clone();
    let day = |month: chrono::NaiveDate| (month + chrono::Days::new(4)).to_string();
    record_usage(
        &app,
        vec![
            record(&sub, "m-1", "unit", "5", &day(last_month)),
            record(&sub, "m-2", "unit", "9", &day(older)),
        ],
    )
    .await;
    let customer = app.customer_id.clone();
    let draft = app
        .eventually("last month's draft", || async {
            let list = app
                .get(&format!("/v1/customers/{customer}/invoices"))
                .await
                .body;
            list["items"]
                .as_array()
                .and_then(|items| items.first().cloned())
        })
        .await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["period_start"], last_month.to_string());
    assert_eq!(draft["total"], "5.00");
    let id = draft["id"].as_str().unwrap().to_owned();
    let history = app.history(&format!("/v1/invoices/{id}")).await;
    assert_eq!(history[0]["actor"]["id"], "system");
    assert_eq!(history[0]["actor"]["name"], "invoice-scheduler");

    // Deleted by finance: it stays deleted, even for a scheduler that starts afresh.
    app.delete(&format!("/v1/invoices/{id}")).await.expect(200);
    app.kill9().await;
    app.start().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let position = app.caught_up("invoices").await;
    let list = app
        .get_at(&format!("/v1/customers/{customer}/invoices"), position)
        .await
        .body;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    // The month before was not drafted: it is not the month just ended.
    let older_period = older.format("%Y-%m").to_string();
    assert_eq!(
        generate(&app, &customer, &older_period)
            .await
            .expect(201)
            .body["total"],
        "9.00"
    );
}

/// Usage of a product with no price in force at the window's end is never billed as a silent
/// zero: the usage query flags it, and the invoice is refused naming it, until a price covers
/// it or the caller asks to bill it at zero.
#[tokio::test]
async fn usage_without_a_price_is_flagged_and_refused_not_billed_as_zero() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    // Priced from now on only: October's usage has no price.
    app.post(
        "/v1/products",
        json!({"code": "late", "name": "Late", "category": "compute", "unit": "unit",
               "currency": "CAD", "rate_system": "flat", "unit_price": "2.5"}),
    )
    .await
    .expect(200);
    let sub = app.subscription_id.clone();
    record_usage(
        &app,
        vec![
            record(&sub, "u-1", "unit", "4", "2026-10-10"),
            record(&sub, "u-2", "late", "3", "2026-10-11"),
        ],
    )
    .await;
    let usage = app
        .eventually("the usage is counted", || async {
            let reply = app
                .get(&format!(
                    "/v1/customers/{}/usage?start=2026-10-01&end=2026-10-31",
                    app.customer_id
                ))
                .await
                .expect(200);
            (reply.body["lines"].as_array().unwrap().len() == 2).then_some(reply.body)
        })
        .await;
    let line = |product: &str| {
        usage["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["product"] == product)
            .cloned()
            .unwrap()
    };
    assert_eq!(line("late")["unpriced"], true);
    assert_eq!(line("late")["rate"], Value::Null);
    assert_eq!(line("unit")["unpriced"], false);

    let refused = generate(&app, &app.customer_id, "2026-10").await;
    assert_eq!(refused.status.as_u16(), 409, "{}", refused.body);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("late from 2026-10-01 to 2026-10-31"),
        "{detail}"
    );
    assert!(
        !detail.contains("unit from"),
        "only the unpriced product: {detail}"
    );

    let billed = app
        .post(
            "/v1/invoices",
            json!({"customer_id": app.customer_id, "period": "2026-10",
                   "bill_unpriced_at_zero": true}),
        )
        .await
        .expect(201);
    let lines = billed.body["lines"].as_array().unwrap();
    let late = lines.iter().find(|l| l["product"] == "late").unwrap();
    assert_eq!(late["total"], "0.00");
    assert_eq!(late["rate_system"], Value::Null);
    assert_eq!(billed.body["total"], "4.00");
    assert_eq!(assert_invoices_verify(&app).await, 1);
}
