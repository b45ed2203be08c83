//! `fleetd serve`: the HTTP API and the projection engine in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fleet_api::AppState;
use fleet_app::command_bus::CommandBus;
use fleet_app::metrics::Metrics;
use fleet_app::{App, Settings};
use fleet_projections::engine::EngineSettings;
use fleet_projections::{ProjectionEngine, ProjectionMetrics};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;

pub struct ServeOptions {
    pub listen: String,
    /// Who may call CloudCockpit's API with a signed token.
    pub cockpit: Arc<fleet_compat::cloudcockpit::Access>,
    /// Where Ormuco's Billing API is also served on its own; empty: nowhere else.
    pub ormuco_listen: String,
    pub projectors: bool,
    /// Process managers (approved requests, ended subscriptions) and the scheduler.
    pub process_managers: bool,
    pub read_wait: Duration,
    pub inbound_hooks: fleet_app::inbound_hooks::Producers,
    pub egress: fleet_app::egress::EgressPolicy,
    pub key_cache_ttl: Duration,
    pub limits: fleet_api::limits::LimitSettings,
    pub scheduler: fleet_app::scheduler::SchedulerSettings,
    pub webhooks: fleet_app::webhooks::WebhookSettings,
}

/// A started server: its address, and the handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    /// Ormuco's own listener, when it has one.
    pub ormuco_addr: Option<SocketAddr>,
    pub shutdown: watch::Sender<bool>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    pub workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        for worker in self.workers {
            let _ = worker.await;
        }
    }
}

pub async fn start(
    config: &Config,
    options: ServeOptions,
) -> Result<Running, Box<dyn std::error::Error>> {
    let pool = config.migrated_database().await?;
    let nats = config.nats().await?;
    let streams = config.streams(nats.clone()).await?;
    let log = streams.domain.clone();

    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let projection_metrics = ProjectionMetrics::register(&mut registry);
    let (shutdown, shutdown_rx) = watch::channel(false);

    let bus = CommandBus::new(
        Arc::new(log.clone()),
        config.namespace.clone(),
        metrics.clone(),
    );
    let engine = ProjectionEngine {
        pool: pool.clone(),
        streams: streams.clone(),
        metrics: projection_metrics,
        settings: EngineSettings::default(),
    };
    // Tables exist before the first query, whichever process leads each projection.
    engine.prepare(&fleet_projections::all()).await?;
    let mut workers = Vec::new();
    if options.projectors {
        workers.extend(engine.spawn("read-models", fleet_projections::all(), shutdown_rx.clone()));
    }
    // Their tables are read by queries (open uptime intervals) even where they do not run.
    let process_managers = fleet_app::process_managers::all(&bus, &streams.usage);
    engine.prepare(&process_managers).await?;
    if options.process_managers {
        workers.extend(engine.spawn("process-managers", process_managers, shutdown_rx.clone()));
    }
    workers.push(tokio::spawn(expire_idempotency_keys(
        pool.clone(),
        shutdown_rx.clone(),
    )));

    let app = App {
        bus,
        pool,
        log,
        usage_log: streams.usage,
        nats,
        locks: Default::default(),
        positions: Default::default(),
        metrics,
        settings: Settings {
            read_wait: options.read_wait,
            inbound_hooks: options.inbound_hooks.clone(),
            egress: Arc::new(options.egress.clone()),
            ..Default::default()
        },
    };
    // Read-your-writes waits follow the checkpoints from here, holding no pooled connection.
    app.positions.refresh(&app.pool).await?;
    workers.push(tokio::spawn(
        app.positions
            .clone()
            .follow(app.pool.clone(), shutdown_rx.clone()),
    ));
    workers.push(tokio::spawn(fleet_app::webhooks::run(
        app.clone(),
        options.webhooks.clone(),
        shutdown_rx.clone(),
    )));
    if options.process_managers {
        workers.push(tokio::spawn(fleet_app::scheduler::run(
            app.clone(),
            options.scheduler.clone(),
            shutdown_rx.clone(),
        )));
    }
    let listener = TcpListener::bind(&options.listen).await?;
    let addr = listener.local_addr()?;
    let state = AppState {
        app: Arc::new(app),
        keys: fleet_app::access::KeyCache::with_ttl(options.key_cache_ttl),
        limits: Arc::new(fleet_api::limits::Limits::new(options.limits.clone())),
        jwt: options.cockpit.jwt.clone(),
        registry: Arc::new(registry),
    };
    let mut ormuco_addr = None;
    if !options.ormuco_listen.trim().is_empty() {
        let listener = TcpListener::bind(options.ormuco_listen.trim()).await?;
        ormuco_addr = Some(listener.local_addr()?);
        let ormuco =
            fleet_api::served_alone(state.clone(), fleet_compat::ormuco::router(state.clone()))
                .into_make_service_with_connect_info::<SocketAddr>();
        let mut stop = shutdown_rx.clone();
        workers.push(tokio::spawn(async move {
            let served = axum::serve(listener, ormuco)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "Ormuco's listener stopped");
            }
        }));
    }
    let dialects = fleet_compat::router(state.clone(), options.cockpit.clone());
    let app =
        fleet_api::router_with(state, dialects).into_make_service_with_connect_info::<SocketAddr>();
    let mut stop = shutdown_rx;
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .await
    });
    Ok(Running {
        addr,
        ormuco_addr,
        shutdown,
        server,
        workers,
    })
}

pub async fn run(config: &Config, options: ServeOptions) -> Result<(), Box<dyn std::error::Error>> {
    let running = start(config, options).await?;
    // The harness and scripts read this line to learn the port.
    println!("listening on http://{}", running.addr);
    if let Some(addr) = running.ormuco_addr {
        println!("ormuco listening on http://{addr}");
    }
    tracing::info!(addr = %running.addr, namespace = %config.namespace, "fleetd serving");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Idempotency records are kept 24 hours.
async fn expire_idempotency_keys(pool: sqlx::PgPool, mut shutdown: watch::Receiver<bool>) {
    loop {
        let result = fleet_app::idempotency::expire(&pool).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "expiring idempotency keys");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
