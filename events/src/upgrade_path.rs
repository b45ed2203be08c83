//! Events of the `upgrade_path` aggregate: the roll of a product tier's instances from one
//! version to another, a few at a time.
//!
//! Subject: `<namespace>.<tenant>.upgrade_path.<upgrade path id>`. Schema version 1.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "upgrade_path";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UpgradePlan {
    pub service_id: String,
    pub plan_id: String,
    pub source_version: String,
    pub target_version: String,
    /// The instances that will move, in the order they move.
    pub instance_ids: Vec<String>,
    /// The instances asked for that cannot move, with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, String>,
    pub max_concurrent: i64,
    pub notify_customer: bool,
    /// `None`: the roll starts at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum UpgradePathEvent {
    /// `started` are the instances that begin moving now (none when scheduled).
    UpgradePathCreated {
        #[serde(flatten)]
        plan: UpgradePlan,
        started: Vec<String>,
    },
    /// The scheduled date came.
    UpgradePathReleased {
        started: Vec<String>,
    },
    UpgradePathPaused {},
    UpgradePathResumed {
        started: Vec<String>,
    },
    UpgradePathCancelled {
        reason: String,
    },
    /// `status` is the path's end when no instance is left to move.
    UpgradeInstancesSkipped {
        instance_ids: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    UpgradePathCustomerNotified {},
    /// One instance's upgrade ended; `started` take its place, and `status` is the path's
    /// own end (`complete` or `failed`) when it was the last.
    UpgradeInstanceFinished {
        instance_id: String,
        succeeded: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        started: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
}

impl DomainEvent for UpgradePathEvent {}
