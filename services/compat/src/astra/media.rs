//! Content negotiation. A resource is served as `application/json` to a client that accepts
//! anything, and as Astra's own media type to one that asks for it, which also may name the
//! resource version it reads: `Accept: application/astra-subscription+json; version=1.1`.
//! Bodies are taken as JSON or as Astra's media type, nothing else.

use axum::http::{header, HeaderMap};

use super::problems::{Problem, NOT_ACCEPTABLE, UNSUPPORTED_MEDIA};

pub const RESOURCE: &str = "application/astra-subscription";
pub const COLLECTION: &str = "application/astra-subscriptions";
pub const VERSIONS: &[&str] = &["1.0", "1.1", "1.2"];
pub const LATEST: &str = "1.2";

/// How an answer is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub content_type: String,
    /// The resource version asked for, if the client named one.
    pub version: Option<String>,
}

/// What the `Accept` header allows for a resource of `media` (or its collection).
pub fn negotiate(headers: &HeaderMap, media: &str) -> Result<Negotiated, Problem> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(json());
    };
    let accept = accept
        .to_str()
        .map_err(|_| Problem::new(NOT_ACCEPTABLE).detail("the Accept header is not text"))?;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let kind = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut version = None;
        let mut refused = false;
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => refused = value.parse::<f32>().is_ok_and(|q| q <= 0.0),
                "version" => version = Some(value.to_owned()),
                _ => {}
            }
        }
        if refused {
            continue;
        }
        let ours = [media.to_owned(), format!("{media}+json")];
        if ours.contains(&kind) {
            if let Some(v) = &version {
                if !VERSIONS.contains(&v.as_str()) {
                    return Err(Problem::new(NOT_ACCEPTABLE).detail(format!(
                        "version {v} is not served; the versions are {}",
                        VERSIONS.join(", ")
                    )));
                }
            }
            return Ok(Negotiated {
                content_type: kind,
                version,
            });
        }
        if matches!(kind.as_str(), "*/*" | "application/*" | "application/json") {
            return Ok(json());
        }
    }
    Err(Problem::new(NOT_ACCEPTABLE).detail(format!(
        "this resource is served as application/json or {media}+json"
    )))
}

fn json() -> Negotiated {
    Negotiated {
        content_type: "application/json".into(),
        version: None,
    }
}

/// A body must be JSON or Astra's media type (a missing `Content-Type` is read as JSON).
pub fn check_body(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let kind = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let taken = ["application/json", RESOURCE, &format!("{RESOURCE}+json")];
    if taken.contains(&kind.as_str()) {
        Ok(())
    } else {
        Err(Problem::new(UNSUPPORTED_MEDIA).detail(format!(
            "{kind} is not taken; send application/json or {RESOURCE}+json"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Result<Negotiated, Problem> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        negotiate(&headers, RESOURCE)
    }

    #[test]
    fn the_client_chooses_json_or_astras_type_and_a_version() {
        assert_eq!(
            negotiate(&HeaderMap::new(), RESOURCE).unwrap().content_type,
            "application/json"
        );
        assert_eq!(accept("*/*").unwrap().content_type, "application/json");
        let astra = accept("application/astra-subscription+json; version=1.1").unwrap();
        assert_eq!(astra.content_type, "application/astra-subscription+json");
        assert_eq!(astra.version.as_deref(), Some("1.1"));
        assert_eq!(
            accept("text/html, application/astra-subscription")
                .unwrap()
                .content_type,
            "application/astra-subscription"
        );
        assert!(accept("text/html").is_err());
        assert!(accept("application/astra-subscription; version=2.0").is_err());
        assert!(accept("application/json; q=0").is_err());
    }
}
