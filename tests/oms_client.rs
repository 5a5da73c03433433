//! The gRPC OMS client against the real tonic simulator: wire mapping and error classes.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;

use std::time::Duration;

use mts1b_tradingview::adapters::tradingview::TradingView;
use mts1b_tradingview::core::OrderIntent;
use mts1b_tradingview::core::{
    FundId, FundSecrets, InboundAdapter, Intent, RawRequest, Secret, SecretLookup, SecretSource,
    UnixMillis, authenticate,
};
use mts1b_tradingview::runtime::delivery::grpc::GrpcOms;
use mts1b_tradingview::runtime::delivery::oms::{ErrorClass, OmsClient};
use sim::Script;

struct AnySecret;
impl SecretSource for AnySecret {
    fn fund_secret(&self, _: &FundId) -> SecretLookup {
        SecretLookup::Found(std::sync::Arc::new(FundSecrets::new(Secret::new("s"))))
    }
}

fn order(symbol: &str, key: &str) -> OrderIntent {
    let body = serde_json::json!({
        "secret": "s", "strategy_id": "tv_breakout_v1", "fund_id": "fund-a", "symbol": symbol,
        "side": "sell", "quantity": "0.000012345678901234567890", "order_type": "stop_limit",
        "stop_price": "94000", "limit_price": "93999.5", "tif": "gtc", "idempotency_key": key,
        "thesis": "exit"
    });
    let tv = TradingView::default();
    let req = RawRequest::with_body(body.to_string(), UnixMillis(1_709_296_500_123));
    let alert = authenticate(&tv, &req, tv.parse(&req).unwrap(), &AnySecret).unwrap();
    let Intent::Submit(order) = tv.normalize(alert).unwrap() else {
        panic!("an order")
    };
    order
}

#[tokio::test]
async fn every_instrument_class_reaches_the_oms_with_the_symbol_tradingview_sent() {
    let oms = sim::start(Script::default()).await;
    let client = GrpcOms::new(&oms.endpoint(), Duration::from_secs(2)).unwrap();
    let cases = [
        ("BYBIT:BTCUSDT.P", "BTC-USDT-PERP", "bybit", 2),
        ("CME_MINI:ES1!", "ES-202403", "cme", 3),
        ("NYSE:BRK.B", "BRK.B", "", 4),
        ("OANDA:XAUUSD", "XAU-USD", "oanda", 5),
    ];
    for (i, (sent, ..)) in cases.iter().enumerate() {
        client.submit(&order(sent, &format!("k{i}"))).await.unwrap();
    }
    let accepted = oms.state.lock().unwrap().accepted.clone();
    for (wire, (sent, symbol, venue, class)) in accepted.iter().zip(cases) {
        assert_eq!(
            (
                wire.tradingview_symbol.as_str(),
                wire.symbol.as_str(),
                wire.venue_hint.as_str(),
                wire.instrument_class
            ),
            (sent, symbol, venue, class)
        );
    }
}

#[tokio::test]
async fn accepts_and_maps_every_field_exactly() {
    let oms = sim::start(Script::default()).await;
    let client = GrpcOms::new(&oms.endpoint(), Duration::from_secs(2)).unwrap();
    let o = order("BINANCE:BTCUSDT", "k1");
    let accepted = client.submit(&o).await.unwrap();
    assert_eq!(
        (accepted.order_id.as_str(), accepted.duplicate),
        ("oms-1", false)
    );
    let wire = oms.state.lock().unwrap().accepted[0].clone();
    assert_eq!(wire.client_order_id, o.client_order_id.to_string());
    assert_eq!(
        (wire.fund_id.as_str(), wire.strategy_id.as_str()),
        ("fund-a", "tv_breakout_v1")
    );
    assert_eq!(
        (wire.symbol.as_str(), wire.venue_hint.as_str()),
        ("BTC-USD", "binance")
    );
    assert_eq!(wire.instrument_class, 1, "INSTRUMENT_CLASS_SPOT");
    assert_eq!(wire.tradingview_symbol, "BINANCE:BTCUSDT");
    assert_eq!(
        wire.quantity,
        "0.000012345678901234567890".trim_end_matches('0')
    );
    assert_eq!(
        (wire.stop_price.as_str(), wire.limit_price.as_str()),
        ("94000", "93999.5")
    );
    assert_eq!(wire.side, 2, "SIDE_SELL");
    assert_eq!(wire.order_type, 4, "ORDER_TYPE_STOP_LIMIT");
    assert_eq!(wire.tif, 2, "TIME_IN_FORCE_GTC");
    assert_eq!(
        (
            wire.actor.as_str(),
            wire.thesis.as_str(),
            wire.source.as_str()
        ),
        ("tradingview", "exit", "tradingview")
    );
    assert_eq!(wire.received_at_unix_ms, 1_709_296_500_123);
    // The OMS dedupes a resend of the same client order id.
    let again = client.submit(&o).await.unwrap();
    assert_eq!((again.order_id.as_str(), again.duplicate), ("oms-1", true));
    assert_eq!(oms.accepted_ids().len(), 1);
    assert!(client.unreachable().await.is_none());
}

#[tokio::test]
async fn the_simulator_journals_accepted_orders() {
    let journal =
        std::env::temp_dir().join(format!("mts1b-oms-journal-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&journal);
    let oms = sim::start(Script {
        journal: Some(journal.clone()),
        ..Script::default()
    })
    .await;
    let client = GrpcOms::new(&oms.endpoint(), Duration::from_secs(2)).unwrap();
    client
        .submit(&order("BINANCE:BTCUSDT", "j1"))
        .await
        .unwrap();
    client
        .submit(&order("BINANCE:BTCUSDT", "j1"))
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "a duplicate is not journaled twice");
    assert_eq!(
        (lines[0]["side"].as_str(), lines[0]["order_type"].as_str()),
        (Some("SIDE_SELL"), Some("ORDER_TYPE_STOP_LIMIT"))
    );
    let _ = std::fs::remove_file(&journal);
}

#[tokio::test]
async fn outages_are_transient_and_risk_gates_permanent() {
    let oms = sim::start(Script {
        unavailable_calls: 1,
        refuse_symbols: vec!["ETH-USD".into()],
        ..Script::default()
    })
    .await;
    let client = GrpcOms::new(&oms.endpoint(), Duration::from_secs(2)).unwrap();
    let down = client
        .submit(&order("BINANCE:BTCUSDT", "k1"))
        .await
        .unwrap_err();
    assert_eq!(
        (down.class, down.label),
        (ErrorClass::Transient, "unavailable")
    );
    assert!(client.submit(&order("BINANCE:BTCUSDT", "k1")).await.is_ok());
    let refused = client
        .submit(&order("COINBASE:ETHUSD", "k2"))
        .await
        .unwrap_err();
    assert_eq!(
        (refused.class, refused.label),
        (ErrorClass::Permanent, "failed_precondition")
    );
    assert!(
        refused
            .message
            .contains("risk gate: symbol ETH-USD is blocked"),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn no_oms_and_a_slow_oms_are_transient() {
    // A port bound but not listening: held for the whole test, so no other test can take it,
    // and every connection to it is refused.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = reserved.local_addr().unwrap().port();
    let nobody = GrpcOms::new(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_millis(500),
    )
    .unwrap();
    let err = nobody
        .submit(&order("BINANCE:BTCUSDT", "k1"))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err:?}");
    assert!(nobody.unreachable().await.is_some());
    drop(reserved);

    let slow = sim::start(Script {
        delay: Duration::from_millis(400),
        ..Script::default()
    })
    .await;
    let impatient = GrpcOms::new(&slow.endpoint(), Duration::from_millis(100)).unwrap();
    let err = impatient
        .submit(&order("BINANCE:BTCUSDT", "k1"))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient, "{err:?}");
}

#[tokio::test]
async fn reduce_only_reaches_the_oms_and_is_false_when_absent() {
    let oms = sim::start(Script::default()).await;
    let client = GrpcOms::new(&oms.endpoint(), Duration::from_secs(2)).unwrap();
    let mut exit = order("BYBIT:BTCUSDT.P", "exit");
    exit.reduce_only = true;
    client.submit(&exit).await.unwrap();
    client
        .submit(&order("BYBIT:BTCUSDT.P", "entry"))
        .await
        .unwrap();
    let accepted = oms.state.lock().unwrap().accepted.clone();
    assert_eq!(
        accepted
            .iter()
            .map(|o| (o.client_order_id.clone(), o.reduce_only))
            .collect::<Vec<_>>(),
        [
            (exit.client_order_id.to_string(), true),
            (
                order("BYBIT:BTCUSDT.P", "entry")
                    .client_order_id
                    .to_string(),
                false
            )
        ]
    );
}

mod modifications {
    use super::*;
    use mts1b_tradingview::core::{
        Actor, Cancel, CancelAll, CanonicalSymbol, IdempotencyKey, Modification, Price, Replace,
        StrategyId, Target,
    };
    use mts1b_tradingview::runtime::delivery::oms::OmsModified;
    use sim::book::OrderState;

    fn modification<C: mts1b_tradingview::core::Change>(key: &str, change: C) -> Modification<C> {
        Modification::new(
            "tradingview".into(),
            FundId::parse("fund-a").unwrap(),
            StrategyId::parse("tv_breakout_v1").unwrap(),
            IdempotencyKey::parse(key).unwrap(),
            Actor::parse("tradingview").unwrap(),
            UnixMillis(1_709_296_501_000),
            change,
        )
    }

    /// The order the alert keyed `key` placed, named as a modification names it: no lookup.
    fn target(key: &str) -> Target {
        Target::of(
            "tradingview",
            &FundId::parse("fund-a").unwrap(),
            IdempotencyKey::parse(key).unwrap(),
        )
    }

    fn symbol() -> CanonicalSymbol {
        CanonicalSymbol::parse("BTC-USD").unwrap()
    }

    #[tokio::test]
    async fn submit_replace_then_cancel_all_reach_the_book_in_order() {
        let oms = sim::start(Script::default()).await;
        let client = GrpcOms::new(&oms.endpoint(), Duration::from_secs(2)).unwrap();
        let placed = order("BINANCE:BTCUSDT", "entry-1");
        client.submit(&placed).await.unwrap();
        let id = placed.client_order_id.to_string();
        assert_eq!(target("entry-1").client_order_id, placed.client_order_id);
        let replace = Replace::new(
            target("entry-1"),
            (symbol(), mts1b_tradingview::core::InstrumentClass::Spot),
            None,
            Some(Price::parse("93000").unwrap()),
            None,
            None,
        )
        .unwrap();
        let replaced = client
            .replace(&modification("move-1", replace))
            .await
            .unwrap();
        assert_eq!(replaced.order_id.as_deref(), Some("oms-1"));
        let all = modification(
            "flat-1",
            CancelAll {
                symbol: Some(symbol()),
            },
        );
        let cleared = client.cancel_all(&all).await.unwrap();
        assert_eq!(
            cleared,
            OmsModified {
                order_id: None,
                cancelled: vec![id.clone()],
                duplicate: false
            }
        );
        // A resend (a retry after a lost answer) is the first answer, marked duplicate.
        assert!(client.cancel_all(&all).await.unwrap().duplicate);
        let booked = oms.booked(&id).unwrap();
        assert_eq!(booked.state, OrderState::Cancelled);
        assert_eq!(
            booked.history,
            [
                "submitted",
                "replaced: limit 93999.5 -> 93000",
                "cancelled (cancel-all)"
            ]
        );
        // The wire carries the modification's own id, never the target's.
        let calls = oms.state.lock().unwrap().calls.clone();
        assert_eq!(
            calls[1..],
            [
                format!("replace:{}", ClientOrderIdOf::replace("move-1")),
                format!("cancel_all:{}", ClientOrderIdOf::cancel_all("flat-1")),
                format!("cancel_all:{}", ClientOrderIdOf::cancel_all("flat-1")),
            ]
        );
        assert_ne!(ClientOrderIdOf::replace("move-1"), id);
    }

    /// The ids the simulator logs, by kind.
    struct ClientOrderIdOf;

    impl ClientOrderIdOf {
        fn of(kind: mts1b_tradingview::core::IntentKind, key: &str) -> String {
            mts1b_tradingview::core::ClientOrderId::derive_for(
                kind,
                "tradingview",
                &FundId::parse("fund-a").unwrap(),
                &IdempotencyKey::parse(key).unwrap(),
            )
            .to_string()
        }

        fn cancel_all(key: &str) -> String {
            Self::of(mts1b_tradingview::core::IntentKind::CancelAll, key)
        }

        fn replace(key: &str) -> String {
            Self::of(mts1b_tradingview::core::IntentKind::Replace, key)
        }
    }

    #[tokio::test]
    async fn a_cancel_of_a_filled_order_is_a_permanent_refusal_with_the_oms_reason() {
        let oms = sim::start(Script::default()).await;
        let client = GrpcOms::new(&oms.endpoint(), Duration::from_secs(2)).unwrap();
        let placed = order("BINANCE:BTCUSDT", "entry-2");
        client.submit(&placed).await.unwrap();
        assert!(oms.fill(&placed.client_order_id.to_string()));
        let cancel = modification(
            "undo-2",
            Cancel {
                target: target("entry-2"),
                symbol: symbol(),
            },
        );
        let refused = client.cancel(&cancel).await.unwrap_err();
        assert_eq!(refused.class, ErrorClass::Permanent);
        assert_eq!(refused.message, "failed_precondition: already filled");
        let unknown = modification(
            "undo-3",
            Cancel {
                target: target("never-sent"),
                symbol: symbol(),
            },
        );
        let refused = client.cancel(&unknown).await.unwrap_err();
        assert_eq!(
            (refused.class, refused.label),
            (ErrorClass::Permanent, "not_found")
        );
        // The OMS down: transient, retried like a submit.
        oms.script(Script {
            unavailable_calls: 1,
            ..Script::default()
        });
        let down = client.cancel(&unknown).await.unwrap_err();
        assert_eq!(down.class, ErrorClass::Transient);
    }
}
