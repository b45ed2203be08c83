//! The instance commands that involve its subscription: creation, which takes a place under
//! the subscription's `max_instances`, and deletion, which frees it.
//!
//! Under a capped subscription, creation is two appends, each decided against its own
//! aggregate's history with an expected sequence: the subscription admits the instance (the cap is decided there, so concurrent
//! creations in any number of processes are ordered by the stream and never exceed it), then
//! the instance is created from the admission, under a message id derived from it. Should the
//! process die between the two, the admissions process manager creates it from the admission
//! event, which carries the whole instance: a place is never taken by an instance that does
//! not come to exist. No read model is consulted and no lock is taken. Under an uncapped
//! subscription the instance is created alone, so that creations are not serialised on the
//! subscription; a cap set later counts the instances live then.

use fleet_domain::instance::{Instance, InstanceCommand, InstanceEvent, InstanceSpec};
use fleet_domain::subscription::{
    Subscription, SubscriptionCommand, SubscriptionEvent, SubscriptionStatus,
};
use fleet_domain::{Aggregate, DomainError};
use fleet_events::{EventEnvelope, LogError};
use uuid::Uuid;

use crate::command_bus::{CommandBus, CommandError, CommandMeta, Executed};
use crate::AppError;

/// The message id under which the instance of an admission is created.
pub fn creation_key(admission: &EventEnvelope) -> String {
    format!("admitted:{}", admission.event.event_id)
}

/// The message id under which a deleted instance's place is released.
pub fn release_key(deletion: &EventEnvelope) -> String {
    format!("released:{}", deletion.event.event_id)
}

/// Creates an instance under an active subscription with room for it.
pub async fn create_instance(
    bus: &CommandBus,
    meta: &CommandMeta,
    subscription_id: &str,
    spec: InstanceSpec,
    capacity: i64,
) -> Result<Executed<Instance>, AppError> {
    let instance_id = Uuid::now_v7().to_string();
    create_instance_as(bus, meta, subscription_id, instance_id, spec, capacity).await
}

/// [`create_instance`] under an id the caller derived (a process manager's, so that its
/// retry meets the same instance).
pub async fn create_instance_as(
    bus: &CommandBus,
    meta: &CommandMeta,
    subscription_id: &str,
    instance_id: String,
    spec: InstanceSpec,
    capacity: i64,
) -> Result<Executed<Instance>, AppError> {
    let unknown =
        || AppError::unprocessable("subscription_id", "is not a subscription of this tenant");
    let subscription_id = Uuid::parse_str(subscription_id)
        .map_err(|_| unknown())?
        .to_string();
    // What the instance would refuse is refused before it takes a place; deciding on a fresh
    // instance also puts the spec in its recorded form.
    let command = InstanceCommand::Create {
        spec: Box::new(InstanceSpec {
            subscription_id: Some(subscription_id.clone()),
            ..spec
        }),
        capacity,
    };
    let InstanceEvent::InstanceCreated { spec, capacity } = Instance::default().decide(&command)?
    else {
        return Err(AppError::Internal("a create decided another event".into()));
    };
    crate::host_clusters::check_placement(bus, meta, &spec.deployment_cell).await?;
    let (subscription, version) = match bus
        .state_and_version::<Subscription>(&meta.tenant, &subscription_id)
        .await?
    {
        (subscription, _) if !subscription.exists() => return Err(unknown()),
        found => found,
    };
    if subscription
        .terms
        .as_ref()
        .is_some_and(|t| t.max_instances < 0)
    {
        return create_uncounted(
            bus,
            meta,
            &subscription_id,
            subscription,
            version,
            instance_id,
            spec,
            capacity,
        )
        .await;
    }
    let admit = SubscriptionCommand::AdmitInstance {
        instance_id,
        spec: Box::new(spec),
        capacity,
    };
    let admitted = match bus
        .execute::<Subscription>(meta, &subscription_id, admit)
        .await
    {
        Ok(admitted) => admitted,
        Err(CommandError::Domain(DomainError::NotFound { .. })) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    // A retried request (same idempotency key) finds its first admission: the instance of that
    // one is the answer.
    Ok(create_admitted(
        bus,
        &meta.following(creation_key(&admitted.event)),
        &admitted.event,
    )
    .await?)
}

/// An instance of an uncapped subscription takes no place, so creations under one
/// subscription run side by side. Should a cap have been set meanwhile (the subscription moved
/// on while this one was created), the instance is admitted after all, and removed again if
/// there is no room for it.
#[allow(clippy::too_many_arguments)]
async fn create_uncounted(
    bus: &CommandBus,
    meta: &CommandMeta,
    subscription_id: &str,
    subscription: Subscription,
    version: u64,
    instance_id: String,
    spec: InstanceSpec,
    capacity: i64,
) -> Result<Executed<Instance>, AppError> {
    if subscription.status != SubscriptionStatus::Active {
        return Err(DomainError::InvalidState {
            aggregate: Subscription::TYPE,
            action: "create an instance under",
            state: subscription.status.as_str().into(),
        }
        .into());
    }
    let customer = subscription.terms.as_ref().map(|t| t.customer_id.clone());
    if spec.customer_id.is_some() && spec.customer_id != customer {
        return Err(AppError::unprocessable(
            "customer_id",
            format!(
                "must be the subscription's customer, {}",
                customer.unwrap_or_default()
            ),
        ));
    }
    let spec = InstanceSpec {
        customer_id: customer,
        ..spec
    };
    let create = InstanceCommand::Create {
        spec: Box::new(spec.clone()),
        capacity,
    };
    let created = bus
        .execute_on_new::<Instance>(meta, &instance_id, create)
        .await?;
    let subject = bus.subject::<Subscription>(&meta.tenant, subscription_id);
    if created.duplicate || bus.log().last_sequence_of(&subject).await? == version {
        return Ok(created);
    }
    let (now, _) = bus
        .state_and_version::<Subscription>(&meta.tenant, subscription_id)
        .await?;
    let capped = now.terms.as_ref().is_some_and(|t| t.max_instances >= 0);
    let id = created.event.event.aggregate_id.clone();
    if !capped || now.instances.contains(&id) {
        return Ok(created);
    }
    let admit = SubscriptionCommand::AdmitInstance {
        instance_id: id.clone(),
        spec: Box::new(spec),
        capacity,
    };
    let key = creation_key(&created.event);
    match bus
        .execute::<Subscription>(&meta.following(key), subscription_id, admit)
        .await
    {
        Ok(_) => Ok(created),
        Err(refusal @ CommandError::Domain(_)) => {
            let undo = meta.following(format!("unadmitted:{}", created.event.event.event_id));
            bus.execute::<Instance>(&undo, &id, InstanceCommand::Delete)
                .await?;
            Err(refusal.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The instance an admission names, and the command that creates it.
pub fn creation_of(admission: &EventEnvelope) -> Result<(String, InstanceCommand), LogError> {
    let corrupt = |reason: String| LogError::Corrupt {
        sequence: admission.sequence,
        reason,
    };
    match admission
        .decode::<SubscriptionEvent>()
        .map_err(|e| corrupt(e.to_string()))?
    {
        SubscriptionEvent::SubscriptionInstanceAdmitted {
            instance_id,
            spec,
            capacity,
        } => Ok((
            instance_id,
            InstanceCommand::Create {
                spec: Box::new(spec),
                capacity,
            },
        )),
        _ => Err(corrupt("not an admission".into())),
    }
}

/// Creates the instance an admission names, once: a second attempt (the process manager after
/// the request, or a retry) is a duplicate of the first and answers with its result.
pub async fn create_admitted(
    bus: &CommandBus,
    meta: &CommandMeta,
    admission: &EventEnvelope,
) -> Result<Executed<Instance>, CommandError> {
    let (instance_id, command) = creation_of(admission)?;
    match bus
        .execute_on_new::<Instance>(meta, &instance_id, command)
        .await
    {
        // Created by the other party after all, past the duplicate window: it is the same
        // instance.
        Err(CommandError::Domain(DomainError::AlreadyExists { .. })) => {
            let subject = bus.subject::<Instance>(&meta.tenant, &instance_id);
            let history = bus.log().read_subject(&subject, 0).await?;
            let (state, _) = bus.load::<Instance>(&subject).await?;
            let event = history
                .into_iter()
                .next()
                .ok_or_else(|| LogError::Corrupt {
                    sequence: 0,
                    reason: format!("instance {instance_id} exists without a history"),
                })?;
            Ok(Executed {
                state,
                event,
                duplicate: true,
            })
        }
        other => other,
    }
}

/// Deletes an instance and frees its place under its subscription.
pub async fn delete_instance(
    bus: &CommandBus,
    meta: &CommandMeta,
    id: &str,
) -> Result<Executed<Instance>, CommandError> {
    let deleted = bus
        .execute::<Instance>(meta, id, InstanceCommand::Delete)
        .await?;
    release_place(bus, &meta.following(release_key(&deleted.event)), &deleted).await?;
    Ok(deleted)
}

/// Frees the place of a deleted instance; nothing to do for one its subscription never
/// admitted (created before admissions were recorded) or already released.
pub async fn release_place(
    bus: &CommandBus,
    meta: &CommandMeta,
    deleted: &Executed<Instance>,
) -> Result<(), CommandError> {
    let subscription_id = deleted
        .state
        .spec
        .as_ref()
        .and_then(|s| s.subscription_id.as_deref());
    match subscription_id {
        Some(subscription_id) => {
            release(
                bus,
                meta,
                subscription_id,
                &deleted.event.event.aggregate_id,
            )
            .await
        }
        None => Ok(()),
    }
}

/// Frees the place of instance `instance_id` under `subscription_id`, if it holds one.
pub async fn release(
    bus: &CommandBus,
    meta: &CommandMeta,
    subscription_id: &str,
    instance_id: &str,
) -> Result<(), CommandError> {
    let release = SubscriptionCommand::ReleaseInstance {
        instance_id: instance_id.to_owned(),
    };
    match bus
        .execute::<Subscription>(meta, subscription_id, release)
        .await
    {
        Ok(_) | Err(CommandError::Domain(DomainError::NotFound { .. })) => Ok(()),
        Err(e) => Err(e),
    }
}
