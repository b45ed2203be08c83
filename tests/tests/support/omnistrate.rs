//! Speaking to the Omnistrate dialect as its Go SDK does: its paths, bearer token, Goa errors
//! and the shapes of its models. Each test binary uses part of it.
#![allow(dead_code)]

use fleet_tests::{json, Reply, TestApp};
use reqwest::Method;
use serde_json::Value;

pub const BASE: &str = "/2022-09-01-00/fleet";
pub const SCOPE: &str = "/2022-09-01-00/fleet/service/s-postgres/environment/se-prod";

/// A JSON type, as the SDK's models declare it.
#[derive(Clone, Copy)]
pub enum T {
    Str,
    Bool,
    Int,
    Num,
    Obj,
    Arr,
}

/// Every field of `fields` is present in `value` with its type.
pub fn shaped(what: &str, value: &Value, fields: &[(&str, T)]) {
    for (field, kind) in fields {
        let found = &value[*field];
        let ok = match kind {
            T::Str => found.is_string(),
            T::Bool => found.is_boolean(),
            T::Int => found.is_i64(),
            T::Num => found.is_number(),
            T::Obj => found.is_object(),
            T::Arr => found.is_array(),
        };
        assert!(ok, "{what}.{field} is missing or mistyped in {value}");
    }
}

pub fn goa(reply: &Reply, status: u16, name: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    shaped(
        "error",
        &reply.body,
        &[
            ("name", T::Str),
            ("id", T::Str),
            ("message", T::Str),
            ("temporary", T::Bool),
            ("timeout", T::Bool),
            ("fault", T::Bool),
        ],
    );
    assert_eq!(reply.body["name"], name, "{}", reply.body);
    assert_eq!(reply.body["fault"], status == 500);
}

pub async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    app.request(Some(&app.key), method, path, body, &[]).await
}

pub fn native_id(wire: &str, prefix: &str) -> String {
    wire.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .unwrap_or_else(|| panic!("{wire} is not a {prefix} id"))
        .to_owned()
}

/// A consumption user (with their organisation) and a subscription on their behalf.
pub async fn user_and_subscription(app: &TestApp, email: &str) -> (String, String) {
    let user = call(
        app,
        Method::POST,
        &format!("{BASE}/user"),
        Some(
            json!({"email": email, "name": "Alice", "password": "s3cret",
                    "legalCompanyName": "Enterprise", "companyUrl": "https://enterprise.example",
                    "enableAutoVerification": true}),
        ),
    )
    .await
    .expect(200);
    let user_id = user.body.as_str().expect("a bare string id").to_owned();
    assert!(user_id.starts_with("user-"), "{user_id}");
    let subscription = call(
        app,
        Method::POST,
        &format!("{SCOPE}/subscription"),
        Some(
            json!({"onBehalfOfCustomerUserId": user_id, "productTierId": "pt-standard",
                    "maxNumberOfInstances": 5}),
        ),
    )
    .await
    .expect(200);
    let subscription_id = subscription.body["id"].as_str().unwrap().to_owned();
    assert!(subscription_id.starts_with("sub-"));
    (user_id, subscription_id)
}
