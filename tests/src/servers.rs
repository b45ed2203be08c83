//! Servers of a suite's own, on loopback ports of their own, for the chaos suite: a PostgreSQL
//! cluster made with `initdb` in a temporary directory, and a single NATS server with
//! JetStream. Each can be killed with SIGKILL and started again on the same data, and neither
//! touches the machine's own services.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a TCP port on loopback accepts connections.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Waits up to `limit` for a port to accept connections.
pub fn wait_for_port(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !port_open(port) {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn temporary_dir(kind: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fleet-{kind}-{}", uuid::Uuid::new_v4().simple()))
}

/// A PostgreSQL cluster of the suite's own.
pub struct OwnPostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl OwnPostgres {
    /// `initdb` in a new temporary directory, then starts the server on `port`.
    pub fn start(port: u16) -> Self {
        let dir = temporary_dir("pg");
        let postgres = Self {
            port,
            bin: postgres_bin(),
            dir,
        };
        std::fs::create_dir_all(&postgres.dir).expect("make the cluster's directory");
        // PostgreSQL refuses to run as root: as root, the cluster belongs to `postgres`.
        postgres.own(&postgres.dir);
        let data = postgres.data();
        postgres.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
            ],
        );
        postgres.start_again();
        postgres
    }

    /// The URL without a database.
    pub fn root_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Starts the server on the existing data (after a crash, through its recovery) and
    /// returns once it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// SIGKILL to the postmaster and every backend at once, as a crash of its host would:
    /// `pg_ctl` starts the postmaster in a session of its own, so its process group is the
    /// server.
    pub fn kill9(&self) {
        let pid_file = Path::new(&self.data()).join("postmaster.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
            .expect("the postmaster's pid");
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Self::group_alive(&pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn group_alive(pid: &str) -> bool {
        Command::new("pgrep")
            .args(["-g", pid])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn running(&self) -> bool {
        std::fs::read_to_string(Path::new(&self.data()).join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
            .is_some_and(|pid| Self::group_alive(&pid))
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn as_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    fn own(&self, path: &Path) {
        if Self::as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path)
                .status()
                .expect("chown");
            assert!(status.success(), "chown {}", path.display());
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if Self::as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command.args(args).output().expect("run a PostgreSQL tool");
        assert!(
            output.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        if self.running() {
            let program = self.bin.join("pg_ctl");
            let _ = if Self::as_root() {
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(&program)
                    .args(["-D", &self.data(), "-m", "immediate", "stop"])
                    .output()
            } else {
                Command::new(&program)
                    .args(["-D", &self.data(), "-m", "immediate", "stop"])
                    .output()
            };
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where `initdb` and `pg_ctl` are: the newest of Debian's versioned directories, else PATH.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_default()
}

/// A NATS server with JetStream of the suite's own.
pub struct OwnNats {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnNats {
    pub fn start(port: u16) -> Self {
        let mut nats = Self {
            port,
            dir: temporary_dir("nats"),
            child: None,
        };
        nats.start_again();
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server on the same store and returns once it accepts connections.
    pub fn start_again(&mut self) {
        let program = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("nats-server");
        let child = Command::new(program)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(20));
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
