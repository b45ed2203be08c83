//! Who may do what: API keys, the roles they carry and the permissions each role has. Every
//! HTTP face (the native API and each dialect) resolves its own credential header onto the
//! same keys and asks the same questions.
//!
//! A key is shown once when created; only its SHA-256 is stored. A key belongs to one tenant
//! and has one role. Resolved keys are cached for a short while so that a request does not
//! cost a database round trip; a revoked key stops working within that time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleet_events::{Actor, Tenant};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::AppError;

const CACHE_TTL: Duration = Duration::from_secs(30);
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

#[derive(Clone, Default)]
pub struct KeyCache {
    entries: Arc<Mutex<HashMap<String, CachedKey>>>,
}

impl KeyCache {
    /// The caller a presented key belongs to; `None` for an unknown or revoked key.
    pub async fn resolve(&self, pool: &PgPool, key: &str) -> Result<Option<Principal>, AppError> {
        let hash = hash_key(key);
        if let Some((caller, at)) = self.entries.lock().expect("poisoned").get(&hash) {
            if at.elapsed() < CACHE_TTL {
                return Ok(caller.clone());
            }
        }
        let row: Option<(Uuid, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, tenant, role, name FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
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
        if entries.len() > 10_000 {
            entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        entries.insert(hash, (caller.clone(), Instant::now()));
        Ok(caller)
    }
}
