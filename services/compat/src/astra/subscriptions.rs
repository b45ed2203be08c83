//! The five operations on `/accounts/{account_id}/core/v1/subscriptions`.
//!
//! A PUT is read as what it changes on the stored resource: the details it sets are one
//! `SubscriptionUpdated`; `terms: paid` on a trial converts it; `status: inactive` cancels it
//! (its instances run on for `gracePeriod` days, then are stopped; its usage so far is billed
//! on the next invoice), and `status: active` resumes a suspended one. Every change is first
//! decided together against the subscription's own history, so a PUT that cannot be done in
//! whole changes nothing. Key values that are not the client's (`id`, `marketplace`, a paid
//! subscription's period) are a conflict (problem 10) when they differ.
//!
//! DELETE ends the subscription with its charges, as 004 says: its instances are deleted
//! at once, its usage that no invoice billed yet is never billed, and it leaves the
//! collection (a 404 from then on). Invoices already issued keep their lines, and its history
//! stays in the event log and the audit.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use chrono::Utc;
use fleet_api::auth::Permission;
use fleet_api::routes::{wait_for_position, Issuer};
use fleet_api::AppState;
use fleet_app::command_bus::CommandError;
use fleet_domain::customer::Customer;
use fleet_domain::subscription::{
    NewSubscription, Subscription, SubscriptionChanges, SubscriptionCommand, SubscriptionDetails,
    SubscriptionStatus,
};
use fleet_domain::Aggregate;
use fleet_projections::inventory::subscriptions::{self, SubscriptionRow};
use fleet_projections::inventory::{self, customers};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::collection::{Item, Listing};
use super::media::{self, COLLECTION, LATEST, RESOURCE};
use super::problems::{self, Kind, Problem};
use super::resource::{self, render, Fields, Resource, SERVICE_ID};
use super::{Answer, Asked, Sent};
use crate::answer::Done;

pub fn router() -> ApiRouter<AppState> {
    let op = super::operation;
    ApiRouter::new()
        .api_route(
            "/subscriptions",
            get_with(list, op("List all subscriptions"))
                .post_with(create, op("Create a new subscription")),
        )
        .api_route(
            "/subscriptions/{subscription_id}",
            get_with(retrieve, op("Retrieve a subscription"))
                .put_with(modify, op("Modify a subscription"))
                .delete_with(delete, op("Delete a subscription")),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct AccountPath {
    /// ID of the containing account resource: a customer of the caller's tenant.
    account_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ItemPath {
    account_id: String,
    /// ID of the subscription.
    subscription_id: String,
}

/// The account (customer) the path names: live and the caller's, or problem 2.
async fn account(state: &AppState, issuer: &Issuer, account_id: &str) -> Result<Uuid, Problem> {
    let missing = || {
        Problem::new(problems::COLLECTION_NOT_FOUND).detail(format!(
            "account {account_id} has no subscription collection"
        ))
    };
    let uuid = Uuid::parse_str(account_id).map_err(|_| missing())?;
    let tenant = &issuer.caller.tenant;
    state
        .caught_up_on(tenant, Customer::TYPE, inventory::NAME)
        .await?;
    match customers::get(&state.pool, tenant.as_str(), uuid).await? {
        Some(row) if row.status != "deleted" => Ok(uuid),
        _ => Err(missing()),
    }
}

/// The account's Astra subscription the path names, once the read model holds every write
/// of the tenant's subscriptions; `missing` otherwise.
async fn stored(
    state: &AppState,
    issuer: &Issuer,
    account: Uuid,
    id: &str,
    missing: Kind,
) -> Result<SubscriptionRow, Problem> {
    state
        .caught_up_on(&issuer.caller.tenant, Subscription::TYPE, inventory::NAME)
        .await?;
    lookup(state, issuer, account, id, missing).await
}

/// The account's Astra subscription as the read model holds it now.
async fn lookup(
    state: &AppState,
    issuer: &Issuer,
    account: Uuid,
    id: &str,
    missing: Kind,
) -> Result<SubscriptionRow, Problem> {
    let not_found = || Problem::new(missing).detail(format!("subscription {id} was not found"));
    let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
    match subscriptions::get(&state.pool, issuer.caller.tenant.as_str(), uuid).await? {
        Some(row)
            if row.customer_id == account.to_string()
                && row.service_id == SERVICE_ID
                && row.status != "deleted" =>
        {
            Ok(row)
        }
        _ => Err(not_found()),
    }
}

fn permitted(issuer: &Issuer) -> Result<(), Problem> {
    issuer
        .caller
        .require(Permission::ManageAccounts)
        .map_err(Problem::from)
}

fn location(account: Uuid, id: &str) -> String {
    format!("/accounts/{account}/core/v1/subscriptions/{id}")
}

/// Refuses the fields a body may not carry.
fn only(fields: &mut Fields, when: resource::Writable) {
    for name in fields.names() {
        if let Err(reason) = resource::writable(&name, when) {
            fields.bad(&name, reason);
        }
    }
}

const MARKETPLACES: &[&str] = &["netapp", "azure", "aws", "gcp"];

/// `subscription_1.2_post_request_body`, for the document.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct CreateBody {
    #[serde(rename = "type")]
    kind: String,
    version: String,
    terms: String,
    #[serde(rename = "customerProfileID")]
    customer_profile_id: Option<String>,
    #[serde(rename = "paymentProfileID")]
    payment_profile_id: Option<String>,
    payment_expiry: Option<String>,
    payment_first_name: Option<String>,
    payment_last_name: Option<String>,
    payment_address: Option<serde_json::Value>,
    marketplace: Option<String>,
    metadata: Option<serde_json::Value>,
}

/// What a new subscription of each terms starts with: 004's examples' values, but a grace on
/// paid terms too, so that a cancellation leaves time before the instances stop.
fn plan_details(trial: bool) -> SubscriptionDetails {
    SubscriptionDetails {
        app_limit: 0,
        namespace_limit: if trial { 10 } else { -1 },
        onboarding: "not started".into(),
        cost_per_app_unit: Decimal::ZERO,
        cost_per_namespace_unit: if trial {
            Decimal::ZERO
        } else {
            Decimal::new(5, 3)
        },
        ..Default::default()
    }
}
const TRIAL_DAYS: i64 = 90;
const GRACE_DAYS: i64 = 7;
const REMINDER_DAYS: i64 = 30;

async fn create(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<AccountPath>,
    sent: Sent<CreateBody>,
) -> Result<Answer<Resource, 201>, Problem> {
    media::check_body(&sent.headers)?;
    let negotiated = media::negotiate(&sent.headers, RESOURCE)?;
    permitted(&issuer)?;
    let account = account(&state, &issuer, &path.account_id).await?;
    let mut fields = Fields::parse(&sent.body)?;
    only(&mut fields, resource::Writable::OnCreate);
    let version = fields.kind_and_version();
    if !fields.has("terms") {
        fields.bad("terms", "is required: trial or paid");
    }
    let terms = fields.word("terms", &["trial", "paid"]);
    let marketplace = fields.word("marketplace", MARKETPLACES);
    let customer_profile = fields.text("customerProfileID", 0, 63);
    let payment_profile = fields.text("paymentProfileID", 0, 63);
    let payment_expiry = fields.time("paymentExpiry");
    fields.check_billing_contact();
    let labels = fields.labels(true);
    if !fields.invalid.is_empty() {
        return Err(Problem::fields(fields.invalid));
    }
    let (Some(version), Some(terms)) = (version, terms) else {
        return Err(Problem::field("terms", "is required"));
    };
    let trial = terms == "trial";
    let new = NewSubscription {
        customer_id: account.to_string(),
        service_id: SERVICE_ID.into(),
        plan_id: format!("astra-{terms}"),
        terms,
        marketplace: marketplace.unwrap_or_else(|| "netapp".into()),
        max_instances: -1,
        trial_days: trial.then_some(TRIAL_DAYS),
        external_payer_id: None,
        payment_profile_id: payment_profile.filter(|p| !p.is_empty()),
        owner_user_id: None,
    };
    let mut terms = new
        .terms(Utc::now())
        .map_err(|e| Problem::from(CommandError::Domain(e)))?;
    terms.grace_days = Some(GRACE_DAYS);
    terms.reminder_days = Some(if trial { REMINDER_DAYS } else { -1 });
    terms.details = Some(Box::new(SubscriptionDetails {
        customer_profile_id: customer_profile.filter(|p| !p.is_empty()),
        payment_expiry,
        labels: labels.unwrap_or_default(),
        schema_version: Some(version),
        ..plan_details(trial)
    }));
    let id = Uuid::now_v7().to_string();
    let executed = state
        .bus
        .execute_on_new::<Subscription>(
            &issuer.meta,
            &id,
            SubscriptionCommand::Create {
                terms,
                request_id: None,
            },
        )
        .await?;
    wait_for_position(&state, inventory::NAME, Some(executed.event.sequence)).await?;
    let row = lookup(&state, &issuer, account, &id, problems::RESOURCE_NOT_FOUND).await?;
    let body = resource::raw(&render(&row, negotiated.version.as_deref()));
    Ok(Answer::created(
        negotiated.content_type,
        body,
        location(account, &id),
    ))
}

/// `type_astra_metadata_list`.
#[derive(Serialize, schemars::JsonSchema)]
struct ListMetadata {
    labels: Vec<resource::AstraLabel>,
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    resume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
}

/// The collection.
#[derive(Serialize, schemars::JsonSchema)]
struct Collection {
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
    /// Whole resources, or arrays of the fields `include` names.
    #[schemars(with = "Vec<serde_json::Value>")]
    items: Vec<Box<RawValue>>,
    metadata: ListMetadata,
}

/// Most subscriptions an account's collection is read with; an account has a handful.
const MOST: i64 = 10_000;

async fn list(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<AccountPath>,
    asked: Asked,
) -> Result<Answer<Collection>, Problem> {
    let negotiated = media::negotiate(&asked.headers, COLLECTION)?;
    let account = account(&state, &issuer, &path.account_id).await?;
    let listing = Listing::read(&asked.query, &resource::known)?;
    state
        .caught_up_on(&issuer.caller.tenant, Subscription::TYPE, inventory::NAME)
        .await?;
    let rows = subscriptions::of_customer(
        &state.pool,
        issuer.caller.tenant.as_str(),
        &account.to_string(),
        MOST,
    )
    .await?;
    let items = rows
        .iter()
        .filter(|r| r.service_id == SERVICE_ID)
        .map(|r| Item::new(resource::raw(&render(r, negotiated.version.as_deref()))))
        .collect();
    let page = listing.page(items);
    let collection = Collection {
        kind: COLLECTION,
        version: LATEST,
        items: page.items,
        metadata: ListMetadata {
            labels: Vec::new(),
            resume: page.continue_token,
            count: page.count,
        },
    };
    let body = serde_json::value::to_raw_value(&collection).map_err(|e| {
        Problem::from(fleet_api::ApiError::Internal(format!(
            "writing the collection: {e}"
        )))
    })?;
    Ok(Answer::ok(negotiated.content_type, body))
}

async fn retrieve(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ItemPath>,
    asked: Asked,
) -> Result<Answer<Resource>, Problem> {
    let negotiated = media::negotiate(&asked.headers, RESOURCE)?;
    if !asked.query.is_empty() {
        let name = asked.query.split(['=', '&']).next().unwrap_or_default();
        return Err(Problem::param(
            name,
            "this operation takes no query parameter",
        ));
    }
    let account = account(&state, &issuer, &path.account_id).await?;
    let row = stored(
        &state,
        &issuer,
        account,
        &path.subscription_id,
        problems::RESOURCE_NOT_FOUND,
    )
    .await?;
    let body = resource::raw(&render(&row, negotiated.version.as_deref()));
    Ok(Answer::ok(negotiated.content_type, body))
}

/// `subscription_1.2_put_request_body`, for the document.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ModifyBody {
    #[serde(rename = "type")]
    kind: String,
    version: String,
    id: Option<String>,
    #[serde(rename = "customerProfileID")]
    customer_profile_id: Option<String>,
    #[serde(rename = "paymentProfileID")]
    payment_profile_id: Option<String>,
    payment_expiry: Option<String>,
    payment_first_name: Option<String>,
    payment_last_name: Option<String>,
    payment_address: Option<serde_json::Value>,
    purchase_order_number: Option<String>,
    marketplace: Option<String>,
    #[serde(rename = "licenseSN")]
    license_sn: Option<String>,
    terms: Option<String>,
    status: Option<String>,
    app_limit: Option<i64>,
    namespace_limit: Option<i64>,
    subscription_period: Option<i64>,
    grace_period: Option<i64>,
    reminder_before_period: Option<i64>,
    onboard_status: Option<String>,
    cost_per_app_unit: Option<f64>,
    cost_per_namespace_unit: Option<f64>,
    metadata: Option<serde_json::Value>,
}

/// The commands a PUT comes to, in the order they are issued.
fn commands_of(
    row: &SubscriptionRow,
    fields: &mut Fields,
) -> Result<Vec<SubscriptionCommand>, Problem> {
    let version = fields.kind_and_version();
    let id = fields.text("id", 1, 64);
    let customer_profile = fields.text("customerProfileID", 0, 63);
    let payment_profile = fields.text("paymentProfileID", 0, 63);
    let payment_expiry = fields.time("paymentExpiry");
    let purchase_order = fields.text("purchaseOrderNumber", 1, 31);
    let marketplace = fields.word("marketplace", MARKETPLACES);
    let license = fields.text("licenseSN", 1, 31);
    let terms = fields.word("terms", &["trial", "paid"]);
    let status = fields.word("status", &["active", "inactive"]);
    let app_limit = fields.integer("appLimit", -1);
    let namespace_limit = fields.integer("namespaceLimit", -1);
    let period = fields.integer("subscriptionPeriod", -1);
    let grace = fields.integer("gracePeriod", -1);
    let reminder = fields.integer("reminderBeforePeriod", -1);
    let onboarding = fields.word(
        "onboardStatus",
        fleet_domain::subscription::grace::ONBOARDING,
    );
    let app_cost = fields.amount("costPerAppUnit");
    let namespace_cost = fields.amount("costPerNamespaceUnit");
    fields.check_billing_contact();
    let labels = fields.labels(false);
    if !fields.invalid.is_empty() {
        return Err(Problem::fields(std::mem::take(&mut fields.invalid)));
    }
    if id.as_ref().is_some_and(|id| *id != row.id.to_string()) {
        return Err(Problem::conflict(
            "id",
            "is not the subscription the path names",
        ));
    }
    if marketplace.as_ref().is_some_and(|m| *m != row.marketplace) {
        return Err(Problem::conflict(
            "marketplace",
            format!("is {} for good: it is fixed at creation", row.marketplace),
        ));
    }
    let trial = row.terms == "trial";
    if terms.as_deref() == Some("trial") && !trial {
        return Err(Problem::conflict(
            "terms",
            "a paid subscription does not go back to a trial",
        ));
    }
    let current = resource::details_of(row);
    let mut details = current.clone();
    if let Some(p) = customer_profile {
        details.customer_profile_id = Some(p).filter(|p| !p.is_empty());
    }
    details.payment_expiry = payment_expiry.or(details.payment_expiry);
    details.purchase_order_number = purchase_order.or(details.purchase_order_number);
    details.license_serial = license.or(details.license_serial);
    details.app_limit = app_limit.unwrap_or(details.app_limit);
    details.namespace_limit = namespace_limit.unwrap_or(details.namespace_limit);
    details.onboarding = onboarding.unwrap_or(details.onboarding);
    details.cost_per_app_unit = app_cost.unwrap_or(details.cost_per_app_unit);
    details.cost_per_namespace_unit = namespace_cost.unwrap_or(details.cost_per_namespace_unit);
    if let Some(labels) = labels {
        details.labels = labels;
    }
    let mut changes = SubscriptionChanges::default();
    if let Some(days) = period.filter(|d| *d != resource::period_days(row)) {
        match (trial, days) {
            (true, d) if d >= 0 => {
                changes.trial_ends_at = Some(row.created_at + chrono::Duration::days(d))
            }
            (true, _) => {
                return Err(Problem::conflict(
                    "subscriptionPeriod",
                    "a trial has an end: convert it to paid for no limit",
                ))
            }
            (false, _) => {
                return Err(Problem::conflict(
                    "subscriptionPeriod",
                    "a paid subscription has no period to change",
                ))
            }
        }
    }
    // Astra's -1 ("not applicable") grace stops the instances at once: a grace of 0 days.
    if let Some(days) = grace
        .map(|d| d.max(0))
        .filter(|d| Some(*d) != row.grace_days)
    {
        changes.grace_days = Some(days);
    }
    if let Some(days) = reminder.filter(|d| Some(*d) != row.reminder_days) {
        changes.reminder_days = Some(days);
    }
    let profile = payment_profile.filter(|p| !p.is_empty());
    let converting = terms.as_deref() == Some("paid") && trial;
    if !converting && profile.is_some() && profile != row.payment_profile_id {
        changes.payment_profile_id = profile.clone();
    }
    if details != current || changes != SubscriptionChanges::default() {
        details.schema_version = version.or(details.schema_version);
        changes.details = Some(Box::new(details));
    }
    let mut commands = Vec::new();
    if changes != SubscriptionChanges::default() {
        commands.push(SubscriptionCommand::Update(changes));
    }
    if converting {
        commands.push(SubscriptionCommand::ConvertToPaid {
            payment_profile_id: profile,
        });
    }
    match status.as_deref() {
        Some("inactive") => commands.push(SubscriptionCommand::Cancel {
            reason: Some("set inactive through the Astra API".into()),
            now: Utc::now(),
        }),
        Some("active") => commands.push(SubscriptionCommand::Resume),
        _ => {}
    }
    Ok(commands)
}

async fn modify(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ItemPath>,
    sent: Sent<ModifyBody>,
) -> Result<Done<204>, Problem> {
    media::check_body(&sent.headers)?;
    permitted(&issuer)?;
    let account = account(&state, &issuer, &path.account_id).await?;
    let row = stored(
        &state,
        &issuer,
        account,
        &path.subscription_id,
        problems::RESOURCE_NOT_FOUND,
    )
    .await?;
    let mut fields = Fields::parse(&sent.body)?;
    only(&mut fields, resource::Writable::OnReplace);
    let planned = commands_of(&row, &mut fields)?;
    // Decide every change against the history first: all of them or none.
    let id = row.id.to_string();
    let mut simulated =
        fleet_app::policies::load::<Subscription>(&state, &issuer.caller.tenant, &id).await?;
    let mut commands = Vec::with_capacity(planned.len());
    for command in planned {
        // A status the resource has already (a whole resource PUT back) asks for nothing.
        let already = match command {
            SubscriptionCommand::Resume => simulated.status == SubscriptionStatus::Active,
            SubscriptionCommand::Cancel { .. } => simulated.status != SubscriptionStatus::Active,
            _ => false,
        };
        if already {
            continue;
        }
        let event = simulated
            .decide(&command)
            .map_err(|e| Problem::from(CommandError::Domain(e)))?;
        simulated.evolve(&event);
        commands.push(command);
    }
    for command in commands {
        state
            .bus
            .execute::<Subscription>(&issuer.meta, &id, command)
            .await?;
    }
    Ok(Done)
}

async fn delete(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ItemPath>,
    asked: Asked,
) -> Result<Done<204>, Problem> {
    if !asked.query.is_empty() {
        let name = asked.query.split(['=', '&']).next().unwrap_or_default();
        return Err(Problem::param(
            name,
            "this operation takes no query parameter",
        ));
    }
    permitted(&issuer)?;
    let account = account(&state, &issuer, &path.account_id).await?;
    let row = stored(
        &state,
        &issuer,
        account,
        &path.subscription_id,
        problems::RESOURCE_NOT_FOUND,
    )
    .await?;
    state
        .bus
        .execute::<Subscription>(
            &issuer.meta,
            &row.id.to_string(),
            SubscriptionCommand::Delete,
        )
        .await?;
    Ok(Done)
}
