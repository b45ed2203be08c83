//! Events of the `customer` aggregate: a customer of the provider, with its reseller
//! relationships and the licenses synced from its provider instances.
//!
//! Subject: `<namespace>.<tenant>.customer.<customer id>`. Schema version 1.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "customer";

/// A customer's company and contact details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerProfile {
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_identifier: Option<String>,
}

/// A partial change of the profile: absent fields stay as they were.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_identifier: Option<String>,
}

/// Seats of one SKU of a provider instance, as the provider reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct License {
    pub provider_instance_id: String,
    pub sku_id: String,
    pub name: String,
    pub total: i64,
    pub consumed: i64,
    pub suspended: i64,
}

/// A tax the customer's invoices carry. `rate` is in percent (14.975).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TaxRule {
    pub name: String,
    #[schemars(with = "String")]
    pub rate: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Line categories it applies to; empty: the whole subtotal after discounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// How a customer is invoiced. A customer that never had terms set is invoiced in the main
/// currency, without discount or tax, collected by the provider itself, net 30.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BillingTerms {
    /// ISO 4217; absent: the price book's main currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Percent off the subtotal (a percentage coupon), applied first.
    #[schemars(with = "String")]
    pub discount_percentage: Decimal,
    /// An amount off what the percentage left, never below zero.
    #[schemars(with = "String")]
    pub discount_flat: Decimal,
    pub taxes: Vec<TaxRule>,
    pub billing_provider: String,
    pub payment_terms_days: u32,
    #[serde(default)]
    pub test_account: bool,
    /// Free-form JSON object, reported as `customer_metadata`.
    #[serde(default)]
    pub metadata: serde_json::Value,
}

impl Default for BillingTerms {
    fn default() -> Self {
        Self {
            currency: None,
            discount_percentage: Decimal::ZERO,
            discount_flat: Decimal::ZERO,
            taxes: Vec::new(),
            billing_provider: "BRING_YOUR_OWN".into(),
            payment_terms_days: 30,
            test_account: false,
            metadata: serde_json::Value::Object(Default::default()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum CustomerEvent {
    CustomerCreated {
        #[serde(flatten)]
        profile: CustomerProfile,
    },
    CustomerUpdated {
        #[serde(flatten)]
        changes: CustomerChanges,
    },
    CustomerDeleted {},
    ResellerRelationshipAdded {
        relationship_id: String,
        provider_instance_id: String,
        /// `None`: the provider sells to the customer directly.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reseller_id: Option<String>,
    },
    ResellerRelationshipRemoved {
        relationship_id: String,
    },
    CustomerLicenseRecorded {
        #[serde(flatten)]
        license: License,
    },
    /// Replaces the customer's billing terms; invoices already generated keep theirs.
    CustomerBillingTermsSet {
        #[serde(flatten)]
        terms: BillingTerms,
    },
}

impl DomainEvent for CustomerEvent {}
