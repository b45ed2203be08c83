//! Who may do what: API keys, the roles they carry and the permissions each role has. Every
//! HTTP face (the native API and each dialect) resolves its own credential header onto the
//! same keys and asks the same questions.
//!
//! A key is shown once when created; only its SHA-256 is stored. A key belongs to one tenant
//! and has one role. Resolved keys are cached for a short while ([`CACHE_TTL`], 30 s by
//! default) so that a request does not cost a database round trip; a revoked key stops working
//! within that time. The cache is bounded: known keys and unknown ones are kept apart, each up
//! to a fixed count with the oldest dropped first, so a flood of made-up keys neither grows it
//! nor pushes out the keys in use.
//!
//! A key is rotated by issuing a new one with the same tenant, role and name, and revoking the
//! old one at a time given (now, or after a grace for its holders to switch).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleet_events::{Actor, Tenant};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::AppError;

/// How long a resolved key is trusted without asking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// Keys in use remembered at once.
const KNOWN_KEYS: usize = 10_000;
/// Made-up or revoked keys remembered at once.
const UNKNOWN_KEYS: usize = 1_000;
pub const KEY_PREFIX: &str = "flk_";

/// Where a request came from, for the actor recorded on its events.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub correlation_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Operator,
    Billing,
    Auditor,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Operator,
        Role::Billing,
        Role::Auditor,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Billing => "billing",
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller may do. Reading is open to every role of the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Change the fleet: instances and their lifecycle.
    OperateFleet,
    /// Manage customers, their users, subscriptions and subscription requests.
    ManageAccounts,
    /// Read the audit log.
    ReadAudit,
    /// Manage webhook channels and replay events to them.
    ManageNotifications,
    /// Manage currencies, products, prices and cost rates.
    ManagePricing,
    /// Set customers' billing terms; generate invoices and move them through their lifecycle.
    ManageInvoices,
    /// Report across every reseller's customers (001's "collection admin").
    ReportAllResellers,
}

impl Permission {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Permission::OperateFleet => matches!(role, Role::Admin | Role::Operator),
            Permission::ManageAccounts => {
                matches!(role, Role::Admin | Role::Operator | Role::Billing)
            }
            Permission::ReadAudit => matches!(role, Role::Admin | Role::Auditor),
            Permission::ManageNotifications => matches!(role, Role::Admin | Role::Operator),
            Permission::ManagePricing => matches!(role, Role::Admin | Role::Billing),
            Permission::ManageInvoices => matches!(role, Role::Admin | Role::Billing),
            Permission::ReportAllResellers => matches!(role, Role::Admin),
        }
    }

    pub fn action(self) -> &'static str {
        match self {
            Permission::OperateFleet => "change the fleet",
            Permission::ManageAccounts => "manage customers and subscriptions",
            Permission::ReadAudit => "read the audit log",
            Permission::ManageNotifications => "manage notification channels",
            Permission::ManagePricing => "manage prices and currencies",
            Permission::ManageInvoices => "manage invoices and billing terms",
            Permission::ReportAllResellers => "report on every reseller's customers",
        }
    }
}

/// An authenticated caller: the key, its tenant and its role.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: Tenant,
    pub role: Role,
    /// The API key's id, or for a bearer token an id derived from its subject.
    pub key_id: Uuid,
    pub key_name: Option<String>,
    /// A bearer token's subject; `None` for an API key.
    pub subject: Option<String>,
}

impl Principal {
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if permission.allows(self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                role: self.role.to_string(),
                action: permission.action(),
            })
        }
    }

    pub fn actor(&self, meta: &Origin) -> Actor {
        if let Some(subject) = &self.subject {
            return Actor {
                id: format!("jwt:{subject}"),
                name: self.key_name.clone(),
                role: self.role.to_string(),
                auth_method: "jwt".into(),
                credential_id: None,
                ip: meta.ip.clone(),
                user_agent: meta.user_agent.clone(),
            };
        }
        Actor {
            id: format!("apikey:{}", self.key_id),
            name: self.key_name.clone(),
            role: self.role.to_string(),
            auth_method: "api_key".into(),
            credential_id: Some(self.key_id.to_string()),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
        }
    }
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates an API key and returns its id and the key itself, which is stored nowhere.
pub async fn create_api_key(
    pool: &PgPool,
    tenant: &Tenant,
    role: Role,
    name: Option<&str>,
) -> Result<(Uuid, String), sqlx::Error> {
    let secret: [u8; 24] = rand::random();
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO api_keys (id, tenant, role, name, key_hash) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(tenant.as_str())
    .bind(role.as_str())
    .bind(name)
    .bind(hash_key(&key))
    .execute(pool)
    .await?;
    Ok((id, key))
}

/// A resolved key hash: its caller (`None` for an unknown key) and when it was looked up.
type CachedKey = (Option<Principal>, Instant);

/// A map of at most `capacity` entries that drops the oldest first: O(1) per insert.
#[derive(Default)]
struct Bounded {
    entries: HashMap<String, CachedKey>,
    order: VecDeque<String>,
}

impl Bounded {
    fn insert(&mut self, hash: String, value: CachedKey, capacity: usize) {
        if self.entries.insert(hash.clone(), value).is_none() {
            self.order.push_back(hash);
        }
        while self.entries.len() > capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }

    fn remove(&mut self, hash: &str) {
        if self.entries.remove(hash).is_some() {
            self.order.retain(|h| h != hash);
        }
    }
}

#[derive(Default)]
struct Entries {
    known: Bounded,
    unknown: Bounded,
}

#[derive(Clone)]
pub struct KeyCache {
    entries: Arc<Mutex<Entries>>,
    ttl: Duration,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::with_ttl(CACHE_TTL)
    }
}

impl KeyCache {
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            entries: Default::default(),
            ttl,
        }
    }

    /// How many keys it holds now: (known, unknown).
    pub fn len(&self) -> (usize, usize) {
        let entries = self.entries.lock().expect("poisoned");
        (entries.known.entries.len(), entries.unknown.entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// The caller a presented key belongs to; `None` for an unknown or revoked key.
    pub async fn resolve(&self, pool: &PgPool, key: &str) -> Result<Option<Principal>, AppError> {
        let hash = hash_key(key);
        {
            let entries = self.entries.lock().expect("poisoned");
            let cached = entries
                .known
                .entries
                .get(&hash)
                .or_else(|| entries.unknown.entries.get(&hash));
            if let Some((caller, at)) = cached {
                if at.elapsed() < self.ttl {
                    return Ok(caller.clone());
                }
            }
        }
        let row: Option<(Uuid, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, tenant, role, name FROM api_keys
              WHERE key_hash = $1 AND (revoked_at IS NULL OR revoked_at > now())",
        )
        .bind(&hash)
        .fetch_optional(pool)
        .await?;
        let caller = row.and_then(|(key_id, tenant, role, key_name)| {
            Some(Principal {
                tenant: Tenant::parse(&tenant).ok()?,
                role: Role::parse(&role)?,
                key_id,
                key_name,
                subject: None,
            })
        });
        let mut entries = self.entries.lock().expect("poisoned");
        let entry = (caller.clone(), Instant::now());
        if caller.is_some() {
            entries.unknown.remove(&hash);
            entries.known.insert(hash, entry, KNOWN_KEYS);
        } else {
            entries.known.remove(&hash);
            entries.unknown.insert(hash, entry, UNKNOWN_KEYS);
        }
        Ok(caller)
    }
}

/// An API key as `fleetd apikey list` shows it: never the key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub tenant: String,
    pub role: String,
    pub name: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it stops (stopped) working; `None` while it works.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The keys of a tenant (every tenant's for `None`), oldest first.
pub async fn list_api_keys(
    pool: &PgPool,
    tenant: Option<&Tenant>,
) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant, role, name, created_at, revoked_at FROM api_keys
          WHERE ($1::text IS NULL OR tenant = $1) ORDER BY created_at, id",
    )
    .bind(tenant.map(Tenant::as_str))
    .fetch_all(pool)
    .await
}

/// Revokes a key at `at` (now, or later for a rotation's grace); answers the key, or `None`
/// when there is no such key working.
pub async fn revoke_api_key(
    pool: &PgPool,
    id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE api_keys SET revoked_at = $2
          WHERE id = $1 AND (revoked_at IS NULL OR revoked_at > $2)
         RETURNING id, tenant, role, name, created_at, revoked_at",
    )
    .bind(id)
    .bind(at)
    .fetch_optional(pool)
    .await
}

/// Issues a new key with the old one's tenant, role and name, and revokes the old one after
/// `grace`; answers the new key's id and the key, or `None` when the old key is not working.
pub async fn rotate_api_key(
    pool: &PgPool,
    id: Uuid,
    grace: Duration,
) -> Result<Option<(Uuid, String, ApiKeyRow)>, sqlx::Error> {
    let until = chrono::Utc::now()
        + chrono::Duration::from_std(grace).unwrap_or_else(|_| chrono::Duration::zero());
    let Some(old) = revoke_api_key(pool, id, until).await? else {
        return Ok(None);
    };
    let (Ok(tenant), Some(role)) = (Tenant::parse(&old.tenant), Role::parse(&old.role)) else {
        return Ok(None);
    };
    let (new_id, key) = create_api_key(pool, &tenant, role, old.name.as_deref()).await?;
    Ok(Some((new_id, key, old)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_drops_its_oldest_entries_past_its_capacity() {
        let mut cache = Bounded::default();
        for i in 0..1_500 {
            cache.insert(format!("made-up-{i}"), (None, Instant::now()), 1_000);
        }
        assert_eq!(cache.entries.len(), 1_000);
        assert_eq!(cache.order.len(), 1_000);
        assert!(!cache.entries.contains_key("made-up-0"));
        assert!(cache.entries.contains_key("made-up-1499"));
        // Looking a key up again refreshes it in place: no second place in the order.
        cache.insert("made-up-1499".into(), (None, Instant::now()), 1_000);
        assert_eq!(cache.order.len(), 1_000);
        cache.remove("made-up-1499");
        assert_eq!((cache.entries.len(), cache.order.len()), (999, 999));
    }
}
