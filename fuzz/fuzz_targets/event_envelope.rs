//! A stored message, whatever its bytes: it decodes into an envelope or is refused, and every
//! event type's decoder (upcasters included) then decodes its payload or says why. A decoded
//! event encodes and decodes to itself.
#![no_main]

use fleet_events::*;
use libfuzzer_sys::fuzz_target;

fn round_trip<E: DomainEvent + serde::Serialize + PartialEq + std::fmt::Debug>(
    envelope: &EventEnvelope,
) {
    if let Ok(event) = envelope.decode::<E>() {
        let mut again = envelope.clone();
        let (event_type, payload) = event.to_parts();
        again.event.event_type = event_type;
        again.event.payload = payload;
        again.event.schema_version = E::SCHEMA_VERSION;
        if let Ok(decoded) = again.decode::<E>() {
            assert_eq!(decoded, event, "{} does not round-trip", envelope.event.event_type);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let Ok(envelope) = jetstream::decode_stored(1, at, data) else {
        return;
    };
    round_trip::<instance::InstanceEvent>(&envelope);
    round_trip::<subscription::SubscriptionEvent>(&envelope);
    round_trip::<customer::CustomerEvent>(&envelope);
    round_trip::<invoice::InvoiceEvent>(&envelope);
    round_trip::<price_book::PriceBookEvent>(&envelope);
    round_trip::<usage::UsageEvent>(&envelope);
    round_trip::<user::UserEvent>(&envelope);
    round_trip::<workflow::WorkflowEvent>(&envelope);
    round_trip::<order::OrderEvent>(&envelope);
    round_trip::<offering::OfferingEvent>(&envelope);
    round_trip::<snapshot::SnapshotEvent>(&envelope);
    round_trip::<upgrade_path::UpgradePathEvent>(&envelope);
});
