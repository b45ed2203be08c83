//! Events of the `invoice` aggregate: what a customer owes for a billing period.
//!
//! Subject: `<namespace>.<tenant>.invoice.<invoice id>`. Schema version 1. Amounts are decimal
//! strings in the invoice's currency, already rounded to its minor unit.
//!
//! `InvoiceGenerated` carries the whole invoice, lines and totals and the exchange rates used,
//! so an issued invoice never changes when prices, rates or usage change later, and an auditor
//! can reproduce every amount from the event alone. Its `coverage` says exactly which usage
//! records it billed: those of each window whose usage-stream position lies in one of the
//! ranges. Usage arriving later falls outside every range, so the next invoice bills it as an
//! adjustment.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "invoice";

/// Days `[start, end)`: `end` is the first day after the period.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct Period {
    pub start: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
}

impl Period {
    pub fn overlaps(&self, other: &Period) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The last day of the period.
    pub fn last_day(&self) -> NaiveDate {
        self.end.pred_opt().unwrap_or(self.end)
    }
}

/// Who the invoice is addressed to, as the customer was when it was generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BillTo {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
}

/// `usage` for the period's own usage, `adjustment` for usage of an earlier invoiced period
/// that arrived after that period's invoice was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Usage,
    Adjustment,
}

/// One billed product of one project: a line item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceLine {
    pub kind: LineKind,
    /// The period the usage occurred in (the invoice's own for `usage` lines).
    pub origin_period: Period,
    pub provider_id: String,
    pub project_id: String,
    pub product: String,
    /// The product's name, or the product code when the price book does not know it.
    pub description: String,
    /// The product's category (`compute`, `storage`): taxes may apply per category.
    pub category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[schemars(with = "String")]
    pub quantity: Decimal,
    /// `DD:HH:MM:SS` for hourly units: how long the resource was billed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<String>,
    /// `flat` or `tiered`; absent when the product has no price (the line is then 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_system: Option<String>,
    /// The price as the price book stated it when rated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_currency: Option<String>,
    /// Units of the invoice currency per unit of the price currency.
    #[schemars(with = "String")]
    pub exchange_rate: Decimal,
    #[schemars(with = "String")]
    pub total: Decimal,
}

/// A tax as applied: its rate in percent, the amount it was applied to, and the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppliedTax {
    pub name: String,
    #[schemars(with = "String")]
    pub rate: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The line categories it applies to; empty for the whole (discounted) subtotal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[schemars(with = "String")]
    pub base: Decimal,
    #[schemars(with = "String")]
    pub amount: Decimal,
}

/// The totals of an invoice; `total = subtotal - discount_total + tax_total` exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceTotals {
    #[schemars(with = "String")]
    pub subtotal: Decimal,
    #[schemars(with = "String")]
    pub discount_percentage: Decimal,
    #[schemars(with = "String")]
    pub discount_percentage_value: Decimal,
    /// The flat discount as applied (never more than what the percentage left).
    #[schemars(with = "String")]
    pub discount_flat: Decimal,
    #[schemars(with = "String")]
    pub discount_total: Decimal,
    pub taxes: Vec<AppliedTax>,
    #[schemars(with = "String")]
    pub tax_total: Decimal,
    #[schemars(with = "String")]
    pub total: Decimal,
}

/// Usage records of `window` whose usage-stream position is in `(after, through]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Coverage {
    pub window: Period,
    pub after: u64,
    pub through: u64,
}

/// Everything an invoice states, frozen when it is generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceDocument {
    pub customer_id: String,
    pub period: Period,
    pub currency: String,
    pub bill_to: BillTo,
    /// The customer's resellers, if it is sold through any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resellers: Vec<String>,
    /// `STRIPE`, `BRING_YOUR_OWN`, …: who collects the payment.
    pub billing_provider: String,
    pub payment_terms_days: u32,
    pub invoice_date: NaiveDate,
    pub due_date: NaiveDate,
    #[serde(default)]
    pub test_account: bool,
    #[serde(default)]
    pub customer_metadata: Value,
    pub lines: Vec<InvoiceLine>,
    #[serde(flatten)]
    pub totals: InvoiceTotals,
    /// The usage-stream position every amount was computed at.
    pub usage_position: u64,
    pub coverage: Vec<Coverage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum InvoiceEvent {
    InvoiceGenerated {
        #[serde(flatten)]
        invoice: Box<InvoiceDocument>,
    },
    InvoiceApproved {},
    InvoicePaid {},
    InvoiceMarkedUncollectible {},
    InvoiceVoided {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    InvoiceDeleted {},
    /// The invoice was sent to its addressee again.
    InvoiceResent {
        to: String,
    },
}

impl DomainEvent for InvoiceEvent {}
