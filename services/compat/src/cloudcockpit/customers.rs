//! The three operations of 003.
//!
//! Deleting a customer follows CloudCockpit's own procedure ("cancel or suspend all
//! subscriptions, remove the relationship, delete"): it is refused while the customer has an
//! active subscription or a reseller relationship, and allowed with suspended or ended ones.
//! The native API is stricter (a suspended subscription blocks it too) because there a
//! suspension is often temporary; CloudCockpit's CSPs suspend precisely in order to delete,
//! so its clients would be stuck. The deletion is answered 202 as 003 says; it is already
//! decided when the answer leaves.

use aide::axum::routing::{delete_with, get_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::routes::Issuer;
use fleet_api::AppState;
use fleet_domain::customer::{Customer, CustomerCommand};
use fleet_domain::subscription::Subscription;
use fleet_domain::Aggregate;
use fleet_projections::inventory::subscriptions::{self, SubscriptionFilter};
use fleet_projections::inventory::{self, customers};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CockpitRole, ErrorResponse};
use crate::extract::{Query, Rejects};
use crate::json::Unreadable;

impl Rejects for ErrorResponse {
    fn body(unreadable: Unreadable) -> Self {
        match unreadable {
            Unreadable::Body(reason) => Self::bad_request("body", reason),
            Unreadable::Field { field, reason } => Self::bad_request(&field, reason),
        }
    }

    fn query(reason: String) -> Self {
        let property = reason.split('`').nth(1).unwrap_or("query").to_owned();
        Self::bad_request(&property, reason)
    }
}

/// An operation's summary and the roles 003 names for it.
fn op(
    summary: &'static str,
    roles: &'static str,
) -> impl FnOnce(aide::transform::TransformOperation) -> aide::transform::TransformOperation {
    move |o| o.summary(summary).description(roles).tag("Customers")
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/Customers/{customerId}",
            delete_with(
                delete_customer,
                op(
                    "Deletes a customer from the portal",
                    "Available to the roles: csp",
                ),
            ),
        )
        .api_route(
            "/Customers/{customerId}/licenses",
            get_with(
                list_licenses,
                op(
                    "Returns a list of licenses for a specific customer",
                    "Available to the roles: csp, reseller (scoped to its own relationship)",
                ),
            ),
        )
        .api_route(
            "/Customers/{customerId}/remove-reseller-relationship/{providerInstanceId}",
            delete_with(
                remove_relationship,
                op(
                    "Removes Reseller Relationship with a customer on a specific provider instance",
                    "Available to the roles: csp",
                ),
            ),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct CustomerPath {
    /// GUID Unique identifier for the customer.
    customer_id: String,
}

/// The tenant's customer the path names (not deleted).
async fn customer(state: &AppState, issuer: &Issuer, id: &str) -> Result<Uuid, ErrorResponse> {
    let uuid = Uuid::parse_str(id)
        .map_err(|_| ErrorResponse::bad_request("customerId", "must be a GUID"))?;
    let tenant = &issuer.caller.tenant;
    state
        .caught_up_on(tenant, Customer::TYPE, inventory::NAME)
        .await?;
    match customers::get(&state.pool, tenant.as_str(), uuid).await? {
        Some(row) if row.status != "deleted" => Ok(uuid),
        _ => Err(ErrorResponse::not_found(format!(
            "customer {id} was not found"
        ))),
    }
}

/// 003's `Accepted`: 202, no body.
type Accepted = crate::answer::Done<202>;

async fn delete_customer(
    State(state): State<AppState>,
    issuer: Issuer,
    role: CockpitRole,
    Path(path): Path<CustomerPath>,
) -> Result<Accepted, ErrorResponse> {
    role.require_csp("delete customers")?;
    let id = customer(&state, &issuer, &path.customer_id).await?;
    let tenant = &issuer.caller.tenant;
    state
        .caught_up_on(tenant, Subscription::TYPE, inventory::NAME)
        .await?;
    let filter = SubscriptionFilter {
        customer_id: Some(id.to_string()),
        status: Some("active".into()),
        ..Default::default()
    };
    let active: Vec<String> = subscriptions::list(&state.pool, tenant.as_str(), &filter, None, 100)
        .await?
        .into_iter()
        .map(|s| s.id.to_string())
        .collect();
    if !active.is_empty() {
        return Err(ErrorResponse::bad_request(
            "customerId",
            format!(
                "the customer has active subscriptions ({}): cancel or suspend them first",
                active.join(", ")
            ),
        ));
    }
    state
        .bus
        .execute::<Customer>(
            &issuer.meta,
            &id.to_string(),
            CustomerCommand::Delete {
                live_subscriptions: Vec::new(),
            },
        )
        .await?;
    Ok(crate::answer::Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LicenseQuery {
    /// GUID Unique identifier for the provider instance.
    provider_instance_id: Option<String>,
    /// Scopes the licenses to that reseller relationship; a reseller's own, always.
    reseller_id: Option<String>,
}

/// A license of the customer on the provider instance.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct License {
    sku_id: String,
    name: String,
    available_licenses: i64,
    /// Whether any of them is in use.
    is_selected: bool,
    total_licenses: i64,
    consumed_licenses: i64,
    suspended_licenses: i64,
}

async fn list_licenses(
    State(state): State<AppState>,
    issuer: Issuer,
    role: CockpitRole,
    Path(path): Path<CustomerPath>,
    Query(query, _): Query<LicenseQuery, ErrorResponse>,
) -> Result<Json<Vec<License>>, ErrorResponse> {
    let provider = query
        .provider_instance_id
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| ErrorResponse::bad_request("providerInstanceId", "is required"))?;
    let reseller = match &role {
        CockpitRole::Csp => query.reseller_id.filter(|r| !r.is_empty()),
        CockpitRole::Reseller { reseller_id: None } => {
            return Err(ErrorResponse::forbidden(
                "the reseller's token names no reseller_id",
            ))
        }
        CockpitRole::Reseller {
            reseller_id: Some(own),
        } => match query.reseller_id.filter(|r| !r.is_empty()) {
            Some(asked) if asked != *own => {
                return Err(ErrorResponse::forbidden(
                    "a reseller sees its own relationships only",
                ))
            }
            _ => Some(own.clone()),
        },
    };
    let id = customer(&state, &issuer, &path.customer_id).await?;
    let tenant = issuer.caller.tenant.as_str();
    let relationships = customers::relationships(&state.pool, tenant, id).await?;
    let related = relationships.iter().any(|r| {
        r.status == "active"
            && r.provider_instance_id == provider
            && reseller
                .as_ref()
                .is_none_or(|own| r.reseller_id.as_ref() == Some(own))
    });
    let rows = customers::licenses(&state.pool, tenant, id, Some(&provider)).await?;
    if !related && (reseller.is_some() || rows.is_empty()) {
        return Err(ErrorResponse::not_found(format!(
            "customer {} has no relationship on provider instance {provider}",
            path.customer_id
        )));
    }
    Ok(Json(
        rows.into_iter()
            .map(|r| License {
                sku_id: r.sku_id,
                name: r.name,
                available_licenses: r.available.max(0),
                is_selected: r.consumed > 0,
                total_licenses: r.total,
                consumed_licenses: r.consumed,
                suspended_licenses: r.suspended,
            })
            .collect(),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RelationshipPath {
    customer_id: String,
    /// GUID Unique identifier for the provider instance.
    provider_instance_id: String,
}

async fn remove_relationship(
    State(state): State<AppState>,
    issuer: Issuer,
    role: CockpitRole,
    Path(path): Path<RelationshipPath>,
) -> Result<Accepted, ErrorResponse> {
    role.require_csp("remove reseller relationships")?;
    let id = customer(&state, &issuer, &path.customer_id).await?;
    let relationships =
        customers::relationships(&state.pool, issuer.caller.tenant.as_str(), id).await?;
    let on_instance: Vec<String> = relationships
        .into_iter()
        .filter(|r| {
            r.status == "active"
                && r.reseller_id.is_some()
                && r.provider_instance_id == path.provider_instance_id
        })
        .map(|r| r.id)
        .collect();
    if on_instance.is_empty() {
        return Err(ErrorResponse::not_found(format!(
            "customer {} has no reseller relationship on provider instance {}",
            path.customer_id, path.provider_instance_id
        )));
    }
    for relationship_id in on_instance {
        state
            .bus
            .execute::<Customer>(
                &issuer.meta,
                &id.to_string(),
                CustomerCommand::RemoveResellerRelationship { relationship_id },
            )
            .await?;
    }
    Ok(crate::answer::Done)
}
