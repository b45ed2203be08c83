//! Rating: what a quantity of a product costs under its price.
//!
//! - Flat: every unit at the same price.
//! - Tiered (graduated): tiers with ascending upper bounds, the last unbounded; the units
//!   within each tier are charged at that tier's price. 120 units with tiers up to 100 at 1.00
//!   and above at 0.50 cost 100 x 1.00 + 20 x 0.50 = 110.00.
//!
//! Rating keeps full precision; the caller rounds where the amount becomes a bill line.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::DomainError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tier {
    /// Upper bound of the tier (inclusive); `None` for the last, unbounded tier.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::money::decimal_str_opt"
    )]
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    pub up_to: Option<Decimal>,
    #[serde(deserialize_with = "crate::money::decimal_str")]
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub unit_price: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "rate_system", rename_all = "snake_case")]
pub enum Pricing {
    Flat {
        #[serde(deserialize_with = "crate::money::decimal_str")]
        #[schemars(with = "fleet_events::schemas::DecimalString")]
        unit_price: Decimal,
    },
    Tiered {
        tiers: Vec<Tier>,
    },
}

/// The most a unit may cost, and the highest tier bound: far above any real price, and low
/// enough that a quantity times a price stays inside a decimal's 28 digits.
pub const MAX_UNIT_PRICE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
pub const MAX_TIER_BOUND: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

impl Pricing {
    pub fn validate(&self) -> Result<(), DomainError> {
        let too_dear = |field: &'static str| {
            DomainError::invalid(field, format!("must be at most {MAX_UNIT_PRICE} per unit"))
        };
        match self {
            Pricing::Flat { unit_price } if unit_price.is_sign_negative() => {
                Err(DomainError::invalid("unit_price", "must not be negative"))
            }
            Pricing::Flat { unit_price } if *unit_price > MAX_UNIT_PRICE => {
                Err(too_dear("unit_price"))
            }
            Pricing::Flat { .. } => Ok(()),
            Pricing::Tiered { tiers } => {
                if tiers.is_empty() {
                    return Err(DomainError::invalid("tiers", "must hold at least one tier"));
                }
                let mut previous = Decimal::ZERO;
                for (i, tier) in tiers.iter().enumerate() {
                    let last = i + 1 == tiers.len();
                    if tier.unit_price.is_sign_negative() {
                        return Err(DomainError::invalid("tiers", "prices must not be negative"));
                    }
                    if tier.unit_price > MAX_UNIT_PRICE {
                        return Err(too_dear("tiers"));
                    }
                    if tier.up_to.is_some_and(|bound| bound > MAX_TIER_BOUND) {
                        return Err(DomainError::invalid(
                            "tiers",
                            format!("upper bounds must be at most {MAX_TIER_BOUND}"),
                        ));
                    }
                    match (tier.up_to, last) {
                        (None, true) => {}
                        (None, false) => {
                            return Err(DomainError::invalid(
                                "tiers",
                                "only the last tier may be unbounded",
                            ))
                        }
                        (Some(_), true) => {
                            return Err(DomainError::invalid(
                                "tiers",
                                "the last tier must be unbounded (no up_to)",
                            ))
                        }
                        (Some(bound), false) if bound <= previous => {
                            return Err(DomainError::invalid(
                                "tiers",
                                "upper bounds must be positive and ascending",
                            ))
                        }
                        (Some(bound), false) => previous = bound,
                    }
                }
                Ok(())
            }
        }
    }

    /// [`Self::rate`], or `None` when the amount passes what a decimal holds (a quantity
    /// beyond any real usage): the caller refuses it rather than panic.
    pub fn checked_rate(&self, quantity: Decimal) -> Option<Decimal> {
        match self {
            Pricing::Flat { unit_price } => quantity.checked_mul(*unit_price),
            Pricing::Tiered { tiers } => self
                .tier_breakdown(quantity, tiers)
                .iter()
                .try_fold(Decimal::ZERO, |sum, (q, p)| {
                    sum.checked_add(q.checked_mul(*p)?)
                }),
        }
    }

    /// The price of `quantity` units (full precision). Quantities are never negative.
    pub fn rate(&self, quantity: Decimal) -> Decimal {
        match self {
            Pricing::Flat { unit_price } => quantity * unit_price,
            Pricing::Tiered { tiers } => self
                .tier_breakdown(quantity, tiers)
                .iter()
                .map(|(q, p)| q * p)
                .sum(),
        }
    }

    /// (units, unit price) per tier that `quantity` reaches.
    pub fn breakdown(&self, quantity: Decimal) -> Vec<(Decimal, Decimal)> {
        match self {
            Pricing::Flat { unit_price } => vec![(quantity, *unit_price)],
            Pricing::Tiered { tiers } => self.tier_breakdown(quantity, tiers),
        }
    }

    fn tier_breakdown(&self, quantity: Decimal, tiers: &[Tier]) -> Vec<(Decimal, Decimal)> {
        let mut parts = Vec::new();
        let mut floor = Decimal::ZERO;
        for tier in tiers {
            if quantity <= floor {
                break;
            }
            let ceiling = tier.up_to.map_or(quantity, |bound| bound.min(quantity));
            parts.push((ceiling - floor, tier.unit_price));
            floor = ceiling;
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn tiered() -> Pricing {
        Pricing::Tiered {
            tiers: vec![
                Tier {
                    up_to: Some(d("100")),
                    unit_price: d("1.00"),
                },
                Tier {
                    up_to: Some(d("1000")),
                    unit_price: d("0.50"),
                },
                Tier {
                    up_to: None,
                    unit_price: d("0.125"),
                },
            ],
        }
    }

    #[test]
    fn worked_examples() {
        assert_eq!(
            Pricing::Flat {
                unit_price: d("0.0415")
            }
            .rate(d("720")),
            d("29.8800")
        );
        let pricing = tiered();
        assert_eq!(pricing.rate(d("0")), d("0"));
        assert_eq!(pricing.rate(d("99.5")), d("99.5"));
        assert_eq!(pricing.rate(d("120")), d("110.00"));
        assert_eq!(pricing.rate(d("1000")), d("550.00"));
        assert_eq!(pricing.rate(d("1008")), d("551.000"));
        assert_eq!(
            pricing.breakdown(d("1008")),
            vec![
                (d("100"), d("1.00")),
                (d("900"), d("0.50")),
                (d("8"), d("0.125"))
            ]
        );
    }

    #[test]
    fn prices_past_the_bound_are_refused_and_an_overflow_is_none_not_a_panic() {
        let flat = |price: &str| Pricing::Flat {
            unit_price: d(price),
        };
        assert!(flat("1000000000").validate().is_ok());
        assert!(flat("1000000000.01").validate().is_err());
        let far = Pricing::Tiered {
            tiers: vec![
                Tier {
                    up_to: Some(d("1000000000000001")),
                    unit_price: d("1"),
                },
                Tier {
                    up_to: None,
                    unit_price: d("1"),
                },
            ],
        };
        assert!(far.validate().is_err());
        // What a decimal cannot hold is refused by the caller, not a panic.
        let huge = d("79228162514264337593543950335");
        assert_eq!(flat("2").checked_rate(huge), None);
        let dear = Pricing::Tiered {
            tiers: vec![
                Tier {
                    up_to: Some(d("10")),
                    unit_price: d("1"),
                },
                Tier {
                    up_to: None,
                    unit_price: d("2"),
                },
            ],
        };
        assert_eq!(dear.checked_rate(huge), None);
        assert_eq!(flat("2").checked_rate(d("3")), Some(d("6")));
        assert_eq!(
            tiered().checked_rate(d("120")),
            Some(tiered().rate(d("120")))
        );
    }

    #[test]
    fn tier_shapes_are_checked() {
        assert!(tiered().validate().is_ok());
        let bad = [
            vec![],
            vec![Tier {
                up_to: Some(d("10")),
                unit_price: d("1"),
            }],
            vec![
                Tier {
                    up_to: None,
                    unit_price: d("1"),
                },
                Tier {
                    up_to: None,
                    unit_price: d("1"),
                },
            ],
            vec![
                Tier {
                    up_to: Some(d("10")),
                    unit_price: d("1"),
                },
                Tier {
                    up_to: Some(d("5")),
                    unit_price: d("1"),
                },
                Tier {
                    up_to: None,
                    unit_price: d("1"),
                },
            ],
            vec![Tier {
                up_to: None,
                unit_price: d("-1"),
            }],
        ];
        for tiers in bad {
            assert!(
                Pricing::Tiered {
                    tiers: tiers.clone()
                }
                .validate()
                .is_err(),
                "{tiers:?}"
            );
        }
        assert!(Pricing::Flat {
            unit_price: d("-0.01")
        }
        .validate()
        .is_err());
    }

    fn quantity() -> impl Strategy<Value = Decimal> {
        (0u64..10_000_000, 0u32..4).prop_map(|(units, scale)| Decimal::new(units as i64, scale))
    }

    proptest! {
        #[test]
        fn the_tiers_add_up_to_the_quantity_and_the_price(q in quantity()) {
            let pricing = tiered();
            let parts = pricing.breakdown(q);
            let units: Decimal = parts.iter().map(|(units, _)| *units).sum();
            prop_assert_eq!(units, q);
            let price: Decimal = parts.iter().map(|(units, unit_price)| units * unit_price).sum();
            prop_assert_eq!(price, pricing.rate(q));
        }

        #[test]
        fn more_units_never_cost_less(a in quantity(), b in quantity()) {
            let pricing = tiered();
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(pricing.rate(low) <= pricing.rate(high));
        }

        #[test]
        fn one_unbounded_tier_is_flat(q in quantity(), cents in 0i64..100_000) {
            let price = Decimal::new(cents, 4);
            let tiered = Pricing::Tiered { tiers: vec![Tier { up_to: None, unit_price: price }] };
            prop_assert_eq!(tiered.rate(q), Pricing::Flat { unit_price: price }.rate(q));
        }
    }
}
