//! CloudCockpit's CSP API (003) in its own shape: `X-Tenant` domains, signed JWTs (HS256 and
//! RS256) with the tenant and role in their claims, `ErrorResponse` bodies, 202s, and the
//! correlation id carried into the audit log.

use fleet_tests::{json, TestApp};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::Value;

const SECRET: &str = "cloudcockpit-test-secret-of-32-bytes-at-least";
const ACME: &str = "portal.acme.example";

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn spawn() -> TestApp {
    let public = format!("rsa={}", fixture("jwt-rs256-test-public.pem"));
    TestApp::spawn_with(&[
        ("FLEET_JWT_HS256_SECRETS", &format!("k1={SECRET}")),
        ("FLEET_JWT_RS256_PUBLIC_KEYS", &public),
        (
            "FLEET_CLOUDCOCKPIT_TENANTS",
            "portal.acme.example=acme,portal.globex.example=globex",
        ),
    ])
    .await
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs256(claims: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    encode(
        &header,
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn rs256(claims: Value) -> String {
    let pem = std::fs::read(fixture("jwt-rs256-test-private.pem")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa".into());
    encode(&header, &claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn csp() -> String {
    hs256(json!({"sub": "csp-admin", "tenant": "acme", "role": "csp", "exp": now() + 600}))
}

fn reseller(id: &str) -> String {
    hs256(
        json!({"sub": format!("reseller-{id}"), "tenant": "acme", "roles": ["reseller"],
                 "reseller_id": id, "exp": now() + 600}),
    )
}

struct Answer {
    status: u16,
    body: Value,
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    domain: Option<&str>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(domain) = domain {
        request = request.header("X-Tenant", domain);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Checks 003's `ErrorResponse` and answers it.
fn error(answer: &Answer, status: u16) -> &Value {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["statusCode"], status, "{}", answer.body);
    assert!(answer.body["description"].is_string());
    &answer.body
}

fn licenses(customer: &str, query: &str) -> String {
    format!("/v1/Customers/{customer}/licenses{query}")
}

#[tokio::test]
async fn tokens_tenants_and_roles_decide_who_gets_in() {
    let app = spawn().await;
    let path = licenses(&app.customer_id, "?providerInstanceId=pi-ms");
    error(
        &call(&app, None, Some(ACME), Method::GET, &path, &[]).await,
        401,
    );
    let expired = hs256(json!({"sub": "x", "tenant": "acme", "role": "csp", "exp": now() - 600}));
    let answer = call(&app, Some(&expired), Some(ACME), Method::GET, &path, &[]).await;
    assert!(error(&answer, 401)["description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "x", "tenant": "acme", "role": "csp", "exp": now() + 600}),
        &EncodingKey::from_secret(b"not-the-deployment-secret-not-at-all"),
    )
    .unwrap();
    error(
        &call(&app, Some(&forged), Some(ACME), Method::GET, &path, &[]).await,
        401,
    );
    error(
        &call(&app, Some("garbage"), Some(ACME), Method::GET, &path, &[]).await,
        401,
    );

    // Signed either way, a CSP's token is let in (the customer has no relationship: 404).
    let by_rsa =
        rs256(json!({"sub": "csp-2", "tenant": "acme", "role": "csp", "exp": now() + 600}));
    for token in [csp(), by_rsa] {
        let answer = call(&app, Some(&token), Some(ACME), Method::GET, &path, &[]).await;
        error(&answer, 404);
    }
    // The domain names the tenant; a token for another tenant gets nothing of this one.
    let globex = hs256(json!({"sub": "g", "tenant": "globex", "role": "csp", "exp": now() + 600}));
    error(
        &call(&app, Some(&globex), Some(ACME), Method::GET, &path, &[]).await,
        403,
    );
    error(
        &call(
            &app,
            Some(&csp()),
            Some("portal.nowhere.example"),
            Method::GET,
            &path,
            &[],
        )
        .await,
        404,
    );
    let missing = call(&app, Some(&csp()), None, Method::GET, &path, &[]).await;
    assert_eq!(
        error(&missing, 400)["errors"][0]["propertyName"],
        "X-Tenant"
    );
    let admin = hs256(json!({"sub": "a", "tenant": "acme", "role": "admin", "exp": now() + 600}));
    error(
        &call(&app, Some(&admin), Some(ACME), Method::GET, &path, &[]).await,
        403,
    );
    // The refused tokens are counted, and never shown.
    let text = app
        .assert_metrics(&[
            "fleet_auth_failures_total{api=\"cloudcockpit\",reason=\"missing\"} 1",
            "fleet_auth_failures_total{api=\"cloudcockpit\",reason=\"invalid\"} 3",
        ])
        .await;
    assert!(!text.contains(&forged));
    // Errors echo the request's correlation id.
    let answer = call(
        &app,
        None,
        Some(ACME),
        Method::GET,
        &path,
        &[("X-Correlation-Id", "cc-trace-1")],
    )
    .await;
    assert_eq!(error(&answer, 401)["correlationId"], "cc-trace-1");
    let document = app.get("/v1/Customers/openapi.json").await.expect(200).body;
    assert!(document["paths"]
        .get("/v1/Customers/{customerId}/remove-reseller-relationship/{providerInstanceId}")
        .is_some());
}

#[tokio::test]
async fn licenses_are_listed_within_the_callers_relationship() {
    let app = spawn().await;
    let customer = app.customer_id.clone();
    let base = format!("/v1/customers/{customer}");
    app.post(
        &format!("{base}/reseller-relationships"),
        json!({"provider_instance_id": "pi-ms", "reseller_id": "r-1"}),
    )
    .await
    .expect(201);
    app.request(
        Some(&app.key),
        Method::PUT,
        &format!("{base}/licenses"),
        Some(
            json!({"provider_instance_id": "pi-ms", "sku_id": "o365-e3", "name": "Office 365 E3",
                    "total": 25, "consumed": 20, "suspended": 2}),
        ),
        &[],
    )
    .await
    .expect(200);
    let path = licenses(&customer, "?providerInstanceId=pi-ms");
    let listed = call(&app, Some(&csp()), Some(ACME), Method::GET, &path, &[]).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.body,
        json!([{"skuId": "o365-e3", "name": "Office 365 E3", "availableLicenses": 5,
                "isSelected": true, "totalLicenses": 25, "consumedLicenses": 20,
                "suspendedLicenses": 2}])
    );
    // The reseller of the relationship sees them; another reseller does not.
    let own = call(
        &app,
        Some(&reseller("r-1")),
        Some(ACME),
        Method::GET,
        &path,
        &[],
    )
    .await;
    assert_eq!(own.status, 200);
    assert_eq!(own.body, listed.body);
    error(
        &call(
            &app,
            Some(&reseller("r-2")),
            Some(ACME),
            Method::GET,
            &path,
            &[],
        )
        .await,
        404,
    );
    let prying = licenses(&customer, "?providerInstanceId=pi-ms&resellerId=r-1");
    error(
        &call(
            &app,
            Some(&reseller("r-2")),
            Some(ACME),
            Method::GET,
            &prying,
            &[],
        )
        .await,
        403,
    );
    let required = call(
        &app,
        Some(&csp()),
        Some(ACME),
        Method::GET,
        &licenses(&customer, ""),
        &[],
    )
    .await;
    assert_eq!(
        error(&required, 400)["errors"][0]["propertyName"],
        "providerInstanceId"
    );
    error(
        &call(
            &app,
            Some(&csp()),
            Some(ACME),
            Method::GET,
            &licenses(&customer, "?providerInstanceId=pi-other"),
            &[],
        )
        .await,
        404,
    );
    error(
        &call(
            &app,
            Some(&csp()),
            Some(ACME),
            Method::GET,
            &licenses("not-a-guid", "?providerInstanceId=pi-ms"),
            &[],
        )
        .await,
        400,
    );
}

#[tokio::test]
async fn a_customer_is_deleted_once_its_subscriptions_are_suspended_and_its_reseller_gone() {
    let app = spawn().await;
    let customer = app.customer_id.clone();
    let base = format!("/v1/customers/{customer}");
    app.post(
        &format!("{base}/reseller-relationships"),
        json!({"provider_instance_id": "pi-ms", "reseller_id": "r-1"}),
    )
    .await
    .expect(201);
    let delete = format!("/v1/Customers/{customer}");
    // Only the CSP deletes.
    error(
        &call(
            &app,
            Some(&reseller("r-1")),
            Some(ACME),
            Method::DELETE,
            &delete,
            &[],
        )
        .await,
        403,
    );
    let active = call(&app, Some(&csp()), Some(ACME), Method::DELETE, &delete, &[]).await;
    let body = error(&active, 400);
    assert_eq!(body["errors"][0]["propertyName"], "customerId");
    assert!(body["description"]
        .as_str()
        .unwrap()
        .contains("active subscriptions"));
    app.post(
        &format!("/v1/subscriptions/{}/suspend", app.subscription_id),
        json!({"reason": "closing the account"}),
    )
    .await
    .expect(200);
    // Suspended is enough, but the reseller relationship must go first.
    let related = call(&app, Some(&csp()), Some(ACME), Method::DELETE, &delete, &[]).await;
    assert!(error(&related, 400)["description"]
        .as_str()
        .unwrap()
        .contains("reseller relationships"));
    let remove = format!("/v1/Customers/{customer}/remove-reseller-relationship/pi-ms");
    error(
        &call(
            &app,
            Some(&reseller("r-1")),
            Some(ACME),
            Method::DELETE,
            &remove,
            &[],
        )
        .await,
        403,
    );
    let removed = call(&app, Some(&csp()), Some(ACME), Method::DELETE, &remove, &[]).await;
    assert_eq!(removed.status, 202, "{}", removed.body);
    error(
        &call(&app, Some(&csp()), Some(ACME), Method::DELETE, &remove, &[]).await,
        404,
    );

    let deleted = call(
        &app,
        Some(&csp()),
        Some(ACME),
        Method::DELETE,
        &delete,
        &[("X-Correlation-Id", "cc-ticket-7")],
    )
    .await;
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    assert_eq!(deleted.body, Value::Null, "no body");
    app.eventually("the customer reads deleted", || async {
        (app.get(&base).await.body["status"] == "deleted").then_some(())
    })
    .await;
    // The correlation id is in the audit log, with the token's subject as the actor.
    let audit = app
        .eventually("the deletion is audited", || async {
            let items = app
                .get("/v1/audit-events?correlation_id=cc-ticket-7")
                .await
                .body["items"]
                .clone();
            items
                .as_array()
                .filter(|i| !i.is_empty())
                .map(|i| i[0].clone())
        })
        .await;
    assert_eq!(audit["action"], "CustomerDeleted", "{audit}");
    assert_eq!(audit["actor_id"], "jwt:csp-admin", "{audit}");
    assert_eq!(audit["auth_method"], "jwt");
    error(
        &call(&app, Some(&csp()), Some(ACME), Method::DELETE, &delete, &[]).await,
        404,
    );
    error(
        &call(
            &app,
            Some(&csp()),
            Some(ACME),
            Method::DELETE,
            &format!("/v1/Customers/{}", uuid::Uuid::now_v7()),
            &[],
        )
        .await,
        404,
    );
}

/// The native API takes the same signed tokens beside its API keys: the tenant and role from
/// the claims, the subject as the actor.
#[tokio::test]
async fn the_native_api_takes_signed_tokens_beside_api_keys() {
    let app = spawn().await;
    let token = |claims: Value| hs256(claims);
    let operator =
        token(json!({"sub": "ops-bot", "tenant": "acme", "role": "operator", "exp": now() + 600}));
    let call = |bearer: String, method: Method, path: &str, body: Option<Value>| {
        let path = path.to_owned();
        let app = &app;
        async move { app.request(Some(&bearer), method, &path, body, &[]).await }
    };
    let created = call(
        operator.clone(),
        Method::POST,
        "/v1/instances",
        Some(app.instance_body()),
    )
    .await
    .expect(202);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let history = app.history(&format!("/v1/instances/{id}")).await;
    assert_eq!(history[0]["actor"]["id"], "jwt:ops-bot");
    assert_eq!(history[0]["actor"]["auth_method"], "jwt");

    // RS256 as well; a viewer's token reads and may not write.
    let viewer =
        rs256(json!({"sub": "dash", "tenant": "acme", "roles": ["viewer"], "exp": now() + 600}));
    let position = created.position().to_string();
    app.request(
        Some(&viewer),
        Method::GET,
        &format!("/v1/instances/{id}"),
        None,
        &[("x-fleet-position", position.as_str())],
    )
    .await
    .expect(200);
    call(
        viewer,
        Method::POST,
        "/v1/instances",
        Some(app.instance_body()),
    )
    .await
    .expect(403);
    // Another tenant's token sees nothing of acme's.
    let globex =
        token(json!({"sub": "g", "tenant": "globex", "role": "admin", "exp": now() + 600}));
    call(globex, Method::GET, &format!("/v1/instances/{id}"), None)
        .await
        .expect(404);
    // Expired, of an unknown role, or signed with another secret: 401.
    for bad in [
        token(json!({"sub": "x", "tenant": "acme", "role": "admin", "exp": now() - 3600})),
        token(json!({"sub": "x", "tenant": "acme", "role": "csp", "exp": now() + 600})),
        encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "x", "tenant": "acme", "role": "admin", "exp": now() + 600}),
            &EncodingKey::from_secret(b"another-secret-of-thirty-two-bytes!!"),
        )
        .unwrap(),
    ] {
        call(bad, Method::GET, "/v1/instances", None)
            .await
            .expect(401);
    }
}
