//! Helm package installations (helm-package-api): the Helm chart amenities of the host
//! clusters, with the release state their cluster's rollout gives them.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::State;
use axum::Json;
use fleet_api::AppState;
use fleet_projections::inventory::{host_clusters, NAME as INVENTORY};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::Query;
use super::{fresh, Agent, GoaError};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new().api_route(
        "/helm-package-installations",
        get_with(
            list,
            super::operation("helm-package-api", "ListHelmPackageInstallations"),
        ),
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    #[serde(rename = "hostClusterID")]
    host_cluster_id: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct HelmPackage {
    chart_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    chart_version: Option<String>,
    #[serde(rename = "chartRepoURL", skip_serializing_if = "Option::is_none")]
    chart_repo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Installation {
    helm_package: HelmPackage,
    #[serde(rename = "hostClusterID")]
    host_cluster_id: String,
    /// deployed, pending-install, pending-upgrade, failed or uninstalled.
    status: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Listed {
    helm_package_installations: Vec<Installation>,
}

fn field<'a>(amenity: &'a Value, name: &str) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    amenity
        .get(name)
        .or_else(|| amenity.get(lower.as_str()))
        .and_then(Value::as_str)
}

fn package(amenity: &Value) -> Option<HelmPackage> {
    let kind = field(amenity, "Type").unwrap_or_default();
    if !kind.eq_ignore_ascii_case("helmchart") && !kind.eq_ignore_ascii_case("helm") {
        return None;
    }
    let properties = amenity
        .get("Properties")
        .or_else(|| amenity.get("properties"));
    let property = |name: &str| {
        properties
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Some(HelmPackage {
        chart_name: field(amenity, "Name")?.to_owned(),
        chart_version: property("chartVersion"),
        chart_repo_url: property("chartRepoURL"),
        namespace: property("namespace"),
    })
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<ListQuery>,
) -> Result<Json<Listed>, GoaError> {
    fresh(
        &state,
        agent.tenant(),
        INVENTORY,
        &[fleet_events::host_cluster::AGGREGATE_TYPE],
    )
    .await?;
    let clusters = match &query.host_cluster_id {
        Some(id) => host_clusters::get(&state.pool, agent.tenant().as_str(), id)
            .await?
            .into_iter()
            .collect::<Vec<_>>(),
        None => host_clusters::list(&state.pool, agent.tenant().as_str(), None, None).await?,
    };
    let mut installations = Vec::new();
    for cluster in clusters {
        let installed: Vec<&Value> = cluster.amenities.as_array().into_iter().flatten().collect();
        let pending: Vec<&Value> = cluster
            .pending_amenities
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let name = |a: &Value| field(a, "Name").map(str::to_owned);
        let installed_status = match cluster.status.as_str() {
            "READY" => "deployed",
            "FAILED" => "failed",
            "DELETED" => "uninstalled",
            _ => "pending-install",
        };
        for amenity in &installed {
            if let Some(helm_package) = package(amenity) {
                let upgrading = pending
                    .iter()
                    .any(|p| name(p) == name(amenity) && *p != *amenity);
                installations.push(Installation {
                    helm_package,
                    host_cluster_id: cluster.id.clone(),
                    status: if upgrading {
                        "pending-upgrade"
                    } else {
                        installed_status
                    }
                    .into(),
                });
            }
        }
        for amenity in &pending {
            if installed.iter().any(|i| name(i) == name(amenity)) {
                continue;
            }
            if let Some(helm_package) = package(amenity) {
                installations.push(Installation {
                    helm_package,
                    host_cluster_id: cluster.id.clone(),
                    status: "pending-install".into(),
                });
            }
        }
    }
    Ok(Json(Listed {
        helm_package_installations: installations,
    }))
}
