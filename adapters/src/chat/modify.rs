//! A cancel, replace or cancel-all as a chat command spells it (SPEC §13).
//!
//! The target is the key the order's reply printed (a chat order's key is its platform's
//! request id), or, with `source=tradingview`, the `idempotency_key` of the alert that placed
//! it: the target's client order id derives from its source, fund and key, as the original's
//! did. A trader names only that key: the target's strategy and symbol come from the bridge's
//! record of it. An order the bridge no longer remembers can still be cancelled by naming its
//! `symbol` (and, for an alert's order, its `strategy`). A cancel-all clears one strategy of
//! the fund (`manual`, a chat order's, unless another is named; the member's grant must cover
//! it), optionally of one symbol.

use mts1b_inbound_core::rejection::bounded;
use mts1b_inbound_core::{
    Actor, Cancel, CancelAll, Change, FundId, IdempotencyKey, Intent, IntentKind, KnownOrders,
    Modification, Quantity, Rejection, Replace, StrategyId, SymbolTable, Target, TimeInForce,
};

use super::{DEFAULT_STRATEGY, Origin, optional_choice, price, required};

/// The sources whose orders a chat modification may name (`source=`).
pub const SOURCES: [&str; 3] = [
    crate::tradingview::NAME,
    crate::slack::NAME,
    crate::discord::NAME,
];

/// A modification as a chat command spells it, every part still text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModifyRequest {
    /// Cancel, replace or cancel-all.
    pub kind: IntentKind,
    /// The target's key (cancel, replace).
    pub target_key: Option<String>,
    /// The source that placed the target (this chat platform when absent).
    pub source: Option<String>,
    /// The fund.
    pub fund: Option<String>,
    /// The target's strategy, or the strategy a cancel-all clears.
    pub strategy: Option<String>,
    /// The target's symbol, or the one symbol a cancel-all clears.
    pub symbol: Option<String>,
    /// A replace's new total quantity.
    pub quantity: Option<String>,
    /// A replace's new limit price.
    pub limit: Option<String>,
    /// A replace's new stop price.
    pub stop: Option<String>,
    /// A replace's new time in force.
    pub tif: Option<String>,
}

impl ModifyRequest {
    /// An empty request of `kind` (a modification's kind: never `Submit`).
    pub fn new(kind: IntentKind) -> Self {
        Self {
            kind,
            target_key: None,
            source: None,
            fund: None,
            strategy: None,
            symbol: None,
            quantity: None,
            limit: None,
            stop: None,
            tif: None,
        }
    }

    /// The options a `kind` command takes by name, as Slack's grammar spells them.
    pub fn options(kind: IntentKind) -> &'static [&'static str] {
        match kind {
            IntentKind::Cancel => &["fund", "source", "strategy", "symbol"],
            IntentKind::Replace => &[
                "fund", "qty", "limit", "stop", "tif", "source", "strategy", "symbol",
            ],
            _ => &["fund", "strategy", "symbol"],
        }
    }

    /// The slot of the option named `name` (`key` is the target's; `qty` and `quantity` are
    /// one), or `None` for one this kind does not take.
    pub fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        let targeted = matches!(self.kind, IntentKind::Cancel | IntentKind::Replace);
        let replace = self.kind == IntentKind::Replace;
        Some(match name {
            "fund" => &mut self.fund,
            "strategy" => &mut self.strategy,
            "symbol" => &mut self.symbol,
            "key" if targeted => &mut self.target_key,
            "source" if targeted => &mut self.source,
            "qty" | "quantity" if replace => &mut self.quantity,
            "limit" if replace => &mut self.limit,
            "stop" if replace => &mut self.stop,
            "tif" if replace => &mut self.tif,
            _ => return None,
        })
    }

    /// Turns the request into a modification, or says which part is wrong and why.
    pub fn into_intent(
        self,
        origin: Origin<'_>,
        symbols: &SymbolTable,
        orders: &dyn KnownOrders,
    ) -> Result<Intent, Rejection> {
        let fund_id = FundId::parse(required("fund", &self.fund)?)
            .map_err(|e| Rejection::invalid("fund", e.to_string()))?;
        // Refused here, before anything is looked up: what the bridge holds for a fund the
        // member may not trade is never told, not even whether a key is known there.
        if !origin.grants.permit_fund(origin.member, &fund_id) {
            return Err(Rejection::NotPermitted);
        }
        let named_symbol = self
            .symbol
            .as_deref()
            .map(|s| origin.map_symbol(symbols, s))
            .transpose()?;
        let named_strategy = self
            .strategy
            .as_deref()
            .map(|s| {
                StrategyId::parse(s).map_err(|e| Rejection::invalid("strategy", e.to_string()))
            })
            .transpose()?;
        let actor = origin.actor()?;
        let modification = |strategy_id| Header {
            origin: &origin,
            fund_id: fund_id.clone(),
            strategy_id,
            actor: actor.clone(),
        };
        if !matches!(self.kind, IntentKind::Cancel | IntentKind::Replace) {
            let strategy = named_strategy.unwrap_or_else(manual);
            let symbol = named_symbol.map(|m| m.symbol);
            return Ok(Intent::CancelAll(
                modification(strategy).with(CancelAll { symbol }),
            ));
        }
        let source = self.source(origin.adapter)?;
        let key = IdempotencyKey::parse(required("key", &self.target_key)?)
            .map_err(|e| Rejection::invalid("key", e.to_string()))?;
        let target = Target::of(source, &fund_id, key);
        let known = orders.known_order(&target.client_order_id);
        let unknown = |field: &str, name: &str| {
            Rejection::invalid(
                field,
                format!(
                    "the bridge has no record of order {} from {source} on this fund: check the key (and the source, for an alert's order), or name its {name} to reach an order it no longer remembers",
                    bounded(target.key.as_str())
                ),
            )
        };
        let strategy = match (named_strategy, &known) {
            (Some(named), _) => named,
            (None, Some(known)) => known.strategy_id.clone(),
            // A chat order's strategy is `manual` unless its command named another.
            (None, None) if source == origin.adapter => manual(),
            (None, None) => return Err(unknown("strategy", "strategy")),
        };
        let (symbol, class) = match (named_symbol, known) {
            (Some(named), _) => (named.symbol, named.class),
            (None, Some(known)) => (known.symbol, known.instrument_class),
            (None, None) => return Err(unknown("symbol", "symbol")),
        };
        if self.kind == IntentKind::Cancel {
            return Ok(Intent::Cancel(
                modification(strategy).with(Cancel { target, symbol }),
            ));
        }
        if [&self.quantity, &self.limit, &self.stop, &self.tif]
            .iter()
            .all(|v| v.is_none())
        {
            return Err(Rejection::invalid(
                "replace",
                "name at least one change: qty, limit, stop or tif",
            ));
        }
        let quantity = self
            .quantity
            .as_deref()
            .map(|q| Quantity::parse(q).map_err(|e| Rejection::invalid("quantity", e.to_string())))
            .transpose()?;
        let tif = optional_choice(
            "tif",
            &self.tif,
            TimeInForce::parse,
            TimeInForce::ALL,
            TimeInForce::as_str,
        )?;
        let replace = Replace::new(
            target,
            (symbol, class),
            quantity,
            price("limit", &self.limit)?,
            price("stop", &self.stop)?,
            tif,
        )?;
        Ok(Intent::Replace(modification(strategy).with(replace)))
    }

    /// The source that placed the target: one of [`SOURCES`], `this` platform when unnamed.
    fn source(&self, this: &'static str) -> Result<&'static str, Rejection> {
        let Some(named) = self.source.as_deref() else {
            return Ok(this);
        };
        SOURCES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(named))
            .copied()
            .ok_or_else(|| {
                Rejection::invalid(
                    "source",
                    format!("{:?} is not one of {}", bounded(named), SOURCES.join(", ")),
                )
            })
    }
}

/// Who asks, for which fund and strategy: every modification's common part.
struct Header<'a, 'o> {
    origin: &'a Origin<'o>,
    fund_id: FundId,
    strategy_id: StrategyId,
    actor: Actor,
}

impl Header<'_, '_> {
    fn with<C: Change>(self, change: C) -> Modification<C> {
        Modification::new(
            self.origin.adapter.into(),
            self.fund_id,
            self.strategy_id,
            self.origin.key.clone(),
            self.actor,
            self.origin.received_at,
            change,
        )
    }
}

fn manual() -> StrategyId {
    StrategyId::parse(DEFAULT_STRATEGY).expect("a valid strategy id")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use mts1b_inbound_core::{
        CanonicalSymbol, ClientOrderId, FundId, Grant, Grantee, Grants, InstrumentClass,
        KnownOrder, NoKnownOrders, PlatformId,
    };

    use super::*;
    use crate::chat::testing::{member, origin};
    use crate::chat::{Request, describe_intent};

    /// The bridge's records: an order `o-1` the trader placed in Slack (strategy `scalp`), and
    /// an alert's order `tv-1` (strategy `trend`), both of fund `f`.
    struct Records(HashMap<ClientOrderId, KnownOrder>);

    impl KnownOrders for Records {
        fn known_order(&self, id: &ClientOrderId) -> Option<KnownOrder> {
            self.0.get(id).cloned()
        }
    }

    fn fund() -> FundId {
        FundId::parse("f").unwrap()
    }

    fn known(source: &str, key: &str, strategy: &str, symbol: &str) -> (ClientOrderId, KnownOrder) {
        let key = IdempotencyKey::parse(key).unwrap();
        (
            Target::of(source, &fund(), key).client_order_id,
            KnownOrder {
                strategy_id: StrategyId::parse(strategy).unwrap(),
                symbol: CanonicalSymbol::parse(symbol).unwrap(),
                instrument_class: InstrumentClass::Spot,
            },
        )
    }

    fn records() -> Records {
        Records(HashMap::from([
            known("slack", "o-1", "scalp", "BTC-USD"),
            known("tradingview", "tv-1", "trend", "ETH-USD"),
        ]))
    }

    fn grants(funds: &[&str]) -> Grants {
        Grants::new(vec![Grant {
            name: "desk".into(),
            workspace: PlatformId::parse("T1").unwrap(),
            grantee: Grantee::User(PlatformId::parse("U1").unwrap()),
            funds: funds.iter().map(|f| FundId::parse(f).unwrap()).collect(),
            strategies: Default::default(),
        }])
    }

    fn request(kind: IntentKind, options: &[(&str, &str)]) -> ModifyRequest {
        let mut request = ModifyRequest::new(kind);
        for (name, value) in options {
            *request.slot(name).expect("an option of this kind") = Some((*value).to_owned());
        }
        request
    }

    fn run(request: ModifyRequest, orders: &dyn KnownOrders) -> Result<Intent, Rejection> {
        let key = IdempotencyKey::parse("trigger-9").unwrap();
        let (member, grants) = (member(), grants(&["f"]));
        Request::Modify(request).into_intent(
            origin(&member, &grants, &key),
            &SymbolTable::default(),
            orders,
        )
    }

    #[test]
    fn a_key_alone_reaches_an_order_the_bridge_remembers() {
        let cancel = run(
            request(IntentKind::Cancel, &[("key", "o-1"), ("fund", "f")]),
            &records(),
        )
        .unwrap();
        assert_eq!(
            describe_intent(&cancel),
            "cancel order o-1 (BTC-USD, scalp) on f"
        );
        let Intent::Cancel(m) = &cancel else {
            panic!("a cancel")
        };
        assert_eq!(m.source, "slack");
        assert_eq!(
            m.change.target.client_order_id,
            ClientOrderId::derive("slack", &fund(), &IdempotencyKey::parse("o-1").unwrap())
        );
        // Its own id is a cancel's, keyed by the command's trigger id.
        assert_eq!(
            m.request_id,
            ClientOrderId::derive_for(
                IntentKind::Cancel,
                "slack",
                &fund(),
                &IdempotencyKey::parse("trigger-9").unwrap()
            )
        );
        // An alert's order, by its idempotency_key and source=tradingview.
        let replace = run(
            request(
                IntentKind::Replace,
                &[
                    ("key", "tv-1"),
                    ("fund", "f"),
                    ("source", "TradingView"),
                    ("qty", "2"),
                    ("limit", "3100.5"),
                ],
            ),
            &records(),
        )
        .unwrap();
        assert_eq!(
            describe_intent(&replace),
            "replace order tv-1 (ETH-USD, trend) with quantity 2, limit_price 3100.5 on f"
        );
    }

    #[test]
    fn an_order_the_bridge_forgot_is_reached_by_naming_its_symbol() {
        let forgotten = request(IntentKind::Cancel, &[("key", "o-2"), ("fund", "f")]);
        assert!(matches!(
            run(forgotten.clone(), &NoKnownOrders),
            Err(Rejection::InvalidPayload { field, detail })
                if field == "symbol" && detail.contains("no record of order o-2 from slack")
        ));
        let mut named = forgotten;
        named.symbol = Some("BINANCE:BTCUSDT".into());
        let cancel = run(named, &NoKnownOrders).unwrap();
        assert_eq!(
            describe_intent(&cancel),
            "cancel order o-2 (BTC-USD, manual) on f"
        );
        // An alert's order has its alert's strategy: it must be named too.
        let alert = request(
            IntentKind::Cancel,
            &[
                ("key", "tv-2"),
                ("fund", "f"),
                ("source", "tradingview"),
                ("symbol", "BINANCE:BTCUSDT"),
            ],
        );
        assert!(matches!(
            run(alert, &NoKnownOrders),
            Err(Rejection::InvalidPayload { field, .. }) if field == "strategy"
        ));
    }

    #[test]
    fn cancel_all_clears_one_strategy() {
        let all = run(request(IntentKind::CancelAll, &[("fund", "f")]), &records()).unwrap();
        assert_eq!(describe_intent(&all), "cancel every manual order on f");
        let one = run(
            request(
                IntentKind::CancelAll,
                &[
                    ("fund", "f"),
                    ("symbol", "BYBIT:BTCUSDT.P"),
                    ("strategy", "grid"),
                ],
            ),
            &records(),
        )
        .unwrap();
        assert_eq!(
            describe_intent(&one),
            "cancel every grid order of BTC-USDT-PERP on f"
        );
    }

    #[test]
    fn refuses_precisely() {
        let refused = |r: ModifyRequest| run(r, &records()).unwrap_err();
        assert_eq!(
            refused(request(
                IntentKind::Replace,
                &[("key", "o-1"), ("fund", "f")]
            )),
            Rejection::invalid(
                "replace",
                "name at least one change: qty, limit, stop or tif"
            )
        );
        assert_eq!(
            refused(request(IntentKind::Cancel, &[("fund", "f")])),
            Rejection::invalid("key", "required")
        );
        assert_eq!(
            refused(request(IntentKind::Cancel, &[("key", "o-1")])),
            Rejection::invalid("fund", "required")
        );
        assert!(matches!(
            refused(request(IntentKind::Cancel, &[("key", "o-1"), ("fund", "f"), ("source", "fix")])),
            Rejection::InvalidPayload { field, .. } if field == "source"
        ));
        assert!(matches!(
            refused(request(IntentKind::Replace, &[("key", "o-1"), ("fund", "f"), ("qty", "-1")])),
            Rejection::InvalidPayload { field, .. } if field == "quantity"
        ));
        // A fund the member may not trade: refused before anything is looked up there, with
        // the same answer whether the key is known or not.
        let other = |key: &str| {
            let key = IdempotencyKey::parse(key).unwrap();
            let (member, grants) = (member(), grants(&["g"]));
            Request::Modify(request(
                IntentKind::Cancel,
                &[("key", "o-1"), ("fund", "f")],
            ))
            .into_intent(
                origin(&member, &grants, &key),
                &SymbolTable::default(),
                &records(),
            )
        };
        assert_eq!(other("t-1"), Err(Rejection::NotPermitted));
        // Options a kind does not take have no slot.
        assert!(
            ModifyRequest::new(IntentKind::Cancel)
                .slot("limit")
                .is_none()
        );
        assert!(
            ModifyRequest::new(IntentKind::CancelAll)
                .slot("key")
                .is_none()
        );
    }
}
