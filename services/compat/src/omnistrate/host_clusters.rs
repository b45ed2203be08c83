//! Host clusters (hostcluster-api, and the three service-scoped reads of inventory-api):
//! deployment cells adopted, described, listed, reconfigured, redeployed and deleted, and the
//! credentials issued for them. A credential is shown once and kept only as a fingerprint.
//! A cluster's id is its native id: the `deploymentCellID` of its instances.

use aide::axum::routing::{get_with, patch_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_app::host_clusters::Registration;
use fleet_domain::host_cluster::{validate_id, HostCluster, HostClusterCommand};
use fleet_domain::vocabulary::CloudProvider;
use fleet_projections::inventory::host_clusters::{self, HostClusterRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::instances::Scope;
use super::wire::{time, Body, Paging, Query};
use super::{fresh, Agent, Answer, Done, GoaError};

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("hostcluster-api", summary)
}

fn scoped_op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

const SCOPE: &str = "/service/{serviceId}/environment/{environmentId}";

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/host-cluster/adopt",
            post_with(adopt, op("AdoptHostCluster")),
        )
        .api_route("/host-clusters", get_with(list, op("ListHostClusters")))
        .api_route(
            "/host-cluster/{id}",
            get_with(describe, op("DescribeHostCluster"))
                .patch_with(update, op("UpdateHostCluster"))
                .delete_with(delete, op("DeleteHostCluster")),
        )
        .api_route(
            "/host-cluster/{id}/apply-pending-changes",
            post_with(
                apply_pending_changes,
                op("ApplyPendingChangesToHostCluster"),
            ),
        )
        .api_route(
            "/host-cluster/{id}/cancel-deployment",
            post_with(cancel_deployment, op("CancelHostClusterDeployment")),
        )
        .api_route(
            "/host-cluster/{id}/restart-deployment",
            post_with(restart_deployment, op("RestartHostClusterDeployment")),
        )
        .api_route(
            "/host-cluster/{id}/dashboard/token",
            post_with(dashboard_token, op("GenerateTokenForHostClusterDashboard")),
        )
        .api_route(
            "/host-cluster/{id}/debug",
            get_with(debug, op("DebugHostCluster")),
        )
        .api_route(
            "/host-cluster/{id}/kubeconfig",
            get_with(kubeconfig, op("KubeConfigHostCluster")),
        )
        .api_route(
            "/host-cluster/{hostClusterID}/node-pool/{nodePoolName}",
            patch_with(set_node_pool, op("SetNodePoolProperty")),
        )
        .api_route(
            &format!("{SCOPE}/host-clusters"),
            get_with(list_in_scope, scoped_op("ListHostClusters")),
        )
        .api_route(
            &format!("{SCOPE}/host-cluster/{{id}}"),
            get_with(describe_in_scope, scoped_op("DescribeHostCluster")),
        )
        .api_route(
            &format!("{SCOPE}/host-cluster/{{id}}/dashboard/token"),
            post_with(
                dashboard_token_in_scope,
                scoped_op("GenerateTokenForHostClusterDashboard"),
            ),
        )
}

const READS: &[&str] = &[
    fleet_events::host_cluster::AGGREGATE_TYPE,
    fleet_events::instance::AGGREGATE_TYPE,
];

/// `HostCluster` (hostcluster-api's DescribeHostCluster, and ListHostClusters' rows).
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Cluster {
    id: String,
    key: String,
    description: String,
    /// Kubernetes.
    #[serde(rename = "type")]
    kind: String,
    /// Dataplane: every cluster here runs instances.
    role: String,
    /// OMNISTRATE_HOSTED (created here), CUSTOMER_HOSTED (adopted) or BYOA (adopted for a
    /// customer).
    model_type: String,
    cloud_provider: String,
    region: String,
    status: String,
    has_pending_changes: bool,
    is_in_sync_with_org_template: bool,
    is_custom_deployment: bool,
    current_number_of_deployments: i64,
    amenities: Vec<Value>,
    pending_amenities: Vec<Value>,
    helm_packages: Vec<Value>,
    health_status: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_email: Option<String>,
    created_at: String,
}

fn list_of(value: &Value) -> Vec<Value> {
    value.as_array().cloned().unwrap_or_default()
}

impl From<&HostClusterRow> for Cluster {
    fn from(row: &HostClusterRow) -> Self {
        let pending = list_of(&row.pending_amenities);
        Self {
            id: row.id.clone(),
            key: row.id.clone(),
            description: row.description.clone(),
            kind: "Kubernetes".into(),
            role: "Dataplane".into(),
            model_type: match (row.origin.as_str(), &row.customer_email) {
                ("created", _) => "OMNISTRATE_HOSTED",
                (_, Some(_)) => "BYOA",
                _ => "CUSTOMER_HOSTED",
            }
            .into(),
            cloud_provider: row.cloud_provider.clone(),
            region: row.region.clone(),
            status: row.status.clone(),
            has_pending_changes: !pending.is_empty(),
            is_in_sync_with_org_template: row.sync_with_org_template,
            is_custom_deployment: false,
            current_number_of_deployments: row.live_instances,
            amenities: list_of(&row.amenities),
            pending_amenities: pending,
            helm_packages: Vec::new(),
            health_status: Health::of(row),
            customer_email: row.customer_email.clone(),
            created_at: time(row.created_at),
        }
    }
}

/// `healthStatus`: the cluster's health as its state and its instances' show it.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Health {
    /// HEALTHY (READY, no failed instance), UNHEALTHY (FAILED, or a failed instance in it),
    /// or UNKNOWN (still being deployed, cancelled).
    overall_status: String,
    status_message: String,
}

impl Health {
    fn of(row: &HostClusterRow) -> Self {
        let (status, message) = match (row.status.as_str(), row.failed_instances) {
            ("FAILED", _) => (
                "UNHEALTHY",
                format!(
                    "the cluster failed: {}",
                    row.failure_reason.as_deref().unwrap_or("no reason given")
                ),
            ),
            ("READY", 0) => ("HEALTHY", "the cluster is ready".to_owned()),
            ("READY", failed) => ("UNHEALTHY", format!("{failed} failed instances in it")),
            (other, _) => ("UNKNOWN", format!("the cluster is {other}")),
        };
        Self {
            overall_status: status.into(),
            status_message: message,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct DebugQuery {
    #[allow(dead_code)]
    include_amenities_installation_logs: Option<bool>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct AmenityStatus {
    name: String,
    /// INSTALLED, INSTALLING (being applied) or PENDING (waiting to be applied).
    status: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Debug {
    /// Installation logs by namespace: none are kept by Fleetledger, so none are shown.
    custom_helm_execution_logs_base64: std::collections::BTreeMap<String, String>,
    amenity_statuses: Vec<AmenityStatus>,
    health_status: Health,
}

/// What Fleetledger knows of the cluster's amenities and health.
async fn debug(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
    Query(_): Query<DebugQuery>,
) -> Result<Json<Debug>, GoaError> {
    let row = read(&state, &agent, &path.id).await?;
    let name = |a: &Value| {
        a.get("Name")
            .or_else(|| a.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let installed = if row.status == "READY" {
        "INSTALLED"
    } else {
        "INSTALLING"
    };
    let amenity_statuses = list_of(&row.amenities)
        .iter()
        .map(|a| AmenityStatus {
            name: name(a),
            status: installed.into(),
        })
        .chain(
            list_of(&row.pending_amenities)
                .iter()
                .map(|a| AmenityStatus {
                    name: name(a),
                    status: "PENDING".into(),
                }),
        )
        .collect();
    Ok(Json(Debug {
        custom_helm_execution_logs_base64: std::collections::BTreeMap::new(),
        amenity_statuses,
        health_status: Health::of(&row),
    }))
}

/// The service-scoped `DescribeHostCluster`: the smaller shape of inventory-api.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ScopedCluster {
    cloud_provider: String,
    created_at: String,
    id: String,
    region: String,
    status: String,
    #[serde(rename = "type")]
    kind: String,
}

impl From<&HostClusterRow> for ScopedCluster {
    fn from(row: &HostClusterRow) -> Self {
        Self {
            cloud_provider: row.cloud_provider.clone(),
            created_at: time(row.created_at),
            id: row.id.clone(),
            region: row.region.clone(),
            status: row.status.clone(),
            kind: "Kubernetes".into(),
        }
    }
}

pub(super) async fn read(
    state: &AppState,
    agent: &Agent,
    id: &str,
) -> Result<HostClusterRow, GoaError> {
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    host_clusters::get(&state.pool, agent.tenant().as_str(), id)
        .await?
        .filter(|c| c.status != "DELETED")
        .ok_or_else(|| GoaError::not_found("host cluster", id))
}

async fn command(
    state: &AppState,
    agent: &Agent,
    id: &str,
    command: HostClusterCommand,
) -> Result<(), GoaError> {
    agent.require(Permission::OperateFleet)?;
    validate_id(id).map_err(|_| GoaError::not_found("host cluster", id))?;
    state
        .bus
        .execute::<HostCluster>(agent.meta(), id, command)
        .await
        .map_err(|e| GoaError::refused(e, "host cluster", id))?;
    Ok(())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Adopt {
    cloud_provider: CloudProvider,
    /// The customer who owns the cluster, when it is a BYOA one.
    customer_email: Option<String>,
    description: String,
    /// The cluster's id: letters, digits, `-` and `_`.
    id: String,
    region: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Adoption {
    /// PENDING until the cluster's agent reports it ready.
    adoption_status: String,
}

/// Registers a self-managed cluster. Its agent is not Fleetledger's to ship, so the answer
/// has no installation kit: the agent reports the cluster ready at
/// `POST /v1/host-clusters/{id}/ready`.
async fn adopt(
    State(state): State<AppState>,
    agent: Agent,
    Body(body): Body<Adopt>,
) -> Result<Answer<Adoption, 202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let registration = Registration {
        id: body.id,
        origin: "adopted".into(),
        cloud_provider: body.cloud_provider.as_str().into(),
        region: body.region,
        description: body.description,
        customer_email: body.customer_email,
    };
    let executed = fleet_app::host_clusters::register(&state, agent.meta(), registration).await?;
    Ok(Answer(Adoption {
        adoption_status: executed.state.status.as_str().into(),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    /// A region's name (`us-east-1`).
    region_id: Option<String>,
    customer_email: Option<String>,
    /// Every cluster here is a data plane: provisioner clusters are none.
    #[allow(dead_code)]
    include_provisioner_clusters: Option<bool>,
    /// No account configs are kept here: a filter on one matches nothing.
    account_config_id: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ClusterList {
    host_clusters: Vec<Cluster>,
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<ListQuery>,
) -> Result<Json<ClusterList>, GoaError> {
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let rows = if query.account_config_id.is_some() {
        Vec::new()
    } else {
        host_clusters::list(
            &state.pool,
            agent.tenant().as_str(),
            query.region_id.as_deref(),
            query.customer_email.as_deref(),
        )
        .await?
    };
    Ok(Json(ClusterList {
        host_clusters: rows.iter().map(Cluster::from).collect(),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct IdPath {
    id: String,
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Json<Cluster>, GoaError> {
    Ok(Json(Cluster::from(&read(&state, &agent, &path.id).await?)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Update {
    pending_amenities: Option<Vec<Value>>,
    sync_with_org_template: Option<bool>,
}

/// Replaces the pending amenities (applied by ApplyPendingChangesToHostCluster).
async fn update(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
    Body(body): Body<Update>,
) -> Result<Done, GoaError> {
    if let Some(amenities) = &body.pending_amenities {
        if let Some(i) = amenities.iter().position(|a| !a.is_object()) {
            return Err(GoaError::field(
                &format!("pendingAmenities[{i}]"),
                "must be an object",
            ));
        }
    }
    let pending = match body.pending_amenities {
        Some(amenities) => amenities,
        None => list_of(&read(&state, &agent, &path.id).await?.pending_amenities),
    };
    let change = HostClusterCommand::UpdateConfiguration {
        pending_amenities: pending,
        sync_with_org_template: body.sync_with_org_template,
    };
    command(&state, &agent, &path.id, change).await?;
    Ok(Done)
}

async fn delete(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Done, GoaError> {
    agent.require(Permission::OperateFleet)?;
    fleet_app::host_clusters::delete(&state, agent.meta(), &path.id)
        .await
        .map_err(|e| GoaError::failed(e, "host cluster", &path.id))?;
    Ok(Done)
}

async fn apply_pending_changes(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Done<202>, GoaError> {
    command(
        &state,
        &agent,
        &path.id,
        HostClusterCommand::ApplyPendingChanges,
    )
    .await?;
    Ok(Done)
}

async fn cancel_deployment(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Done<202>, GoaError> {
    command(
        &state,
        &agent,
        &path.id,
        HostClusterCommand::CancelDeployment,
    )
    .await?;
    Ok(Done)
}

async fn restart_deployment(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Done<202>, GoaError> {
    command(
        &state,
        &agent,
        &path.id,
        HostClusterCommand::RestartDeployment,
    )
    .await?;
    Ok(Done)
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct DashboardToken {
    expiration_timestamp: String,
    /// Shown once: only its fingerprint is kept.
    token: String,
}

async fn issue_dashboard_token(
    state: &AppState,
    agent: &Agent,
    id: &str,
) -> Result<Json<DashboardToken>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let (token, executed) = fleet_app::host_clusters::issue_credential(
        state,
        agent.meta(),
        id,
        "dashboard_token",
        None,
    )
    .await
    .map_err(|e| GoaError::failed(e, "host cluster", id))?;
    let expires = match &executed.event.event.payload["expires_at"] {
        Value::String(at) => at.clone(),
        _ => String::new(),
    };
    Ok(Json(DashboardToken {
        expiration_timestamp: expires,
        token,
    }))
}

async fn dashboard_token(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Json<DashboardToken>, GoaError> {
    issue_dashboard_token(&state, &agent, &path.id).await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct KubeconfigQuery {
    /// cluster-reader (the default) or cluster-admin.
    role: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Kubeconfig {
    id: String,
    /// Shown once: only its fingerprint is kept.
    service_account_token: String,
    user_name: String,
}

/// Issues a service-account token of the role. The API server's endpoint and certificates
/// are the cluster's own, which Fleetledger does not hold; they are left out.
async fn kubeconfig(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
    Query(query): Query<KubeconfigQuery>,
) -> Result<Json<Kubeconfig>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let role = query.role.unwrap_or_else(|| "cluster-reader".into());
    if !["cluster-reader", "cluster-admin"].contains(&role.as_str()) {
        return Err(GoaError::field(
            "role",
            "must be cluster-reader or cluster-admin",
        ));
    }
    let (token, _) = fleet_app::host_clusters::issue_credential(
        &state,
        agent.meta(),
        &path.id,
        "kubeconfig",
        Some(role.clone()),
    )
    .await
    .map_err(|e| GoaError::failed(e, "host cluster", &path.id))?;
    Ok(Json(Kubeconfig {
        id: path.id,
        service_account_token: token,
        user_name: format!("fleetledger-{role}"),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NodePoolPath {
    #[serde(rename = "hostClusterID")]
    host_cluster_id: String,
    #[serde(rename = "nodePoolName")]
    node_pool_name: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct NodePool {
    max_size: i64,
}

async fn set_node_pool(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<NodePoolPath>,
    Body(body): Body<NodePool>,
) -> Result<Done, GoaError> {
    let resize = HostClusterCommand::ResizeNodePool {
        node_pool: path.node_pool_name,
        max_size: body.max_size,
    };
    command(&state, &agent, &path.host_cluster_id, resize).await?;
    Ok(Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    next_page_token: Option<String>,
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ScopedList {
    host_clusters: Vec<ScopedCluster>,
    ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// The clusters a service's instances run in.
async fn list_in_scope(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
    Query(query): Query<PageQuery>,
) -> Result<Json<ScopedList>, GoaError> {
    let page_size = Paging::read(query.page_size, None)?.limit as usize;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let cells = fleet_projections::inventory::cells_of_service(
        &state.pool,
        agent.tenant().as_str(),
        &scope.service_id,
    )
    .await?;
    let rows: Vec<HostClusterRow> =
        host_clusters::list(&state.pool, agent.tenant().as_str(), None, None)
            .await?
            .into_iter()
            .filter(|c| cells.contains(&c.id))
            .filter(|c| {
                query
                    .next_page_token
                    .as_ref()
                    .is_none_or(|after| &c.id > after)
            })
            .collect();
    let more = rows.len() > page_size;
    let rows = &rows[..rows.len().min(page_size)];
    Ok(Json(ScopedList {
        ids: rows.iter().map(|c| c.id.clone()).collect(),
        next_page_token: more.then(|| rows.last().map(|c| c.id.clone())).flatten(),
        host_clusters: rows.iter().map(ScopedCluster::from).collect(),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ScopedPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    #[allow(dead_code)]
    environment_id: String,
    id: String,
}

/// A cluster the service's instances run in.
async fn scoped(
    state: &AppState,
    agent: &Agent,
    path: &ScopedPath,
) -> Result<HostClusterRow, GoaError> {
    let row = read(state, agent, &path.id).await?;
    let cells = fleet_projections::inventory::cells_of_service(
        &state.pool,
        agent.tenant().as_str(),
        &path.service_id,
    )
    .await?;
    if !cells.contains(&row.id) {
        return Err(GoaError::not_found("host cluster", &path.id));
    }
    Ok(row)
}

async fn describe_in_scope(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ScopedPath>,
) -> Result<Json<ScopedCluster>, GoaError> {
    Ok(Json(ScopedCluster::from(
        &scoped(&state, &agent, &path).await?,
    )))
}

async fn dashboard_token_in_scope(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ScopedPath>,
) -> Result<Json<DashboardToken>, GoaError> {
    scoped(&state, &agent, &path).await?;
    issue_dashboard_token(&state, &agent, &path.id).await
}
