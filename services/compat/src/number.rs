//! A decimal written as a JSON number, digit for digit: the dialects whose documents write
//! amounts and rates as numbers still never put them through a binary float.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// A JSON number as exact as the decimal: `17.488333`, `14.975`, `0.005`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exact(pub Decimal);

impl Serialize for Exact {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.0.normalize().to_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl JsonSchema for Exact {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Exact".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "number", "description": "A decimal, exact to its last digit"})
    }
}
