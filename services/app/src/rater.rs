//! Rating usage against the price book: the one place that turns a quantity of a product into
//! money, shared by the rated-usage query and invoice generation so the two always agree.
//!
//! A quantity is rated with the product's price in force at the instant given (the end of the
//! window it was used in), converted into the target currency with the exchange rates in force
//! at that instant, and rounded to the target's minor unit, half away from zero. A product
//! without a price rates to zero and says so (`rate_system` absent): statements flag the line
//! unpriced and invoices refuse it unless asked to bill it at zero. A currency without a rate
//! in force is never converted at 1 or 0: it is refused.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use fleet_domain::money::Currency;
use fleet_domain::rating::Pricing;
use fleet_projections::pricing;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::price_history::{PriceHistory, ProductFacts};
use crate::AppError;

/// Prices and rates of a window are those in force at its last instant, the one before
/// `end` (or now, for a window that is still open).
pub fn rated_at(end: chrono::NaiveDate) -> DateTime<Utc> {
    end.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - chrono::Duration::microseconds(1))
        .unwrap_or_else(Utc::now)
        .min(Utc::now())
}

/// Exchange rates are kept to this many decimal places, so the rate stated on a line is the
/// rate the line was computed with.
const EXCHANGE_RATE_DP: u32 = 10;

/// A price as the book states it, and its currency.
type StatedPrice = (Value, String);

/// Where the rater reads the price book: the pricing read model (what invoices are generated
/// with), or a history rebuilt from the stream (what verification and simulations rate with).
#[derive(Clone, Copy)]
pub enum PriceSource<'a> {
    ReadModel {
        pool: &'a sqlx::PgPool,
        tenant: &'a str,
    },
    Recorded(&'a PriceHistory),
}

impl PriceSource<'_> {
    async fn main_currency(&self) -> Result<Option<String>, AppError> {
        Ok(match self {
            Self::ReadModel { pool, tenant } => pricing::main_currency(*pool, tenant).await?,
            Self::Recorded(book) => book.main_currency().map(str::to_owned),
        })
    }

    async fn product(&self, code: &str) -> Result<Option<ProductFacts>, AppError> {
        Ok(match self {
            Self::ReadModel { pool, tenant } => {
                pricing::product(pool, tenant, code)
                    .await?
                    .map(|p| ProductFacts {
                        name: p.name,
                        category: p.category,
                        unit: p.unit,
                    })
            }
            Self::Recorded(book) => book.product(code),
        })
    }

    async fn price_at(
        &self,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<StatedPrice>, AppError> {
        Ok(match self {
            Self::ReadModel { pool, tenant } => pricing::price_at(pool, tenant, code, at).await?,
            Self::Recorded(book) => book.price_at(code, at),
        })
    }

    async fn rate_at(&self, code: &str, at: DateTime<Utc>) -> Result<Option<Decimal>, AppError> {
        Ok(match self {
            Self::ReadModel { pool, tenant } => pricing::rate_at(*pool, tenant, code, at).await?,
            Self::Recorded(book) => book.rate_at(code, at),
        })
    }
}

pub struct Rater<'a> {
    source: PriceSource<'a>,
    pub currency: Currency,
    /// Lookups already made: an invoice rates the same products again and again, per project.
    products: HashMap<String, Option<ProductFacts>>,
    prices: HashMap<(String, DateTime<Utc>), Option<StatedPrice>>,
    rates: HashMap<(String, DateTime<Utc>), Decimal>,
}

/// A rated quantity.
#[derive(Debug, Clone)]
pub struct Rated {
    pub description: String,
    pub category: String,
    pub unit: Option<String>,
    pub rate_system: Option<String>,
    pub rate: Option<Value>,
    pub price_currency: Option<String>,
    /// Units of the target currency per unit of the price currency.
    pub exchange_rate: Decimal,
    /// Rounded to the target currency's minor unit.
    pub total: Decimal,
}

impl<'a> Rater<'a> {
    /// Rates into `currency`, or the price book's main currency when `None`.
    pub async fn new(
        source: PriceSource<'a>,
        currency: Option<&str>,
    ) -> Result<Rater<'a>, AppError> {
        let code = match currency {
            Some(code) => code.to_owned(),
            None => source
                .main_currency()
                .await?
                .ok_or_else(|| AppError::Conflict {
                    detail:
                        "the price book has no main currency yet: add one with POST /v1/currencies"
                            .into(),
                    current_state: None,
                })?,
        };
        let currency = Currency::parse(&code).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Self {
            source,
            currency,
            products: HashMap::new(),
            prices: HashMap::new(),
            rates: HashMap::new(),
        })
    }

    /// Units of the main currency per unit of `code` at `at`.
    async fn main_per_unit(&mut self, code: &str, at: DateTime<Utc>) -> Result<Decimal, AppError> {
        let key = (code.to_owned(), at);
        if let Some(rate) = self.rates.get(&key) {
            return Ok(*rate);
        }
        let rate = self
            .source
            .rate_at(code, at)
            .await?
            // Never converted at 1 or at 0: no rate in force is a refusal.
            .ok_or_else(|| AppError::Conflict {
                detail: format!(
                    "{code} has no exchange rate in force at {} (or is not a currency of the \
                     price book): add a rate effective by then",
                    at.to_rfc3339()
                ),
                current_state: None,
            })?;
        self.rates.insert(key, rate);
        Ok(rate)
    }

    /// What `quantity` of `product` costs on top of `already` units rated before in the same
    /// window (graduated tiers continue where those units left off), at `at`.
    pub async fn rate(
        &mut self,
        product: &str,
        at: DateTime<Utc>,
        already: Decimal,
        quantity: Decimal,
    ) -> Result<Rated, AppError> {
        let info = match self.products.get(product) {
            Some(info) => info.clone(),
            None => {
                let info = self.source.product(product).await?;
                self.products.insert(product.to_owned(), info.clone());
                info
            }
        };
        let (description, category, unit) = match info {
            Some(p) => (p.name, p.category, Some(p.unit)),
            None => (product.to_owned(), "unpriced".to_owned(), None),
        };
        let key = (product.to_owned(), at);
        let price = match self.prices.get(&key) {
            Some(price) => price.clone(),
            None => {
                let price = self.source.price_at(product, at).await?;
                self.prices.insert(key, price.clone());
                price
            }
        };
        let Some((stated, price_currency)) = price else {
            return Ok(Rated {
                description,
                category,
                unit,
                rate_system: None,
                rate: None,
                price_currency: None,
                exchange_rate: Decimal::ONE,
                total: self.currency.amount(Decimal::ZERO),
            });
        };
        let pricing: Pricing = serde_json::from_value(stated.clone())
            .map_err(|e| AppError::Internal(format!("price of {product}: {e}")))?;
        let exchange_rate = if price_currency == self.currency.code() {
            Decimal::ONE
        } else {
            let code = self.currency.code().to_owned();
            let target = self.main_per_unit(&code, at).await?;
            let source = self.main_per_unit(&price_currency, at).await?;
            (source / target).round_dp(EXCHANGE_RATE_DP)
        };
        let too_large = || {
            AppError::unprocessable(
                "quantity",
                format!("{quantity} units of {product} are more than can be priced"),
            )
        };
        let upto = already.checked_add(quantity).ok_or_else(too_large)?;
        let amount = pricing
            .checked_rate(upto)
            .zip(pricing.checked_rate(already))
            .and_then(|(all, before)| all.checked_sub(before))
            .ok_or_else(too_large)?;
        Ok(Rated {
            description,
            category,
            unit,
            rate_system: stated
                .get("rate_system")
                .and_then(Value::as_str)
                .map(str::to_owned),
            rate: Some(stated),
            price_currency: Some(price_currency),
            exchange_rate,
            total: self
                .currency
                .amount(amount.checked_mul(exchange_rate).ok_or_else(too_large)?),
        })
    }
}
