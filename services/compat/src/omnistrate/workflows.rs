//! The service's workflows (fleet-workflows-api): every long instance operation's run, its
//! steps and their events, and the operator's pause, resume, retry and terminate.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::workflow::{Workflow, WorkflowCommand, WorkflowEvent};
use fleet_events::EventLog;
use fleet_projections::inventory::workflows::{self, WorkflowFilter, WorkflowRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::instances::Scope;
use super::wire::{id, native, native_opt, prefix, time, Body, Query};
use super::{fresh, Agent, GoaError};

const SCOPE: &str = "/service/{serviceId}/environment/{environmentId}";
const READS: &[&str] = &[fleet_events::workflow::AGGREGATE_TYPE];

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("fleet-workflows-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            &format!("{SCOPE}/service-workflows"),
            get_with(list, op("ListServiceWorkflows")),
        )
        .api_route(
            &format!("{SCOPE}/service-workflows-summary"),
            get_with(summary, op("DescribeServiceWorkflowSummary")),
        )
        .api_route(
            &format!("{SCOPE}/service-workflows/{{id}}"),
            get_with(describe, op("DescribeServiceWorkflow"))
                .patch_with(update, op("UpdateServiceWorkflow"))
                .delete_with(terminate, op("TerminateServiceWorkflow")),
        )
        .api_route(
            &format!("{SCOPE}/service-workflows/{{id}}/events"),
            get_with(events, op("GetWorkflowEvents")),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct WorkflowPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    environment_id: String,
    /// `wf-…`.
    id: String,
}

/// `ServiceWorkflow`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ServiceWorkflow {
    #[serde(rename = "ResourceCount")]
    resource_count: i64,
    #[serde(rename = "UpdatedBy")]
    updated_by: String,
    #[serde(rename = "UpdatedReason")]
    updated_reason: String,
    /// CreateInstance, StopInstance, UpgradeInstance…
    #[serde(rename = "WorkflowType")]
    workflow_type: String,
    #[serde(rename = "cloudProvider")]
    cloud_provider: String,
    #[serde(rename = "endTime", skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    id: String,
    #[serde(rename = "instanceId")]
    instance_id: String,
    #[serde(rename = "servicePlanName")]
    service_plan_name: String,
    #[serde(rename = "startTime")]
    start_time: String,
    /// IN_PROGRESS, PAUSED, COMPLETED, FAILED or TERMINATED.
    status: String,
}

pub fn workflow_type(kind: &str) -> String {
    let verb = match kind {
        "deploy" => "Create",
        "capacity" => "Scale",
        "failover" => "Failover",
        other => other,
    };
    let mut chars = verb.chars();
    let verb: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default();
    format!("{verb}Instance")
}

impl From<&WorkflowRow> for ServiceWorkflow {
    fn from(row: &WorkflowRow) -> Self {
        Self {
            resource_count: 1,
            updated_by: row.updated_by.clone().unwrap_or_default(),
            updated_reason: row.updated_reason.clone().unwrap_or_default(),
            workflow_type: workflow_type(&row.kind),
            cloud_provider: row.cloud_provider.clone(),
            end_time: row.ended_at.map(time),
            id: id(prefix::WORKFLOW, row.id),
            instance_id: id(prefix::INSTANCE, &row.instance_id),
            service_plan_name: row.plan_id.clone(),
            start_time: time(row.started_at),
            status: row.status.to_ascii_uppercase(),
        }
    }
}

/// The workflow of the path, in the path's service.
async fn scoped(
    state: &AppState,
    agent: &Agent,
    path: &WorkflowPath,
) -> Result<WorkflowRow, GoaError> {
    let uuid = native(prefix::WORKFLOW, "workflow", &path.id)?;
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    workflows::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .filter(|w| w.service_id == path.service_id)
        .ok_or_else(|| GoaError::not_found("workflow", &path.id))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    next_page_token: Option<String>,
    page_size: Option<i64>,
    instance_id: Option<String>,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct WorkflowList {
    environment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    service_id: String,
    workflows: Vec<ServiceWorkflow>,
}

/// A page token: the last workflow's start and id.
fn token(row: &WorkflowRow) -> String {
    format!("{}_{}", row.started_at.timestamp_micros(), row.id.simple())
}

fn read_token(token: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, GoaError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    token
        .split_once('_')
        .and_then(|(at, id)| {
            Some((
                DateTime::from_timestamp_micros(at.parse().ok()?)?,
                Uuid::parse_str(id).ok()?,
            ))
        })
        .map(Some)
        .ok_or_else(|| GoaError::field("nextPageToken", "is not a token this API returned"))
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
    Query(query): Query<ListQuery>,
) -> Result<Json<WorkflowList>, GoaError> {
    let limit = super::wire::Paging::read(query.page_size, None)?.limit;
    let after = read_token(query.next_page_token.as_deref())?;
    let instance = native_opt(prefix::INSTANCE, "instanceId", query.instance_id.as_deref())?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let filter = WorkflowFilter {
        service_id: Some(scope.service_id.clone()),
        instance_id: instance.map(|i| i.to_string()),
        start: query.start_date,
        end: query.end_date,
    };
    let mut rows = workflows::list(
        &state.pool,
        agent.tenant().as_str(),
        &filter,
        after,
        limit + 1,
    )
    .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok(Json(WorkflowList {
        environment_id: scope.environment_id,
        next_page_token: more.then(|| rows.last().map(token)).flatten(),
        service_id: scope.service_id,
        workflows: rows.iter().map(ServiceWorkflow::from).collect(),
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Summary {
    #[serde(rename = "ActiveWorkflowCount")]
    active: i64,
    #[serde(rename = "CompletedWorkflowCount")]
    completed: i64,
    #[serde(rename = "FailedWorkflowCount")]
    failed: i64,
    environment_id: String,
    service_id: String,
}

/// The service's workflows of the past 24 hours.
async fn summary(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
) -> Result<Json<Summary>, GoaError> {
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let (active, completed, failed) =
        workflows::summary(&state.pool, agent.tenant().as_str(), &scope.service_id).await?;
    Ok(Json(Summary {
        active,
        completed,
        failed,
        environment_id: scope.environment_id,
        service_id: scope.service_id,
    }))
}

/// `ResourceDeploymentStatus`: each deployment phase's state, N/A where the workflow has none.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ResourceDeploymentStatus {
    resource_name: String,
    status: String,
    infra_deployment_status: String,
    network_deployment_status: String,
    compute_deployment_status: String,
    storage_deployment_status: String,
    configuration_status: String,
    monitoring_status: String,
    action_hook_deployment_status: String,
}

fn phases(row: &WorkflowRow) -> ResourceDeploymentStatus {
    let of = |name: &str| {
        row.steps
            .as_array()
            .and_then(|steps| steps.iter().find(|s| s["name"] == name))
            .and_then(|s| s["status"].as_str())
            .map_or("N/A".to_owned(), str::to_ascii_uppercase)
    };
    ResourceDeploymentStatus {
        resource_name: row.instance_id.clone(),
        status: row.status.to_ascii_uppercase(),
        infra_deployment_status: of("infrastructure"),
        network_deployment_status: of("network"),
        compute_deployment_status: of("compute"),
        storage_deployment_status: of("storage"),
        configuration_status: of("configuration"),
        monitoring_status: of("monitoring"),
        action_hook_deployment_status: "N/A".into(),
    }
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Described {
    #[serde(rename = "Resources")]
    resources: Vec<ResourceDeploymentStatus>,
    #[serde(rename = "Workflow")]
    workflow: ServiceWorkflow,
    environment_id: String,
    service_id: String,
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<WorkflowPath>,
) -> Result<Json<Described>, GoaError> {
    let row = scoped(&state, &agent, &path).await?;
    Ok(Json(Described {
        resources: vec![phases(&row)],
        workflow: ServiceWorkflow::from(&row),
        environment_id: path.environment_id,
        service_id: path.service_id,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Update {
    /// pause, resume or retry.
    status: String,
}

async fn run(
    state: &AppState,
    agent: &Agent,
    path: &WorkflowPath,
    command: WorkflowCommand,
) -> Result<Json<ServiceWorkflow>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let row = scoped(state, agent, path).await?;
    let executed = state
        .bus
        .execute::<Workflow>(agent.meta(), &row.id.to_string(), command)
        .await
        .map_err(|e| GoaError::refused(e, "workflow", &path.id))?;
    super::applied(state, INVENTORY, executed.event.sequence).await?;
    let row = workflows::get(&state.pool, agent.tenant().as_str(), row.id)
        .await?
        .ok_or_else(|| GoaError::not_found("workflow", &path.id))?;
    Ok(Json(ServiceWorkflow::from(&row)))
}

async fn update(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<WorkflowPath>,
    Body(body): Body<Update>,
) -> Result<Json<ServiceWorkflow>, GoaError> {
    let command = match body.status.to_ascii_lowercase().as_str() {
        "pause" => WorkflowCommand::Pause,
        "resume" => WorkflowCommand::Resume,
        "retry" => WorkflowCommand::Retry,
        _ => return Err(GoaError::field("status", "must be pause, resume or retry")),
    };
    run(&state, &agent, &path, command).await
}

async fn terminate(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<WorkflowPath>,
) -> Result<Json<ServiceWorkflow>, GoaError> {
    let command = WorkflowCommand::Terminate {
        reason: "Customer requested termination.".into(),
        by: agent
            .meta()
            .actor
            .name
            .clone()
            .unwrap_or_else(|| agent.meta().actor.id.clone()),
    };
    run(&state, &agent, &path, command).await
}

/// `WorkflowEvent`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct StepEvent {
    event_time: String,
    /// WorkflowStepStarted, WorkflowStepCompleted, WorkflowStepFailed or WorkflowStepDebug.
    event_type: String,
    message: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct StepEvents {
    step_name: String,
    events: Vec<StepEvent>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EventsPerResource {
    resource_id: String,
    resource_key: String,
    resource_name: String,
    workflow_steps: Vec<StepEvents>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct WorkflowEvents {
    environment_id: String,
    id: String,
    resources: Vec<EventsPerResource>,
    service_id: String,
}

/// The step events, told from the workflow's own history on the stream.
async fn events(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<WorkflowPath>,
) -> Result<Json<WorkflowEvents>, GoaError> {
    let row = scoped(&state, &agent, &path).await?;
    let subject = state
        .bus
        .subject::<Workflow>(agent.tenant(), &row.id.to_string());
    let history = state
        .log
        .read_subject(&subject, 0)
        .await
        .map_err(|e| GoaError::Unavailable(e.to_string()))?;
    let names: Vec<String> = row
        .steps
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut steps: Vec<StepEvents> = names
        .iter()
        .map(|n| StepEvents {
            step_name: n.clone(),
            events: Vec::new(),
        })
        .collect();
    let mut current = 0usize;
    for envelope in &history {
        let at = time(envelope.event.occurred_at);
        let mut note = |index: usize, kind: &str, message: String| {
            if let Some(step) = steps.get_mut(index) {
                step.events.push(StepEvent {
                    event_time: at.clone(),
                    event_type: kind.into(),
                    message,
                });
            }
        };
        let Ok(event) = envelope.decode::<WorkflowEvent>() else {
            continue;
        };
        match event {
            WorkflowEvent::WorkflowStarted { .. } => {
                note(0, "WorkflowStepStarted", format!("{} started", names[0]))
            }
            WorkflowEvent::WorkflowStepCompleted {
                step,
                message,
                completed,
            } => {
                let message = message.unwrap_or_else(|| format!("{step} completed"));
                if completed {
                    for index in current..names.len() {
                        note(index, "WorkflowStepCompleted", message.clone());
                    }
                    current = names.len();
                } else {
                    note(current, "WorkflowStepCompleted", message);
                    current += 1;
                    if let Some(next) = names.get(current) {
                        note(current, "WorkflowStepStarted", format!("{next} started"));
                    }
                }
            }
            WorkflowEvent::WorkflowStepFailed { step, reason } => note(
                current,
                "WorkflowStepFailed",
                format!("{step} failed: {reason}"),
            ),
            WorkflowEvent::WorkflowRetried { step } => {
                note(current, "WorkflowStepStarted", format!("{step} retried"))
            }
            WorkflowEvent::WorkflowPaused {} => {
                note(current, "WorkflowStepDebug", "workflow paused".into())
            }
            WorkflowEvent::WorkflowResumed {} => {
                note(current, "WorkflowStepDebug", "workflow resumed".into())
            }
            WorkflowEvent::WorkflowTerminated { reason, by } => note(
                current.min(names.len().saturating_sub(1)),
                "WorkflowStepDebug",
                format!("workflow terminated by {by}: {reason}"),
            ),
        }
    }
    Ok(Json(WorkflowEvents {
        environment_id: path.environment_id,
        id: path.id,
        resources: vec![EventsPerResource {
            resource_id: id(prefix::INSTANCE, &row.instance_id),
            resource_key: row.kind.clone(),
            resource_name: row.instance_id.clone(),
            workflow_steps: steps,
        }],
        service_id: path.service_id,
    }))
}
