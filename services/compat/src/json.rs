//! Request bodies read the way the source systems read them: an empty body is an empty
//! object, and a value that does not fit names its field with the reason. Each dialect words
//! the failure in its own error body.

use serde::de::DeserializeOwned;

/// Most bytes a dialect's body may have.
pub const LIMIT: usize = 1 << 20;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// Too large, or not JSON at all.
    Body(String),
    /// JSON, but this field does not fit.
    Field { field: String, reason: String },
}

/// Reads `bytes` as `T`. A blank body reads as `{}`.
pub fn read<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Unreadable> {
    if bytes.len() > LIMIT {
        return Err(Unreadable::Body(format!(
            "the body is larger than {LIMIT} bytes"
        )));
    }
    if fleet_app::input::json_holds_nul(bytes) {
        return Err(Unreadable::Body(format!(
            "the body {}",
            fleet_app::input::NUL_REFUSED
        )));
    }
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Unreadable::Body(format!("JSON parse error - {inner}"));
        }
        let message = inner.to_string();
        // A missing or unknown field at the root is named in the message, not in the path.
        let field = if path == "." {
            message.split('`').nth(1).unwrap_or("body").to_owned()
        } else {
            path
        };
        let reason = message
            .split(" at line")
            .next()
            .unwrap_or(&message)
            .to_owned();
        Unreadable::Field { field, reason }
    })
}

/// A JSON number (or a string holding one) read digit for digit as a decimal: its text is
/// taken as written, never through a binary float, so `1.00000003` stays `1.00000003`.
pub fn exact_decimal<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<rust_decimal::Decimal, D::Error> {
    use serde::de::{Deserialize, Error};
    let raw = <Box<serde_json::value::RawValue>>::deserialize(deserializer)?;
    let text = raw.get().trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let parsed = if text.contains(['e', 'E']) {
        rust_decimal::Decimal::from_scientific(text)
    } else {
        rust_decimal::Decimal::from_str_exact(text)
    };
    parsed.map_err(|_| D::Error::custom(format!("{text} is not a decimal number")))
}

/// [`exact_decimal`] for an optional field (use with `#[serde(default)]`).
pub fn exact_decimal_opt<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<rust_decimal::Decimal>, D::Error> {
    exact_decimal(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Rate {
        #[serde(deserialize_with = "exact_decimal")]
        rate: rust_decimal::Decimal,
    }

    #[test]
    fn numbers_are_read_digit_for_digit() {
        for text in ["1.00000003", "0.12345678901234567890123", "\"2.50\"", "100"] {
            let body = format!("{{\"rate\": {text}}}");
            let rate: Rate = read(body.as_bytes()).unwrap();
            assert_eq!(rate.rate.to_string(), text.trim_matches('"'));
        }
        assert!(matches!(
            read::<Rate>(br#"{"rate": "abc"}"#),
            Err(Unreadable::Field { ref field, .. }) if field == "rate"
        ));
        assert!(read::<Rate>(br#"{"rate": true}"#).is_err());
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Scale {
        #[serde(rename = "capacityToBeAdded")]
        capacity: i64,
        tags: Option<Vec<Tag>>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Tag {
        key: String,
    }

    #[test]
    fn a_bad_field_is_named_by_its_path() {
        let missing = read::<Scale>(b"").unwrap_err();
        assert!(
            matches!(&missing, Unreadable::Field { field, .. } if field == "capacityToBeAdded"),
            "{missing:?}"
        );
        let nested = read::<Scale>(br#"{"capacityToBeAdded": 1, "tags": [{"key": 3}]}"#);
        assert!(
            matches!(&nested, Err(Unreadable::Field { field, .. }) if field == "tags[0].key"),
            "{nested:?}"
        );
        assert!(matches!(read::<Scale>(b"{"), Err(Unreadable::Body(_))));
    }
}
