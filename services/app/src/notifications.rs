//! Notification channels: their creation and changes, with signing secrets kept beside the
//! stream (never in it: an event carries only a secret's fingerprint), and replays of single
//! deliveries.

use fleet_domain::notification_channel::{NotificationChannel, NotificationChannelCommand};
use uuid::Uuid;

use crate::command_bus::{CommandMeta, Executed};
use crate::webhooks::fingerprint;
use crate::{App, AppError};

/// A caller's secret (16 to 256 characters), or a new random one.
pub fn new_secret(given: Option<String>) -> Result<String, AppError> {
    match given {
        Some(secret) if secret.len() < 16 || secret.len() > 256 => Err(AppError::unprocessable(
            "secret",
            "must be 16 to 256 characters",
        )),
        Some(secret) => Ok(secret),
        None => {
            let bytes: [u8; 24] = rand::random();
            Ok(format!("whsec_{}", hex::encode(bytes)))
        }
    }
}

async fn store_secret(app: &App, tenant: &str, id: Uuid, secret: &str) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO notification_secrets (channel_id, tenant, secret) VALUES ($1, $2, $3)
         ON CONFLICT (channel_id) DO UPDATE SET secret = EXCLUDED.secret",
    )
    .bind(id)
    .bind(tenant)
    .bind(secret)
    .execute(&app.pool)
    .await?;
    Ok(())
}

/// A target inside the network (loopback, private, metadata…) is refused unless allowed.
async fn check_target(app: &App, url: &str) -> Result<(), AppError> {
    app.settings
        .egress
        .check_target(url)
        .await
        .map_err(|why| AppError::unprocessable("url", why))
}

/// A new channel delivering `event_types` (all when empty) to `url`; answers its secret,
/// to be shown once.
pub async fn create_channel(
    app: &App,
    meta: &CommandMeta,
    name: String,
    url: String,
    event_types: Vec<String>,
    secret: Option<String>,
) -> Result<(Executed<NotificationChannel>, String), AppError> {
    let secret = new_secret(secret)?;
    check_target(app, &url).await?;
    let id = Uuid::now_v7();
    store_secret(app, meta.tenant.as_str(), id, &secret).await?;
    let command = NotificationChannelCommand::Create {
        name,
        url,
        event_types,
        secret_fingerprint: fingerprint(&secret),
        known_types: fleet_events::schemas::event_types(),
    };
    let executed = app
        .bus
        .execute_on_new::<NotificationChannel>(meta, &id.to_string(), command)
        .await?;
    Ok((executed, secret))
}

/// Changes what is given; a new secret is answered, to be shown once.
pub async fn update_channel(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    name: Option<String>,
    url: Option<String>,
    event_types: Option<Vec<String>>,
    secret: Option<String>,
) -> Result<(Executed<NotificationChannel>, Option<String>), AppError> {
    let secret = secret.map(|s| new_secret(Some(s))).transpose()?;
    if let Some(url) = &url {
        check_target(app, url).await?;
    }
    let command = NotificationChannelCommand::Update {
        name,
        url,
        event_types,
        secret_fingerprint: secret.as_deref().map(fingerprint),
        known_types: fleet_events::schemas::event_types(),
    };
    let executed = app
        .bus
        .execute::<NotificationChannel>(meta, &id.to_string(), command)
        .await?;
    if let Some(secret) = &secret {
        store_secret(app, meta.tenant.as_str(), id, secret).await?;
    }
    Ok((executed, secret))
}

/// Delivers the event of a past delivery once more to its channel, which must be active;
/// answers the new delivery's id.
pub async fn replay_delivery(app: &App, tenant: &str, delivery: Uuid) -> Result<Uuid, AppError> {
    let found: Option<(Uuid, i64, String, String)> = sqlx::query_as(
        "SELECT d.channel_id, d.sequence, d.event_type, c.status
           FROM webhook_deliveries d
           JOIN notifications.channels c ON c.id = d.channel_id AND c.tenant = d.tenant
          WHERE d.tenant = $1 AND d.id = $2",
    )
    .bind(tenant)
    .bind(delivery)
    .fetch_optional(&app.pool)
    .await?;
    let Some((channel, sequence, event_type, status)) = found else {
        return Err(AppError::NotFound(format!("delivery {delivery} not found")));
    };
    if status != "active" {
        return Err(AppError::Conflict {
            detail: format!("notification channel {channel} is {status}"),
            current_state: Some(status),
        });
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, tenant, channel_id, sequence, event_type, replay)
         VALUES ($1, $2, $3, $4, $5, true)",
    )
    .bind(id)
    .bind(tenant)
    .bind(channel)
    .bind(sequence)
    .bind(event_type)
    .execute(&app.pool)
    .await?;
    Ok(id)
}
