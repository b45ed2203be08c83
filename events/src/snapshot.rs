//! Events of the `snapshot` aggregate: a point-in-time copy of an instance's data, which
//! outlives the instance and can be restored into a new one.
//!
//! Subject: `<namespace>.<tenant>.snapshot.<snapshot id>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::instance::InstanceSpec;
use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "snapshot";

// Events are decoded one at a time and never stored in bulk: the creation carrying the
// whole spec costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum SnapshotEvent {
    /// Taking the snapshot was requested; the snapshot is `creating` until the agent reports.
    SnapshotRequested {
        source_instance_id: String,
        /// What a restore recreates: the source instance as it was when the snapshot was
        /// requested.
        source: InstanceSpec,
        source_capacity: i64,
        /// `manual` or `automated`.
        kind: String,
        /// Where the snapshot is kept; a copy's is its target region.
        region: String,
        /// Set on a copy: the snapshot it copies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copied_from: Option<String>,
    },
    /// The agent reported the snapshot complete: `creating` -> `completed`.
    SnapshotCompleted {},
    SnapshotFailed {
        reason: String,
    },
    SnapshotDeleted {
        previous_status: String,
    },
}

impl DomainEvent for SnapshotEvent {}
