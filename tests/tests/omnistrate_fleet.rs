//! The rest of Omnistrate's fleet API: workflows, upgrade paths, account configs, custom
//! networks, onboardings, services orchestration, health, search, offerings, events
//! acknowledgement, verification emails and inbound webhooks, each at its Omnistrate path and
//! in its shapes, read back through the native API where it has one.

mod support;

use fleet_tests::{json, TestApp};
use reqwest::Method;
use serde_json::Value;
use support::omnistrate::*;

const TIER: &str = "/2022-09-01-00/fleet/service/s-postgres/productTier/pt-standard";

/// Creates an instance at Omnistrate's path under the app's default subscription.
async fn omnistrate_instance(app: &TestApp, version: Option<&str>) -> String {
    let mut body = json!({"cloud_provider": "aws", "region": "us-east-1",
        "subscriptionId": format!("sub-{}", app.subscription_id),
        "requestParams": {"instanceType": "m5.large", "deploymentCellID": "hc-1"}});
    if let Some(v) = version {
        body["productTierVersion"] = json!(v);
    }
    let created = call(
        app,
        Method::POST,
        &format!(
            "{BASE}/resource-instance/omnistrate/s-postgres/v1/prod/hosted/pt-standard/postgres"
        ),
        Some(body),
    )
    .await
    .expect(202);
    native_id(created.body["id"].as_str().unwrap(), "instance")
}

/// The native workflow of `kind` of the instance, once it is there.
async fn workflow_of(app: &TestApp, instance: &str, kind: &str) -> Value {
    app.eventually(&format!("a {kind} workflow of {instance}"), || async {
        let list = app
            .get(&format!("/v1/workflows?instance_id={instance}"))
            .await
            .expect(200);
        list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["kind"] == kind)
            .cloned()
    })
    .await
}

/// Reports every step of a workflow still to run as completed, in order.
async fn complete_steps(app: &TestApp, workflow: &str) {
    let row = app
        .get(&format!("/v1/workflows/{workflow}"))
        .await
        .expect(200);
    for step in row.body["steps"].as_array().unwrap() {
        if step["status"] == "completed" {
            continue;
        }
        let name = step["name"].as_str().unwrap();
        app.post(
            &format!("/v1/workflows/{workflow}/steps/{name}"),
            json!({"outcome": "completed"}),
        )
        .await
        .expect(200);
    }
}

const SERVICE_WORKFLOW: &[(&str, T)] = &[
    ("ResourceCount", T::Int),
    ("UpdatedBy", T::Str),
    ("UpdatedReason", T::Str),
    ("WorkflowType", T::Str),
    ("cloudProvider", T::Str),
    ("id", T::Str),
    ("servicePlanName", T::Str),
    ("startTime", T::Str),
    ("status", T::Str),
];

#[tokio::test]
async fn every_instance_operation_runs_as_a_workflow_with_steps_and_events() {
    let app = TestApp::spawn().await;
    let instance = omnistrate_instance(&app, None).await;
    let deploy = workflow_of(&app, &instance, "deploy").await;
    let wf = deploy["id"].as_str().unwrap().to_owned();
    let wire = format!("wf-{wf}");
    let item = format!("{SCOPE}/service-workflows/{wire}");

    // Listed for the instance, described with its phases.
    let listed = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/service-workflows?instanceId=instance-{instance}"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed.body["serviceId"], "s-postgres");
    let workflows = listed.body["workflows"].as_array().unwrap();
    assert_eq!(workflows.len(), 1, "{}", listed.body);
    shaped("ServiceWorkflow", &workflows[0], SERVICE_WORKFLOW);
    assert_eq!(workflows[0]["WorkflowType"], "CreateInstance");
    assert_eq!(workflows[0]["status"], "IN_PROGRESS");
    let described = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(
        described.body["Resources"][0]["infraDeploymentStatus"],
        "IN_PROGRESS"
    );
    assert_eq!(
        described.body["Resources"][0]["computeDeploymentStatus"],
        "PENDING"
    );
    assert_eq!(
        described.body["Resources"][0]["actionHookDeploymentStatus"],
        "N/A"
    );

    // A step out of order is refused; the running one completes.
    let early = app
        .post(
            &format!("/v1/workflows/{wf}/steps/compute"),
            json!({"outcome": "completed"}),
        )
        .await;
    assert_eq!(early.status.as_u16(), 422, "{}", early.body);
    app.post(
        &format!("/v1/workflows/{wf}/steps/infrastructure"),
        json!({"outcome": "completed"}),
    )
    .await
    .expect(200);

    // A failed step fails the workflow, and the instance in the state the workflow names.
    app.post(
        &format!("/v1/workflows/{wf}/steps/network"),
        json!({"outcome": "failed", "message": "subnet quota exceeded"}),
    )
    .await
    .expect(200);
    let instance_item = format!("{SCOPE}/instance/instance-{instance}");
    app.eventually("the instance fails with its workflow", || async {
        let d = call(&app, Method::GET, &instance_item, None)
            .await
            .expect(200);
        (d.body["consumptionResourceInstanceResult"]["status"] == "FAILED").then_some(())
    })
    .await;
    let failed = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(failed.body["Workflow"]["status"], "FAILED");
    assert_eq!(
        failed.body["Resources"][0]["networkDeploymentStatus"],
        "FAILED"
    );
    // The audit names the creation's workflow and its failure; the workflow's own events are
    // the workflows API's.
    let audit = call(
        &app,
        Method::GET,
        &format!("{BASE}/audit-events?instanceID=instance-{instance}"),
        None,
    )
    .await
    .expect(200);
    let events = audit.body["events"].as_array().unwrap();
    assert!(events
        .iter()
        .all(|e| !e["message"].as_str().unwrap().contains("on workflow")));
    let creation = events
        .iter()
        .find(|e| e["message"].as_str().unwrap().contains("InstanceCreated"))
        .expect("the creation is audited");
    assert_eq!(creation["workflowId"], wire.as_str());
    assert!(creation["workflowFailures"][0]["message"]
        .as_str()
        .unwrap()
        .contains("subnet quota exceeded"));

    // Illegal transitions of a failed workflow are 409s.
    for status in ["pause", "resume"] {
        let refused = call(&app, Method::PATCH, &item, Some(json!({"status": status}))).await;
        goa(&refused, 409, "invalid_state");
    }
    let bad = call(
        &app,
        Method::PATCH,
        &item,
        Some(json!({"status": "explode"})),
    )
    .await;
    goa(&bad, 400, "bad_request");

    // Retried, it runs from the failed step; once done the instance recovers to running.
    let retried = call(&app, Method::PATCH, &item, Some(json!({"status": "retry"})))
        .await
        .expect(200);
    shaped("ServiceWorkflow", &retried.body, SERVICE_WORKFLOW);
    assert_eq!(retried.body["status"], "IN_PROGRESS");
    complete_steps(&app, &wf).await;
    app.eventually(
        "the retried deployment brings the instance back",
        || async {
            let d = call(&app, Method::GET, &instance_item, None)
                .await
                .expect(200);
            (d.body["consumptionResourceInstanceResult"]["status"] == "RUNNING").then_some(())
        },
    )
    .await;
    let done = call(&app, Method::GET, &item, None).await.expect(200);
    assert_eq!(done.body["Workflow"]["status"], "COMPLETED");
    for status in ["pause", "resume", "retry"] {
        let refused = call(&app, Method::PATCH, &item, Some(json!({"status": status}))).await;
        goa(&refused, 409, "invalid_state");
    }
    goa(
        &call(&app, Method::DELETE, &item, None).await,
        409,
        "invalid_state",
    );

    // The step events, told step by step.
    let events = call(&app, Method::GET, &format!("{item}/events"), None)
        .await
        .expect(200);
    let steps = events.body["resources"][0]["workflowSteps"]
        .as_array()
        .unwrap();
    assert_eq!(steps.len(), 6);
    let network: Vec<&str> = steps[1]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        network,
        [
            "WorkflowStepStarted",
            "WorkflowStepFailed",
            "WorkflowStepStarted",
            "WorkflowStepCompleted"
        ]
    );

    // A stop runs as its own workflow: paused, resumed, paused and terminated.
    call(
        &app,
        Method::POST,
        &format!("{instance_item}/stop"),
        Some(json!({"resourceId": "r-postgres"})),
    )
    .await
    .expect(200);
    let stop = workflow_of(&app, &instance, "stop").await;
    let stop_item = format!(
        "{SCOPE}/service-workflows/wf-{}",
        stop["id"].as_str().unwrap()
    );
    let paused = call(
        &app,
        Method::PATCH,
        &stop_item,
        Some(json!({"status": "pause"})),
    )
    .await
    .expect(200);
    assert_eq!(paused.body["status"], "PAUSED");
    assert_eq!(paused.body["WorkflowType"], "StopInstance");
    let step = app
        .post(
            &format!(
                "/v1/workflows/{}/steps/compute",
                stop["id"].as_str().unwrap()
            ),
            json!({"outcome": "completed"}),
        )
        .await;
    assert_eq!(
        step.status.as_u16(),
        409,
        "a paused workflow takes no report"
    );
    goa(
        &call(
            &app,
            Method::PATCH,
            &stop_item,
            Some(json!({"status": "pause"})),
        )
        .await,
        409,
        "invalid_state",
    );
    call(
        &app,
        Method::PATCH,
        &stop_item,
        Some(json!({"status": "resume"})),
    )
    .await
    .expect(200);
    let terminated = call(&app, Method::DELETE, &stop_item, None)
        .await
        .expect(200);
    assert_eq!(terminated.body["status"], "TERMINATED");
    assert_eq!(
        terminated.body["UpdatedReason"],
        "Customer requested termination."
    );
    assert!(!terminated.body["UpdatedBy"].as_str().unwrap().is_empty());
    goa(
        &call(&app, Method::DELETE, &stop_item, None).await,
        409,
        "invalid_state",
    );

    let summary = call(
        &app,
        Method::GET,
        &format!("{SCOPE}/service-workflows-summary"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        summary.body["CompletedWorkflowCount"], 1,
        "{}",
        summary.body
    );
    assert_eq!(summary.body["ActiveWorkflowCount"], 0);
    assert_eq!(summary.body["FailedWorkflowCount"], 0);

    // Every other operation runs as a workflow of its own kind.
    let resource = json!({"resourceId": "r-postgres"});
    for (tail, body, kind, shown) in [
        ("start", resource.clone(), "start", "StartInstance"),
        ("restart", resource.clone(), "restart", "RestartInstance"),
        (
            "failover",
            json!({"failedReplicaID": "db-0"}),
            "failover",
            "FailoverInstance",
        ),
        (
            "add-capacity",
            json!({"capacityToBeAdded": 1, "resourceId": "r-postgres"}),
            "capacity",
            "ScaleInstance",
        ),
    ] {
        call(
            &app,
            Method::POST,
            &format!("{instance_item}/{tail}"),
            Some(body),
        )
        .await
        .expect(200);
        let run = workflow_of(&app, &instance, kind).await;
        let item = format!(
            "{SCOPE}/service-workflows/wf-{}",
            run["id"].as_str().unwrap()
        );
        let described = call(&app, Method::GET, &item, None).await.expect(200);
        assert_eq!(described.body["Workflow"]["WorkflowType"], shown);
    }
    call(&app, Method::DELETE, &instance_item, Some(resource))
        .await
        .expect(200);
    let deletion = workflow_of(&app, &instance, "delete").await;
    assert_eq!(deletion["on_failure"], "deleted");
    assert_eq!(deletion["steps"].as_array().unwrap().len(), 4);

    // Another service's path does not see it.
    let other = call(
        &app,
        Method::GET,
        &format!("{BASE}/service/s-other/environment/se-prod/service-workflows/{wire}"),
        None,
    )
    .await;
    goa(&other, 404, "not_found");
}

/// The eligible instances of a path, as Omnistrate lists them.
async fn path_instances(app: &TestApp, item: &str) -> Vec<Value> {
    let listed = call(
        app,
        Method::GET,
        &format!("{item}/eligible-instances"),
        None,
    )
    .await
    .expect(200);
    listed.body["instances"].as_array().unwrap().clone()
}

async fn described(app: &TestApp, item: &str) -> Value {
    call(app, Method::GET, item, None).await.expect(200).body
}

/// Completes the upgrade workflows of the instances moving now; how many there were.
async fn finish_moving(app: &TestApp, item: &str) -> usize {
    let moving: Vec<Value> = app
        .eventually("the moving instances' workflows", || async {
            let instances = path_instances(app, item).await;
            let moving: Vec<Value> = instances
                .into_iter()
                .filter(|i| i["status"] == "IN_PROGRESS")
                .collect();
            moving
                .iter()
                .all(|i| i["workflowID"].is_string())
                .then_some(moving)
        })
        .await;
    for instance in &moving {
        let wf = native_id(instance["workflowID"].as_str().unwrap(), "wf");
        complete_steps(app, &wf).await;
    }
    moving.len()
}

#[tokio::test]
async fn an_upgrade_path_rolls_ten_instances_with_a_pause_and_a_resume() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let id = omnistrate_instance(&app, Some("1.0")).await;
        app.post_empty(&format!("/v1/instances/{id}/ready"))
            .await
            .expect(200);
        ids.push(id);
    }
    // Not eligible: on another version, and not running.
    let other_version = omnistrate_instance(&app, Some("0.9")).await;
    app.post_empty(&format!("/v1/instances/{other_version}/ready"))
        .await
        .expect(200);
    let deploying = omnistrate_instance(&app, Some("1.0")).await;
    let mut asked: Vec<String> = ids.iter().map(|i| format!("instance-{i}")).collect();
    asked.push(format!("instance-{other_version}"));
    asked.push(format!("instance-{deploying}"));

    let created = call(
        &app,
        Method::POST,
        &format!("{TIER}/upgrade-path"),
        Some(json!({"sourceVersion": "1.0", "targetVersion": "2.0",
                    "upgradeFilters": {"INSTANCE_IDS": asked},
                    "maxConcurrentUpgrades": 2, "notifyCustomer": false})),
    )
    .await
    .expect(200);
    let path = created.body.clone();
    shaped(
        "UpgradePath",
        &path,
        &[
            ("upgradePathId", T::Str),
            ("serviceId", T::Str),
            ("productTierId", T::Str),
            ("type", T::Str),
            ("sourceVersion", T::Str),
            ("targetVersion", T::Str),
            ("status", T::Str),
            ("totalCount", T::Int),
            ("pendingCount", T::Int),
            ("scheduledCount", T::Int),
            ("inProgressCount", T::Int),
            ("completedCount", T::Int),
            ("failedCount", T::Int),
            ("skippedCount", T::Int),
            ("maxConcurrentUpgrades", T::Int),
            ("notifyCustomer", T::Bool),
            ("createdAt", T::Str),
            ("createdBy", T::Str),
            ("lastModifiedBy", T::Str),
            ("updatedAt", T::Str),
            ("failedInstanceReasons", T::Obj),
        ],
    );
    assert_eq!(path["status"], "IN_PROGRESS");
    assert_eq!(path["totalCount"], 10);
    assert_eq!(path["inProgressCount"], 2);
    assert_eq!(path["pendingCount"], 8);
    let reasons = &path["failedInstanceReasons"];
    assert!(
        reasons[format!("instance-{other_version}")]["reason"]
            .as_str()
            .unwrap()
            .contains("0.9"),
        "{reasons}"
    );
    assert!(reasons[format!("instance-{deploying}")]["reason"]
        .as_str()
        .unwrap()
        .contains("not running"));
    let item = format!(
        "{TIER}/upgrade-path/{}",
        path["upgradePathId"].as_str().unwrap()
    );

    // An instance can be on one open path only.
    let again = call(
        &app,
        Method::POST,
        &format!("{TIER}/upgrade-path"),
        Some(json!({"sourceVersion": "1.0", "targetVersion": "3.0",
                    "upgradeFilters": {"INSTANCE_IDS": [format!("instance-{}", ids[0])]}})),
    )
    .await;
    goa(&again, 400, "bad_request");
    let resumed_early = call(
        &app,
        Method::POST,
        &format!("{item}/manage-lifecycle"),
        Some(json!({"action": "resume"})),
    )
    .await;
    goa(&resumed_early, 409, "invalid_state");

    // Two rounds of two, then a pause: what moves finishes, and nothing more starts.
    let mut moved = 0;
    for _ in 0..2 {
        assert_eq!(finish_moving(&app, &item).await, 2);
        moved += 2;
        app.eventually("the next instances start", || async {
            let p = described(&app, &item).await;
            (p["completedCount"] == moved && p["inProgressCount"] == 2).then_some(())
        })
        .await;
    }
    let paused = call(
        &app,
        Method::POST,
        &format!("{item}/manage-lifecycle"),
        Some(json!({"action": "pause"})),
    )
    .await
    .expect(200);
    assert_eq!(paused.body["status"], "PAUSED");
    assert_eq!(paused.body["lastRequestedAction"], "pause");
    assert_eq!(finish_moving(&app, &item).await, 2);
    moved += 2;
    app.eventually("the in-flight upgrades end", || async {
        let p = described(&app, &item).await;
        (p["completedCount"] == moved).then_some(())
    })
    .await;
    app.all_caught_up().await;
    let still = described(&app, &item).await;
    assert_eq!(still["status"], "PAUSED");
    assert_eq!(
        still["inProgressCount"], 0,
        "a paused path starts nothing: {still}"
    );
    assert_eq!(still["pendingCount"], 4);

    let resumed = call(
        &app,
        Method::POST,
        &format!("{item}/manage-lifecycle"),
        Some(json!({"action": "resume"})),
    )
    .await
    .expect(200);
    assert_eq!(resumed.body["status"], "IN_PROGRESS");
    while moved < 10 {
        moved += finish_moving(&app, &item).await;
        let target = moved;
        app.eventually("the roll goes on", || async {
            let p = described(&app, &item).await;
            (p["completedCount"] == target).then_some(())
        })
        .await;
    }
    let done = app
        .eventually("the path completes", || async {
            let p = described(&app, &item).await;
            (p["status"] == "COMPLETE").then_some(p)
        })
        .await;
    assert_eq!(done["completedCount"], 10);
    assert_eq!(done["inProgressCount"], 0);
    assert!(done["completedAt"].is_string());
    for action in ["pause", "resume", "cancel"] {
        let refused = call(
            &app,
            Method::POST,
            &format!("{item}/manage-lifecycle"),
            Some(json!({"action": action})),
        )
        .await;
        goa(&refused, 409, "invalid_state");
    }

    // Each instance is on the target version, upgraded exactly once.
    for id in &ids {
        let native = app.get(&format!("/v1/instances/{id}")).await.expect(200);
        assert_eq!(native.body["tier_version"], "2.0");
        let upgrades = app
            .history(&format!("/v1/instances/{id}"))
            .await
            .into_iter()
            .filter(|e| {
                e["event_type"] == "InstancePatched" && e["payload"]["upgrade_path_id"].is_string()
            })
            .count();
        assert_eq!(upgrades, 1, "instance {id} was upgraded {upgrades} times");
    }
    let listed = call(
        &app,
        Method::GET,
        &format!("{TIER}/upgrade-paths?status=COMPLETE"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(listed.body["upgradePaths"].as_array().unwrap().len(), 1);
    let report = call(
        &app,
        Method::GET,
        &format!("{BASE}/report/stats/env/PROD"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(report.body["upgrades"]["totalCount"], 10, "{}", report.body);
}

#[tokio::test]
async fn upgrade_paths_are_scheduled_skipped_and_cancelled() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = omnistrate_instance(&app, None).await;
        app.post_empty(&format!("/v1/instances/{id}/ready"))
            .await
            .expect(200);
        ids.push(format!("instance-{id}"));
    }
    let past = call(
        &app,
        Method::POST,
        &format!("{TIER}/upgrade-path"),
        Some(
            json!({"sourceVersion": "1.0", "targetVersion": "2.0", "scheduledDate": "2020-01-01",
                    "upgradeFilters": {"INSTANCE_IDS": ids}}),
        ),
    )
    .await;
    goa(&past, 400, "bad_request");
    let scheduled = call(
        &app,
        Method::POST,
        &format!("{TIER}/upgrade-path"),
        Some(
            json!({"sourceVersion": "1.0", "targetVersion": "2.0", "scheduledDate": "2099-01-01",
                    "upgradeFilters": {"INSTANCE_IDS": ids}}),
        ),
    )
    .await
    .expect(200);
    assert_eq!(scheduled.body["status"], "SCHEDULED");
    assert_eq!(scheduled.body["scheduledCount"], 3);
    assert_eq!(scheduled.body["plannedExecutionDate"], "2099-01-01");
    let item = format!(
        "{TIER}/upgrade-path/{}",
        scheduled.body["upgradePathId"].as_str().unwrap()
    );
    goa(
        &call(
            &app,
            Method::POST,
            &format!("{item}/manage-lifecycle"),
            Some(json!({"action": "pause"})),
        )
        .await,
        409,
        "invalid_state",
    );
    let skipped = call(
        &app,
        Method::POST,
        &format!("{item}/manage-lifecycle"),
        Some(json!({"action": "skip-instances", "actionPayload": {"resource-ids": ids[0]}})),
    )
    .await
    .expect(200);
    assert_eq!(skipped.body["skippedCount"], 1);
    assert_eq!(skipped.body["scheduledCount"], 2);
    let notified = call(
        &app,
        Method::POST,
        &format!("{item}/manage-lifecycle"),
        Some(json!({"action": "notify-customer"})),
    )
    .await
    .expect(200);
    assert_eq!(notified.body["notifyCustomer"], true);
    let cancelled = call(&app, Method::POST, &format!("{item}/cancel"), None)
        .await
        .expect(200);
    assert_eq!(cancelled.body["status"], "CANCELLED");
    goa(
        &call(&app, Method::POST, &format!("{item}/cancel"), None).await,
        409,
        "invalid_state",
    );
    // Cancelled, its instances are free for another path, and none was upgraded.
    let next = call(
        &app,
        Method::POST,
        &format!("{TIER}/upgrade-path"),
        Some(json!({"sourceVersion": "1.0", "targetVersion": "2.0",
                    "upgradeFilters": {"INSTANCE_IDS": ids}})),
    )
    .await
    .expect(200);
    assert_eq!(next.body["totalCount"], 3);
    let eligible = path_instances(
        &app,
        &format!(
            "{TIER}/upgrade-path/{}",
            next.body["upgradePathId"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(eligible.len(), 3);
    assert_eq!(eligible[0]["status"], "IN_PROGRESS");
    assert_eq!(eligible[1]["status"], "PENDING");
    assert_eq!(eligible[0]["lifecycleStatus"], "RUNNING");
}

/// A deployment upgraded to workflows: instance events from before the process manager first
/// ran start none; the next operation of such an instance does, planned from its history.
#[tokio::test]
async fn operations_from_before_workflows_existed_start_none() {
    let mut app = TestApp::spawn_with(&[("FLEET_NO_PROCESS_MANAGERS", "true")]).await;
    let (old, _) = app.running_instance().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // As if this version had first started now: what was recorded before (less the minute of
    // margin for clocks) is history.
    let pool = app.pool().await;
    sqlx::query("UPDATE instance_workflows.since SET at = now() + interval '1 minute'")
        .execute(&pool)
        .await
        .unwrap();
    app.set_env("FLEET_NO_PROCESS_MANAGERS", "false");
    app.kill9().await;
    app.start().await;
    app.post_empty(&format!("/v1/instances/{old}/stop"))
        .await
        .expect(200);
    let stop = workflow_of(&app, &old, "stop").await;
    assert_eq!(
        stop["service_id"], "s-postgres",
        "planned from the instance's history"
    );
    assert_eq!(stop["deployment_cell"], "hc-1");
    app.all_caught_up().await;
    let listed = app
        .get(&format!("/v1/workflows?instance_id={old}"))
        .await
        .expect(200);
    let kinds: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["stop"],
        "the creation before it started no deployment workflow"
    );
}

/// A path paused for more than a day is cancelled by the scheduler, saying why.
#[tokio::test]
async fn a_path_paused_for_over_a_day_is_cancelled() {
    let app = TestApp::spawn_with(&[("FLEET_SCHEDULER_INTERVAL_MS", "100")]).await;
    let id = omnistrate_instance(&app, None).await;
    app.post_empty(&format!("/v1/instances/{id}/ready"))
        .await
        .expect(200);
    let created = call(
        &app,
        Method::POST,
        &format!("{TIER}/upgrade-path"),
        Some(json!({"sourceVersion": "1.0", "targetVersion": "2.0",
                    "upgradeFilters": {"INSTANCE_IDS": [format!("instance-{id}")]}})),
    )
    .await
    .expect(200);
    let item = format!(
        "{TIER}/upgrade-path/{}",
        created.body["upgradePathId"].as_str().unwrap()
    );
    call(
        &app,
        Method::POST,
        &format!("{item}/manage-lifecycle"),
        Some(json!({"action": "pause"})),
    )
    .await
    .expect(200);
    // Paused a moment ago: left alone.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(described(&app, &item).await["status"], "PAUSED");
    // As if paused a day and an hour ago.
    sqlx::query("UPDATE inventory.upgrade_paths SET paused_at = now() - interval '25 hours'")
        .execute(&app.pool().await)
        .await
        .unwrap();
    let cancelled = app
        .eventually("the stale pause is cancelled", || async {
            let p = described(&app, &item).await;
            (p["status"] == "CANCELLED").then_some(p)
        })
        .await;
    assert!(cancelled["statusMessage"]
        .as_str()
        .unwrap()
        .contains("paused for longer than 24h"));
}
