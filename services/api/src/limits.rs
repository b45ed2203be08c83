//! Limits every request meets, whichever API it speaks, and the open event streams (each is a
//! JetStream consumer) a credential and a tenant may hold at once. The rate is per credential (a token
//! bucket keyed by the credential as presented, so made-up keys are limited too; by address
//! when none is presented), answered 429 with `Retry-After`; and a time limit on producing an
//! answer, answered 503 with `Retry-After` (a streamed body, server-sent events or an
//! export, is limited only until it starts).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};

use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

/// The headers any of the APIs takes a credential in.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-reseller-api-key",
    "x-api-key",
    "apikey",
    "x-auth-token",
];
/// Header fields a request may carry, and their bytes in all (names and values). Real clients
/// send a few hundred bytes in a dozen fields; hyper stops at 100 fields (with a bare 431) and
/// far more bytes, so these are checked here, with a problem that says which.
pub const MAX_HEADERS: usize = 64;
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Buckets kept at once; past this, the full (idle) ones are dropped.
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Requests per second per credential, sustained; 0: no limit.
    pub per_second: u32,
    /// How many may come at once above the sustained rate.
    pub burst: u32,
    pub request_timeout: Duration,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            per_second: 100,
            burst: 200,
            request_timeout: Duration::from_secs(30),
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Event streams a credential may hold open at once.
pub const STREAMS_PER_CREDENTIAL: usize = 10;
/// Event streams a tenant may hold open at once, over all its credentials.
pub const STREAMS_PER_TENANT: usize = 50;

pub struct Limits {
    settings: LimitSettings,
    buckets: Mutex<HashMap<[u8; 16], Bucket>>,
    /// Open event streams by "credential:<id>" and "tenant:<name>".
    streams: Mutex<HashMap<String, usize>>,
}

/// An open event stream's place; given back when the stream ends.
pub struct StreamPlace {
    limits: std::sync::Arc<Limits>,
    keys: [String; 2],
}

impl Drop for StreamPlace {
    fn drop(&mut self) {
        let mut streams = self.limits.streams.lock().expect("poisoned");
        for key in &self.keys {
            if let Some(open) = streams.get_mut(key) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    streams.remove(key);
                }
            }
        }
    }
}

/// Takes a place for one more event stream of the credential and tenant, or says which is
/// full.
pub fn open_stream(
    limits: &std::sync::Arc<Limits>,
    credential: &str,
    tenant: &str,
) -> Result<StreamPlace, ApiError> {
    let keys = [
        format!("credential:{credential}"),
        format!("tenant:{tenant}"),
    ];
    let mut streams = limits.streams.lock().expect("poisoned");
    let full = [
        (STREAMS_PER_CREDENTIAL, "this credential"),
        (STREAMS_PER_TENANT, "this tenant"),
    ]
    .into_iter()
    .zip(&keys)
    .find(|((limit, _), key)| streams.get(*key).copied().unwrap_or(0) >= *limit);
    if let Some(((limit, whose), _)) = full {
        return Err(ApiError::RateLimited {
            retry_after: 5,
            detail: format!("{whose} has {limit} event streams open, its most: close one first"),
        });
    }
    for key in &keys {
        *streams.entry(key.clone()).or_insert(0) += 1;
    }
    drop(streams);
    Ok(StreamPlace {
        limits: limits.clone(),
        keys,
    })
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            settings,
            buckets: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `who`; when there is none, how many seconds until there is.
    fn take(&self, who: [u8; 16]) -> Result<(), u64> {
        let (rate, burst) = (
            f64::from(self.settings.per_second),
            f64::from(self.settings.burst.max(1)),
        );
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("poisoned");
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(who).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(LimitSettings::default())
    }
}

fn caller_of(request: &Request) -> [u8; 16] {
    let mut hasher = Sha256::new();
    let mut presented = false;
    for name in CREDENTIAL_HEADERS {
        if let Some(value) = request.headers().get(*name) {
            hasher.update(name.as_bytes());
            hasher.update(value.as_bytes());
            presented = true;
        }
    }
    if !presented {
        let ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        hasher.update(b"ip:");
        hasher.update(ip.as_bytes());
    }
    let digest = hasher.finalize();
    let mut who = [0u8; 16];
    who.copy_from_slice(&digest[..16]);
    who
}

/// Refuses a request whose headers pass [`MAX_HEADERS`] or [`MAX_HEADER_BYTES`].
fn headers_within_limits(request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        return Err(ApiError::HeadersTooLarge(format!(
            "the request has {} header fields; at most {MAX_HEADERS} are taken",
            headers.len()
        )));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge(format!(
            "the request's headers hold {bytes} bytes; at most {MAX_HEADER_BYTES} are taken"
        )));
    }
    Ok(())
}

pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Err(refused) = headers_within_limits(&request) {
        return refused.into_response();
    }
    let limits = &state.limits;
    if limits.settings.per_second > 0 {
        if let Err(wait) = limits.take(caller_of(&request)) {
            return ApiError::RateLimited {
                retry_after: wait,
                detail: format!("too many requests with this credential: retry in {wait} s"),
            }
            .into_response();
        }
    }
    match tokio::time::timeout(limits.settings.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "the request took longer than {} s",
            limits.settings.request_timeout.as_secs()
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_stream_gives_its_place_back() {
        let limits = std::sync::Arc::new(Limits::default());
        let places: Vec<StreamPlace> = (0..STREAMS_PER_CREDENTIAL)
            .map(|_| open_stream(&limits, "k1", "acme").unwrap())
            .collect();
        assert!(matches!(
            open_stream(&limits, "k1", "acme"),
            Err(ApiError::RateLimited { .. })
        ));
        assert!(
            open_stream(&limits, "k2", "acme").is_ok(),
            "another credential"
        );
        drop(places);
        assert!(open_stream(&limits, "k1", "acme").is_ok());
        assert!(limits
            .streams
            .lock()
            .unwrap()
            .get("credential:k1")
            .is_none());
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limits = Limits::new(LimitSettings {
            per_second: 10,
            burst: 3,
            request_timeout: Duration::from_secs(1),
        });
        let who = [7u8; 16];
        for _ in 0..3 {
            assert!(limits.take(who).is_ok());
        }
        assert_eq!(limits.take(who), Err(1));
        assert!(
            limits.take([8u8; 16]).is_ok(),
            "another caller has its own bucket"
        );
        std::thread::sleep(Duration::from_millis(150));
        assert!(limits.take(who).is_ok(), "a tenth of a second refills one");
    }
}
