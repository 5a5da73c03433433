//! Example values for tests and documentation.

use crate::client_order_id::ClientOrderId;
use crate::decimal::Quantity;
use crate::ids::{Actor, CanonicalSymbol, FundId, IdempotencyKey, StrategyId};
use crate::instrument::InstrumentClass;
use crate::order::{OrderIntent, Pricing, Side, TimeInForce};
use crate::rejection::Rejection;
use crate::time::UnixMillis;

/// A market buy of 1 BTC-USD for `fund` with idempotency key `key`, from `tradingview`,
/// received at `received_at`.
pub fn order(fund: &str, key: &str, received_at: UnixMillis) -> OrderIntent {
    let fund_id = FundId::parse(fund).expect("a valid fund id");
    let key = IdempotencyKey::parse(key).expect("a valid idempotency key");
    OrderIntent {
        client_order_id: ClientOrderId::derive("tradingview", &fund_id, &key),
        source: "tradingview".into(),
        fund_id,
        strategy_id: StrategyId::parse("s").expect("valid"),
        symbol: CanonicalSymbol::parse("BTC-USD").expect("valid"),
        instrument_class: InstrumentClass::Spot,
        tradingview_symbol: None,
        venue_hint: None,
        side: Side::Buy,
        quantity: Quantity::parse("1").expect("valid"),
        pricing: Pricing::Market,
        tif: TimeInForce::Day,
        actor: Actor::parse("tradingview").expect("valid"),
        idempotency_key: key,
        thesis: None,
        alert_time: None,
        received_at,
        reduce_only: false,
    }
}

/// One rejection of every kind, in the order of [`Rejection::CODES`].
pub fn every_rejection() -> Vec<Rejection> {
    vec![
        Rejection::PayloadTooLarge { limit_bytes: 1 },
        Rejection::InvalidJson { detail: "d".into() },
        Rejection::invalid("f", "d"),
        Rejection::unknown_symbol("S", &crate::SymbolRefusal::NoExchange),
        Rejection::EnvelopeDenied { detail: "d".into() },
        Rejection::OmsRejected { reason: "r".into() },
        Rejection::StaleAlert { age_ms: 1 },
        Rejection::Unauthorized,
        Rejection::Forbidden,
        Rejection::RateLimited { retry_after_ms: 1 },
        Rejection::DuplicateIdempotencyKey { key: "k".into() },
        Rejection::Unavailable { reason: "why" },
        Rejection::NotFound,
        Rejection::MethodNotAllowed,
        Rejection::BadRequest { detail: "d" },
        Rejection::NotPermitted,
        Rejection::TargetNotActive {
            reason: "already filled".into(),
        },
        Rejection::FundHalted,
    ]
}
