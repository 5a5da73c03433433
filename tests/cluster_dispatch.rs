//! Which replica delivers which stream (SPEC §14), against real nats-server and the tonic OMS
//! simulator: two replicas watch the log; orders of four streams are delivered, each stream in
//! its order; one replica dies with streams in hand and the other takes them over.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mts1b_tradingview::core::testing::order;
use mts1b_tradingview::core::{CanonicalSymbol, Clock, Intent, SystemClock};
use mts1b_tradingview::runtime::cluster::dispatch::Dispatcher;
use mts1b_tradingview::runtime::cluster::log::OrderLog;
use support::nats::{DeliveryReplica, NatsServer};

async fn replica(server: &NatsServer, oms: &sim::Oms, name: &str) -> (OrderLog, Arc<Dispatcher>) {
    let r = DeliveryReplica::start(server, &oms.endpoint(), name).await;
    let dispatcher = Dispatcher::open(&r.cluster, &r.log, Arc::new(r.deliverer), r.leases)
        .await
        .unwrap();
    dispatcher.start();
    (r.log, dispatcher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_is_delivered_in_order_and_a_dead_replicas_streams_are_taken_over() {
    let server = NatsServer::start("dispatch");
    let oms = sim::start(sim::Script {
        delay: Duration::from_millis(10),
        ..sim::Script::default()
    })
    .await;
    let (log, a) = replica(&server, &oms, "replica-a").await;
    let (_, b) = replica(&server, &oms, "replica-b").await;
    let now = SystemClock.now();
    let symbols = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD"];
    let mut expected: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for i in 0..25 {
        for symbol in symbols {
            let mut o = order("desk", &format!("{symbol}-{i:02}"), now);
            o.symbol = CanonicalSymbol::parse(symbol).unwrap();
            let intent = Intent::Submit(o);
            log.append(&intent).await.unwrap();
            expected
                .entry(symbol)
                .or_default()
                .push(intent.id().to_string());
        }
        // A dies a third of the way, whatever it holds.
        if i == 8 {
            a.stop();
        }
    }
    let stopped = Instant::now();
    let all: usize = expected.values().map(Vec::len).sum();
    let deadline = Instant::now() + Duration::from_secs(30);
    let first_seen = loop {
        let mut first_seen: Vec<String> = Vec::new();
        for id in oms.served() {
            if !first_seen.contains(&id) {
                first_seen.push(id);
            }
        }
        if first_seen.len() == all {
            break first_seen;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {all} delivered",
            first_seen.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let done = stopped.elapsed();
    for (symbol, ids) in &expected {
        let seen: Vec<&String> = first_seen.iter().filter(|id| ids.contains(id)).collect();
        assert_eq!(seen, ids.iter().collect::<Vec<_>>(), "{symbol} in order");
    }
    let repeats = oms.served().len() - all;
    assert!(repeats <= symbols.len(), "{repeats} repeats");
    println!(
        "{all} orders on 4 streams; replica A stopped after 9 rounds; all delivered {done:?} later, {repeats} repeated"
    );
    b.stop();
}
