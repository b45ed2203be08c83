//! Invoice arithmetic: from rated lines to subtotal, discounts, taxes and total.
//!
//! The rules, in order (the README repeats them for finance):
//! 1. Each line is rated at full precision and rounded to the currency's minor unit, half away
//!    from zero. Everything after works on rounded amounts, so every total is the exact sum of
//!    the parts shown.
//! 2. `subtotal` = sum of the line totals.
//! 3. Discounts come before taxes. The percentage discount is `round(subtotal x pct / 100)`;
//!    the flat discount then takes what it can of the rest, never below zero.
//! 4. A tax without categories applies to `subtotal - discount_total`. A tax with categories
//!    applies to those categories' lines, less their share of the discount (the discount is
//!    shared out in proportion to each category's subtotal, in whole minor units, largest
//!    remainder first, so the shares add up to the discount exactly). Each tax is
//!    `round(base x rate / 100)`.
//! 5. `total` = `subtotal - discount_total + tax_total`.

use std::collections::{BTreeMap, HashSet};

pub use fleet_events::customer::{BillingTerms, TaxRule};
pub use fleet_events::invoice::{AppliedTax, InvoiceTotals};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::money::Currency;
use crate::{validate, DomainError};

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

pub fn validate_terms(terms: &BillingTerms) -> Result<(), DomainError> {
    if let Some(code) = &terms.currency {
        Currency::parse(code)?;
    }
    percent("discount_percentage", terms.discount_percentage)?;
    if terms.discount_flat.is_sign_negative() {
        return Err(DomainError::invalid(
            "discount_flat",
            "must not be negative",
        ));
    }
    let mut names = HashSet::new();
    for tax in &terms.taxes {
        validate::required("taxes.name", &tax.name, 64)?;
        percent("taxes.rate", tax.rate)?;
        validate::optional("taxes.description", tax.description.as_deref(), 255)?;
        if !names.insert(tax.name.as_str()) {
            return Err(DomainError::invalid(
                "taxes.name",
                format!("{} appears twice", tax.name),
            ));
        }
        for category in &tax.categories {
            validate::required("taxes.categories", category, 64)?;
        }
    }
    validate::required("billing_provider", &terms.billing_provider, 64)?;
    if terms.payment_terms_days > 365 {
        return Err(DomainError::invalid(
            "payment_terms_days",
            "must be at most 365",
        ));
    }
    if !terms.metadata.is_object() {
        return Err(DomainError::invalid("metadata", "must be a JSON object"));
    }
    Ok(())
}

fn percent(field: &'static str, value: Decimal) -> Result<(), DomainError> {
    if value.is_sign_negative() || value > HUNDRED {
        return Err(DomainError::invalid(field, "must be between 0 and 100"));
    }
    if value.scale() > 4 {
        return Err(DomainError::invalid(
            field,
            "has more than 4 decimal places",
        ));
    }
    Ok(())
}

/// Totals of lines given as `(category, total)`, each total already rounded.
pub fn totals<'a>(
    currency: &Currency,
    lines: impl IntoIterator<Item = (&'a str, Decimal)>,
    terms: &BillingTerms,
) -> InvoiceTotals {
    let mut by_category: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (category, total) in lines {
        *by_category.entry(category).or_default() += total;
    }
    let subtotal = currency.amount(by_category.values().copied().sum());
    let (percentage_value, flat) = if subtotal > Decimal::ZERO {
        let percentage_value = currency.amount(subtotal * terms.discount_percentage / HUNDRED);
        let flat = currency
            .amount(terms.discount_flat)
            .min(subtotal - percentage_value)
            .max(currency.amount(Decimal::ZERO));
        (percentage_value, flat)
    } else {
        (
            currency.amount(Decimal::ZERO),
            currency.amount(Decimal::ZERO),
        )
    };
    let discount_total = percentage_value + flat;
    let shares = share_out(currency, discount_total, &by_category);
    let taxes: Vec<AppliedTax> = terms
        .taxes
        .iter()
        .map(|tax| {
            let base = if tax.categories.is_empty() {
                subtotal - discount_total
            } else {
                by_category
                    .iter()
                    .filter(|(category, _)| tax.categories.iter().any(|c| c == *category))
                    .map(|(category, sum)| sum - shares.get(category).copied().unwrap_or_default())
                    .sum()
            };
            AppliedTax {
                name: tax.name.clone(),
                rate: tax.rate,
                description: tax.description.clone(),
                categories: tax.categories.clone(),
                base: currency.amount(base),
                amount: currency.amount(base * tax.rate / HUNDRED),
            }
        })
        .collect();
    let tax_total = currency.amount(taxes.iter().map(|t| t.amount).sum());
    InvoiceTotals {
        subtotal,
        discount_percentage: terms.discount_percentage,
        discount_percentage_value: percentage_value,
        discount_flat: flat,
        discount_total,
        taxes,
        tax_total,
        total: currency.amount(subtotal - discount_total + tax_total),
    }
}

/// Shares `amount` out over the categories in proportion to their sums, in whole minor
/// units: each gets the floor of its share, and the units left go to the largest remainders.
fn share_out<'a>(
    currency: &Currency,
    amount: Decimal,
    sums: &BTreeMap<&'a str, Decimal>,
) -> BTreeMap<&'a str, Decimal> {
    let whole: Decimal = sums.values().copied().sum();
    if amount.is_zero() || whole <= Decimal::ZERO {
        return sums.keys().map(|c| (*c, Decimal::ZERO)).collect();
    }
    let digits = currency.minor_units();
    let unit = Decimal::new(1, digits);
    let mut shares: Vec<(&str, Decimal, Decimal)> = sums
        .iter()
        .map(|(category, sum)| {
            let exact = amount * sum / whole;
            let floor = exact.round_dp_with_strategy(digits, RoundingStrategy::ToZero);
            (*category, floor, exact - floor)
        })
        .collect();
    let mut left = amount - shares.iter().map(|s| s.1).sum::<Decimal>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].2.cmp(&shares[*a].2).then(a.cmp(b)));
    for i in order {
        if left < unit {
            break;
        }
        shares[i].1 += unit;
        left -= unit;
    }
    shares.into_iter().map(|(c, share, _)| (c, share)).collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn cad() -> Currency {
        Currency::parse("CAD").unwrap()
    }

    fn tax(name: &str, rate: &str, categories: &[&str]) -> TaxRule {
        TaxRule {
            name: name.into(),
            rate: d(rate),
            description: None,
            categories: categories.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn ormuco_tax_case_20_73_at_14_975_percent() {
        let terms = BillingTerms {
            taxes: vec![tax("hst", "14.975", &[])],
            ..BillingTerms::default()
        };
        let t = totals(&cad(), [("compute", d("20.73"))], &terms);
        assert_eq!(t.subtotal, d("20.73"));
        assert_eq!(t.taxes[0].amount, d("3.10"));
        assert_eq!(t.total, d("23.83"));
    }

    #[test]
    fn percentage_then_flat_discount_before_tax() {
        // 001's CSV: 24.04 with a 100% coupon is 0; 1.14 with 14.975% tax is 1.31.
        let free = BillingTerms {
            discount_percentage: d("100"),
            ..BillingTerms::default()
        };
        let t = totals(&cad(), [("compute", d("24.04"))], &free);
        assert_eq!((t.discount_total, t.total), (d("24.04"), d("0")));
        let taxed = BillingTerms {
            taxes: vec![tax("hst", "14.975", &[])],
            ..BillingTerms::default()
        };
        assert_eq!(
            totals(&cad(), [("compute", d("1.14"))], &taxed).total,
            d("1.31")
        );
        // 10% of 200.00 is 20.00, then 15.00 flat; 13% tax on 165.00 is 21.45.
        let terms = BillingTerms {
            discount_percentage: d("10"),
            discount_flat: d("15"),
            taxes: vec![tax("vat", "13", &[])],
            ..BillingTerms::default()
        };
        let t = totals(
            &cad(),
            [("compute", d("150.00")), ("storage", d("50.00"))],
            &terms,
        );
        assert_eq!(t.discount_percentage_value, d("20.00"));
        assert_eq!(t.discount_flat, d("15"));
        assert_eq!(t.discount_total, d("35.00"));
        assert_eq!(t.taxes[0].base, d("165.00"));
        assert_eq!(t.taxes[0].amount, d("21.45"));
        assert_eq!(t.total, d("186.45"));
        // A flat discount larger than what is left stops at zero.
        let big = BillingTerms {
            discount_flat: d("500"),
            ..BillingTerms::default()
        };
        let t = totals(&cad(), [("compute", d("12.34"))], &big);
        assert_eq!((t.discount_flat, t.total), (d("12.34"), d("0.00")));
    }

    #[test]
    fn category_taxes_take_their_share_of_the_discount() {
        // 1.00 off 3.00: compute (2.00) takes 0.67, storage (1.00) 0.33.
        let terms = BillingTerms {
            discount_flat: d("1.00"),
            taxes: vec![tax("storage-levy", "10", &["storage"])],
            ..BillingTerms::default()
        };
        let t = totals(
            &cad(),
            [("compute", d("2.00")), ("storage", d("1.00"))],
            &terms,
        );
        assert_eq!(t.taxes[0].base, d("0.67"));
        assert_eq!(t.taxes[0].amount, d("0.07"));
        assert_eq!(t.total, d("2.07"));
    }

    #[test]
    fn terms_are_validated() {
        let bad = |terms: BillingTerms| validate_terms(&terms).unwrap_err().to_string();
        let ok = BillingTerms::default();
        assert!(validate_terms(&ok).is_ok());
        assert!(bad(BillingTerms {
            discount_percentage: d("120"),
            ..ok.clone()
        })
        .starts_with("discount_percentage"));
        assert!(bad(BillingTerms {
            taxes: vec![tax("a", "5", &[]), tax("a", "6", &[])],
            ..ok.clone()
        })
        .contains("appears twice"));
        assert!(bad(BillingTerms {
            currency: Some("euro".into()),
            ..ok.clone()
        })
        .starts_with("currency"));
        assert!(bad(BillingTerms {
            metadata: serde_json::json!([1]),
            ..ok
        })
        .starts_with("metadata"));
    }

    fn cents(max: i64) -> impl Strategy<Value = Decimal> {
        (0..max).prop_map(|c| Decimal::new(c, 2))
    }

    proptest! {
        #[test]
        fn totals_are_the_sum_of_their_parts(
            lines in prop::collection::vec((0..3usize, cents(1_000_000)), 0..20),
            pct in (0..=10_000i64).prop_map(|p| Decimal::new(p, 2)),
            flat in cents(100_000),
            rates in prop::collection::vec(((0..=100_000i64).prop_map(|r| Decimal::new(r, 3)), any::<bool>()), 0..3),
        ) {
            let categories = ["compute", "storage", "network"];
            let taxes = rates.iter().enumerate().map(|(i, (rate, on_storage))| TaxRule {
                name: format!("t{i}"),
                rate: *rate,
                description: None,
                categories: if *on_storage { vec!["storage".into()] } else { vec![] },
            }).collect();
            let terms = BillingTerms { discount_percentage: pct, discount_flat: flat, taxes, ..BillingTerms::default() };
            let lines: Vec<(&str, Decimal)> = lines.iter().map(|(c, t)| (categories[*c], *t)).collect();
            let t = totals(&cad(), lines.iter().copied(), &terms);
            let rated: Decimal = lines.iter().map(|l| l.1).sum();
            prop_assert_eq!(t.subtotal, rated);
            prop_assert!(t.discount_total >= Decimal::ZERO && t.discount_total <= t.subtotal);
            prop_assert_eq!(t.discount_total, t.discount_percentage_value + t.discount_flat);
            let tax_sum: Decimal = t.taxes.iter().map(|x| x.amount).sum();
            prop_assert_eq!(t.tax_total, tax_sum);
            prop_assert_eq!(t.total, rated - t.discount_total + tax_sum);
            prop_assert!(t.total >= Decimal::ZERO);
            // The discounts, worked out independently: percentage first, then the flat amount
            // up to what is left.
            let pct_value = cad().round(rated * pct / HUNDRED);
            prop_assert_eq!(t.discount_percentage_value, pct_value);
            let flat_applied = flat.min(rated - pct_value).max(Decimal::ZERO);
            prop_assert_eq!(t.discount_flat, if rated > Decimal::ZERO { flat_applied } else { Decimal::ZERO });
            for applied in &t.taxes {
                if applied.categories.is_empty() {
                    prop_assert_eq!(applied.base, t.subtotal - t.discount_total);
                }
                prop_assert!(applied.base >= Decimal::ZERO && applied.base <= t.subtotal - t.discount_total);
                prop_assert_eq!(applied.amount, cad().round(applied.base * applied.rate / HUNDRED));
                prop_assert!(applied.amount.scale() <= 2);
            }
            prop_assert!(t.total.scale() <= 2);
        }
    }
}
