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

/// A free loopback port (bound and let go: a race only with another process taking it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsServer {
    /// A single server with JetStream.
    pub fn start(tag: &str) -> Self {
        let port = free_port();
        let dir = super::temp_dir(&format!("nats-{tag}"));
        let child = Command::new(NATS_SERVER)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs");
        let server = Self { child, port, dir };
        server.until_listening();
        server
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server never listened");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
