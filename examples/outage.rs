//! An OMS outage, measured: 100,000 orders in 16 streams are recorded while the OMS is down (its
//! port refuses connections), then the OMS (the tonic simulator, a process of its own, as the
//! real one is) comes up and every order is delivered. Prints this process's RSS and the orders
//! held in memory at each step, and checks from the OMS's journal that every order arrived once
//! and each stream in arrival order.
//!
//! `cargo build --release --example oms_simulator --example outage && target/release/examples/outage [ORDERS]`
//! (figures in BENCHMARKS.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mts1b_tradingview::core::{ClientOrderId, Clock, StrategyId, SystemClock};
use mts1b_tradingview::runtime::delivery::grpc::GrpcOms;
use mts1b_tradingview::runtime::delivery::{Delivered, DeliveryPolicy, OrderSink, Outbox};
use mts1b_tradingview::runtime::metrics::Metrics;
use mts1b_tradingview::runtime::store::{OrderStore, stream_of_intent};

const STREAMS: usize = 16;

// The binary's allocator (src/main.rs), so the RSS is the service's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // A free port for the OMS, which is down for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let data = std::env::temp_dir().join(format!("mts1b-outage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let store = Arc::new(OrderStore::open(&data).expect("store"));
    let policy = DeliveryPolicy {
        respond_within: Duration::from_millis(1),
        max_order_age: Duration::from_secs(3600),
        max_cancel_age: Duration::from_secs(3600),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        max_concurrent_calls: 64,
        replay_window: Duration::from_secs(300),
    };
    let grpc = GrpcOms::new(&endpoint, Duration::from_secs(2)).expect("endpoint");
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
    let failed = Arc::new(AtomicUsize::new(0));
    let mut peak_held = 0;
    for i in 0..orders {
        let permit = limit.clone().acquire_owned().await.expect("open");
        let (sink, failed) = (outbox.clone(), failed.clone());
        tokio::spawn(async move {
            let mut order = mts1b_tradingview::core::testing::order(
                "fund-a",
                &format!("k-{i}"),
                SystemClock.now(),
            );
            order.strategy_id = StrategyId::parse(&format!("s{}", i % STREAMS)).expect("valid");
            if !matches!(sink.submit(&order).await, Ok(Delivered::Queued)) {
                failed.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
        if i % 10_000 == 0 {
            peak_held = peak_held.max(outbox.orders_in_memory());
            println!(
                "  {i} recorded: RSS {:.1} MiB, {} orders in memory",
                rss_mib(),
                outbox.orders_in_memory()
            );
        }
    }
    let _all = limit.acquire_many(512).await.expect("open");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "every order queued (202)"
    );
    peak_held = peak_held.max(outbox.orders_in_memory());
    println!(
        "{orders} recorded in {:.1} s with the OMS down: RSS {:.1} MiB, {} orders in memory",
        started.elapsed().as_secs_f64(),
        rss_mib(),
        outbox.orders_in_memory()
    );

    let journal = data.join("oms-journal.jsonl");
    let simulator = std::env::current_exe()
        .expect("this program")
        .with_file_name("oms_simulator");
    let mut oms = std::process::Command::new(&simulator)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--journal")
        .arg(&journal)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build it: --example oms_simulator)",
                simulator.display()
            )
        });
    let back = Instant::now();
    let mut next_report = 10_000;
    let delivered = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    loop {
        let done = delivered(&journal);
        peak_held = peak_held.max(outbox.orders_in_memory());
        if done >= next_report || done == orders {
            println!(
                "  {done} delivered: RSS {:.1} MiB, {} orders in memory",
                rss_mib(),
                outbox.orders_in_memory()
            );
            next_report += 10_000;
        }
        if done == orders {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "all {orders} delivered {:.1} s after the OMS came back: RSS {:.1} MiB; at most {peak_held} orders in memory",
        back.elapsed().as_secs_f64(),
        rss_mib()
    );
    let _ = oms.kill();
    let _ = oms.wait();

    // Each stream in arrival order (the store's sequence), each order once.
    let accepted: Vec<String> = std::fs::read_to_string(&journal)
        .expect("journal")
        .lines()
        .map(|line| {
            let order: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            order["client_order_id"]
                .as_str()
                .or_else(|| order["order"]["client_order_id"].as_str())
                .expect("an id")
                .to_owned()
        })
        .collect();
    assert_eq!(accepted.len(), orders, "each order once");
    let mut last: HashMap<String, u64> = HashMap::new();
    for id in accepted {
        let record = store
            .get(&ClientOrderId::parse(&id).expect("id"))
            .expect("store")
            .expect("recorded");
        let stream = stream_of_intent(&record.intent);
        if let Some(previous) = last.insert(stream.clone(), record.seq) {
            assert!(
                previous < record.seq,
                "{stream}: {} after {previous}",
                record.seq
            );
        }
    }
    println!("every stream delivered in arrival order");
    // What the allocator keeps of the delivery's garbage for a while (not the queue's).
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("2 s later, idle: RSS {:.1} MiB", rss_mib());
    let _ = std::fs::remove_dir_all(&data);
}
