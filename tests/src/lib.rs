//! The end-to-end harness: every test gets its own PostgreSQL database, its own NATS
//! namespace (streams and subjects), and a real `fleetd` process on a free port, and leaves
//! nothing behind.
//!
//! The tests run the `fleetd` binary next to the test executable (`target/debug/fleetd`);
//! `make test` builds it first.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub use serde_json::json;

pub mod billing;
pub mod servers;
pub mod webhook_receiver;

pub fn database_root() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .and_then(|url| url.rsplit_once('/').map(|(root, _)| root.to_owned()))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Where the services are: the machine's (`DATABASE_URL`, `NATS_URL`) by default, or a suite's
/// own, such as the chaos suite's servers on ports of their own.
#[derive(Clone, Debug)]
pub struct Services {
    /// A PostgreSQL URL without the database.
    pub database_root: String,
    pub nats_url: String,
}

impl Services {
    pub fn from_env() -> Self {
        Self {
            database_root: database_root(),
            nats_url: nats_url(),
        }
    }

    /// A NATS client; `nats_url` may list a cluster's servers, comma-separated.
    pub async fn connect_nats(&self) -> Result<async_nats::Client, async_nats::ConnectError> {
        let servers: Vec<&str> = self.nats_url.split(',').map(str::trim).collect();
        async_nats::connect(servers).await
    }
}

pub fn fleetd_path() -> PathBuf {
    // target/debug/deps/<test> -> target/debug/fleetd
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("fleetd"))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p fleetd` (make test does)",
        path.display()
    );
    path
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The stream position a command returned.
    pub fn position(&self) -> u64 {
        self.header("x-fleet-position")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no X-Fleet-Position on {self:?}"))
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected reply: {:#}",
            self.body
        );
        self
    }
}

pub struct TestApp {
    pub base: String,
    pub namespace: String,
    pub database_url: String,
    /// An admin key of tenant `acme`.
    pub key: String,
    /// A customer of `acme` with an uncapped paid subscription, for instances.
    pub customer_id: String,
    pub subscription_id: String,
    pub http: reqwest::Client,
    pub services: Services,
    child: Option<Child>,
    extra_env: Vec<(String, String)>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts fleetd with extra environment variables (`FLEET_READ_WAIT_MS`, …).
    pub async fn spawn_with(env: &[(&str, &str)]) -> Self {
        Self::spawn_on(Services::from_env(), env).await
    }

    /// Starts fleetd on the given services.
    pub async fn spawn_on(services: Services, env: &[(&str, &str)]) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let database = format!("fleet_test_{}", &suffix[..16]);
        let mut admin = PgConnection::connect(&format!("{}/postgres", services.database_root))
            .await
            .expect("PostgreSQL is reachable (make test starts it)");
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let mut app = Self {
            base: String::new(),
            namespace: format!("t{}", &suffix[..12]),
            database_url: format!("{}/{database}", services.database_root),
            key: String::new(),
            customer_id: String::new(),
            subscription_id: String::new(),
            http: reqwest::Client::new(),
            services,
            child: None,
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        app.start().await;
        app.key = app.api_key("acme", "admin").await;
        app.customer_id = app.create_customer("Acme Corp").await;
        app.subscription_id = app
            .create_subscription(json!({"terms": "paid", "marketplace": "aws"}))
            .await;
        app
    }

    /// Creates a customer of `acme` and returns its id.
    pub async fn create_customer(&self, name: &str) -> String {
        let reply = self
            .post(
                "/v1/customers",
                json!({"name": name, "country": "PT", "email": "ops@acme.example"}),
            )
            .await
            .expect(202);
        reply.body["id"].as_str().expect("a customer id").to_owned()
    }

    /// Creates a subscription of the default customer (fields of `overrides` win).
    pub async fn create_subscription(&self, overrides: Value) -> String {
        let mut body = json!({
            "customer_id": self.customer_id, "service_id": "s-postgres", "plan_id": "pt-standard"
        });
        merge(&mut body, overrides);
        let reply = self.post("/v1/subscriptions", body).await.expect(202);
        reply.body["id"]
            .as_str()
            .expect("a subscription id")
            .to_owned()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(fleetd_path());
        command
            .env("DATABASE_URL", &self.database_url)
            .env("NATS_URL", &self.services.nats_url)
            .env("FLEET_NAMESPACE", &self.namespace)
            // `FLEET_TEST_LOG=info,fleet_projections=debug` to see more of a failing test.
            .env(
                "FLEET_LOG",
                std::env::var("FLEET_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("FLEET_DB_MAX_CONNECTIONS", "8")
            // Tests and benches run many servers at once: none takes Ormuco's fixed port.
            .env("FLEET_ORMUCO_LISTEN", "")
            // The tests' webhook receivers listen on loopback, which is refused by default.
            .env("FLEET_WEBHOOK_ALLOWED_TARGETS", "127.0.0.1,localhost")
            // Load tests send as fast as they can with one key; the limit's test sets it.
            .env("FLEET_RATE_LIMIT_PER_SECOND", "0")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        command
    }

    /// Starts (or restarts) the fleetd process and waits until it listens.
    pub async fn start(&mut self) {
        let (child, base) = self.spawn_process().await;
        self.base = base;
        self.child = Some(child);
    }

    /// Starts one more fleetd process on the same database and namespace; returns it and its
    /// base URL. It dies with the returned handle.
    pub async fn spawn_process(&self) -> (Child, String) {
        let mut command = self.command();
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped());
        // `FLEET_TEST_STDERR_FILE=<path>` among the extra environment keeps fleetd's logs there.
        if let Some((_, path)) = self
            .extra_env
            .iter()
            .find(|(k, _)| k == "FLEET_TEST_STDERR_FILE")
        {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("open the log file");
            command.stderr(file);
        }
        let mut child = command.spawn().expect("start fleetd");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("fleetd did not start within 30 s")
            .expect("read fleetd's stdout")
            .expect("fleetd exited before listening");
        let base = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from fleetd: {line}"))
            .to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (child, base)
    }

    /// Publishes a raw message on the namespace's domain stream, bypassing fleetd.
    pub async fn publish_raw(&self, subject_tail: &str, payload: Vec<u8>) -> u64 {
        let client = self.services.connect_nats().await.expect("nats");
        let context = async_nats::jetstream::new(client);
        context
            .publish(format!("{}.{subject_tail}", self.namespace), payload.into())
            .await
            .expect("publish")
            .await
            .expect("ack")
            .sequence
    }

    /// Sets an environment variable for the fleetd processes started from now on.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.extra_env.retain(|(k, _)| k != name);
        self.extra_env.push((name.to_owned(), value.to_owned()));
    }

    /// Polls `check` every 100 ms for up to 20 s until it returns `Some`.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        for _ in 0..200 {
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what} did not happen within 20 s");
    }

    /// The event types of an aggregate's history, from the stream.
    pub async fn history(&self, path: &str) -> Vec<Value> {
        let reply = self.get(&format!("{path}/events")).await.expect(200);
        reply.body["items"].as_array().expect("items").clone()
    }

    /// Kills fleetd with SIGKILL: no shutdown code runs.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL fleetd");
            child.wait().await.expect("reap fleetd");
        }
    }

    /// Whether the fleetd process is still running: it has not exited on its own.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Makes another fleetd process (from [`TestApp::spawn_process`]) this app's own, as when
    /// it takes over from one that was killed.
    pub fn adopt(&mut self, child: Child, base: String) {
        self.child = Some(child);
        self.base = base;
    }

    /// Runs a fleetd subcommand to completion and returns its stdout.
    pub async fn fleetd(&self, args: &[&str]) -> String {
        let output = self
            .command()
            .args(args)
            .output()
            .await
            .expect("run fleetd");
        assert!(
            output.status.success(),
            "fleetd {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 output")
    }

    /// Runs a fleetd subcommand that may fail: (succeeded, stdout, stderr).
    pub async fn fleetd_result(&self, args: &[&str]) -> (bool, String, String) {
        let output = self
            .command()
            .args(args)
            .output()
            .await
            .expect("run fleetd");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Every row of every table of the given schemas, in a stable order, for comparisons.
    pub async fn dump_schemas(&self, schemas: &[&str]) -> Vec<(String, Vec<Value>)> {
        let pool = self.pool().await;
        let tables: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_schema, table_name FROM information_schema.tables
             WHERE table_schema = ANY($1) ORDER BY table_schema, table_name",
        )
        .bind(schemas)
        .fetch_all(&pool)
        .await
        .expect("list tables");
        pool.close().await;
        let mut dump = Vec::new();
        for (schema, table) in tables {
            let name = format!("{schema}.{table}");
            let rows = self.dump(&name, "to_jsonb(t)::text").await;
            dump.push((name, rows));
        }
        dump
    }

    /// Creates an API key with `fleetd apikey create` (the key is its last line).
    pub async fn api_key(&self, tenant: &str, role: &str) -> String {
        let out = self
            .fleetd(&["apikey", "create", "--tenant", tenant, "--role", role])
            .await;
        out.lines().last().expect("a key line").trim().to_owned()
    }

    /// A Waldur offering with one usage component priced by `vcpu-hour`, and its plan's id.
    pub async fn create_offering(&self, name: &str, slug: &str) -> (String, String) {
        let offering = self
            .post(
                "/v1/offerings",
                json!({"name": name, "slug": slug, "type": "Marketplace.Slurm",
                       "components": [{"type": "cpu_k_hours", "name": "CPU",
                                       "measured_unit": "kCPUh", "billing_type": "usage",
                                       "product": "vcpu-hour"}],
                       "plans": [{"name": "Default"}]}),
            )
            .await
            .expect(201);
        let id = offering.body["id"]
            .as_str()
            .expect("an offering id")
            .to_owned();
        let plan = self
            .get_at(&format!("/v1/offerings/{id}"), offering.position())
            .await
            .expect(200)
            .body["plans"][0]["id"]
            .as_str()
            .expect("a plan id")
            .to_owned();
        (id, plan)
    }

    /// `/metrics` as an admin reads it, asserting that it holds each of `needles`.
    pub async fn assert_metrics(&self, needles: &[&str]) -> String {
        let metrics = self
            .request(Some(&self.key), Method::GET, "/metrics", None, &[])
            .await
            .expect(200);
        let text = metrics.body.as_str().expect("metrics are text").to_owned();
        for needle in needles {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        text
    }

    pub async fn pool(&self) -> PgPool {
        PgPool::connect(&self.database_url).await.expect("connect")
    }

    pub async fn request(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Some(&self.key), Method::GET, path, None, &[])
            .await
    }

    /// A GET that waits for the read model to reach `position`.
    pub async fn get_at(&self, path: &str, position: u64) -> Reply {
        let position = position.to_string();
        self.request(
            Some(&self.key),
            Method::GET,
            path,
            None,
            &[("x-fleet-position", &position)],
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Some(&self.key), Method::POST, path, Some(body), &[])
            .await
    }

    pub async fn post_empty(&self, path: &str) -> Reply {
        self.request(Some(&self.key), Method::POST, path, None, &[])
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Some(&self.key), Method::DELETE, path, None, &[])
            .await
    }

    /// Creates an instance and returns its id and the create's position.
    pub async fn create_instance(&self, overrides: Value) -> (String, u64) {
        let mut body = self.instance_body();
        merge(&mut body, overrides);
        let reply = self.post("/v1/instances", body).await.expect(202);
        let id = reply.body["id"].as_str().expect("an id").to_owned();
        (id, reply.position())
    }

    /// A valid instance creation body under the default subscription.
    pub fn instance_body(&self) -> Value {
        json!({
            "service_id": "s-postgres", "plan_id": "pt-standard", "cloud_provider": "aws",
            "region": "us-east-1", "deployment_cell": "hc-1", "instance_type": "m5.large",
            "capacity": 1, "environment_type": "PROD", "subscription_id": self.subscription_id
        })
    }

    /// A running instance.
    pub async fn running_instance(&self) -> (String, u64) {
        let (id, _) = self.create_instance(json!({})).await;
        let reply = self
            .post_empty(&format!("/v1/instances/{id}/ready"))
            .await
            .expect(200);
        (id, reply.position())
    }

    /// Rows of a read-model table as JSON, in a stable order, for comparisons.
    pub async fn dump(&self, table: &str, order_by: &str) -> Vec<Value> {
        let pool = self.pool().await;
        let rows: Vec<(Value,)> = sqlx::query_as(&format!(
            "SELECT to_jsonb(t) FROM {table} t ORDER BY {order_by}"
        ))
        .fetch_all(&pool)
        .await
        .expect("dump table");
        pool.close().await;
        rows.into_iter().map(|(v,)| v).collect()
    }

    /// Waits until every projection and process manager has applied the whole stream, and
    /// the process managers have nothing more to say: a pass over them all that ends where the
    /// stream was when it began.
    pub async fn all_caught_up(&self) -> u64 {
        loop {
            let began = self.last_sequence().await;
            let mut last = 0;
            for projection in [
                "approved_requests",
                "ended_subscriptions",
                "instance_workflows",
                "upgrade_rollout",
                "orchestration_deployments",
                "inventory",
                "audit",
            ] {
                last = self.caught_up(projection).await;
            }
            if last == began && self.last_sequence().await == began {
                return last;
            }
        }
    }

    /// The domain stream's last sequence.
    pub async fn last_sequence(&self) -> u64 {
        let client = self.services.connect_nats().await.expect("nats");
        let context = async_nats::jetstream::new(client);
        let stream = fleet_events::Namespace::parse(&self.namespace)
            .expect("namespace")
            .domain_stream();
        context
            .get_stream(&stream)
            .await
            .expect("stream")
            .get_info()
            .await
            .expect("stream info")
            .state
            .last_sequence
    }

    /// Waits until `projection` has applied the whole stream.
    pub async fn caught_up(&self, projection: &str) -> u64 {
        let pool = self.pool().await;
        let client = self.services.connect_nats().await.expect("nats");
        let context = async_nats::jetstream::new(client);
        let stream = fleet_events::Namespace::parse(&self.namespace)
            .expect("namespace")
            .domain_stream();
        let last = context
            .get_stream(&stream)
            .await
            .expect("stream")
            .get_info()
            .await
            .expect("stream info")
            .state
            .last_sequence;
        for _ in 0..600 {
            let position: Option<i64> = sqlx::query_scalar(
                "SELECT position FROM projection_checkpoints WHERE projection = $1",
            )
            .bind(projection)
            .fetch_optional(&pool)
            .await
            .expect("checkpoint");
            if position.unwrap_or(0) as u64 >= last {
                pool.close().await;
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{projection} did not reach position {last} within 30 s");
    }
}

/// Sets the fields of `overrides` on `body`.
pub fn merge(body: &mut Value, overrides: Value) {
    if let (Some(body), Value::Object(overrides)) = (body.as_object_mut(), overrides) {
        for (k, v) in overrides {
            body.insert(k, v);
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let database_url = self.database_url.clone();
        let namespace = self.namespace.clone();
        let services = self.services.clone();
        // Drop cannot await: clean up on a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(client) = services.connect_nats().await {
                    let context = async_nats::jetstream::new(client);
                    if let Ok(ns) = fleet_events::Namespace::parse(&namespace) {
                        let _ = context.delete_stream(ns.domain_stream()).await;
                        let _ = context.delete_stream(ns.usage_stream()).await;
                    }
                }
                let database = database_url.rsplit('/').next().unwrap_or_default();
                if let Ok(mut admin) =
                    PgConnection::connect(&format!("{}/postgres", services.database_root)).await
                {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
