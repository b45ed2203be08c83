//! The server a bench drives: `fleetd serve` in a process of its own, with every read model and
//! process manager running, so that the load generator never shares its runtime or its CPU
//! accounting. Its memory is read from `/proc` while it runs.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fleet_api::auth::{create_api_key, Role};
use fleet_events::Tenant;

use super::BenchResult;
use crate::config::Config;

pub struct BenchServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// An admin key of tenant `bench`.
    pub key: String,
}

impl BenchServer {
    /// Starts `fleetd serve` on a free port against the bench's namespace and database, and
    /// waits until it answers.
    pub async fn start(config: &Config) -> BenchResult<Self> {
        Self::start_with(config, true).await
    }

    /// [`BenchServer::start`] with the read models only.
    pub async fn start_without_process_managers(config: &Config) -> BenchResult<Self> {
        Self::start_with(config, false).await
    }

    async fn start_with(config: &Config, process_managers: bool) -> BenchResult<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        // A profiler may wrap the server (`FLEET_BENCH_SERVER_WRAPPER="valgrind
        // --tool=callgrind"`), so that what it counts is the server's alone.
        let wrapper = std::env::var("FLEET_BENCH_SERVER_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(std::env::current_exe()?);
                command
            }
            None => Command::new(std::env::current_exe()?),
        };
        command.arg("serve");
        if !process_managers {
            command.arg("--no-process-managers");
        }
        let child = command
            .env("DATABASE_URL", &config.database_url)
            .env("NATS_URL", &config.nats_url)
            // Tests and benches run many servers at once: none takes Ormuco's fixed port.
            .env("FLEET_ORMUCO_LISTEN", "")
            // A bench's clients share one key on purpose.
            .env("FLEET_RATE_LIMIT_PER_SECOND", "0")
            .env("FLEET_NAMESPACE", config.namespace.to_string())
            .env(
                "FLEET_DB_MAX_CONNECTIONS",
                config.db_max_connections.to_string(),
            )
            .env("FLEET_NATS_REPLICAS", config.nats_replicas.to_string())
            .env("FLEET_LISTEN", format!("127.0.0.1:{port}"))
            .env("FLEET_READ_WAIT_MS", "30000")
            .env(
                "FLEET_LOG",
                std::env::var("FLEET_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            key: String::new(),
        };
        let http = reqwest::Client::new();
        let patience = if wrapper.is_empty() { 60 } else { 600 };
        let deadline = Instant::now() + Duration::from_secs(patience);
        loop {
            if let Some(status) = server.child.try_wait()? {
                return Err(format!("fleetd serve exited with {status} while starting").into());
            }
            let answered = http
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("fleetd serve did not answer within {patience} s").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pool = config.database().await?;
        let (_, key) = create_api_key(&pool, &Tenant::parse("bench")?, Role::Admin, None).await?;
        pool.close().await;
        server.key = key;
        Ok(server)
    }

    /// The server's resident memory now and at its peak, in MiB.
    pub fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .map_or(0.0, |kib| kib / 1024.0)
        };
        Memory {
            resident_mib: field("VmRSS:"),
            peak_mib: field("VmHWM:"),
        }
    }

    /// Stops the server as an operator would (SIGTERM), and kills it if it lingers.
    pub async fn stop(mut self) -> Memory {
        let memory = self.memory();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return memory;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        memory
    }
}

impl Drop for BenchServer {
    /// A bench that fails part way leaves no server behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub resident_mib: f64,
    pub peak_mib: f64,
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} MiB resident, {:.0} MiB at peak",
            self.resident_mib, self.peak_mib
        )
    }
}
