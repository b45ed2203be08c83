//! Events of the `price_book` aggregate: a tenant's currencies and exchange rates, products
//! and their prices, and what the fleet's instances cost the provider per hour.
//!
//! Subject: `<namespace>.<tenant>.price_book.main`. Schema version 1. Amounts are decimal
//! strings. Every price and rate has the instant it takes effect from: the past is never
//! rewritten, so any past amount can be rated again exactly.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "price_book";
/// Each tenant has one price book.
pub const ID: &str = "main";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum PriceBookEvent {
    CurrencyAdded {
        code: String,
        /// The tenant's main currency, in which everything is reported.
        main: bool,
        /// Units of the main currency per unit of this one (1 for the main currency).
        #[schemars(with = "String")]
        rate: Decimal,
        /// How the currency is named to people: "Canadian dollar", "Canadian dollars", "$".
        /// Absent in events of schema version 1, which named a currency by its code alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        names: Option<CurrencyNames>,
    },
    ExchangeRateSet {
        code: String,
        #[schemars(with = "String")]
        rate: Decimal,
        effective_from: DateTime<Utc>,
    },
    ProductCreated {
        code: String,
        name: String,
        category: String,
        unit: String,
        currency: String,
        /// `{"rate_system": "flat", "unit_price": "0.04"}` or
        /// `{"rate_system": "tiered", "tiers": [{"up_to": "100", "unit_price": "1.00"}, …]}`.
        pricing: Value,
        effective_from: DateTime<Utc>,
    },
    ProductPriceChanged {
        code: String,
        pricing: Value,
        effective_from: DateTime<Utc>,
    },
    /// Free-form data the tenant keeps with a product (Ormuco's product `metadata`); it
    /// replaces what was there and never affects a price.
    ProductMetadataSet { code: String, metadata: Value },
    CostRateSet {
        cloud_provider: String,
        region: String,
        instance_type: String,
        /// What one hour of one replica costs the provider.
        #[schemars(with = "String")]
        hourly: Decimal,
        currency: String,
        effective_from: DateTime<Utc>,
    },
}

/// A currency's names as people read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CurrencyNames {
    pub label: String,
    pub plural_label: String,
    pub symbol: String,
}

impl DomainEvent for PriceBookEvent {}
