//! Customer onboardings (customer-onboardings-api): a provider's onboarding of a new offering,
//! stage by stage; complete once every stage is complete or skipped.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::onboarding::{Onboarding, OnboardingCommand, STAGES};
use fleet_domain::Aggregate as _;
use fleet_projections::inventory::onboardings::{self, OnboardingRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::wire::{id, native, prefix, Body, Query};
use super::{fresh, Agent, Done, GoaError};

const READS: &[&str] = &[fleet_events::onboarding::AGGREGATE_TYPE];

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("customer-onboardings-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/customer-onboarding",
            get_with(list, op("ListCustomerOnboardings"))
                .post_with(create, op("CreateCustomerOnboarding")),
        )
        .api_route(
            "/customer-onboarding-stages",
            get_with(stages, op("ListCustomerOnboardingStages")),
        )
        .api_route(
            "/customer-onboarding/{id}",
            get_with(describe, op("DescribeCustomerOnboarding"))
                .patch_with(update, op("UpdateCustomerOnboarding"))
                .delete_with(delete, op("DeleteCustomerOnboarding")),
        )
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Stage {
    /// ConfigureAccounts, UploadArtifacts, BuildSaaS, Preview or LaunchSaaS.
    name: String,
    /// NOT_STARTED, COMPLETE or SKIPPED.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Described {
    id: String,
    is_completed: bool,
    name: String,
    onboarding_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_id: Option<String>,
    stages: Vec<Value>,
    user_id: String,
}

impl From<OnboardingRow> for Described {
    fn from(row: OnboardingRow) -> Self {
        Self {
            id: id(prefix::ONBOARDING, row.id),
            is_completed: row.completed,
            name: row.name,
            onboarding_type: row.onboarding_type,
            service_id: row.service_id,
            stages: row.stages.as_array().cloned().unwrap_or_default(),
            user_id: row.created_by,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct IdPath {
    /// `onboarding-…`.
    id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Create {
    /// Deprecated: the name is made from the type and date.
    name: Option<String>,
    /// CONTAINER_IMAGE (the default), DOCKER_COMPOSE or CLOUD_NATIVE.
    onboarding_type: Option<String>,
}

/// Answers the new onboarding's id, a bare JSON string.
async fn create(
    State(state): State<AppState>,
    agent: Agent,
    Body(body): Body<Create>,
) -> Result<Json<String>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let kind = body
        .onboarding_type
        .unwrap_or_else(|| "CONTAINER_IMAGE".into());
    let name = body
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("{kind} onboarding {}", chrono::Utc::now().date_naive()));
    let uuid = Uuid::now_v7();
    let command = OnboardingCommand::Create {
        name,
        onboarding_type: kind,
    };
    state
        .bus
        .execute_on_new::<Onboarding>(agent.meta(), &uuid.to_string(), command)
        .await?;
    Ok(Json(id(prefix::ONBOARDING, uuid)))
}

async fn read(state: &AppState, agent: &Agent, shown: &str) -> Result<OnboardingRow, GoaError> {
    let uuid = native(prefix::ONBOARDING, "onboarding", shown)?;
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    onboardings::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .ok_or_else(|| GoaError::not_found("onboarding", shown))
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Json<Described>, GoaError> {
    Ok(Json(read(&state, &agent, &path.id).await?.into()))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Update {
    service_id: Option<String>,
    stage: Option<Stage>,
}

/// Links the service and sets one stage, each its own command: a service linked again, or
/// nothing asked, changes nothing.
async fn update(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
    Body(body): Body<Update>,
) -> Result<Done, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = native(prefix::ONBOARDING, "onboarding", &path.id)?.to_string();
    // An update that changes nothing still names an onboarding of the caller's tenant.
    let onboarding =
        fleet_app::policies::load::<Onboarding>(&state, &agent.0.caller.tenant, &uuid).await?;
    if !onboarding.exists() {
        return Err(GoaError::NotFound(format!(
            "onboarding {} not found",
            path.id
        )));
    }
    let mut commands = Vec::new();
    if let Some(stage) = body.stage {
        let status = stage
            .status
            .ok_or_else(|| GoaError::required("stage.status"))?;
        commands.push(OnboardingCommand::SetStage {
            stage: stage.name,
            status,
        });
    }
    if let Some(service_id) = body.service_id {
        commands.push(OnboardingCommand::LinkService { service_id });
    }
    for command in commands {
        match state
            .bus
            .execute::<Onboarding>(agent.meta(), &uuid, command)
            .await
        {
            Ok(_)
            | Err(fleet_app::command_bus::CommandError::Domain(
                fleet_domain::DomainError::Unchanged { .. },
            )) => {}
            Err(e) => return Err(GoaError::refused(e, "onboarding", &path.id)),
        }
    }
    Ok(Done)
}

async fn delete(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Done, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = native(prefix::ONBOARDING, "onboarding", &path.id)?;
    state
        .bus
        .execute::<Onboarding>(agent.meta(), &uuid.to_string(), OnboardingCommand::Delete)
        .await
        .map_err(|e| GoaError::refused(e, "onboarding", &path.id))?;
    Ok(Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    #[serde(default)]
    pending_only: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Listed {
    onboardings: Vec<Described>,
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<ListQuery>,
) -> Result<Json<Listed>, GoaError> {
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let rows = onboardings::list(&state.pool, agent.tenant().as_str(), query.pending_only).await?;
    Ok(Json(Listed {
        onboardings: rows.into_iter().map(Described::from).collect(),
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Stages {
    stages: Vec<Stage>,
}

/// The stages every onboarding goes through, in order.
async fn stages(_: Agent) -> Result<Json<Stages>, GoaError> {
    Ok(Json(Stages {
        stages: STAGES
            .iter()
            .map(|s| Stage {
                name: (*s).to_owned(),
                status: None,
            })
            .collect(),
    }))
}
