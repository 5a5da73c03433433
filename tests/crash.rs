//! Crash safety (SPEC §7): the real binary gets 202s while the OMS is down, is SIGKILLed while
//! requests it has recorded are still waiting for their answer, restarts, the OMS comes up, and
//! every alert it recorded, answered or not, reaches the OMS; the OMS sees no order that no alert
//! asked for; repeats of those keys are still 409. And (SPEC §13) a cancel acknowledged before
//! the kill reaches the OMS after the restart, after its target.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::process::{Running, bin, oms_config, serve};
use support::{request, temp_dir};

fn config(dir: &Path, oms_port: u16) -> std::path::PathBuf {
    // Long enough that requests killed mid-wait are surely still waiting when the kill comes.
    oms_config(dir, oms_port, r#"respond_within = "2s""#)
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

/// Sends one alert per key at once; the replies, in key order (`None`: no answer).
async fn send_all(public: std::net::SocketAddr, keys: &[String]) -> Vec<Option<support::Reply>> {
    let tasks: Vec<_> = keys
        .iter()
        .map(|key| {
            let body = alert(key);
            tokio::spawn(async move {
                let reply = tokio::time::timeout(
                    Duration::from_secs(10),
                    support::try_request(public, "POST", "/webhook", &[], body.as_bytes()),
                );
                reply.await.ok().flatten()
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_alert_reaches_the_oms_across_a_sigkill() {
    let dir = temp_dir("crash");
    // The OMS's port, bound but not listening until the OMS comes up: connections are refused
    // meanwhile, and no other test can take the port.
    let (reserved, oms_port) = support::reserved_port();
    let config = config(&dir, oms_port);
    let mut first = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));

    // Acknowledged: 202, the OMS being down.
    let acknowledged: Vec<String> = (0..20).map(|i| format!("seq-{i}")).collect();
    for (key, reply) in acknowledged
        .iter()
        .zip(send_all(first.public, &acknowledged).await)
    {
        let reply = reply.expect("an answer");
        assert_eq!(reply.status, 202, "the OMS is down: {}", reply.body);
        assert_eq!(reply.json()["client_order_id"], client_order_id(key));
    }

    // Recorded, not yet answered: the requests wait up to respond_within for the OMS when the
    // kill comes. That they are on disk is read from /orders, not guessed from a sleep.
    let unanswered: Vec<String> = (0..20).map(|i| format!("burst-{i}")).collect();
    let public = first.public;
    let keys = unanswered.clone();
    let burst = tokio::spawn(async move { send_all(public, &keys).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for key in &unanswered {
        loop {
            let status = request(
                first.admin,
                "GET",
                &format!("/orders/fund-a/{key}"),
                &[],
                b"",
            )
            .await;
            if status.status == 200 && status.json()["status"] == "queued" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{key} never recorded"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    sigkill(&mut first);
    let in_flight_at_kill = burst
        .await
        .unwrap()
        .iter()
        .filter(|reply| reply.is_none())
        .count();
    eprintln!("{in_flight_at_kill} of 20 recorded alerts were unanswered at the kill");
    assert!(
        in_flight_at_kill > 0,
        "the kill came after every answer: nothing was in flight"
    );

    // Restart on the same data folder, then bring the OMS up on its port.
    let second = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
    let oms = sim::start_on(reserved.listen(1024).unwrap(), sim::Script::default()).await;

    let recorded: BTreeSet<String> = acknowledged
        .iter()
        .chain(&unanswered)
        .map(|key| client_order_id(key))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let accepted: BTreeSet<String> = oms.accepted_ids().into_iter().collect();
        if recorded.is_subset(&accepted) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all delivered: {} of {}",
            accepted.len(),
            recorded.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The OMS dedupes resends on client_order_id; what the bridge could get wrong is an order
    // under an id no alert of ours derives to.
    let accepted: BTreeSet<String> = oms.accepted_ids().into_iter().collect();
    assert_eq!(accepted, recorded, "the OMS got orders no alert asked for");
    eprintln!(
        "{} accepted, {} calls in all ({} resends or retries)",
        accepted.len(),
        oms.calls(),
        oms.calls() - accepted.len()
    );

    // The replay window survived the restart.
    for key in ["seq-0", "seq-7", "burst-19"] {
        let reply = request(
            second.public,
            "POST",
            "/webhook",
            &[],
            alert(key).as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 409, "{key}: {}", reply.body);
    }
    let status = request(second.admin, "GET", "/orders/fund-a/burst-3", &[], b"").await;
    assert_eq!(status.json()["status"], "submitted", "{}", status.body);
}

fn cancel(key: &str, target: &str) -> String {
    format!(
        r#"{{"secret":"secret-a","strategy_id":"s","fund_id":"fund-a","action":"cancel","target_key":"{target}","symbol":"BTC-USD","idempotency_key":"{key}"}}"#
    )
}

/// SPEC §13: a cancel acknowledged before a SIGKILL is delivered after the restart, after its
/// target; one already applied in the outbox (its target never sent) stays applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_acknowledged_before_a_sigkill_reaches_the_oms_after_its_target() {
    let dir = temp_dir("crash-cancel");
    let oms = sim::start(sim::Script::default()).await;
    let config = config(&dir, oms.addr.port());
    let mut first = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
    let send = |public, body: String| async move {
        request(public, "POST", "/webhook", &[], body.as_bytes()).await
    };
    let live = send(first.public, alert("live")).await;
    assert_eq!(live.status, 200, "{}", live.body);
    // The OMS goes down: every call is answered UNAVAILABLE.
    oms.script(sim::Script {
        unavailable_calls: usize::MAX,
        ..sim::Script::default()
    });
    let queued = send(first.public, alert("queued")).await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    // The order working at the OMS needs the OMS: acknowledged, queued behind nothing of its
    // own but its stream's order.
    let undo_live = send(first.public, cancel("undo-live", "live")).await;
    assert_eq!(undo_live.status, 202, "{}", undo_live.body);
    // The queued one is cancelled right here, durably, before the answer.
    let undo_queued = send(first.public, cancel("undo-queued", "queued")).await;
    assert_eq!(undo_queued.status, 200, "{}", undo_queued.body);
    let later = send(first.public, alert("later")).await;
    assert_eq!(later.status, 202, "{}", later.body);
    sigkill(&mut first);

    let second = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
    oms.script(sim::Script::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while oms.booked(&client_order_id("later")).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "`later` never delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let served = oms.served();
    let position = |call: &str| served.iter().position(|c| c == call);
    let undo = served
        .iter()
        .position(|c| c.starts_with("cancel:"))
        .expect("the cancel reached the OMS");
    assert!(
        position(&client_order_id("live")) < Some(undo),
        "{served:?}"
    );
    assert!(
        Some(undo) < position(&client_order_id("later")),
        "{served:?}"
    );
    assert_eq!(position(&client_order_id("queued")), None, "{served:?}");
    assert_eq!(
        oms.booked(&client_order_id("live")).unwrap().state,
        sim::book::OrderState::Cancelled
    );
    let status = |key: &'static str| {
        let admin = second.admin;
        async move {
            request(admin, "GET", &format!("/orders/fund-a/{key}"), &[], b"")
                .await
                .json()
        }
    };
    assert_eq!(status("queued").await["status"], "cancelled");
    assert_eq!(status("undo-queued").await["status"], "applied");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while status("undo-live").await["status"] != "applied" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "undo-live never applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SPEC §13: a cancel-all of every symbol acknowledged before a SIGKILL holds its scope again
/// after the restart: an order of another symbol of the same strategy, sent after the restart
/// while the OMS is still down, never reaches the OMS before the cancel-all does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_all_acknowledged_before_a_sigkill_still_holds_its_scope_after_the_restart() {
    let dir = temp_dir("crash-cancel-all");
    let oms = sim::start(sim::Script::default()).await;
    let config = config(&dir, oms.addr.port());
    let mut first = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
    let send = |public, body: String| async move {
        request(public, "POST", "/webhook", &[], body.as_bytes()).await
    };
    let working = send(first.public, alert("working")).await;
    assert_eq!(working.status, 200, "{}", working.body);
    let down = sim::Script {
        unavailable_calls: usize::MAX,
        ..sim::Script::default()
    };
    oms.script(down.clone());
    let flat = r#"{"secret":"secret-a","strategy_id":"s","fund_id":"fund-a","action":"cancel_all","idempotency_key":"flat"}"#;
    let flat = send(first.public, flat.to_owned()).await;
    assert_eq!(flat.status, 202, "{}", flat.body);
    sigkill(&mut first);

    let second = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
    let after = alert("eth-after").replace("BTC-USD", "ETH-USD");
    let after = send(second.public, after).await;
    assert_eq!(after.status, 202, "{}", after.body);
    // Unheld, the new order's stream would call the OMS at once; held, it waits while the
    // cancel-all retries. Two cancel-all attempts after the order was acknowledged.
    let calls = || oms.state.lock().unwrap().calls.clone();
    let acknowledged_at = calls().len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while calls()[acknowledged_at..]
        .iter()
        .filter(|c| c.starts_with("cancel_all:"))
        .count()
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cancel-all is not retried: {:?}",
            calls()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let eth = client_order_id("eth-after");
    assert!(!calls().contains(&eth), "{:?}", calls());
    oms.script(sim::Script::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while oms.booked(&eth).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "`eth-after` never delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let served = oms.served();
    let position = |call: &str| served.iter().position(|c| c == call);
    let cleared = served
        .iter()
        .position(|c| c.starts_with("cancel_all:"))
        .expect("the cancel-all reached the OMS");
    assert!(Some(cleared) < position(&eth), "{served:?}");
    assert_eq!(
        oms.booked(&client_order_id("working")).unwrap().state,
        sim::book::OrderState::Cancelled
    );
    drop(second);
}
