//! The canonical order intent: what an alert asks the OMS to do, in validated types only.

use serde::{Serialize, Serializer};

use crate::client_order_id::ClientOrderId;
use crate::decimal::{Price, Quantity};
use crate::ids::{Actor, CanonicalSymbol, FundId, IdempotencyKey, StrategyId, Thesis, VenueHint};
use crate::time::UnixMillis;

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

/// The order type names of the schema, without their prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// Execute at the market.
    Market,
    /// Execute at the limit price or better.
    Limit,
    /// Become a market order when the stop price trades.
    Stop,
    /// Become a limit order when the stop price trades.
    StopLimit,
}

/// How long an order stays working.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Until the end of the trading day (the default).
    #[default]
    Day,
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

macro_rules! names {
    ($ty:ty { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value, in schema order.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),*];

            /// Returns the schema name (`buy`, `stop_limit`, `gtc`).
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),* }
            }

            /// Reads a schema name in any letter case.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(text))
            }
        }
    };
}

names!(Side { Buy = "buy", Sell = "sell" });
names!(OrderType { Market = "market", Limit = "limit", Stop = "stop", StopLimit = "stop_limit" });
names!(TimeInForce { Day = "day", Gtc = "gtc", Ioc = "ioc", Fok = "fok" });

/// An order type together with exactly the prices it needs: a limit order without a limit
/// price, or a market order with one, cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pricing {
    /// A market order.
    Market,
    /// A limit order.
    Limit {
        /// The limit price.
        limit: Price,
    },
    /// A stop (market) order.
    Stop {
        /// The stop (trigger) price.
        stop: Price,
    },
    /// A stop-limit order.
    StopLimit {
        /// The stop (trigger) price.
        stop: Price,
        /// The limit price once triggered.
        limit: Price,
    },
}

impl Pricing {
    /// Returns the order type name.
    pub fn order_type(self) -> OrderType {
        match self {
            Pricing::Market => OrderType::Market,
            Pricing::Limit { .. } => OrderType::Limit,
            Pricing::Stop { .. } => OrderType::Stop,
            Pricing::StopLimit { .. } => OrderType::StopLimit,
        }
    }

    /// Returns the limit price, if the type has one.
    pub fn limit_price(self) -> Option<Price> {
        match self {
            Pricing::Limit { limit } | Pricing::StopLimit { limit, .. } => Some(limit),
            _ => None,
        }
    }

    /// Returns the stop price, if the type has one.
    pub fn stop_price(self) -> Option<Price> {
        match self {
            Pricing::Stop { stop } | Pricing::StopLimit { stop, .. } => Some(stop),
            _ => None,
        }
    }
}

/// One order to submit now, fully validated and mapped. Serialized flat, in the OMS's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderIntent {
    /// The deterministic id the OMS dedupes on.
    pub client_order_id: ClientOrderId,
    /// The adapter that received it (`tradingview`).
    pub source: &'static str,
    /// The fund it trades for.
    pub fund_id: FundId,
    /// The strategy that fired it.
    pub strategy_id: StrategyId,
    /// The canonical instrument.
    pub symbol: CanonicalSymbol,
    /// Where the OMS should route it, when that matters.
    pub venue_hint: Option<VenueHint>,
    /// Buy or sell.
    pub side: Side,
    /// How much.
    pub quantity: Quantity,
    /// The order type and its prices.
    pub pricing: Pricing,
    /// How long it works.
    pub tif: TimeInForce,
    /// Who placed it.
    pub actor: Actor,
    /// The sender's key for this alert.
    pub idempotency_key: IdempotencyKey,
    /// Why, for the audit trail.
    pub thesis: Option<Thesis>,
    /// When the sender says the alert fired, if it said.
    pub alert_time: Option<UnixMillis>,
    /// When the bridge received it.
    pub received_at: UnixMillis,
}

impl Serialize for OrderIntent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut o = s.serialize_struct("OrderIntent", 17)?;
        o.serialize_field("client_order_id", &self.client_order_id)?;
        o.serialize_field("source", self.source)?;
        o.serialize_field("fund_id", &self.fund_id)?;
        o.serialize_field("strategy_id", &self.strategy_id)?;
        o.serialize_field("symbol", &self.symbol)?;
        o.serialize_field("venue_hint", &self.venue_hint)?;
        o.serialize_field("side", &self.side)?;
        o.serialize_field("quantity", &self.quantity)?;
        o.serialize_field("order_type", &self.pricing.order_type())?;
        o.serialize_field("limit_price", &self.pricing.limit_price())?;
        o.serialize_field("stop_price", &self.pricing.stop_price())?;
        o.serialize_field("tif", &self.tif)?;
        o.serialize_field("actor", &self.actor)?;
        o.serialize_field("idempotency_key", &self.idempotency_key)?;
        o.serialize_field("thesis", &self.thesis)?;
        o.serialize_field("alert_time", &self.alert_time.map(UnixMillis::to_rfc3339))?;
        o.serialize_field("received_at", &self.received_at.to_rfc3339())?;
        o.end()
    }
}

/// What an inbound message asks for. Only submission exists today; cancel and modify will be
/// further variants. Deliberately exhaustive, so adding one breaks every match that must handle it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// Submit a new order now.
    Submit(OrderIntent),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_in_any_case() {
        assert_eq!(Side::parse("BUY"), Some(Side::Buy));
        assert_eq!(Side::parse("Sell"), Some(Side::Sell));
        assert_eq!(Side::parse("long"), None);
        assert_eq!(OrderType::parse("Stop_Limit"), Some(OrderType::StopLimit));
        assert_eq!(OrderType::parse("stop-limit"), None);
        assert_eq!(TimeInForce::parse("GTC"), Some(TimeInForce::Gtc));
        assert_eq!(TimeInForce::default(), TimeInForce::Day);
    }

    #[test]
    fn pricing_carries_exactly_its_prices() {
        let p = Price::parse("10").unwrap();
        let q = Price::parse("9").unwrap();
        assert_eq!(Pricing::Market.limit_price(), None);
        assert_eq!(Pricing::Limit { limit: p }.limit_price(), Some(p));
        assert_eq!(Pricing::Stop { stop: p }.limit_price(), None);
        let sl = Pricing::StopLimit { stop: p, limit: q };
        assert_eq!((sl.stop_price(), sl.limit_price()), (Some(p), Some(q)));
        assert_eq!(sl.order_type(), OrderType::StopLimit);
    }
}
