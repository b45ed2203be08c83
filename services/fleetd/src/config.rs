//! Configuration: flags, then the environment (`DATABASE_URL`, `NATS_URL`, `FLEET_*`), then
//! local defaults that match `deploy/local`.

use std::time::Duration;

use clap::Args;
use fleet_events::jetstream::{JetStreamLog, StreamSettings};
use fleet_events::Namespace;
use fleet_projections::engine::Streams;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL holding the read models, checkpoints, credentials and idempotency records.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/fleetledger",
        global = true
    )]
    pub database_url: String,

    /// NATS server(s) with JetStream, comma-separated.
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    pub nats_url: String,

    /// Prefix of every stream, subject and consumer name.
    #[arg(long, env = "FLEET_NAMESPACE", default_value = "fleet", value_parser = parse_namespace, global = true)]
    pub namespace: Namespace,

    /// Replicas of the domain stream when it is created (3 in production).
    #[arg(long, env = "FLEET_NATS_REPLICAS", default_value_t = 1, global = true)]
    pub nats_replicas: usize,

    /// Most bytes each stream may hold when it is created (unset: as much as the server
    /// allows). A full stream refuses new events (503); it never drops old ones.
    #[arg(long, env = "FLEET_STREAM_MAX_BYTES", global = true)]
    pub stream_max_bytes: Option<i64>,

    /// Most PostgreSQL connections of this process.
    #[arg(
        long,
        env = "FLEET_DB_MAX_CONNECTIONS",
        default_value_t = 24,
        global = true
    )]
    pub db_max_connections: u32,
}

fn parse_namespace(value: &str) -> Result<Namespace, String> {
    Namespace::parse(value).map_err(|e| e.to_string())
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

impl Config {
    /// Connects to PostgreSQL, creating the database if it does not exist.
    pub async fn database(&self) -> Result<PgPool, sqlx::Error> {
        if !Postgres::database_exists(&self.database_url).await? {
            tracing::info!("creating the database");
            Postgres::create_database(&self.database_url).await?;
        }
        PgPoolOptions::new()
            .max_connections(self.db_max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&self.database_url)
            .await
    }

    pub async fn migrated_database(&self) -> Result<PgPool, Box<dyn std::error::Error>> {
        let pool = self.database().await?;
        MIGRATOR.run(&pool).await?;
        Ok(pool)
    }

    pub async fn nats(&self) -> Result<async_nats::Client, async_nats::ConnectError> {
        let servers: Vec<async_nats::ServerAddr> = self
            .nats_url
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        async_nats::ConnectOptions::new()
            .name("fleetd")
            .retry_on_initial_connect()
            // The client's own backoff grows to 4 s between attempts: after a short outage
            // that alone kept fleetd away seconds after the server was back.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * attempts.min(5) as u64)
            })
            .connection_timeout(Duration::from_secs(5))
            .connect(servers)
            .await
    }

    fn stream_settings(&self) -> StreamSettings {
        StreamSettings {
            replicas: self.nats_replicas,
            max_bytes: self.stream_max_bytes,
            ..Default::default()
        }
    }

    pub async fn event_log(
        &self,
        client: async_nats::Client,
    ) -> Result<JetStreamLog, fleet_events::LogError> {
        JetStreamLog::open(client, &self.namespace, &self.stream_settings()).await
    }

    /// Both streams: the domain events and the usage batches.
    pub async fn streams(
        &self,
        client: async_nats::Client,
    ) -> Result<Streams, fleet_events::LogError> {
        Ok(Streams {
            domain: JetStreamLog::open(client.clone(), &self.namespace, &self.stream_settings())
                .await?,
            usage: JetStreamLog::open_usage(client, &self.namespace, &self.stream_settings())
                .await?,
        })
    }
}
