//! Customers, their reseller relationships, licenses and users.

use fleet_tests::{json, TestApp};
use reqwest::Method;

#[tokio::test]
async fn a_customer_is_created_found_updated_and_deleted_once_nothing_holds_it() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/v1/customers",
            json!({"name": "Contoso Ltd", "country": "pt", "email": "it@contoso.example",
                   "domain": "contoso.example", "internal_identifier": "CRM-42"}),
        )
        .await
        .expect(202);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["status"], "active");
    let path = format!("/v1/customers/{id}");
    let row = app.get_at(&path, created.position()).await.expect(200).body;
    assert_eq!(row["country"], "PT");
    assert_eq!(row["domain"], "contoso.example");

    let found = app.get("/v1/customers?search=crm-4").await.body;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["id"], id.as_str());
    let portuguese = app.get("/v1/customers?country=pt").await.body;
    assert_eq!(
        portuguese["items"].as_array().unwrap().len(),
        2,
        "Acme and Contoso"
    );

    let updated = app
        .request(
            Some(&app.key),
            Method::PATCH,
            &path,
            Some(json!({"name": "Contoso SA"})),
            &[],
        )
        .await
        .expect(200);
    assert_eq!(updated.body["name"], "Contoso SA");
    let bad = app
        .request(
            Some(&app.key),
            Method::PATCH,
            &path,
            Some(json!({"email": "nope"})),
            &[],
        )
        .await
        .expect(422);
    assert_eq!(bad.body["errors"][0]["field"], "email");

    // A live subscription and a reseller relationship both hold the customer.
    let subscription = app
        .post(
            "/v1/subscriptions",
            json!({"customer_id": id, "service_id": "s", "plan_id": "p"}),
        )
        .await
        .expect(202)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let relationship = app
        .post(
            &format!("{path}/reseller-relationships"),
            json!({"provider_instance_id": "pi-microsoft", "reseller_id": "r-7"}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = app.delete(&path).await.expect(409);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains(&subscription), "{detail}");
    assert!(detail.contains(&relationship), "{detail}");

    app.post_empty(&format!("/v1/subscriptions/{subscription}/terminate"))
        .await
        .expect(200);
    app.delete(&format!("{path}/reseller-relationships/{relationship}"))
        .await
        .expect(200);
    let deleted = app.delete(&path).await.expect(200);
    assert_eq!(deleted.body["status"], "deleted");
    let row = app.get_at(&path, deleted.position()).await.body;
    assert_eq!(row["status"], "deleted");
    let live = app.get("/v1/customers?include_deleted=false").await.body;
    assert_eq!(live["items"].as_array().unwrap().len(), 1);
    app.request(
        Some(&app.key),
        Method::PATCH,
        &path,
        Some(json!({"name": "x"})),
        &[],
    )
    .await
    .expect(409);
    app.delete(&path).await.expect(409);
}

#[tokio::test]
async fn customer_input_is_checked_field_by_field() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (
            json!({"name": "A", "country": "Portugal", "email": "a@b.example"}),
            "country",
        ),
        (
            json!({"name": "A", "country": "PT", "email": "a-at-b"}),
            "email",
        ),
        (
            json!({"name": " ", "country": "PT", "email": "a@b.example"}),
            "name",
        ),
        (json!({"name": "A", "country": "PT"}), "email"),
        (
            json!({"name": "A", "country": "PT", "email": "a@b.example", "colour": "red"}),
            "colour",
        ),
    ] {
        let reply = app.post("/v1/customers", body).await.expect(422);
        assert_eq!(reply.body["errors"][0]["field"], field);
    }
}

#[tokio::test]
async fn reseller_relationships_and_licenses() {
    let app = TestApp::spawn().await;
    let base = format!("/v1/customers/{}", app.customer_id);
    let added = app
        .post(
            &format!("{base}/reseller-relationships"),
            json!({"provider_instance_id": "pi-1"}),
        )
        .await
        .expect(201);
    let id = added.body["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("{base}/reseller-relationships"),
        json!({"provider_instance_id": "pi-1"}),
    )
    .await
    .expect(409);
    let listed = app
        .get_at(&format!("{base}/reseller-relationships"), added.position())
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(
        listed["items"][0]["reseller_id"],
        json!(null),
        "a direct relationship"
    );
    let removed = app
        .delete(&format!("{base}/reseller-relationships/{id}"))
        .await
        .expect(200);
    app.delete(&format!("{base}/reseller-relationships/{id}"))
        .await
        .expect(404);
    let listed = app
        .get_at(
            &format!("{base}/reseller-relationships"),
            removed.position(),
        )
        .await
        .body;
    assert_eq!(listed["items"][0]["status"], "removed");

    let license = |sku: &str, pi: &str, total: i64, consumed: i64| {
        json!({"provider_instance_id": pi, "sku_id": sku, "name": format!("{sku} seats"),
               "total": total, "consumed": consumed})
    };
    let path = format!("{base}/licenses");
    let put = |body| app.request(Some(&app.key), Method::PUT, &path, Some(body), &[]);
    put(license("e3", "pi-1", 10, 4)).await.expect(200);
    put(license("e5", "pi-1", 5, 5)).await.expect(200);
    put(license("e3", "pi-2", 3, 1)).await.expect(200);
    let last = put(license("e3", "pi-1", 12, 6)).await.expect(200);
    let bad = put(license("e3", "pi-1", 2, 6)).await.expect(422);
    assert_eq!(bad.body["errors"][0]["field"], "consumed");

    let pi1 = app
        .get_at(
            &format!("{path}?provider_instance_id=pi-1"),
            last.position(),
        )
        .await
        .expect(200)
        .body;
    let items = pi1["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["sku_id"], "e3");
    assert_eq!(items[0]["total"], 12, "the latest report wins");
    assert_eq!(items[0]["available"], 6);
    let all = app.get(&path).await.body;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn users_are_suspended_unsuspended_and_deleted() {
    let app = TestApp::spawn().await;
    let users = format!("/v1/customers/{}/users", app.customer_id);
    let created = app
        .post(
            &users,
            json!({"email": "Ana@Acme.example", "name": "Ana", "role": "editor"}),
        )
        .await
        .expect(202);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/users/{id}");
    let row = app.get_at(&path, created.position()).await.expect(200).body;
    assert_eq!(row["email"], "ana@acme.example");
    assert_eq!(row["status"], "active");

    let taken = app
        .post(
            &users,
            json!({"email": "ana@acme.example", "name": "Ana II"}),
        )
        .await
        .expect(409);
    assert!(taken.body["detail"].as_str().unwrap().contains(&id));
    app.post(&users, json!({"email": "bob", "name": "Bob"}))
        .await
        .expect(422);
    app.post(
        &users,
        json!({"email": "bo@acme.example", "name": "Bo", "role": "god"}),
    )
    .await
    .expect(422);
    app.post(
        &format!("/v1/customers/{}/users", uuid::Uuid::now_v7()),
        json!({"email": "x@acme.example", "name": "X"}),
    )
    .await
    .expect(404);

    let suspended = app
        .post(
            &format!("{path}/suspend"),
            json!({"reason": "left the team"}),
        )
        .await
        .expect(200);
    assert_eq!(suspended.body["status"], "suspended");
    let again = app.post_empty(&format!("{path}/suspend")).await.expect(409);
    assert_eq!(again.body["current_state"], "suspended");
    let row = app.get_at(&path, suspended.position()).await.body;
    assert_eq!(row["suspension_reason"], "left the team");
    let listed = app.get(&format!("{users}?status=suspended")).await.body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    app.post_empty(&format!("{path}/unsuspend"))
        .await
        .expect(200);
    app.post_empty(&format!("{path}/unsuspend"))
        .await
        .expect(409);
    let deleted = app.delete(&path).await.expect(200);
    assert_eq!(deleted.body["status"], "deleted");
    let again = app
        .post_empty(&format!("{path}/unsuspend"))
        .await
        .expect(409);
    assert_eq!(again.body["current_state"], "deleted");
    app.delete(&path).await.expect(409);
    // A deleted user's email may be used again.
    app.post(
        &users,
        json!({"email": "ana@acme.example", "name": "Ana again"}),
    )
    .await
    .expect(202);
}

#[tokio::test]
async fn accounts_of_another_tenant_are_invisible_and_viewers_cannot_write() {
    let app = TestApp::spawn().await;
    let other = app.api_key("globex", "admin").await;
    let viewer = app.api_key("acme", "viewer").await;
    let user = app
        .post(
            &format!("/v1/customers/{}/users", app.customer_id),
            json!({"email": "ana@acme.example", "name": "Ana"}),
        )
        .await
        .expect(202);
    let user_id = user.body["id"].as_str().unwrap().to_owned();
    let request = app
        .post(
            "/v1/subscription-requests",
            json!({"customer_id": app.customer_id, "service_id": "s", "plan_id": "p"}),
        )
        .await
        .expect(202);
    let request_id = request.body["id"].as_str().unwrap().to_owned();
    let position = request.position().to_string();
    let (customer, subscription) = (&app.customer_id, &app.subscription_id);

    let as_other = |method: Method, path: String, body: Option<serde_json::Value>| {
        let (app, other, position) = (&app, other.clone(), position.clone());
        async move {
            app.request(
                Some(&other),
                method,
                &path,
                body,
                &[("x-fleet-position", &position)],
            )
            .await
        }
    };
    for (method, path, body) in [
        (Method::GET, format!("/v1/customers/{customer}"), None),
        (
            Method::PATCH,
            format!("/v1/customers/{customer}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/v1/customers/{customer}"), None),
        (
            Method::GET,
            format!("/v1/customers/{customer}/reseller-relationships"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/customers/{customer}/licenses"),
            None,
        ),
        (Method::GET, format!("/v1/customers/{customer}/users"), None),
        (
            Method::POST,
            format!("/v1/customers/{customer}/users"),
            Some(json!({"email": "e@x.example", "name": "E"})),
        ),
        (Method::GET, format!("/v1/users/{user_id}"), None),
        (Method::POST, format!("/v1/users/{user_id}/suspend"), None),
        (Method::DELETE, format!("/v1/users/{user_id}"), None),
        (
            Method::GET,
            format!("/v1/subscriptions/{subscription}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/subscriptions/{subscription}"),
            Some(json!({"plan_id": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/subscriptions/{subscription}/suspend"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/subscriptions/{subscription}/terminate"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/subscription-requests/{request_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/subscription-requests/{request_id}/approve"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/subscription-requests/{request_id}/cancel"),
            None,
        ),
    ] {
        let reply = as_other(method.clone(), path.clone(), body).await;
        assert_eq!(
            reply.status.as_u16(),
            404,
            "{method} {path}: {}",
            reply.body
        );
    }
    for path in [
        "/v1/customers",
        "/v1/subscriptions",
        "/v1/subscription-requests",
    ] {
        let reply = as_other(Method::GET, path.into(), None).await;
        assert_eq!(reply.body["items"], json!([]), "{path}");
    }
    // Another tenant's customer cannot be subscribed to, nor requested for.
    for path in ["/v1/subscriptions", "/v1/subscription-requests"] {
        let reply = as_other(
            Method::POST,
            path.into(),
            Some(json!({"customer_id": customer, "service_id": "s", "plan_id": "p"})),
        )
        .await;
        assert_eq!(reply.status.as_u16(), 422, "{path}");
        assert_eq!(reply.body["errors"][0]["field"], "customer_id");
    }
    let summary = as_other(Method::GET, "/v1/inventory/summary".into(), None).await;
    assert_eq!(summary.body["subscriptions"]["total"], 0);

    for (path, body) in [
        (
            "/v1/customers".to_owned(),
            json!({"name": "V", "country": "PT", "email": "v@x.example"}),
        ),
        (
            format!("/v1/subscriptions/{subscription}/suspend"),
            json!({}),
        ),
        (format!("/v1/users/{user_id}/suspend"), json!({})),
    ] {
        let reply = app
            .request(Some(&viewer), Method::POST, &path, Some(body), &[])
            .await;
        assert_eq!(reply.status.as_u16(), 403, "{path}");
    }
}
