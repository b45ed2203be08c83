//! The objects of Omnistrate's answers, built from the native read models. Fields with
//! nothing behind them in Fleetledger are left out (every one of them is optional in
//! Omnistrate's document) rather than filled with made-up values.

use std::collections::HashMap;

use fleet_projections::inventory::customers::{self, CustomerRow};
use fleet_projections::inventory::requests::RequestRow;
use fleet_projections::inventory::subscriptions::{self, SubscriptionRow};
use fleet_projections::inventory::users::{self, UserRow};
use fleet_projections::inventory::InstanceRow;
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::PgPool;
use uuid::Uuid;

use super::errors::GoaError;
use super::wire::{id, prefix, time};

/// Omnistrate's operation status for an instance's native status.
pub fn instance_status(native: &str) -> &'static str {
    match native {
        "deploying" => "DEPLOYING",
        "running" => "RUNNING",
        "stopped" => "STOPPED",
        "failed" => "FAILED",
        "deleted" => "DELETED",
        _ => "UNKNOWN",
    }
}

/// ACTIVE, SUSPENDED, TERMINATED or CANCELLED.
pub fn subscription_status(native: &str) -> String {
    native.to_ascii_uppercase()
}

/// The rows an answer refers to, each read once per answer.
pub struct Lookup<'a> {
    pool: &'a PgPool,
    tenant: &'a str,
    customers: HashMap<String, Option<CustomerRow>>,
    subscriptions: HashMap<String, Option<SubscriptionRow>>,
    users: HashMap<String, Option<UserRow>>,
    root_users: HashMap<String, Option<UserRow>>,
}

impl<'a> Lookup<'a> {
    pub fn new(pool: &'a PgPool, tenant: &'a str) -> Self {
        Self {
            pool,
            tenant,
            customers: HashMap::new(),
            subscriptions: HashMap::new(),
            users: HashMap::new(),
            root_users: HashMap::new(),
        }
    }

    pub async fn customer(&mut self, id: &str) -> Result<Option<CustomerRow>, GoaError> {
        let (pool, tenant) = (self.pool, self.tenant);
        cached(&mut self.customers, id, |uuid| {
            customers::get(pool, tenant, uuid)
        })
        .await
    }

    pub async fn subscription(&mut self, id: &str) -> Result<Option<SubscriptionRow>, GoaError> {
        let (pool, tenant) = (self.pool, self.tenant);
        cached(&mut self.subscriptions, id, |uuid| {
            subscriptions::get(pool, tenant, uuid)
        })
        .await
    }

    pub async fn user(&mut self, id: &str) -> Result<Option<UserRow>, GoaError> {
        let (pool, tenant) = (self.pool, self.tenant);
        cached(&mut self.users, id, |uuid| users::get(pool, tenant, uuid)).await
    }

    /// The customer's first root user: who owns what the customer holds when no one else is
    /// named.
    pub async fn root_user(&mut self, customer_id: &str) -> Result<Option<UserRow>, GoaError> {
        if !self.root_users.contains_key(customer_id) {
            let rows = users::list(
                self.pool,
                self.tenant,
                customer_id,
                Some("active"),
                None,
                50,
            )
            .await?;
            let root = rows.into_iter().find(|u| u.role == "root");
            self.root_users.insert(customer_id.to_owned(), root);
        }
        Ok(self.root_users[customer_id].clone())
    }

    /// Whom a subscription belongs to: the user it was created for, else its customer's root
    /// user.
    pub async fn owner(
        &mut self,
        subscription: &SubscriptionRow,
    ) -> Result<Option<UserRow>, GoaError> {
        if let Some(owner) = &subscription.owner_user_id {
            if let Some(user) = self.user(owner).await? {
                return Ok(Some(user));
            }
        }
        self.root_user(&subscription.customer_id).await
    }
}

/// The row of `id` from `seen`, read with `load` the first time; an id that is not a UUID
/// names no row.
async fn cached<T, F, Fut>(
    seen: &mut HashMap<String, Option<T>>,
    id: &str,
    load: F,
) -> Result<Option<T>, GoaError>
where
    T: Clone,
    F: FnOnce(Uuid) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, sqlx::Error>>,
{
    if let Some(row) = seen.get(id) {
        return Ok(row.clone());
    }
    let row = match Uuid::parse_str(id) {
        Ok(uuid) => load(uuid).await?,
        Err(_) => None,
    };
    seen.insert(id.to_owned(), row.clone());
    Ok(row)
}

/// `ResourceInstance` (DescribeResourceInstance, and the rows of the instance lists).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInstance {
    pub adopted: bool,
    pub cloud_provider: String,
    pub consumption_resource_instance_result: ConsumptionResult,
    pub default_subscription: bool,
    #[serde(rename = "deploymentCellID")]
    pub deployment_cell_id: String,
    pub environment_id: String,
    #[serde(rename = "input_params")]
    pub input_params: Map<String, Value>,
    pub instance_debug_commands: Vec<String>,
    pub integrations_status: Vec<Value>,
    pub maintenance_tasks: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    pub ports_registration_status: Map<String, Value>,
    pub product_tier_id: String,
    pub product_tier_name: String,
    pub resource_version_summaries: Vec<Value>,
    pub service_env_name: String,
    pub service_id: String,
    pub service_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_owner_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_status: Option<String>,
    /// The version a one-off patch moved it to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier_version: Option<String>,
}

/// `consumptionResourceInstanceResult`: the instance as its consumer sees it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ConsumptionResult {
    pub id: String,
    /// The operation status: DEPLOYING, RUNNING, STOPPED, FAILED or DELETED.
    pub status: String,
    pub region: String,
    pub cloud_provider: String,
    pub created_at: String,
    pub last_modified_at: String,
    #[serde(rename = "currentReplicas")]
    pub current_replicas: String,
    #[serde(rename = "subscriptionId", skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(rename = "subscriptionStatus", skip_serializing_if = "Option::is_none")]
    pub subscription_status: Option<String>,
    #[serde(rename = "customTags")]
    pub custom_tags: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_type: Option<String>,
    #[serde(rename = "instanceLoadStatus")]
    pub instance_load_status: String,
    /// The snapshot the instance was restored from.
    #[serde(rename = "sourceSnapshotID", skip_serializing_if = "Option::is_none")]
    pub source_snapshot_id: Option<String>,
}

impl ResourceInstance {
    pub async fn of(
        row: &InstanceRow,
        environment_id: &str,
        lookup: &mut Lookup<'_>,
    ) -> Result<Self, GoaError> {
        let customer = match &row.customer_id {
            Some(c) => lookup.customer(c).await?,
            None => None,
        };
        let subscription = match &row.subscription_id {
            Some(s) => lookup.subscription(s).await?,
            None => None,
        };
        let owner = match &subscription {
            Some(s) => lookup.owner(s).await?,
            None => None,
        };
        let subscription_id = row
            .subscription_id
            .as_ref()
            .map(|s| id(prefix::SUBSCRIPTION, s));
        let subscription_status = subscription
            .as_ref()
            .map(|s| subscription_status(&s.status));
        let status = instance_status(&row.status);
        Ok(Self {
            adopted: row.adopted,
            cloud_provider: row.cloud_provider.clone(),
            consumption_resource_instance_result: ConsumptionResult {
                id: id(prefix::INSTANCE, row.id),
                status: status.into(),
                region: row.region.clone(),
                cloud_provider: row.cloud_provider.clone(),
                created_at: time(row.created_at),
                last_modified_at: time(row.updated_at),
                current_replicas: row.capacity.to_string(),
                subscription_id: subscription_id.clone(),
                subscription_status: subscription_status.clone(),
                custom_tags: row.custom_tags.as_array().cloned().unwrap_or_default(),
                network_type: row.network_type.clone(),
                instance_load_status: if status == "STOPPED" {
                    "STOPPED"
                } else {
                    "UNKNOWN"
                }
                .into(),
                source_snapshot_id: row.restored_from.as_ref().map(|s| id(prefix::SNAPSHOT, s)),
            },
            default_subscription: false,
            deployment_cell_id: row.deployment_cell.clone(),
            environment_id: environment_id.to_owned(),
            input_params: row.params.as_object().cloned().unwrap_or_default(),
            instance_debug_commands: Vec::new(),
            integrations_status: Vec::new(),
            maintenance_tasks: Map::new(),
            organization_id: row.customer_id.as_ref().map(|c| id(prefix::ORG, c)),
            organization_name: customer.map(|c| c.name),
            ports_registration_status: Map::new(),
            product_tier_id: row.plan_id.clone(),
            product_tier_name: row.plan_id.clone(),
            resource_version_summaries: Vec::new(),
            service_env_name: row.environment_type.to_ascii_lowercase(),
            service_id: row.service_id.clone(),
            service_name: row.service_id.clone(),
            subscription_id,
            subscription_owner_name: owner.map(|u| u.name),
            subscription_status,
            tier_version: row.tier_version.clone(),
        })
    }
}

/// `FleetDescribeSubscriptionResult`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub allow_creates_when_payment_not_configured: bool,
    pub billing_provider: String,
    pub created_at: String,
    pub custom_price: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_payer_id: Option<String>,
    pub id: String,
    pub instance_count: i64,
    pub max_number_of_instances: i64,
    pub product_tier_id: String,
    pub product_tier_name: String,
    pub root_user_email: String,
    pub root_user_id: String,
    pub root_user_name: String,
    pub root_user_org_id: String,
    pub service_id: String,
    pub service_name: String,
    /// ACTIVE, SUSPENDED, TERMINATED or CANCELLED.
    pub status: String,
    pub updated_at: String,
    pub updated_by_user_id: String,
    pub updated_by_user_name: String,
    pub user_count: i64,
}

impl Subscription {
    pub async fn of(row: &SubscriptionRow, lookup: &mut Lookup<'_>) -> Result<Self, GoaError> {
        let owner = lookup.owner(row).await?;
        let users = users::list(
            lookup.pool,
            lookup.tenant,
            &row.customer_id,
            Some("active"),
            None,
            1001,
        )
        .await?;
        let (root_id, root_name, root_email) = match owner {
            Some(u) => (id(prefix::USER, u.id), u.name, u.email),
            None => Default::default(),
        };
        Ok(Self {
            // Instances are never refused for want of a payment profile here.
            allow_creates_when_payment_not_configured: true,
            billing_provider: if row.marketplace == "direct" {
                "BRING_YOUR_OWN".into()
            } else {
                row.marketplace.to_ascii_uppercase()
            },
            created_at: time(row.created_at),
            custom_price: false,
            external_payer_id: row.external_payer_id.clone(),
            id: id(prefix::SUBSCRIPTION, row.id),
            instance_count: row.live_instances,
            max_number_of_instances: row.max_instances,
            product_tier_id: row.plan_id.clone(),
            product_tier_name: row.plan_id.clone(),
            root_user_email: root_email,
            root_user_id: root_id,
            root_user_name: root_name,
            root_user_org_id: id(prefix::ORG, &row.customer_id),
            service_id: row.service_id.clone(),
            service_name: row.service_id.clone(),
            status: subscription_status(&row.status),
            updated_at: time(row.updated_at),
            updated_by_user_id: String::new(),
            updated_by_user_name: String::new(),
            user_count: users.len() as i64,
        })
    }
}

/// `DescribeSubscriptionRequestResult`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest {
    pub created_at: String,
    pub id: String,
    pub product_tier_id: String,
    pub product_tier_name: String,
    pub root_user_email: String,
    pub root_user_id: String,
    pub root_user_name: String,
    pub service_id: String,
    pub service_name: String,
    /// PENDING, APPROVED, DENIED or CANCELLED.
    pub status: String,
    pub updated_at: String,
    pub updated_by_user_id: String,
    pub updated_by_user_name: String,
}

impl SubscriptionRequest {
    pub async fn of(row: &RequestRow, lookup: &mut Lookup<'_>) -> Result<Self, GoaError> {
        let requester = match &row.requested_by_user_id {
            Some(u) => lookup.user(u).await?,
            None => lookup.root_user(&row.customer_id).await?,
        };
        let (root_id, root_name, root_email) = match requester {
            Some(u) => (id(prefix::USER, u.id), u.name, u.email),
            None => Default::default(),
        };
        Ok(Self {
            created_at: time(row.created_at),
            id: id(prefix::REQUEST, row.id),
            product_tier_id: row.plan_id.clone(),
            product_tier_name: row.plan_id.clone(),
            root_user_email: root_email,
            root_user_id: root_id,
            root_user_name: root_name,
            service_id: row.service_id.clone(),
            service_name: row.service_id.clone(),
            status: row.status.to_ascii_uppercase(),
            updated_at: time(row.updated_at),
            updated_by_user_id: String::new(),
            updated_by_user_name: String::new(),
        })
    }
}

/// A user (DescribeUser, DescribeOrgUser, and the rows of the user lists).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub created_at: String,
    pub email: String,
    pub enabled: bool,
    pub last_modified_at: String,
    pub org_id: String,
    pub org_name: String,
    /// ACTIVE, or NOT_ENABLED while suspended.
    pub status: String,
    pub subscriptions: Vec<UserSubscription>,
    pub user_id: String,
    pub user_name: String,
    pub role_type: String,
}

/// `UserSubscription`: a subscription a user shares.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSubscription {
    pub subscription_id: String,
    pub service_id: String,
    pub service_name: String,
    pub product_tier_id: String,
    pub product_tier_name: String,
    pub role_type: String,
    pub instance_count: i64,
    pub subscription_date: String,
}

impl User {
    pub async fn of(row: &UserRow, lookup: &mut Lookup<'_>) -> Result<Self, GoaError> {
        let customer = lookup.customer(&row.customer_id).await?;
        let held = subscriptions::list(
            lookup.pool,
            lookup.tenant,
            &subscriptions::SubscriptionFilter {
                customer_id: Some(row.customer_id.clone()),
                status: Some("active".into()),
                ..Default::default()
            },
            None,
            100,
        )
        .await?;
        let enabled = row.status == "active";
        Ok(Self {
            created_at: time(row.created_at),
            email: row.email.clone(),
            enabled,
            last_modified_at: time(row.updated_at),
            org_id: id(prefix::ORG, &row.customer_id),
            org_name: customer.map(|c| c.name).unwrap_or_default(),
            status: if enabled { "ACTIVE" } else { "NOT_ENABLED" }.into(),
            subscriptions: held
                .into_iter()
                .map(|s| UserSubscription {
                    subscription_id: id(prefix::SUBSCRIPTION, s.id),
                    service_id: s.service_id.clone(),
                    service_name: s.service_id,
                    product_tier_id: s.plan_id.clone(),
                    product_tier_name: s.plan_id,
                    role_type: row.role.clone(),
                    instance_count: s.live_instances,
                    subscription_date: time(s.created_at),
                })
                .collect(),
            user_id: id(prefix::USER, row.id),
            user_name: row.name.clone(),
            role_type: row.role.clone(),
        })
    }
}
