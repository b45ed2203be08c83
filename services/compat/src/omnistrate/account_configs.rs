//! Account configs (inventory-api): customers' own cloud accounts (BYOA) and their
//! verification. An account config is registered natively (`POST /v1/account-configs`);
//! here it is described, listed, connected or disconnected, and deleted.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::account_config::{AccountConfig, AccountConfigCommand};
use fleet_projections::inventory::account_configs::{self, AccountConfigRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};

use super::wire::{id, native, prefix, Body};
use super::{fresh, Agent, Answer, Done, GoaError};

const READS: &[&str] = &[fleet_events::account_config::AGGREGATE_TYPE];

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/account-config/{id}",
            get_with(describe, op("DescribeAccountConfig"))
                .delete_with(delete, op("DeleteAccountConfig")),
        )
        .api_route("/account-configs", get_with(list, op("ListAccountConfigs")))
        .api_route(
            "/service/{serviceId}/account-config-instance/{instanceId}",
            post_with(set_connection, op("UpdateAccountConfigResourceInstance")),
        )
}

/// `AccountConfig`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Described {
    id: String,
    name: String,
    description: String,
    cloud_provider_id: String,
    /// PENDING, VERIFYING, READY, FAILED or READY_TO_OFFBOARD.
    status: String,
    status_message: String,
    #[serde(rename = "awsAccountID", skip_serializing_if = "Option::is_none")]
    aws_account_id: Option<String>,
    #[serde(
        rename = "awsBootstrapRoleARN",
        skip_serializing_if = "Option::is_none"
    )]
    aws_bootstrap_role_arn: Option<String>,
    #[serde(rename = "gcpProjectID", skip_serializing_if = "Option::is_none")]
    gcp_project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gcp_project_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gcp_bootstrap_shell_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gcp_disconnect_shell_command: Option<String>,
    #[serde(
        rename = "azureSubscriptionID",
        skip_serializing_if = "Option::is_none"
    )]
    azure_subscription_id: Option<String>,
    #[serde(rename = "azureTenantID", skip_serializing_if = "Option::is_none")]
    azure_tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    azure_bootstrap_shell_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    azure_disconnect_shell_command: Option<String>,
    /// Instances deployed in the account: Fleetledger does not place instances by account.
    #[serde(rename = "byoaInstanceIDs")]
    byoa_instance_ids: Vec<String>,
}

impl From<AccountConfigRow> for Described {
    fn from(row: AccountConfigRow) -> Self {
        let shown = id(prefix::ACCOUNT_CONFIG, row.id);
        let script = |what: &str| {
            format!(
                "bash -c \"$(curl -fsSL https://omnistrate.com/account-setup/{what}.sh?account_config_id={shown})\""
            )
        };
        let (gcp, azure) = (row.cloud_provider == "gcp", row.cloud_provider == "azure");
        Self {
            description: row.description.unwrap_or_default(),
            cloud_provider_id: row.cloud_provider,
            status: row.status.to_ascii_uppercase(),
            status_message: row
                .status_message
                .unwrap_or_else(|| "Waiting for the account's owner to run the bootstrap".into()),
            aws_account_id: row.aws_account_id,
            aws_bootstrap_role_arn: row.aws_bootstrap_role_arn,
            gcp_project_id: row.gcp_project_id,
            gcp_project_number: row.gcp_project_number,
            gcp_bootstrap_shell_command: gcp.then(|| script("gcp-bootstrap")),
            gcp_disconnect_shell_command: gcp.then(|| script("gcp-disconnect")),
            azure_subscription_id: row.azure_subscription_id,
            azure_tenant_id: row.azure_tenant_id,
            azure_bootstrap_shell_command: azure.then(|| script("azure-bootstrap")),
            azure_disconnect_shell_command: azure.then(|| script("azure-disconnect")),
            byoa_instance_ids: Vec::new(),
            id: shown,
            name: row.name,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct IdPath {
    /// `ac-…`.
    id: String,
}

async fn read(state: &AppState, agent: &Agent, shown: &str) -> Result<AccountConfigRow, GoaError> {
    let uuid = native(prefix::ACCOUNT_CONFIG, "account config", shown)?;
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    account_configs::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .ok_or_else(|| GoaError::not_found("account config", shown))
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Json<Described>, GoaError> {
    Ok(Json(read(&state, &agent, &path.id).await?.into()))
}

async fn command(
    state: &AppState,
    agent: &Agent,
    shown: &str,
    command: AccountConfigCommand,
) -> Result<(), GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = native(prefix::ACCOUNT_CONFIG, "account config", shown)
        .or_else(|_| native(prefix::INSTANCE, "account config", shown))?;
    state
        .bus
        .execute::<AccountConfig>(agent.meta(), &uuid.to_string(), command)
        .await
        .map_err(|e| GoaError::refused(e, "account config", shown))?;
    Ok(())
}

/// Deletes an account with nothing left to offboard: pending, failed, or disconnected.
async fn delete(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Done, GoaError> {
    command(&state, &agent, &path.id, AccountConfigCommand::Delete).await?;
    Ok(Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListBody {
    /// aws, azure, gcp or all.
    cloud_provider_name: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Listed {
    account_configs: Vec<Described>,
    ids: Vec<String>,
}

/// The provider is read from the JSON body Omnistrate's GET carries, or from the query.
async fn list(
    State(state): State<AppState>,
    agent: Agent,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Listed>, GoaError> {
    let from_query = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "cloudProviderName")
        .map(|(_, v)| v.into_owned());
    let provider = match from_query {
        Some(p) => p,
        None if body.is_empty() => return Err(GoaError::required("cloudProviderName")),
        None => match crate::json::read::<ListBody>(&body) {
            Ok(b) => b.cloud_provider_name,
            Err(_) => return Err(GoaError::required("cloudProviderName")),
        },
    };
    let provider = match provider.as_str() {
        "all" => None,
        "aws" | "azure" | "gcp" => Some(provider.as_str()),
        _ => {
            return Err(GoaError::field(
                "cloudProviderName",
                "must be aws, azure, gcp or all",
            ))
        }
    };
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let rows = account_configs::list(&state.pool, agent.tenant().as_str(), provider).await?;
    let account_configs: Vec<Described> = rows.into_iter().map(Described::from).collect();
    Ok(Json(Listed {
        ids: account_configs.iter().map(|a| a.id.clone()).collect(),
        account_configs,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ConnectionPath {
    #[serde(rename = "serviceId")]
    #[allow(dead_code)]
    service_id: String,
    /// The account config's instance: its `ac-…` (or `instance-…`) id.
    #[serde(rename = "instanceId")]
    instance_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Connection {
    set_connection: bool,
}

/// Connecting starts the verification; disconnecting a ready account readies it to offboard.
async fn set_connection(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ConnectionPath>,
    Body(body): Body<Connection>,
) -> Result<Answer<serde_json::Value, 202>, GoaError> {
    let order = AccountConfigCommand::SetConnection(body.set_connection);
    command(&state, &agent, &path.instance_id, order).await?;
    Ok(Answer(serde_json::json!({})))
}
