//! Stream leases (SPEC §14) against a real nats-server: one replica delivers a stream at a
//! time, and a dead holder's stream is taken over when its term ends.

mod support;

use std::time::{Duration, Instant};

use mts1b_tradingview::runtime::cluster::lease::{Leases, NotHeld};
use support::nats::NatsServer;

async fn replica(server: &NatsServer, name: &str, term: Duration) -> Leases {
    let cluster = support::nats::connect(vec![server.url()], 1).await;
    Leases::open(&cluster, name, term).await.unwrap()
}

const STREAM: &str = "MTS1B_TV.orders.desk.s.BTC-USD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_holds_a_stream_and_another_takes_it_when_the_holder_dies() {
    let server = NatsServer::start("leases");
    let term = Duration::from_secs(2);
    let (a, b) = (
        replica(&server, "replica-a", term).await,
        replica(&server, "replica-b", term).await,
    );
    let mut held = a.acquire(STREAM).await.unwrap();
    assert_eq!(b.acquire(STREAM).await.unwrap_err(), NotHeld::Taken);
    // Renewed inside its term, it stays A's past the term.
    let until = Instant::now() + term + Duration::from_millis(500);
    while Instant::now() < until {
        a.renew(&mut held).await.unwrap();
        assert_eq!(b.acquire(STREAM).await.unwrap_err(), NotHeld::Taken);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A dies (stops renewing): B takes the stream once the term has passed, not before.
    let died = Instant::now();
    let taken = loop {
        match b.acquire(STREAM).await {
            Ok(lease) => break lease,
            Err(NotHeld::Taken) => {
                assert!(died.elapsed() < Duration::from_secs(15), "never taken over");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    };
    let after = died.elapsed();
    // A renewal within a quarter term of the last write keeps that write (`Leases::renew`):
    // the lease holds at least three quarters of a term past A's last renewal.
    assert!(
        after >= term * 3 / 4 - Duration::from_millis(300),
        "{after:?}"
    );
    // A, back, finds it lost at its next renewal and stops.
    assert_eq!(a.renew(&mut held).await.unwrap_err(), NotHeld::Taken);
    // Released, it is free at once.
    b.release(taken).await.unwrap();
    a.acquire(STREAM).await.unwrap();
    println!("taken over {after:?} after the holder stopped renewing (term {term:?})");
}
