//! Ormuco's reseller Billing API (001) in its own shape: `X-Reseller-Api-Key`, its paths, its
//! number and date formats, and its statements' money checked against the native API.

use fleet_tests::billing::{generate, price_book, record, record_usage, set_terms};
use fleet_tests::{json, TestApp};
use reqwest::Method;
use serde_json::Value;

const BASE: &str = "/reseller/billing/v1";

/// A raw call: the status and the body's text, so numbers are seen as written.
async fn call(
    base: &str,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut request = reqwest::Client::new().request(method, format!("{base}{BASE}{path}"));
    if let Some(key) = key {
        request = request.header("X-Reseller-Api-Key", key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("read"))
}

async fn ok(app: &TestApp, method: Method, path: &str, body: Option<&str>) -> (String, Value) {
    let (status, text) = call(&app.base, Some(&app.key), method, path, body).await;
    assert_eq!(status, 200, "{path}: {text}");
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (text, value)
}

async fn failure(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&str>,
    status: u16,
) -> Value {
    let (got, text) = call(&app.base, Some(&app.key), method, path, body).await;
    assert_eq!(got, status, "{path}: {text}");
    let value: Value = serde_json::from_str(&text).expect("an error body");
    assert_eq!(value["status"], status, "{value}");
    assert!(value["message"].as_str().is_some_and(|m| !m.is_empty()));
    value
}

#[tokio::test]
async fn the_key_header_is_required_and_must_be_known() {
    let app = TestApp::spawn().await;
    let (status, text) = call(&app.base, None, Method::GET, "/currencies/", None).await;
    assert_eq!(status, 401);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "UNAUTHORIZED");
    let (status, _) = call(
        &app.base,
        Some("fl_nope"),
        Method::GET,
        "/currencies/",
        None,
    )
    .await;
    assert_eq!(status, 401);
    // A bearer header is not Ormuco's way.
    let reply = app
        .request(
            Some(&app.key),
            Method::GET,
            &format!("{BASE}/currencies/"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, 401);
    ok(&app, Method::GET, "/currencies/", None).await;
    failure(&app, Method::GET, "/no-such-thing", None, 404).await;
    let (_, document) = ok(&app, Method::GET, "/openapi.json", None).await;
    for path in [
        "/reseller/billing/v1/currencies/",
        "/reseller/billing/v1/products/",
        "/reseller/billing/v1/report/",
        "/reseller/billing/v1/clients/{client_id}/usage/",
        "/reseller/billing/v1/clients/{client_id}/providers/{provider_id}/usage/",
        "/reseller/billing/v1/clients/{client_id}/projects/{project_id}/usage/",
        "/reseller/billing/v1/clients/{client_id}/invoices/",
        "/reseller/billing/v1/clients/{client_id}/invoices/last/",
        "/reseller/billing/v1/clients/{client_id}/invoices/{invoice_id}/",
        "/reseller/billing/v1/products/{product_uuid}/metadata/",
        "/reseller/billing/v1/resources/{resource_id}/metadata/",
        "/reseller/billing/v1/currencies/{currency_uuid}",
    ] {
        assert!(
            document["paths"].get(path).is_some(),
            "{path} is documented"
        );
    }
}

#[tokio::test]
async fn currencies_keep_their_rates_digit_for_digit() {
    let app = TestApp::spawn().await;
    let (text, cad) = ok(
        &app,
        Method::POST,
        "/currencies",
        Some(
            r#"{"iso_code": "CAD", "label": "Canadian dolar", "plural_label": "Canadian dolars",
                 "symbol": "$", "main": true, "exchange_rate": 1.00000000}"#,
        ),
    )
    .await;
    assert!(text.contains(r#""exchange_rate":1.00000000"#), "{text}");
    assert_eq!(cad["main"], true);
    // 001's own example, with its trailing `main` and a rate no float keeps.
    let (text, usd) = ok(
        &app,
        Method::POST,
        "/currencies",
        Some(
            r#"{"exchange_rate": 1.00000003, "iso_code": "USD", "label": "American Dolar",
                 "main": false, "plural_label": "American dolars", "symbol": "$"}"#,
        ),
    )
    .await;
    assert!(text.contains(r#""exchange_rate":1.00000003"#), "{text}");
    assert_eq!(usd["reseller_uuid"], cad["reseller_uuid"]);
    assert_ne!(usd["uuid"], cad["uuid"]);

    let (text, list) = ok(&app, Method::GET, "/currencies/", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{text}");
    assert!(text.contains(r#""exchange_rate":1.00000003"#), "{text}");
    assert_eq!(list[0]["iso_code"], "CAD");
    assert_eq!(list[0]["label"], "Canadian dolar");
    assert_eq!(list[1]["main"], false);

    let usd_uuid = usd["uuid"].as_str().unwrap();
    let (text, changed) = ok(
        &app,
        Method::PUT,
        &format!("/currencies/{usd_uuid}"),
        Some(r#"{"exchange_rate": 1.25000001}"#),
    )
    .await;
    assert!(text.contains(r#""exchange_rate":1.25000001"#), "{text}");
    assert!(
        changed.get("main").is_none(),
        "001 answers a rate change without main"
    );
    // The native API sees the same rate, as a decimal string.
    let native = app.get("/v1/currencies").await.expect(200).body;
    assert_eq!(native["items"][1]["rate"], "1.25000001");

    let cad_uuid = cad["uuid"].as_str().unwrap();
    let refused = failure(
        &app,
        Method::PUT,
        &format!("/currencies/{cad_uuid}"),
        Some(r#"{"exchange_rate": 2}"#),
        400,
    )
    .await;
    assert_eq!(refused["field"], "exchange_rate");
    failure(
        &app,
        Method::PUT,
        "/currencies/00000000-0000-0000-0000-000000000000",
        Some(r#"{"exchange_rate": 2}"#),
        404,
    )
    .await;
    let bad = failure(
        &app,
        Method::PUT,
        &format!("/currencies/{usd_uuid}"),
        Some(r#"{"exchange_rate": "abc"}"#),
        400,
    )
    .await;
    assert_eq!(bad["field"], "exchange_rate");
    failure(
        &app,
        Method::PUT,
        &format!("/currencies/{usd_uuid}"),
        Some(r#"{"exchange_rate": -1}"#),
        400,
    )
    .await;
    failure(
        &app,
        Method::POST,
        "/currencies",
        Some(
            r#"{"iso_code": "USD", "label": "x", "plural_label": "x", "symbol": "$",
                 "exchange_rate": 1.1}"#,
        ),
        409,
    )
    .await;
    failure(&app, Method::POST, "/currencies", Some("{not json"), 400).await;
    // A viewer reads but may not change the book.
    let viewer = app.api_key("acme", "viewer").await;
    let (status, _) = call(
        &app.base,
        Some(&viewer),
        Method::PUT,
        &format!("/currencies/{usd_uuid}"),
        Some(r#"{"exchange_rate": 1.3}"#),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn products_show_their_price_dates_and_metadata() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let (text, products) = ok(&app, Method::GET, "/products/", None).await;
    let products = products["products"].as_array().unwrap().clone();
    let vcpu = products
        .iter()
        .find(|p| p["product_code"] == "vcpu-hour")
        .unwrap();
    assert!(text.contains(r#""price_per_unit":0.04150000"#), "{text}");
    assert_eq!(vcpu["billablecategory_slug"], "compute");
    assert_eq!(vcpu["billableunit_slug"], "hour");
    assert_eq!(vcpu["metadata"], Value::Null);
    let created = vcpu["created_date"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc2822(created).is_ok() && created.ends_with(" GMT"),
        "{created}"
    );
    let egress = products
        .iter()
        .find(|p| p["product_code"] == "egress-gb")
        .unwrap();
    assert_eq!(egress["rate_system"], "tiered");
    assert_eq!(egress["price_per_unit"], Value::Null);

    let uuid = vcpu["uuid"].as_str().unwrap();
    let (_, product) = ok(
        &app,
        Method::PUT,
        &format!("/products/{uuid}/metadata/"),
        Some(r#"{"metadata": {"flavor": "general.pico"}}"#),
    )
    .await;
    assert_eq!(product["metadata"]["flavor"], "general.pico");
    let (_, products) = ok(&app, Method::GET, "/products", None).await;
    assert!(products["products"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["uuid"] == uuid && p["metadata"]["flavor"] == "general.pico"));
    let history = app.history("/v1/price-book").await;
    assert!(history
        .iter()
        .any(|e| e["event_type"] == "ProductMetadataSet"));
    failure(
        &app,
        Method::PUT,
        "/products/nope/metadata/",
        Some(r#"{"metadata": {}}"#),
        404,
    )
    .await;
    failure(
        &app,
        Method::PUT,
        &format!("/products/{uuid}/metadata/"),
        Some(r#"{"other": 1}"#),
        400,
    )
    .await;
}

#[tokio::test]
async fn usage_carries_the_clients_discount_and_taxes_as_its_invoice_does() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    let client = app.customer_id.clone();
    // 001's tax case: 20.73 with 14.975% HST is 3.10 tax and 23.83 in all.
    let mut other_project = record(&sub, "u-2", "vcpu-hour", "100", "2026-09-12");
    other_project["project_id"] = json!("proj-b");
    other_project["provider_id"] = json!("gcp");
    record_usage(
        &app,
        vec![
            record(&sub, "u-1", "unit", "20.73", "2026-09-10"),
            other_project,
        ],
    )
    .await;
    set_terms(
        &app,
        &client,
        json!({"taxes": [{"name": "hst", "rate": "14.975", "description": "Quebec harmonized sales tax"}]}),
    )
    .await
    .expect(200);
    let window = "?start_date=2026-09-01&end_date=2026-09-30";
    let (text, usage) = ok(
        &app,
        Method::GET,
        &format!("/clients/{client}/providers/aws/usage/{window}"),
        None,
    )
    .await;
    let usage = &usage["usage"];
    assert!(text.contains(r#""subtotal":20.73"#), "{text}");
    assert!(text.contains(r#""total":23.83"#), "{text}");
    assert!(text.contains(r#""amount":3.10"#), "{text}");
    assert!(text.contains(r#""rate":14.975"#), "{text}");
    assert_eq!(usage["provider"]["uuid"], "aws");
    assert_eq!(
        usage["taxes"][0]["description"],
        "Quebec harmonized sales tax"
    );
    assert_eq!(usage["usage_period_start"], "2026-09-01T00:00:00.000+00:00");
    assert_eq!(usage["projects"][0]["id"], "proj-a");
    let unit = &usage["projects"][0]["resources"]["compute"][0];
    assert_eq!(unit["id"], "unit");

    // The whole client: both providers, 20.73 + 100 x 0.0415 = 24.88; 3.73 tax; 28.61.
    let (text, whole) = ok(
        &app,
        Method::GET,
        &format!("/clients/{client}/usage/{window}"),
        None,
    )
    .await;
    assert!(text.contains(r#""subtotal":24.88"#), "{text}");
    assert!(text.contains(r#""total":28.61"#), "{text}");
    let providers = whole["usage"]["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 2);
    assert_eq!(providers[1]["projects"][0]["id"], "proj-b");
    let hours = &providers[1]["projects"][0]["resources"]["compute"][0];
    assert_eq!(hours["uptime"], "04:04:00:00");

    // The native statement says the same, to the cent.
    let native = app
        .get(&format!(
            "/v1/customers/{client}/usage?start=2026-09-01&end=2026-09-30"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(native["subtotal"], "24.88");
    assert_eq!(native["taxes"][0]["amount"], "3.73");
    assert_eq!(native["total"], "28.61");

    let (text, project) = ok(
        &app,
        Method::GET,
        &format!("/clients/{client}/projects/proj-b/usage{window}"),
        None,
    )
    .await;
    assert_eq!(project["usage"]["project"]["id"], "proj-b");
    assert!(project["usage"].get("provider").is_none());
    assert!(text.contains(r#""subtotal":4.15"#), "{text}");

    failure(
        &app,
        Method::GET,
        "/clients/00000000-0000-0000-0000-000000000000/usage/",
        None,
        404,
    )
    .await;
    failure(&app, Method::GET, "/clients/nope/usage/", None, 404).await;
    let bad = failure(
        &app,
        Method::GET,
        &format!("/clients/{client}/usage/?start_date=2026-10-01&end_date=2026-09-01"),
        None,
        400,
    )
    .await;
    assert_eq!(bad["field"], "start_date");
    failure(
        &app,
        Method::GET,
        &format!("/clients/{client}/usage/?start_date=September"),
        None,
        400,
    )
    .await;
}

#[tokio::test]
async fn invoices_show_their_lifecycle_and_a_deleted_clients_flag() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let client = app.create_customer("Initech").await;
    let sub = app
        .create_subscription(json!({"customer_id": client}))
        .await;
    record_usage(
        &app,
        vec![record(&sub, "i-1", "vcpu-hour", "17.488333", "2026-09-10")],
    )
    .await;
    set_terms(&app, &client, json!({"discount_percentage": "100"}))
        .await
        .expect(200);
    let native = generate(&app, &client, "2026-09").await.expect(201).body;
    let id = native["id"].as_str().unwrap().to_owned();

    let (text, listed) = ok(
        &app,
        Method::GET,
        &format!("/clients/{client}/invoices/"),
        None,
    )
    .await;
    let invoice = &listed["invoices"][0];
    assert_eq!(invoice["id"], id.as_str());
    assert_eq!(invoice["processed"], false);
    assert_eq!(invoice["paid"], false);
    assert_eq!(invoice["deleted"], false);
    assert_eq!(invoice["date_deleted"], Value::Null);
    assert!(
        invoice.get("currency").is_none(),
        "CAD is the main currency"
    );
    let data = &invoice["data"];
    assert_eq!(data["invoice_period_start"], "2026-09-01T00:00:00+00:00");
    assert_eq!(data["invoice_period_end"], "2026-10-01T00:00:00+00:00");
    assert_eq!(
        data["subscription_period_start"],
        "Tue, 01 Sep 2026 00:00:00 GMT"
    );
    // 17.488333 h x 0.0415 = 0.7258 -> 0.73, all of it discounted.
    assert!(text.contains(r#""invoice_subtotal":0.73"#), "{text}");
    assert!(
        text.contains(r#""invoice_discount_percentage":100"#),
        "{text}"
    );
    assert!(text.contains(r#""invoice_discount":0.73"#), "{text}");
    assert!(text.contains(r#""invoice_total":0.00"#), "{text}");
    assert!(text.contains(r#""quantity":17.488333"#), "{text}");
    assert!(text.contains(r#""rate":0.0415"#), "{text}");
    let entity = &data["invoice_projects"][0]["entities"][0];
    assert_eq!(entity["uptime"], "00:17:29:18");
    assert_eq!(entity["rate_system"], "flat");
    assert_eq!(data["invoice_projects"][0]["region"], "aws");
    assert_eq!(native["total"], "0.00");

    app.post_empty(&format!("/v1/invoices/{id}/approve"))
        .await
        .expect(200);
    let (_, last) = ok(
        &app,
        Method::GET,
        &format!("/clients/{client}/invoices/last/"),
        None,
    )
    .await;
    assert_eq!(last["invoice"]["id"], id.as_str());
    assert_eq!(last["invoice"]["processed"], true);
    app.post_empty(&format!("/v1/invoices/{id}/pay"))
        .await
        .expect(200);
    let (_, one) = ok(
        &app,
        Method::GET,
        &format!("/clients/{client}/invoices/{id}/"),
        None,
    )
    .await;
    assert_eq!(one["invoice"]["paid"], true);

    // Another client's invoice is not this client's.
    failure(
        &app,
        Method::GET,
        &format!("/clients/{}/invoices/{id}/", app.customer_id),
        None,
        404,
    )
    .await;
    failure(
        &app,
        Method::GET,
        &format!("/clients/{}/invoices/last/", app.customer_id),
        None,
        404,
    )
    .await;

    // Deleting the client marks its invoices deleted; they stay listed.
    app.post(&format!("/v1/subscriptions/{sub}/cancel"), json!({}))
        .await
        .expect(200);
    app.delete(&format!("/v1/customers/{client}"))
        .await
        .expect(200);
    let (_, listed) = ok(
        &app,
        Method::GET,
        &format!("/clients/{client}/invoices"),
        None,
    )
    .await;
    let invoice = &listed["invoices"][0];
    assert_eq!(invoice["deleted"], true);
    assert!(invoice["date_deleted"]
        .as_str()
        .is_some_and(|d| d.ends_with("+00:00")));
}

#[tokio::test]
async fn the_billing_report_is_the_native_csv_at_ormucos_path() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let sub = app.subscription_id.clone();
    record_usage(
        &app,
        vec![record(&sub, "r-1", "unit", "1.14", "2026-09-10")],
    )
    .await;
    generate(&app, &app.customer_id, "2026-09")
        .await
        .expect(201);
    let (status, csv) = call(
        &app.base,
        Some(&app.key),
        Method::GET,
        "/report/?start_date=2026-09-01&end_date=2026-09-30&detail=False",
        None,
    )
    .await;
    assert_eq!(status, 200, "{csv}");
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("client_id,test_account,customer_email,customer_name"));
    let row = lines.next().unwrap();
    assert!(row.starts_with(&app.customer_id), "{row}");
    assert!(row.contains(",1.14,"), "{row}");
    let (status, by_body) = call(
        &app.base,
        Some(&app.key),
        Method::POST,
        "/report/",
        Some(r#"{"start_date": "2026-09-01", "end_date": "2026-09-30", "detail": false}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_body, csv);
    let missing = failure(&app, Method::GET, "/report/", None, 400).await;
    assert_eq!(missing["field"], "start_date");
    let reversed = failure(
        &app,
        Method::GET,
        "/report/?start_date=2026-10-01&end_date=2026-09-01",
        None,
        400,
    )
    .await;
    assert_eq!(reversed["field"], "start_date");
    failure(
        &app,
        Method::GET,
        "/report/?start_date=2026-09-01&detail=maybe",
        None,
        400,
    )
    .await;
    let viewer = app.api_key("acme", "viewer").await;
    let (status, _) = call(
        &app.base,
        Some(&viewer),
        Method::GET,
        "/report/?start_date=2026-09-01&show_all_resellers=True",
        None,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_billable_resource_keeps_the_resellers_metadata() {
    let app = TestApp::spawn().await;
    let (instance, _) = app.create_instance(json!({})).await;
    let (_, resource) = ok(
        &app,
        Method::PUT,
        &format!("/resources/{instance}/metadata/"),
        Some(r#"{"metadata": {"purchase_order": "PO-42"}}"#),
    )
    .await;
    assert_eq!(resource["reseller_metadata"]["purchase_order"], "PO-42");
    let native = app
        .get(&format!("/v1/instances/{instance}"))
        .await
        .expect(200)
        .body;
    assert_eq!(native["reseller_metadata"]["purchase_order"], "PO-42");
    let history = app.history(&format!("/v1/instances/{instance}")).await;
    assert!(history
        .iter()
        .any(|e| e["event_type"] == "InstanceResellerMetadataSet"));
    let bad = failure(
        &app,
        Method::PUT,
        &format!("/resources/{instance}/metadata/"),
        Some(r#"{"metadata": [1, 2]}"#),
        400,
    )
    .await;
    assert_eq!(bad["field"], "metadata");
    failure(
        &app,
        Method::PUT,
        "/resources/object_storage/metadata/",
        Some(r#"{"metadata": {}}"#),
        400,
    )
    .await;
    failure(
        &app,
        Method::PUT,
        &format!("/resources/{}/metadata/", uuid::Uuid::now_v7()),
        Some(r#"{"metadata": {}}"#),
        404,
    )
    .await;
}

#[tokio::test]
async fn ormuco_has_a_listener_of_its_own() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[("FLEET_ORMUCO_LISTEN", &listen)]).await;
    let own = format!("http://{listen}");
    let (status, text) = call(&own, Some(&app.key), Method::GET, "/currencies/", None).await;
    assert_eq!(status, 200, "{text}");
    let (status, _) = call(&own, None, Method::GET, "/currencies/", None).await;
    assert_eq!(status, 401);
    // Only Ormuco's API is on it.
    let native = reqwest::Client::new()
        .get(format!("{own}/v1/instances"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(native.status().as_u16(), 404);
}
