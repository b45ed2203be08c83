//! Inbound webhooks: an outside producer posts its event data, signed with the secret it
//! shares with this deployment, and the delivery becomes an event on the stream (and so
//! reaches every subscriber). A missing or wrong signature is refused before anything is
//! recorded; the secret is never recorded.
//!
//! Signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`, as GitHub
//! and many producers send it. A delivery is recorded once: its id is the `X-Webhook-Id`
//! header when sent, else the body's digest.

use std::collections::HashMap;

use fleet_domain::inbound_hook::{InboundHook, Receive};
use fleet_events::{Actor, Tenant};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::command_bus::{CommandError, CommandMeta};
use crate::{App, AppError};

/// A producer allowed to post: the tenant its deliveries belong to and the shared secret.
#[derive(Clone)]
pub struct Producer {
    pub tenant: Tenant,
    secret: String,
}

/// The producers, by the id in their URL. Its `Debug` never shows a secret.
#[derive(Clone, Default)]
pub struct Producers(HashMap<String, Producer>);

impl std::fmt::Debug for Producers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Producers {
    /// Reads `producer=tenant:secret` entries.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut producers = HashMap::new();
        for entry in entries.iter().filter(|e| !e.trim().is_empty()) {
            let parsed = entry.split_once('=').and_then(|(id, rest)| {
                let (tenant, secret) = rest.split_once(':')?;
                Some((id.trim(), tenant.trim(), secret.trim()))
            });
            let Some((id, tenant, secret)) =
                parsed.filter(|(i, _, s)| !i.is_empty() && s.len() >= 16)
            else {
                return Err(format!(
                    "an inbound hook is producer=tenant:secret, with a secret of 16 characters \
                     or more; got {:?}",
                    entry.split(':').next().unwrap_or_default()
                ));
            };
            let tenant = Tenant::parse(tenant).map_err(|e| e.to_string())?;
            producers.insert(
                id.to_owned(),
                Producer {
                    tenant,
                    secret: secret.to_owned(),
                },
            );
        }
        Ok(Self(producers))
    }

    pub fn get(&self, id: &str) -> Option<&Producer> {
        self.0.get(id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("no such webhook")]
    UnknownProducer,
    #[error("the signature is missing or does not match the body")]
    BadSignature,
    #[error(transparent)]
    App(#[from] AppError),
}

/// `sha256=<hex>` of the body under the secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks and records one delivery; a delivery recorded before is accepted again, unchanged.
pub async fn receive(
    app: &App,
    producer_id: &str,
    signed: Option<&str>,
    delivery_id: Option<&str>,
    body: &[u8],
) -> Result<(), HookError> {
    let producer = app
        .settings
        .inbound_hooks
        .get(producer_id)
        .ok_or(HookError::UnknownProducer)?;
    let given = signed.unwrap_or_default().trim().to_ascii_lowercase();
    // Compare in constant time: the MAC's own check.
    let mut mac = Hmac::<Sha256>::new_from_slice(producer.secret.as_bytes()).expect("any key");
    mac.update(body);
    let ok = given
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .is_some_and(|tag| mac.verify_slice(&tag).is_ok());
    if !ok {
        return Err(HookError::BadSignature);
    }
    let data: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AppError::bad_request("body", format!("the event data is not JSON: {e}")))?;
    let delivery = match delivery_id.filter(|d| !d.trim().is_empty() && d.len() <= 200) {
        Some(d) => d.to_owned(),
        None => hex::encode(Sha256::digest(body)),
    };
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("hook:{producer_id}:{delivery}").as_bytes(),
    );
    let meta = CommandMeta {
        tenant: producer.tenant.clone(),
        actor: Actor::system(&format!("hook:{producer_id}")),
        correlation_id: Uuid::now_v7().to_string(),
        causation_id: None,
        idempotency_key: Some(format!("hook:{id}")),
    };
    let command = Receive {
        producer: producer_id.to_owned(),
        data,
    };
    match app
        .bus
        .execute::<InboundHook>(&meta, &id.to_string(), command)
        .await
    {
        Ok(_) | Err(CommandError::Domain(fleet_domain::DomainError::Unchanged { .. })) => Ok(()),
        Err(e) => Err(HookError::App(e.into())),
    }
}
