//! Delivery to the OMS (SPEC §7) against the real tonic simulator, through the real service.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::time::Duration;

use mts1b_tradingview::config::HumanDuration;
use mts1b_tradingview::config::settings::Sink;
use serde_json::json;
use sim::{Oms, Script};
use support::*;

/// A service delivering to `oms`, answering within `respond_within`, retrying fast.
async fn service(oms: &Oms, respond_within_ms: u64) -> TestService {
    let mut config = settings(LOOPBACK);
    config.delivery.sink = Sink::Oms;
    config.delivery.oms.endpoint = oms.endpoint();
    config.delivery.oms.timeout = HumanDuration(Duration::from_secs(2));
    config.delivery.respond_within = HumanDuration(Duration::from_millis(respond_within_ms));
    config.delivery.retry.initial_backoff = HumanDuration(Duration::from_millis(10));
    config.delivery.retry.max_backoff = HumanDuration(Duration::from_millis(40));
    for fund in config.funds.values_mut() {
        fund.policy.rate_limit.burst = 100;
    }
    TestService::start(config).await
}

#[tokio::test]
async fn a_transient_outage_then_success_makes_one_order() {
    let oms = sim::start(Script {
        unavailable_calls: 2,
        ..Script::default()
    })
    .await;
    let s = service(&oms, 2000).await;
    let reply = s.alert(&alert("k1")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(
        (body["status"].as_str(), body["order_id"].as_str()),
        (Some("submitted"), Some("oms-1"))
    );
    assert_eq!(
        oms.accepted_ids(),
        [body["client_order_id"].as_str().unwrap()]
    );
    assert_eq!(oms.calls(), 3, "two UNAVAILABLE, then the one that worked");
    let record = s.until_order("fund-a", "k1", "submitted").await;
    assert_eq!(
        (record["attempts"].as_u64(), record["order_id"].as_str()),
        (Some(3), Some("oms-1"))
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_permanent_rejection_is_422_and_recorded() {
    let oms = sim::start(Script {
        refuse_symbols: vec!["BTC-USD".into()],
        ..Script::default()
    })
    .await;
    let s = service(&oms, 2000).await;
    let reply = s.alert(&alert("k1")).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.json()["error"], "oms_rejected");
    assert!(
        reply.json()["reason"]
            .as_str()
            .unwrap()
            .contains("risk gate: symbol BTC-USD is blocked")
    );
    let record = s.until_order("fund-a", "k1", "rejected").await;
    assert!(
        record["last_error"]
            .as_str()
            .unwrap()
            .contains("failed_precondition")
    );
    assert_eq!(oms.calls(), 1, "never retried");
    let metrics = s.admin_get("/metrics").await.body;
    assert!(
        metrics.contains("tv_orders_rejected_total{reason=\"failed_precondition\"} 1"),
        "{metrics}"
    );
    assert!(oms.accepted_ids().is_empty());
    // The alert has been judged: a resend is a duplicate.
    assert_eq!(s.alert(&alert("k1")).await.status, 409);
    s.shutdown().await;
}

#[tokio::test]
async fn a_slow_oms_gets_202_then_the_order_is_delivered() {
    let oms = sim::start(Script {
        delay: Duration::from_millis(300),
        ..Script::default()
    })
    .await;
    let s = service(&oms, 50).await;
    let reply = s.alert(&alert("k1")).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["status"], "queued");
    assert!(body.get("order_id").is_none());
    let record = s.until_order("fund-a", "k1", "submitted").await;
    assert_eq!(record["client_order_id"], body["client_order_id"]);
    assert_eq!(
        oms.accepted_ids(),
        [body["client_order_id"].as_str().unwrap()]
    );
    s.shutdown().await;
}

#[tokio::test]
async fn an_order_older_than_max_order_age_is_expired_and_never_sent() {
    let oms = sim::start(Script {
        unavailable_calls: usize::MAX,
        ..Script::default()
    })
    .await;
    let s = service(&oms, 50).await;
    assert_eq!(s.alert(&alert("late")).await.status, 202);
    // The OMS stays down past the order's maximum age (60 s by default) on the injected clock.
    s.clock.advance(60_001);
    let record = s.until_order("fund-a", "late", "expired").await;
    assert!(record["attempts"].as_u64().unwrap() >= 1);
    // The OMS comes back: the expired order is not sent, not even once.
    oms.script(Script::default());
    let calls = oms.calls();
    assert_eq!(
        s.alert(&alert("fresh")).await.status,
        200,
        "the stream is not blocked by it"
    );
    assert_eq!(oms.calls(), calls + 1);
    assert_eq!(oms.accepted_ids().len(), 1);
    assert_eq!(s.order("fund-a", "late").await.json()["status"], "expired");
    let metrics = s.admin_get("/metrics").await.body;
    assert!(
        metrics
            .lines()
            .any(|l| l == "mts1b_delivery_expired_total 1"),
        "{metrics}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_stream_delivers_in_arrival_order_while_the_first_is_retrying() {
    let oms = sim::start(Script {
        unavailable_calls: 3,
        ..Script::default()
    })
    .await;
    let s = service(&oms, 5).await;
    let exit = with(alert("exit"), "side", json!("sell"));
    let a = s.alert(&exit).await;
    let b = s.alert(&alert("reentry")).await;
    assert_eq!((a.status, b.status), (202, 202), "{} / {}", a.body, b.body);
    s.until_order("fund-a", "reentry", "submitted").await;
    let (a_id, b_id) = (
        a.json()["client_order_id"].clone(),
        b.json()["client_order_id"].clone(),
    );
    assert_eq!(
        oms.accepted_ids(),
        [a_id.as_str().unwrap(), b_id.as_str().unwrap()]
    );
    // Every call for the exit came before the first call for the re-entry.
    let calls = oms.state.lock().unwrap().calls.clone();
    let first_b = calls
        .iter()
        .position(|c| c == b_id.as_str().unwrap())
        .unwrap();
    assert!(
        calls[..first_b].iter().all(|c| c == a_id.as_str().unwrap()),
        "{calls:?}"
    );
    assert_eq!(
        first_b, 4,
        "three UNAVAILABLE and one success for the exit first: {calls:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn orders_status_is_404_for_unknown_keys_and_readyz_follows_the_oms() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = Oms {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        state: Default::default(),
    };
    let s = service(&down, 50).await;
    assert_eq!(s.order("fund-a", "nope").await.status, 404);
    // The probe runs at start: with nothing listening, /readyz says the OMS is unreachable.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ready = s.admin_get("/readyz").await;
        if ready.status == 503 {
            assert!(
                ready.json()["reasons"][0]
                    .as_str()
                    .unwrap()
                    .contains("unreachable"),
                "{}",
                ready.body
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never turned 503: {}",
            ready.body
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The OMS appears on that port: /readyz follows within the probe interval (2 s).
    let listener = tokio::net::TcpListener::bind(down.addr).await.unwrap();
    let _up = sim::start_on(listener, Script::default()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.admin_get("/readyz").await.status != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never recovered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_rejected_order_stops_blocking_its_stream() {
    let oms = sim::start(Script {
        unavailable_calls: 2,
        max_quantity: Some("5".parse().unwrap()),
        ..Script::default()
    })
    .await;
    let s = service(&oms, 5).await;
    let too_big = s
        .alert(&with(alert("too-big"), "quantity", json!("6")))
        .await;
    let next = s.alert(&alert("next")).await;
    assert_eq!(
        (too_big.status, next.status),
        (202, 202),
        "{} / {}",
        too_big.body,
        next.body
    );
    s.until_order("fund-a", "next", "submitted").await;
    let refused = s.until_order("fund-a", "too-big", "rejected").await;
    assert!(
        refused["last_error"]
            .as_str()
            .unwrap()
            .contains("quantity 6 is over 5"),
        "{refused}"
    );
    assert_eq!(
        oms.accepted_ids(),
        [next.json()["client_order_id"].as_str().unwrap()]
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_record_that_cannot_be_read_back_is_quarantined_and_the_service_starts() {
    use redb::{ReadableDatabase, TableDefinition};
    const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
    const QUEUED: TableDefinition<u64, ()> = TableDefinition::new("queued");

    let config = settings(LOOPBACK);
    let s = TestService::start(config.clone()).await;
    assert_eq!(s.alert(&alert("odd")).await.status, 200);
    s.shutdown().await;
    // What an older build wrote for `"alert_time":"9999-12-31T23:59:59-00:01"`: a time RFC 3339
    // cannot carry, still queued.
    {
        // The stopped service's writer thread lets go of the file when it notices.
        let path = config.store.path.join("orders.redb");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let db = loop {
            match redb::Database::open(&path) {
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    assert!(std::time::Instant::now() < deadline, "the store stays open");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                opened => break opened.unwrap(),
            }
        };
        let text = {
            let txn = db.begin_read().unwrap();
            let records = txn.open_table(RECORDS).unwrap();
            let bytes = records.get(0).unwrap().unwrap().value().to_vec();
            String::from_utf8(bytes).unwrap()
        };
        let odd = text
            .replace(
                "\"alert_time\":null",
                "\"alert_time\":\"10000-01-01T00:00:59.000Z\"",
            )
            .replace("\"status\":\"submitted\"", "\"status\":\"queued\"");
        assert!(
            odd.contains("10000-01-01") && odd.contains("\"queued\""),
            "{odd}"
        );
        let txn = db.begin_write().unwrap();
        txn.open_table(RECORDS)
            .unwrap()
            .insert(0, odd.as_bytes())
            .unwrap();
        txn.open_table(QUEUED).unwrap().insert(0, ()).unwrap();
        txn.commit().unwrap();
    }
    // It starts, says so in its metrics, and the record's stream is not blocked.
    let s = TestService::start(config).await;
    let metrics = s.admin_get("/metrics").await.body;
    assert!(
        metrics.contains("mts1b_store_quarantined_records 1"),
        "{metrics}"
    );
    assert_eq!(s.order("fund-a", "odd").await.status, 404);
    let next = s.alert(&alert("after-odd")).await;
    assert_eq!(next.status, 200, "{}", next.body);
    s.shutdown().await;
}
