//! The runtime embedded in code (SPEC §11): built from an adapter, a secret source and a sink,
//! driven through `handle()` with no HTTP at all.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use mts1b_tradingview::adapters::tradingview::TradingView;
use mts1b_tradingview::config::StaticSecrets;
use mts1b_tradingview::core::{
    Envelope, FundId, FundPolicy, IpNet, ManualClock, OrderIntent, Quantity, RateLimit, RawRequest,
    Secret, SecretLookup, SecretSource, UnixMillis,
};
use mts1b_tradingview::runtime::delivery::{Delivered, OrderSink, SinkUnavailable};
use mts1b_tradingview::runtime::gates::source::SourcePolicy;
use mts1b_tradingview::runtime::{Runtime, RuntimeBuilder};
use serde_json::{Value, json};

/// Fails the first `failures` submissions, then accepts.
#[derive(Default)]
struct FlakySink {
    failures: AtomicUsize,
    accepted: AtomicUsize,
}

#[async_trait]
impl OrderSink for FlakySink {
    async fn submit(&self, order: &OrderIntent) -> Result<Delivered, SinkUnavailable> {
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(SinkUnavailable("disk full".into()));
        }
        self.accepted.fetch_add(1, Ordering::SeqCst);
        Ok(Delivered::Submitted {
            order_id: format!("oms-{}", order.client_order_id),
        })
    }

    fn not_ready(&self) -> Option<String> {
        None
    }
}

/// Not loaded until told.
struct LateSecrets {
    loaded: AtomicBool,
    inner: StaticSecrets,
}

impl SecretSource for LateSecrets {
    fn fund_secret(&self, fund: &FundId) -> SecretLookup {
        if self.loaded.load(Ordering::SeqCst) {
            self.inner.fund_secret(fund)
        } else {
            SecretLookup::NotLoaded
        }
    }

    fn not_ready(&self) -> Option<String> {
        (!self.loaded.load(Ordering::SeqCst)).then(|| "secrets not loaded yet".to_owned())
    }
}

fn fund() -> FundId {
    FundId::parse("fund-a").unwrap()
}

fn runtime(secrets: Arc<dyn SecretSource>, sink: Arc<dyn OrderSink>) -> Runtime {
    RuntimeBuilder::new(secrets, sink)
        .adapter(TradingView::default())
        .fund(
            fund(),
            FundPolicy {
                envelope: Envelope::allow_any(Quantity::parse("1").unwrap()),
                rate_limit: RateLimit {
                    per_second: 10,
                    burst: 10,
                },
            },
        )
        .clock(Arc::new(ManualClock::at(UnixMillis(1_709_296_500_000))))
        .sources(SourcePolicy::new(
            vec![IpNet::parse("192.0.2.0/24").unwrap()],
            vec![],
        ))
        .build()
        .unwrap()
}

fn static_secrets() -> StaticSecrets {
    StaticSecrets::new().with_fund(fund(), Secret::new("s3cret"))
}

fn alert(key: &str) -> RawRequest {
    let body = json!({
        "secret": "s3cret", "strategy_id": "embedded", "fund_id": "fund-a",
        "symbol": "NASDAQ:AAPL", "side": "buy", "quantity": "1", "order_type": "market",
        "idempotency_key": key
    });
    RawRequest::with_body(body.to_string(), UnixMillis(0))
}

fn caller() -> IpAddr {
    "192.0.2.10".parse().unwrap()
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn a_failed_record_answers_503_and_releases_the_key() {
    let sink = Arc::new(FlakySink {
        failures: AtomicUsize::new(1),
        ..Default::default()
    });
    let rt = runtime(Arc::new(static_secrets()), sink.clone());
    let first = rt.handle("tradingview", caller(), alert("k")).await;
    assert_eq!(
        (first.status, json(&first.body)),
        (503, json!({"error": "unavailable"}))
    );
    assert_eq!(first.retry_after_secs, Some(1));
    // TradingView's resend of the same alert is accepted, exactly once.
    let resend = rt.handle("tradingview", caller(), alert("k")).await;
    assert_eq!(resend.status, 200, "{}", resend.body);
    assert_eq!(json(&resend.body)["status"], "submitted");
    let repeat = rt.handle("tradingview", caller(), alert("k")).await;
    assert_eq!(repeat.status, 409);
    assert_eq!(sink.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn before_secrets_load_alerts_get_503_and_readiness_says_why() {
    let secrets = Arc::new(LateSecrets {
        loaded: AtomicBool::new(false),
        inner: static_secrets(),
    });
    let rt = runtime(secrets.clone(), Arc::new(FlakySink::default()));
    let readiness = rt.readiness();
    assert!(!readiness.ready);
    assert_eq!(readiness.reasons, ["secrets not loaded yet"]);
    assert_eq!(
        rt.handle("tradingview", caller(), alert("k")).await.status,
        503
    );
    secrets.loaded.store(true, Ordering::SeqCst);
    assert!(rt.readiness().ready);
    assert_eq!(
        rt.handle("tradingview", caller(), alert("k")).await.status,
        200
    );
}

#[tokio::test]
async fn the_gates_apply_without_http_too() {
    let rt = runtime(Arc::new(static_secrets()), Arc::new(FlakySink::default()));
    let outsider: IpAddr = "198.51.100.1".parse().unwrap();
    assert_eq!(
        rt.handle("tradingview", outsider, alert("k")).await.status,
        403
    );
    let big = RawRequest::with_body(vec![b' '; 4097], UnixMillis(0));
    assert_eq!(rt.handle("tradingview", caller(), big).await.status, 413);
    assert_eq!(rt.handle("slack", caller(), alert("k")).await.status, 404);
    let metrics = rt.metrics();
    assert!(
        metrics.contains("tv_webhook_rejections_total{error=\"forbidden\"} 1"),
        "{metrics}"
    );
}

/// Refuses every order, as an OMS risk gate would.
struct RefusingSink;

#[async_trait]
impl OrderSink for RefusingSink {
    async fn submit(&self, _order: &OrderIntent) -> Result<Delivered, SinkUnavailable> {
        Ok(Delivered::Rejected {
            reason: "risk gate: max_notional".into(),
        })
    }

    fn not_ready(&self) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn an_oms_rejection_is_422_and_the_key_stays_recorded() {
    let rt = runtime(Arc::new(static_secrets()), Arc::new(RefusingSink));
    let refused = rt.handle("tradingview", caller(), alert("k")).await;
    assert_eq!(
        (refused.status, json(&refused.body)),
        (
            422,
            json!({"error": "oms_rejected", "reason": "risk gate: max_notional"})
        )
    );
    // The OMS has judged this alert: a resend is a duplicate, not a second try.
    assert_eq!(
        rt.handle("tradingview", caller(), alert("k")).await.status,
        409
    );
    // Order counters belong to the outbox (who talks to the OMS); a custom sink counts its own.
    assert!(
        rt.metrics()
            .contains("tv_webhook_rejections_total{error=\"oms_rejected\"} 1")
    );
}

#[tokio::test]
async fn keys_evicted_from_the_cache_are_still_refused_by_the_store() {
    use mts1b_tradingview::core::SystemClock;
    use mts1b_tradingview::runtime::delivery::{DeliveryPolicy, Outbox, PaperOms};
    use mts1b_tradingview::runtime::metrics::Metrics;
    use mts1b_tradingview::runtime::store::OrderStore;
    use std::time::Duration;

    let data = std::env::temp_dir().join(format!("mts1b-evict-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let policy = DeliveryPolicy {
        respond_within: Duration::from_secs(2),
        max_order_age: Duration::from_secs(60),
        max_cancel_age: Duration::from_secs(3600),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_concurrent_calls: 4,
        replay_window: Duration::from_secs(300),
    };
    let metrics = Metrics::new();
    let outbox = Outbox::start(
        Arc::new(OrderStore::open(&data).unwrap()),
        Arc::new(PaperOms::open(&data).unwrap()),
        Arc::new(SystemClock),
        policy,
        metrics.clone(),
    )
    .unwrap();
    let rt = RuntimeBuilder::new(Arc::new(static_secrets()), Arc::new(outbox))
        .metrics(metrics)
        .adapter(TradingView::default())
        .fund(
            fund(),
            FundPolicy {
                envelope: Envelope::allow_any(Quantity::parse("1").unwrap()),
                rate_limit: RateLimit {
                    per_second: 1000,
                    burst: 1000,
                },
            },
        )
        .sources(SourcePolicy::new(
            vec![IpNet::parse("192.0.2.0/24").unwrap()],
            vec![],
        ))
        .replay_capacity(4)
        .build()
        .unwrap();
    for i in 0..40 {
        assert_eq!(
            rt.handle("tradingview", caller(), alert(&format!("k{i}")))
                .await
                .status,
            200
        );
    }
    // k0 is long gone from a 4-key cache; the store still knows it.
    for i in [0, 1, 20, 39] {
        let again = rt
            .handle("tradingview", caller(), alert(&format!("k{i}")))
            .await;
        assert_eq!(
            (again.status, json(&again.body)["error"].as_str()),
            (409, Some("duplicate_idempotency_key")),
            "k{i}"
        );
    }
    let journal = std::fs::read_to_string(data.join("paper-journal.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 40, "no order twice");
    let _ = std::fs::remove_dir_all(&data);
}
