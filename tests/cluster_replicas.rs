//! Several replicas of the real binary on one NATS JetStream (SPEC §14), each a `serve` process
//! with `cluster.backend = "nats"`, against a nats-server of their own on a free port and the
//! OMS simulator: one replay window, one budget per fund, any replica answering for any order,
//! and the orders a SIGKILLed replica held delivered by the others, in stream order.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mts1b_tradingview::core::{ClientOrderId, FundId, IdempotencyKey};
use mts1b_tradingview::runtime::cluster::partitions::partition_of;
use support::nats::{NatsCluster, NatsServer, connect};
use support::process::{Running, bin, oms_config, serve};
use support::{Reply, request, temp_dir};

/// A fund's rate limit out of the way.
const NO_LIMIT: &str = "rate_limit = { per_second = 1000, burst = 1000 }";

/// A replica's config: `oms_config`'s fund and OMS, on the cluster at `nats` (one copy of each
/// stream: one server), with `rate_limit` (TOML: `[funds.fund-a]`'s rate limit line).
fn config(dir: &Path, oms_port: u16, nats: &str, delivery: &str, rate_limit: &str) -> PathBuf {
    let path = oms_config(dir, oms_port, delivery);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "rate_limit = { per_second = 1000, burst = 1000 }",
        rate_limit,
    );
    let text = format!(
        "{text}\n[cluster]\nbackend = \"nats\"\n\n[cluster.nats]\nservers = [\"{nats}\"]\nreplicas = 1\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn replicas(config: &Path, n: usize) -> Vec<Running> {
    (0..n)
        .map(|_| serve(bin().args(["serve", "--config", config.to_str().unwrap()])))
        .collect()
}

fn alert(key: &str, symbol: &str) -> String {
    format!(
        r#"{{"secret":"secret-a","strategy_id":"s","fund_id":"fund-a","symbol":"{symbol}","side":"buy","quantity":"1","order_type":"market","idempotency_key":"{key}"}}"#
    )
}

fn client_order_id(key: &str) -> String {
    ClientOrderId::derive(
        "tradingview",
        &FundId::parse("fund-a").unwrap(),
        &IdempotencyKey::parse(key).unwrap(),
    )
    .to_string()
}

async fn post(replica: &Running, body: &str) -> Reply {
    request(replica.public, "POST", "/webhook", &[], body.as_bytes()).await
}

/// Sends every (replica, body) at once; the replies in the same order.
async fn post_all(sends: Vec<(&Running, String)>) -> Vec<Reply> {
    let tasks: Vec<_> = sends
        .into_iter()
        .map(|(replica, body)| {
            let public = replica.public;
            tokio::spawn(
                async move { request(public, "POST", "/webhook", &[], body.as_bytes()).await },
            )
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_sent_to_three_replicas_at_once_is_accepted_once_and_every_replica_answers_for_it()
 {
    let server = NatsServer::start("replicas-same");
    let oms = sim::start(sim::Script::default()).await;
    let dir = temp_dir("replicas-same");
    let config = config(&dir, oms.addr.port(), &server.url(), "", NO_LIMIT);
    let replicas = replicas(&config, 3);

    for round in 0..5 {
        let key = format!("same-{round}");
        let body = alert(&key, "BTC-USD");
        let replies = post_all(replicas.iter().map(|r| (r, body.clone())).collect()).await;
        let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409, 409], "{replies:?}");
        let accepted = replies.iter().find(|r| r.status == 200).unwrap().json();
        assert_eq!(accepted["client_order_id"], client_order_id(&key));
        // Every replica answers the same for it, whichever delivered it.
        let mut seen = BTreeSet::new();
        for replica in &replicas {
            let status = request(
                replica.admin,
                "GET",
                &format!("/orders/fund-a/{key}"),
                &[],
                b"",
            )
            .await;
            assert_eq!(status.status, 200, "{}", status.body);
            let status = status.json();
            assert_eq!(status["status"], "submitted");
            seen.insert(status["order_id"].as_str().unwrap().to_owned());
        }
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            Some(seen.first().unwrap().as_str()),
            accepted["order_id"].as_str()
        );
        // And a repeat later is refused by each.
        for replica in &replicas {
            assert_eq!(post(replica, &body).await.status, 409);
        }
    }
    // Each accepted once, delivered once.
    assert_eq!(oms.served().len(), 5, "{:?}", oms.served());
    // A rejection after the claim releases it everywhere: a quantity over the fund's envelope
    // is refused after the replay window's claim, and the corrected resend is taken.
    let too_big =
        alert("fixed-later", "BTC-USD").replace(r#""quantity":"1""#, r#""quantity":"11""#);
    assert_eq!(post(&replicas[0], &too_big).await.status, 422);
    assert_eq!(
        post(&replicas[1], &alert("fixed-later", "BTC-USD"))
            .await
            .status,
        200
    );
}

/// The CSRF token in a replica's admin page.
async fn csrf_of(replica: &Running) -> String {
    let page = request(replica.admin, "GET", "/", &[], b"").await.body;
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page[at..at + 64].to_owned()
}

/// Posts the page's kill-switch form (`halt` or `resume`) to a replica's admin listener.
async fn kill_switch(replica: &Running, action: &str) -> Reply {
    let body = format!("csrf={}", csrf_of(replica).await);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let path = format!("/funds/fund-a/{action}");
    request(replica.admin, "POST", &path, &form, body.as_bytes()).await
}

/// Awaits (bounded) until `replica` answers an alert with `status`; returns how many alerts it
/// took (each one a new key).
async fn until_alert_is(replica: &Running, status: u16, tag: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 1.. {
        let reply = post(replica, &alert(&format!("{tag}-{n}"), "BTC-USD")).await;
        if reply.status == status {
            return n;
        }
        assert!(Instant::now() < deadline, "never {status}: {reply:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fund_halted_from_one_replicas_page_is_halted_on_every_replica_and_on_a_new_one() {
    let server = NatsServer::start("replicas-halt");
    let oms = sim::start(sim::Script::default()).await;
    let dir = temp_dir("replicas-halt");
    let config = config(&dir, oms.addr.port(), &server.url(), "", NO_LIMIT);
    let replicas = replicas(&config, 2);
    assert_eq!(
        post(&replicas[1], &alert("before", "BTC-USD")).await.status,
        200
    );

    assert_eq!(kill_switch(&replicas[0], "halt").await.status, 303);
    // Halted on the replica whose page was used before the page answered...
    let reply = post(&replicas[0], &alert("on-0", "BTC-USD")).await;
    assert_eq!(reply.json()["error"], "fund_halted", "{reply:?}");
    // ...and on the other once its watch delivers the change.
    until_alert_is(&replicas[1], 422, "on-1").await;
    let page = request(replicas[1].admin, "GET", "/", &[], b"").await.body;
    assert!(page.contains("halted</span> from this page at"), "{page}");
    // A replica started now reads the halt before it serves.
    let late = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
    let reply = post(&late, &alert("on-late", "BTC-USD")).await;
    assert_eq!(reply.json()["error"], "fund_halted", "{reply:?}");

    // Resumed from another replica's page: every replica takes alerts again.
    assert_eq!(kill_switch(&late, "resume").await.status, 303);
    let n = until_alert_is(&replicas[0], 200, "resumed-0").await;
    until_alert_is(&replicas[1], 200, "resumed-1").await;
    // Nothing a halted replica refused reached the OMS.
    let accepted = [
        client_order_id("before"),
        client_order_id(&format!("resumed-0-{n}")),
    ];
    let served = until_served(&oms, &accepted.into_iter().collect()).await;
    assert!(
        served
            .iter()
            .all(|id| id != &client_order_id("on-0") && id != &client_order_id("on-late")),
        "{served:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fund_driven_at_its_limit_through_three_replicas_spends_one_budget() {
    let server = NatsServer::start("replicas-budget");
    let oms = sim::start(sim::Script::default()).await;
    let dir = temp_dir("replicas-budget");
    // 10 at once, then one a second: three replicas with budgets of their own would take 30.
    let rate_limit = "rate_limit = { per_second = 1, burst = 10 }";
    let config = config(&dir, oms.addr.port(), &server.url(), "", rate_limit);
    let replicas = replicas(&config, 3);

    let started = Instant::now();
    let sends = (0..45)
        .map(|i| (&replicas[i % 3], alert(&format!("budget-{i}"), "BTC-USD")))
        .collect();
    let replies = post_all(sends).await;
    let elapsed = started.elapsed();
    let accepted = replies.iter().filter(|r| r.status == 200).count();
    let limited = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!(accepted + limited, 45, "{replies:?}");
    // The burst, plus what refilled while the requests ran.
    let refilled = elapsed.as_secs() as usize + 1;
    assert!(
        (10..=10 + refilled).contains(&accepted),
        "{accepted} accepted in {elapsed:?}"
    );
    eprintln!(
        "{accepted} of 45 accepted through three replicas in {elapsed:?} (one budget: 10 + 1/s)"
    );
    let retry = replies.iter().find(|r| r.status == 429).unwrap();
    assert!(retry.header("retry-after").is_some(), "{retry:?}");
}

/// Awaits (bounded) until the OMS has served every id of `acknowledged`; what it served.
async fn until_served(oms: &sim::Oms, acknowledged: &BTreeSet<String>) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let served: BTreeSet<String> = oms.served().into_iter().collect();
        if acknowledged.is_subset(&served) {
            return served;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} delivered",
            served.intersection(acknowledged).count(),
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigkill(running: &mut Running) {
    let status = Command::new("kill")
        .args(["-KILL", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = running.child.wait();
}

/// The process holding the partition of fund-a's strategy `s` (every stream of the kill test;
/// lease values name `host-pid`).
async fn partition_holder(nats: &str) -> Option<u32> {
    let cluster = connect(vec![nats.to_owned()], 1).await;
    let leases = cluster
        .jetstream
        .get_key_value("MTS1B_TV_leases")
        .await
        .unwrap();
    let partition = partition_of("MTS1B_TV.orders.fund-a.s.BTC-USD");
    let holder = leases.get(format!("partition.{partition}")).await.ok()??;
    String::from_utf8_lossy(&holder)
        .rsplit('-')
        .next()
        .and_then(|pid| pid.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_oms_down_a_sigkilled_replicas_streams_are_delivered_by_the_others_in_order() {
    let server = NatsServer::start("replicas-kill");
    // The OMS's port, bound but not listening until the OMS comes up.
    let (reserved, oms_port) = support::reserved_port();
    let dir = temp_dir("replicas-kill");
    let config = config(
        &dir,
        oms_port,
        &server.url(),
        r#"respond_within = "100ms""#,
        NO_LIMIT,
    );
    let mut replicas = replicas(&config, 3);

    // Six streams (symbols); each alert answered before the next is sent, to the replicas in
    // turn, so each stream's arrival order is its send order.
    let symbols = [
        "BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "XRP-USD", "DOT-USD",
    ];
    let mut sent: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for i in 0..60 {
        let (symbol, key) = (symbols[i % symbols.len()], format!("kill-{i}"));
        let reply = post(&replicas[i % 3], &alert(&key, symbol)).await;
        assert_eq!(reply.status, 202, "the OMS is down: {}", reply.body);
        sent.entry(symbol).or_default().push(client_order_id(&key));
    }
    // The replica holding the streams' partition (retrying the OMS meanwhile) dies.
    let deadline = Instant::now() + Duration::from_secs(10);
    let victim = loop {
        let holder = partition_holder(&server.url()).await;
        if let Some(victim) = replicas.iter().position(|r| Some(r.child.id()) == holder) {
            break victim;
        }
        assert!(
            Instant::now() < deadline,
            "no replica holds the streams: {holder:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    sigkill(&mut replicas[victim]);
    let killed_at = Instant::now();
    let oms = sim::start_on(reserved.listen(1024).unwrap(), sim::Script::default()).await;

    let acknowledged: BTreeSet<String> = sent.values().flatten().cloned().collect();
    until_served(&oms, &acknowledged).await;
    let delivered_in = killed_at.elapsed();
    // Every call the simulator got, repeats included: only ids the alerts derive to, and within
    // each stream, first seen in arrival order.
    let served = oms.served();
    let foreign: Vec<&String> = served
        .iter()
        .filter(|id| !acknowledged.contains(*id))
        .collect();
    assert!(foreign.is_empty(), "ids no alert derives to: {foreign:?}");
    for (symbol, ids) in &sent {
        let mut first_seen = Vec::new();
        for id in served.iter().filter(|id| ids.contains(id)) {
            if !first_seen.contains(id) {
                first_seen.push(id.clone());
            }
        }
        assert_eq!(&first_seen, ids, "{symbol}: out of order");
    }
    let repeats = served.len() - acknowledged.len();
    eprintln!(
        "replica {victim} (holding the 6 streams' partition) SIGKILLed; all {} acknowledged orders delivered {delivered_in:?} later; {} calls, {repeats} repeated, 0 lost",
        acknowledged.len(),
        served.len()
    );
    // The survivors answer for every order, the dead replica's included.
    for replica in replicas.iter().enumerate().filter(|(i, _)| *i != victim) {
        let status = request(replica.1.admin, "GET", "/orders/fund-a/kill-0", &[], b"").await;
        assert_eq!(status.json()["status"], "submitted", "{}", status.body);
    }
}

/// Awaits (bounded) until `/readyz` answers `status`; returns its body.
async fn until_ready_is(replica: &Running, status: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = request(replica.admin, "GET", "/readyz", &[], b"").await;
        if reply.status == status {
            return reply.json();
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never {status}: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_is_503_with_nothing_recorded_and_readyz_says_why_until_it_is_back() {
    let mut server = NatsServer::start("replicas-outage");
    let oms = sim::start(sim::Script::default()).await;
    let dir = temp_dir("replicas-outage");
    let config = config(&dir, oms.addr.port(), &server.url(), "", NO_LIMIT);
    let replica = replicas(&config, 1).pop().unwrap();
    assert_eq!(
        post(&replica, &alert("before", "BTC-USD")).await.status,
        200
    );

    server.kill();
    let why = until_ready_is(&replica, 503).await;
    let reasons = why["reasons"].to_string();
    assert!(
        reasons.contains("NATS") && reasons.contains(&server.url()),
        "{why}"
    );
    let refused = post(&replica, &alert("during", "BTC-USD")).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.json()["error"], "unavailable");

    // Back on its folder: ready again on its own, the refused alert's resend taken, the order
    // accepted before the outage still a duplicate.
    server.restart();
    until_ready_is(&replica, 200).await;
    let ready_at = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    let resent = loop {
        let reply = post(&replica, &alert("during", "BTC-USD")).await;
        if reply.status != 503 || Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Delivered by the replica, once the OMS answered (a 202 when NATS was slower to open
    // the delivery's buckets than respond_within).
    assert!([200, 202].contains(&resent.status), "{}", resent.body);
    assert_eq!(
        post(&replica, &alert("before", "BTC-USD")).await.status,
        409
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while oms.served().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "never delivered: {:?}",
            oms.served()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        oms.served(),
        [client_order_id("before"), client_order_id("during")]
    );
    eprintln!(
        "NATS restarted: the resend answered {} and delivered {:?} after readiness returned",
        resent.status,
        ready_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_nats_node_leading_the_order_log_under_steady_alerts_loses_no_acknowledged_order()
 {
    let mut nodes = NatsCluster::start("replicas-leader", 3);
    let oms = sim::start(sim::Script::default()).await;
    let dir = temp_dir("replicas-leader");
    let urls = nodes.urls();
    let config = config(&dir, oms.addr.port(), &urls.join("\", \""), "", NO_LIMIT);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("replicas = 1", "replicas = 3");
    std::fs::write(&config, text).unwrap();
    // The cluster elects its meta leader before a bridge can create its streams.
    let cluster = connect(urls.clone(), 3).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = async_nats::jetstream::stream::Config {
        name: "READY".into(),
        subjects: vec!["ready".into()],
        num_replicas: 3,
        ..Default::default()
    };
    while cluster
        .jetstream
        .get_or_create_stream(probe.clone())
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the cluster never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replicas = replicas(&config, 2);
    let leader = {
        let mut stream = cluster
            .jetstream
            .get_stream("MTS1B_TV_ORDERS")
            .await
            .unwrap();
        let info = stream.info().await.unwrap();
        info.cluster
            .clone()
            .and_then(|c| c.leader)
            .expect("a leader")
    };

    const ALERTS: usize = 150;
    let mut acknowledged = BTreeSet::new();
    let (mut refused, mut duplicate_after_refusal) = (0usize, 0usize);
    let (mut killed_at, mut last_refusal) = (None::<Instant>, None::<Instant>);
    for i in 0..ALERTS {
        if i == ALERTS / 3 {
            nodes.kill(&leader);
            killed_at = Some(Instant::now());
        }
        let key = format!("steady-{i:03}");
        let body = alert(&key, ["BTC-USD", "ETH-USD", "SOL-USD"][i % 3]);
        // The sender's resends: the same alert until a 2xx, to either replica.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut attempt = 0;
        loop {
            let reply = post(&replicas[(i + attempt) % 2], &body).await;
            match reply.status {
                200 | 202 => break,
                503 => {
                    refused += 1;
                    last_refusal = Some(Instant::now());
                }
                // A resend whose first try was stored before the 503, while the first try's
                // claim was still being released: the sender is told it was received.
                409 if attempt > 0 => {
                    duplicate_after_refusal += 1;
                    break;
                }
                _ => panic!("{key}: {} {}", reply.status, reply.body),
            }
            attempt += 1;
            assert!(Instant::now() < deadline, "{key} never acknowledged");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        acknowledged.insert(client_order_id(&key));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused_for = match (killed_at, last_refusal) {
        (Some(at), Some(last)) => last.saturating_duration_since(at),
        _ => Duration::ZERO,
    };
    let served = until_served(&oms, &acknowledged).await;
    assert_eq!(served, acknowledged, "ids no alert derives to");
    eprintln!(
        "leader {leader} killed after {} of {ALERTS} alerts: {refused} answers 503 within {refused_for:?} of the kill, {duplicate_after_refusal} resends told 409; {} acknowledged, all delivered, {} calls, 0 lost",
        ALERTS / 3,
        acknowledged.len(),
        oms.served().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_owed_by_a_replica_that_dies_is_sent_by_another() {
    use support::chat::{SLACK_SECRET, adapters_toml, slack_form_to, slack_signed};
    use support::stand_in::StandIn;

    let server = NatsServer::start("replicas-follow");
    let platform = StandIn::start(&[200]).await;
    let (reserved, oms_port) = support::reserved_port();
    let dir = temp_dir("replicas-follow");
    let config = config(
        &dir,
        oms_port,
        &server.url(),
        r#"respond_within = "100ms""#,
        NO_LIMIT,
    );
    let slack = adapters_toml(
        r#"["fund-a"]"#,
        &format!("response_url_prefix = \"{}/commands/\"", platform.base()),
        "",
        "",
    );
    let text = std::fs::read_to_string(&config).unwrap() + &slack;
    std::fs::write(&config, text).unwrap();
    let mut replicas = replicas(&config, 2);

    // The OMS is down: the command is answered queued by replica 0, which owes its follow-up.
    let response_url = format!("{}/commands/T0001/1234/abcd", platform.base());
    let form = slack_form_to(
        "T0001",
        "U0001",
        "7001",
        "buy 0.05 BINANCE:BTCUSDT market fund=fund-a",
        &response_url,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signed = slack_signed(SLACK_SECRET, &form, now);
    let reply = request(
        replicas[0].public,
        "POST",
        "/slack/webhook",
        &signed.headers(),
        &signed.body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.json()["text"]
            .as_str()
            .unwrap()
            .contains("queued, the OMS has not answered yet; the outcome follows here"),
        "{}",
        reply.body
    );
    // It dies; the OMS comes back; the other replica delivers the order and, the owner gone,
    // sends what it owed.
    sigkill(&mut replicas[0]);
    let killed = Instant::now();
    let _oms = sim::start_on(reserved.listen(1024).unwrap(), sim::Script::default()).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    while platform.received().is_empty() {
        assert!(Instant::now() < deadline, "the follow-up was never sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent_after = killed.elapsed();
    let received = platform.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        (received[0].method.as_str(), received[0].path.as_str()),
        ("POST", "/commands/T0001/1234/abcd")
    );
    let message: serde_json::Value = serde_json::from_str(&received[0].body).unwrap();
    let text = message["text"].as_str().unwrap();
    assert!(
        text.starts_with("buy 0.05 BTC-USD market on fund-a: submitted (order "),
        "{text}"
    );
    eprintln!("the follow-up replica 0 owed was sent by replica 1 {sent_after:?} after the kill");
    // Once: nothing more arrives.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(platform.received().len(), 1);
}
