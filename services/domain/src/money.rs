//! Money: decimal amounts with an ISO 4217 currency, never a float.
//!
//! Rounding is to the currency's minor unit, half away from zero (2.345 EUR -> 2.35,
//! -2.345 EUR -> -2.35), applied where an amount becomes a line of a bill; intermediate
//! products (quantity x unit price) keep full precision.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Currencies whose minor unit is not 2 digits (ISO 4217); every other code has 2.
const MINOR_UNITS: &[(&str, u32)] = &[
    ("BHD", 3),
    ("CLF", 4),
    ("CLP", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("TND", 3),
    ("UGX", 0),
    ("VND", 0),
    ("XAF", 0),
    ("XOF", 0),
];

/// An ISO 4217 currency code: three upper-case letters.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, DomainError> {
        if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(code.to_owned()))
        } else {
            Err(DomainError::invalid(
                "currency",
                "must be an ISO 4217 code such as EUR",
            ))
        }
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point of the currency's minor unit.
    pub fn minor_units(&self) -> u32 {
        MINOR_UNITS
            .iter()
            .find(|(code, _)| *code == self.0)
            .map_or(2, |(_, digits)| *digits)
    }

    /// Rounds to the minor unit, half away from zero.
    pub fn round(&self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(self.minor_units(), RoundingStrategy::MidpointAwayFromZero)
    }

    /// An amount as a bill states it: rounded, with every minor digit written (12 -> 12.00).
    pub fn amount(&self, amount: Decimal) -> Decimal {
        let mut rounded = self.round(amount);
        rounded.rescale(self.minor_units());
        rounded
    }
}

impl TryFrom<String> for Currency {
    type Error = DomainError;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::parse(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount in a currency. In JSON the amount is a decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Money {
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// The amount rounded to the currency's minor unit.
    pub fn rounded(&self) -> Self {
        Self::new(self.currency.round(self.amount), self.currency.clone())
    }

    /// Converts with `rate` (units of the target per unit of this currency), rounded.
    pub fn convert(&self, rate: Decimal, to: &Currency) -> Self {
        Self::new(to.round(self.amount * rate), to.clone())
    }
}

/// Deserialises a decimal from a JSON string ("0.92") or integer (3), never from a float:
/// a float has already lost the exact value the client meant.
pub fn decimal_str<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Decimal::from_str_exact(text.trim())
            .map_err(|_| D::Error::custom(format!("{text:?} is not a decimal number"))),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => {
            Decimal::from_str_exact(&n.to_string()).map_err(D::Error::custom)
        }
        other => Err(D::Error::custom(format!(
            "must be a decimal string such as \"0.92\", not {other}"
        ))),
    }
}

/// [`decimal_str`] for an optional field (use with `#[serde(default)]`).
pub fn decimal_str_opt<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    decimal_str(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rounding_is_half_away_from_zero_at_the_minor_unit() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(eur.round(d("2.345")), d("2.35"));
        assert_eq!(eur.round(d("-2.345")), d("-2.35"));
        assert_eq!(eur.round(d("2.3449")), d("2.34"));
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy.round(d("100.5")), d("101"));
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(kwd.round(d("1.2345")), d("1.235"));
        // 001's tax case: 14.975% of 20.73 is 3.1043...; the total is 23.83.
        let tax = eur.round(d("20.73") * d("0.14975"));
        assert_eq!(tax, d("3.10"));
        assert_eq!(d("20.73") + tax, d("23.83"));
        assert_eq!(eur.amount(d("12")).to_string(), "12.00");
        assert_eq!(jpy.amount(d("12.5")).to_string(), "13");
    }

    #[test]
    fn currency_codes_are_checked_and_conversions_round() {
        for bad in ["eur", "EURO", "E1R", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let price = Money::new(d("10.00"), usd);
        assert_eq!(price.convert(d("0.9234"), &eur), Money::new(d("9.23"), eur));
        let json =
            serde_json::to_value(Money::new(d("1.50"), Currency::parse("CHF").unwrap())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"amount": "1.50", "currency": "CHF"})
        );
    }
}
