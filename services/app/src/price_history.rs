//! A tenant's price book as the stream tells it: every price and exchange rate with the instant
//! it took effect, kept in memory. `fleetd verify invoices` rebuilds it event by event, so an
//! invoice is re-rated with the book as it stood when the invoice was made, whatever the
//! pricing read model says; a billing simulation lays draft prices over it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use fleet_events::price_book::PriceBookEvent;
use rust_decimal::Decimal;
use serde_json::Value;

/// What the rater needs to know of a product besides its price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFacts {
    pub name: String,
    pub category: String,
    pub unit: String,
}

#[derive(Debug, Clone)]
struct ProductHistory {
    facts: ProductFacts,
    currency: String,
    /// Effective instant -> pricing, as stated in the event.
    prices: BTreeMap<DateTime<Utc>, Value>,
}

#[derive(Debug, Clone, Default)]
pub struct PriceHistory {
    main: Option<String>,
    /// Code -> effective instant -> units of the main currency per unit of the code.
    rates: BTreeMap<String, BTreeMap<DateTime<Utc>, Decimal>>,
    products: BTreeMap<String, ProductHistory>,
}

impl PriceHistory {
    /// Takes one price-book event into account, as the pricing projection does: a later
    /// statement for the same instant replaces the earlier one.
    pub fn apply(&mut self, event: &PriceBookEvent) {
        match event {
            PriceBookEvent::CurrencyAdded {
                code, main, rate, ..
            } => {
                if *main {
                    self.main = Some(code.clone());
                }
                // A currency's first rate has always applied.
                self.rates
                    .entry(code.clone())
                    .or_default()
                    .entry(DateTime::<Utc>::MIN_UTC)
                    .or_insert(*rate);
            }
            PriceBookEvent::ExchangeRateSet {
                code,
                rate,
                effective_from,
            } => {
                self.rates
                    .entry(code.clone())
                    .or_default()
                    .insert(*effective_from, *rate);
            }
            PriceBookEvent::ProductCreated {
                code,
                name,
                category,
                unit,
                currency,
                pricing,
                effective_from,
            } => {
                // Creation is idempotent in the read model: the first one stands.
                self.products
                    .entry(code.clone())
                    .or_insert_with(|| ProductHistory {
                        facts: ProductFacts {
                            name: name.clone(),
                            category: category.clone(),
                            unit: unit.clone(),
                        },
                        currency: currency.clone(),
                        prices: BTreeMap::from([(*effective_from, pricing.clone())]),
                    });
            }
            PriceBookEvent::ProductPriceChanged {
                code,
                pricing,
                effective_from,
            } => {
                if let Some(product) = self.products.get_mut(code) {
                    product.prices.insert(*effective_from, pricing.clone());
                }
            }
            PriceBookEvent::ProductMetadataSet { .. } | PriceBookEvent::CostRateSet { .. } => {}
        }
    }

    pub fn main_currency(&self) -> Option<&str> {
        self.main.as_deref()
    }

    pub fn product(&self, code: &str) -> Option<ProductFacts> {
        self.products.get(code).map(|p| p.facts.clone())
    }

    /// The product's pricing and currency in force at `at`.
    pub fn price_at(&self, code: &str, at: DateTime<Utc>) -> Option<(Value, String)> {
        let product = self.products.get(code)?;
        let (_, pricing) = product.prices.range(..=at).next_back()?;
        Some((pricing.clone(), product.currency.clone()))
    }

    /// Units of the main currency per unit of `code` at `at`.
    pub fn rate_at(&self, code: &str, at: DateTime<Utc>) -> Option<Decimal> {
        let rates = self.rates.get(code)?;
        rates.range(..=at).next_back().map(|(_, rate)| *rate)
    }

    /// A draft price for `code`, in force from `from` (from always when `None`) and replacing
    /// every price the book states from then on. A product the book lacks needs its facts and
    /// currency; one it has keeps them unless the draft names another currency.
    pub fn draft_price(
        &mut self,
        code: &str,
        pricing: Value,
        currency: Option<String>,
        facts: Option<ProductFacts>,
        from: Option<DateTime<Utc>>,
    ) -> Result<(), String> {
        let from = from.unwrap_or(DateTime::<Utc>::MIN_UTC);
        if let Some(currency) = &currency {
            if !self.rates.contains_key(currency) {
                return Err(format!("{currency} is not a currency of the price book"));
            }
        }
        match self.products.get_mut(code) {
            Some(product) => {
                product.prices.retain(|at, _| *at < from);
                product.prices.insert(from, pricing);
                if let Some(currency) = currency {
                    product.currency = currency;
                }
                if let Some(facts) = facts {
                    product.facts = facts;
                }
            }
            None => {
                let (Some(facts), Some(currency)) = (facts, currency) else {
                    return Err(format!(
                        "{code} is not a product of the price book: a draft of a new product \
                         names its name, category, unit and currency"
                    ));
                };
                self.products.insert(
                    code.to_owned(),
                    ProductHistory {
                        facts,
                        currency,
                        prices: BTreeMap::from([(from, pricing)]),
                    },
                );
            }
        }
        Ok(())
    }

    /// A draft exchange rate for `code`, in force from `from` (always when `None`).
    pub fn draft_rate(
        &mut self,
        code: &str,
        rate: Decimal,
        from: Option<DateTime<Utc>>,
    ) -> Result<(), String> {
        if self.main.as_deref() == Some(code) {
            return Err("the main currency's rate is always 1".into());
        }
        let Some(rates) = self.rates.get_mut(code) else {
            return Err(format!("{code} is not a currency of the price book"));
        };
        let from = from.unwrap_or(DateTime::<Utc>::MIN_UTC);
        rates.retain(|at, _| *at < from);
        rates.insert(from, rate);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn book() -> PriceHistory {
        let mut book = PriceHistory::default();
        for event in [
            PriceBookEvent::CurrencyAdded {
                code: "EUR".into(),
                main: true,
                rate: Decimal::ONE,
                names: None,
            },
            PriceBookEvent::CurrencyAdded {
                code: "USD".into(),
                main: false,
                rate: Decimal::new(92, 2),
                names: None,
            },
            PriceBookEvent::ExchangeRateSet {
                code: "USD".into(),
                rate: Decimal::new(90, 2),
                effective_from: at("2026-11-01T00:00:00Z"),
            },
            PriceBookEvent::ProductCreated {
                code: "cpu".into(),
                name: "vCPU hour".into(),
                category: "compute".into(),
                unit: "hour".into(),
                currency: "USD".into(),
                pricing: serde_json::json!({"rate_system": "flat", "unit_price": "0.04"}),
                effective_from: at("2026-01-01T00:00:00Z"),
            },
            PriceBookEvent::ProductPriceChanged {
                code: "cpu".into(),
                pricing: serde_json::json!({"rate_system": "flat", "unit_price": "0.05"}),
                effective_from: at("2026-11-01T00:00:00Z"),
            },
        ] {
            book.apply(&event);
        }
        book
    }

    #[test]
    fn prices_and_rates_are_those_in_force_at_the_instant() {
        let book = book();
        assert_eq!(book.main_currency(), Some("EUR"));
        let price = |at_: &str| {
            book.price_at("cpu", at(at_))
                .map(|(p, _)| p["unit_price"].clone())
        };
        assert_eq!(
            price("2025-12-31T23:59:59Z"),
            None,
            "before the product existed"
        );
        assert_eq!(price("2026-10-31T23:59:59Z"), Some("0.04".into()));
        assert_eq!(price("2026-11-01T00:00:00Z"), Some("0.05".into()));
        assert_eq!(
            book.rate_at("USD", at("2020-01-01T00:00:00Z")),
            Some(Decimal::new(92, 2))
        );
        assert_eq!(
            book.rate_at("USD", at("2026-11-02T00:00:00Z")),
            Some(Decimal::new(90, 2))
        );
        assert_eq!(book.rate_at("GBP", at("2026-11-02T00:00:00Z")), None);
    }

    #[test]
    fn a_draft_replaces_the_book_from_its_instant_on() {
        let mut book = book();
        let draft = serde_json::json!({"rate_system": "flat", "unit_price": "0.07"});
        book.draft_price("cpu", draft.clone(), None, None, None)
            .unwrap();
        assert_eq!(
            book.price_at("cpu", at("2026-10-15T00:00:00Z")).unwrap().0,
            draft
        );
        assert_eq!(
            book.price_at("cpu", at("2026-11-15T00:00:00Z")).unwrap().0,
            draft,
            "later recorded prices give way to the draft too"
        );
        assert!(book
            .draft_price("gpu", draft.clone(), None, None, None)
            .is_err());
        assert!(book
            .draft_price("cpu", draft, Some("GBP".into()), None, None)
            .is_err());
        assert!(book.draft_rate("EUR", Decimal::TWO, None).is_err());
        book.draft_rate("USD", Decimal::ONE, None).unwrap();
        assert_eq!(
            book.rate_at("USD", at("2026-11-02T00:00:00Z")),
            Some(Decimal::ONE)
        );
    }
}
