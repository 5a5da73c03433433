//! Modifications of orders already placed (SPEC §13): cancel one, replace its terms, cancel
//! every order of a fund and strategy. The canonical shapes the OMS client speaks; the
//! sources' payloads and the outbox's ordering build on them.
//!
//! A modification names its target by the original's idempotency key, and the target's
//! `client_order_id` is derived exactly as the original's (same adapter, fund and key): no
//! lookup is needed, and an order the bridge no longer remembers can still be cancelled. The
//! modification has its own key and its own id, derived with its kind
//! ([`ClientOrderId::derive_for`]), so it never collides with the order keyed the same.

use std::borrow::Cow;

use crate::client_order_id::ClientOrderId;
use crate::decimal::{Price, Quantity};
use crate::ids::{Actor, CanonicalSymbol, FundId, IdempotencyKey, StrategyId};
use crate::order::{IntentKind, TimeInForce};
use crate::rejection::Rejection;
use crate::time::UnixMillis;

/// The order a modification changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The original's idempotency key.
    pub key: IdempotencyKey,
    /// The original's client order id, derived from the key.
    pub client_order_id: ClientOrderId,
}

impl Target {
    /// The order `source` accepted for `fund` with `key`.
    pub fn of(source: &str, fund: &FundId, key: IdempotencyKey) -> Self {
        let client_order_id = ClientOrderId::derive_for(IntentKind::Submit, source, fund, &key);
        Self {
            key,
            client_order_id,
        }
    }
}

/// Cancel one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancel {
    /// The order.
    pub target: Target,
    /// Its canonical symbol: the stream it travels in.
    pub symbol: CanonicalSymbol,
}

/// Change one order's terms: at least one of them (built by [`Replace::new`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replace {
    /// The order.
    pub target: Target,
    /// Its canonical symbol: the stream it travels in.
    pub symbol: CanonicalSymbol,
    /// The new total quantity (as in a FIX cancel/replace, not the remainder).
    pub quantity: Option<Quantity>,
    /// The new limit price.
    pub limit_price: Option<Price>,
    /// The new stop price.
    pub stop_price: Option<Price>,
    /// The new time in force.
    pub tif: Option<TimeInForce>,
}

impl Replace {
    /// A replace of `target`, refused when it changes nothing.
    pub fn new(
        target: Target,
        symbol: CanonicalSymbol,
        quantity: Option<Quantity>,
        limit_price: Option<Price>,
        stop_price: Option<Price>,
        tif: Option<TimeInForce>,
    ) -> Result<Self, Rejection> {
        if quantity.is_none() && limit_price.is_none() && stop_price.is_none() && tif.is_none() {
            return Err(Rejection::invalid(
                "action",
                "a replace changes at least one of quantity, limit_price, stop_price, tif",
            ));
        }
        Ok(Self {
            target,
            symbol,
            quantity,
            limit_price,
            stop_price,
            tif,
        })
    }
}

/// Cancel every working order of the fund and strategy, or only those of one symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelAll {
    /// Only this symbol; every symbol when absent.
    pub symbol: Option<CanonicalSymbol>,
}

/// A modification: who asks, under which key, for which fund and strategy, and the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modification<C> {
    /// This modification's own id (the OMS's `request_id`): its kind is in the derivation.
    pub request_id: ClientOrderId,
    /// The adapter that received it.
    pub source: Cow<'static, str>,
    /// The fund.
    pub fund_id: FundId,
    /// The strategy (a TradingView strategy modifies only its own orders, SPEC §13).
    pub strategy_id: StrategyId,
    /// The sender's key for this modification.
    pub idempotency_key: IdempotencyKey,
    /// Who asked.
    pub actor: Actor,
    /// When the bridge received it.
    pub received_at: UnixMillis,
    /// What it changes.
    pub change: C,
}

/// The kind of a modification's change.
pub trait Change {
    /// Its intent kind, part of its id.
    const KIND: IntentKind;
}

impl Change for Cancel {
    const KIND: IntentKind = IntentKind::Cancel;
}

impl Change for Replace {
    const KIND: IntentKind = IntentKind::Replace;
}

impl Change for CancelAll {
    const KIND: IntentKind = IntentKind::CancelAll;
}

impl<C: Change> Modification<C> {
    /// A modification from `source` for `fund` and `strategy`, keyed `key`, its id derived.
    pub fn new(
        source: Cow<'static, str>,
        fund_id: FundId,
        strategy_id: StrategyId,
        idempotency_key: IdempotencyKey,
        actor: Actor,
        received_at: UnixMillis,
        change: C,
    ) -> Self {
        let request_id = ClientOrderId::derive_for(C::KIND, &source, &fund_id, &idempotency_key);
        Self {
            request_id,
            source,
            fund_id,
            strategy_id,
            idempotency_key,
            actor,
            received_at,
            change,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id<T>(parse: fn(&str) -> Result<T, crate::ids::TextError>, s: &str) -> T {
        parse(s).unwrap()
    }

    #[test]
    fn a_cancel_names_its_target_as_the_original_was_named_and_has_an_id_of_its_own() {
        let fund = id(FundId::parse, "desk");
        let key = id(IdempotencyKey::parse, "x");
        let target = Target::of("tradingview", &fund, key.clone());
        assert_eq!(
            target.client_order_id,
            ClientOrderId::derive("tradingview", &fund, &key),
            "no lookup: the original's id"
        );
        let cancel = Modification::new(
            "tradingview".into(),
            fund.clone(),
            id(StrategyId::parse, "s"),
            key.clone(),
            id(Actor::parse, "tradingview"),
            UnixMillis(0),
            Cancel {
                target,
                symbol: id(CanonicalSymbol::parse, "BTC-USD"),
            },
        );
        // Keyed `x` like the order it cancels, and still another id.
        assert_ne!(cancel.request_id, cancel.change.target.client_order_id);
        assert_eq!(
            cancel.request_id,
            ClientOrderId::derive_for(IntentKind::Cancel, "tradingview", &fund, &key)
        );
        let all: Modification<CancelAll> = Modification::new(
            "tradingview".into(),
            fund,
            id(StrategyId::parse, "s"),
            key,
            id(Actor::parse, "tradingview"),
            UnixMillis(0),
            CancelAll { symbol: None },
        );
        assert_ne!(all.request_id, cancel.request_id, "the kind is in the id");
    }

    #[test]
    fn a_replace_changes_something() {
        let target = Target::of(
            "slack",
            &id(FundId::parse, "desk"),
            id(IdempotencyKey::parse, "k"),
        );
        let symbol = id(CanonicalSymbol::parse, "AAPL");
        assert!(Replace::new(target.clone(), symbol.clone(), None, None, None, None).is_err());
        let tif = Replace::new(target, symbol, None, None, None, Some(TimeInForce::Gtc)).unwrap();
        assert_eq!(tif.tif, Some(TimeInForce::Gtc));
    }
}
