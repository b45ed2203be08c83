//! Events of the `instance` aggregate: a deployed service instance of the fleet.
//!
//! Subject: `<namespace>.<tenant>.instance.<instance id>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "instance";

/// Where and what an instance is; fixed at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InstanceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub service_id: String,
    pub plan_id: String,
    pub cloud_provider: String,
    pub region: String,
    pub deployment_cell: String,
    pub instance_type: String,
    pub environment_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The snapshot the instance was restored from, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    /// Brought under management where it already ran, rather than deployed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// The product tier version it runs; `None`: the tier's first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_version: Option<String>,
}

/// A tag a caller puts on an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomTag {
    pub key: String,
    pub value: String,
}

// Events are decoded one at a time and never stored in bulk: the creation carrying the
// whole spec costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum InstanceEvent {
    /// Deployment was requested; the instance is `deploying`.
    InstanceCreated {
        #[serde(flatten)]
        spec: InstanceSpec,
        capacity: i64,
    },
    /// The provisioning agent reported success: `deploying` -> `running`.
    InstanceProvisioned {},
    InstanceFailed {
        reason: String,
        previous_status: String,
    },
    InstanceStopped {},
    InstanceStarted {},
    /// Recorded; the instance stays `running`.
    InstanceRestarted {},
    /// Recorded; the instance stays `running`.
    InstanceFailedOver {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replica_id: Option<String>,
        /// What is done with the failed replica: `FAILOVER_ONLY` (the default),
        /// `FAILOVER_AND_RESTART` or `FAILOVER_AND_RECREATE`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<String>,
    },
    InstanceCapacityChanged {
        delta: i64,
        from: i64,
        to: i64,
    },
    InstanceDeleted {
        previous_status: String,
    },
    /// Its parameters, network type or tags replaced (those given).
    InstanceUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        params: Option<serde_json::Value>,
        /// `PUBLIC` or `INTERNAL`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        network_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom_tags: Option<Vec<CustomTag>>,
    },
    InstanceDebugModeSet {
        enabled: bool,
    },
    /// A one-off patch: a tier version to run, and overrides of its configuration.
    InstancePatched {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tier_version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overrides: Option<serde_json::Value>,
        /// The upgrade path it moves on, when it does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upgrade_path_id: Option<String>,
    },
    /// A retried workflow succeeded: `failed` -> `status` (`running` or `stopped`).
    InstanceRecovered {
        status: String,
    },
    /// The agent recorded where the instance's installer is (on-premises instances).
    InstanceInstallerRecorded {
        url: String,
    },
    /// The reseller's own data about the instance as a billable resource (Ormuco's
    /// `reseller_metadata`); it replaces what was there.
    InstanceResellerMetadataSet {
        metadata: serde_json::Value,
    },
}

impl DomainEvent for InstanceEvent {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_through_the_envelope_shape() {
        let event = InstanceEvent::InstanceCapacityChanged {
            delta: 2,
            from: 1,
            to: 3,
        };
        let (event_type, payload) = event.to_parts();
        assert_eq!(event_type, "InstanceCapacityChanged");
        assert_eq!(payload, serde_json::json!({"delta": 2, "from": 1, "to": 3}));
        assert_eq!(
            InstanceEvent::from_parts(&event_type, 1, &payload).unwrap(),
            event
        );
    }

    #[test]
    fn unknown_types_and_bad_payloads_are_told_apart() {
        let err =
            InstanceEvent::from_parts("InstanceTeleported", 1, &serde_json::json!({})).unwrap_err();
        assert!(matches!(err, crate::EventDecodeError::UnknownType { .. }));
        let err = InstanceEvent::from_parts("InstanceFailed", 1, &serde_json::json!({"x": 1}))
            .unwrap_err();
        assert!(matches!(
            err,
            crate::EventDecodeError::InvalidPayload { .. }
        ));
    }
}
