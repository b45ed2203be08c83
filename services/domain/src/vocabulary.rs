//! The fixed vocabularies of the domain, each a type: a value that is not one of its words
//! cannot be held, so it is refused where it is read (naming the field) and documented with
//! its words wherever a schema shows it.
//!
//! Each reads its words whatever their case (`prod`, `PROD`) and writes them one way, the way
//! events record them, so that an event written before the type existed reads the same.

/// Declares a vocabulary: the enum, its words, serde in both directions and its JSON Schema.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            /// The word, in any case.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(text))
            }

            /// Why `text` is not one of the words, for a field's error.
            pub fn expected() -> String {
                format!("must be one of {}", Self::WORDS.join(", "))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                Self::parse(&text).ok_or_else(|| serde::de::Error::custom(Self::expected()))
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": Self::WORDS })
            }
        }
    };
}

vocabulary! {
    /// Where an instance runs.
    CloudProvider {
        Aws => "aws",
        Azure => "azure",
        Gcp => "gcp",
        Oci => "oci",
        OnPrem => "onprem",
    }
}

vocabulary! {
    /// What an instance is for.
    EnvironmentType {
        Dev => "DEV",
        Qa => "QA",
        Staging => "STAGING",
        Canary => "CANARY",
        Prod => "PROD",
        Private => "PRIVATE",
    }
}

vocabulary! {
    /// On which terms a subscription is consumed.
    Terms {
        /// Free until its end, then suspended unless converted.
        Trial => "trial",
        Paid => "paid",
        /// Neither: nothing expires and nothing is collected by this system.
        Neither => "none",
    }
}

vocabulary! {
    /// Where a subscription's payments are recorded.
    Marketplace {
        Direct => "direct",
        Aws => "aws",
        Azure => "azure",
        Gcp => "gcp",
        Netapp => "netapp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_in_any_case_and_are_written_one_way() {
        assert_eq!(EnvironmentType::parse("prod"), Some(EnvironmentType::Prod));
        assert_eq!(CloudProvider::parse("AWS"), Some(CloudProvider::Aws));
        assert_eq!(CloudProvider::parse("mars"), None);
        let read: EnvironmentType = serde_json::from_str("\"staging\"").unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), "\"STAGING\"");
        let refused = serde_json::from_str::<Terms>("\"forever\"").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("must be one of trial, paid, none"),
            "{refused}"
        );
    }

    #[test]
    fn the_schema_lists_the_words() {
        let schema = schemars::schema_for!(Marketplace).to_value();
        assert_eq!(
            schema["enum"],
            serde_json::json!(["direct", "aws", "azure", "gcp", "netapp"])
        );
    }
}
