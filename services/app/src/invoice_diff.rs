//! Comparing two versions of one invoice line by line: the one recorded and one re-derived
//! (verification), or the one issued and one rated under drafts (simulation). Lines are paired
//! by what they bill, not by their place, since two sorts of equal keys may order them apart.

use std::collections::BTreeMap;

use fleet_events::invoice::{InvoiceLine, InvoiceTotals, LineKind};
use rust_decimal::Decimal;

/// What a line bills: the kind, the window its usage occurred in, and the product of a
/// provider's project. An invoice has one line per key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineKey {
    pub adjustment: bool,
    pub window_start: chrono::NaiveDate,
    pub provider_id: String,
    pub project_id: String,
    pub product: String,
}

impl LineKey {
    pub fn of(line: &InvoiceLine) -> Self {
        Self {
            adjustment: line.kind == LineKind::Adjustment,
            window_start: line.origin_period.start,
            provider_id: line.provider_id.clone(),
            project_id: line.project_id.clone(),
            product: line.product.clone(),
        }
    }
}

impl std::fmt::Display for LineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} line {} of project '{}' at provider '{}' for the window from {}",
            if self.adjustment {
                "adjustment"
            } else {
                "usage"
            },
            self.product,
            self.project_id,
            self.provider_id,
            self.window_start
        )
    }
}

/// Lines by key.
pub fn keyed(lines: &[InvoiceLine]) -> BTreeMap<LineKey, &InvoiceLine> {
    lines.iter().map(|l| (LineKey::of(l), l)).collect()
}

/// One invoice's amounts as some source states them.
pub struct Stated<'a> {
    pub currency: &'a str,
    pub lines: &'a [InvoiceLine],
    pub totals: &'a InvoiceTotals,
}

/// The first thing `actual` states differently from `expected`, in words, naming the line and
/// both amounts; `None` when they agree to the cent.
pub fn first_difference(expected: &Stated<'_>, actual: &Stated<'_>) -> Option<String> {
    if expected.currency != actual.currency {
        return Some(format!(
            "currency is {}, re-derived {}",
            actual.currency, expected.currency
        ));
    }
    let (want, have) = (keyed(expected.lines), keyed(actual.lines));
    for (key, line) in &want {
        let Some(other) = have.get(key) else {
            return Some(format!(
                "the {key} is missing (re-derived total {})",
                line.total
            ));
        };
        let show = |value: &Option<serde_json::Value>| {
            value.as_ref().map_or("none".to_owned(), |v| v.to_string())
        };
        let fields = [
            (
                "quantity",
                other.quantity == line.quantity,
                other.quantity.to_string(),
                line.quantity.to_string(),
            ),
            (
                "total",
                other.total == line.total,
                other.total.to_string(),
                line.total.to_string(),
            ),
            (
                "exchange rate",
                other.exchange_rate == line.exchange_rate,
                other.exchange_rate.to_string(),
                line.exchange_rate.to_string(),
            ),
            (
                "price currency",
                other.price_currency == line.price_currency,
                format!("{:?}", other.price_currency),
                format!("{:?}", line.price_currency),
            ),
            (
                "rate",
                other.rate == line.rate,
                show(&other.rate),
                show(&line.rate),
            ),
            (
                "category",
                other.category == line.category,
                other.category.clone(),
                line.category.clone(),
            ),
        ];
        if let Some((name, _, stated, derived)) = fields.iter().find(|f| !f.1) {
            // An amount that differs is the finding; a rate that differs too is why.
            let why = match (*name, fields.iter().find(|f| f.0 == "rate")) {
                ("total", Some((_, false, stated, derived))) => {
                    format!(" (rated at {stated}, re-derived at {derived})")
                }
                _ => String::new(),
            };
            return Some(format!(
                "the {key}: {name} is {stated}, re-derived {derived}{why}"
            ));
        }
    }
    if let Some((key, line)) = have.iter().find(|(key, _)| !want.contains_key(key)) {
        return Some(format!(
            "the {key} (total {}) bills nothing re-derived",
            line.total
        ));
    }
    let (t, u) = (expected.totals, actual.totals);
    let totals: [(&str, Decimal, Decimal); 5] = [
        ("subtotal", u.subtotal, t.subtotal),
        (
            "discount_percentage_value",
            u.discount_percentage_value,
            t.discount_percentage_value,
        ),
        ("discount_total", u.discount_total, t.discount_total),
        ("tax_total", u.tax_total, t.tax_total),
        ("total", u.total, t.total),
    ];
    for (name, stated, derived) in totals {
        if stated != derived {
            return Some(format!("{name} is {stated}, re-derived {derived}"));
        }
    }
    if t.taxes.len() != u.taxes.len() {
        return Some(format!(
            "{} taxes are applied, re-derived {}",
            u.taxes.len(),
            t.taxes.len()
        ));
    }
    for (derived, stated) in t.taxes.iter().zip(&u.taxes) {
        if derived.amount != stated.amount || derived.name != stated.name {
            return Some(format!(
                "tax {} is {}, re-derived {} {}",
                stated.name, stated.amount, derived.name, derived.amount
            ));
        }
    }
    None
}
