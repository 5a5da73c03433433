//! The real binary as a child process: spawn, read its logs, stop it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mts1b-tradingview"));
    for (key, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("MTS1B_TV_") || k.starts_with("VAULT_"))
    {
        cmd.env_remove(key);
    }
    // Any free ports, so tests never collide with each other or a running service.
    cmd.env("MTS1B_TV_SERVER__LISTEN", "127.0.0.1:0")
        .env("MTS1B_TV_SERVER__ADMIN_LISTEN", "127.0.0.1:0");
    cmd
}

/// Lines of a child's stream, as they come.
pub fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) for a line matching `want`, returning it and every line seen.
pub fn wait_for(rx: &mpsc::Receiver<String>, want: impl Fn(&str) -> bool) -> (String, Vec<String>) {
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no such line; saw {seen:#?}"));
        seen.push(line.clone());
        if want(&line) {
            return (line, seen);
        }
    }
}

/// Every remaining line, up to the stream's end (the child has exited, so the end comes).
pub fn drain(rx: &mpsc::Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => out.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => return out,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the stream never ended; got {out:#?}"),
        }
    }
}

/// Kills the process when dropped, so a failing test leaves no server behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// A `serve` process that has logged where it listens.
pub struct Running {
    pub child: KillOnDrop,
    pub stderr: mpsc::Receiver<String>,
    pub public: SocketAddr,
    pub admin: SocketAddr,
}

/// Starts `cmd` (a `serve` command) and waits (bounded) for its `listening` log line.
pub fn serve(cmd: &mut Command) -> Running {
    let mut child = KillOnDrop(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = lines(child.stderr.take().unwrap());
    let (line, _) = wait_for(&stderr, |l| l.contains("\"listening\""));
    let listening: Value = serde_json::from_str(&line).unwrap();
    let addr = |key: &str| listening[key].as_str().unwrap().parse().unwrap();
    Running {
        public: addr("public"),
        admin: addr("admin"),
        child,
        stderr,
    }
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

/// A configuration file in `dir` for the real binary: one fund (`fund-a`, secret `secret-a`,
/// rate limit out of the way), alerts from loopback, the OMS at `oms_port` with fast retries,
/// the store in `dir/data`, and `delivery` (TOML lines for the `[delivery]` table).
pub fn oms_config(dir: &std::path::Path, oms_port: u16, delivery: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[network]
ip_allowlist = ["127.0.0.1"]

[funds.fund-a]
secret = "secret-a"
max_quantity = "10"
rate_limit = {{ per_second = 1000, burst = 1000 }}

[delivery]
sink = "oms"
{delivery}

[delivery.oms]
endpoint = "http://127.0.0.1:{oms_port}"
timeout = "500ms"

[delivery.retry]
initial_backoff = "20ms"
max_backoff = "100ms"

[store]
path = {:?}
"#,
            dir.join("data")
        ),
    )
    .unwrap();
    path
}
