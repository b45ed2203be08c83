//! `/v1/customers`: customers, their reseller relationships and licenses.

use aide::axum::routing::{delete_with, get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_domain::customer::{
    Customer, CustomerChanges, CustomerCommand, CustomerProfile, License,
};
use fleet_domain::Aggregate;
use fleet_projections::inventory::customers::{
    self, CustomerFilter, CustomerRow, LicenseRow, RelationshipRow,
};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::Items;
use crate::pagination::{self, Page};
use crate::routes::commands::{reply, Accepted, Created, Exposed, Reply};
use crate::routes::{history_route, parse_id, run, wait_for_position, Issuer, Target};
use crate::{ApiError, AppState};
use fleet_app::command_bus::Executed;
use fleet_app::policies;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route("/customers/{id}/events", history_route::<Customer>())
        .api_route(
            "/customers",
            post_with(create_customer, summary("Create a customer"))
                .get_with(list_customers, summary("List customers")),
        )
        .api_route(
            "/customers/{id}",
            get_with(get_customer, summary("Get a customer"))
                .patch_with(update_customer, summary("Change a customer's details"))
                .delete_with(
                    delete_customer,
                    summary("Delete a customer; 409 while it has live subscriptions or reseller relationships"),
                ),
        )
        .api_route(
            "/customers/{id}/reseller-relationships",
            post_with(add_reseller_relationship, summary("Add a reseller relationship"))
                .get_with(list_reseller_relationships, summary("List reseller relationships")),
        )
        .api_route(
            "/customers/{id}/reseller-relationships/{relationship_id}",
            delete_with(remove_reseller_relationship, summary("Remove a reseller relationship")),
        )
        .api_route(
            "/customers/{id}/licenses",
            get_with(list_licenses, summary("List licenses")).put_with(
                record_license,
                summary("Record a provider instance's license counts for a SKU"),
            ),
        )
        .with_path_items(|item| item.tag("customers"))
}
#[derive(Serialize, schemars::JsonSchema)]
pub struct CustomerState {
    id: String,
    status: &'static str,
    #[serde(flatten)]
    profile: Option<CustomerProfile>,
    position: u64,
    event_type: String,
}

impl Exposed for Customer {
    type View = CustomerState;
    const PERMISSION: Permission = Permission::ManageAccounts;
    const COLLECTION: &'static str = "/v1/customers";

    fn view(executed: Executed<Customer>) -> CustomerState {
        CustomerState {
            id: executed.event.event.aggregate_id,
            status: executed.state.status(),
            profile: executed.state.profile,
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

async fn execute(
    state: &AppState,
    issuer: &Issuer,
    id: Uuid,
    command: CustomerCommand,
) -> Result<Executed<Customer>, ApiError> {
    run::<Customer>(
        state,
        issuer,
        Permission::ManageAccounts,
        id,
        Target::Existing,
        command,
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateCustomer {
    name: String,
    country: String,
    email: String,
    domain: Option<String>,
    tax_id: Option<String>,
    internal_identifier: Option<String>,
}

async fn create_customer(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateCustomer>,
) -> Result<Accepted<CustomerState>, ApiError> {
    let profile = CustomerProfile {
        name: body.name,
        country: body.country.to_ascii_uppercase(),
        email: body.email,
        domain: body.domain,
        tax_id: body.tax_id,
        internal_identifier: body.internal_identifier,
    };
    let command = CustomerCommand::Create(profile);
    let executed = run::<Customer>(
        &state,
        &issuer,
        Permission::ManageAccounts,
        Uuid::now_v7(),
        Target::New,
        command,
    )
    .await?;
    Ok(reply::<Customer, 202>(executed))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdateCustomer {
    name: Option<String>,
    country: Option<String>,
    email: Option<String>,
    domain: Option<String>,
    tax_id: Option<String>,
    internal_identifier: Option<String>,
}

async fn update_customer(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateCustomer>,
) -> Result<Reply<CustomerState>, ApiError> {
    let id = parse_id(Customer::TYPE, &id)?;
    let changes = CustomerChanges {
        name: body.name,
        country: body.country.map(|c| c.to_ascii_uppercase()),
        email: body.email,
        domain: body.domain,
        tax_id: body.tax_id,
        internal_identifier: body.internal_identifier,
    };
    let executed = execute(&state, &issuer, id, CustomerCommand::Update(changes)).await?;
    Ok(reply(executed))
}

async fn delete_customer(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Reply<CustomerState>, ApiError> {
    let id = parse_id(Customer::TYPE, &id)?;
    issuer.caller.require(Permission::ManageAccounts)?;
    let live_subscriptions =
        policies::live_subscriptions_of(&state, &issuer.caller.tenant, id).await?;
    let command = CustomerCommand::Delete { live_subscriptions };
    let executed = execute(&state, &issuer, id, command).await?;
    Ok(reply(executed))
}

async fn get_customer(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<CustomerRow>, ApiError> {
    let uuid = parse_id(Customer::TYPE, &id)?;
    wait_for_position(&state, INVENTORY, position).await?;
    customers::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("customer {id} not found")))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListCustomers {
    search: Option<String>,
    country: Option<String>,
    include_deleted: Option<bool>,
    page_size: Option<i64>,
    page_token: Option<String>,
}

async fn list_customers(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ListCustomers>,
) -> Result<Json<Page<CustomerRow>>, ApiError> {
    let limit = pagination::page_size(query.page_size)?;
    let after = pagination::decode_token(query.page_token.as_deref())?;
    if query.search.as_ref().is_some_and(|s| s.len() > 255) {
        return Err(ApiError::bad_request(
            "search",
            "must be at most 255 characters",
        ));
    }
    wait_for_position(&state, INVENTORY, position).await?;
    let filter = CustomerFilter {
        search: query.search.filter(|s| !s.is_empty()),
        country: query.country.map(|c| c.to_ascii_uppercase()),
        include_deleted: query.include_deleted.unwrap_or(true),
    };
    let rows = customers::list(
        &state.pool,
        caller.tenant.as_str(),
        &filter,
        after,
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AddRelationship {
    provider_instance_id: String,
    reseller_id: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct RelationshipAdded {
    id: String,
    customer_id: String,
    provider_instance_id: String,
    reseller_id: Option<String>,
    status: &'static str,
    position: u64,
}

async fn add_reseller_relationship(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddRelationship>,
) -> Result<Created<RelationshipAdded>, ApiError> {
    let id = parse_id(Customer::TYPE, &id)?;
    let relationship_id = Uuid::now_v7().to_string();
    let command = CustomerCommand::AddResellerRelationship {
        relationship_id: relationship_id.clone(),
        provider_instance_id: body.provider_instance_id.clone(),
        reseller_id: body.reseller_id.clone(),
    };
    let executed = execute(&state, &issuer, id, command).await?;
    let position = executed.event.sequence;
    // A replayed (deduplicated) add answers with the relationship it made the first time.
    let relationship_id = match &executed.event.event.payload["relationship_id"] {
        serde_json::Value::String(first) => first.clone(),
        _ => relationship_id,
    };
    let body = RelationshipAdded {
        id: relationship_id.clone(),
        customer_id: id.to_string(),
        provider_instance_id: body.provider_instance_id,
        reseller_id: body.reseller_id,
        status: "active",
        position,
    };
    let location = format!("/v1/customers/{id}/reseller-relationships/{relationship_id}");
    Ok(Created::new(position, body).at(location))
}

async fn remove_reseller_relationship(
    State(state): State<AppState>,
    issuer: Issuer,
    Path((id, relationship_id)): Path<(String, String)>,
) -> Result<Reply<CustomerState>, ApiError> {
    let id = parse_id(Customer::TYPE, &id)?;
    let command = CustomerCommand::RemoveResellerRelationship { relationship_id };
    let executed = execute(&state, &issuer, id, command).await?;
    Ok(reply(executed))
}

/// 404 unless the customer is the caller's (as the inventory knows it).
pub(crate) async fn known_customer(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Uuid, ApiError> {
    let uuid = parse_id(Customer::TYPE, id)?;
    customers::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(|_| uuid)
        .ok_or_else(|| ApiError::NotFound(format!("customer {id} not found")))
}

async fn list_reseller_relationships(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<Items<RelationshipRow>>, ApiError> {
    wait_for_position(&state, INVENTORY, position).await?;
    let uuid = known_customer(&state, &caller, &id).await?;
    let items = customers::relationships(&state.pool, caller.tenant.as_str(), uuid).await?;
    Ok(Json(Items { items }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RecordLicense {
    provider_instance_id: String,
    sku_id: String,
    name: String,
    total: i64,
    consumed: i64,
    #[serde(default)]
    suspended: i64,
}

async fn record_license(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RecordLicense>,
) -> Result<Reply<CustomerState>, ApiError> {
    let id = parse_id(Customer::TYPE, &id)?;
    let license = License {
        provider_instance_id: body.provider_instance_id,
        sku_id: body.sku_id,
        name: body.name,
        total: body.total,
        consumed: body.consumed,
        suspended: body.suspended,
    };
    let executed = execute(&state, &issuer, id, CustomerCommand::RecordLicense(license)).await?;
    Ok(reply(executed))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListLicenses {
    provider_instance_id: Option<String>,
}

async fn list_licenses(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListLicenses>,
) -> Result<Json<Items<LicenseRow>>, ApiError> {
    wait_for_position(&state, INVENTORY, position).await?;
    let uuid = known_customer(&state, &caller, &id).await?;
    let items = customers::licenses(
        &state.pool,
        caller.tenant.as_str(),
        uuid,
        query.provider_instance_id.as_deref(),
    )
    .await?;
    Ok(Json(Items { items }))
}
