//! The bare JetStream publish the cluster backend's 2xx waits for, measured on its own: the
//! order log's append (file storage, the given replicas, de-duplication by id) at a fixed rate,
//! one append in flight per tick, for the baseline of SPEC §14's latency target.
//!
//! ```text
//! cargo run --release --example jetstream_publish -- SERVERS REPLICAS RATE SECONDS [gates]
//! ```
//! SERVERS is a comma-separated list of `nats://host:port`; prints p50/p99/p99.9 and the
//! acknowledged count. `bench/jetstream.sh` starts one or three local servers and runs it.
//!
//! With `gates`, each append is preceded by what SPEC §14 requires before any 2xx: a unit of the
//! fund's shared budget (one fund per append, as `bench/cluster.sh` sends) and the replay claim,
//! in sequence, through the cluster backend's own types: the floor of the bridge's accept path,
//! without HTTP, translation or delivery.

use std::time::{Duration, Instant};

use std::sync::Arc;

use mts1b_tradingview::core::{ClientOrderId, FundId, IdempotencyKey, RateLimit, SystemClock};
use mts1b_tradingview::runtime::cluster::budget::SharedBudgets;
use mts1b_tradingview::runtime::cluster::log::OrderLog;
use mts1b_tradingview::runtime::cluster::replay::SharedReplayWindow;
use mts1b_tradingview::runtime::cluster::{Cluster, Credentials, NatsSettings};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let gated = args.get(4).map(String::as_str) == Some("gates");
    let [servers, replicas, rate, seconds] = <[String; 4]>::try_from(
        args.into_iter().take(4).collect::<Vec<_>>(),
    )
    .unwrap_or_else(|_| {
        eprintln!("usage: jetstream_publish SERVERS REPLICAS RATE SECONDS [gates]");
        std::process::exit(2)
    });
    let (replicas, rate, seconds): (usize, u64, u64) = (
        replicas.parse().expect("replicas"),
        rate.parse().expect("rate"),
        seconds.parse().expect("seconds"),
    );
    let cluster = Cluster::connect(NatsSettings {
        servers: servers.split(',').map(str::to_owned).collect(),
        credentials: Credentials::None,
        prefix: "BENCH".into(),
        replicas,
        timeout: Duration::from_secs(5),
    })
    .await
    .expect("NATS");
    let log = loop {
        match OrderLog::open(
            &cluster,
            Duration::from_secs(300),
            Duration::from_secs(3600),
        )
        .await
        {
            Ok(log) => break log,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let clock = Arc::new(SystemClock);
    let gates = if gated {
        Some((
            SharedBudgets::open(&cluster, clock.clone())
                .await
                .expect("budgets"),
            SharedReplayWindow::open(
                &cluster,
                Duration::from_secs(3600),
                Duration::from_secs(30),
                clock,
            )
            .await
            .expect("replay window"),
        ))
    } else {
        None
    };
    let limit = RateLimit {
        per_second: 1_000,
        burst: 1_000,
    };
    let total = rate * seconds;
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        ticker.tick().await;
        let log = log.clone();
        let gates = gates.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            if let Some((budgets, window)) = gates {
                let fund = FundId::parse(&format!("fund-{}", i % 10_000)).expect("fund");
                let key = IdempotencyKey::parse(&format!("bench-{i}")).expect("key");
                budgets.admit(&fund, limit).await.ok()?;
                let claim = window
                    .claim(&ClientOrderId::derive("bench", &fund, &key))
                    .await
                    .ok()?;
                // The claim's commit follows the answer in the bridge: not timed here.
                tokio::spawn(claim.commit(mts1b_tradingview::core::UnixMillis(0)));
            }
            let id = format!("bench-{i}");
            let body = format!("{{\"order\":{i}}}");
            log.append_raw("BENCH.orders.desk.s.BTC-USD", &id, body.into())
                .await
                .ok()
                .map(|_| started.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for task in tasks {
        match task.await.expect("task") {
            Some(latency) => latencies.push(latency),
            None => failed += 1,
        }
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "replicas={replicas} rate={rate}/s n={} failed={failed} p50={:.2?} p99={:.2?} p99.9={:.2?}",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(0.999)
    );
}
