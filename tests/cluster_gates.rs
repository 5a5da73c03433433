//! The cluster backend's shared gates (SPEC §14) against real nats-server processes: several
//! replicas, each its own NATS connection, share one replay window and one rate-limit budget
//! per fund.

mod support;

use std::sync::Arc;
use std::time::Duration;

use mts1b_tradingview::core::{ClientOrderId, FundId, IdempotencyKey, ManualClock, RateLimit};
use mts1b_tradingview::runtime::cluster::Cluster;
use mts1b_tradingview::runtime::cluster::budget::{Refused, SharedBudgets};
use mts1b_tradingview::runtime::cluster::replay::{NotClaimed, SharedReplayWindow};
use support::T0;
use support::nats::NatsServer;

async fn replica(server: &NatsServer) -> Cluster {
    support::nats::connect(vec![server.url()], 1).await
}

fn id(key: &str) -> ClientOrderId {
    ClientOrderId::derive(
        "tradingview",
        &FundId::parse("desk").unwrap(),
        &IdempotencyKey::parse(key).unwrap(),
    )
}

/// Three replicas' windows over one server, on one manual clock.
async fn windows(server: &NatsServer, window: Duration) -> (Vec<SharedReplayWindow>, ManualClock) {
    let clock = ManualClock::at(T0);
    let mut windows = Vec::new();
    for _ in 0..3 {
        let cluster = replica(server).await;
        let window = SharedReplayWindow::open(
            &cluster,
            window,
            Duration::from_secs(30),
            Arc::new(clock.clone()),
        )
        .await
        .unwrap();
        windows.push(window);
    }
    (windows, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_one_alert_sent_to_three_replicas_at_once_exactly_one_is_claimed() {
    let server = NatsServer::start("claims");
    let (windows, _) = windows(&server, Duration::from_secs(300)).await;
    for round in 0..20 {
        let key = id(&format!("alert-{round}"));
        let claims = futures_join(windows.iter().map(|w| w.claim(&key))).await;
        let won: Vec<_> = claims.into_iter().filter_map(Result::ok).collect();
        assert_eq!(won.len(), 1, "round {round}");
        for claim in won {
            claim.commit(T0).await.unwrap();
        }
        // Accepted: a duplicate on every replica, with when it was accepted.
        for w in &windows {
            assert_eq!(
                w.claim(&key).await.err(),
                Some(NotClaimed::Duplicate {
                    accepted_at: Some(T0)
                })
            );
        }
    }
}

/// Runs the claims concurrently and returns them in order.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut done: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none()
                && let std::task::Poll::Ready(v) = f.as_mut().poll(cx)
            {
                done[i] = Some(v);
            }
        }
        if done.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().map(Option::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_released_after_a_rejection_is_free_on_every_replica() {
    let server = NatsServer::start("release");
    let (windows, _) = windows(&server, Duration::from_secs(300)).await;
    let key = id("rejected-then-resent");
    let claim = windows[0].claim(&key).await.unwrap();
    assert_eq!(
        windows[1].claim(&key).await.err(),
        Some(NotClaimed::Duplicate { accepted_at: None }),
        "held while the first replica handles it"
    );
    claim.release().await.unwrap();
    let again = windows[1].claim(&key).await.unwrap();
    // A claim dropped unsettled (its request went away) is released in the background.
    drop(again);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match windows[2].claim(&key).await {
            Ok(claim) => {
                claim.commit(T0).await.unwrap();
                break;
            }
            Err(NotClaimed::Duplicate { accepted_at: None }) => {
                assert!(tokio::time::Instant::now() < deadline, "never released");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_by_a_dead_replica_is_taken_over_once_stale_and_by_one_replica_only() {
    let server = NatsServer::start("stale");
    let (windows, clock) = windows(&server, Duration::from_secs(300)).await;
    let key = id("held-by-the-dead");
    // The replica dies holding it: never committed, never released.
    std::mem::forget(windows[0].claim(&key).await.unwrap());
    clock.advance(29_000);
    assert!(windows[1].claim(&key).await.is_err(), "not stale yet");
    clock.advance(2_000);
    let claims = futures_join([windows[1].claim(&key), windows[2].claim(&key)].into_iter()).await;
    let won: Vec<_> = claims.into_iter().filter_map(Result::ok).collect();
    assert_eq!(won.len(), 1);
    for claim in won {
        claim.commit(clock_now(&clock)).await.unwrap();
    }
    assert!(matches!(
        windows[0].claim(&key).await,
        Err(NotClaimed::Duplicate {
            accepted_at: Some(_)
        })
    ));
}

fn clock_now(clock: &ManualClock) -> mts1b_tradingview::core::UnixMillis {
    use mts1b_tradingview::core::Clock;
    clock.now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_key_is_free_again_once_the_window_has_passed() {
    let server = NatsServer::start("expiry");
    let (windows, _) = windows(&server, Duration::from_secs(1)).await;
    let key = id("old-news");
    windows[0]
        .claim(&key)
        .await
        .unwrap()
        .commit(T0)
        .await
        .unwrap();
    assert!(windows[1].claim(&key).await.is_err());
    // The bucket's max_age is the window: the server forgets the key on its own clock.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if windows[1].claim(&key).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_spend_one_budget_per_fund() {
    let server = NatsServer::start("budget");
    let clock = ManualClock::at(T0);
    let mut budgets = Vec::new();
    for _ in 0..3 {
        let cluster = replica(&server).await;
        budgets.push(
            SharedBudgets::open(&cluster, Arc::new(clock.clone()))
                .await
                .unwrap(),
        );
    }
    let (desk, other) = (
        FundId::parse("desk").unwrap(),
        FundId::parse("fund.b").unwrap(),
    );
    let limit = RateLimit {
        per_second: 2,
        burst: 20,
    };
    // 60 admissions at one instant, 20 per replica, all at once: one budget of 20.
    let attempts = budgets
        .iter()
        .flat_map(|b| (0..20).map(|_| b.admit(&desk, limit)));
    let outcomes = futures_join(attempts).await;
    let admitted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(admitted, 20, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .all(|r| matches!(r, Refused::RetryAfter(wait) if *wait <= Duration::from_millis(500)))
    );
    // Another fund has its own budget.
    assert!(budgets[1].admit(&other, limit).await.is_ok());
    // Half a second refills one unit (2 per second), for whichever replica asks first.
    clock.advance(500);
    assert!(budgets[2].admit(&desk, limit).await.is_ok());
    assert!(budgets[0].admit(&desk, limit).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_is_reported_for_readyz_and_clears_on_its_own_when_it_is_back() {
    let mut server = NatsServer::start("ready");
    let cluster = replica(&server).await;
    let (windows, _) = windows(&server, Duration::from_secs(300)).await;
    assert_eq!(cluster.unreachable(), None);
    server.kill();
    let until = |ready: bool| {
        let cluster = cluster.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while cluster.unreachable().is_none() != ready {
                assert!(tokio::time::Instant::now() < deadline, "never {ready}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    until(false).await;
    let why = cluster.unreachable().unwrap();
    assert!(why.contains("NATS") && why.contains(&server.url()), "{why}");
    // A claim while NATS is down: unavailable (503), never a duplicate or a pass.
    assert!(matches!(
        windows[0].claim(&id("while-down")).await,
        Err(NotClaimed::Unavailable(_))
    ));
    server.restart();
    until(true).await;
    // Its state survived on disk: the bucket is there, and claims work again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match windows[0].claim(&id("after")).await {
            Ok(claim) => {
                claim.commit(T0).await.unwrap();
                break;
            }
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "{e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
