//! Memory stays bounded during an OMS outage: 20,000 orders in 16 streams are recorded while the
//! OMS (the real tonic simulator) answers UNAVAILABLE to everything; the outbox holds at most a
//! page per stream in memory (528 orders here), the rest on disk; when the OMS comes back, every
//! order is delivered once, each stream in arrival order (the store's arrival sequence). The
//! same with 100,000 orders and the process's RSS, in release: `cargo run --release --example
//! outage` (BENCHMARKS.md).

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mts1b_tradingview::core::{
    ClientOrderId, Clock, FundId, IdempotencyKey, StrategyId, SystemClock,
};
use mts1b_tradingview::runtime::delivery::grpc::GrpcOms;
use mts1b_tradingview::runtime::delivery::outbox::STREAM_PAGE;
use mts1b_tradingview::runtime::delivery::{Delivered, DeliveryPolicy, OrderSink, Outbox};
use mts1b_tradingview::runtime::metrics::Metrics;
use mts1b_tradingview::runtime::store::OrderStore;
use sim::Script;
use support::temp_dir;

const ORDERS: usize = 20_000;
const STREAMS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_queues_on_disk_and_delivers_every_order_in_order() {
    let oms = sim::start(Script {
        unavailable_calls: usize::MAX,
        ..Script::default()
    })
    .await;
    let data = temp_dir("outage");
    let store = Arc::new(OrderStore::open(&data).unwrap());
    let policy = DeliveryPolicy {
        respond_within: Duration::from_millis(1),
        max_order_age: Duration::from_secs(3600),
        max_cancel_age: Duration::from_secs(3600),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
        max_concurrent_calls: 64,
        replay_window: Duration::from_secs(300),
    };
    let grpc = GrpcOms::new(&oms.endpoint(), Duration::from_secs(2)).unwrap();
    let outbox = Outbox::start(
        store,
        Arc::new(grpc),
        Arc::new(SystemClock),
        policy,
        Metrics::new(),
    )
    .unwrap();

    let started = std::time::Instant::now();
    // Order i belongs to stream i % STREAMS; its key carries i.
    let fund = FundId::parse("fund-a").unwrap();
    let limit = Arc::new(tokio::sync::Semaphore::new(512));
    let bound = STREAMS * (STREAM_PAGE + 1);
    let mut peak = 0;
    let mut tasks = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        let permit = limit.clone().acquire_owned().await.unwrap();
        let (sink, fund) = (outbox.clone(), fund.clone());
        tasks.push(tokio::spawn(async move {
            let mut order = mts1b_tradingview::core::testing::order(
                fund.as_str(),
                &format!("k-{i}"),
                SystemClock.now(),
            );
            order.strategy_id = StrategyId::parse(&format!("s{}", i % STREAMS)).unwrap();
            let delivered = sink.submit(&order).await;
            drop(permit);
            assert!(matches!(delivered, Ok(Delivered::Queued)), "{delivered:?}");
        }));
        if i % 1000 == 0 {
            peak = peak.max(outbox.orders_in_memory());
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    eprintln!("{ORDERS} orders recorded in {:?}", started.elapsed());
    peak = peak.max(outbox.orders_in_memory());
    assert!(peak <= bound, "{peak} orders in memory, bound {bound}");
    assert!(oms.accepted_ids().is_empty());

    // The OMS comes back: everything is delivered, each stream in arrival order.
    oms.script(Script::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while oms.state.lock().unwrap().accepted.len() < ORDERS {
        peak = peak.max(outbox.orders_in_memory());
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {ORDERS} delivered",
            oms.accepted_ids().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("and delivered, {:?} from the start", started.elapsed());
    assert!(peak <= bound, "{peak} orders in memory, bound {bound}");
    // Arrival order is the store's sequence (concurrent submissions arrive in any order).
    let index: HashMap<String, usize> = (0..ORDERS)
        .map(|i| {
            let key = IdempotencyKey::parse(&format!("k-{i}")).unwrap();
            (
                ClientOrderId::derive("tradingview", &fund, &key).to_string(),
                i,
            )
        })
        .collect();
    let mut last = vec![None; STREAMS];
    let accepted = oms.accepted_ids();
    assert_eq!(accepted.len(), ORDERS, "each order once");
    for id in accepted {
        let stream = index[&id] % STREAMS;
        let seq = outbox
            .record(&ClientOrderId::parse(&id).unwrap())
            .unwrap()
            .unwrap()
            .seq;
        assert!(
            last[stream].is_none_or(|previous| previous < seq),
            "stream {stream}: arrival {seq} delivered after {:?}",
            last[stream]
        );
        last[stream] = Some(seq);
    }
    let _ = std::fs::remove_dir_all(&data);
}
