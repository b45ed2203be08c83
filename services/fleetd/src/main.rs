//! `fleetd`: Fleetledger's daemon and its operator commands.

mod bench;
mod config;
mod replay;
mod serve;
mod verify;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fleet_api::auth::{create_api_key, Role};
use fleet_events::Tenant;

use crate::config::Config;

/// mimalloc rather than glibc's allocator: under callgrind, malloc and free were a third of
/// what a usage batch cost, and glibc's arenas kept freed batches resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the 16th of its options, which the bindings do not
/// name). At 0 freed pages go back to the system at once instead of a second later: the usage
/// bench peaked at 156 MiB resident rather than 207, for no rate it could tell apart.
const MIMALLOC_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[derive(Parser)]
#[command(
    name = "fleetd",
    version,
    about = "Fleetledger: event-sourced control plane of a fleet and its billing"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

/// Who may call with a signed bearer token (JWT), and which portal domain is which tenant.
#[derive(clap::Args)]
struct TokenArgs {
    /// HS256 secrets (32 bytes or more), comma-separated, each `kid=secret` or bare. Several
    /// at once rotate a key without logging anyone out.
    #[arg(long, env = "FLEET_JWT_HS256_SECRETS", value_delimiter = ',')]
    jwt_hs256_secrets: Vec<String>,
    /// RS256 public keys: PEM files, comma-separated, each `kid=path` or a bare path.
    #[arg(long, env = "FLEET_JWT_RS256_PUBLIC_KEYS", value_delimiter = ',')]
    jwt_rs256_public_keys: Vec<String>,
    /// The `iss` every token must carry, if any.
    #[arg(long, env = "FLEET_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// The `aud` every token must carry, if any.
    #[arg(long, env = "FLEET_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// CloudCockpit's portal domains: `portal.example.com=tenant`, comma-separated.
    #[arg(long, env = "FLEET_CLOUDCOCKPIT_TENANTS", value_delimiter = ',')]
    cloudcockpit_tenants: Vec<String>,
}

impl TokenArgs {
    fn access(self) -> Result<fleet_compat::cloudcockpit::Access, Box<dyn std::error::Error>> {
        let mut rs256 = Vec::new();
        for entry in self
            .jwt_rs256_public_keys
            .iter()
            .filter(|e| !e.trim().is_empty())
        {
            let (kid, path) = match entry.split_once('=') {
                Some((kid, path)) => (Some(kid.trim()), path.trim()),
                None => (None, entry.trim()),
            };
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("reading the RS256 public key {path}: {e}"))?;
            rs256.push(match kid {
                Some(kid) => format!("{kid}={pem}"),
                None => pem,
            });
        }
        let settings = fleet_api::jwt::JwtSettings {
            hs256_secrets: self
                .jwt_hs256_secrets
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .collect(),
            rs256_public_keys: rs256,
            issuer: self.jwt_issuer.filter(|s| !s.is_empty()),
            audience: self.jwt_audience.filter(|s| !s.is_empty()),
        };
        let jwt = fleet_api::jwt::JwtKeys::new(&settings)?;
        let mut tenants = std::collections::BTreeMap::new();
        for entry in self
            .cloudcockpit_tenants
            .iter()
            .filter(|e| !e.trim().is_empty())
        {
            let (domain, tenant) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not `domain=tenant`"))?;
            let tenant = fleet_events::Tenant::parse(tenant.trim())
                .map_err(|e| format!("{entry:?}: {e}"))?;
            tenants.insert(domain.trim().to_ascii_lowercase(), tenant);
        }
        Ok(fleet_compat::cloudcockpit::Access {
            jwt: std::sync::Arc::new(jwt),
            tenants,
        })
    }
}

// Parsed once at start: the serve variant's size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and run the projections.
    Serve {
        #[arg(long, env = "FLEET_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Where Ormuco's Billing API is also served on a listener of its own (001 names port
        /// 9534); empty: only beside the native API.
        #[arg(long, env = "FLEET_ORMUCO_LISTEN", default_value = "127.0.0.1:9534")]
        ormuco_listen: String,
        /// Serve the API only; projections run in other processes.
        #[arg(long, env = "FLEET_NO_PROJECTORS")]
        no_projectors: bool,
        /// Run no process managers or scheduler (they run in other processes).
        #[arg(long, env = "FLEET_NO_PROCESS_MANAGERS")]
        no_process_managers: bool,
        /// How long a query with X-Fleet-Position waits for its read model, in milliseconds.
        #[arg(long, env = "FLEET_READ_WAIT_MS", default_value_t = 5000)]
        read_wait_ms: u64,
        /// Producers that may post signed webhooks to Omnistrate's `/hooks/{id}`:
        /// `producer=tenant:secret`, comma-separated (secrets of 16 characters or more).
        #[arg(
            long,
            env = "FLEET_INBOUND_HOOKS",
            value_delimiter = ',',
            hide_env_values = true
        )]
        inbound_hooks: Vec<String>,
        /// Webhook targets allowed although inside the network (host names, addresses, CIDR
        /// blocks), comma-separated; by default none is.
        #[arg(long, env = "FLEET_WEBHOOK_ALLOWED_TARGETS", value_delimiter = ',')]
        webhook_allowed_targets: Vec<String>,
        /// How long a resolved API key is trusted before it is looked up again, in
        /// milliseconds: a revoked key stops working within this time.
        #[arg(long, env = "FLEET_KEY_CACHE_MS", default_value_t = 30_000)]
        key_cache_ms: u64,
        /// Requests per second per credential, sustained (0: no limit); past it, 429.
        #[arg(long, env = "FLEET_RATE_LIMIT_PER_SECOND", default_value_t = 100)]
        rate_limit_per_second: u32,
        /// Requests a credential may send at once above its sustained rate.
        #[arg(long, env = "FLEET_RATE_LIMIT_BURST", default_value_t = 200)]
        rate_limit_burst: u32,
        /// How long an answer may take to start, in milliseconds; past it, 503.
        #[arg(long, env = "FLEET_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
        request_timeout_ms: u64,
        /// How often the scheduler looks for due deadlines (trial ends), in milliseconds.
        #[arg(long, env = "FLEET_SCHEDULER_INTERVAL_MS", default_value_t = 5000)]
        scheduler_interval_ms: u64,
        /// Draft every customer's invoice of a month this many hours after the month ends
        /// (unset: invoices are made on request only).
        #[arg(long, env = "FLEET_MONTHLY_INVOICES_AFTER_HOURS")]
        monthly_invoices_after_hours: Option<u32>,
        /// First webhook retry delay in milliseconds; each further one doubles.
        #[arg(long, env = "FLEET_WEBHOOK_BACKOFF_MS", default_value_t = 1000)]
        webhook_backoff_ms: u64,
        /// Attempts before a webhook delivery is given up.
        #[arg(long, env = "FLEET_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8)]
        webhook_max_attempts: i32,
        #[command(flatten)]
        tokens: TokenArgs,
    },
    /// Apply database migrations and create the event stream.
    Migrate,
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Rebuild a read model from the event stream while the current one keeps serving.
    Replay(replay::ReplayArgs),
    /// Check a read model against the event stream.
    Verify {
        #[command(subcommand)]
        command: verify::VerifyCommand,
    },
    /// Measure throughput and latency beside this machine's raw ceilings.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create a key; the key is printed alone on the last line and never stored.
    Create {
        #[arg(long, value_parser = parse_tenant)]
        tenant: Tenant,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (never the keys themselves): id, tenant, role, name, created, revoked.
    List {
        #[arg(long, value_parser = parse_tenant)]
        tenant: Option<Tenant>,
    },
    /// Revoke a key now. Processes that resolved it stop taking it within the key cache's
    /// lifetime (`FLEET_KEY_CACHE_MS`, 30 s by default).
    Revoke { id: uuid::Uuid },
    /// Issue a new key with the same tenant, role and name; the old one works until the grace
    /// ends, so its holders can switch without being logged out.
    Rotate {
        id: uuid::Uuid,
        #[arg(long, default_value_t = 0)]
        grace_seconds: u64,
    },
}

async fn apikey(config: &Config, command: ApikeyCommand) -> Result<(), Box<dyn std::error::Error>> {
    use fleet_app::access::{list_api_keys, revoke_api_key, rotate_api_key};
    let pool = config.migrated_database().await?;
    match command {
        ApikeyCommand::Create { tenant, role, name } => {
            let (id, key) = create_api_key(&pool, &tenant, role, name.as_deref()).await?;
            println!(
                "created API key {id} for tenant {tenant} with role {role}; it is shown only once:"
            );
            println!("{key}");
        }
        ApikeyCommand::List { tenant } => {
            println!("id\ttenant\trole\tname\tcreated\trevoked");
            for key in list_api_keys(&pool, tenant.as_ref()).await? {
                let when = |t: chrono::DateTime<chrono::Utc>| {
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    key.id,
                    key.tenant,
                    key.role,
                    key.name.unwrap_or_default(),
                    when(key.created_at),
                    key.revoked_at.map(when).unwrap_or_else(|| "-".into())
                );
            }
        }
        ApikeyCommand::Revoke { id } => {
            match revoke_api_key(&pool, id, chrono::Utc::now()).await? {
                Some(key) => println!(
                    "revoked API key {id} of tenant {}; servers stop taking it within {} s",
                    key.tenant,
                    fleet_app::access::CACHE_TTL.as_secs()
                ),
                None => return Err(format!("no working API key {id}").into()),
            }
        }
        ApikeyCommand::Rotate { id, grace_seconds } => {
            let grace = Duration::from_secs(grace_seconds);
            match rotate_api_key(&pool, id, grace).await? {
                Some((new_id, key, old)) => {
                    println!(
                        "issued API key {new_id} for tenant {} with role {} in place of {id}, \
                         which works for {grace_seconds} s more; the new key is shown only once:",
                        old.tenant, old.role
                    );
                    println!("{key}");
                }
                None => return Err(format!("no working API key {id}").into()),
            }
        }
    }
    Ok(())
}

fn parse_tenant(value: &str) -> Result<Tenant, String> {
    Tenant::parse(value).map_err(|e| e.to_string())
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| {
        format!(
            "unknown role {value:?}; one of {}",
            Role::ALL.map(Role::as_str).join(", ")
        )
    })
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("FLEET_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,async_nats=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // JSON for machines, text for people.
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // SAFETY: sets one of mimalloc's integer options, which it reads atomically.
    unsafe { libmimalloc_sys::mi_option_set(MIMALLOC_PURGE_DELAY, 0) };
    let cli = Cli::parse();
    init_tracing();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let config = cli.config;
    match cli.command {
        Command::Serve {
            listen,
            ormuco_listen,
            no_projectors,
            no_process_managers,
            read_wait_ms,
            inbound_hooks,
            webhook_allowed_targets,
            key_cache_ms,
            rate_limit_per_second,
            rate_limit_burst,
            request_timeout_ms,
            scheduler_interval_ms,
            monthly_invoices_after_hours,
            webhook_backoff_ms,
            webhook_max_attempts,
            tokens,
        } => {
            let options = serve::ServeOptions {
                cockpit: std::sync::Arc::new(tokens.access()?),
                listen,
                ormuco_listen,
                projectors: !no_projectors,
                process_managers: !no_process_managers,
                read_wait: Duration::from_millis(read_wait_ms),
                inbound_hooks: fleet_app::inbound_hooks::Producers::parse(&inbound_hooks)?,
                egress: fleet_app::egress::EgressPolicy::parse(&webhook_allowed_targets)?,
                key_cache_ttl: Duration::from_millis(key_cache_ms),
                limits: fleet_api::limits::LimitSettings {
                    per_second: rate_limit_per_second,
                    burst: rate_limit_burst,
                    request_timeout: Duration::from_millis(request_timeout_ms),
                },
                scheduler: fleet_app::scheduler::SchedulerSettings {
                    interval: Duration::from_millis(scheduler_interval_ms),
                    monthly_invoices_after: monthly_invoices_after_hours
                        .map(|h| chrono::Duration::hours(i64::from(h))),
                },
                webhooks: fleet_app::webhooks::WebhookSettings {
                    backoff: Duration::from_millis(webhook_backoff_ms),
                    max_attempts: webhook_max_attempts.max(1),
                    ..Default::default()
                },
            };
            serve::run(&config, options).await
        }
        Command::Migrate => {
            config.migrated_database().await?;
            let log = config.event_log(config.nats().await?).await?;
            println!("migrations applied; stream {} ready", log.stream_name());
            Ok(())
        }
        Command::Apikey { command } => apikey(&config, command).await,
        Command::Replay(args) => replay::run(&config, args).await,
        Command::Verify { command } => verify::run(&config, command).await,
        Command::Bench { command } => bench::run(&config, command).await,
    }
}

#[cfg(test)]
mod tests {
    use super::MIMALLOC_PURGE_DELAY;

    /// The bindings do not name the option, so its index is ours to keep right: in a process
    /// that has not set it (a test's), option 15 must hold the purge delay's default, 1,000 ms
    /// in the mimalloc 3 these bindings build (`src/options.c`; its header still says 10).
    #[test]
    fn the_option_set_at_start_is_mimalloc_s_purge_delay() {
        // SAFETY: reads one of mimalloc's integer options.
        let value = unsafe { libmimalloc_sys::mi_option_get(MIMALLOC_PURGE_DELAY) };
        assert_eq!(value, 1000);
    }
}
