//! The costs per alert (issue 5): parse + normalize, a replay-window claim, a rate-limit check,
//! the whole in-memory pipeline through `handle()` with the durable store and the paper OMS, and
//! the store's cost per order by batch size (what group commit buys), and symbology per kind of
//! symbol.
//!
//! `cargo bench --bench pipeline` (figures in BENCHMARKS.md).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mts1b_tradingview::adapters::tradingview::TradingView;
use mts1b_tradingview::config::StaticSecrets;
use mts1b_tradingview::core::testing::order;
use mts1b_tradingview::core::{
    ClientOrderId, Envelope, FundId, FundPolicy, FundSecrets, IdempotencyKey, InboundAdapter,
    Intent, IpNet, Quantity, RateLimit, RawRequest, Secret, SecretLookup, SecretSource,
    SymbolTable, SystemClock, Timing, UnixMillis, authenticate,
};
use mts1b_tradingview::runtime::RuntimeBuilder;
use mts1b_tradingview::runtime::delivery::{DeliveryPolicy, Outbox, PaperOms};
use mts1b_tradingview::runtime::gates::rate_limit::FundRateLimits;
use mts1b_tradingview::runtime::gates::replay::ReplayWindow;
use mts1b_tradingview::runtime::gates::source::SourcePolicy;
use mts1b_tradingview::runtime::metrics::Metrics;
use mts1b_tradingview::runtime::store::{Change, OrderStore, Transition};

const ALERT: &str = r#"{"secret":"bench-secret","strategy_id":"tv_breakout_v1","fund_id":"fund-a","symbol":"BINANCE:BTCUSDT","side":"buy","quantity":"0.05","order_type":"limit","limit_price":"95000","tif":"day","actor":"tradingview","idempotency_key":"KEY","thesis":"20-bar breakout with vol confirmation","alert_time":"2024-03-01T12:34:56Z"}"#;

struct OneSecret(Arc<FundSecrets>);
impl SecretSource for OneSecret {
    fn fund_secret(&self, _: &FundId) -> SecretLookup {
        SecretLookup::Found(self.0.clone())
    }
}

fn parse_and_normalize(c: &mut Criterion) {
    let tv = TradingView::default();
    let secrets = OneSecret(Arc::new(FundSecrets::new(Secret::new("bench-secret"))));
    let body = ALERT.replace("KEY", "k-1");
    c.bench_function("parse + authenticate + normalize (typical alert)", |b| {
        b.iter(|| {
            let req =
                RawRequest::with_body(black_box(body.as_bytes()), UnixMillis(1_709_296_500_000));
            let payload = tv.parse(&req).unwrap();
            let alert = authenticate(&tv, &req, payload, &secrets).unwrap();
            black_box(tv.normalize(alert).unwrap())
        })
    });
}

fn replay_claim(c: &mut Criterion) {
    let window = ReplayWindow::new(Duration::from_secs(300), 262_144, Arc::new(SystemClock));
    let fund = FundId::parse("fund-a").unwrap();
    let n = AtomicU64::new(0);
    c.bench_function("replay window: claim + commit (new key)", |b| {
        b.iter(|| {
            let key =
                IdempotencyKey::parse(&format!("k-{}", n.fetch_add(1, Ordering::Relaxed))).unwrap();
            window
                .claim(ClientOrderId::derive("tradingview", &fund, &key))
                .unwrap()
                .commit();
        })
    });
    let taken = ClientOrderId::derive(
        "tradingview",
        &fund,
        &IdempotencyKey::parse("taken").unwrap(),
    );
    window.claim(taken).unwrap().commit();
    c.bench_function("replay window: claim (duplicate)", |b| {
        b.iter(|| black_box(window.claim(taken).is_err()))
    });
}

fn rate_limit(c: &mut Criterion) {
    let fund = FundId::parse("fund-a").unwrap();
    let limits = FundRateLimits::new(
        [(
            fund.clone(),
            RateLimit {
                per_second: 1_000_000,
                burst: 1_000_000,
            },
        )],
        Arc::new(SystemClock),
    );
    c.bench_function("rate limit: check", |b| {
        b.iter(|| black_box(limits.check(&fund)))
    });
}

fn whole_pipeline(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let data = std::env::temp_dir().join(format!("mts1b-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let rt = runtime.block_on(async {
        let store = Arc::new(OrderStore::open(&data).unwrap());
        let policy = DeliveryPolicy {
            respond_within: Duration::from_secs(2),
            max_order_age: Duration::from_secs(60),
            max_cancel_age: Duration::from_secs(3600),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_concurrent_calls: 64,
            replay_window: Duration::from_secs(300),
        };
        let metrics = Metrics::new();
        let paper = Arc::new(PaperOms::open(&data).unwrap());
        let outbox =
            Outbox::start(store, paper, Arc::new(SystemClock), policy, metrics.clone()).unwrap();
        let fund = FundId::parse("fund-a").unwrap();
        RuntimeBuilder::new(
            Arc::new(StaticSecrets::new().with_fund(fund.clone(), Secret::new("bench-secret"))),
            Arc::new(outbox),
        )
        .metrics(metrics)
        .adapter(TradingView::default())
        .fund(
            fund,
            FundPolicy {
                envelope: Envelope::allow_any(Quantity::parse("1000").unwrap()),
                rate_limit: RateLimit {
                    per_second: 1_000_000,
                    burst: 1_000_000,
                },
            },
        )
        .sources(SourcePolicy::new(
            vec![IpNet::parse("127.0.0.1").unwrap()],
            vec![],
        ))
        .build()
        .unwrap()
    });
    let caller = "127.0.0.1".parse().unwrap();
    let n = AtomicU64::new(0);
    let mut group = c.benchmark_group("handle()");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    group.bench_function(
        "accepted alert: store commit + paper OMS journal (fsync)",
        |b| {
            b.iter(|| {
                let body =
                    ALERT.replace("KEY", &format!("k-{}", n.fetch_add(1, Ordering::Relaxed)));
                let answer = runtime.block_on(rt.handle(
                    "tradingview",
                    caller,
                    RawRequest::with_body(body, UnixMillis(0)),
                ));
                assert_eq!(answer.status, 200, "{}", answer.body);
            })
        },
    );
    group.bench_function("duplicate alert", |b| {
        let body = ALERT.replace("KEY", "k-0");
        b.iter(|| {
            let answer = runtime.block_on(rt.handle(
                "tradingview",
                caller,
                RawRequest::with_body(body.clone(), UnixMillis(0)),
            ));
            assert_eq!(answer.status, 409);
        })
    });
    group.bench_function("forged secret", |b| {
        let body = ALERT
            .replace("bench-secret", "guess")
            .replace("KEY", "k-forged");
        b.iter(|| {
            let answer = runtime.block_on(rt.handle(
                "tradingview",
                caller,
                RawRequest::with_body(body.clone(), UnixMillis(0)),
            ));
            assert_eq!(answer.status, 401);
        })
    });
    group.finish();
    drop(rt);
    let _ = std::fs::remove_dir_all(&data);
}

/// What group commit buys: recording N orders and then marking them submitted, as two batches
/// (one fsynced transaction, one lazy), the way the store's writer thread applies them under
/// load. Reported per batch; criterion's throughput line gives orders per second.
fn store_batches(c: &mut Criterion) {
    let data = std::env::temp_dir().join(format!("mts1b-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let store = OrderStore::open(&data).unwrap();
    let n = AtomicU64::new(0);
    let at = UnixMillis(1_709_296_500_000);
    let mut group = c.benchmark_group("store: record + submitted");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for batch in [1u64, 8, 64] {
        group.throughput(Throughput::Elements(batch));
        group.bench_function(format!("batch of {batch}"), |b| {
            b.iter(|| {
                let orders: Vec<_> = (0..batch)
                    .map(|_| {
                        order(
                            "fund-a",
                            &format!("k-{}", n.fetch_add(1, Ordering::Relaxed)),
                            at,
                        )
                    })
                    .collect();
                let ids: Vec<ClientOrderId> = orders.iter().map(|o| o.client_order_id).collect();
                let records = orders
                    .into_iter()
                    .map(|order| Change::Record {
                        intent: Box::new(Intent::Submit(order)),
                        now: at,
                        window: Duration::from_secs(300),
                    })
                    .collect();
                store.apply(records).unwrap();
                let submitted = ids
                    .into_iter()
                    .map(|id| Change::Update {
                        id,
                        now: at,
                        transition: Transition::Submitted {
                            order_id: "oms-1".into(),
                            attempts: 1,
                        },
                    })
                    .collect();
                store.apply(submitted).unwrap();
            })
        });
    }
    group.finish();
    drop(store);
    let _ = std::fs::remove_dir_all(&data);
}

/// The log line's timestamp: the hand-written writer (`UnixMillis::write_rfc3339`) against the
/// `time` crate's RFC 3339 formatter, which is why the hand-written one is kept (BENCHMARKS.md).
fn timestamp(c: &mut Criterion) {
    use time::format_description::well_known::Rfc3339;
    let at = UnixMillis(1_709_296_496_789);
    let mut group = c.benchmark_group("timestamp");
    group.bench_function("UnixMillis::write_rfc3339", |b| {
        let mut out = String::with_capacity(32);
        b.iter(|| {
            out.clear();
            black_box(at).write_rfc3339(&mut out).unwrap();
            black_box(out.len())
        })
    });
    group.bench_function(
        "time::OffsetDateTime::format_into(millisecond format)",
        |b| {
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            let mut out = Vec::with_capacity(32);
            b.iter(|| {
                out.clear();
                let nanos = i128::from(black_box(at).0) * 1_000_000;
                let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
                t.format_into(&mut out, &format).unwrap();
                black_box(out.len())
            })
        },
    );
    group.bench_function("time::OffsetDateTime::format_into(Rfc3339)", |b| {
        let mut out = Vec::with_capacity(32);
        b.iter(|| {
            out.clear();
            let nanos = i128::from(black_box(at).0) * 1_000_000;
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            t.format_into(&mut out, &Rfc3339).unwrap();
            black_box(out.len())
        })
    });
    group.finish();
}

/// One symbol of each kind through the symbology table (SPEC §4), mapped or refused.
fn symbology(c: &mut Criterion) {
    let table = SymbolTable::default();
    let at = Timing::at(UnixMillis(1_779_024_600_000)); // 2026-05-17T13:30:00Z
    let mut group = c.benchmark_group("symbology");
    for input in [
        "BINANCE:BTCUSDT",
        "BINANCE:BTCFDUSD",
        "BYBIT:BTCUSDT.P",
        "NASDAQ:AAPL",
        "OANDA:EURUSD",
        "CME_MINI:ESM2026",
        "CME_MINI:ES1!",
        "AAPL",
    ] {
        group.bench_function(input, |b| {
            b.iter(|| black_box(table.map(black_box(input), at)).is_ok())
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    symbology,
    timestamp,
    parse_and_normalize,
    replay_claim,
    rate_limit,
    whole_pipeline,
    store_batches
);
criterion_main!(benches);
