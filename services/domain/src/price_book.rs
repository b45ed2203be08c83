//! The price book aggregate: one per tenant. Its currencies (one main, the others with an
//! exchange rate to it), its products with their prices, and the provider's hourly cost of
//! running an instance type in a cloud provider's region.
//!
//! Prices and rates change from a stated instant that may not lie in the past: the past is
//! never rewritten, so usage is always rated with the price in force when it occurred.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
pub use fleet_events::price_book::{CurrencyNames, PriceBookEvent, ID};
use rust_decimal::Decimal;

use crate::money::Currency;
use crate::rating::Pricing;
use crate::{validate, Aggregate, DomainError};

#[derive(Debug, Clone)]
pub enum PriceBookCommand {
    AddCurrency {
        code: String,
        main: bool,
        /// Units of the main currency per unit of this one; absent for the main currency.
        rate: Option<Decimal>,
        names: Option<CurrencyNames>,
    },
    SetExchangeRate {
        code: String,
        rate: Decimal,
        effective_from: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
    CreateProduct {
        code: String,
        name: String,
        category: String,
        unit: String,
        currency: String,
        pricing: Pricing,
        effective_from: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
    ChangeProductPrice {
        code: String,
        pricing: Pricing,
        effective_from: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
    /// Replaces the product's free-form metadata (a JSON value; `null` clears it).
    SetProductMetadata {
        code: String,
        metadata: serde_json::Value,
    },
    SetCostRate {
        cloud_provider: String,
        region: String,
        instance_type: String,
        hourly: Decimal,
        currency: String,
        effective_from: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
}

/// Metadata is for people and other systems, not for rating: it is kept small.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductEntry {
    pub currency: String,
    /// When its latest price took effect.
    pub price_from: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceBook {
    pub main: Option<String>,
    /// Code -> when its latest rate took effect.
    pub currencies: BTreeMap<String, DateTime<Utc>>,
    pub products: BTreeMap<String, ProductEntry>,
    /// (provider, region, instance type) -> when its latest cost took effect.
    pub cost_rates: BTreeMap<(String, String, String), DateTime<Utc>>,
}

fn product_code(code: &str) -> Result<(), DomainError> {
    let valid = (1..=64).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if valid {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "code",
            "must be 1 to 64 letters, digits, '-', '_' or '.'",
        ))
    }
}

fn positive(field: &'static str, value: Decimal) -> Result<(), DomainError> {
    if value > Decimal::ZERO {
        Ok(())
    } else {
        Err(DomainError::invalid(field, "must be greater than zero"))
    }
}

/// A change takes effect now, or from a later instant, and after the change before it.
fn effective(
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    previous: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, DomainError> {
    let from = requested.unwrap_or(now);
    if from < now - chrono::Duration::seconds(60) {
        return Err(DomainError::invalid(
            "effective_from",
            "must not be in the past: past prices are never rewritten",
        ));
    }
    if previous.is_some_and(|previous| from <= previous) {
        return Err(DomainError::invalid(
            "effective_from",
            "must be after the change currently scheduled",
        ));
    }
    Ok(from)
}

impl PriceBook {
    fn known_currency(&self, field: &'static str, code: &str) -> Result<(), DomainError> {
        Currency::parse(code)
            .map_err(|_| DomainError::invalid(field, "must be an ISO 4217 code"))?;
        if self.currencies.contains_key(code) {
            Ok(())
        } else {
            Err(DomainError::invalid(
                field,
                format!("{code} is not a currency of this price book"),
            ))
        }
    }
}

impl Aggregate for PriceBook {
    const TYPE: &'static str = fleet_events::price_book::AGGREGATE_TYPE;
    type Command = PriceBookCommand;
    type Event = PriceBookEvent;

    fn decide(&self, command: &PriceBookCommand) -> Result<PriceBookEvent, DomainError> {
        use PriceBookCommand as C;
        Ok(match command {
            C::AddCurrency {
                code,
                main,
                rate,
                names,
            } => {
                Currency::parse(code)?;
                if let Some(names) = names {
                    validate::required("label", &names.label, 64)?;
                    validate::required("plural_label", &names.plural_label, 64)?;
                    validate::required("symbol", &names.symbol, 8)?;
                }
                if self.currencies.contains_key(code) {
                    return Err(DomainError::AlreadyExists {
                        aggregate: "currency",
                    });
                }
                match (self.main.is_some(), main, rate) {
                    (false, false, _) => {
                        return Err(DomainError::invalid(
                            "main",
                            "the first currency must be the main currency",
                        ))
                    }
                    (true, true, _) => {
                        return Err(DomainError::invalid(
                            "main",
                            "the price book already has a main currency",
                        ))
                    }
                    (_, true, Some(rate)) if *rate != Decimal::ONE => {
                        return Err(DomainError::invalid(
                            "rate",
                            "the main currency's rate is 1",
                        ))
                    }
                    (_, false, None) => {
                        return Err(DomainError::invalid(
                            "rate",
                            "is required: units of the main currency per unit of this one",
                        ))
                    }
                    (_, false, Some(rate)) => positive("rate", *rate)?,
                    _ => {}
                }
                PriceBookEvent::CurrencyAdded {
                    code: code.clone(),
                    main: *main,
                    rate: rate.unwrap_or(Decimal::ONE),
                    names: names.clone(),
                }
            }
            C::SetExchangeRate {
                code,
                rate,
                effective_from,
                now,
            } => {
                let Some(previous) = self.currencies.get(code) else {
                    return Err(DomainError::NotFound {
                        aggregate: "currency",
                    });
                };
                if self.main.as_ref() == Some(code) {
                    return Err(DomainError::invalid(
                        "code",
                        "the main currency's rate is always 1",
                    ));
                }
                positive("rate", *rate)?;
                PriceBookEvent::ExchangeRateSet {
                    code: code.clone(),
                    rate: *rate,
                    effective_from: effective(*effective_from, *now, Some(*previous))?,
                }
            }
            C::CreateProduct {
                code,
                name,
                category,
                unit,
                currency,
                pricing,
                effective_from,
                now,
            } => {
                product_code(code)?;
                if self.products.contains_key(code) {
                    return Err(DomainError::AlreadyExists {
                        aggregate: "product",
                    });
                }
                validate::required("name", name, 255)?;
                validate::required("category", category, 64)?;
                validate::required("unit", unit, 32)?;
                self.known_currency("currency", currency)?;
                pricing.validate()?;
                PriceBookEvent::ProductCreated {
                    code: code.clone(),
                    name: name.clone(),
                    category: category.clone(),
                    unit: unit.clone(),
                    currency: currency.clone(),
                    pricing: serde_json::to_value(pricing).expect("pricing serialises"),
                    // A new product may say since when its price has applied.
                    effective_from: effective_from.unwrap_or(*now),
                }
            }
            C::ChangeProductPrice {
                code,
                pricing,
                effective_from,
                now,
            } => {
                let Some(product) = self.products.get(code) else {
                    return Err(DomainError::NotFound {
                        aggregate: "product",
                    });
                };
                pricing.validate()?;
                PriceBookEvent::ProductPriceChanged {
                    code: code.clone(),
                    pricing: serde_json::to_value(pricing).expect("pricing serialises"),
                    effective_from: effective(*effective_from, *now, Some(product.price_from))?,
                }
            }
            C::SetProductMetadata { code, metadata } => {
                if !self.products.contains_key(code) {
                    return Err(DomainError::NotFound {
                        aggregate: "product",
                    });
                }
                if metadata.to_string().len() > MAX_METADATA_BYTES {
                    return Err(DomainError::invalid(
                        "metadata",
                        format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
                    ));
                }
                PriceBookEvent::ProductMetadataSet {
                    code: code.clone(),
                    metadata: metadata.clone(),
                }
            }
            C::SetCostRate {
                cloud_provider,
                region,
                instance_type,
                hourly,
                currency,
                effective_from,
                now,
            } => {
                validate::required("cloud_provider", cloud_provider, 64)?;
                validate::required("region", region, 200)?;
                validate::required("instance_type", instance_type, 200)?;
                if hourly.is_sign_negative() {
                    return Err(DomainError::invalid("hourly", "must not be negative"));
                }
                self.known_currency("currency", currency)?;
                let key = (
                    cloud_provider.clone(),
                    region.clone(),
                    instance_type.clone(),
                );
                let previous = self.cost_rates.get(&key).copied();
                let effective_from = match previous {
                    // The first rate of a key may say since when it has applied.
                    None => effective_from.unwrap_or(*now),
                    Some(_) => effective(*effective_from, *now, previous)?,
                };
                PriceBookEvent::CostRateSet {
                    cloud_provider: cloud_provider.clone(),
                    region: region.clone(),
                    instance_type: instance_type.clone(),
                    hourly: *hourly,
                    currency: currency.clone(),
                    effective_from,
                }
            }
        })
    }

    fn evolve(&mut self, event: &PriceBookEvent) {
        use PriceBookEvent as E;
        match event {
            E::CurrencyAdded { code, main, .. } => {
                if *main {
                    self.main = Some(code.clone());
                }
                self.currencies
                    .insert(code.clone(), DateTime::<Utc>::MIN_UTC);
            }
            E::ExchangeRateSet {
                code,
                effective_from,
                ..
            } => {
                self.currencies.insert(code.clone(), *effective_from);
            }
            E::ProductCreated {
                code,
                currency,
                effective_from,
                ..
            } => {
                self.products.insert(
                    code.clone(),
                    ProductEntry {
                        currency: currency.clone(),
                        price_from: *effective_from,
                    },
                );
            }
            E::ProductPriceChanged {
                code,
                effective_from,
                ..
            } => {
                if let Some(product) = self.products.get_mut(code) {
                    product.price_from = *effective_from;
                }
            }
            E::ProductMetadataSet { .. } => {}
            E::CostRateSet {
                cloud_provider,
                region,
                instance_type,
                effective_from,
                ..
            } => {
                self.cost_rates.insert(
                    (
                        cloud_provider.clone(),
                        region.clone(),
                        instance_type.clone(),
                    ),
                    *effective_from,
                );
            }
        }
    }

    fn exists(&self) -> bool {
        !self.currencies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use PriceBookCommand as C;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-01T00:00:00Z".parse().unwrap()
    }

    fn currency(code: &str, main: bool, rate: Option<&str>) -> C {
        C::AddCurrency {
            code: code.into(),
            main,
            rate: rate.map(d),
            names: None,
        }
    }

    fn product(code: &str, currency: &str) -> C {
        C::CreateProduct {
            code: code.into(),
            name: "vCPU hour".into(),
            category: "compute".into(),
            unit: "hour".into(),
            currency: currency.into(),
            pricing: Pricing::Flat {
                unit_price: d("0.04"),
            },
            effective_from: None,
            now: now(),
        }
    }

    fn run(commands: Vec<C>) -> (PriceBook, Result<PriceBookEvent, DomainError>) {
        crate::run_commands::<PriceBook>(&commands)
    }

    #[test]
    fn one_main_currency_and_rates_for_the_others() {
        assert!(run(vec![currency("USD", false, Some("0.9"))]).1.is_err());
        assert!(run(vec![
            currency("EUR", true, None),
            currency("USD", true, None)
        ])
        .1
        .is_err());
        assert!(run(vec![
            currency("EUR", true, None),
            currency("USD", false, None)
        ])
        .1
        .is_err());
        assert!(run(vec![
            currency("EUR", true, None),
            currency("USD", false, Some("0"))
        ])
        .1
        .is_err());
        let (book, last) = run(vec![
            currency("EUR", true, None),
            currency("USD", false, Some("0.92")),
        ]);
        assert!(last.is_ok());
        assert_eq!(book.main.as_deref(), Some("EUR"));
        let (_, last) = run(vec![
            currency("EUR", true, None),
            C::SetExchangeRate {
                code: "EUR".into(),
                rate: d("2"),
                effective_from: None,
                now: now(),
            },
        ]);
        assert!(last.is_err(), "the main currency has no rate to change");
    }

    #[test]
    fn prices_change_from_now_on_never_in_the_past() {
        let change = |from: &str| C::ChangeProductPrice {
            code: "cpu".into(),
            pricing: Pricing::Flat {
                unit_price: d("0.05"),
            },
            effective_from: Some(from.parse().unwrap()),
            now: now(),
        };
        let base = || vec![currency("EUR", true, None), product("cpu", "EUR")];
        let mut past = base();
        past.push(change("2026-10-01T00:00:00Z"));
        assert!(matches!(
            run(past).1,
            Err(DomainError::Invalid {
                field: "effective_from",
                ..
            })
        ));
        let mut future = base();
        future.push(change("2026-12-01T00:00:00Z"));
        assert!(run(future.clone()).1.is_ok());
        future.push(change("2026-11-15T00:00:00Z"));
        assert!(run(future).1.is_err(), "before the scheduled change");
        assert!(
            run(vec![currency("EUR", true, None), product("cpu", "USD")])
                .1
                .is_err()
        );
        assert!(
            run(vec![currency("EUR", true, None), product("c p u", "EUR")])
                .1
                .is_err()
        );
    }

    #[test]
    fn a_currency_may_be_named_and_a_product_carries_metadata() {
        let named = C::AddCurrency {
            code: "CAD".into(),
            main: true,
            rate: None,
            names: Some(CurrencyNames {
                label: "Canadian dollar".into(),
                plural_label: "Canadian dollars".into(),
                symbol: "$".into(),
            }),
        };
        let (_, event) = run(vec![named.clone()]);
        assert!(matches!(
            event,
            Ok(PriceBookEvent::CurrencyAdded { names: Some(ref n), .. }) if n.symbol == "$"
        ));
        let unnamed = C::AddCurrency {
            code: "CAD".into(),
            main: true,
            rate: None,
            names: Some(CurrencyNames {
                label: String::new(),
                plural_label: "x".into(),
                symbol: "$".into(),
            }),
        };
        assert!(matches!(
            run(vec![unnamed]).1,
            Err(DomainError::Invalid { field, .. }) if field == "label"
        ));
        let metadata = |code: &str| C::SetProductMetadata {
            code: code.into(),
            metadata: serde_json::json!({"sku": "pico"}),
        };
        assert!(matches!(
            run(vec![
                named.clone(),
                product("vcpu", "CAD"),
                metadata("vcpu")
            ])
            .1,
            Ok(PriceBookEvent::ProductMetadataSet { .. })
        ));
        assert!(matches!(
            run(vec![named, metadata("vcpu")]).1,
            Err(DomainError::NotFound {
                aggregate: "product"
            })
        ));
    }
}
