//! The replicated order record (SPEC §14) against real nats-server processes: a resend is
//! acknowledged as the stored order, and killing the node that leads the stream under a steady
//! stream of appends loses no acknowledged order.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mts1b_tradingview::core::testing::order;
use mts1b_tradingview::core::{CanonicalSymbol, Intent};
use mts1b_tradingview::runtime::cluster::Cluster;
use mts1b_tradingview::runtime::cluster::log::{Appended, OrderLog};
use support::T0;
use support::nats::{NatsCluster, NatsServer, connect, order_log};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_is_acknowledged_as_the_order_already_stored() {
    let server = NatsServer::start("log");
    let log = order_log(&connect(vec![server.url()], 1).await).await;
    let mut brk = order("desk", "brk-1", T0);
    brk.symbol = CanonicalSymbol::parse("BRK.B").unwrap();
    let brk = Intent::Submit(brk);
    assert_eq!(log.subject_of(&brk), "MTS1B_TV.orders.desk.s.BRK=2EB");
    let first = log.append(&brk).await.unwrap();
    let Appended::Stored(seq) = first else {
        panic!("{first:?}")
    };
    // Another replica, the same order (a resend after a timed-out acknowledgement).
    let other = order_log(&connect(vec![server.url()], 1).await).await;
    assert_eq!(
        other.append(&brk).await.unwrap(),
        Appended::AlreadyStored(seq)
    );
    let next = Intent::Submit(order("desk", "brk-2", T0));
    assert_eq!(
        other.append(&next).await.unwrap(),
        Appended::Stored(seq + 1)
    );
}

/// Opens the log once the cluster has elected its leaders.
async fn open_when_ready(cluster: &Cluster) -> OrderLog {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match OrderLog::open(cluster, Duration::from_secs(300), Duration::from_secs(7200)).await {
            Ok(log) => return log,
            Err(e) => {
                assert!(Instant::now() < deadline, "never ready: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_streams_leader_under_steady_appends_loses_no_acknowledged_order() {
    let mut nodes = NatsCluster::start("leader", 3);
    let cluster = connect(nodes.urls(), 3).await;
    let log = open_when_ready(&cluster).await;
    let leader = {
        let mut stream = cluster.jetstream.get_stream(log.stream()).await.unwrap();
        let info = stream.info().await.unwrap();
        info.cluster
            .clone()
            .and_then(|c| c.leader)
            .expect("a leader")
    };
    const ORDERS: usize = 300;
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let (mut refused, mut killed_at, mut back_after) = (0usize, None::<Instant>, None);
    for i in 0..ORDERS {
        if i == ORDERS / 3 {
            nodes.kill(&leader);
            killed_at = Some(Instant::now());
        }
        let id = format!("order-{i:04}");
        // The sender's resends: the same id until acknowledged (a 503 each time before).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match log
                .append_raw("MTS1B_TV.orders.desk.s.BTC-USD", &id, id.clone().into())
                .await
            {
                Ok(Appended::Stored(seq) | Appended::AlreadyStored(seq)) => {
                    if let (Some(at), None) = (killed_at, back_after) {
                        back_after = Some(at.elapsed());
                    }
                    assert!(acked.insert(id.clone(), seq).is_none());
                    break;
                }
                Err(_) => {
                    refused += 1;
                    assert!(Instant::now() < deadline, "{id} never acknowledged");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    // Every acknowledged order is in the stream, once, at the sequence it was acknowledged at.
    let stream = cluster.jetstream.get_stream(log.stream()).await.unwrap();
    let mut stored: BTreeMap<String, u64> = BTreeMap::new();
    let last = *acked.values().max().unwrap();
    for seq in 1..=last {
        let message = stream.get_raw_message(seq).await.unwrap();
        let id = String::from_utf8(message.payload.to_vec()).unwrap();
        assert!(stored.insert(id, seq).is_none(), "stored twice");
    }
    assert_eq!(stored, acked);
    println!(
        "leader {leader} killed after {} of {ORDERS}: {refused} refused attempts, acknowledged again after {:?}; {} acknowledged, {} stored, 0 lost, 0 doubled",
        ORDERS / 3,
        back_after.unwrap(),
        acked.len(),
        stored.len()
    );
}
