//! The marketplace: offerings, projects, orders and the resources they drive.
//!
//! An order and its resource are two aggregates, so each step is two appends: the one the
//! caller asked for, then its effect on the other. The effect is applied at once (a provider's
//! agent reads the resource right after marking its order done) and again by the
//! `marketplace_orders` process manager, which makes it happen after a crash between the two;
//! every effect is keyed by the event that causes it and is a no-op the second time.
//!
//! Usage a provider reports replaces the period's amount on the resource; the usage stream
//! gets the difference, under an id derived from the report, so it is counted exactly once and
//! rated, costed and invoiced like any other usage (its subscription is the resource).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use fleet_domain::offering::{Offering, OfferingCommand};
use fleet_domain::order::{Order, OrderCommand, OrderEvent, OrderRequest};
use fleet_domain::project::{Project, ProjectCommand};
use fleet_domain::resource::{Resource, ResourceCommand, ResourceEvent, CREATE};
use fleet_domain::{Aggregate, DomainError};
use fleet_events::jetstream::JetStreamLog;
use fleet_events::usage::UsageRecord;
use fleet_events::EventEnvelope;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::command_bus::{CommandBus, CommandError, CommandMeta, Executed};
use crate::policies::{active_customer, load};
use crate::{App, AppError};

/// What a command led to: the position to read at, and whether anything was recorded.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub position: u64,
    pub changed: bool,
}

/// A command's result where "already so" is an answer, not a refusal.
fn outcome<A>(result: Result<Executed<A>, CommandError>) -> Result<Outcome, AppError> {
    match result {
        Ok(executed) => Ok(Outcome {
            position: executed.event.sequence,
            changed: !executed.duplicate,
        }),
        Err(CommandError::Domain(DomainError::Unchanged { .. })) => Ok(Outcome {
            position: 0,
            changed: false,
        }),
        Err(e) => Err(e.into()),
    }
}

fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("{what} not found"))
}

/// Parses an id as the UUID the read models key by; anything else names nothing.
pub fn parse_uuid(what: &str, id: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id.trim()).map_err(|_| not_found(what))
}

pub async fn create_offering(
    app: &App,
    meta: &CommandMeta,
    command: OfferingCommand,
) -> Result<(Uuid, u64), AppError> {
    let OfferingCommand::Create { components, .. } = &command;
    app.caught_up_on(
        &meta.tenant,
        fleet_events::price_book::AGGREGATE_TYPE,
        fleet_projections::pricing::NAME,
    )
    .await?;
    let products: Vec<String> =
        sqlx::query_scalar("SELECT code FROM pricing.products WHERE tenant = $1")
            .bind(meta.tenant.as_str())
            .fetch_all(&app.pool)
            .await?;
    for component in components {
        if !products.contains(&component.product) {
            return Err(AppError::unprocessable(
                "components",
                format!(
                    "{}: product {} is not in the price book",
                    component.kind, component.product
                ),
            ));
        }
    }
    let id = Uuid::now_v7();
    let executed = app
        .bus
        .execute_on_new::<Offering>(meta, &id.to_string(), command)
        .await?;
    Ok((id, executed.event.sequence))
}

pub async fn create_project(
    app: &App,
    meta: &CommandMeta,
    command: ProjectCommand,
) -> Result<(Uuid, u64), AppError> {
    let ProjectCommand::Create { customer_id, .. } = &command;
    active_customer(app, &meta.tenant, "customer", customer_id).await?;
    let id = Uuid::now_v7();
    let executed = app
        .bus
        .execute_on_new::<Project>(meta, &id.to_string(), command)
        .await?;
    Ok((id, executed.event.sequence))
}

/// An order as a consumer (or a provider on its behalf) places it.
#[derive(Debug, Clone, Default)]
pub struct PlaceOrder {
    /// `Create`, `Update` or `Terminate`.
    pub kind: String,
    /// For a Create order.
    pub offering_id: Option<String>,
    pub project_id: Option<String>,
    /// For an Update or Terminate order.
    pub resource_id: Option<String>,
    pub plan_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub attributes: Value,
    pub limits: Option<BTreeMap<String, i64>>,
    pub options: Option<Value>,
    pub request_comment: Option<String>,
    pub callback_url: Option<String>,
    /// A provider placing an order on its own resource skips the consumer's review.
    pub by_provider: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Placed {
    pub order_id: Uuid,
    pub resource_id: Uuid,
    pub position: u64,
}

fn check_limit_components(
    offering: &Offering,
    limits: &BTreeMap<String, i64>,
) -> Result<(), AppError> {
    for component in limits.keys() {
        if offering.component(component).is_none() {
            return Err(AppError::bad_request(
                "limits",
                format!("{component} is not a component of the offering"),
            ));
        }
    }
    Ok(())
}

pub async fn place_order(
    app: &App,
    meta: &CommandMeta,
    order: PlaceOrder,
) -> Result<Placed, AppError> {
    let tenant = &meta.tenant;
    if order.kind != CREATE {
        let resource_id = order
            .resource_id
            .as_deref()
            .ok_or_else(|| AppError::bad_request("resource", "is required for this order type"))?;
        let resource_id = parse_uuid("resource", resource_id)?;
        let resource = load::<Resource>(app, tenant, &resource_id.to_string()).await?;
        if !resource.exists() {
            return Err(not_found("resource"));
        }
        let offering = load::<Offering>(app, tenant, &resource.offering_id).await?;
        if let Some(limits) = &order.limits {
            check_limit_components(&offering, limits)?;
        }
        if let Some(plan) = &order.plan_id {
            if offering.plan(plan).is_none() {
                return Err(AppError::bad_request(
                    "plan",
                    "is not a plan of the offering",
                ));
            }
        }
        let order_id = Uuid::now_v7();
        let command = ResourceCommand::OpenOrder {
            order_id: order_id.to_string(),
            kind: order.kind.clone(),
            attributes: order.attributes,
            limits: order.limits,
            options: order.options,
            plan_id: order.plan_id,
            request_comment: order.request_comment,
            consumer_review: offering.consumer_review && !order.by_provider,
        };
        let opened = app
            .bus
            .execute::<Resource>(meta, &resource_id.to_string(), command)
            .await?;
        let position = place_opened_order(&app.bus, meta, &opened.state, &opened.event).await?;
        return Ok(Placed {
            order_id,
            resource_id,
            position: position.max(opened.event.sequence),
        });
    }

    let offering_id = order
        .offering_id
        .as_deref()
        .ok_or_else(|| AppError::bad_request("offering", "This field is required."))?;
    let project_id = order
        .project_id
        .as_deref()
        .ok_or_else(|| AppError::bad_request("project", "This field is required."))?;
    let offering_uuid = Uuid::parse_str(offering_id)
        .map_err(|_| AppError::bad_request("offering", "is not an offering of this provider"))?;
    let project_uuid = Uuid::parse_str(project_id)
        .map_err(|_| AppError::bad_request("project", "is not a project of this provider"))?;
    let offering = load::<Offering>(app, tenant, &offering_uuid.to_string()).await?;
    if !offering.exists() {
        return Err(AppError::bad_request(
            "offering",
            "is not an offering of this provider",
        ));
    }
    let project = load::<Project>(app, tenant, &project_uuid.to_string()).await?;
    let Some(customer_id) = project.customer_id.clone() else {
        return Err(AppError::bad_request(
            "project",
            "is not a project of this provider",
        ));
    };
    active_customer(app, tenant, "project", &customer_id).await?;
    let plan_id = match (&order.plan_id, offering.plans.is_empty()) {
        (Some(plan), _) => {
            let plan = offering
                .plan(plan)
                .ok_or_else(|| AppError::bad_request("plan", "is not a plan of the offering"))?;
            if plan.archived {
                return Err(AppError::bad_request(
                    "plan",
                    "is archived: it takes no new resources",
                ));
            }
            Some(plan.id.clone())
        }
        (None, false) => return Err(AppError::bad_request("plan", "This field is required.")),
        (None, true) => None,
    };
    let limits = order.limits.unwrap_or_default();
    check_limit_components(&offering, &limits)?;
    let (order_id, resource_id) = (Uuid::now_v7(), Uuid::now_v7());
    let name = order
        .name
        .or_else(|| {
            order
                .attributes
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            format!(
                "{}-{}",
                offering.name,
                &resource_id.simple().to_string()[..8]
            )
        });
    let request = OrderRequest {
        kind: CREATE.into(),
        resource_id: resource_id.to_string(),
        offering_id: offering_uuid.to_string(),
        project_id: project_uuid.to_string(),
        customer_id,
        plan_id,
        attributes: order.attributes,
        limits: Some(limits),
        options: None,
        request_comment: order.request_comment,
        callback_url: order.callback_url,
        resource_name: Some(name),
    };
    let placed = app
        .bus
        .execute_on_new::<Order>(
            meta,
            &order_id.to_string(),
            OrderCommand::Place {
                request,
                consumer_review: offering.consumer_review && !order.by_provider,
            },
        )
        .await?;
    let position = request_created_resource(&app.bus, meta, &placed.state, &placed.event).await?;
    Ok(Placed {
        order_id,
        resource_id,
        position: position.max(placed.event.sequence),
    })
}

/// Moves an order one step and carries the step over to its resource.
pub async fn order_step(
    app: &App,
    meta: &CommandMeta,
    order_id: &str,
    command: OrderCommand,
) -> Result<Outcome, AppError> {
    let id = parse_uuid("order", order_id)?;
    let result = app
        .bus
        .execute::<Order>(meta, &id.to_string(), command)
        .await;
    let executed = match result {
        Ok(executed) => executed,
        Err(e) => return outcome::<Order>(Err(e)),
    };
    let effect = carry_to_resource(&app.bus, meta, &executed.state, &executed.event).await?;
    Ok(Outcome {
        position: executed.event.sequence.max(effect),
        changed: !executed.duplicate,
    })
}

/// A command on a resource, where "already so" is an answer.
pub async fn resource_command(
    app: &App,
    meta: &CommandMeta,
    resource_id: &str,
    command: ResourceCommand,
) -> Result<Outcome, AppError> {
    let id = parse_uuid("resource", resource_id)?;
    outcome(
        app.bus
            .execute::<Resource>(meta, &id.to_string(), command)
            .await,
    )
}

/// Moves a resource to another project, whose customer is billed from then on.
pub async fn move_resource(
    app: &App,
    meta: &CommandMeta,
    resource_id: &str,
    project_id: &str,
) -> Result<Outcome, AppError> {
    let project_uuid = Uuid::parse_str(project_id)
        .map_err(|_| AppError::bad_request("project", "is not a project of this provider"))?;
    let project = load::<Project>(app, &meta.tenant, &project_uuid.to_string()).await?;
    let customer_id = project
        .customer_id
        .ok_or_else(|| AppError::bad_request("project", "is not a project of this provider"))?;
    active_customer(app, &meta.tenant, "project", &customer_id).await?;
    let command = ResourceCommand::Move {
        project_id: project_uuid.to_string(),
        customer_id,
    };
    resource_command(app, meta, resource_id, command).await
}

/// One component's usage as a provider reports it.
#[derive(Debug, Clone)]
pub struct ReportedUsage {
    pub component: String,
    pub amount: Decimal,
    pub description: String,
    pub recurring: bool,
}

/// Records a provider's usage report for the billing period of `occurred_at`, and the
/// difference it makes on the usage stream. Returns the resource stream's position and the
/// usage stream's.
pub async fn report_usage(
    app: &App,
    meta: &CommandMeta,
    resource_id: &str,
    occurred_at: DateTime<Utc>,
    usages: Vec<ReportedUsage>,
) -> Result<(Outcome, u64), AppError> {
    let id = parse_uuid("resource", resource_id)?;
    let resource = load::<Resource>(app, &meta.tenant, &id.to_string()).await?;
    if !resource.exists() {
        return Err(AppError::bad_request(
            "resource",
            "is not a resource of this provider",
        ));
    }
    let offering = load::<Offering>(app, &meta.tenant, &resource.offering_id).await?;
    for usage in &usages {
        if offering.component(&usage.component).is_none() {
            return Err(AppError::bad_request(
                "usages",
                format!("{} is not a component of the offering", usage.component),
            ));
        }
    }
    if occurred_at > Utc::now() + chrono::Duration::minutes(5) {
        return Err(AppError::bad_request("date", "must not be in the future"));
    }
    let command = ResourceCommand::ReportUsage {
        occurred_at,
        usages: usages
            .into_iter()
            .map(|u| (u.component, u.amount, u.description, u.recurring))
            .collect(),
    };
    let executed = match app
        .bus
        .execute::<Resource>(meta, &id.to_string(), command)
        .await
    {
        Ok(executed) => executed,
        Err(e) => return Ok((outcome::<Resource>(Err(e))?, 0)),
    };
    let usage_position = record_reported_usage(
        &app.bus,
        &app.usage_log,
        meta,
        (&resource.offering_id, &offering),
        &executed.event,
    )
    .await?;
    Ok((
        Outcome {
            position: executed.event.sequence,
            changed: !executed.duplicate,
        },
        usage_position,
    ))
}

// ---- effects, shared with the process manager ----

fn caused(meta: &CommandMeta, event: &EventEnvelope, key: String) -> CommandMeta {
    CommandMeta {
        causation_id: Some(event.event.event_id.to_string()),
        idempotency_key: Some(key),
        ..meta.clone()
    }
}

/// A refused effect is one that happened already (or cannot anymore): nothing to do.
fn settled(result: Result<u64, CommandError>) -> Result<u64, CommandError> {
    match result {
        Err(CommandError::Domain(refusal)) => {
            tracing::debug!(%refusal, "marketplace effect already applied");
            Ok(0)
        }
        other => other,
    }
}

fn corrupt(event: &EventEnvelope, e: impl std::fmt::Display) -> CommandError {
    CommandError::Log(fleet_events::LogError::Corrupt {
        sequence: event.sequence,
        reason: e.to_string(),
    })
}

/// A placed Create order brings its resource into being, in `Creating`.
pub async fn request_created_resource(
    bus: &CommandBus,
    meta: &CommandMeta,
    order: &Order,
    event: &EventEnvelope,
) -> Result<u64, CommandError> {
    let Some(request) = order.request.as_ref().filter(|r| r.kind == CREATE) else {
        return Ok(0);
    };
    let command = ResourceCommand::Request {
        order_id: event.event.aggregate_id.clone(),
        offering_id: request.offering_id.clone(),
        plan_id: request.plan_id.clone(),
        project_id: request.project_id.clone(),
        customer_id: request.customer_id.clone(),
        name: request.resource_name.clone().unwrap_or_default(),
        description: String::new(),
        attributes: request.attributes.clone(),
        limits: request.limits.clone().unwrap_or_default(),
    };
    let meta = caused(
        meta,
        event,
        format!("order-placed:{}", event.event.event_id),
    );
    settled(
        bus.execute::<Resource>(&meta, &request.resource_id, command)
            .await
            .map(|e| e.event.sequence),
    )
}

/// A resource's opened order is placed as an order of its own.
pub async fn place_opened_order(
    bus: &CommandBus,
    meta: &CommandMeta,
    resource: &Resource,
    event: &EventEnvelope,
) -> Result<u64, CommandError> {
    let ResourceEvent::ResourceOrderOpened {
        order_id,
        kind,
        attributes,
        limits,
        options,
        plan_id,
        request_comment,
        consumer_review,
    } = event
        .decode::<ResourceEvent>()
        .map_err(|e| corrupt(event, e))?
    else {
        return Ok(0);
    };
    let request = OrderRequest {
        kind,
        resource_id: event.event.aggregate_id.clone(),
        offering_id: resource.offering_id.clone(),
        project_id: resource.project_id.clone(),
        customer_id: resource.customer_id.clone(),
        plan_id,
        attributes,
        limits,
        options,
        request_comment,
        callback_url: None,
        resource_name: Some(resource.name.clone()),
    };
    let meta = caused(
        meta,
        event,
        format!("order-opened:{}", event.event.event_id),
    );
    settled(
        bus.execute::<Order>(
            &meta,
            &order_id,
            OrderCommand::Place {
                request,
                consumer_review,
            },
        )
        .await
        .map(|e| e.event.sequence),
    )
}

/// What an order's step means for its resource.
fn resource_effect(order: &Order, order_id: &str, event: &OrderEvent) -> Option<ResourceCommand> {
    let request = order.request.as_ref()?;
    let order_id = order_id.to_owned();
    Some(match event {
        OrderEvent::OrderApprovedByProvider {} | OrderEvent::OrderExecutionStarted {} => {
            ResourceCommand::StartOrder { order_id }
        }
        OrderEvent::OrderCompleted {} => ResourceCommand::CompleteOrder {
            order_id,
            limits: request.limits.clone().filter(|_| request.kind != CREATE),
            options: request.options.clone(),
            plan_id: request.plan_id.clone().filter(|_| request.kind != CREATE),
        },
        OrderEvent::OrderRejected { .. } => ResourceCommand::AbandonOrder {
            order_id,
            outcome: "rejected".into(),
        },
        OrderEvent::OrderCanceled {} => ResourceCommand::AbandonOrder {
            order_id,
            outcome: "canceled".into(),
        },
        OrderEvent::OrderFailed {
            error_message,
            error_traceback,
        } => ResourceCommand::FailOrder {
            order_id,
            error_message: error_message.clone(),
            error_traceback: error_traceback.clone(),
        },
        OrderEvent::OrderPlaced { .. }
        | OrderEvent::OrderApprovedByConsumer {}
        | OrderEvent::OrderBackendIdSet { .. } => return None,
    })
}

/// Carries an order's step over to its resource.
pub async fn carry_to_resource(
    bus: &CommandBus,
    meta: &CommandMeta,
    order: &Order,
    event: &EventEnvelope,
) -> Result<u64, CommandError> {
    let decoded = event
        .decode::<OrderEvent>()
        .map_err(|e| corrupt(event, e))?;
    if matches!(decoded, OrderEvent::OrderPlaced { .. }) {
        return request_created_resource(bus, meta, order, event).await;
    }
    let (Some(command), Some(request)) = (
        resource_effect(order, &event.event.aggregate_id, &decoded),
        order.request.as_ref(),
    ) else {
        return Ok(0);
    };
    let meta = caused(meta, event, format!("order-step:{}", event.event.event_id));
    settled(
        bus.execute::<Resource>(&meta, &request.resource_id, command)
            .await
            .map(|e| e.event.sequence),
    )
}

/// The usage records a usage report adds: per component, the difference it makes, under an id
/// derived from the report so that recording them again adds nothing. They are billed to the
/// customer whose project held the resource when it was reported.
pub fn usage_records(
    offering_id: &str,
    offering: &Offering,
    event: &EventEnvelope,
) -> Vec<UsageRecord> {
    let Ok(ResourceEvent::ResourceUsageReported {
        occurred_at,
        customer_id,
        project_id,
        usages,
        ..
    }) = event.decode::<ResourceEvent>()
    else {
        return Vec::new();
    };
    usages
        .into_iter()
        .filter_map(|usage| {
            let product = offering.component(&usage.component)?.product.clone();
            Some(UsageRecord {
                id: format!(
                    "resource-usage:{}:{}",
                    event.event.event_id, usage.component
                ),
                subscription_id: event.event.aggregate_id.clone(),
                customer_id: customer_id.clone(),
                product,
                quantity: (usage.amount - usage.previous).normalize(),
                occurred_at,
                instance_id: None,
                project_id: Some(project_id.clone()),
                provider_id: Some(offering_id.to_owned()),
            })
        })
        .collect()
}

/// Appends the usage records of a usage report of a resource of `offering`; the usage
/// stream's position.
pub async fn record_reported_usage(
    bus: &CommandBus,
    usage_log: &JetStreamLog,
    meta: &CommandMeta,
    (offering_id, offering): (&str, &Offering),
    event: &EventEnvelope,
) -> Result<u64, CommandError> {
    let records = usage_records(offering_id, offering, event);
    if records.is_empty() {
        return Ok(0);
    }
    let meta = caused(
        meta,
        event,
        format!("usage-reported:{}", event.event.event_id),
    );
    Ok(crate::facts::record_usage(usage_log, bus.namespace(), &meta, records).await?)
}
