//! Delivery from the order log (SPEC §14) against real nats-server and the tonic OMS simulator:
//! the replica holding a stream's lease sends its orders in stream order; when it dies
//! mid-stream another replica takes the stream over from its delivered mark, with the same ids,
//! and the OMS sees every order, in order, at most the one in flight twice.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::time::{Duration, Instant};

use mts1b_tradingview::core::testing::order;
use mts1b_tradingview::core::{Clock, Intent, SystemClock, UnixMillis};
use mts1b_tradingview::runtime::cluster::deliver::Outcome;
use mts1b_tradingview::runtime::cluster::lease::NotHeld;
use mts1b_tradingview::runtime::store::Status;
use support::nats::{DeliveryReplica, NatsServer};

async fn replica(server: &NatsServer, oms: &sim::Oms, name: &str) -> DeliveryReplica {
    DeliveryReplica::start(server, &oms.endpoint(), name).await
}

/// Takes the stream's lease as soon as it is free.
async fn acquire(
    replica: &DeliveryReplica,
    subject: &str,
) -> mts1b_tradingview::runtime::cluster::lease::Lease {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match replica.leases.acquire(subject).await {
            Ok(lease) => return lease,
            Err(NotHeld::Taken) => {
                assert!(Instant::now() < deadline, "never free");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_dying_mid_stream_leaves_the_rest_to_another_in_order() {
    let server = NatsServer::start("delivery");
    let oms = sim::start(sim::Script {
        delay: Duration::from_millis(20),
        ..sim::Script::default()
    })
    .await;
    let (a, b) = (
        replica(&server, &oms, "replica-a").await,
        replica(&server, &oms, "replica-b").await,
    );
    let now = SystemClock.now();
    let orders: Vec<Intent> = (0..40)
        .map(|i| Intent::Submit(order("desk", &format!("k-{i:02}"), now)))
        .collect();
    for o in &orders {
        a.log.append(o).await.unwrap();
    }
    let subject = a.log.subject_of(&orders[0]);
    let ids: Vec<String> = orders.iter().map(|o| o.id().to_string()).collect();
    // A delivers until it dies, a third of the way in: its task is gone mid-call or
    // mid-mark, its lease never released.
    let mut lease = acquire(&a, &subject).await;
    let task = {
        let subject = subject.clone();
        tokio::spawn(async move {
            let _ = a.deliverer.drain(&subject, &mut lease).await;
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while oms.served().len() < 13 {
        assert!(Instant::now() < deadline, "A never delivered");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let died = Instant::now();
    // B takes the stream over once A's lease lapses, and finishes it.
    let mut lease = acquire(&b, &subject).await;
    let took_over = died.elapsed();
    let settled = b.deliverer.drain(&subject, &mut lease).await.unwrap();
    // Each sent, but the first when A died between recording its outcome and moving the
    // mark: that one B finds settled and passes, never sending it again.
    assert!(
        settled
            .iter()
            .enumerate()
            .all(|(i, (_, o))| matches!(o, Outcome::Submitted(_))
                || (i == 0 && *o == Outcome::AlreadySettled)),
        "{settled:?}"
    );
    assert_eq!(settled.last().unwrap().0, 40, "to the end of the stream");
    // The OMS's log of every call: each order, first seen in stream order; only the order in
    // flight when A died may have been called twice, and only by B right after.
    let served = oms.served();
    let mut first_seen: Vec<String> = Vec::new();
    for id in &served {
        if !first_seen.contains(id) {
            first_seen.push(id.clone());
        }
    }
    assert_eq!(first_seen, ids, "every order, in order, none other");
    // Each order's status, the same on either replica: the ones A settled included.
    for (i, id) in ids.iter().enumerate() {
        let standing = b.status.get(id).await.unwrap().expect("settled");
        assert_eq!(
            (standing.status, standing.seq),
            (Status::Submitted, i as u64 + 1)
        );
        assert!(standing.order_id.is_some());
    }
    let repeats = served.len() - first_seen.len();
    assert!(repeats <= 1, "{repeats} repeats: {served:?}");
    println!(
        "A died after {} calls; B took the stream over {took_over:?} later and settled {} orders; {} calls, {repeats} repeated",
        served.len() - settled.len() - repeats,
        settled.len(),
        served.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_too_old_is_never_sent_and_a_refused_or_unreadable_one_does_not_stop_its_stream() {
    let server = NatsServer::start("delivery-edges");
    let oms = sim::start(sim::Script::default()).await;
    let a = replica(&server, &oms, "replica-a").await;
    let now = SystemClock.now();
    let stale = Intent::Submit(order("desk", "stale", UnixMillis(now.0 - 61_000)));
    let fresh = Intent::Submit(order("desk", "fresh", now));
    a.log.append(&stale).await.unwrap();
    a.log.append(&fresh).await.unwrap();
    let subject = a.log.subject_of(&fresh);
    // A request waiting on another replica learns the outcome A settles.
    let other = replica(&server, &oms, "replica-b").await;
    let waiting = {
        let (status, id) = (other.status.clone(), fresh.id().to_string());
        tokio::spawn(async move { status.wait(&id, Duration::from_secs(10)).await })
    };
    let mut lease = acquire(&a, &subject).await;
    let settled = a.deliverer.drain(&subject, &mut lease).await.unwrap();
    let learned = waiting
        .await
        .unwrap()
        .unwrap()
        .expect("learned before its time ran out");
    assert_eq!(learned.status, Status::Submitted);
    assert_eq!(
        other
            .status
            .get(&stale.id().to_string())
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Expired
    );
    assert_eq!(settled[0], (1, Outcome::Expired));
    assert!(matches!(settled[1], (2, Outcome::Submitted(_))));
    assert_eq!(oms.served(), [fresh.id().to_string()]);
    // The OMS refuses the symbol: settled as rejected, and the stream goes on.
    oms.script(sim::Script {
        refuse_symbols: vec!["BTC-USD".into()],
        ..sim::Script::default()
    });
    let refused = Intent::Submit(order("desk", "refused", now));
    a.log.append(&refused).await.unwrap();
    let settled = a.deliverer.drain(&subject, &mut lease).await.unwrap();
    assert!(
        matches!(&settled[..], [(3, Outcome::Rejected(_))]),
        "{settled:?}"
    );
    // A record this bridge cannot read back is set aside, loudly, and the stream goes on.
    oms.script(sim::Script::default());
    a.log
        .append_raw(&subject, "garbage", "{not an order".into())
        .await
        .unwrap();
    let after = Intent::Submit(order("desk", "after-garbage", now));
    a.log.append(&after).await.unwrap();
    let settled = a.deliverer.drain(&subject, &mut lease).await.unwrap();
    assert!(
        matches!(
            &settled[..],
            [(4, Outcome::Unreadable(_)), (5, Outcome::Submitted(_))]
        ),
        "{settled:?}"
    );
    // A waiter already watching hears a settlement written later by another replica.
    let waiting = {
        let status = other.status.clone();
        tokio::spawn(async move { status.wait("later", Duration::from_secs(10)).await })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !other.status.is_waited_for("later") {
        assert!(Instant::now() < deadline, "the waiter never registered");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let later = Outcome::Rejected("no".into()).standing(Some(&fresh), 99, 1);
    a.status.settle("later", &later).await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), Some(later));
    // Drained: nothing more to send, the mark stays.
    assert!(
        a.deliverer
            .drain(&subject, &mut lease)
            .await
            .unwrap()
            .is_empty()
    );
}
