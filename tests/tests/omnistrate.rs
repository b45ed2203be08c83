//! The Omnistrate dialect at `/2022-09-01-00/fleet`: every operation of the groups it serves,
//! called at its Omnistrate path with a bearer token, each answer checked against the shapes
//! of the catalogs' appendices and read back through the native API on the same data.
//! Omnistrate publishes no Python or JavaScript client (its SDK is Go), so the tests speak
//! HTTP as that SDK does.

use fleet_tests::billing::{generate, price_book, record, record_usage};
use fleet_tests::{json, TestApp};
use reqwest::Method;
use serde_json::Value;

mod support;
use support::omnistrate::*;

const INSTANCE: &[(&str, T)] = &[
    ("adopted", T::Bool),
    ("cloudProvider", T::Str),
    ("consumptionResourceInstanceResult", T::Obj),
    ("defaultSubscription", T::Bool),
    ("deploymentCellID", T::Str),
    ("environmentId", T::Str),
    ("input_params", T::Obj),
    ("instanceDebugCommands", T::Arr),
    ("integrationsStatus", T::Arr),
    ("maintenanceTasks", T::Obj),
    ("organizationId", T::Str),
    ("organizationName", T::Str),
    ("portsRegistrationStatus", T::Obj),
    ("productTierId", T::Str),
    ("productTierName", T::Str),
    ("resourceVersionSummaries", T::Arr),
    ("serviceEnvName", T::Str),
    ("serviceId", T::Str),
    ("serviceName", T::Str),
    ("subscriptionId", T::Str),
    ("subscriptionOwnerName", T::Str),
    ("subscriptionStatus", T::Str),
];

#[tokio::test]
async fn an_instance_runs_its_whole_lifecycle_at_omnistrate_paths() {
    let app = TestApp::spawn().await;
    let (_, subscription) = user_and_subscription(&app, "alice@enterprise.example").await;

    // Create (202 with the id), then describe.
    let created = call(
        &app,
        Method::POST,
        &format!(
            "{BASE}/resource-instance/omnistrate/s-postgres/v1/prod/hosted/pt-standard/postgres"
        ),
        Some(
            json!({"cloud_provider": "aws", "region": "us-east-1", "subscriptionId": subscription,
                    "network_type": "PUBLIC",
                    "requestParams": {"instanceType": "m5.large", "replicas": 2,
                                      "deploymentCellID": "hc-1"}}),
        ),
    )
    .await
    .expect(202);
    let wire = created.body["id"].as_str().unwrap().to_owned();
    let id = native_id(&wire, "instance");
    let item = format!("{SCOPE}/instance/{wire}");
    let described = call(&app, Method::GET, &item, None).await.expect(200);
    shaped("ResourceInstance", &described.body, INSTANCE);
    let consumer = &described.body["consumptionResourceInstanceResult"];
    assert_eq!(consumer["status"], "DEPLOYING");
    assert_eq!(consumer["currentReplicas"], "2");
    assert_eq!(described.body["organizationName"], "Enterprise");
    assert_eq!(described.body["subscriptionOwnerName"], "Alice");
    assert_eq!(described.body["subscriptionStatus"], "ACTIVE");
    assert_eq!(described.body["serviceEnvName"], "prod");
    // The native API reads the same instance.
    let native = app.get(&format!("/v1/instances/{id}")).await.expect(200);
    assert_eq!(native.body["capacity"], 2);
    assert_eq!(native.body["deployment_cell"], "hc-1");
    assert_eq!(
        native.body["subscription_id"].as_str(),
        Some(native_id(&subscription, "sub").as_str())
    );

    // Deploying: a start or a restart is an illegal transition.
    let early = call(
        &app,
        Method::POST,
        &format!("{item}/restart"),
        Some(json!({"resourceId": "r-postgres"})),
    )
    .await;
    goa(&early, 409, "invalid_state");
    app.post_empty(&format!("/v1/instances/{id}/ready"))
        .await
        .expect(200);

    let body = json!({"resourceId": "r-postgres"});
    for (tail, body) in [
        ("stop", body.clone()),
        ("start", body.clone()),
        ("restart", body.clone()),
        (
            "failover",
            json!({"failedReplicaID": "db-0", "failedReplicaAction": "FAILOVER_AND_RESTART"}),
        ),
        (
            "add-capacity",
            json!({"capacityToBeAdded": 3, "resourceId": "r-postgres"}),
        ),
        (
            "remove-capacity",
            json!({"capacityToBeRemoved": 1, "resourceId": "r-postgres"}),
        ),
    ] {
        let reply = call(&app, Method::POST, &format!("{item}/{tail}"), Some(body)).await;
        assert_eq!(reply.status.as_u16(), 200, "{tail}: {}", reply.body);
    }
    let stop_twice = {
        call(
            &app,
            Method::POST,
            &format!("{item}/start"),
            Some(json!({"resourceId": "r"})),
        )
        .await
    };
    goa(&stop_twice, 409, "invalid_state");
    let described = call(&app, Method::GET, &item, None).await.expect(200);
    // Read after the dialect's read, which waited for the inventory.
    assert_eq!(
        described.body["consumptionResourceInstanceResult"]["currentReplicas"],
        "4"
    );
    assert_eq!(
        described.body["consumptionResourceInstanceResult"]["status"],
        "RUNNING"
    );
    let native = app.get(&format!("/v1/instances/{id}")).await.expect(200);
    assert_eq!(native.body["capacity"], 4);
    assert_eq!(native.body["restarts"], 1);
    assert_eq!(native.body["failovers"], 1);

    // Bad input: a 400 naming the field, never a 500.
    for (tail, body, field) in [
        (
            "add-capacity",
            json!({"capacityToBeAdded": "many", "resourceId": "r"}),
            "capacityToBeAdded",
        ),
        (
            "add-capacity",
            json!({"capacityToBeAdded": 0, "resourceId": "r"}),
            "capacityToBeAdded",
        ),
        (
            "remove-capacity",
            json!({"capacityToBeRemoved": 40, "resourceId": "r"}),
            "capacityToBeRemoved",
        ),
        ("stop", json!({}), "resourceId"),
        (
            "failover",
            json!({"failedReplicaID": "db-0", "failedReplicaAction": "PANIC"}),
            "failedReplicaAction",
        ),
    ] {
        let reply = call(&app, Method::POST, &format!("{item}/{tail}"), Some(body)).await;
        goa(&reply, 400, "bad_request");
        assert!(
            reply.body["message"].as_str().unwrap().contains(field),
            "{tail}: {}",
            reply.body
        );
    }
    let syntax = app
        .http
        .post(format!("{}{item}/stop", app.base))
        .bearer_auth(&app.key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(syntax.status().as_u16(), 400);

    // Lists, paged by nextPageToken, and the same instance under its cell.
    let second = call(
        &app,
        Method::POST,
        &format!("{BASE}/resource-instance/omnistrate/s-postgres/v1/prod/hosted/pt-standard/postgres"),
        Some(json!({"cloud_provider": "gcp", "region": "europe-west1", "subscriptionId": subscription})),
    )
    .await
    .expect(202);
    let first_page = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/instances/?pageSize=1"),
        None,
    )
    .await
    .expect(200);
    shaped(
        "ListResourceInstances",
        &first_page.body,
        &[
            ("environmentId", T::Str),
            ("resourceInstances", T::Arr),
            ("serviceId", T::Str),
            ("nextPageToken", T::Str),
        ],
    );
    assert_eq!(
        first_page.body["resourceInstances"][0]["consumptionResourceInstanceResult"]["id"],
        wire.as_str()
    );
    let token = first_page.body["nextPageToken"]
        .as_str()
        .unwrap_or_else(|| panic!("a next page: {}", first_page.body));
    let next = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/instances/?pageSize=1&nextPageToken={token}"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        next.body["resourceInstances"][0]["consumptionResourceInstanceResult"]["id"],
        second.body["id"]
    );
    assert!(next.body.get("nextPageToken").is_none(), "{}", next.body);
    let other_service = call(
        &app,
        Method::GET,
        &format!("{BASE}/service/s-other/environment/se-prod/instances/"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(other_service.body["resourceInstances"], json!([]));
    let in_cell = call(
        &app,
        Method::GET,
        &format!("{BASE}/host-clusters/hc-1/instances"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(in_cell.body["instances"].as_array().unwrap().len(), 1);
    let bad_token = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/instances/?nextPageToken=zz"),
        None,
    )
    .await;
    goa(&bad_token, 400, "bad_request");

    // The instance's events: its history, with ids to describe each by.
    let events = call(&app, Method::GET, &format!("{item}/events"), None)
        .await
        .expect(200);
    let list = events.body["events"].as_array().unwrap();
    assert_eq!(list.len(), 8, "{}", events.body);
    assert_eq!(events.body["ids"].as_array().unwrap().len(), 8);
    for event in list {
        shaped(
            "InstanceEvent",
            event,
            &[
                ("environmentId", T::Str),
                ("eventSource", T::Str),
                ("id", T::Str),
                ("instanceId", T::Str),
                ("message", T::Str),
                ("serviceId", T::Str),
                ("time", T::Str),
                ("userId", T::Str),
                ("workflowFailures", T::Arr),
            ],
        );
    }
    assert_eq!(list[1]["eventSource"], "Infra", "provisioned: {}", list[1]);
    let event_id = list[0]["id"].as_str().unwrap();
    let one = call(&app, Method::GET, &format!("{item}/event/{event_id}"), None)
        .await
        .expect(200);
    assert_eq!(one.body["message"], format!("{wire} created"));

    // Delete, then nothing more: 409; an unknown id is a 404, another service's too.
    let delete = call(
        &app,
        Method::DELETE,
        &item,
        Some(json!({"resourceId": "r-postgres"})),
    )
    .await;
    assert_eq!(delete.status.as_u16(), 200, "{}", delete.body);
    call(&app, Method::GET, &item, None).await.expect(200);
    let after = call(
        &app,
        Method::POST,
        &format!("{item}/stop"),
        Some(json!({"resourceId": "r"})),
    )
    .await;
    goa(&after, 409, "invalid_state");
    let unknown = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/instance/instance-nope"),
        None,
    )
    .await;
    goa(&unknown, 404, "not_found");
    let elsewhere = call(
        &app,
        Method::GET,
        &format!("{BASE}/service/s-other/environment/se-prod/instance/{wire}"),
        None,
    )
    .await;
    goa(&elsewhere, 404, "not_found");
    let native = app.get(&format!("/v1/instances/{id}")).await.expect(200);
    assert_eq!(native.body["status"], "deleted");

    // Auth: no token, a bad one, and a read-only key's command.
    let anonymous = app.request(None, Method::GET, &item, None, &[]).await;
    goa(&anonymous, 401, "auth_failure");
    let wrong = app
        .request(Some("fl_nope"), Method::GET, &item, None, &[])
        .await;
    goa(&wrong, 401, "auth_failure");
    let viewer = app.api_key("acme", "viewer").await;
    let refused = app
        .request(
            Some(&viewer),
            Method::POST,
            &format!(
                "{SCOPE}/instance/{}/stop",
                second.body["id"].as_str().unwrap()
            ),
            Some(json!({"resourceId": "r"})),
            &[],
        )
        .await;
    goa(&refused, 403, "forbidden");
    let unknown_path = call(&app, Method::GET, &format!("{BASE}/no-such-thing"), None).await;
    goa(&unknown_path, 404, "not_found");
}

const SUBSCRIPTION: &[(&str, T)] = &[
    ("createdAt", T::Str),
    ("id", T::Str),
    ("instanceCount", T::Int),
    ("productTierId", T::Str),
    ("productTierName", T::Str),
    ("rootUserEmail", T::Str),
    ("rootUserId", T::Str),
    ("rootUserName", T::Str),
    ("serviceId", T::Str),
    ("serviceName", T::Str),
    ("status", T::Str),
    ("updatedAt", T::Str),
    ("updatedByUserId", T::Str),
    ("updatedByUserName", T::Str),
    ("maxNumberOfInstances", T::Int),
];

#[tokio::test]
async fn subscriptions_and_their_requests_follow_omnistrate_and_take_no_trial() {
    let app = TestApp::spawn().await;
    let (user, subscription) = user_and_subscription(&app, "bob@enterprise.example").await;
    let uuid = native_id(&subscription, "sub");
    let item = format!("{SCOPE}/subscription/{subscription}");

    // Created without terms: none, no trial, never to be suspended behind the caller's back.
    let native = app
        .get(&format!("/v1/subscriptions/{uuid}"))
        .await
        .expect(200);
    assert_eq!(native.body["terms"], "none", "{}", native.body);
    assert_eq!(native.body["trial_ends_at"], Value::Null);
    assert_eq!(native.body["max_instances"], 5);
    let described = call(&app, Method::GET, &item, None).await.expect(200);
    shaped("Subscription", &described.body, SUBSCRIPTION);
    assert_eq!(described.body["rootUserId"], user.as_str());
    assert_eq!(described.body["rootUserEmail"], "bob@enterprise.example");
    assert_eq!(described.body["status"], "ACTIVE");

    // Suspend, resume (and resume again: 409), update, bulk update.
    call(&app, Method::PUT, &format!("{item}/suspend"), None)
        .await
        .expect(200);
    assert_eq!(
        call(&app, Method::GET, &item, None).await.body["status"],
        "SUSPENDED"
    );
    call(&app, Method::PUT, &format!("{item}/resume"), None)
        .await
        .expect(200);
    goa(
        &call(&app, Method::PUT, &format!("{item}/resume"), None).await,
        409,
        "invalid_state",
    );
    call(
        &app,
        Method::PATCH,
        &item,
        Some(json!({"maxNumberOfInstances": 7, "externalPayerId": "payer-1"})),
    )
    .await
    .expect(200);
    // A dialect read waits for the inventory; the native reads after it see the same rows.
    let shown = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(shown.body["maxNumberOfInstances"], 7);
    let native = app
        .get(&format!("/v1/subscriptions/{uuid}"))
        .await
        .expect(200);
    assert_eq!(native.body["max_instances"], 7);
    assert_eq!(native.body["external_payer_id"], "payer-1");
    let refused = call(
        &app,
        Method::PATCH,
        &item,
        Some(json!({"customPrice": true})),
    )
    .await;
    goa(&refused, 400, "bad_request");
    let bad = call(
        &app,
        Method::PATCH,
        &item,
        Some(json!({"maxNumberOfInstances": -4})),
    )
    .await;
    goa(&bad, 400, "bad_request");
    assert!(bad.body["message"]
        .as_str()
        .unwrap()
        .contains("maxNumberOfInstances"));
    let (_, other) = user_and_subscription(&app, "carol@enterprise.example").await;
    call(
        &app,
        Method::PATCH,
        &format!("{SCOPE}/subscriptions"),
        Some(json!({"subscriptionIDs": [subscription, other], "maxNumberOfInstances": 9})),
    )
    .await
    .expect(200);
    call(&app, Method::GET, &item, None).await.expect(200);
    for wire in [&subscription, &other] {
        let row = app
            .get(&format!("/v1/subscriptions/{}", native_id(wire, "sub")))
            .await;
        assert_eq!(row.body["max_instances"], 9);
    }
    let unknown = call(
        &app,
        Method::PATCH,
        &format!("{SCOPE}/subscriptions"),
        Some(json!({"subscriptionIDs": [other, "sub-unknown"], "maxNumberOfInstances": 2})),
    )
    .await;
    goa(&unknown, 404, "not_found");
    call(&app, Method::GET, &item, None).await.expect(200);
    let unchanged = app
        .get(&format!("/v1/subscriptions/{}", native_id(&other, "sub")))
        .await;
    assert_eq!(
        unchanged.body["max_instances"], 9,
        "nothing is half-applied"
    );

    // The list hides ended subscriptions unless asked.
    call(
        &app,
        Method::DELETE,
        &format!("{SCOPE}/subscription/{other}"),
        None,
    )
    .await
    .expect(200);
    goa(
        &call(
            &app,
            Method::PUT,
            &format!("{SCOPE}/subscription/{other}/suspend"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    let listed = call(&app, Method::GET, &format!("{SCOPE}/subscription"), None)
        .await
        .expect(200);
    let ids: Vec<&str> = listed.body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&subscription.as_str()) && !ids.contains(&other.as_str()),
        "{ids:?}"
    );
    for row in listed.body["subscriptions"].as_array().unwrap() {
        shaped("Subscription", row, SUBSCRIPTION);
    }
    let all = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/subscription?includeInactive=true"),
        None,
    )
    .await;
    assert!(all.body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == other.as_str()));

    // Requests: approved with PUT (the new subscription has no terms), denied with DELETE.
    let mut requests = Vec::new();
    for plan in ["pt-gold", "pt-silver"] {
        let reply = app
            .post("/v1/subscription-requests", json!({"customer_id": app.customer_id, "service_id": "s-postgres", "plan_id": plan}))
            .await
            .expect(202);
        requests.push(format!("subr-{}", reply.body["id"].as_str().unwrap()));
    }
    let listed = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/subscription/request?status=PENDING"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        listed.body["ids"].as_array().unwrap().len(),
        2,
        "{}",
        listed.body
    );
    for row in listed.body["subscriptionRequests"].as_array().unwrap() {
        shaped(
            "SubscriptionRequest",
            row,
            &[
                ("createdAt", T::Str),
                ("id", T::Str),
                ("productTierId", T::Str),
                ("productTierName", T::Str),
                ("rootUserEmail", T::Str),
                ("rootUserId", T::Str),
                ("rootUserName", T::Str),
                ("serviceId", T::Str),
                ("serviceName", T::Str),
                ("status", T::Str),
                ("updatedAt", T::Str),
                ("updatedByUserId", T::Str),
                ("updatedByUserName", T::Str),
            ],
        );
    }
    let approve = call(
        &app,
        Method::PUT,
        &format!("{SCOPE}/subscription/request/{}", requests[0]),
        None,
    )
    .await;
    assert_eq!(approve.status.as_u16(), 200, "{}", approve.body);
    call(
        &app,
        Method::DELETE,
        &format!("{SCOPE}/subscription/request/{}", requests[1]),
        None,
    )
    .await
    .expect(200);
    goa(
        &call(
            &app,
            Method::DELETE,
            &format!("{SCOPE}/subscription/request/{}", requests[0]),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    goa(
        &call(
            &app,
            Method::PUT,
            &format!("{SCOPE}/subscription/request/{}", requests[1]),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    let approved = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/subscription/request/{}", requests[0]),
        None,
    )
    .await
    .expect(200);
    assert_eq!(approved.body["status"], "APPROVED");
    let request_row = app
        .eventually("the approval's subscription", || async {
            let row = app
                .get(&format!(
                    "/v1/subscription-requests/{}",
                    native_id(&requests[0], "subr")
                ))
                .await
                .body;
            row["subscription_id"].as_str().map(str::to_owned)
        })
        .await;
    let granted = app
        .eventually("the granted subscription in the inventory", || async {
            let reply = app.get(&format!("/v1/subscriptions/{request_row}")).await;
            (reply.status == 200).then_some(reply.body)
        })
        .await;
    assert_eq!(granted["terms"], "none", "{granted}");
    assert_eq!(granted["trial_ends_at"], Value::Null);
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{SCOPE}/subscription/request/subr-zzz"),
            None,
        )
        .await,
        404,
        "not_found",
    );
}

const USER: &[(&str, T)] = &[
    ("createdAt", T::Str),
    ("email", T::Str),
    ("enabled", T::Bool),
    ("lastModifiedAt", T::Str),
    ("orgId", T::Str),
    ("orgName", T::Str),
    ("status", T::Str),
    ("subscriptions", T::Arr),
    ("userId", T::Str),
    ("userName", T::Str),
];

#[tokio::test]
async fn users_are_created_with_their_organisation_and_suspended_and_deleted() {
    let app = TestApp::spawn().await;
    let (user, subscription) = user_and_subscription(&app, "dan@enterprise.example").await;
    let described = call(&app, Method::GET, &format!("{BASE}/user/{user}"), None)
        .await
        .expect(200);
    shaped("User", &described.body, USER);
    assert_eq!(described.body["orgName"], "Enterprise");
    assert_eq!(
        described.body["subscriptions"][0]["subscriptionId"],
        subscription.as_str()
    );
    // The same person natively: a root user of a new customer.
    let native = app
        .get(&format!("/v1/users/{}", native_id(&user, "user")))
        .await
        .expect(200);
    assert_eq!(native.body["role"], "root");
    let customer = app
        .get(&format!(
            "/v1/customers/{}",
            native.body["customer_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(customer.body["name"], "Enterprise");
    assert_eq!(customer.body["domain"], "enterprise.example");

    let in_service = call(&app, Method::GET, &format!("{SCOPE}/user/{user}"), None)
        .await
        .expect(200);
    shaped("User", &in_service.body, USER);
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/service/s-other/environment/se/user/{user}"),
            None,
        )
        .await,
        404,
        "not_found",
    );
    let listed = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/users?subscriptionId={subscription}"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        listed.body["users"].as_array().unwrap().len(),
        1,
        "{}",
        listed.body
    );
    assert_eq!(listed.body["serviceId"], "s-postgres");
    let all = call(&app, Method::GET, &format!("{BASE}/users?pageSize=1"), None)
        .await
        .expect(200);
    assert_eq!(all.body["users"].as_array().unwrap().len(), 1);

    call(
        &app,
        Method::PUT,
        &format!("{BASE}/user/{user}/suspend"),
        None,
    )
    .await
    .expect(200);
    let suspended = call(&app, Method::GET, &format!("{BASE}/user/{user}"), None).await;
    assert_eq!(suspended.body["status"], "NOT_ENABLED");
    assert_eq!(suspended.body["enabled"], false);
    goa(
        &call(
            &app,
            Method::PUT,
            &format!("{BASE}/user/{user}/suspend"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    call(
        &app,
        Method::PUT,
        &format!("{BASE}/user/{user}/unsuspend"),
        None,
    )
    .await
    .expect(200);
    let duplicate = call(
        &app,
        Method::POST,
        &format!("{BASE}/user"),
        Some(
            json!({"email": "dan@enterprise.example", "name": "Dan", "password": "x",
                    "legalCompanyName": "Other", "enableAutoVerification": true}),
        ),
    )
    .await;
    goa(&duplicate, 409, "invalid_state");
    // A user refused leaves no organisation behind.
    let before = call(&app, Method::GET, &format!("{BASE}/organizations"), None)
        .await
        .body["organizations"]
        .as_array()
        .unwrap()
        .len();
    let bad_email = call(
        &app,
        Method::POST,
        &format!("{BASE}/user"),
        Some(
            json!({"email": "not-an-email", "name": "Eve", "password": "x",
                    "legalCompanyName": "Orphan Ltd", "enableAutoVerification": true}),
        ),
    )
    .await;
    goa(&bad_email, 400, "bad_request");
    let after = call(&app, Method::GET, &format!("{BASE}/organizations"), None)
        .await
        .body["organizations"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "no organisation is left behind");
    let missing = call(
        &app,
        Method::POST,
        &format!("{BASE}/user"),
        Some(json!({"email": "e@x.example"})),
    )
    .await;
    goa(&missing, 400, "bad_request");
    call(&app, Method::DELETE, &format!("{BASE}/user/{user}"), None)
        .await
        .expect(200);
    goa(
        &call(&app, Method::GET, &format!("{BASE}/user/{user}"), None).await,
        404,
        "not_found",
    );
    goa(
        &call(&app, Method::DELETE, &format!("{BASE}/user/{user}"), None).await,
        409,
        "invalid_state",
    );
}

#[tokio::test]
async fn cost_usage_and_invoices_read_the_same_books_as_the_native_api() {
    let app = TestApp::spawn().await;
    price_book(&app).await;
    let (user, subscription) = user_and_subscription(&app, "erin@enterprise.example").await;
    let sub_uuid = native_id(&subscription, "sub");

    // Usage of the subscription: per day, and totalled.
    record_usage(
        &app,
        vec![
            record(&sub_uuid, "u1", "vcpu-hour", "10.5", "2026-11-03"),
            record(&sub_uuid, "u2", "vcpu-hour", "4.25", "2026-11-04"),
            record(&sub_uuid, "u3", "egress-gb", "1.00000003", "2026-11-04"),
        ],
    )
    .await;
    let window = "startDate=2026-11-01T00:00:00Z&endDate=2026-12-01T00:00:00Z";
    let per_day = call(
        &app,
        Method::GET,
        &format!("{BASE}/usage-per-day/{subscription}?{window}"),
        None,
    )
    .await
    .expect(200);
    let usage = &per_day.body["usage"];
    shaped(
        "UsagePerSubscription",
        usage,
        &[
            ("subscriptionID", T::Str),
            ("serviceID", T::Str),
            ("productTierID", T::Str),
            ("organizationID", T::Str),
            ("organizationName", T::Str),
            ("userID", T::Str),
            ("startTime", T::Str),
            ("endTime", T::Str),
            ("usage", T::Arr),
        ],
    );
    assert_eq!(usage["userID"], user.as_str());
    assert_eq!(usage["usage"].as_array().unwrap().len(), 3, "{usage}");
    let current = call(
        &app,
        Method::GET,
        &format!("{BASE}/usage/{subscription}?{window}"),
        None,
    )
    .await
    .expect(200);
    let totals = current.body["usage"]["usage"].as_array().unwrap().clone();
    let vcpu = totals
        .iter()
        .find(|d| d["dimension"] == "vcpu-hour")
        .unwrap();
    assert_eq!(vcpu["total"].to_string(), "14.75");
    let egress = totals
        .iter()
        .find(|d| d["dimension"] == "egress-gb")
        .unwrap();
    // Written from the decimal, digit for digit.
    assert_eq!(egress["total"].to_string(), "1.00000003");
    goa(
        &call(&app, Method::GET, &format!("{BASE}/usage/sub-nope"), None).await,
        404,
        "not_found",
    );
    let inverted = call(&app, Method::GET, &format!("{BASE}/usage/{subscription}?startDate=2026-12-01T00:00:00Z&endDate=2026-11-01T00:00:00Z"), None).await;
    goa(&inverted, 400, "bad_request");

    // Cost: the same facts by provider, region, cell and user.
    let native_user = app
        .get(&format!("/v1/users/{}", native_id(&user, "user")))
        .await;
    let customer = native_user.body["customer_id"].as_str().unwrap().to_owned();
    let (instance, _) = app
        .create_instance(json!({"subscription_id": sub_uuid, "deployment_cell": "hc-7"}))
        .await;
    app.post(
        "/v1/cost-records",
        json!({"records": [
            {"id": "c1", "resource_id": "vol-1", "charge_period_start": "2026-11-01T00:00:00Z",
             "billed_cost": "10.00", "currency": "CAD", "cloud_provider": "aws",
             "region": "us-east-1", "deployment_cell": "hc-1", "environment_type": "PROD"},
            {"id": "c2", "resource_id": instance, "instance_id": instance,
             "charge_period_start": "2026-11-03T00:00:00Z", "billed_cost": "5.25", "currency": "CAD"}]}),
    )
    .await
    .expect(202);
    let cost_window =
        "startDate=2026-11-01T00:00:00Z&endDate=2026-12-01T00:00:00Z&environmentType=PROD";
    let by_provider = app
        .eventually("the cost facts", || async {
            let reply = call(
                &app,
                Method::GET,
                &format!("{BASE}/cost/cloud-provider?{cost_window}&frequency=MONTHLY"),
                None,
            )
            .await;
            (reply.body["cloudProviderCosts"]["aws"]["totalCost"] == json!(15.25))
                .then_some(reply.body)
        })
        .await;
    let aws = &by_provider["cloudProviderCosts"]["aws"];
    shaped(
        "PerCloudProviderCost",
        aws,
        &[
            ("cloudProviderName", T::Str),
            ("cost", T::Arr),
            ("totalCost", T::Num),
        ],
    );
    shaped(
        "CostDataPerDate",
        &aws["cost"][0],
        &[("date", T::Str), ("cost", T::Num)],
    );
    let native = app
        .get("/v1/cost/cloud-provider?start=2026-11-01&end=2026-11-30&environment_type=PROD&frequency=monthly")
        .await
        .expect(200);
    assert_eq!(native.body["groups"][0]["total_cost"], "15.25");
    let by_region = call(
        &app,
        Method::GET,
        &format!("{BASE}/cost/region?{cost_window}&frequency=DAILY&includeCloudProviderIDs=aws"),
        None,
    )
    .await
    .expect(200);
    let region = &by_region.body["regionCosts"]["us-east-1"];
    shaped(
        "PerRegionCost",
        region,
        &[
            ("cloudProviderName", T::Str),
            ("regionName", T::Str),
            ("cost", T::Arr),
            ("totalCost", T::Num),
        ],
    );
    assert_eq!(
        region["cost"].as_array().unwrap().len(),
        2,
        "two days: {region}"
    );
    let by_cell = call(&app, Method::GET, &format!("{BASE}/cost/deployment-cell?{cost_window}&frequency=MONTHLY&excludeDeploymentCellIDs=hc-1&topNInstances=5"), None)
        .await
        .expect(200);
    let cells = by_cell.body["deploymentCellCosts"].as_object().unwrap();
    assert_eq!(
        cells.keys().collect::<Vec<_>>(),
        vec!["hc-7"],
        "{}",
        by_cell.body
    );
    assert_eq!(
        cells["hc-7"]["instancesCost"][0]["instanceID"],
        format!("instance-{instance}")
    );
    let by_user = call(
        &app,
        Method::GET,
        &format!("{BASE}/cost/user?{cost_window}&includeUserIDs={user}&topNInstances=1"),
        None,
    )
    .await
    .expect(200);
    let mine = &by_user.body["userCosts"][user.as_str()];
    shaped(
        "PerUserCost",
        mine,
        &[
            ("userName", T::Str),
            ("email", T::Str),
            ("orgID", T::Str),
            ("orgName", T::Str),
            ("cost", T::Arr),
            ("totalCost", T::Num),
        ],
    );
    assert_eq!(mine["email"], "erin@enterprise.example");
    assert_eq!(mine["orgID"], format!("org-{customer}"));
    assert_eq!(mine["totalCost"].to_string(), "5.25");
    for (query, field) in [
        ("startDate=2026-11-01T00:00:00Z&environmentType=PROD&frequency=DAILY".to_owned(), "endDate"),
        (format!("{cost_window}&frequency=HOURLY"), "frequency"),
        (cost_window.to_owned(), "frequency"),
        ("startDate=2026-11-01&endDate=2026-12-01T00:00:00Z&environmentType=PROD&frequency=DAILY".to_owned(), "startDate"),
        (format!("{cost_window}&frequency=DAILY&topNInstances=0"), "topNInstances"),
    ] {
        let reply = call(&app, Method::GET, &format!("{BASE}/cost/cloud-provider?{query}"), None).await;
        goa(&reply, 400, "bad_request");
        assert!(reply.body["message"].as_str().unwrap().contains(field), "{query}: {}", reply.body);
    }

    // Invoices: the customer's, approved, resent and voided here; deleting an open one is a 409.
    generate(&app, &customer, "2026-11").await.expect(201);
    let listed = app
        .eventually("the invoice", || async {
            let reply = call(
                &app,
                Method::GET,
                &format!("{BASE}/invoices?customerId=org-{customer}"),
                None,
            )
            .await;
            (reply.body["invoices"]
                .as_array()
                .is_some_and(|l| !l.is_empty()))
            .then_some(reply.body)
        })
        .await;
    let invoice = &listed["invoices"][0];
    shaped(
        "FleetInvoice",
        invoice,
        &[
            ("id", T::Str),
            ("customerId", T::Str),
            ("customerName", T::Str),
            ("billingPeriodStart", T::Str),
            ("billingPeriodEnd", T::Str),
            ("invoiceDate", T::Str),
            ("dueDate", T::Str),
            ("currency", T::Str),
            ("paymentTerms", T::Str),
            ("status", T::Str),
            ("taxAmount", T::Num),
            ("totalAmount", T::Num),
            ("totalAmountWithoutTax", T::Num),
        ],
    );
    assert_eq!(invoice["status"], "draft");
    assert_eq!(invoice["billingPeriodEnd"], "2026-11-30T23:59:59Z");
    let wire = invoice["id"].as_str().unwrap().to_owned();
    let native = app
        .get(&format!("/v1/invoices/{}", native_id(&wire, "inv")))
        .await
        .expect(200);
    assert_eq!(
        invoice["totalAmount"].to_string(),
        native.body["total"]
            .as_str()
            .unwrap()
            .trim_end_matches('0')
            .trim_end_matches('.')
    );
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/invoice/{wire}/void"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    call(
        &app,
        Method::POST,
        &format!("{BASE}/invoice/{wire}/approve"),
        None,
    )
    .await
    .expect(200);
    call(
        &app,
        Method::POST,
        &format!("{BASE}/invoice/{wire}/resend"),
        None,
    )
    .await
    .expect(200);
    goa(
        &call(
            &app,
            Method::DELETE,
            &format!("{BASE}/invoice/{wire}"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    call(
        &app,
        Method::POST,
        &format!("{BASE}/invoice/{wire}/void"),
        None,
    )
    .await
    .expect(200);
    let voided = app
        .eventually("the void in the list", || async {
            let reply = call(
                &app,
                Method::GET,
                &format!("{BASE}/invoices?status=void"),
                None,
            )
            .await;
            (reply.body["invoices"]
                .as_array()
                .is_some_and(|l| l.len() == 1))
            .then_some(reply.body)
        })
        .await;
    assert_eq!(voided["invoices"][0]["id"], wire.as_str());
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/invoices?status=lost"),
            None,
        )
        .await,
        400,
        "bad_request",
    );
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/invoice/inv-nope/approve"),
            None,
        )
        .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn the_dialect_serves_its_own_generated_document() {
    let app = TestApp::spawn().await;
    let document = app
        .request(
            None,
            Method::GET,
            &format!("{BASE}/openapi.json"),
            None,
            &[],
        )
        .await
        .expect(200);
    let paths = document.body["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{} paths", paths.len());
    let mut operations = 0;
    for (path, item) in paths {
        assert!(path.starts_with(BASE), "{path}");
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            let responses = operation["responses"].as_object().unwrap();
            for code in ["400", "401", "403", "404", "409"] {
                assert!(responses.contains_key(code), "{method} {path} lacks {code}");
            }
            assert!(operation["summary"].is_string(), "{method} {path}");
        }
    }
    assert!(operations >= 44, "{operations} operations");
    let create = &paths[&format!("{BASE}/resource-instance/{{serviceProviderId}}/{{serviceKey}}/{{serviceAPIVersion}}/{{serviceEnvironmentKey}}/{{serviceModelKey}}/{{productTierKey}}/{{resourceKey}}")]["post"];
    assert!(create["responses"]["202"].is_object(), "{create}");
}

#[tokio::test]
async fn a_snapshot_is_taken_copied_and_restored_into_a_new_instance() {
    let app = TestApp::spawn().await;
    let (_, subscription) = user_and_subscription(&app, "fay@enterprise.example").await;
    let created = call(
        &app,
        Method::POST,
        &format!(
            "{BASE}/resource-instance/omnistrate/s-postgres/v1/prod/hosted/pt-standard/postgres"
        ),
        Some(
            json!({"cloud_provider": "aws", "region": "us-east-1", "subscriptionId": subscription,
                    "requestParams": {"replicas": 3, "deploymentCellID": "hc-1"}}),
        ),
    )
    .await
    .expect(202);
    let source = created.body["id"].as_str().unwrap().to_owned();
    let source_uuid = native_id(&source, "instance");
    let item = format!("{SCOPE}/instance/{source}");
    // Only a running instance is snapshotted.
    goa(
        &call(&app, Method::POST, &format!("{item}/snapshot"), None).await,
        409,
        "invalid_state",
    );
    app.post_empty(&format!("/v1/instances/{source_uuid}/ready"))
        .await
        .expect(200);

    let taken = call(&app, Method::POST, &format!("{item}/snapshot"), None)
        .await
        .expect(202);
    shaped(
        "snapshot taken",
        &taken.body,
        &[
            ("environmentId", T::Str),
            ("serviceId", T::Str),
            ("snapshotId", T::Str),
        ],
    );
    let snapshot = taken.body["snapshotId"].as_str().unwrap().to_owned();
    assert!(snapshot.starts_with("instance-ss-"), "{snapshot}");
    let snapshot_uuid = native_id(&snapshot, "instance-ss");
    let described = call(
        &app,
        Method::GET,
        &format!("{item}/snapshot/{snapshot}"),
        None,
    )
    .await
    .expect(200);
    const SNAPSHOT: &[(&str, T)] = &[
        ("createdTime", T::Str),
        ("environmentId", T::Str),
        ("productTierId", T::Str),
        ("progress", T::Int),
        ("region", T::Str),
        ("serviceId", T::Str),
        ("snapshotId", T::Str),
        ("snapshotType", T::Str),
        ("sourceInstanceId", T::Str),
        ("status", T::Str),
    ];
    shaped("Snapshot", &described.body, SNAPSHOT);
    assert_eq!(described.body["status"], "creating");
    assert_eq!(described.body["snapshotType"], "ManualSnapshot");
    assert_eq!(described.body["sourceInstanceId"], source.as_str());
    // Not yet complete: neither restored nor copied.
    let restore_path = format!("{SCOPE}/snapshot/{snapshot}/restore");
    goa(
        &call(&app, Method::POST, &restore_path, Some(json!({}))).await,
        409,
        "invalid_state",
    );
    let no_copy = call(
        &app,
        Method::POST,
        &format!("{item}/copy-snapshot"),
        Some(json!({"targetRegion": "us-west-2"})),
    )
    .await;
    goa(&no_copy, 409, "invalid_state");

    // The agent reports it taken.
    app.post_empty(&format!("/v1/snapshots/{snapshot_uuid}/complete"))
        .await
        .expect(200);
    let completed = call(
        &app,
        Method::GET,
        &format!("{item}/snapshot/{snapshot}"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(completed.body["status"], "completed");
    assert_eq!(completed.body["progress"], 100);
    assert!(completed.body["completeTime"].is_string());

    // An automated one, and a copy (of the latest completed by default) in another region.
    let automated = call(&app, Method::POST, &format!("{item}/autosnapshot"), None)
        .await
        .expect(202);
    let copy = call(
        &app,
        Method::POST,
        &format!("{item}/copy-snapshot"),
        Some(json!({"targetRegion": "us-west-2"})),
    )
    .await
    .expect(202);
    let copy_id = copy.body["snapshotId"].as_str().unwrap().to_owned();
    let listed = call(&app, Method::GET, &format!("{item}/snapshot"), None)
        .await
        .expect(200);
    let snapshots = listed.body["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 3, "{}", listed.body);
    for row in snapshots {
        shaped("Snapshot", row, SNAPSHOT);
    }
    let by_id = |id: &str| {
        snapshots
            .iter()
            .find(|s| s["snapshotId"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_id(automated.body["snapshotId"].as_str().unwrap())["snapshotType"],
        "AutomatedSnapshot"
    );
    assert_eq!(by_id(&copy_id)["region"], "us-west-2");
    let native_copy = app
        .get(&format!(
            "/v1/snapshots/{}",
            native_id(&copy_id, "instance-ss")
        ))
        .await
        .expect(200);
    assert_eq!(native_copy.body["copied_from"], snapshot_uuid.as_str());
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{item}/copy-snapshot"),
            Some(json!({})),
        )
        .await,
        400,
        "bad_request",
    );

    // Which snapshot serves a point in time: the latest completed by then.
    let now = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let serving = call(
        &app,
        Method::GET,
        &format!("{item}/restore"),
        Some(json!({"targetRestoreTime": now})),
    )
    .await
    .expect(200);
    assert_eq!(serving.body["snapshotId"], snapshot.as_str());
    let too_early = call(
        &app,
        Method::GET,
        &format!("{item}/restore?targetRestoreTime=2020-01-01T00:00:00Z"),
        None,
    )
    .await;
    goa(&too_early, 409, "invalid_state");

    // The source goes; its snapshot restores it into a new instance that names the snapshot.
    call(
        &app,
        Method::DELETE,
        &item,
        Some(json!({"resourceId": "r"})),
    )
    .await
    .expect(200);
    let restored = call(
        &app,
        Method::POST,
        &restore_path,
        Some(json!({"network_type": "PUBLIC"})),
    )
    .await
    .expect(202);
    let new_id = restored.body["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, source);
    let new_instance = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/instance/{new_id}"),
        None,
    )
    .await
    .expect(200);
    shaped("ResourceInstance", &new_instance.body, INSTANCE);
    let consumer = &new_instance.body["consumptionResourceInstanceResult"];
    assert_eq!(consumer["sourceSnapshotID"], snapshot.as_str());
    assert_eq!(consumer["currentReplicas"], "3");
    assert_eq!(consumer["status"], "DEPLOYING");
    let history = app
        .history(&format!("/v1/instances/{}", native_id(&new_id, "instance")))
        .await;
    assert_eq!(history[0]["event_type"], "InstanceCreated");
    assert_eq!(
        history[0]["payload"]["restored_from"],
        snapshot_uuid.as_str()
    );
    assert_eq!(history[0]["payload"]["deployment_cell"], "hc-1");
    // Restoring to a time picks the same snapshot.
    let to_time = call(
        &app,
        Method::POST,
        &format!("{item}/restore"),
        Some(json!({"targetRestoreTime": now})),
    )
    .await
    .expect(202);
    let history = app
        .history(&format!(
            "/v1/instances/{}",
            native_id(to_time.body["id"].as_str().unwrap(), "instance")
        ))
        .await;
    assert_eq!(
        history[0]["payload"]["restored_from"],
        snapshot_uuid.as_str()
    );
    let override_refused = call(
        &app,
        Method::POST,
        &restore_path,
        Some(json!({"productTierVersionOverride": "2.0"})),
    )
    .await;
    goa(&override_refused, 400, "bad_request");

    // Deleted: 202, then gone from the list and no longer restorable.
    call(
        &app,
        Method::DELETE,
        &format!("{SCOPE}/snapshot/{snapshot}"),
        None,
    )
    .await
    .expect(202);
    goa(
        &call(
            &app,
            Method::DELETE,
            &format!("{SCOPE}/snapshot/{snapshot}"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    goa(
        &call(&app, Method::POST, &restore_path, Some(json!({}))).await,
        409,
        "invalid_state",
    );
    let listed = call(&app, Method::GET, &format!("{item}/snapshot"), None)
        .await
        .expect(200);
    assert_eq!(listed.body["snapshots"].as_array().unwrap().len(), 2);
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{item}/snapshot/{snapshot}"),
            None,
        )
        .await,
        404,
        "not_found",
    );
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/service/s-other/environment/se/snapshot/{copy_id}/restore"),
            Some(json!({})),
        )
        .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn the_fleet_tells_its_audit_events_organisations_summary_and_report() {
    let app = TestApp::spawn().await;
    let (user, subscription) = user_and_subscription(&app, "gus@enterprise.example").await;
    let created = call(
        &app,
        Method::POST,
        &format!(
            "{BASE}/resource-instance/omnistrate/s-postgres/v1/prod/hosted/pt-standard/postgres"
        ),
        Some(
            json!({"cloud_provider": "aws", "region": "us-east-1", "subscriptionId": subscription,
                    "requestParams": {"instanceType": "m5.large"}}),
        ),
    )
    .await
    .expect(202);
    let wire = created.body["id"].as_str().unwrap().to_owned();
    app.post_empty(&format!(
        "/v1/instances/{}/ready",
        native_id(&wire, "instance")
    ))
    .await
    .expect(200);
    call(
        &app,
        Method::POST,
        &format!("{SCOPE}/instance/{wire}/failover"),
        Some(json!({"failedReplicaID": "db-0"})),
    )
    .await
    .expect(200);

    // Audit events of the instance, newest first, paged, filtered by source.
    let audit = call(
        &app,
        Method::GET,
        &format!("{BASE}/audit-events?instanceID={wire}"),
        None,
    )
    .await
    .expect(200);
    let events = audit.body["events"].as_array().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    // Its creation, provisioning and failover, and its admission under the capped subscription.
    assert_eq!(events.len(), 4, "{kinds:?}");
    for event in events {
        shaped(
            "FleetAuditEvent",
            event,
            &[
                ("id", T::Str),
                ("time", T::Str),
                ("eventSource", T::Str),
                ("message", T::Str),
                ("serviceId", T::Str),
                ("instanceId", T::Str),
                ("userId", T::Str),
                ("workflowFailures", T::Arr),
                ("authMethod", T::Str),
            ],
        );
        assert_eq!(event["instanceId"], wire.as_str());
    }
    assert_eq!(audit.body["ids"].as_array().unwrap().len(), 4);
    let infra = call(
        &app,
        Method::GET,
        &format!("{BASE}/audit-events?instanceID={wire}&eventSourceTypes=Infra"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        infra.body["events"].as_array().unwrap().len(),
        1,
        "{}",
        infra.body
    );
    let first = call(
        &app,
        Method::GET,
        &format!("{BASE}/audit-events?instanceID={wire}&pageSize=2"),
        None,
    )
    .await
    .expect(200);
    let token = first.body["nextPageToken"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = call(
        &app,
        Method::GET,
        &format!("{BASE}/audit-events?instanceID={wire}&pageSize=2&nextPageToken={token}"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(rest.body["events"].as_array().unwrap().len(), 2);
    assert_eq!(rest.body["events"][0]["id"], events[2]["id"]);
    assert!(rest.body.get("nextPageToken").is_none(), "{}", rest.body);
    let by_service = call(
        &app,
        Method::GET,
        &format!("{BASE}/audit-events?serviceID=s-other"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(by_service.body["events"], json!([]));
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/audit-events?eventSourceTypes=Aliens"),
            None,
        )
        .await,
        400,
        "bad_request",
    );
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/audit-events?nextPageToken=abc"),
            None,
        )
        .await,
        400,
        "bad_request",
    );
    let viewer = app.api_key("acme", "viewer").await;
    let denied = app
        .request(
            Some(&viewer),
            Method::GET,
            &format!("{BASE}/audit-events"),
            None,
            &[],
        )
        .await;
    goa(&denied, 403, "forbidden");

    // End-customer events: the sign-up of the organisation and its user.
    let feed = call(&app, Method::GET, &format!("{BASE}/events"), None)
        .await
        .expect(200);
    let feed = feed.body["events"].as_array().unwrap();
    assert!(
        feed.iter().any(
            |e| e["eventType"] == "CustomerSignUp" && e["eventPayload"]["name"] == "Enterprise"
        ),
        "{feed:?}"
    );
    let invited = feed
        .iter()
        .find(|e| e["eventType"] == "InviteUser")
        .expect("the user");
    shaped(
        "EndCustomerEvent",
        invited,
        &[
            ("eventID", T::Str),
            ("eventType", T::Str),
            ("eventPayload", T::Obj),
            ("priority", T::Str),
            ("time", T::Str),
            ("orgID", T::Str),
        ],
    );
    assert_eq!(invited["userID"], user.as_str());
    assert_eq!(invited["userEmail"], "gus@enterprise.example");

    // The provider's operations events: a scale-out, a failed deployment, the sign-up and
    // the subscription, with the outstanding ones counted by type.
    call(
        &app,
        Method::POST,
        &format!("{SCOPE}/instance/{wire}/add-capacity"),
        Some(json!({"capacityToBeAdded": 2, "resourceId": "r"})),
    )
    .await
    .expect(200);
    let (doomed, _) = app.create_instance(json!({"plan_id": "pt-gold"})).await;
    app.post(
        &format!("/v1/instances/{doomed}/fail"),
        json!({"reason": "no capacity in the zone"}),
    )
    .await
    .expect(200);
    let operations = call(
        &app,
        Method::GET,
        &format!("{BASE}/operations/events"),
        None,
    )
    .await
    .expect(200);
    let summary = &operations.body["eventsSummary"]["eventsSummary"];
    assert_eq!(summary["ScaleOut"], 1, "{}", operations.body);
    assert_eq!(summary["FailedDeployment"], 1);
    assert_eq!(summary["UserSignUp"], 1);
    assert!(
        summary["UserSubscription"].as_i64().unwrap() >= 2,
        "Acme's and Enterprise's"
    );
    for event in operations.body["events"].as_array().unwrap() {
        shaped(
            "ServiceProviderEvent",
            event,
            &[
                ("alertType", T::Str),
                ("eventCategory", T::Str),
                ("eventID", T::Str),
                ("eventPayload", T::Obj),
                ("eventType", T::Str),
                ("expiryTime", T::Str),
                ("priority", T::Str),
                ("scope", T::Str),
                ("time", T::Str),
            ],
        );
    }
    let failed = call(
        &app,
        Method::GET,
        &format!("{BASE}/operations/events?eventTypes=FailedDeployment"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(failed.body["events"].as_array().unwrap().len(), 1);
    assert_eq!(failed.body["events"][0]["alertType"], "Alarm");
    let paged = call(
        &app,
        Method::GET,
        &format!("{BASE}/operations/events?pageSize=2"),
        None,
    )
    .await
    .expect(200);
    let token = paged.body["nextPageToken"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let next = call(
        &app,
        Method::GET,
        &format!("{BASE}/operations/events?pageSize=2&nextPageToken={token}"),
        None,
    )
    .await
    .expect(200);
    assert_ne!(
        next.body["events"][0]["eventID"],
        paged.body["events"][0]["eventID"]
    );
    let other = call(
        &app,
        Method::GET,
        &format!("{BASE}/operations/events?serviceID=s-other"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(other.body["events"], json!([]));

    // The environment's report.
    let stats = call(
        &app,
        Method::GET,
        &format!("{BASE}/report/stats/env/PROD"),
        None,
    )
    .await
    .expect(200);
    for field in [
        "deployments",
        "liveDeployments",
        "failovers",
        "subscriptions",
        "userSignups",
    ] {
        shaped(
            field,
            &stats.body[field],
            &[("totalCount", T::Int), ("last7DaysCount", T::Int)],
        );
    }
    assert_eq!(stats.body["deployments"]["totalCount"], 2);
    assert_eq!(stats.body["liveDeployments"]["totalCount"], 2);
    assert_eq!(stats.body["failovers"]["last7DaysCount"], 1);
    assert_eq!(stats.body["subscriptions"]["totalCount"], 2);
    assert_eq!(stats.body["userSignups"]["totalCount"], 1);
    let dev = call(
        &app,
        Method::GET,
        &format!("{BASE}/report/stats/env/DEV"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(dev.body["deployments"]["totalCount"], 0);
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/report/stats/env/MARS"),
            None,
        )
        .await,
        400,
        "bad_request",
    );

    // Organisations: the tenant's, with invoices, and the service's.
    let native_user = app
        .get(&format!("/v1/users/{}", native_id(&user, "user")))
        .await;
    let org = format!("org-{}", native_user.body["customer_id"].as_str().unwrap());
    let all = call(&app, Method::GET, &format!("{BASE}/organizations"), None)
        .await
        .expect(200);
    let names: Vec<&str> = all.body["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orgName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Acme Corp", "Enterprise"]);
    let invoiced = call(
        &app,
        Method::GET,
        &format!("{BASE}/organizations?hasInvoice=true"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(invoiced.body["organizations"], json!([]));
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/organizations?hasInvoiceWithStatus=lost"),
            None,
        )
        .await,
        400,
        "bad_request",
    );
    let active = call(&app, Method::GET, &format!("{SCOPE}/organizations"), None)
        .await
        .expect(200);
    assert_eq!(
        active.body["organizations"].as_array().unwrap().len(),
        2,
        "Acme's subscription counts too"
    );
    let none = call(
        &app,
        Method::GET,
        &format!("{BASE}/service/s-other/environment/se/organizations"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(none.body["organizations"], json!([]));
    let one = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/organization/{org}"),
        None,
    )
    .await
    .expect(200);
    shaped(
        "Organization",
        &one.body,
        &[("email", T::Str), ("orgId", T::Str), ("orgName", T::Str)],
    );
    assert_eq!(one.body["orgUrl"], "enterprise.example");
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/service/s-other/environment/se/organization/{org}"),
            None,
        )
        .await,
        404,
        "not_found",
    );

    // The service's summary and resources.
    let summary = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/service-inventory-summary"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        summary.body,
        json!({"EnvironmentCount": 1, "InstancesCount": 2, "OrganizationCount": 2, "ResourceCount": 1,
               "UserCount": 1, "environmentId": "se-prod", "serviceId": "s-postgres"})
    );
    let tier = format!("{SCOPE}/model/sm-hosted/productTier/pt-standard");
    let resources = call(
        &app,
        Method::GET,
        &format!("{tier}/resources"),
        Some(json!({})),
    )
    .await
    .expect(200);
    let list = resources.body["resources"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", resources.body);
    shaped(
        "Resource",
        &list[0],
        &[
            ("environmentId", T::Str),
            ("instanceCount", T::Int),
            ("name", T::Str),
            ("perVersionInstanceCount", T::Obj),
            ("resourceId", T::Str),
            ("serviceId", T::Str),
        ],
    );
    assert_eq!(list[0]["name"], "m5.large");
    assert_eq!(list[0]["instanceCount"], 1);
    let theirs = call(
        &app,
        Method::GET,
        &format!("{tier}/resources"),
        Some(json!({"userId": user})),
    )
    .await
    .expect(200);
    assert_eq!(theirs.body["resources"].as_array().unwrap().len(), 1);
    let others = call(
        &app,
        Method::GET,
        &format!("{tier}/resources"),
        Some(json!({"orgId": format!("org-{}", app.customer_id)})),
    )
    .await
    .expect(200);
    assert_eq!(others.body["resources"], json!([]));
    let described = call(
        &app,
        Method::GET,
        &format!("{tier}/resource/r-m5.large"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(described.body["instanceCount"], 1);
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{tier}/resource/r-nothing"),
            None,
        )
        .await,
        404,
        "not_found",
    );
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{tier}/resources"),
            Some(json!({"environmentType": "MOON"})),
        )
        .await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn host_clusters_are_adopted_deployed_reconfigured_and_deleted_once_empty() {
    let app = TestApp::spawn().await;
    let (_, subscription) = user_and_subscription(&app, "hal@enterprise.example").await;

    // Adopted (PENDING until its agent reports) and created natively (DEPLOYING).
    let adopted = call(
        &app,
        Method::POST,
        &format!("{BASE}/host-cluster/adopt"),
        Some(
            json!({"cloudProvider": "aws", "customerEmail": "ops@customer.example",
                    "description": "Customer cell", "id": "hc-byoa", "region": "us-east-1"}),
        ),
    )
    .await
    .expect(202);
    assert_eq!(adopted.body["adoptionStatus"], "PENDING");
    let again = call(
        &app,
        Method::POST,
        &format!("{BASE}/host-cluster/adopt"),
        Some(json!({"cloudProvider": "aws", "description": "x", "id": "hc-byoa", "region": "us-east-1"})),
    )
    .await;
    goa(&again, 409, "invalid_state");
    let bad_id = call(
        &app,
        Method::POST,
        &format!("{BASE}/host-cluster/adopt"),
        Some(json!({"cloudProvider": "aws", "description": "x", "id": "hc.1", "region": "us-east-1"})),
    )
    .await;
    goa(&bad_id, 400, "bad_request");
    app.post(
        "/v1/host-clusters",
        json!({"id": "hc-main", "cloud_provider": "aws", "region": "us-east-1", "description": "Main cell"}),
    )
    .await
    .expect(202);

    // An instance is placed in a registered cell only once it is READY.
    let create = |cell: &'static str| {
        let app = &app;
        let subscription = subscription.clone();
        async move {
            call(
                app,
                Method::POST,
                &format!("{BASE}/resource-instance/omnistrate/s-postgres/v1/prod/hosted/pt-standard/postgres"),
                Some(json!({"cloud_provider": "aws", "region": "us-east-1", "subscriptionId": subscription,
                            "requestParams": {"deploymentCellID": cell}})),
            )
            .await
        }
    };
    goa(&create("hc-main").await, 409, "invalid_state");
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/host-cluster/hc-main/dashboard/token"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    app.post_empty("/v1/host-clusters/hc-main/ready")
        .await
        .expect(200);
    let instance = create("hc-main").await.expect(202);
    let instance = instance.body["id"].as_str().unwrap().to_owned();
    // A cell no cluster is registered under is taken as it is.
    create("hc-elsewhere").await.expect(202);

    let described = call(
        &app,
        Method::GET,
        &format!("{BASE}/host-cluster/hc-main"),
        None,
    )
    .await
    .expect(200);
    shaped(
        "HostCluster",
        &described.body,
        &[
            ("id", T::Str),
            ("type", T::Str),
            ("status", T::Str),
            ("cloudProvider", T::Str),
            ("region", T::Str),
            ("description", T::Str),
            ("role", T::Str),
            ("modelType", T::Str),
            ("hasPendingChanges", T::Bool),
            ("isInSyncWithOrgTemplate", T::Bool),
            ("currentNumberOfDeployments", T::Int),
            ("amenities", T::Arr),
            ("pendingAmenities", T::Arr),
            ("createdAt", T::Str),
        ],
    );
    assert_eq!(described.body["status"], "READY");
    assert_eq!(described.body["modelType"], "OMNISTRATE_HOSTED");
    assert_eq!(described.body["healthStatus"]["overallStatus"], "HEALTHY");
    assert_eq!(described.body["currentNumberOfDeployments"], 1);
    let byoa = call(
        &app,
        Method::GET,
        &format!("{BASE}/host-cluster/hc-byoa"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(byoa.body["modelType"], "BYOA");
    let listed = call(
        &app,
        Method::GET,
        &format!("{BASE}/host-clusters?customerEmail=ops@customer.example"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed.body["hostClusters"].as_array().unwrap().len(), 1);

    // Credentials: shown once, kept only as a fingerprint.
    let token = call(
        &app,
        Method::POST,
        &format!("{BASE}/host-cluster/hc-main/dashboard/token"),
        None,
    )
    .await
    .expect(200);
    shaped(
        "DashboardToken",
        &token.body,
        &[("expirationTimestamp", T::Str), ("token", T::Str)],
    );
    let secret = token.body["token"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    let kubeconfig = call(
        &app,
        Method::GET,
        &format!("{BASE}/host-cluster/hc-main/kubeconfig?role=cluster-admin"),
        None,
    )
    .await
    .expect(200);
    let account_token = kubeconfig.body["serviceAccountToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(account_token, secret);
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/host-cluster/hc-main/kubeconfig?role=root"),
            None,
        )
        .await,
        400,
        "bad_request",
    );
    // A name that cannot be a cluster's names none: 404, not a failed read of the stream.
    app.get("/v1/host-clusters/hc%20main.%3E/events")
        .await
        .expect(404);
    let history = app.history("/v1/host-clusters/hc-main").await;
    let text = serde_json::to_string(&history).unwrap();
    assert!(
        !text.contains(&secret) && !text.contains(&account_token),
        "a credential reached the stream"
    );
    assert!(history
        .iter()
        .any(|e| e["event_type"] == "HostClusterCredentialIssued"
            && e["payload"]["credential"] == "kubeconfig"
            && e["payload"]["role"] == "cluster-admin"));

    // The service-scoped reads: the cells its instances run in.
    let scoped = call(&app, Method::GET, &format!("{SCOPE}/host-clusters"), None)
        .await
        .expect(200);
    assert_eq!(scoped.body["ids"], json!(["hc-main"]));
    let one = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/host-cluster/hc-main"),
        None,
    )
    .await
    .expect(200);
    shaped(
        "HostCluster (scoped)",
        &one.body,
        &[
            ("cloudProvider", T::Str),
            ("createdAt", T::Str),
            ("id", T::Str),
            ("region", T::Str),
            ("status", T::Str),
            ("type", T::Str),
        ],
    );
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{SCOPE}/host-cluster/hc-byoa"),
            None,
        )
        .await,
        404,
        "not_found",
    );
    call(
        &app,
        Method::POST,
        &format!("{SCOPE}/host-cluster/hc-main/dashboard/token"),
        None,
    )
    .await
    .expect(200);

    // Configuration: pending amenities, applied (DEPLOYING), cancelled, restarted.
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/host-cluster/hc-main/apply-pending-changes"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    call(
        &app,
        Method::PATCH,
        &format!("{BASE}/host-cluster/hc-main"),
        Some(json!({"pendingAmenities": [{"Name": "cert-manager", "Type": "HelmChart"}], "syncWithOrgTemplate": true})),
    )
    .await
    .expect(200);
    let pending = call(
        &app,
        Method::GET,
        &format!("{BASE}/host-cluster/hc-main"),
        None,
    )
    .await;
    assert_eq!(pending.body["hasPendingChanges"], true);
    assert_eq!(pending.body["isInSyncWithOrgTemplate"], true);
    goa(
        &call(
            &app,
            Method::PATCH,
            &format!("{BASE}/host-cluster/hc-main"),
            Some(json!({"pendingAmenities": ["x"]})),
        )
        .await,
        400,
        "bad_request",
    );
    call(
        &app,
        Method::POST,
        &format!("{BASE}/host-cluster/hc-main/apply-pending-changes"),
        None,
    )
    .await
    .expect(202);
    let debug = call(
        &app,
        Method::GET,
        &format!("{BASE}/host-cluster/hc-main/debug"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        debug.body["amenityStatuses"][0],
        json!({"name": "cert-manager", "status": "INSTALLING"})
    );
    assert_eq!(debug.body["healthStatus"]["overallStatus"], "UNKNOWN");
    assert_eq!(debug.body["customHelmExecutionLogsBase64"], json!({}));
    let applied = call(
        &app,
        Method::GET,
        &format!("{BASE}/host-cluster/hc-main"),
        None,
    )
    .await;
    assert_eq!(applied.body["status"], "DEPLOYING");
    assert_eq!(applied.body["amenities"][0]["Name"], "cert-manager");
    assert_eq!(applied.body["hasPendingChanges"], false);
    call(
        &app,
        Method::POST,
        &format!("{BASE}/host-cluster/hc-main/cancel-deployment"),
        None,
    )
    .await
    .expect(202);
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/host-cluster/hc-main/cancel-deployment"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    call(
        &app,
        Method::POST,
        &format!("{BASE}/host-cluster/hc-main/restart-deployment"),
        None,
    )
    .await
    .expect(202);
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/host-cluster/hc-main/restart-deployment"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    app.post_empty("/v1/host-clusters/hc-main/ready")
        .await
        .expect(200);
    call(
        &app,
        Method::PATCH,
        &format!("{BASE}/host-cluster/hc-main/node-pool/pool-1"),
        Some(json!({"maxSize": 10})),
    )
    .await
    .expect(200);
    goa(
        &call(
            &app,
            Method::PATCH,
            &format!("{BASE}/host-cluster/hc-main/node-pool/pool-1"),
            Some(json!({"maxSize": -1})),
        )
        .await,
        400,
        "bad_request",
    );
    let native = app
        .eventually("the node pool", || async {
            let row = app.get("/v1/host-clusters/hc-main").await.body;
            (row["node_pools"]["pool-1"]["maxSize"] == 10).then_some(row)
        })
        .await;
    assert_eq!(native["status"], "READY");

    // Deleted only once empty.
    goa(
        &call(
            &app,
            Method::DELETE,
            &format!("{BASE}/host-cluster/hc-main"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    // Its entities: a namespace per instance; deleting one deletes the instance.
    let entities = format!("{BASE}/host-cluster/hc-main/entityType/NAMESPACE");
    let listed = call(&app, Method::GET, &entities, None).await.expect(200);
    assert_eq!(
        listed.body["entities"].as_array().unwrap().len(),
        1,
        "{}",
        listed.body
    );
    shaped(
        "Entity",
        &listed.body["entities"][0],
        &[
            ("identifier", T::Str),
            ("type", T::Str),
            ("properties", T::Obj),
        ],
    );
    assert_eq!(listed.body["entities"][0]["identifier"], instance.as_str());
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/host-cluster/hc-main/entityType/POD"),
            None,
        )
        .await,
        400,
        "bad_request",
    );
    let one = call(
        &app,
        Method::GET,
        &format!("{entities}/entityID/{instance}"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(one.body["properties"]["status"], "DEPLOYING");
    call(
        &app,
        Method::DELETE,
        &format!("{entities}/entityID/{instance}"),
        None,
    )
    .await
    .expect(200);
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{entities}/entityID/{instance}"),
            None,
        )
        .await,
        404,
        "not_found",
    );
    call(
        &app,
        Method::DELETE,
        &format!("{BASE}/host-cluster/hc-main"),
        None,
    )
    .await
    .expect(200);
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/host-cluster/hc-main"),
            None,
        )
        .await,
        404,
        "not_found",
    );
    goa(
        &call(
            &app,
            Method::DELETE,
            &format!("{BASE}/host-cluster/hc-main"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/host-cluster/hc-none/restart-deployment"),
            None,
        )
        .await,
        404,
        "not_found",
    );
    let left = call(&app, Method::GET, &format!("{BASE}/host-clusters"), None)
        .await
        .expect(200);
    let ids: Vec<&str> = left.body["hostClusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["hc-byoa"]);
}

#[tokio::test]
async fn an_instance_is_configured_patched_named_and_adopted() {
    let app = TestApp::spawn().await;
    let (_, subscription) = user_and_subscription(&app, "ivy@enterprise.example").await;
    let created = call(
        &app,
        Method::POST,
        &format!(
            "{BASE}/resource-instance/omnistrate/s-postgres/v1/prod/hosted/pt-standard/postgres"
        ),
        Some(
            json!({"cloud_provider": "aws", "region": "us-east-1", "subscriptionId": subscription,
                    "requestParams": {"instanceType": "m5.large"}}),
        ),
    )
    .await
    .expect(202);
    let wire = created.body["id"].as_str().unwrap().to_owned();
    let uuid = native_id(&wire, "instance");
    let item = format!("{SCOPE}/instance/{wire}");

    // Parameters, network type and tags.
    call(
        &app,
        Method::PATCH,
        &item,
        Some(
            json!({"resourceId": "r-m5.large", "network_type": "INTERNAL",
                    "requestParams": {"maxConnections": 200},
                    "customTags": [{"key": "team", "value": "data"}]}),
        ),
    )
    .await
    .expect(200);
    let described = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(described.body["input_params"]["maxConnections"], 200);
    let consumer = &described.body["consumptionResourceInstanceResult"];
    assert_eq!(consumer["network_type"], "INTERNAL");
    assert_eq!(
        consumer["customTags"],
        json!([{"key": "team", "value": "data"}])
    );
    goa(
        &call(
            &app,
            Method::PATCH,
            &item,
            Some(json!({"resourceId": "r", "network_type": "SECRET"})),
        )
        .await,
        400,
        "bad_request",
    );
    goa(
        &call(&app, Method::PATCH, &item, Some(json!({"resourceId": "r"}))).await,
        400,
        "bad_request",
    );

    // Debug mode and debug data.
    call(
        &app,
        Method::POST,
        &format!("{item}/debug-mode"),
        Some(json!({"enable": true})),
    )
    .await
    .expect(200);
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{item}/debug-mode"),
            Some(json!({"enable": true})),
        )
        .await,
        409,
        "invalid_state",
    );
    let debug = call(&app, Method::GET, &format!("{item}/debug"), None)
        .await
        .expect(200);
    shaped(
        "Debug",
        &debug.body,
        &[("instanceId", T::Str), ("resourcesDebug", T::Obj)],
    );
    assert_eq!(
        debug.body["resourcesDebug"]["m5.large"]["debugData"]["debugMode"],
        true
    );

    // Custom DNS: one owner per name in the tenant.
    let dns = format!("{SCOPE}/http/instance/{wire}/custom-dns");
    call(
        &app,
        Method::POST,
        &dns,
        Some(json!({"customDNS": "db.enterprise.example", "targetPort": 5432})),
    )
    .await
    .expect(200);
    goa(
        &call(
            &app,
            Method::POST,
            &dns,
            Some(json!({"customDNS": "not a name"})),
        )
        .await,
        400,
        "bad_request",
    );
    goa(
        &call(
            &app,
            Method::POST,
            &dns,
            Some(json!({"customDNS": "x.example", "targetPort": 70000})),
        )
        .await,
        400,
        "bad_request",
    );
    let other = call(
        &app,
        Method::POST,
        &format!(
            "{BASE}/resource-instance/omnistrate/s-postgres/v1/prod/hosted/pt-standard/postgres"
        ),
        Some(
            json!({"cloud_provider": "aws", "region": "us-east-1", "subscriptionId": subscription}),
        ),
    )
    .await
    .expect(202);
    let other = other.body["id"].as_str().unwrap().to_owned();
    let taken = call(
        &app,
        Method::POST,
        &format!("{SCOPE}/http/instance/{other}/custom-dns"),
        Some(json!({"customDNS": "DB.enterprise.example"})),
    )
    .await;
    goa(&taken, 409, "invalid_state");
    let debug = call(&app, Method::GET, &format!("{item}/debug"), None)
        .await
        .expect(200);
    assert_eq!(
        debug.body["resourcesDebug"]["m5.large"]["debugData"]["customDNS"][0]["name"],
        "db.enterprise.example"
    );
    call(&app, Method::DELETE, &dns, None).await.expect(200);
    goa(
        &call(&app, Method::DELETE, &dns, None).await,
        404,
        "not_found",
    );
    call(
        &app,
        Method::POST,
        &format!("{SCOPE}/http/instance/{other}/custom-dns"),
        Some(json!({"customDNS": "db.enterprise.example"})),
    )
    .await
    .expect(200);

    // The installer the agent records; none before.
    goa(
        &call(&app, Method::GET, &format!("{item}/installer"), None).await,
        404,
        "not_found",
    );
    app.post(
        &format!("/v1/instances/{uuid}/installer"),
        json!({"url": "https://get.enterprise.example/install.sh"}),
    )
    .await
    .expect(200);
    let installer = call(&app, Method::GET, &format!("{item}/installer"), None)
        .await
        .expect(200);
    assert_eq!(
        installer.body["installerURL"],
        "https://get.enterprise.example/install.sh"
    );
    assert_eq!(installer.body["instanceId"], wire.as_str());

    // A one-off patch needs a running instance, and answers the instance as patched.
    let patch = json!({"resourceId": "r-m5.large", "targetTierVersion": "2.0"});
    goa(
        &call(
            &app,
            Method::PATCH,
            &format!("{item}/patch"),
            Some(patch.clone()),
        )
        .await,
        409,
        "invalid_state",
    );
    app.post_empty(&format!("/v1/instances/{uuid}/ready"))
        .await
        .expect(200);
    let patched = call(&app, Method::PATCH, &format!("{item}/patch"), Some(patch))
        .await
        .expect(200);
    shaped("ResourceInstance", &patched.body, INSTANCE);
    assert_eq!(patched.body["tierVersion"], "2.0");

    // Dependent components, and instances linked by a snapshot.
    let components = call(
        &app,
        Method::GET,
        &format!("{item}/dependent-components"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(components.body["resources"][0]["name"], "m5.large");
    let snapshot = call(&app, Method::POST, &format!("{item}/snapshot"), None)
        .await
        .expect(202);
    let snapshot = snapshot.body["snapshotId"].as_str().unwrap().to_owned();
    app.post_empty(&format!(
        "/v1/snapshots/{}/complete",
        native_id(&snapshot, "instance-ss")
    ))
    .await
    .expect(200);
    let restored = call(
        &app,
        Method::POST,
        &format!("{SCOPE}/snapshot/{snapshot}/restore"),
        Some(json!({})),
    )
    .await
    .expect(202);
    let restored = restored.body["id"].as_str().unwrap().to_owned();
    let linked = call(&app, Method::GET, &format!("{item}/linked-instances"), None)
        .await
        .expect(200);
    let ids: Vec<&Value> = linked.body["resourceInstances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["consumptionResourceInstanceResult"]["id"])
        .collect();
    assert_eq!(ids, vec![&json!(restored)]);
    let back = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/instance/{restored}/linked-instances"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        back.body["resourceInstances"][0]["consumptionResourceInstanceResult"]["id"],
        wire.as_str()
    );

    // Adoption into a READY cell: created adopted, in the cell's cloud and region.
    let adopt = format!("{BASE}/resource-instance/s-postgres/pt-standard/hc-edge/postgres/adopt");
    goa(
        &call(
            &app,
            Method::POST,
            &adopt,
            Some(json!({"subscriptionID": subscription})),
        )
        .await,
        404,
        "not_found",
    );
    app.post("/v1/host-clusters", json!({"id": "hc-edge", "cloud_provider": "gcp", "region": "europe-west1", "description": "Edge"}))
        .await
        .expect(202);
    goa(
        &call(
            &app,
            Method::POST,
            &adopt,
            Some(json!({"subscriptionID": subscription})),
        )
        .await,
        409,
        "invalid_state",
    );
    app.post_empty("/v1/host-clusters/hc-edge/ready")
        .await
        .expect(200);
    let adopted = call(
        &app,
        Method::POST,
        &adopt,
        Some(json!({"subscriptionID": subscription})),
    )
    .await
    .expect(202);
    let adopted = adopted.body["id"].as_str().unwrap().to_owned();
    let shown = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/instance/{adopted}"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(shown.body["adopted"], true);
    assert_eq!(shown.body["cloudProvider"], "gcp");
    assert_eq!(shown.body["deploymentCellID"], "hc-edge");

    // Nothing configures a deleted instance.
    call(
        &app,
        Method::DELETE,
        &item,
        Some(json!({"resourceId": "r"})),
    )
    .await
    .expect(200);
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{item}/debug-mode"),
            Some(json!({"enable": false})),
        )
        .await,
        409,
        "invalid_state",
    );
    goa(
        &call(
            &app,
            Method::PATCH,
            &item,
            Some(json!({"resourceId": "r", "network_type": "PUBLIC"})),
        )
        .await,
        409,
        "invalid_state",
    );
    goa(
        &call(
            &app,
            Method::POST,
            &dns,
            Some(json!({"customDNS": "new.enterprise.example"})),
        )
        .await,
        409,
        "invalid_state",
    );
}

#[tokio::test]
async fn notification_channels_deliver_by_webhook_and_replay_a_delivery() {
    let app = TestApp::spawn().await;
    let (url, received) = fleet_tests::webhook_receiver::receiver(0).await;
    let created = call(
        &app,
        Method::POST,
        &format!("{BASE}/notification-channel"),
        Some(
            json!({"name": "Ops", "webhook": {"url": url, "method": "POST"},
                    "subscription": {"eventCategories": [], "eventPriorities": [],
                                     "eventTypes": ["InstanceCreated"], "alertTypes": [],
                                     "environmentTypes": []}}),
        ),
    )
    .await
    .expect(200);
    let channel = created.body.as_str().expect("a bare string id").to_owned();
    assert!(channel.starts_with("channel-"), "{channel}");
    for (body, field) in [
        (
            json!({"name": "Mail", "email": {"to": "ops@example.com"}, "subscription": {}}),
            "email",
        ),
        (
            json!({"name": "Chat", "slack": {"webhookUrl": "https://hooks.slack.example"}, "subscription": {}}),
            "slack",
        ),
        (
            json!({"name": "Put", "webhook": {"url": url, "method": "PUT"}, "subscription": {}}),
            "webhook.method",
        ),
        (
            json!({"name": "x", "webhook": {"url": url, "method": "POST"}, "subscription": {"eventTypes": ["UnhealthyInstance"]}}),
            "eventTypes",
        ),
        (
            json!({"webhook": {"url": url, "method": "POST"}, "subscription": {}}),
            "name",
        ),
    ] {
        let reply = call(
            &app,
            Method::POST,
            &format!("{BASE}/notification-channel"),
            Some(body),
        )
        .await;
        goa(&reply, 400, "bad_request");
        assert!(
            reply.body["message"].as_str().unwrap().contains(field),
            "{field}: {}",
            reply.body
        );
    }
    let item = format!("{BASE}/notification-channel/{channel}");
    let described = call(&app, Method::GET, &item, None).await.expect(200);
    shaped(
        "Channel",
        &described.body,
        &[
            ("channelType", T::Str),
            ("id", T::Str),
            ("name", T::Str),
            ("subscription", T::Obj),
            ("webhook", T::Obj),
        ],
    );
    assert_eq!(described.body["channelType"], "WEBHOOK");
    assert_eq!(
        described.body["subscription"]["eventTypes"],
        json!(["InstanceCreated"])
    );
    let listed = call(
        &app,
        Method::GET,
        &format!("{BASE}/notification-channel"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed.body["channels"].as_array().unwrap().len(), 1);

    // An instance is created: the channel is told, and its history shows the delivery.
    app.create_instance(json!({})).await;
    let history = app
        .eventually("the delivery", || async {
            let reply = call(&app, Method::GET, &format!("{item}/event-history"), None).await;
            let events = reply.body["events"].as_array().cloned().unwrap_or_default();
            (events
                .first()
                .is_some_and(|e| e["publicationStatus"] == "SUCCESS"))
            .then_some(events)
        })
        .await;
    assert_eq!(history.len(), 1);
    shaped(
        "Event",
        &history[0],
        &[
            ("id", T::Str),
            ("timestamp", T::Str),
            ("publicationStatus", T::Str),
            ("body", T::Obj),
            ("channelResponse", T::Obj),
        ],
    );
    assert_eq!(history[0]["body"]["eventType"], "InstanceCreated");
    assert_eq!(history[0]["channelResponse"]["status"], 200);
    assert_eq!(received.lock().unwrap().delivered.len(), 1);

    // Replayed: delivered once more, as a new delivery.
    let event = history[0]["id"].as_str().unwrap();
    call(
        &app,
        Method::POST,
        &format!("{BASE}/notification-event/{event}/replay"),
        None,
    )
    .await
    .expect(200);
    app.eventually("the replay", || async {
        (received.lock().unwrap().delivered.len() == 2).then_some(())
    })
    .await;
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/notification-event/event-nope/replay"),
            None,
        )
        .await,
        404,
        "not_found",
    );
    let window = call(
        &app,
        Method::GET,
        &format!("{item}/event-history?endTime=2020-01-01T00:00:00Z"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(window.body["events"], json!([]));

    // Renamed, then deleted: gone, and nothing to replay to.
    call(
        &app,
        Method::PATCH,
        &item,
        Some(json!({"name": "Operations"})),
    )
    .await
    .expect(200);
    assert_eq!(
        call(&app, Method::GET, &item, None).await.body["name"],
        "Operations"
    );
    goa(
        &call(
            &app,
            Method::PATCH,
            &item,
            Some(json!({"pagerDuty": {"integrationKey": "k"}})),
        )
        .await,
        400,
        "bad_request",
    );
    call(&app, Method::DELETE, &item, None).await.expect(200);
    goa(
        &call(&app, Method::GET, &item, None).await,
        404,
        "not_found",
    );
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/notification-event/{event}/replay"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    goa(
        &call(&app, Method::DELETE, &item, None).await,
        409,
        "invalid_state",
    );
}
