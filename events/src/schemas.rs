//! JSON Schemas of the event contract, served at `/v1/event-schemas`, so that a team can
//! consume the stream with any NATS client and validate what it reads.

use schemars::schema_for;
use serde_json::{json, Map, Value};

use crate::{
    account_config, acknowledgement, cost, custom_dns, customer, host_cluster, inbound_hook,
    instance, invoice, network_space, notification_channel, offering, onboarding, orchestration,
    order, price_book, project, resource, snapshot, subscription, subscription_request,
    upgrade_path, usage, user, workflow, DomainEvent, EventEnvelope,
};

/// Every event type there is.
pub fn event_types() -> Vec<String> {
    catalog()["events"]
        .as_object()
        .map(|events| events.keys().cloned().collect())
        .unwrap_or_default()
}

/// One entry per event type: its aggregate, schema version and payload schema.
fn events_of<E: DomainEvent + schemars::JsonSchema>(
    aggregate_type: &str,
    into: &mut Map<String, Value>,
) {
    let schema = schema_for!(E).to_value();
    let defs = schema.get("$defs").cloned();
    let variants = schema
        .get("oneOf")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for variant in variants {
        let tag = &variant["properties"]["type"];
        let Some(event_type) = tag
            .get("const")
            .or_else(|| tag.get("enum").and_then(|e| e.get(0)))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let mut payload = variant["properties"]
            .get("data")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object"}));
        if let (Some(defs), Value::Object(payload)) = (&defs, &mut payload) {
            payload.insert("$defs".into(), defs.clone());
        }
        into.insert(
            event_type.to_owned(),
            json!({
                "aggregate_type": aggregate_type,
                "schema_version": E::SCHEMA_VERSION,
                "subject": format!("<namespace>.<tenant>.{aggregate_type}.<id>"),
                "payload": payload,
            }),
        );
    }
}

pub fn catalog() -> Value {
    let mut events = Map::new();
    events_of::<instance::InstanceEvent>(instance::AGGREGATE_TYPE, &mut events);
    events_of::<customer::CustomerEvent>(customer::AGGREGATE_TYPE, &mut events);
    events_of::<user::UserEvent>(user::AGGREGATE_TYPE, &mut events);
    events_of::<subscription::SubscriptionEvent>(subscription::AGGREGATE_TYPE, &mut events);
    events_of::<subscription_request::SubscriptionRequestEvent>(
        subscription_request::AGGREGATE_TYPE,
        &mut events,
    );
    events_of::<notification_channel::NotificationChannelEvent>(
        notification_channel::AGGREGATE_TYPE,
        &mut events,
    );
    events_of::<price_book::PriceBookEvent>(price_book::AGGREGATE_TYPE, &mut events);
    events_of::<usage::UsageEvent>(usage::AGGREGATE_TYPE, &mut events);
    events_of::<cost::CostEvent>(cost::AGGREGATE_TYPE, &mut events);
    events_of::<invoice::InvoiceEvent>(invoice::AGGREGATE_TYPE, &mut events);
    events_of::<project::ProjectEvent>(project::AGGREGATE_TYPE, &mut events);
    events_of::<offering::OfferingEvent>(offering::AGGREGATE_TYPE, &mut events);
    events_of::<order::OrderEvent>(order::AGGREGATE_TYPE, &mut events);
    events_of::<resource::ResourceEvent>(resource::AGGREGATE_TYPE, &mut events);
    events_of::<snapshot::SnapshotEvent>(snapshot::AGGREGATE_TYPE, &mut events);
    events_of::<host_cluster::HostClusterEvent>(host_cluster::AGGREGATE_TYPE, &mut events);
    events_of::<custom_dns::CustomDnsEvent>(custom_dns::AGGREGATE_TYPE, &mut events);
    events_of::<workflow::WorkflowEvent>(workflow::AGGREGATE_TYPE, &mut events);
    events_of::<upgrade_path::UpgradePathEvent>(upgrade_path::AGGREGATE_TYPE, &mut events);
    events_of::<account_config::AccountConfigEvent>(account_config::AGGREGATE_TYPE, &mut events);
    events_of::<network_space::NetworkSpaceEvent>(network_space::AGGREGATE_TYPE, &mut events);
    events_of::<onboarding::OnboardingEvent>(onboarding::AGGREGATE_TYPE, &mut events);
    events_of::<orchestration::OrchestrationEvent>(orchestration::AGGREGATE_TYPE, &mut events);
    events_of::<acknowledgement::AcknowledgementEvent>(
        acknowledgement::AGGREGATE_TYPE,
        &mut events,
    );
    events_of::<inbound_hook::InboundHookEvent>(inbound_hook::AGGREGATE_TYPE, &mut events);
    json!({
        "description": "Every message on the domain stream is one event: the envelope as JSON, \
            its payload shaped by the schema of its event_type. Headers Fleet-Event-Type, \
            Fleet-Tenant and Fleet-Aggregate-Type repeat the envelope for routing.",
        "subjects": "<namespace>.<tenant>.<aggregate_type>.<aggregate_id>",
        "envelope": schema_for!(EventEnvelope).to_value(),
        "events": events,
    })
}

/// The schema of a decimal as Fleetledger writes and reads it: a string, never a JSON number,
/// so that no amount passes through a binary float. For `#[schemars(with = ...)]` on
/// `rust_decimal::Decimal` fields.
pub struct DecimalString;

impl schemars::JsonSchema for DecimalString {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DecimalString".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
            "examples": ["12.50"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_a_payload_schema() {
        let catalog = catalog();
        let events = catalog["events"].as_object().unwrap();
        for name in [
            "InstanceCreated",
            "InstanceCapacityChanged",
            "CustomerLicenseRecorded",
            "UserSuspended",
            "SubscriptionTrialExpired",
            "SubscriptionRequestApproved",
            "InvoiceGenerated",
            "CustomerBillingTermsSet",
        ] {
            assert!(events[name]["payload"].is_object(), "{name}");
        }
        assert_eq!(
            events["InstanceCapacityChanged"]["aggregate_type"],
            "instance"
        );
        let capacity = &events["InstanceCapacityChanged"]["payload"]["properties"];
        assert!(capacity["delta"].is_object());
        assert!(catalog["envelope"]["properties"]["actor"].is_object());
    }
}
