//! `/v1/workflows`: the runs of long instance operations. The agent that does the work
//! reports each step; operators read them, and pause, resume, retry or terminate them.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_app::command_bus::Executed;
use fleet_app::workflows::StepOutcome;
use fleet_domain::workflow::{Workflow, WorkflowCommand};
use fleet_domain::Aggregate;
use fleet_projections::inventory::workflows::{self, WorkflowFilter, WorkflowRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::Items;
use crate::routes::commands::{reply, Exposed, Reply};
use crate::routes::{history_route, parse_id, run_on, wait_for_position, Issuer, Target};
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/workflows",
            get_with(list_workflows, summary("List workflows, newest first")),
        )
        .api_route(
            "/workflows/{id}",
            get_with(get_workflow, summary("Get a workflow with its steps")),
        )
        .api_route("/workflows/{id}/events", history_route::<Workflow>())
        .api_route(
            "/workflows/{id}/steps/{step}",
            post_with(
                report_step,
                summary("The agent reports the running step completed or failed"),
            ),
        )
        .api_route(
            "/workflows/{id}/{action}",
            post_with(
                operate,
                summary("pause, resume, retry or terminate a workflow"),
            ),
        )
        .with_path_items(|item| item.tag("workflows"))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WorkflowState {
    id: String,
    status: &'static str,
    current_step: Option<String>,
    position: u64,
    event_type: String,
}

impl Exposed for Workflow {
    type View = WorkflowState;
    const PERMISSION: Permission = Permission::OperateFleet;
    const COLLECTION: &'static str = "/v1/workflows";

    fn view(executed: Executed<Workflow>) -> WorkflowState {
        WorkflowState {
            id: executed.event.event.aggregate_id.clone(),
            status: executed.state.status.as_str(),
            current_step: executed.state.current_step().map(str::to_owned),
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StepReport {
    outcome: StepOutcome,
    /// What happened; required when the step failed.
    message: Option<String>,
}

async fn report_step(
    State(state): State<AppState>,
    issuer: Issuer,
    Path((id, step)): Path<(String, String)>,
    ApiJson(body): ApiJson<StepReport>,
) -> Result<Reply<WorkflowState>, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let uuid = parse_id(Workflow::TYPE, &id)?;
    let executed = fleet_app::workflows::report_step(
        &state,
        &issuer.meta,
        &uuid.to_string(),
        &step,
        body.outcome,
        body.message,
    )
    .await?;
    Ok(reply(executed))
}

async fn operate(
    State(state): State<AppState>,
    issuer: Issuer,
    Path((id, action)): Path<(String, String)>,
) -> Result<Reply<WorkflowState>, ApiError> {
    let uuid = parse_id(Workflow::TYPE, &id)?;
    let command = match action.as_str() {
        "pause" => WorkflowCommand::Pause,
        "resume" => WorkflowCommand::Resume,
        "retry" => WorkflowCommand::Retry,
        "terminate" => WorkflowCommand::Terminate {
            reason: "terminated by an operator".into(),
            by: issuer.meta.actor.id.clone(),
        },
        _ => return Err(ApiError::NotFound(format!("no workflow action {action}"))),
    };
    let executed = run_on::<Workflow>(
        &state,
        &issuer,
        Permission::OperateFleet,
        &uuid.to_string(),
        Target::Existing,
        command,
    )
    .await?;
    Ok(reply(executed))
}

async fn get_workflow(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<WorkflowRow>, ApiError> {
    wait_for_position(&state, INVENTORY, position).await?;
    let uuid = parse_id(Workflow::TYPE, &id)?;
    workflows::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("workflow {id} not found")))
}

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    instance_id: Option<String>,
    service_id: Option<String>,
}

async fn list_workflows(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Items<WorkflowRow>>, ApiError> {
    wait_for_position(&state, INVENTORY, position).await?;
    let filter = WorkflowFilter {
        service_id: query.service_id,
        instance_id: query.instance_id,
        ..Default::default()
    };
    let items = workflows::list(&state.pool, caller.tenant.as_str(), &filter, None, 500).await?;
    Ok(Json(Items { items }))
}
