//! The subscription as an Astra resource: rendered from the subscriptions read model, and read
//! from a request body field by field, so that every field at fault is named at once.
//!
//! - `status` is `active` while the subscription is active, `inactive` once suspended or
//!   ended; `terms` is `trial` or `paid`.
//! - `subscriptionPeriod` is the trial's length in days (-1 when paid); `gracePeriod` the days
//!   its instances run on after the trial expires or it is cancelled; `reminderBeforePeriod`
//!   the days before the trial's end at which the end is announced (-1: never).
//! - `customerProfileID` and `paymentProfileID` are `""` when unset; `paymentExpiry` is not
//!   written for a trial, as 004 says.
//! - The billing contact (`paymentFirstName`, `paymentLastName`, `paymentAddress`) is checked
//!   and passed on, never kept: the event log is immutable and may not hold a person's data
//!   it could never forget.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use fleet_domain::subscription::{Label, SubscriptionDetails};
use fleet_projections::inventory::subscriptions::SubscriptionRow;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;

use super::media::{LATEST, RESOURCE, VERSIONS};
use super::problems::{Invalid, Problem};
use crate::number::Exact;

/// The service Astra's subscriptions are to, natively.
pub const SERVICE_ID: &str = "astra";

/// `2022-10-06T20:58:16.305662Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub labels: Vec<AstraLabel>,
    pub creation_timestamp: String,
    pub modification_timestamp: String,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_by: Option<String>,
}

#[derive(Serialize, serde::Deserialize, schemars::JsonSchema, Clone)]
pub struct AstraLabel {
    pub name: String,
    pub value: String,
}

/// `subscription_1.2_get_response_body`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: String,
    pub id: String,
    #[serde(rename = "customerProfileID")]
    pub customer_profile_id: String,
    #[serde(rename = "paymentProfileID")]
    pub payment_profile_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_expiry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_order_number: Option<String>,
    pub marketplace: String,
    #[serde(rename = "licenseSN", skip_serializing_if = "Option::is_none")]
    pub license_sn: Option<String>,
    pub terms: String,
    pub status: String,
    pub app_limit: i64,
    pub namespace_limit: i64,
    pub subscription_period: i64,
    pub grace_period: i64,
    pub reminder_before_period: i64,
    pub onboard_status: String,
    pub cost_per_app_unit: Exact,
    pub cost_per_namespace_unit: Exact,
    pub metadata: Metadata,
}

pub fn details_of(row: &SubscriptionRow) -> SubscriptionDetails {
    row.details
        .clone()
        .and_then(|d| serde_json::from_value(d).ok())
        .unwrap_or_else(|| SubscriptionDetails {
            app_limit: -1,
            namespace_limit: -1,
            onboarding: "not started".into(),
            ..Default::default()
        })
}

/// The trial's length in whole days; -1 for paid terms.
pub fn period_days(row: &SubscriptionRow) -> i64 {
    match (row.terms.as_str(), row.trial_ends_at) {
        ("trial", Some(end)) => ((end - row.created_at).num_seconds() + 43_200).div_euclid(86_400),
        _ => -1,
    }
}

/// The resource at `version` (the one it was written in when `None`).
pub fn render(row: &SubscriptionRow, version: Option<&str>) -> Resource {
    let details = details_of(row);
    let trial = row.terms == "trial";
    Resource {
        kind: RESOURCE.into(),
        version: version
            .map(str::to_owned)
            .or(details.schema_version.clone())
            .unwrap_or_else(|| LATEST.into()),
        id: row.id.to_string(),
        customer_profile_id: details.customer_profile_id.clone().unwrap_or_default(),
        payment_profile_id: row.payment_profile_id.clone().unwrap_or_default(),
        payment_expiry: details
            .payment_expiry
            .filter(|_| !trial)
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        purchase_order_number: details.purchase_order_number.clone(),
        marketplace: row.marketplace.clone(),
        license_sn: details.license_serial.clone(),
        terms: if trial { "trial" } else { "paid" }.into(),
        status: if row.status == "active" {
            "active"
        } else {
            "inactive"
        }
        .into(),
        app_limit: details.app_limit,
        namespace_limit: details.namespace_limit,
        subscription_period: period_days(row),
        grace_period: row.grace_days.unwrap_or(-1),
        reminder_before_period: row.reminder_days.unwrap_or(-1),
        onboard_status: details.onboarding.clone(),
        cost_per_app_unit: Exact(details.cost_per_app_unit),
        cost_per_namespace_unit: Exact(details.cost_per_namespace_unit),
        metadata: Metadata {
            labels: details
                .labels
                .iter()
                .map(|l| AstraLabel {
                    name: l.name.clone(),
                    value: l.value.clone(),
                })
                .collect(),
            creation_timestamp: timestamp(row.created_at),
            modification_timestamp: timestamp(row.updated_at),
            created_by: row.created_by.clone().unwrap_or_default(),
            modified_by: row.modified_by.clone(),
        },
    }
}

/// The rendered resource as JSON text, for the collection protocol.
pub fn raw(resource: &Resource) -> Box<RawValue> {
    serde_json::value::to_raw_value(resource).expect("the resource serialises")
}

/// The resource's fields, as it is written.
const FIELDS: &[&str] = &[
    "type",
    "version",
    "id",
    "customerProfileID",
    "paymentProfileID",
    "paymentExpiry",
    "purchaseOrderNumber",
    "marketplace",
    "licenseSN",
    "terms",
    "status",
    "appLimit",
    "namespaceLimit",
    "subscriptionPeriod",
    "gracePeriod",
    "reminderBeforePeriod",
    "onboardStatus",
    "costPerAppUnit",
    "costPerNamespaceUnit",
    "metadata",
];
/// Fields a body may carry that are never written back (the billing contact).
const WRITE_ONLY: &[&str] = &["paymentFirstName", "paymentLastName", "paymentAddress"];
/// Fields the server assigns on create; a PUT may change them.
const SERVER_ASSIGNED: &[&str] = &[
    "id",
    "purchaseOrderNumber",
    "licenseSN",
    "status",
    "appLimit",
    "namespaceLimit",
    "subscriptionPeriod",
    "gracePeriod",
    "reminderBeforePeriod",
    "onboardStatus",
    "costPerAppUnit",
    "costPerNamespaceUnit",
];
const METADATA: &[&str] = &[
    "labels",
    "creationTimestamp",
    "modificationTimestamp",
    "createdBy",
    "modifiedBy",
];

/// Whether `field` names a field of the resource (or of its metadata), for the list grammar.
pub fn known(field: &str) -> bool {
    match field.split_once('.') {
        None => FIELDS.contains(&field),
        Some(("metadata", inner)) => METADATA.contains(&inner),
        Some(_) => false,
    }
}

/// Which body a field is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writable {
    OnCreate,
    OnReplace,
}

/// Whether a body may carry `field`; why not when it may not.
pub fn writable(field: &str, when: Writable) -> Result<(), &'static str> {
    if !FIELDS.contains(&field) && !WRITE_ONLY.contains(&field) {
        return Err("is not a field of the subscription");
    }
    if when == Writable::OnCreate && SERVER_ASSIGNED.contains(&field) {
        return Err("is assigned by the server and cannot be set on create");
    }
    Ok(())
}

/// A request body's fields, read one by one; what does not fit is collected, not thrown.
pub struct Fields {
    raw: BTreeMap<String, Box<RawValue>>,
    pub invalid: Vec<Invalid>,
}

impl Fields {
    pub fn parse(bytes: &[u8]) -> Result<Self, Problem> {
        if bytes.len() > crate::json::LIMIT {
            return Err(Problem::field("body", "is larger than 1 MiB"));
        }
        let raw = serde_json::from_slice(bytes).map_err(|e| {
            Problem::field(
                "body",
                format!(
                    "is not a JSON object: {}",
                    e.to_string().split(" at line").next().unwrap_or_default()
                ),
            )
        })?;
        Ok(Self {
            raw,
            invalid: Vec::new(),
        })
    }

    pub fn bad(&mut self, name: &str, reason: impl Into<String>) {
        self.invalid.push(Invalid {
            name: name.into(),
            reason: reason.into(),
        });
    }

    pub fn has(&self, name: &str) -> bool {
        self.raw.contains_key(name)
    }

    pub fn names(&self) -> Vec<String> {
        self.raw.keys().cloned().collect()
    }

    fn take<T: serde::de::DeserializeOwned>(&mut self, name: &str, what: &str) -> Option<T> {
        let raw = self.raw.get(name)?;
        match serde_json::from_str::<T>(raw.get()) {
            Ok(value) => Some(value),
            Err(_) => {
                self.bad(name, format!("must be {what}"));
                None
            }
        }
    }

    /// A string of `min..=max` characters.
    pub fn text(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        let value: String = self.take(name, "a string")?;
        let length = value.chars().count();
        if length < min || length > max {
            self.bad(name, format!("must be {min} to {max} characters long"));
            return None;
        }
        Some(value)
    }

    /// One of `words`.
    pub fn word(&mut self, name: &str, words: &[&str]) -> Option<String> {
        let value: String = self.take(name, "a string")?;
        if words.contains(&value.as_str()) {
            Some(value)
        } else {
            self.bad(name, format!("must be one of {}", words.join(", ")));
            None
        }
    }

    pub fn time(&mut self, name: &str) -> Option<DateTime<Utc>> {
        self.take(
            name,
            "an ISO-8601 date and time, such as 2022-02-01T00:00:00Z",
        )
    }

    /// A whole number of at least `min`.
    pub fn integer(&mut self, name: &str, min: i64) -> Option<i64> {
        let raw = self.raw.get(name)?.get().trim().to_owned();
        match raw.parse::<i64>() {
            Ok(n) if n >= min => Some(n),
            _ => {
                self.bad(name, format!("must be a whole number of {min} or more"));
                None
            }
        }
    }

    /// A decimal number, read digit for digit, not negative.
    pub fn amount(&mut self, name: &str) -> Option<Decimal> {
        let raw = self.raw.get(name)?.get().trim().to_owned();
        match Decimal::from_str_exact(&raw) {
            Ok(n) if !n.is_sign_negative() => Some(n),
            _ => {
                self.bad(name, "must be a number of US dollars, 0 or more");
                None
            }
        }
    }

    /// `type` and `version`, which every body carries.
    pub fn kind_and_version(&mut self) -> Option<String> {
        match self.take::<String>("type", "a string") {
            Some(kind) if kind == RESOURCE => {}
            Some(_) => self.bad("type", format!("must be {RESOURCE}")),
            None if !self.has("type") => self.bad("type", "is required"),
            None => {}
        }
        if !self.has("version") {
            self.bad("version", "is required");
            return None;
        }
        self.word("version", VERSIONS)
    }

    /// `metadata.labels`, checking that no server-kept metadata is set when `refuse_rest`.
    pub fn labels(&mut self, refuse_rest: bool) -> Option<Vec<Label>> {
        let metadata: BTreeMap<String, Box<RawValue>> = self.take("metadata", "an object")?;
        if refuse_rest {
            for key in metadata.keys().filter(|k| *k != "labels") {
                self.bad(
                    &format!("metadata.{key}"),
                    "is kept by the server and cannot be set",
                );
            }
        }
        let labels = metadata.get("labels")?;
        match serde_json::from_str::<Vec<AstraLabel>>(labels.get()) {
            Ok(labels) => Some(
                labels
                    .into_iter()
                    .map(|l| Label {
                        name: l.name,
                        value: l.value,
                    })
                    .collect(),
            ),
            Err(_) => {
                self.bad(
                    "metadata.labels",
                    "must be a list of {\"name\": …, \"value\": …}",
                );
                None
            }
        }
    }

    /// The billing contact of a rebilling: checked, and dropped.
    pub fn check_billing_contact(&mut self) {
        self.text("paymentFirstName", 1, 63);
        self.text("paymentLastName", 1, 63);
        let Some(address) =
            self.take::<BTreeMap<String, Box<RawValue>>>("paymentAddress", "an object")
        else {
            return;
        };
        let mut inner = Fields {
            raw: address,
            invalid: Vec::new(),
        };
        for (field, required) in [
            ("addressLocality", true),
            ("addressRegion", true),
            ("postalCode", true),
            ("streetAddress1", true),
            ("streetAddress2", false),
        ] {
            if required && !inner.has(field) {
                inner.bad(field, "is required");
            }
            inner.text(field, 0, 63);
        }
        if !inner.has("addressCountry") {
            inner.bad("addressCountry", "is required");
        }
        if let Some(country) = inner.text("addressCountry", 0, 2) {
            if !(country.is_empty() || country.chars().all(|c| c.is_ascii_uppercase())) {
                inner.bad(
                    "addressCountry",
                    "must be an ISO 3166 alpha-2 code, such as FR",
                );
            }
        }
        for known in inner.names() {
            if ![
                "addressCountry",
                "addressLocality",
                "addressRegion",
                "postalCode",
                "streetAddress1",
                "streetAddress2",
            ]
            .contains(&known.as_str())
            {
                inner.bad(&known, "is not a field of the payment address");
            }
        }
        for invalid in inner.invalid {
            self.bad(&format!("paymentAddress.{}", invalid.name), invalid.reason);
        }
    }
}
