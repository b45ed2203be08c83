//! Losing a NATS node of a three-node JetStream cluster (streams of three replicas) loses no
//! acknowledged event and stops nothing for long. The cluster runs on loopback, started with
//! `deploy/local/nats-cluster.sh`; its fixed ports make this the only test that uses it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fleet_tests::{json, TestApp};

const CLUSTER: &str = "nats://127.0.0.1:4311,nats://127.0.0.1:4312,nats://127.0.0.1:4313";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/nats-cluster.sh")
}

fn cluster(action: &str, dir: &str, nodes: &[&str]) {
    let status = Command::new("bash")
        .arg(script())
        .args([action, dir])
        .args(nodes)
        .status()
        .expect("run nats-cluster.sh");
    assert!(status.success(), "nats-cluster.sh {action} failed");
}

/// Stops the cluster however the test ends.
struct Cluster(String);

impl Drop for Cluster {
    fn drop(&mut self) {
        cluster("stop", &self.0, &[]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn losing_a_nats_node_loses_nothing_acknowledged() {
    let dir = std::env::temp_dir().join(format!("fleet-nats-{}", uuid::Uuid::new_v4().simple()));
    let dir = dir.to_string_lossy().into_owned();
    cluster("start", &dir, &[]);
    let _cluster = Cluster(dir.clone());

    // A projector notices a lost node by missed heartbeats and re-creates its consumer: give
    // read-your-writes the time that takes.
    let app = TestApp::spawn_with(&[
        ("NATS_URL", CLUSTER),
        ("FLEET_NATS_REPLICAS", "3"),
        ("FLEET_READ_WAIT_MS", "30000"),
    ])
    .await;
    let (id, _) = app.running_instance().await;
    let path = format!("/v1/instances/{id}/capacity");
    let mut acknowledged = 0;
    for _ in 0..5 {
        app.post(&path, json!({"delta": 1})).await.expect(200);
        acknowledged += 1;
    }

    cluster("stop", &dir, &["n1"]);
    // While the cluster elects new leaders a command may be refused (503); none is lost.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut refused = 0;
    while acknowledged < 15 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "commands kept failing"
        );
        let reply = app.post(&path, json!({"delta": 1})).await;
        match reply.status.as_u16() {
            200 => acknowledged += 1,
            503 | 409 => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    cluster("start", &dir, &["n1"]);
    // The returning node rejoins; commands go on (after at most a short re-election).
    let last = loop {
        assert!(
            tokio::time::Instant::now() < deadline + Duration::from_secs(30),
            "no recovery"
        );
        let reply = app.post(&path, json!({"delta": 1})).await;
        match reply.status.as_u16() {
            200 => break reply,
            503 | 409 => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    };
    acknowledged += 1;

    let row = app
        .get_at(&format!("/v1/instances/{id}"), last.position())
        .await
        .expect(200)
        .body;
    let history = app.history(&format!("/v1/instances/{id}")).await;
    let changes = history
        .iter()
        .filter(|e| e["event_type"] == "InstanceCapacityChanged")
        .count();
    // A refused command may still have landed (its acknowledgement was lost with the node).
    assert!(
        changes >= acknowledged && changes <= acknowledged + refused,
        "{changes} events for {acknowledged} acknowledged"
    );
    assert_eq!(row["capacity"].as_i64().unwrap(), 1 + changes as i64);
}
