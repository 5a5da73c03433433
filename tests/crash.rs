//! Crash safety (SPEC §7): the real binary gets 202s while the OMS is down, is SIGKILLed (some
//! requests still in flight), restarts, the OMS comes up, and every alert acknowledged with a
//! 2xx reaches the OMS exactly once per client order id; repeats of those keys are still 409.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::process::{Running, bin, serve};
use support::{request, temp_dir};

fn config(dir: &Path, oms_port: u16) -> std::path::PathBuf {
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
respond_within = "100ms"

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

fn alert(key: &str) -> String {
    format!(
        r#"{{"secret":"secret-a","strategy_id":"s","fund_id":"fund-a","symbol":"BTC-USD","side":"buy","quantity":"1","order_type":"market","idempotency_key":"{key}"}}"#
    )
}

/// The client order id the bridge derives for one of this test's alerts.
fn client_order_id(key: &str) -> String {
    use mts1b_tradingview::core::{ClientOrderId, FundId, IdempotencyKey};
    ClientOrderId::derive(
        "tradingview",
        &FundId::parse("fund-a").unwrap(),
        &IdempotencyKey::parse(key).unwrap(),
    )
    .to_string()
}

fn sigkill(running: &mut Running) {
    let status = Command::new("kill")
        .args(["-KILL", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    assert!(!exit.success(), "killed, not exited: {exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_alert_reaches_the_oms_exactly_once_across_a_sigkill() {
    let dir = temp_dir("crash");
    // A port for the OMS, which is down for now.
    let oms_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = config(&dir, oms_port);
    let mut first = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));

    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    for i in 0..20 {
        let key = format!("seq-{i}");
        let reply = request(
            first.public,
            "POST",
            "/webhook",
            &[],
            alert(&key).as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 202, "the OMS is down: {}", reply.body);
        let id = reply.json()["client_order_id"].as_str().unwrap().to_owned();
        assert_eq!(id, client_order_id(&key));
        acknowledged.insert(id);
    }
    // More alerts in flight at the moment of the kill: those answered 2xx count as acknowledged.
    let public = first.public;
    let inflight: Vec<_> = (0..20)
        .map(|i| {
            tokio::spawn(async move {
                let body = alert(&format!("burst-{i}"));
                let reply = tokio::time::timeout(
                    Duration::from_secs(5),
                    support::try_request(public, "POST", "/webhook", &[], body.as_bytes()),
                );
                reply.await.ok().flatten()
            })
        })
        .collect();
    // Let some of them get in flight; the invariant below must hold for any interleaving.
    tokio::time::sleep(Duration::from_millis(20)).await;
    sigkill(&mut first);
    for task in inflight {
        if let Ok(Some(reply)) = task.await
            && (200..300).contains(&reply.status)
        {
            acknowledged.insert(reply.json()["client_order_id"].as_str().unwrap().to_owned());
        }
    }
    assert!(acknowledged.len() >= 20);

    // Restart on the same data folder, then bring the OMS up.
    let second = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", oms_port))
        .await
        .unwrap();
    let oms = sim::start_on(listener, sim::Script::default()).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let accepted: BTreeSet<String> = oms.accepted_ids().into_iter().collect();
        if acknowledged.is_subset(&accepted) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all delivered: {} of {}",
            accepted.len(),
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Exactly once per alert: the simulator dedupes on client_order_id like the real OMS, so what
    // could go wrong is an order under an id no alert of ours derives to (a second order for one
    // alert). Every accepted id must be one we sent.
    let sent: BTreeSet<String> = (0..20)
        .map(|i| format!("seq-{i}"))
        .chain((0..20).map(|i| format!("burst-{i}")))
        .map(|key| client_order_id(&key))
        .collect();
    let accepted: BTreeSet<String> = oms.accepted_ids().into_iter().collect();
    assert!(
        accepted.is_subset(&sent),
        "the OMS got orders no alert asked for"
    );
    let resends = oms.calls() - accepted.len();
    eprintln!(
        "{} accepted, {} calls in all ({resends} resends or retries)",
        accepted.len(),
        oms.calls()
    );

    // The replay window survived the restart.
    for i in [0, 7, 19] {
        let reply = request(
            second.public,
            "POST",
            "/webhook",
            &[],
            alert(&format!("seq-{i}")).as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 409, "seq-{i}: {}", reply.body);
    }
    let status = request(second.admin, "GET", "/orders/fund-a/seq-3", &[], b"").await;
    assert_eq!(status.json()["status"], "submitted", "{}", status.body);
}
