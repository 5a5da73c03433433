//! A fund's envelope (SPEC §5): what a fund allows, checked on the canonical order.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::decimal::Quantity;
use crate::ids::{CanonicalSymbol, StrategyId};
use crate::order::{OrderIntent, OrderType};
use crate::rejection::Rejection;

/// What one fund allows. Empty allow-lists mean "any".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// Allowed canonical symbols.
    pub symbols: BTreeSet<CanonicalSymbol>,
    /// Allowed strategies.
    pub strategies: BTreeSet<StrategyId>,
    /// Allowed order types.
    pub order_types: BTreeSet<OrderType>,
    /// The largest quantity of one order.
    pub max_quantity: Quantity,
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
            max_alert_age_ms: None,
        }
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
        if !self.symbols.is_empty() && !self.symbols.contains(&order.symbol) {
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
        if order.quantity > self.max_quantity {
            return Err(Rejection::denied(format!(
                "quantity {} is over this fund's max_quantity {}",
                order.quantity, self.max_quantity
            )));
        }
        Ok(())
    }
}
