//! Real `nats-server` processes for the cluster backend's tests (SPEC §14): each on free
//! loopback ports, with JetStream in a temporary folder, killed when dropped. Never the shared
//! server on 4222.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's nats-server (2.9 on this machine and CI's).
pub const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// One running server.
pub struct NatsServer {
    child: Child,
    /// Its client port.
    pub port: u16,
    /// Its JetStream folder.
    pub dir: PathBuf,
}

/// A free loopback port below the kernel's ephemeral range (32768 and up on Linux), so no
/// process's outgoing connection can be given it between this check and `nats-server`'s bind;
/// the start point varies by process and call so tests running side by side rarely pick alike
/// (and a start that loses that race picks again: [`NatsServer::start`], [`NatsCluster::start`]).
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    let start = (RandomState::new().hash_one(std::process::id()) % u64::from(SPAN)) as u16;
    (0..SPAN)
        .map(|i| LOW + (start + i) % SPAN)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free loopback port below 32768")
}

/// How often a first start is tried on fresh ports when another process took one first.
const STARTS: usize = 5;

impl NatsServer {
    /// A single server with JetStream.
    pub fn start(tag: &str) -> Self {
        let dir = super::temp_dir(&format!("nats-{tag}"));
        for _ in 0..STARTS {
            let port = free_port();
            let from = log_len(&dir);
            let mut server = Self {
                child: Self::spawn(port, &dir),
                port,
                dir: dir.clone(),
            };
            if server.listening(&dir, from) {
                return server;
            }
            server.dir = PathBuf::new();
        }
        panic!("nats-server never listened: {}", log_tail(&dir));
    }

    fn spawn(port: u16, dir: &std::path::Path) -> Child {
        Command::new(NATS_SERVER)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(log_file(dir))
            .spawn()
            .expect("nats-server runs")
    }

    /// SIGKILLs the server.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on its port and folder (after [`NatsServer::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let from = log_len(&self.dir);
        self.child = Self::spawn(self.port, &self.dir);
        let dir = self.dir.clone();
        assert!(
            self.listening(&dir, from),
            "nats-server never listened again: {}",
            log_tail(&self.dir)
        );
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Whether this server came to serve: its own log, past `from` bytes, says "Server is
    /// ready" while it runs; false when it exits first (its port was taken: its log says so) or
    /// takes longer than 10 s. A connection to the port proves nothing: another test's server
    /// may hold it, and then this one exits while the port still answers.
    fn listening(&mut self, log_dir: &std::path::Path, from: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if !matches!(self.child.try_wait(), Ok(None)) || Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return false;
            }
            let log = std::fs::read(log_dir.join("nats-server.log")).unwrap_or_default();
            let fresh = log
                .get(usize::try_from(from).unwrap_or(usize::MAX)..)
                .unwrap_or_default();
            if String::from_utf8_lossy(fresh).contains("Server is ready") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// How long the log of a server in `dir` is now: what a new start writes comes after it.
fn log_len(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join("nats-server.log")).map_or(0, |m| m.len())
}

/// Where a server in `dir` writes its log (what it says when it cannot start).
fn log_file(dir: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("nats-server.log"))
        .expect("a log file in the server's folder")
}

/// The last lines a server in `dir` logged.
fn log_tail(dir: &std::path::Path) -> String {
    let log = std::fs::read_to_string(dir.join("nats-server.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// A cluster of JetStream servers on loopback (`mts1b-0`, `mts1b-1`, ...), each of which can
/// be killed and started again on its folder.
pub struct NatsCluster {
    /// The running nodes (`None`: killed).
    pub nodes: Vec<Option<NatsServer>>,
    ports: Vec<(u16, u16)>,
    dirs: Vec<PathBuf>,
}

impl NatsCluster {
    /// `n` nodes routed to each other.
    pub fn start(tag: &str, n: usize) -> Self {
        let dirs: Vec<PathBuf> = (0..n)
            .map(|i| super::temp_dir(&format!("nats-{tag}-{i}")))
            .collect();
        for _ in 0..STARTS {
            let mut cluster = Self {
                nodes: (0..n).map(|_| None).collect(),
                ports: (0..n).map(|_| (free_port(), free_port())).collect(),
                dirs: dirs.clone(),
            };
            if (0..n).all(|i| cluster.try_start_node(i)) {
                return cluster;
            }
            // Stops the nodes that did start; the next try starts from empty stores on fresh
            // ports, keeping the folders (and their logs).
            cluster.nodes.clear();
            cluster.dirs.clear();
            for dir in &dirs {
                let _ = std::fs::remove_dir_all(dir.join("jetstream"));
            }
        }
        let tails: Vec<String> = dirs.iter().map(|d| log_tail(d)).collect();
        panic!("a nats-server never listened: {}", tails.join("\n"));
    }

    /// The name of node `i`.
    pub fn name(i: usize) -> String {
        format!("mts1b-{i}")
    }

    /// Starts node `i` (again) on its folder and ports.
    pub fn start_node(&mut self, i: usize) {
        assert!(
            self.try_start_node(i),
            "nats-server {} never listened: {}",
            Self::name(i),
            log_tail(&self.dirs[i])
        );
    }

    fn try_start_node(&mut self, i: usize) -> bool {
        let (port, cluster_port) = self.ports[i];
        let routes: Vec<String> = self
            .ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (_, c))| format!("nats://127.0.0.1:{c}"))
            .collect();
        let from = log_len(&self.dirs[i]);
        let child = Command::new(NATS_SERVER)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-n"])
            .arg(Self::name(i))
            .args(["--cluster_name", "mts1b", "--cluster"])
            .arg(format!("nats://127.0.0.1:{cluster_port}"))
            .args(["--routes", &routes.join(","), "-sd"])
            .arg(&self.dirs[i])
            .stdout(Stdio::null())
            .stderr(log_file(&self.dirs[i]))
            .spawn()
            .expect("nats-server runs");
        let mut server = NatsServer {
            child,
            port,
            dir: PathBuf::new(),
        };
        let listening = server.listening(&self.dirs[i], from);
        self.nodes[i] = Some(server);
        listening
    }

    /// SIGKILLs the node named `name`; returns its index.
    pub fn kill(&mut self, name: &str) -> usize {
        let i = (0..self.nodes.len())
            .find(|i| Self::name(*i) == name)
            .expect("a node of this cluster");
        if let Some(mut node) = self.nodes[i].take() {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        i
    }

    /// Every node's URL (the client fails over between them).
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|(p, _)| format!("nats://127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

use std::sync::Arc;

use mts1b_tradingview::core::SystemClock;
use mts1b_tradingview::runtime::cluster::deliver::Deliverer;
use mts1b_tradingview::runtime::cluster::lease::Leases;
use mts1b_tradingview::runtime::cluster::log::OrderLog;
use mts1b_tradingview::runtime::cluster::status::StatusRecords;
use mts1b_tradingview::runtime::cluster::{Cluster, Credentials, NatsSettings};
use mts1b_tradingview::runtime::delivery::DeliveryPolicy;
use mts1b_tradingview::runtime::delivery::grpc::GrpcOms;
use mts1b_tradingview::runtime::metrics::Metrics;

/// A bridge replica's connection to `servers`, its buckets and streams kept `replicas` times.
pub async fn connect(servers: Vec<String>, replicas: usize) -> Cluster {
    Cluster::connect(NatsSettings {
        servers,
        credentials: Credentials::None,
        prefix: "MTS1B_TV".into(),
        replicas,
        timeout: Duration::from_secs(2),
    })
    .await
    .unwrap()
}

/// The order log, as every replica opens it (duplicates within 5 minutes, kept 2 hours).
pub async fn order_log(cluster: &Cluster) -> OrderLog {
    OrderLog::open(cluster, Duration::from_secs(300), Duration::from_secs(7200))
        .await
        .unwrap()
}

/// What one replica delivers with: its connection's log, status records, leases (1 s term)
/// and deliverer to the OMS at `oms` (orders expire after 60 s).
pub struct DeliveryReplica {
    /// Its connection.
    pub cluster: Cluster,
    /// The order log.
    pub log: OrderLog,
    /// The status records.
    pub status: StatusRecords,
    /// Its leases.
    pub leases: Leases,
    /// Its deliverer.
    pub deliverer: Deliverer,
}

impl DeliveryReplica {
    /// A replica named `name` on `server`, delivering to the OMS at `oms`.
    pub async fn start(server: &NatsServer, oms: &str, name: &str) -> Self {
        let cluster = connect(vec![server.url()], 1).await;
        let log = order_log(&cluster).await;
        let status = StatusRecords::open(&cluster, Duration::from_secs(3600))
            .await
            .unwrap();
        let leases = Leases::open(&cluster, name, Duration::from_secs(1))
            .await
            .unwrap();
        let deliverer = Deliverer::open(
            &log,
            status.clone(),
            leases.clone(),
            Arc::new(GrpcOms::new(oms, Duration::from_secs(2)).unwrap()),
            Arc::new(SystemClock),
            DeliveryPolicy {
                respond_within: Duration::from_secs(1),
                max_order_age: Duration::from_secs(60),
                max_cancel_age: Duration::from_secs(3600),
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(100),
                max_concurrent_calls: 64,
                replay_window: Duration::from_secs(300),
            },
            Metrics::new().delivery,
        )
        .await
        .unwrap();
        Self {
            cluster,
            log,
            status,
            leases,
            deliverer,
        }
    }
}
