//! The inventory read model: instances, customers (with reseller relationships and licenses),
//! users, subscriptions, subscription requests, snapshots and host clusters, each in tables of the `inventory` schema.
//!
//! Instances are the high-volume part and are applied set-based (see [`instances`]); the other
//! aggregates change rarely and are applied event by event inside the same transaction.

pub mod account_configs;
pub mod custom_dns;
pub mod customers;
pub mod host_clusters;
pub mod instances;
pub mod networks;
pub mod onboardings;
pub mod orchestrations;
pub mod requests;
pub mod search;
pub mod snapshots;
pub mod subscriptions;
pub mod upgrade_paths;
pub mod users;
pub mod workflows;

use async_trait::async_trait;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

pub use instances::{get_instance, list_instances, InstanceFilter, InstanceRow, InstanceSummary};
pub use subscriptions::SubscriptionSummary;

use crate::{ApplyError, Projection};

pub const NAME: &str = "inventory";

pub struct Inventory;

#[async_trait]
impl Projection for Inventory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![
            instances::DDL,
            customers::DDL,
            users::DDL,
            subscriptions::DDL,
            requests::DDL,
            snapshots::DDL,
            host_clusters::DDL,
            custom_dns::DDL,
            workflows::DDL,
            upgrade_paths::DDL,
            account_configs::DDL,
            networks::DDL,
            onboardings::DDL,
            orchestrations::DDL,
        ]
    }

    fn reader_indexes(&self) -> Vec<&'static str> {
        vec![instances::READER_INDEXES]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        use fleet_events::{
            account_config, custom_dns, customer, host_cluster, instance, network_space,
            onboarding, orchestration, snapshot, subscription, subscription_request, upgrade_path,
            user, workflow,
        };
        [
            instance::AGGREGATE_TYPE,
            customer::AGGREGATE_TYPE,
            user::AGGREGATE_TYPE,
            subscription::AGGREGATE_TYPE,
            subscription_request::AGGREGATE_TYPE,
            snapshot::AGGREGATE_TYPE,
            host_cluster::AGGREGATE_TYPE,
            custom_dns::AGGREGATE_TYPE,
            workflow::AGGREGATE_TYPE,
            upgrade_path::AGGREGATE_TYPE,
            account_config::AGGREGATE_TYPE,
            network_space::AGGREGATE_TYPE,
            onboarding::AGGREGATE_TYPE,
            orchestration::AGGREGATE_TYPE,
        ]
        .contains(&aggregate_type)
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        use fleet_events::{
            account_config, custom_dns, customer, host_cluster, instance, network_space,
            onboarding, orchestration, snapshot, subscription, subscription_request, upgrade_path,
            user, workflow,
        };
        // Each aggregate type has its own tables, so keeping the order within a type is
        // enough; instances go in one set-based write.
        let of = |kind: &str| -> Vec<&EventEnvelope> {
            events
                .iter()
                .filter(|e| e.event.aggregate_type == kind)
                .collect()
        };
        let instance_events = of(instance::AGGREGATE_TYPE);
        if !instance_events.is_empty() {
            instances::apply(tx, &instance_events).await?;
        }
        for event in of(customer::AGGREGATE_TYPE) {
            customers::apply(tx, event).await?;
        }
        for event in of(user::AGGREGATE_TYPE) {
            users::apply(tx, event).await?;
        }
        for event in of(subscription::AGGREGATE_TYPE) {
            subscriptions::apply(tx, event).await?;
        }
        for event in of(subscription_request::AGGREGATE_TYPE) {
            requests::apply(tx, event).await?;
        }
        for event in of(snapshot::AGGREGATE_TYPE) {
            snapshots::apply(tx, event).await?;
        }
        for event in of(host_cluster::AGGREGATE_TYPE) {
            host_clusters::apply(tx, event).await?;
        }
        for event in of(custom_dns::AGGREGATE_TYPE) {
            crate::inventory::custom_dns::apply(tx, event).await?;
        }
        let workflow_events = of(workflow::AGGREGATE_TYPE);
        if !workflow_events.is_empty() {
            workflows::apply_all(tx, &workflow_events).await?;
        }
        for event in of(upgrade_path::AGGREGATE_TYPE) {
            upgrade_paths::apply(tx, event).await?;
        }
        for event in of(account_config::AGGREGATE_TYPE) {
            account_configs::apply(tx, event).await?;
        }
        for event in of(network_space::AGGREGATE_TYPE) {
            networks::apply(tx, event).await?;
        }
        for event in of(onboarding::AGGREGATE_TYPE) {
            onboardings::apply(tx, event).await?;
        }
        for event in of(orchestration::AGGREGATE_TYPE) {
            orchestrations::apply(tx, event).await?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InventorySummary {
    #[serde(flatten)]
    pub instances: InstanceSummary,
    pub subscriptions: SubscriptionSummary,
}

pub async fn summary(pool: &PgPool, tenant: &str) -> Result<InventorySummary, sqlx::Error> {
    Ok(InventorySummary {
        instances: instances::summary(pool, tenant).await?,
        subscriptions: subscriptions::summary(pool, tenant).await?,
    })
}

/// A count, and how many of it are from the last 7 days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Recent {
    pub total: i64,
    pub last_7_days: i64,
}

/// What happened in one environment type: instances deployed (and still live), the
/// subscriptions and the users of customers with instances there, failovers and upgrades.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct EnvironmentStats {
    pub deployments: Recent,
    pub live_deployments: Recent,
    pub subscriptions: Recent,
    pub user_signups: Recent,
    pub failovers: Recent,
    pub upgrades: Recent,
}

pub async fn environment_stats(
    pool: &PgPool,
    tenant: &str,
    environment_type: &str,
) -> Result<EnvironmentStats, sqlx::Error> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "WITH here AS (
             SELECT * FROM inventory.instances WHERE tenant = $1 AND environment_type = $2)
         SELECT 'deployments', count(*), count(*) FILTER (WHERE created_at > now() - interval '7 days')
           FROM here
         UNION ALL
         SELECT 'live', count(*), count(*) FILTER (WHERE created_at > now() - interval '7 days')
           FROM here WHERE status <> 'deleted'
         UNION ALL
         SELECT 'subscriptions', count(*), count(*) FILTER (WHERE created_at > now() - interval '7 days')
           FROM inventory.subscriptions s
          WHERE s.tenant = $1 AND EXISTS (SELECT 1 FROM here WHERE here.subscription_id = s.id::text)
         UNION ALL
         SELECT 'users', count(*), count(*) FILTER (WHERE created_at > now() - interval '7 days')
           FROM inventory.users u
          WHERE u.tenant = $1 AND EXISTS (SELECT 1 FROM here WHERE here.customer_id = u.customer_id)
         UNION ALL
         SELECT 'failovers', count(*), count(*) FILTER (WHERE a.occurred_at > now() - interval '7 days')
           FROM audit.events a JOIN here ON here.id::text = a.instance_id
          WHERE a.tenant = $1 AND a.action = 'InstanceFailedOver'
         UNION ALL
         SELECT 'upgrades', count(*), count(*) FILTER (WHERE started_at > now() - interval '7 days')
           FROM inventory.workflows
          WHERE tenant = $1 AND environment_type = $2 AND kind = 'upgrade'",
    )
    .bind(tenant)
    .bind(environment_type)
    .fetch_all(pool)
    .await?;
    let mut stats = EnvironmentStats::default();
    for (what, total, last_7_days) in rows {
        let recent = Recent { total, last_7_days };
        match what.as_str() {
            "deployments" => stats.deployments = recent,
            "live" => stats.live_deployments = recent,
            "subscriptions" => stats.subscriptions = recent,
            "users" => stats.user_signups = recent,
            "upgrades" => stats.upgrades = recent,
            _ => stats.failovers = recent,
        }
    }
    Ok(stats)
}

/// What a service has in the inventory: its instances and their kinds, the environment types
/// they run in, and the customers (with their users) holding a live subscription to it or a
/// live instance of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ServiceSummary {
    pub environments: i64,
    pub live_instances: i64,
    pub instance_types: i64,
    pub customers: i64,
    pub users: i64,
}

/// The customers of a service: a live subscription to it or a live instance of it.
const SERVICE_CUSTOMERS: &str = "SELECT s.customer_id FROM inventory.subscriptions s
      WHERE s.tenant = $1 AND s.service_id = $2 AND s.status IN ('active', 'suspended')
     UNION
     SELECT i.customer_id FROM inventory.instances i
      WHERE i.tenant = $1 AND i.service_id = $2 AND i.status <> 'deleted'
        AND i.customer_id IS NOT NULL";

pub async fn service_summary(
    pool: &PgPool,
    tenant: &str,
    service_id: &str,
) -> Result<ServiceSummary, sqlx::Error> {
    let (environments, live_instances, instance_types, customers, users): (
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = sqlx::query_as(&format!(
        "WITH live AS (SELECT * FROM inventory.instances
                            WHERE tenant = $1 AND service_id = $2 AND status <> 'deleted'),
                  holders AS ({SERVICE_CUSTOMERS})
             SELECT (SELECT count(DISTINCT environment_type) FROM live),
                    (SELECT count(*) FROM live),
                    (SELECT count(DISTINCT instance_type) FROM live),
                    (SELECT count(*) FROM holders),
                    (SELECT count(*) FROM inventory.users u
                      WHERE u.tenant = $1 AND u.status <> 'deleted'
                        AND u.customer_id IN (SELECT customer_id FROM holders))"
    ))
    .bind(tenant)
    .bind(service_id)
    .fetch_one(pool)
    .await?;
    Ok(ServiceSummary {
        environments,
        live_instances,
        instance_types,
        customers,
        users,
    })
}

/// The live customers of a service, in id order.
pub async fn service_customers(
    pool: &PgPool,
    tenant: &str,
    service_id: &str,
) -> Result<Vec<customers::CustomerRow>, sqlx::Error> {
    let ids: Vec<String> = sqlx::query_scalar(SERVICE_CUSTOMERS)
        .bind(tenant)
        .bind(service_id)
        .fetch_all(pool)
        .await?;
    let ids: Vec<uuid::Uuid> = ids.iter().filter_map(|i| i.parse().ok()).collect();
    customers::of_ids(pool, tenant, &ids).await
}

/// One kind of instance of a service on a plan (Omnistrate's resource), with its live count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct InstanceKind {
    pub instance_type: String,
    pub live_instances: i64,
}

/// The kinds of instance of a service on a plan, optionally only the customer's.
pub async fn instance_kinds(
    pool: &PgPool,
    tenant: &str,
    service_id: &str,
    plan_id: &str,
    environment_type: Option<&str>,
    customer_id: Option<&str>,
) -> Result<Vec<InstanceKind>, sqlx::Error> {
    sqlx::query_as(
        "SELECT instance_type, count(*) FILTER (WHERE status <> 'deleted') AS live_instances
           FROM inventory.instances
          WHERE tenant = $1 AND service_id = $2 AND plan_id = $3
            AND ($4::text IS NULL OR environment_type = $4)
            AND ($5::text IS NULL OR customer_id = $5)
          GROUP BY instance_type ORDER BY instance_type",
    )
    .bind(tenant)
    .bind(service_id)
    .bind(plan_id)
    .bind(environment_type)
    .bind(customer_id)
    .fetch_all(pool)
    .await
}

/// The cells a service's instances (live or not) were placed in.
pub async fn cells_of_service(
    pool: &PgPool,
    tenant: &str,
    service_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT deployment_cell FROM inventory.instances
          WHERE tenant = $1 AND service_id = $2 ORDER BY 1",
    )
    .bind(tenant)
    .bind(service_id)
    .fetch_all(pool)
    .await
}
