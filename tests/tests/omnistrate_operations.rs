//! Omnistrate's operations APIs: fleet health by cell and by service, search, the service
//! offerings, Helm package installations, acknowledging end-customer events, resending a
//! verification email, and signed inbound webhooks.

mod support;

use fleet_tests::{json, TestApp};
use hmac::{Hmac, Mac};
use reqwest::Method;
use sha2::Sha256;
use support::omnistrate::*;

async fn instance_in(app: &TestApp, cell: &str) -> String {
    let (id, _) = app
        .create_instance(json!({"deployment_cell": cell, "name": format!("db-{cell}")}))
        .await;
    id
}

#[tokio::test]
async fn health_is_told_from_the_instances_and_their_cells() {
    let app = TestApp::spawn().await;
    app.post(
        "/v1/host-clusters",
        json!({"id": "hc-1", "cloud_provider": "aws", "region": "us-east-1", "description": "main"}),
    )
    .await
    .expect(202);
    app.post_empty("/v1/host-clusters/hc-1/ready")
        .await
        .expect(200);
    let running = instance_in(&app, "hc-1").await;
    app.post_empty(&format!("/v1/instances/{running}/ready"))
        .await
        .expect(200);
    let failed = instance_in(&app, "hc-1").await;
    app.post(
        &format!("/v1/instances/{failed}/fail"),
        json!({"reason": "disk lost"}),
    )
    .await
    .expect(200);
    let deploying = instance_in(&app, "hc-2").await;

    let cell = call(
        &app,
        Method::GET,
        &format!("{BASE}/operations/deployment-cell-health?hostClusterID=hc-1"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(cell.body["cloudProvider"], "aws");
    assert_eq!(cell.body["regionCode"], "us-east-1");
    let health = &cell.body["instanceHealth"];
    assert_eq!(health[format!("instance-{running}")]["status"], "HEALTHY");
    assert_eq!(health[format!("instance-{failed}")]["status"], "UNHEALTHY");
    assert_eq!(
        health[format!("instance-{failed}")]["lifeCycleStatus"],
        "FAILED"
    );
    assert!(health.get(format!("instance-{deploying}")).is_none());
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/operations/deployment-cell-health"),
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
            &format!("{BASE}/operations/deployment-cell-health?hostClusterID=hc-none"),
            None,
        )
        .await,
        404,
        "not_found",
    );

    let service = call(
        &app,
        Method::GET,
        &format!("{BASE}/operations/service-health?serviceID=s-postgres&serviceEnvironmentID=se-1"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(service.body["totalInstances"], 3);
    assert_eq!(service.body["healthyInstances"], 1);
    assert_eq!(service.body["unhealthyInstances"], 1);
    assert_eq!(service.body["unknownInstances"], 1);
    assert_eq!(service.body["status"], "Unhealthy");
    let region =
        &service.body["cloudProviderHealthSummary"]["aws"]["regionalHealthSummary"]["us-east-1"];
    assert_eq!(region["totalInstances"], 3);
    assert_eq!(
        region["deploymentCellHealthSummary"]["hc-1"]["unhealthyInstances"],
        1
    );
    assert_eq!(
        region["deploymentCellHealthSummary"]["hc-1"]["status"],
        "Unhealthy"
    );
    assert_eq!(
        region["deploymentCellHealthSummary"]["hc-2"]["deployingInstances"],
        1
    );
    assert_eq!(
        region["deploymentCellHealthSummary"]["hc-2"]["status"],
        "Healthy"
    );

    // Once the failed instance is gone, the service is healthy.
    app.delete(&format!("/v1/instances/{failed}"))
        .await
        .expect(200);
    let healed = call(
        &app,
        Method::GET,
        &format!("{BASE}/operations/service-health?serviceID=s-postgres&serviceEnvironmentID=se-1"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(healed.body["status"], "Healthy");
    assert_eq!(healed.body["message"], "Service is healthy");
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/operations/service-health"),
            None,
        )
        .await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn search_finds_the_inventory_by_words_and_kinds() {
    let app = TestApp::spawn().await;
    let alpha = instance_in(&app, "hc-alpha").await;
    let _beta = instance_in(&app, "hc-beta").await;
    let search = |query: &str| {
        let query = query.to_owned();
        let app = &app;
        async move {
            call(
                app,
                Method::POST,
                &format!("{BASE}/search-inventory"),
                Some(json!({"query": query})),
            )
            .await
        }
    };
    let found = search("alpha").await.expect(200);
    let instances = found.body["resourceInstanceResults"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{}", found.body);
    assert_eq!(instances[0]["id"], format!("instance-{alpha}"));
    for bucket in [
        "deploymentCellResults",
        "notificationResults",
        "proxyInstanceResults",
        "resourceResults",
        "serverlessProxyResults",
        "servicePlanResults",
        "serviceResults",
        "subscriptionResults",
        "upgradePathResults",
        "userResults",
        "workflowResults",
        "snapshotResults",
    ] {
        assert!(found.body[bucket].is_array(), "{bucket} in {}", found.body);
    }
    // Every word must match, as a prefix; ids match too.
    let both = search("postg east").await.expect(200);
    assert_eq!(
        both.body["resourceInstanceResults"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let by_id = search(&alpha).await.expect(200);
    assert_eq!(
        by_id.body["resourceInstanceResults"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let nothing = search("alpha zebra").await.expect(200);
    assert_eq!(nothing.body["resourceInstanceResults"], json!([]));
    // A kind narrows the search: the deploy workflows are found, not the instances.
    let workflows = app
        .eventually("the workflows are searchable", || async {
            let w = search("workflow:deploy").await.expect(200);
            (w.body["workflowResults"].as_array().unwrap().len() == 2).then_some(w)
        })
        .await;
    assert_eq!(workflows.body["resourceInstanceResults"], json!([]));
    goa(&search("galaxy:alpha").await, 400, "bad_request");
    goa(&search("  ").await, 400, "bad_request");

    let scoped = call(
        &app,
        Method::POST,
        &format!("{SCOPE}/search-inventory"),
        Some(json!({"query": "resourceinstance:beta"})),
    )
    .await
    .expect(200);
    assert_eq!(scoped.body["serviceId"], "s-postgres");
    assert_eq!(scoped.body["results"].as_array().unwrap().len(), 1);
    let elsewhere = call(
        &app,
        Method::POST,
        &format!("{BASE}/service/s-other/environment/se-1/search-inventory"),
        Some(json!({"query": "beta"})),
    )
    .await
    .expect(200);
    assert_eq!(elsewhere.body["results"], json!([]));

    // Service offerings: the services the tenant sells, with their tiers.
    let offerings = call(&app, Method::GET, &format!("{BASE}/service-offering"), None)
        .await
        .expect(200);
    let list = &offerings.body["ConsumptionListServiceOfferingsResult"];
    assert_eq!(list["serviceIds"], json!(["s-postgres"]));
    let one = call(
        &app,
        Method::GET,
        &format!("{BASE}/service-offering/s-postgres"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        one.body["ConsumptionDescribeServiceOfferingResult"]["offerings"][0]["productTierID"],
        "pt-standard"
    );
    goa(
        &call(
            &app,
            Method::GET,
            &format!("{BASE}/service-offering/s-nothing"),
            None,
        )
        .await,
        404,
        "not_found",
    );
    let resource = call(
        &app,
        Method::GET,
        &format!(
            "{BASE}/service-offering/s-postgres/resource/r-m5.large/instance/instance-{alpha}"
        ),
        None,
    )
    .await
    .expect(200);
    let apis = resource.body["ConsumptionDescribeServiceOfferingResourceResult"]["apis"]
        .as_array()
        .unwrap();
    // Deploying: neither stop nor start is offered.
    assert!(
        apis.iter()
            .all(|a| !a["path"].as_str().unwrap().ends_with("/stop")),
        "{apis:?}"
    );
    let any = call(
        &app,
        Method::GET,
        &format!("{BASE}/service-offering/s-postgres/resource/r-m5.large/instance/none"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        any.body["ConsumptionDescribeServiceOfferingResourceResult"]["apis"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[tokio::test]
async fn helm_packages_follow_their_cluster_rollout() {
    let app = TestApp::spawn().await;
    app.post(
        "/v1/host-clusters",
        json!({"id": "hc-main", "cloud_provider": "aws", "region": "us-east-1", "description": "main"}),
    )
    .await
    .expect(202);
    app.post_empty("/v1/host-clusters/hc-main/ready")
        .await
        .expect(200);
    call(
        &app,
        Method::PATCH,
        &format!("{BASE}/host-cluster/hc-main"),
        Some(json!({"pendingAmenities": [
            {"Name": "cert-manager", "Type": "HelmChart",
             "Properties": {"chartVersion": "1.14.0", "namespace": "cert-manager"}},
            {"Name": "observability", "Type": "Observability"}]})),
    )
    .await
    .expect(200);
    let listed = || async {
        call(
            &app,
            Method::GET,
            &format!("{BASE}/helm-package-installations?hostClusterID=hc-main"),
            None,
        )
        .await
        .expect(200)
        .body["helmPackageInstallations"]
            .clone()
    };
    let pending = listed().await;
    assert_eq!(
        pending.as_array().unwrap().len(),
        1,
        "only Helm charts: {pending}"
    );
    assert_eq!(pending[0]["status"], "pending-install");
    assert_eq!(pending[0]["helmPackage"]["chartVersion"], "1.14.0");
    call(
        &app,
        Method::POST,
        &format!("{BASE}/host-cluster/hc-main/apply-pending-changes"),
        None,
    )
    .await
    .expect(202);
    app.post_empty("/v1/host-clusters/hc-main/ready")
        .await
        .expect(200);
    let deployed = listed().await;
    assert_eq!(deployed[0]["status"], "deployed");
    assert_eq!(deployed[0]["hostClusterID"], "hc-main");
}

#[tokio::test]
async fn an_acknowledged_event_drops_out_of_the_list_once() {
    let app = TestApp::spawn().await;
    let (user, _) = user_and_subscription(&app, "bob@example.com").await;
    let events = || async {
        call(&app, Method::GET, &format!("{BASE}/events"), None)
            .await
            .expect(200)
            .body["events"]
            .as_array()
            .unwrap()
            .clone()
    };
    // The sign-ups of the app's own customer and of Bob's, and Bob's invitation.
    let before = events().await;
    assert_eq!(before.len(), 3, "{before:?}");
    let invite = before
        .iter()
        .find(|e| e["eventType"] == "InviteUser")
        .unwrap()["eventID"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        &app,
        Method::DELETE,
        &format!("{BASE}/events/{invite}"),
        None,
    )
    .await
    .expect(200);
    let after = events().await;
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|e| e["eventType"] == "CustomerSignUp"),
        "{after:?}"
    );
    goa(
        &call(
            &app,
            Method::DELETE,
            &format!("{BASE}/events/{invite}"),
            None,
        )
        .await,
        409,
        "invalid_state",
    );
    goa(
        &call(
            &app,
            Method::DELETE,
            &format!("{BASE}/events/event-{}", uuid::Uuid::now_v7()),
            None,
        )
        .await,
        404,
        "not_found",
    );

    // The verification email is asked for again, and subscribers are told.
    let resend = format!("{BASE}/user/{user}/verification-email");
    call(&app, Method::POST, &resend, None).await.expect(200);
    let history = app
        .history(&format!("/v1/users/{}", native_id(&user, "user")))
        .await;
    let resent = history
        .iter()
        .find(|e| e["event_type"] == "UserVerificationEmailResent")
        .expect("the resend is an event");
    assert_eq!(resent["payload"]["email"], "bob@example.com");
    call(
        &app,
        Method::PUT,
        &format!("{BASE}/user/{user}/suspend"),
        None,
    )
    .await
    .expect(200);
    goa(
        &call(&app, Method::POST, &resend, None).await,
        409,
        "invalid_state",
    );
    goa(
        &call(
            &app,
            Method::POST,
            &format!(
                "{BASE}/user/user-{}/verification-email",
                uuid::Uuid::now_v7()
            ),
            None,
        )
        .await,
        404,
        "not_found",
    );
}

const SECRET: &str = "a-long-shared-hook-secret";

fn signed(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn a_signed_webhook_becomes_an_event_and_a_bad_signature_is_refused() {
    let hooks = format!("billing=acme:{SECRET}");
    let app = TestApp::spawn_with(&[("FLEET_INBOUND_HOOKS", &hooks)]).await;
    let post = |body: &'static str, signature: Option<String>, delivery: Option<&'static str>| {
        let app = &app;
        async move {
            let mut request = reqwest::Client::new()
                .post(format!("{}{BASE}/hooks/billing", app.base))
                .header("content-type", "application/json")
                .body(body);
            if let Some(s) = signature {
                request = request.header("X-Hub-Signature-256", s);
            }
            if let Some(d) = delivery {
                request = request.header("X-Webhook-Id", d);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, text)
        }
    };
    let body = r#""invoice.paid for customer 42""#;
    let (status, text) = post(body, None, None).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("auth_failure"), "{text}");
    let (status, _) = post(body, Some(signed("another body")), None).await;
    assert_eq!(status, 401);
    let (status, text) = post(body, Some(signed(body)), Some("delivery-1")).await;
    assert_eq!(status, 200, "{text}");
    // The same delivery again is accepted and recorded once.
    let (status, _) = post(body, Some(signed(body)), Some("delivery-1")).await;
    assert_eq!(status, 200);
    let unknown = reqwest::Client::new()
        .post(format!("{}{BASE}/hooks/nobody", app.base))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    let received = app
        .eventually("the delivery is in the audit log", || async {
            let audit = app
                .get("/v1/audit-events?event_types=WebhookReceived")
                .await
                .expect(200);
            let items = audit.body["items"].as_array().unwrap().clone();
            (!items.is_empty()).then_some(items)
        })
        .await;
    assert_eq!(received.len(), 1, "recorded once: {received:?}");
    assert_eq!(received[0]["payload"]["producer"], "billing");
    assert_eq!(
        received[0]["payload"]["data"],
        "invoice.paid for customer 42"
    );
}
