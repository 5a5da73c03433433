//! An OMS outage, measured: 100,000 orders in 16 streams are recorded while the OMS (the tonic
//! simulator) answers UNAVAILABLE to everything, then the OMS comes back and every order is
//! delivered. Prints the process's RSS and the orders held in memory at each step, and checks
//! that each stream was delivered in arrival order.
//!
//! `cargo run --release --example outage [ORDERS]` (figures in BENCHMARKS.md).

#[path = "oms_simulator/sim.rs"]
mod sim;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mts1b_tradingview::core::{ClientOrderId, Clock, StrategyId, SystemClock};
use mts1b_tradingview::runtime::delivery::grpc::GrpcOms;
use mts1b_tradingview::runtime::delivery::{Delivered, DeliveryPolicy, OrderSink, Outbox};
use mts1b_tradingview::runtime::metrics::Metrics;
use mts1b_tradingview::runtime::store::{OrderStore, stream_of};

const STREAMS: usize = 16;

/// The process's resident set, in MiB, from /proc/self/status.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main]
async fn main() {
    let orders: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let oms = sim::start(sim::Script {
        unavailable_calls: usize::MAX,
        ..sim::Script::default()
    })
    .await;
    let data = std::env::temp_dir().join(format!("mts1b-outage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let store = Arc::new(OrderStore::open(&data).expect("store"));
    let policy = DeliveryPolicy {
        respond_within: Duration::from_millis(1),
        max_order_age: Duration::from_secs(3600),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        max_concurrent_calls: 64,
        replay_window: Duration::from_secs(300),
    };
    let grpc = GrpcOms::new(&oms.endpoint(), Duration::from_secs(2)).expect("endpoint");
    let outbox = Outbox::start(
        store.clone(),
        Arc::new(grpc),
        Arc::new(SystemClock),
        policy,
        Metrics::new(),
    )
    .expect("outbox");
    println!("start: RSS {:.1} MiB", rss_mib());

    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(512));
    let mut tasks = Vec::with_capacity(orders);
    let mut peak_held = 0;
    for i in 0..orders {
        let permit = limit.clone().acquire_owned().await.expect("open");
        let sink = outbox.clone();
        tasks.push(tokio::spawn(async move {
            let mut order = mts1b_tradingview::core::testing::order(
                "fund-a",
                &format!("k-{i}"),
                SystemClock.now(),
            );
            order.strategy_id = StrategyId::parse(&format!("s{}", i % STREAMS)).expect("valid");
            let delivered = sink.submit(&order).await;
            drop(permit);
            assert!(matches!(delivered, Ok(Delivered::Queued)), "{delivered:?}");
        }));
        if i % 10_000 == 0 {
            peak_held = peak_held.max(outbox.orders_in_memory());
            println!(
                "  {i} recorded: RSS {:.1} MiB, {} orders in memory",
                rss_mib(),
                outbox.orders_in_memory()
            );
        }
    }
    for task in tasks {
        task.await.expect("recorded");
    }
    peak_held = peak_held.max(outbox.orders_in_memory());
    println!(
        "{orders} recorded in {:.1} s with the OMS down: RSS {:.1} MiB, {} orders in memory",
        started.elapsed().as_secs_f64(),
        rss_mib(),
        outbox.orders_in_memory()
    );

    oms.script(sim::Script::default());
    let back = Instant::now();
    let mut next_report = 10_000;
    loop {
        let delivered = oms.state.lock().expect("state").accepted.len();
        peak_held = peak_held.max(outbox.orders_in_memory());
        if delivered >= next_report || delivered == orders {
            println!(
                "  {delivered} delivered: RSS {:.1} MiB, {} orders in memory",
                rss_mib(),
                outbox.orders_in_memory()
            );
            next_report += 10_000;
        }
        if delivered == orders {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "all {orders} delivered {:.1} s after the OMS came back: RSS {:.1} MiB; at most {peak_held} orders in memory",
        back.elapsed().as_secs_f64(),
        rss_mib()
    );

    // Each stream in arrival order (the store's sequence), each order once.
    let accepted = oms.accepted_ids();
    assert_eq!(accepted.len(), orders, "each order once");
    let mut last: HashMap<String, u64> = HashMap::new();
    for id in accepted {
        let record = store
            .get(&ClientOrderId::parse(&id).expect("id"))
            .expect("store")
            .expect("recorded");
        let stream = stream_of(&record.order);
        if let Some(previous) = last.insert(stream.clone(), record.seq) {
            assert!(
                previous < record.seq,
                "{stream}: {} after {previous}",
                record.seq
            );
        }
    }
    println!("every stream delivered in arrival order");
    let _ = std::fs::remove_dir_all(&data);
}
