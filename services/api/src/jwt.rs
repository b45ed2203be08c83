//! Signed bearer tokens (JWT), HS256 and RS256, verified against a key set configured per
//! deployment. Several keys of each kind may be live at once, chosen by the token's `kid`
//! when it has one and tried in turn when not, so a signing key is rotated by adding the new
//! key, moving the signer over, then removing the old one: no one is logged out.
//!
//! A token's claims carry who it is (`sub`), the tenant (`tenant`) and the role (`role`, or the
//! first of `roles`), and may carry a `reseller_id`. `exp` is required; `iss` and `aud` are
//! checked when configured.

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// One verifying key.
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The keys and the checks tokens are verified with.
#[derive(Default)]
pub struct JwtKeys {
    keys: Vec<Key>,
    issuer: Option<String>,
    audience: Option<String>,
}

/// How the keys are configured: `kid=value` or a bare value, comma-separated.
#[derive(Debug, Clone, Default)]
pub struct JwtSettings {
    /// HS256 shared secrets.
    pub hs256_secrets: Vec<String>,
    /// RS256 public keys, PEM text.
    pub rs256_public_keys: Vec<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// The claims a token is accepted with.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub reseller_id: Option<String>,
    pub exp: u64,
}

impl Claims {
    /// The role the token grants: `role`, or the first of `roles`.
    pub fn role(&self) -> Option<&str> {
        self.role
            .as_deref()
            .or_else(|| self.roles.first().map(String::as_str))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("no signing keys are configured for bearer tokens")]
    NoKeys,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token is signed with {0:?}, which is not accepted")]
    Algorithm(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature does not verify with any configured key")]
    Signature,
    #[error("the token's claims are not accepted: {0}")]
    Claims(String),
}

/// `kid=value` into its parts. A kid is a short word of letters, digits, `_` and `.`, and the
/// value does not start with `=`, so bare PEM text or a base64 secret ending in `=` padding is
/// never mistaken for one.
fn named(entry: &str) -> (Option<String>, &str) {
    match entry.split_once('=') {
        Some((kid, value))
            if (1..=64).contains(&kid.len())
                && !value.is_empty()
                && !value.starts_with('=')
                && kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') =>
        {
            (Some(kid.to_owned()), value)
        }
        _ => (None, entry),
    }
}

impl JwtKeys {
    pub fn new(settings: &JwtSettings) -> Result<Self, String> {
        let mut keys = Vec::new();
        for entry in &settings.hs256_secrets {
            let (kid, secret) = named(entry);
            if secret.len() < 32 {
                return Err("an HS256 secret must be at least 32 bytes".into());
            }
            keys.push(Key {
                kid,
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(secret.as_bytes()),
            });
        }
        for entry in &settings.rs256_public_keys {
            let (kid, pem) = named(entry);
            let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| format!("an RS256 public key is not PEM: {e}"))?;
            keys.push(Key {
                kid,
                algorithm: Algorithm::RS256,
                key,
            });
        }
        Ok(Self {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        if self.keys.is_empty() {
            return Err(JwtError::NoKeys);
        }
        let header = decode_header(token).map_err(|_| JwtError::Malformed)?;
        if !matches!(header.alg, Algorithm::HS256 | Algorithm::RS256) {
            return Err(JwtError::Algorithm(format!("{:?}", header.alg)));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let candidates = self.keys.iter().filter(|k| {
            k.algorithm == header.alg
                && match (&header.kid, &k.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    _ => true,
                }
        });
        let mut outcome = Err(JwtError::Signature);
        for key in candidates {
            match decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    let error = match e.kind() {
                        K::InvalidSignature | K::InvalidKeyFormat | K::InvalidRsaKey(_) => {
                            JwtError::Signature
                        }
                        K::ExpiredSignature => JwtError::Expired,
                        K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => {
                            JwtError::Malformed
                        }
                        other => JwtError::Claims(format!("{other:?}")),
                    };
                    // A bad signature may be another key's token: try the next key.
                    if error != JwtError::Signature {
                        return Err(error);
                    }
                    outcome = Err(error);
                }
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";
    const OTHER: &str = "another-test-secret-of-32-bytes-or-more";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn token(secret: &str, kid: Option<&str>, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn keys(secrets: &[&str]) -> JwtKeys {
        JwtKeys::new(&JwtSettings {
            hs256_secrets: secrets.iter().map(|s| s.to_string()).collect(),
            issuer: Some("https://issuer.example".into()),
            ..Default::default()
        })
        .unwrap()
    }

    fn claims(exp: u64) -> serde_json::Value {
        json!({"sub": "u-1", "tenant": "acme", "role": "csp", "exp": exp,
               "iss": "https://issuer.example"})
    }

    #[test]
    fn a_token_signed_with_any_live_key_verifies_and_others_do_not() {
        let both = keys(&[SECRET, &format!("next={OTHER}")]);
        let verified = both
            .verify(&token(SECRET, None, claims(now() + 60)))
            .unwrap();
        assert_eq!(verified.tenant, "acme");
        assert_eq!(verified.role(), Some("csp"));
        assert!(both
            .verify(&token(OTHER, Some("next"), claims(now() + 60)))
            .is_ok());
        // The old key removed: its tokens stop working; the new key's go on.
        let rotated = keys(&[&format!("next={OTHER}")]);
        assert_eq!(
            rotated.verify(&token(SECRET, None, claims(now() + 60))),
            Err(JwtError::Signature)
        );
        assert!(rotated
            .verify(&token(OTHER, Some("next"), claims(now() + 60)))
            .is_ok());
    }

    #[test]
    fn a_kid_is_a_word_and_anything_else_is_the_value() {
        assert_eq!(named("k1=secret"), (Some("k1".into()), "secret"));
        assert_eq!(named("c2VjcmV0c2VjcmV0=="), (None, "c2VjcmV0c2VjcmV0=="));
        assert_eq!(
            named("-----BEGIN KEY-----\nab=="),
            (None, "-----BEGIN KEY-----\nab==")
        );
    }

    #[test]
    fn expired_malformed_and_foreign_tokens_are_refused() {
        let keys = keys(&[SECRET]);
        assert_eq!(
            keys.verify(&token(SECRET, None, claims(now() - 600))),
            Err(JwtError::Expired)
        );
        assert_eq!(keys.verify("not.a.jwt"), Err(JwtError::Malformed));
        let mut other_issuer = claims(now() + 60);
        other_issuer["iss"] = json!("https://elsewhere.example");
        assert!(matches!(
            keys.verify(&token(SECRET, None, other_issuer)),
            Err(JwtError::Claims(_))
        ));
        assert!(JwtKeys::new(&JwtSettings {
            hs256_secrets: vec!["short".into()],
            ..Default::default()
        })
        .is_err());
        assert_eq!(JwtKeys::default().verify("x"), Err(JwtError::NoKeys));
    }
}
