//! 001's wire forms: numbers with a fixed count of decimals written from decimals, its four
//! ways of writing a time, and the stable uuids of currencies, products and the reseller.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use schemars::JsonSchema;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use super::OrmucoError;

pub type Body<T> = crate::extract::Body<T, OrmucoError>;
pub type Query<T> = crate::extract::Query<T, OrmucoError>;

/// A JSON number with exactly `DP` decimals, written digit for digit from the decimal:
/// `Fixed::<8>` writes a rate of 1 as `1.00000000`, `Fixed::<2>` an amount as `23.83`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed<const DP: u32>(pub Decimal);

impl<const DP: u32> Serialize for Fixed<DP> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = self
            .0
            .round_dp_with_strategy(DP, RoundingStrategy::MidpointAwayFromZero);
        value.rescale(DP);
        let raw = serde_json::value::RawValue::from_string(value.to_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<const DP: u32> JsonSchema for Fixed<DP> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Fixed{DP}").into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "number",
            "description": format!("A decimal written with exactly {DP} decimals"),
        })
    }
}

pub use crate::number::Exact;

impl<const DP: u32> Fixed<DP> {
    pub fn from_decimal(value: Decimal) -> Self {
        Self(value)
    }
}

pub type Rate = Fixed<8>;
pub type Amount = Fixed<2>;

/// `2017-08-17T20:18:00.000+00:00`, as usage periods are written.
pub fn iso_millis(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

/// `2018-08-01T00:00:00+00:00`, as invoice periods and deletion dates are written.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `Thu, 20 Dec 2018 16:19:19 GMT`, as product dates and subscription periods are written.
pub fn rfc1123(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The first instant of a day.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Names the derived uuids apart from any other use of the same words.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6d75_636f_4000_8000_6665_6574_6c65);

/// The reseller a tenant is to Ormuco.
pub fn reseller_uuid(tenant: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("reseller/{tenant}").as_bytes())
}

/// A currency's uuid: stable for its tenant and ISO code.
pub fn currency_uuid(tenant: &str, code: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("currency/{tenant}/{code}").as_bytes())
}

/// A product's uuid: stable for its tenant and product code.
pub fn product_uuid(tenant: &str, code: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("product/{tenant}/{code}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_decimals_and_never_pass_through_a_float() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            serde_json::to_string(&Rate::from_decimal(d("1.00000003"))).unwrap(),
            "1.00000003"
        );
        assert_eq!(
            serde_json::to_string(&Fixed::<8>(d("1"))).unwrap(),
            "1.00000000"
        );
        assert_eq!(
            serde_json::to_string(&Amount::from_decimal(d("23.825"))).unwrap(),
            "23.83"
        );
        assert_eq!(
            serde_json::to_string(&Amount::from_decimal(d("0"))).unwrap(),
            "0.00"
        );
        assert_eq!(
            serde_json::to_string(&Exact(d("14.9750"))).unwrap(),
            "14.975"
        );
    }

    #[test]
    fn times_are_written_as_001_writes_them() {
        let at: DateTime<Utc> = "2018-12-20T16:19:19Z".parse().unwrap();
        assert_eq!(rfc1123(at), "Thu, 20 Dec 2018 16:19:19 GMT");
        assert_eq!(iso(at), "2018-12-20T16:19:19+00:00");
        assert_eq!(iso_millis(at), "2018-12-20T16:19:19.000+00:00");
    }

    #[test]
    fn derived_uuids_are_stable_and_distinct() {
        assert_eq!(currency_uuid("acme", "USD"), currency_uuid("acme", "USD"));
        assert_ne!(currency_uuid("acme", "USD"), currency_uuid("other", "USD"));
        assert_ne!(currency_uuid("acme", "X"), product_uuid("acme", "X"));
    }
}
