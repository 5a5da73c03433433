//! A running service for black-box tests (real sockets, manual clock) and a raw HTTP/1.1 client
//! that can also misbehave (slow headers, stalled bodies, chunked floods).
#![allow(dead_code)]

pub mod chat;
pub mod nats;
pub mod process;
pub mod stand_in;
pub mod webdriver;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mts1b_tradingview::config::{EnvOverrides, Settings, load_str};
use mts1b_tradingview::core::{ManualClock, UnixMillis};
use mts1b_tradingview::runtime::Runtime;
use mts1b_tradingview::service::start;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// When the manual clock starts.
pub const T0: UnixMillis = UnixMillis(1_709_296_500_000);

/// A fresh folder for one test, under the system's temp folder, named for `tag` and this
/// process. The first call of a process removes the folders of test processes that are gone
/// (a test binary has no hook at its end), so runs leave at most their own behind.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(sweep_gone_processes_folders);
    let dir = std::env::temp_dir().join(format!(
        "mts1b-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes `mts1b-test-{tag}-{pid}-{n}` folders whose process is no longer running.
fn sweep_gone_processes_folders() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("mts1b-test-")) else {
            continue;
        };
        // The tag may hold dashes: the pid is the second field from the end.
        let pid = rest.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Settings for a test service: loopback allowed, two funds, paper sink in a temp folder.
/// `extra` is appended TOML (later keys of the same table must not repeat earlier ones).
pub fn settings(extra: &str) -> Settings {
    let data = temp_dir("data");
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
header_timeout = "300ms"
body_timeout = "300ms"

[funds.fund-a]
secret = "secret-a"
max_quantity = "10"
rate_limit = {{ per_second = 1, burst = 3 }}

[funds.fund-b]
secret = "secret-b"
symbols = ["BTC-USD"]
max_quantity = "1"
max_alert_age = "30s"

[delivery]
sink = "paper"

[store]
path = {data:?}

{extra}
"#
    );
    load_str(&toml, EnvOverrides::from_vars([])).unwrap()
}

/// A loopback port bound but not listening, as an OMS that is down: connections to it are
/// refused, and no other test can take it. `listen` on the socket brings the OMS up there.
pub fn reserved_port() -> (tokio::net::TcpSocket, u16) {
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = reserved.local_addr().unwrap().port();
    (reserved, port)
}

pub const LOOPBACK: &str = "[network]\nip_allowlist = [\"127.0.0.1\", \"::1\"]\n";

pub struct TestService {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub clock: ManualClock,
    pub settings: Settings,
    pub runtime: Arc<Runtime>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestService {
    pub async fn start(settings: Settings) -> Self {
        let clock = ManualClock::at(T0);
        let service = start(&settings, Arc::new(clock.clone())).await.unwrap();
        let (public, admin) = (service.public_addr(), service.admin_addr());
        let runtime = service.runtime.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.run(async {
            let _ = stopped.await;
        }));
        Self {
            public,
            admin,
            clock,
            settings,
            runtime,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Signals shutdown and waits until the server has drained.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Awaits (bounded) until `n` requests are being handled: the server has admitted them.
    pub async fn until_in_flight(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.runtime.requests_in_flight() != n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {n} requests in flight"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Awaits (bounded) until `/metrics` holds `line`; returns the scrape. For counters
    /// bumped after the effect a test can see (a follow-up is counted once its POST answered).
    pub async fn until_metric(&self, line: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let scraped = self.admin_get("/metrics").await.body;
            if scraped.contains(line) {
                return scraped;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/metrics never held {line}: {scraped}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// `GET /orders/{fund}/{key}` on the admin listener.
    pub async fn order(&self, fund: &str, key: &str) -> Reply {
        self.admin_get(&format!("/orders/{fund}/{}", key.replace(' ', "%20")))
            .await
    }

    /// Awaits (bounded) until the order of (fund, key) has `status`; returns its record.
    pub async fn until_order(&self, fund: &str, key: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let reply = self.order(fund, key).await;
            if reply.status == 200 && reply.json()["status"] == status {
                return reply.json();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{fund}/{key} never {status}: {}",
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn post(&self, path: &str, body: &str) -> Reply {
        request(
            self.public,
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    pub async fn alert(&self, body: &Value) -> Reply {
        self.post("/tradingview/webhook", &body.to_string()).await
    }

    pub async fn admin_get(&self, path: &str) -> Reply {
        request(self.admin, "GET", path, &[], b"").await
    }

    pub fn journal(&self) -> String {
        std::fs::read_to_string(self.settings.store.path.join("paper-journal.jsonl"))
            .unwrap_or_default()
    }
}

/// A valid alert for fund-a; change fields with `with`.
pub fn alert(key: &str) -> Value {
    json!({
        "secret": "secret-a", "strategy_id": "tv_breakout_v1", "fund_id": "fund-a",
        "symbol": "BINANCE:BTCUSDT", "side": "buy", "quantity": "0.05", "order_type": "market",
        "idempotency_key": key
    })
}

pub fn with(mut v: Value, field: &str, value: Value) -> Value {
    if value.is_null() {
        v.as_object_mut().unwrap().remove(field);
    } else {
        v[field] = value;
    }
    v
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request on a new connection (`Connection: close`) and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    try_request(addr, method, path, headers, body)
        .await
        .expect("an answer")
}

/// As [`request`], but `None` when the server is gone or closes without answering.
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(body).await.ok()?;
    read_reply(&mut stream).await
}

/// Opens a connection and writes `bytes` as they are (for requests a normal client would not
/// send: partial headers, stalled bodies, chunked floods).
pub async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Reads one answer (by Content-Length); `None` if the server closed without answering.
pub async fn read_reply(stream: &mut TcpStream) -> Option<Reply> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Opens a connection to `to` from the loopback address `source` (127.0.0.2, ...: Linux routes
/// all of 127/8 to the loopback device), so one test can be several peers.
pub async fn connect_from(source: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// How long after `since` the server closed the connection, if it did within `within`.
pub async fn closed_after(
    stream: &mut TcpStream,
    since: tokio::time::Instant,
    within: Duration,
) -> Option<Duration> {
    closed_within(stream, within).await.then(|| since.elapsed())
}

/// True when the server closes the connection within `within` (reads until EOF or reset).
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}
