//! A fund's envelope (SPEC §5): what a fund allows, checked on the canonical order.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::decimal::Quantity;
use crate::ids::{CanonicalSymbol, StrategyId};
use crate::instrument::InstrumentClass;
use crate::order::{OrderIntent, OrderType};
use crate::rejection::Rejection;
use crate::symbol_pattern::SymbolPattern;

/// What one fund allows. Empty allow-lists mean "any".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// Allowed canonical symbols, or futures roots (`ES-*`).
    pub symbols: BTreeSet<SymbolPattern>,
    /// Allowed strategies.
    pub strategies: BTreeSet<StrategyId>,
    /// Allowed order types.
    pub order_types: BTreeSet<OrderType>,
    /// The largest quantity of one order, unless a class or symbol cap below applies.
    pub max_quantity: Quantity,
    /// Caps per instrument class (1 ES contract, 1 BTC and 1 EUR are not comparable).
    pub max_quantity_by_class: BTreeMap<InstrumentClass, Quantity>,
    /// Caps per canonical symbol or futures root (`ES-*`); a symbol's own cap wins over its
    /// root's, and both over the class caps.
    pub max_quantity_by_symbol: BTreeMap<SymbolPattern, Quantity>,
    /// The oldest an alert may be when it arrives, in milliseconds; when set, alerts must carry
    /// `alert_time`.
    pub max_alert_age_ms: Option<u64>,
}

impl Envelope {
    /// An envelope that allows any symbol, strategy and order type up to `max_quantity`.
    pub fn allow_any(max_quantity: Quantity) -> Self {
        Self {
            symbols: BTreeSet::new(),
            strategies: BTreeSet::new(),
            order_types: BTreeSet::new(),
            max_quantity,
            max_quantity_by_class: BTreeMap::new(),
            max_quantity_by_symbol: BTreeMap::new(),
            max_alert_age_ms: None,
        }
    }

    /// The cap that applies to `order`, and what it is called in a denial: the symbol's, else
    /// its class's, else the fund's.
    pub fn cap_for(&self, order: &OrderIntent) -> (Quantity, String) {
        self.cap_of(&order.symbol, order.instrument_class)
    }

    /// The cap that applies to orders for `symbol` of `class` (see [`Envelope::cap_for`]).
    pub fn cap_of(&self, symbol: &CanonicalSymbol, class: InstrumentClass) -> (Quantity, String) {
        let exact = SymbolPattern::Exact(symbol.clone());
        let root = SymbolPattern::root_of(symbol, class);
        for pattern in std::iter::once(exact).chain(root) {
            if let Some(&cap) = self.max_quantity_by_symbol.get(&pattern) {
                return (cap, format!("max_quantity for {pattern}"));
            }
        }
        if let Some(&cap) = self.max_quantity_by_class.get(&class) {
            let class = class.as_str();
            return (cap, format!("max_quantity for {class}"));
        }
        (self.max_quantity, "max_quantity".into())
    }

    /// Admits the new total `quantity` of a replace for `symbol` of `class` (SPEC §13): a
    /// replace is held to the same cap as a new order, or it would be a way around it.
    pub fn admit_quantity(
        &self,
        symbol: &CanonicalSymbol,
        class: InstrumentClass,
        quantity: Quantity,
    ) -> Result<(), Rejection> {
        let (cap, name) = self.cap_of(symbol, class);
        if quantity > cap {
            return Err(Rejection::denied(format!(
                "quantity {quantity} is over this fund's {name} {cap}"
            )));
        }
        Ok(())
    }

    /// Admits `order` or says which rule denies it. Checks run in a fixed order: alert age,
    /// strategy, symbol, order type, quantity.
    pub fn admit(&self, order: &OrderIntent) -> Result<(), Rejection> {
        if let Some(max_age) = self.max_alert_age_ms {
            let alert_time = order.alert_time.ok_or_else(|| {
                Rejection::invalid("alert_time", "required: this fund sets max_alert_age")
            })?;
            let age_ms = order.received_at.millis_since(alert_time);
            let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
            if age_ms > max_age {
                return Err(Rejection::StaleAlert { age_ms });
            }
            // A sender clock ahead of ours by more than the allowed age is as untrustworthy as a
            // stale alert; within it, ordinary clock skew is tolerated.
            if -age_ms > max_age {
                return Err(Rejection::invalid(
                    "alert_time",
                    format!("{} ms in the future", -age_ms),
                ));
            }
        }
        if !self.strategies.is_empty() && !self.strategies.contains(&order.strategy_id) {
            return Err(Rejection::denied(format!(
                "strategy {} is not allowed for this fund",
                order.strategy_id
            )));
        }
        if !self.symbols.is_empty()
            && !self
                .symbols
                .iter()
                .any(|p| p.matches(&order.symbol, order.instrument_class))
        {
            return Err(Rejection::denied(format!(
                "symbol {} is not allowed for this fund",
                order.symbol
            )));
        }
        let order_type = order.pricing.order_type();
        if !self.order_types.is_empty() && !self.order_types.contains(&order_type) {
            return Err(Rejection::denied(format!(
                "order type {} is not allowed for this fund",
                order_type.as_str()
            )));
        }
        self.admit_quantity(&order.symbol, order.instrument_class, order.quantity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CanonicalSymbol;
    use crate::time::UnixMillis;

    const NOW: UnixMillis = UnixMillis(1_000_000);

    fn order(quantity: &str, alert_time: Option<i64>) -> OrderIntent {
        OrderIntent {
            quantity: Quantity::parse(quantity).unwrap(),
            alert_time: alert_time.map(|ms| UnixMillis(NOW.0 - ms)),
            ..crate::testing::order("f", "k", NOW)
        }
    }

    fn aged(max_age_ms: u64) -> Envelope {
        Envelope {
            max_alert_age_ms: Some(max_age_ms),
            ..Envelope::allow_any(Quantity::parse("1").unwrap())
        }
    }

    #[test]
    fn quantity_up_to_the_max_exactly() {
        let e = Envelope::allow_any(Quantity::parse("0.5").unwrap());
        assert_eq!(e.admit(&order("0.5", None)), Ok(()));
        assert!(matches!(
            e.admit(&order("0.5000000001", None)),
            Err(Rejection::EnvelopeDenied { .. })
        ));
    }

    #[test]
    fn symbol_caps_win_over_class_caps_which_win_over_the_fund_cap() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        let mut e = Envelope::allow_any(q("10"));
        let btc = order("3", None);
        assert_eq!(e.admit(&btc), Ok(()));
        e.max_quantity_by_class
            .insert(InstrumentClass::Spot, q("2"));
        assert_eq!(
            e.admit(&btc),
            Err(Rejection::denied(
                "quantity 3 is over this fund's max_quantity for spot 2"
            ))
        );
        e.max_quantity_by_symbol
            .insert(SymbolPattern::parse("BTC-USD").unwrap(), q("3"));
        assert_eq!(e.admit(&btc), Ok(()));
        let future = OrderIntent {
            symbol: CanonicalSymbol::parse("ES-202606").unwrap(),
            instrument_class: InstrumentClass::Future,
            ..order("11", None)
        };
        assert_eq!(
            e.admit(&future),
            Err(Rejection::denied(
                "quantity 11 is over this fund's max_quantity 10"
            ))
        );
        e.max_quantity_by_symbol
            .insert(SymbolPattern::parse("ES-*").unwrap(), q("12"));
        assert_eq!(e.admit(&future), Ok(()));
        e.max_quantity_by_symbol
            .insert(SymbolPattern::parse("ES-202606").unwrap(), q("1"));
        assert_eq!(
            e.admit(&future),
            Err(Rejection::denied(
                "quantity 11 is over this fund's max_quantity for ES-202606 1"
            ))
        );
    }

    #[test]
    fn age_limit_is_inclusive_and_needs_alert_time() {
        let e = aged(30_000);
        assert_eq!(e.admit(&order("1", Some(30_000))), Ok(()));
        assert_eq!(
            e.admit(&order("1", Some(30_001))),
            Err(Rejection::StaleAlert { age_ms: 30_001 })
        );
        assert!(matches!(
            e.admit(&order("1", None)),
            Err(Rejection::InvalidPayload { field, .. }) if field == "alert_time"
        ));
        // Without max_alert_age, age is not judged at all.
        let any = Envelope::allow_any(Quantity::parse("1").unwrap());
        assert_eq!(any.admit(&order("1", Some(86_400_000))), Ok(()));
    }

    #[test]
    fn clock_skew_is_tolerated_up_to_the_max_age() {
        let e = aged(30_000);
        assert_eq!(e.admit(&order("1", Some(-30_000))), Ok(()));
        assert!(matches!(
            e.admit(&order("1", Some(-30_001))),
            Err(Rejection::InvalidPayload { field, .. }) if field == "alert_time"
        ));
    }

    #[test]
    fn allow_lists_deny_what_they_do_not_name() {
        let mut e = Envelope::allow_any(Quantity::parse("1").unwrap());
        e.symbols.insert(SymbolPattern::parse("ETH-USD").unwrap());
        let denied = e.admit(&order("1", None));
        assert_eq!(
            denied,
            Err(Rejection::denied(
                "symbol BTC-USD is not allowed for this fund"
            ))
        );
        e.symbols.insert(SymbolPattern::parse("BTC-USD").unwrap());
        e.order_types.insert(OrderType::Limit);
        assert_eq!(
            e.admit(&order("1", None)),
            Err(Rejection::denied(
                "order type market is not allowed for this fund"
            ))
        );
        e.order_types.insert(OrderType::Market);
        e.strategies.insert(StrategyId::parse("other").unwrap());
        assert_eq!(
            e.admit(&order("1", None)),
            Err(Rejection::denied("strategy s is not allowed for this fund"))
        );
    }
}
