//! Omnistrate's setup APIs: account configs (BYOA) and their verification, custom networks
//! with their CIDR rules, customer onboardings stage by stage, and services orchestration.

mod support;

use base64::Engine;
use fleet_tests::{json, TestApp};
use reqwest::Method;
use support::omnistrate::*;

#[tokio::test]
async fn an_account_config_is_verified_disconnected_and_deleted() {
    let app = TestApp::spawn().await;
    let bad = app
        .post(
            "/v1/account-configs",
            json!({"name": "Dev", "cloud_provider": "aws", "aws_account_id": "12"}),
        )
        .await;
    assert_eq!(bad.status.as_u16(), 422, "{}", bad.body);
    let created = app
        .post(
            "/v1/account-configs",
            json!({"name": "Dev AWS account", "cloud_provider": "aws",
                   "description": "An AWS account hosting multiple dev environments",
                   "aws_account_id": "123456789012",
                   "aws_bootstrap_role_arn": "arn:aws:iam::123456789012:role/omnistrate"}),
        )
        .await
        .expect(202);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let item = format!("{BASE}/account-config/ac-{id}");
    let described = call(&app, Method::GET, &item, None).await.expect(200);
    shaped(
        "AccountConfig",
        &described.body,
        &[
            ("id", T::Str),
            ("name", T::Str),
            ("description", T::Str),
            ("cloudProviderId", T::Str),
            ("status", T::Str),
            ("statusMessage", T::Str),
            ("awsAccountID", T::Str),
            ("byoaInstanceIDs", T::Arr),
        ],
    );
    assert_eq!(described.body["status"], "PENDING");

    // Listed by provider, with the body Omnistrate sends on its GET or a query.
    let listed = app
        .request(
            Some(&app.key),
            Method::GET,
            &format!("{BASE}/account-configs"),
            Some(json!({"cloudProviderName": "aws"})),
            &[],
        )
        .await
        .expect(200);
    assert_eq!(listed.body["ids"], json!([format!("ac-{id}")]));
    let none = call(
        &app,
        Method::GET,
        &format!("{BASE}/account-configs?cloudProviderName=gcp"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(none.body["accountConfigs"], json!([]));
    goa(
        &call(&app, Method::GET, &format!("{BASE}/account-configs"), None).await,
        400,
        "bad_request",
    );

    // Illegal: deleting or disconnecting before it is ready... and verifying while pending.
    let connection = format!("{BASE}/service/s-postgres/account-config-instance/ac-{id}");
    goa(
        &call(
            &app,
            Method::POST,
            &connection,
            Some(json!({"setConnection": false})),
        )
        .await,
        409,
        "invalid_state",
    );
    let early = app
        .post(
            &format!("/v1/account-configs/{id}/verification"),
            json!({"ready": true}),
        )
        .await;
    assert_eq!(early.status.as_u16(), 409);
    call(
        &app,
        Method::POST,
        &connection,
        Some(json!({"setConnection": true})),
    )
    .await
    .expect(202);
    goa(
        &call(&app, Method::DELETE, &item, None).await,
        409,
        "invalid_state",
    );
    app.post(
        &format!("/v1/account-configs/{id}/verification"),
        json!({"ready": false, "message": "the bootstrap role cannot be assumed"}),
    )
    .await
    .expect(200);
    let failed = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(failed.body["status"], "FAILED");
    assert_eq!(
        failed.body["statusMessage"],
        "the bootstrap role cannot be assumed"
    );
    call(
        &app,
        Method::POST,
        &connection,
        Some(json!({"setConnection": true})),
    )
    .await
    .expect(202);
    app.post(
        &format!("/v1/account-configs/{id}/verification"),
        json!({"ready": true}),
    )
    .await
    .expect(200);
    let ready = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(ready.body["status"], "READY");
    goa(
        &call(&app, Method::DELETE, &item, None).await,
        409,
        "invalid_state",
    );
    call(
        &app,
        Method::POST,
        &connection,
        Some(json!({"setConnection": false})),
    )
    .await
    .expect(202);
    let offboarding = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(offboarding.body["status"], "READY_TO_OFFBOARD");
    call(&app, Method::DELETE, &item, None).await.expect(200);
    goa(
        &call(&app, Method::GET, &item, None).await,
        404,
        "not_found",
    );
    goa(
        &call(&app, Method::DELETE, &item, None).await,
        404,
        "not_found",
    );

    // Another tenant sees none of it.
    let other = app.api_key("other-tenant", "admin").await;
    let foreign = app
        .request(Some(&other), Method::GET, &item, None, &[])
        .await;
    assert_eq!(foreign.status.as_u16(), 404);
}

#[tokio::test]
async fn custom_networks_refuse_bad_and_overlapping_ranges() {
    let app = TestApp::spawn().await;
    let create = |cidr: &str, region: &str| {
        json!({"cidr": cidr, "cloudProviderName": "aws", "cloudProviderRegion": region,
               "name": format!("net {cidr}"),
               "networkFeaturesConfiguration": {"isPrivateLinkEnabled": true}})
    };
    let network = format!("{BASE}/custom-network");
    let first = call(
        &app,
        Method::POST,
        &network,
        Some(create("10.0.0.0/16", "us-east-1")),
    )
    .await
    .expect(200);
    shaped(
        "CustomNetwork",
        &first.body,
        &[
            ("id", T::Str),
            ("name", T::Str),
            ("cidr", T::Str),
            ("cloudProviderName", T::Str),
            ("cloudProviderRegion", T::Str),
            ("networkDefinitionType", T::Str),
            ("networkFeaturesConfiguration", T::Obj),
            ("networkInstances", T::Arr),
            ("status", T::Str),
        ],
    );
    assert_eq!(
        first.body["networkFeaturesConfiguration"]["isPrivateLinkEnabled"],
        true
    );
    let id = first.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("n-"), "{id}");

    for (cidr, why) in [
        ("10.0.128.0/17", "overlaps"),
        ("10.0.0.1/16", "host bits"),
        ("10.0.0.0/33", "prefix"),
        ("300.1.0.0/16", "IPv4"),
    ] {
        let refused = call(
            &app,
            Method::POST,
            &network,
            Some(create(cidr, "us-east-1")),
        )
        .await;
        goa(&refused, 400, "bad_request");
        assert!(
            refused.body["message"].as_str().unwrap().contains(why),
            "{cidr}: {}",
            refused.body
        );
    }
    // The same range in another region, or next to it, is fine; the default is 10.0.0.0/16.
    call(
        &app,
        Method::POST,
        &network,
        Some(create("10.0.0.0/16", "eu-west-1")),
    )
    .await
    .expect(200);
    call(
        &app,
        Method::POST,
        &network,
        Some(create("10.1.0.0/16", "us-east-1")),
    )
    .await
    .expect(200);
    let defaulted = call(
        &app,
        Method::POST,
        &network,
        Some(json!({"cloudProviderName": "gcp", "cloudProviderRegion": "us-central1"})),
    )
    .await
    .expect(200);
    assert_eq!(defaulted.body["cidr"], "10.0.0.0/16");

    let listed = call(
        &app,
        Method::GET,
        &format!("{network}?cloudProviderRegion=us-east-1"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed.body["customNetworks"].as_array().unwrap().len(), 2);

    let item = format!("{network}/{id}");
    let renamed = call(
        &app,
        Method::PATCH,
        &item,
        Some(json!({"name": "Prod us-east-1"})),
    )
    .await
    .expect(200);
    assert_eq!(renamed.body["name"], "Prod us-east-1");
    assert_eq!(renamed.body["cidr"], "10.0.0.0/16");
    call(&app, Method::DELETE, &item, None).await.expect(200);
    goa(
        &call(&app, Method::GET, &item, None).await,
        404,
        "not_found",
    );
    goa(
        &call(&app, Method::DELETE, &item, None).await,
        404,
        "not_found",
    );
    // Its range is free again.
    call(
        &app,
        Method::POST,
        &network,
        Some(create("10.0.0.0/20", "us-east-1")),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn an_onboarding_completes_when_every_stage_is_done_or_skipped() {
    let app = TestApp::spawn().await;
    let stages = call(
        &app,
        Method::GET,
        &format!("{BASE}/customer-onboarding-stages"),
        None,
    )
    .await
    .expect(200);
    let names: Vec<String> = stages.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 5);
    let created = call(
        &app,
        Method::POST,
        &format!("{BASE}/customer-onboarding"),
        Some(json!({"onboardingType": "CLOUD_NATIVE"})),
    )
    .await
    .expect(200);
    let id = created.body.as_str().expect("a bare id").to_owned();
    let item = format!("{BASE}/customer-onboarding/{id}");
    let described = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(described.body["isCompleted"], false);
    assert!(described.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "NOT_STARTED"));
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{BASE}/customer-onboarding"),
            Some(json!({"onboardingType": "FLOPPY"})),
        )
        .await,
        400,
        "bad_request",
    );

    let set = |stage: &str, status: &str| json!({"stage": {"name": stage, "status": status}});
    call(
        &app,
        Method::PATCH,
        &item,
        Some(json!({"serviceId": "s-postgres"})),
    )
    .await
    .expect(200);
    call(&app, Method::PATCH, &item, Some(set(&names[0], "SKIPPED")))
        .await
        .expect(200);
    call(&app, Method::PATCH, &item, Some(set(&names[0], "COMPLETE")))
        .await
        .expect(200);
    // A complete stage is final.
    goa(
        &call(&app, Method::PATCH, &item, Some(set(&names[0], "SKIPPED"))).await,
        409,
        "invalid_state",
    );
    goa(
        &call(&app, Method::PATCH, &item, Some(set("Nowhere", "COMPLETE"))).await,
        400,
        "bad_request",
    );
    let pending = call(
        &app,
        Method::GET,
        &format!("{BASE}/customer-onboarding?pendingOnly=true"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(pending.body["onboardings"].as_array().unwrap().len(), 1);
    for name in &names[1..] {
        call(&app, Method::PATCH, &item, Some(set(name, "COMPLETE")))
            .await
            .expect(200);
    }
    let done = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(done.body["isCompleted"], true);
    assert_eq!(done.body["serviceId"], "s-postgres");
    let pending = call(
        &app,
        Method::GET,
        &format!("{BASE}/customer-onboarding?pendingOnly=true"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(pending.body["onboardings"], json!([]));
    call(&app, Method::DELETE, &item, None).await.expect(200);
    goa(
        &call(&app, Method::GET, &item, None).await,
        404,
        "not_found",
    );
    goa(
        &call(&app, Method::PATCH, &item, Some(set(&names[0], "COMPLETE"))).await,
        404,
        "not_found",
    );
}

fn dsl(value: serde_json::Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(value.to_string())
}

#[tokio::test]
async fn an_orchestration_deploys_each_service_after_what_it_depends_on() {
    let app = TestApp::spawn().await;
    let subscription = format!("sub-{}", app.subscription_id);
    let deployment = |alias: &str, deps: &[&str]| {
        json!({"alias": alias, "serviceId": "s-postgres", "productTierId": "pt-standard",
               "subscriptionId": subscription, "cloudProvider": "aws", "region": "us-east-1",
               "resourceKey": "postgres", "dependsOn": deps})
    };
    let orchestration = format!("{BASE}/services-orchestration");
    let cyclic = dsl(json!({"deployments": [deployment("a", &["b"]), deployment("b", &["a"])]}));
    goa(
        &call(
            &app,
            Method::POST,
            &orchestration,
            Some(json!({"orchestrationCreateDSL": cyclic})),
        )
        .await,
        400,
        "bad_request",
    );
    goa(
        &call(
            &app,
            Method::POST,
            &orchestration,
            Some(json!({"orchestrationCreateDSL": "%%%"})),
        )
        .await,
        400,
        "bad_request",
    );
    let body = dsl(json!({"environmentType": "DEV",
                          "deployments": [deployment("db", &[]), deployment("app", &["db"])]}));
    let created = call(
        &app,
        Method::POST,
        &orchestration,
        Some(json!({"orchestrationCreateDSL": body})),
    )
    .await
    .expect(202);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("so-"));
    let item = format!("{orchestration}/{id}");

    // Only the database is deployed first.
    let instances = || async {
        app.get(&format!(
            "/v1/instances?subscription_id={}",
            app.subscription_id
        ))
        .await
        .expect(200)
        .body["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let db = app
        .eventually("the first deployment's instance", || async {
            let list = instances().await;
            (list.len() == 1).then(|| list[0]["id"].as_str().unwrap().to_owned())
        })
        .await;
    let described = call(&app, Method::GET, &item, None).await.expect(200);
    let inner = &described.body["accessServicesOrchestration"];
    assert_eq!(inner["status"], "PENDING");
    assert_eq!(inner["ServicesTopology"].as_array().unwrap().len(), 2);
    app.post_empty(&format!("/v1/instances/{db}/ready"))
        .await
        .expect(200);
    let app_instance = app
        .eventually("the dependent deployment's instance", || async {
            let list = instances().await;
            list.iter()
                .find(|i| i["id"] != db.as_str())
                .map(|i| i["id"].as_str().unwrap().to_owned())
        })
        .await;
    app.post_empty(&format!("/v1/instances/{app_instance}/ready"))
        .await
        .expect(200);
    app.eventually("the orchestration runs", || async {
        let d = call(&app, Method::GET, &item, None).await.expect(200);
        (d.body["accessServicesOrchestration"]["status"] == "RUNNING").then_some(())
    })
    .await;
    let listed = call(
        &app,
        Method::GET,
        &format!("{orchestration}?environmentType=DEV"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    goa(
        &call(&app, Method::GET, &orchestration, None).await,
        400,
        "bad_request",
    );

    // A modification adds a deployment: its instance is created, and it is in the topology.
    let cache = dsl(json!({"deployments": [deployment("cache", &["db"])]}));
    call(
        &app,
        Method::PATCH,
        &item,
        Some(json!({"orchestrationModifyDSL": cache})),
    )
    .await
    .expect(202);
    app.eventually("the added deployment's instance", || async {
        (instances().await.len() == 3).then_some(())
    })
    .await;
    let modified = call(&app, Method::GET, &item, None).await.expect(200);
    let topology = modified.body["accessServicesOrchestration"]["ServicesTopology"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(topology.len(), 3);
    assert_eq!(topology[2]["instanceDeploymentAlias"], "cache");
    let again = dsl(json!({"deployments": [deployment("cache", &[])]}));
    goa(
        &call(
            &app,
            Method::PATCH,
            &item,
            Some(json!({"orchestrationModifyDSL": again})),
        )
        .await,
        400,
        "bad_request",
    );

    // Deleted, its instances go; a deleted orchestration takes no modification.
    call(&app, Method::DELETE, &item, None).await.expect(202);
    app.eventually("the orchestration's instances are deleted", || async {
        instances()
            .await
            .iter()
            .all(|i| i["status"] == "deleted")
            .then_some(())
    })
    .await;
    let more = dsl(json!({"deployments": [deployment("cache", &[])]}));
    goa(
        &call(
            &app,
            Method::PATCH,
            &item,
            Some(json!({"orchestrationModifyDSL": more})),
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

/// Another tenant's key gets none of it: each of these ids is a 404 to it, and nothing
/// changes. Its own network may take the same range (the rule is per tenant).
#[tokio::test]
async fn another_tenant_sees_and_changes_none_of_it() {
    let app = TestApp::spawn().await;
    let globex = app.api_key("globex", "admin").await;
    let theirs = |method: Method, path: String, body: Option<serde_json::Value>| {
        let app = &app;
        let key = globex.clone();
        async move { app.request(Some(&key), method, &path, body, &[]).await }
    };
    // Acme's things.
    let (instance, _) = app.running_instance().await;
    let network = call(
        &app,
        Method::POST,
        &format!("{BASE}/custom-network"),
        Some(json!({"cidr": "10.9.0.0/16", "cloudProviderName": "aws", "cloudProviderRegion": "us-east-1"})),
    )
    .await
    .expect(200);
    let network = format!(
        "{BASE}/custom-network/{}",
        network.body["id"].as_str().unwrap()
    );
    let onboarding = call(
        &app,
        Method::POST,
        &format!("{BASE}/customer-onboarding"),
        Some(json!({})),
    )
    .await
    .expect(200);
    let onboarding = format!(
        "{BASE}/customer-onboarding/{}",
        onboarding.body.as_str().unwrap()
    );
    let tier = format!("{BASE}/service/s-postgres/productTier/pt-standard");
    let path = call(
        &app,
        Method::POST,
        &format!("{tier}/upgrade-path"),
        Some(json!({"sourceVersion": "1.0", "targetVersion": "2.0",
                    "upgradeFilters": {"INSTANCE_IDS": [format!("instance-{instance}")]}})),
    )
    .await
    .expect(200);
    let path = format!(
        "{tier}/upgrade-path/{}",
        path.body["upgradePathId"].as_str().unwrap()
    );
    app.all_caught_up().await;
    let workflow = format!(
        "{SCOPE}/service-workflows/wf-{}",
        app.get(&format!("/v1/workflows?instance_id={instance}"))
            .await
            .expect(200)
            .body["items"][0]["id"]
            .as_str()
            .unwrap()
    );

    let workflow_before = call(&app, Method::GET, &workflow, None)
        .await
        .expect(200)
        .body;
    for (method, item, body) in [
        (Method::GET, network.clone(), None),
        (
            Method::PATCH,
            network.clone(),
            Some(json!({"name": "mine now"})),
        ),
        (Method::DELETE, network.clone(), None),
        (Method::GET, onboarding.clone(), None),
        (
            Method::PATCH,
            onboarding.clone(),
            Some(json!({"stage": {"name": "BuildSaaS", "status": "COMPLETE"}})),
        ),
        (Method::DELETE, onboarding.clone(), None),
        (Method::GET, path.clone(), None),
        (
            Method::POST,
            format!("{path}/manage-lifecycle"),
            Some(json!({"action": "pause"})),
        ),
        (Method::POST, format!("{path}/cancel"), None),
        (Method::GET, format!("{path}/eligible-instances"), None),
        (Method::GET, workflow.clone(), None),
        (
            Method::PATCH,
            workflow.clone(),
            Some(json!({"status": "pause"})),
        ),
        (Method::DELETE, workflow.clone(), None),
    ] {
        let reply = theirs(method.clone(), item.clone(), body).await;
        assert_eq!(
            reply.status.as_u16(),
            404,
            "{method} {item}: {}",
            reply.body
        );
    }
    // Nothing changed for acme.
    let mine = call(&app, Method::GET, &network, None).await.expect(200);
    assert_ne!(mine.body["name"], "mine now");
    call(&app, Method::GET, &onboarding, None).await.expect(200);
    let upgrade = call(&app, Method::GET, &path, None).await.expect(200);
    assert_eq!(upgrade.body["status"], "IN_PROGRESS");
    let run = call(&app, Method::GET, &workflow, None).await.expect(200);
    assert_eq!(run.body["Workflow"], workflow_before["Workflow"]);
    // Globex's own network may use the same range in the same region.
    theirs(
        Method::POST,
        format!("{BASE}/custom-network"),
        Some(json!({"cidr": "10.9.0.0/16", "cloudProviderName": "aws", "cloudProviderRegion": "us-east-1"})),
    )
    .await
    .expect(200);
}
