//! `doctor` against the real binary (SPEC §15): a healthy setup, a broken one (each check
//! failing with its fix), and beside a running service (its ports and store are its own).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use rcgen::{CertificateParams, KeyPair};
use support::process::{Running, bin, serve, terminate};
use support::temp_dir;

/// The binary with the configuration's own listen addresses (`bin` sets any free port).
fn own_ports() -> std::process::Command {
    let mut cmd = bin();
    cmd.env_remove("MTS1B_TV_SERVER__LISTEN")
        .env_remove("MTS1B_TV_SERVER__ADMIN_LISTEN");
    cmd
}

fn doctor(config: &Path) -> (Output, Vec<String>) {
    let out = own_ports()
        .args(["doctor", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (out, lines)
}

fn line<'a>(lines: &'a [String], check: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l[6..].starts_with(&format!("{check}:")))
        .unwrap_or_else(|| panic!("no {check} line in {lines:#?}"))
}

/// A self-signed certificate for localhost valid for `days` more days, and its key.
fn certificate(dir: &Path, days: i64) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("cert-{days}.pem")),
        dir.join(format!("key-{days}.pem")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, body).unwrap();
    path
}

/// The clock is the host's: whatever its state, the exit status must follow the lines.
fn exit_follows_the_lines(out: &Output, lines: &[String]) {
    let all_ok = lines.iter().all(|l| l.starts_with("ok    "));
    assert_eq!(out.status.success(), all_ok, "{lines:#?}");
}

#[test]
fn a_healthy_setup_passes_every_check_but_the_hosts_clock_may_not() {
    let dir = temp_dir("doctor-healthy");
    let (cert, key) = certificate(&dir, 90);
    let path = config(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n[server.tls]\ncert = {cert:?}\nkey = {key:?}\n[funds.f]\nsecret = \"s-1234567890\"\nmax_quantity = \"1\"\n[delivery]\nsink = \"paper\"\n[store]\npath = {:?}\n",
            dir.join("data")
        ),
    );
    let (out, lines) = doctor(&path);
    assert_eq!(lines.len(), 8, "one line per check: {lines:#?}");
    for check in [
        "configuration",
        "listeners",
        "tls",
        "secrets",
        "oms",
        "state",
        "allowlist",
    ] {
        assert!(line(&lines, check).starts_with("ok    "), "{lines:#?}");
    }
    assert!(
        line(&lines, "tls").contains("valid for 89 more days")
            || line(&lines, "tls").contains("valid for 90 more days")
    );
    assert!(line(&lines, "clock").contains("the kernel reports the clock"));
    exit_follows_the_lines(&out, &lines);
}

#[test]
fn a_broken_setup_fails_each_check_with_its_fix() {
    let dir = temp_dir("doctor-broken");
    let (cert, key) = certificate(&dir, 5);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    // A reserved port nobody listens on: the OMS is down.
    let oms = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let not_a_folder = dir.join("a-file");
    std::fs::write(&not_a_folder, "").unwrap();
    let path = config(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:0\"\n[server.tls]\ncert = {cert:?}\nkey = {key:?}\n[network]\nip_allowlist = [\"52.89.214.238\"]\n[funds.f]\nsecret = \"s-1234567890\"\nmax_quantity = \"1\"\n[delivery]\nsink = \"oms\"\n[delivery.oms]\nendpoint = \"http://127.0.0.1:{oms}\"\n[store]\npath = {:?}\n",
            not_a_folder.join("data")
        ),
    );
    let (out, lines) = doctor(&path);
    assert_eq!(out.status.code(), Some(1));
    for (check, says) in [
        ("listeners", "Address already in use"),
        ("tls", "expires in "),
        ("oms", "unreachable"),
        ("state", "cannot create"),
        (
            "allowlist",
            "34.212.75.30, 54.218.53.128, 52.32.178.7 are not allowed",
        ),
    ] {
        let l = line(&lines, check);
        assert!(
            l.starts_with("FAIL  ") && l.contains(says) && l.contains(". Fix: "),
            "{check}: {l}"
        );
    }
    let tls = line(&lines, "tls");
    assert!(
        tls.contains("expires in 4 days") || tls.contains("expires in 5 days"),
        "{tls}"
    );
    drop(taken);

    let (out, lines) = doctor(&config(&dir, "[funds.f]\nmax_quantity = \"-1\"\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        lines[0].starts_with("FAIL  configuration: ") && lines[0].contains("funds.f.max_quantity"),
        "{lines:#?}"
    );
    assert_eq!(
        lines.len(),
        2,
        "the other checks need a valid configuration: {lines:#?}"
    );
}

#[tokio::test]
async fn beside_a_running_service_its_ports_and_store_are_its_own() {
    let dir = temp_dir("doctor-beside");
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (public, admin) = (free(), free());
    let path = config(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:{public}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n[network]\nip_allowlist = [\"127.0.0.1\", \"52.89.214.238\", \"34.212.75.30\", \"54.218.53.128\", \"52.32.178.7\"]\n[funds.f]\nsecret = \"s-1234567890\"\nmax_quantity = \"1\"\n[delivery]\nsink = \"paper\"\n[store]\npath = {:?}\n",
            dir.join("data")
        ),
    );
    let Running {
        mut child,
        public: listening,
        ..
    } = serve(own_ports().args(["serve", "--config", path.to_str().unwrap()]));
    let (_, lines) = doctor(&path);
    let listeners = line(&lines, "listeners");
    assert!(
        listeners.starts_with("ok    ")
            && listeners.matches("is held by the running bridge").count() == 2,
        "{listeners}"
    );
    assert!(
        line(&lines, "state").contains("holds the order store"),
        "{lines:#?}"
    );
    // The service was not disturbed: its store lock and ports are intact.
    let alert = r#"{"secret":"s-1234567890","strategy_id":"s","fund_id":"f","symbol":"BTC-USD","side":"buy","quantity":"1","order_type":"market","idempotency_key":"k"}"#;
    let reply = support::request(listening, "POST", "/webhook", &[], alert.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(terminate(&mut child).success());
}
