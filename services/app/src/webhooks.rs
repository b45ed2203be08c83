//! Webhook delivery: drains the `webhook_deliveries` outbox, signs each request, retries with
//! backoff and records every attempt. Any number of fleetd processes may send: a delivery is
//! leased (its next attempt pushed out) when taken, so a crashed sender's work is retried.
//!
//! Signature: `Fleet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
//! a receiver recomputes it and rejects old timestamps to stop replays.

use std::time::Duration;

use chrono::Utc;
use fleet_events::EventLog;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::App;

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// First retry delay; each further one doubles, up to an hour.
    pub backoff: Duration,
    /// Attempts before a delivery is given up as failed.
    pub max_attempts: i32,
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            backoff: Duration::from_secs(1),
            max_attempts: 8,
            timeout: Duration::from_secs(10),
        }
    }
}

pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// An error with what caused it (the resolver's refusal is a cause of the send's failure).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

pub fn fingerprint(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(&Sha256::digest(secret.as_bytes())[..6])
}

struct Due {
    id: Uuid,
    tenant: String,
    channel_id: Uuid,
    sequence: i64,
    attempts: i32,
}

pub async fn run(state: App, settings: WebhookSettings, mut shutdown: watch::Receiver<bool>) {
    // No redirect is followed (a 3xx is a failed delivery: following it would resend the
    // signed body wherever it points), and names resolve only to addresses the egress policy
    // allows, checked where the connection is made.
    let client = match reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(crate::egress::GuardedResolver(
            state.settings.egress.clone(),
        ))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "webhook client");
            return;
        }
    };
    while !*shutdown.borrow() {
        let sent = match claim(&state.pool, settings.timeout).await {
            Ok(due) => {
                let count = due.len();
                let sends = due
                    .into_iter()
                    .map(|delivery| deliver(&state, &client, &settings, delivery));
                futures::future::join_all(sends).await;
                count
            }
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries");
                0
            }
        };
        if sent == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Takes up to 32 due deliveries, pushing their next attempt past the send timeout so that
/// no other sender takes them meanwhile.
async fn claim(pool: &PgPool, lease: Duration) -> Result<Vec<Due>, sqlx::Error> {
    let rows: Vec<(Uuid, String, Uuid, i64, i32)> = sqlx::query_as(
        "UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => $1)
         WHERE id IN (SELECT id FROM webhook_deliveries
                      WHERE status = 'pending' AND next_attempt_at <= now()
                      ORDER BY next_attempt_at LIMIT 32 FOR UPDATE SKIP LOCKED)
         RETURNING id, tenant, channel_id, sequence, attempts",
    )
    .bind(lease.as_secs_f64() * 2.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, tenant, channel_id, sequence, attempts)| Due {
            id,
            tenant,
            channel_id,
            sequence,
            attempts,
        })
        .collect())
}

async fn deliver(state: &App, client: &reqwest::Client, settings: &WebhookSettings, due: Due) {
    if let Err(e) = try_deliver(state, client, settings, &due).await {
        tracing::warn!(delivery = %due.id, error = %e, "recording a webhook attempt");
    }
}

async fn try_deliver(
    state: &App,
    client: &reqwest::Client,
    settings: &WebhookSettings,
    due: &Due,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let target: Option<(String, String, String)> = sqlx::query_as(
        "SELECT c.url, c.status, s.secret FROM notifications.channels c
         JOIN notification_secrets s ON s.channel_id = c.id
         WHERE c.id = $1 AND c.tenant = $2",
    )
    .bind(due.channel_id)
    .bind(&due.tenant)
    .fetch_optional(&state.pool)
    .await?;
    let Some((url, _, secret)) = target.filter(|(_, status, _)| status == "active") else {
        sqlx::query("UPDATE webhook_deliveries SET status = 'cancelled' WHERE id = $1")
            .bind(due.id)
            .execute(&state.pool)
            .await?;
        return Ok(());
    };
    let event = state
        .log
        .read_at(due.sequence as u64)
        .await?
        .ok_or("the event is not in the stream")?;
    let body = serde_json::to_vec(&event)?;
    let timestamp = Utc::now().timestamp();
    let signature = sign(&secret, timestamp, &body);
    let attempt = due.attempts + 1;
    // An address written in the URL is not resolved: it is checked here.
    let (code, error) = match state.settings.egress.check_literal(&url) {
        Err(why) => (None, Some(why)),
        Ok(()) => {
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .header("fleet-delivery-id", due.id.to_string())
                .header("fleet-event-id", event.event.event_id.to_string())
                .header("fleet-event-type", &event.event.event_type)
                .header("fleet-signature", format!("t={timestamp},v1={signature}"))
                .body(body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    (Some(response.status().as_u16()), None)
                }
                Ok(response) if response.status().is_redirection() => (
                    Some(response.status().as_u16()),
                    Some(format!(
                        "the endpoint answered {}: redirects are not followed",
                        response.status()
                    )),
                ),
                Ok(response) => (
                    Some(response.status().as_u16()),
                    Some(format!("the endpoint answered {}", response.status())),
                ),
                Err(e) => (None, Some(with_causes(&e))),
            }
        }
    };
    match error {
        None => {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = $2,
                     last_status_code = $3, last_error = NULL, delivered_at = now()
                 WHERE id = $1",
            )
            .bind(due.id)
            .bind(attempt)
            .bind(code.map(i32::from))
            .execute(&state.pool)
            .await?;
        }
        Some(error) => {
            let give_up = attempt >= settings.max_attempts;
            let backoff = settings
                .backoff
                .saturating_mul(1 << (attempt - 1).min(20))
                .min(Duration::from_secs(3600));
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status_code = $4,
                     last_error = $5, next_attempt_at = now() + make_interval(secs => $6)
                 WHERE id = $1",
            )
            .bind(due.id)
            .bind(if give_up { "failed" } else { "pending" })
            .bind(attempt)
            .bind(code.map(i32::from))
            .bind(error)
            .bind(backoff.as_secs_f64())
            .execute(&state.pool)
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let a = sign("s3cret", 1_700_000_000, b"{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, sign("s3cret", 1_700_000_001, b"{}"));
        assert_ne!(a, sign("s3cret", 1_700_000_000, b"{ }"));
        assert_ne!(a, sign("other", 1_700_000_000, b"{}"));
        // RFC 4231 test case 2 shape: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex = hex::encode(mac.finalize().into_bytes());
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
