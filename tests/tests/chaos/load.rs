//! The load the faults land on: clients that change their instances' capacity one command
//! at a time, and clients that post usage batches and post a batch again, with the same
//! record ids, until it is acknowledged, as a careful client does. Each remembers what was
//! acknowledged; anything but a 2xx or a 503 (or no answer at all) is kept as a finding.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fleet_tests::{json, TestApp};
use serde_json::Value;
use tokio::task::JoinHandle;

const COMMAND_CLIENTS: usize = 4;
const USAGE_CLIENTS: usize = 2;
const RECORDS_PER_BATCH: usize = 200;
/// Each client's pace: a steady load (about 400 commands and 8,000 records a second in all)
/// rather than as fast as possible, so the backlog an outage leaves is bounded and the checks
/// after it are not a test of catch-up speed in a debug build.
const COMMAND_EVERY: Duration = Duration::from_millis(10);
const BATCH_EVERY: Duration = Duration::from_millis(50);
/// How long a client waits for an answer before it counts the request as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Load {
    base: Arc<RwLock<String>>,
    key: String,
    pub instances: Vec<String>,
    pub subscription_id: String,
    running: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    pub tally: Arc<Tally>,
}

#[derive(Default)]
pub struct Tally {
    /// Commands acknowledged, per instance (in the order of [`Load::instances`]).
    pub commands: Vec<AtomicU64>,
    /// Usage record ids acknowledged (accepted, or already counted on a retry).
    pub usage: Mutex<Vec<String>>,
    /// Commands refused with a 503 or not answered: tried again, never counted.
    pub refused_commands: AtomicU64,
    /// Usage batches refused or not answered, each sent again with the same ids.
    pub refused_batches: AtomicU64,
    /// Answers no outage may give: a 500, a 4xx to a valid request, a malformed 2xx.
    pub findings: Mutex<Vec<String>>,
    batches: AtomicU64,
}

impl Load {
    /// Prepares what the clients work on: running instances and a priced product.
    pub async fn prepare(app: &TestApp) -> Self {
        let mut instances = Vec::new();
        for _ in 0..COMMAND_CLIENTS {
            instances.push(app.running_instance().await.0);
        }
        fleet_tests::billing::price_book(app).await;
        Self {
            base: Arc::new(RwLock::new(app.base.clone())),
            key: app.key.clone(),
            subscription_id: app.subscription_id.clone(),
            tally: Arc::new(Tally {
                commands: instances.iter().map(|_| AtomicU64::new(0)).collect(),
                ..Default::default()
            }),
            instances,
            running: Arc::new(AtomicBool::new(false)),
            tasks: Vec::new(),
        }
    }

    /// Where the clients send from now on (fleetd restarted on another port, or another
    /// process took over).
    pub fn point_at(&self, base: &str) {
        *self.base.write().expect("base") = base.to_owned();
    }

    pub fn start(&mut self) {
        self.running.store(true, Ordering::SeqCst);
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .expect("http client");
        for (index, instance) in self.instances.iter().enumerate() {
            let client = self.client(&http);
            let path = format!("/v1/instances/{instance}/capacity");
            self.tasks.push(tokio::spawn(async move {
                while client.running.load(Ordering::SeqCst) {
                    match client.post(&path, json!({"delta": 1})).await {
                        Answer::Acknowledged(_) => {
                            client.tally.commands[index].fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(COMMAND_EVERY).await;
                        }
                        Answer::Refused => client.pause().await,
                    }
                }
            }));
        }
        for task in 0..USAGE_CLIENTS {
            let client = self.client(&http);
            let subscription = self.subscription_id.clone();
            self.tasks.push(tokio::spawn(async move {
                while client.running.load(Ordering::SeqCst) {
                    let batch = client.tally.batches.fetch_add(1, Ordering::SeqCst);
                    let ids: Vec<String> = (0..RECORDS_PER_BATCH)
                        .map(|i| format!("chaos-{task}-{batch}-{i}"))
                        .collect();
                    let records: Vec<Value> = ids
                        .iter()
                        .map(|id| {
                            json!({"id": id, "subscription_id": subscription,
                                   "product": "vcpu-hour", "quantity": "1",
                                   "occurred_at": "2026-11-02T12:00:00Z"})
                        })
                        .collect();
                    let body = json!({ "records": records });
                    // Once sent, a batch is sent again until it is acknowledged, even after the
                    // load is asked to stop: the ids may already be in the stream.
                    for _ in 0..120 {
                        match client.post("/v1/usage", body.clone()).await {
                            Answer::Acknowledged(reply) => {
                                client.acknowledge_batch(&ids, &reply);
                                tokio::time::sleep(BATCH_EVERY).await;
                                break;
                            }
                            Answer::Refused => client.pause().await,
                        }
                    }
                }
            }));
        }
    }

    /// Stops the clients once their requests in flight are answered.
    pub async fn stop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        for task in self.tasks.drain(..) {
            task.await.expect("a load client panicked");
        }
    }

    fn client(&self, http: &reqwest::Client) -> Client {
        Client {
            http: http.clone(),
            base: self.base.clone(),
            key: self.key.clone(),
            running: self.running.clone(),
            tally: self.tally.clone(),
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: Arc<RwLock<String>>,
    key: String,
    running: Arc<AtomicBool>,
    tally: Arc<Tally>,
}

enum Answer {
    Acknowledged(Value),
    Refused,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Answer {
        let base = self.base.read().expect("base").clone();
        let sent = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await;
        let refused = || {
            let counter = if path == "/v1/usage" {
                &self.tally.refused_batches
            } else {
                &self.tally.refused_commands
            };
            counter.fetch_add(1, Ordering::SeqCst);
            Answer::Refused
        };
        let response = match sent {
            Ok(response) => response,
            Err(_) => return refused(),
        };
        let status = response.status();
        let retry_after = response.headers().contains_key("retry-after");
        let text = response.text().await.unwrap_or_default();
        match status.as_u16() {
            200 | 202 => match serde_json::from_str(&text) {
                Ok(value) => Answer::Acknowledged(value),
                Err(_) => {
                    self.finding(format!("{path}: {status} with a body that is not JSON"));
                    Answer::Refused
                }
            },
            // A command whose earlier attempt went unanswered may meet its own write.
            409 => refused(),
            503 => {
                if !retry_after {
                    self.finding(format!("{path}: 503 without Retry-After: {text:.200}"));
                }
                refused()
            }
            _ => {
                self.finding(format!("{path}: {status}: {text:.300}"));
                Answer::Refused
            }
        }
    }

    /// A batch answered 202 is acknowledged whole: each record was accepted now or counted by
    /// an earlier attempt whose answer was lost.
    fn acknowledge_batch(&self, ids: &[String], reply: &Value) {
        let accepted = reply["accepted"].as_u64().unwrap_or(0) as usize;
        let duplicates = reply["duplicates"].as_array().map_or(0, Vec::len);
        let rejected = reply["rejected"].as_array().map_or(0, Vec::len);
        if accepted + duplicates != ids.len() || rejected > 0 {
            self.finding(format!(
                "a usage batch of {} was answered {accepted} accepted, {duplicates} duplicates, {rejected} rejected",
                ids.len()
            ));
        }
        self.tally
            .usage
            .lock()
            .expect("usage tally")
            .extend_from_slice(ids);
    }

    fn finding(&self, what: String) {
        self.tally.findings.lock().expect("findings").push(what);
    }

    async fn pause(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
