//! The canonical order intent: what an alert asks the OMS to do, in validated types only.

use std::borrow::Cow;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client_order_id::ClientOrderId;
use crate::decimal::{Price, Quantity};
use crate::ids::{
    Actor, CanonicalSymbol, FundId, IdempotencyKey, StrategyId, Thesis, TradingViewSymbol,
    VenueHint,
};
use crate::instrument::InstrumentClass;
use crate::modification::{Cancel, CancelAll, Modification, Replace, Target};
use crate::time::{UnixMillis, parse_rfc3339};

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
    /// Pairs an order type with exactly the prices it needs: a required price missing or a
    /// price the type does not take is refused, naming the field as the source calls it
    /// (`limit_price` in an alert, `limit` in a chat command).
    pub fn from_parts(
        order_type: OrderType,
        (limit, limit_field): (Option<Price>, &str),
        (stop, stop_field): (Option<Price>, &str),
    ) -> Result<Self, crate::rejection::Rejection> {
        use crate::rejection::Rejection;
        let name = order_type.as_str();
        let need = |field: &str, price: Option<Price>| {
            price.ok_or_else(|| {
                Rejection::invalid(field, format!("required when order_type is {name}"))
            })
        };
        let forbid = |field: &str, price: Option<Price>| match price {
            Some(_) => Err(Rejection::invalid(
                field,
                format!("not allowed when order_type is {name}"),
            )),
            None => Ok(()),
        };
        Ok(match order_type {
            OrderType::Market => {
                forbid(limit_field, limit)?;
                forbid(stop_field, stop)?;
                Pricing::Market
            }
            OrderType::Limit => {
                let limit = need(limit_field, limit)?;
                forbid(stop_field, stop)?;
                Pricing::Limit { limit }
            }
            OrderType::Stop => {
                forbid(limit_field, limit)?;
                Pricing::Stop {
                    stop: need(stop_field, stop)?,
                }
            }
            OrderType::StopLimit => Pricing::StopLimit {
                limit: need(limit_field, limit)?,
                stop: need(stop_field, stop)?,
            },
        })
    }

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
    pub source: Cow<'static, str>,
    /// The fund it trades for.
    pub fund_id: FundId,
    /// The strategy that fired it.
    pub strategy_id: StrategyId,
    /// The canonical instrument.
    pub symbol: CanonicalSymbol,
    /// What kind of instrument it is.
    pub instrument_class: InstrumentClass,
    /// The symbol as TradingView sent it, so the OMS can route exactly; `None` from sources
    /// that name canonical symbols.
    pub tradingview_symbol: Option<TradingViewSymbol>,
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
    /// The order may only reduce a position (SPEC §13; perpetual and futures exits).
    pub reduce_only: bool,
}

impl Serialize for OrderIntent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut o = s.serialize_struct("OrderIntent", 20)?;
        o.serialize_field("client_order_id", &self.client_order_id)?;
        o.serialize_field("source", &self.source)?;
        o.serialize_field("fund_id", &self.fund_id)?;
        o.serialize_field("strategy_id", &self.strategy_id)?;
        o.serialize_field("symbol", &self.symbol)?;
        o.serialize_field("instrument_class", &self.instrument_class)?;
        o.serialize_field("tradingview_symbol", &self.tradingview_symbol)?;
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
        // Written only when set: absent means false, in records written before it existed too.
        if self.reduce_only {
            o.serialize_field("reduce_only", &true)?;
        } else {
            o.skip_field("reduce_only")?;
        }
        o.end()
    }
}

/// The serialized form, every field as text, re-validated on the way in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatOrder {
    client_order_id: String,
    source: String,
    fund_id: String,
    strategy_id: String,
    symbol: String,
    // Absent from records written before classes were recorded: inferred from the symbol.
    #[serde(default)]
    instrument_class: Option<String>,
    #[serde(default)]
    tradingview_symbol: Option<String>,
    venue_hint: Option<String>,
    side: String,
    quantity: String,
    order_type: String,
    limit_price: Option<String>,
    stop_price: Option<String>,
    tif: String,
    actor: String,
    idempotency_key: String,
    thesis: Option<String>,
    alert_time: Option<String>,
    received_at: String,
    #[serde(default)]
    reduce_only: bool,
}

/// Reads an order back (from the durable store) through the same validating types that made
/// it, and refuses one whose client order id is not the derivation of its own fields.
impl<'de> Deserialize<'de> for OrderIntent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = FlatOrder::deserialize(d)?;
        let bad =
            |field: &str, e: &dyn std::fmt::Display| D::Error::custom(format!("{field}: {e}"));
        let price = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(Price::parse)
                .transpose()
                .map_err(|e| bad(field, &e))
        };
        let (limit, stop) = (
            price("limit_price", &f.limit_price)?,
            price("stop_price", &f.stop_price)?,
        );
        let order_type =
            OrderType::parse(&f.order_type).ok_or_else(|| bad("order_type", &f.order_type))?;
        let pricing = match (order_type, limit, stop) {
            (OrderType::Market, None, None) => Pricing::Market,
            (OrderType::Limit, Some(limit), None) => Pricing::Limit { limit },
            (OrderType::Stop, None, Some(stop)) => Pricing::Stop { stop },
            (OrderType::StopLimit, Some(limit), Some(stop)) => Pricing::StopLimit { stop, limit },
            _ => return Err(bad("order_type", &"prices do not match the order type")),
        };
        let time = |field: &str, v: &str| parse_rfc3339(v).map_err(|e| bad(field, &e));
        let symbol = CanonicalSymbol::parse(&f.symbol).map_err(|e| bad("symbol", &e))?;
        let instrument_class = match f.instrument_class.as_deref() {
            Some(name) => {
                InstrumentClass::parse(name).ok_or_else(|| bad("instrument_class", &name))?
            }
            None => InstrumentClass::infer(&symbol, crate::symbology::is_builtin_fx_currency),
        };
        instrument_class
            .check_shape(&symbol)
            .map_err(|e| bad("symbol", &e))?;
        let order = OrderIntent {
            client_order_id: ClientOrderId::parse(&f.client_order_id)
                .map_err(|e| bad("client_order_id", &e))?,
            fund_id: FundId::parse(&f.fund_id).map_err(|e| bad("fund_id", &e))?,
            strategy_id: StrategyId::parse(&f.strategy_id).map_err(|e| bad("strategy_id", &e))?,
            symbol,
            instrument_class,
            tradingview_symbol: f
                .tradingview_symbol
                .as_deref()
                .map(TradingViewSymbol::parse)
                .transpose()
                .map_err(|e| bad("tradingview_symbol", &e))?,
            venue_hint: f
                .venue_hint
                .as_deref()
                .map(VenueHint::parse)
                .transpose()
                .map_err(|e| bad("venue_hint", &e))?,
            side: Side::parse(&f.side).ok_or_else(|| bad("side", &f.side))?,
            quantity: Quantity::parse(&f.quantity).map_err(|e| bad("quantity", &e))?,
            pricing,
            tif: TimeInForce::parse(&f.tif).ok_or_else(|| bad("tif", &f.tif))?,
            actor: Actor::parse(&f.actor).map_err(|e| bad("actor", &e))?,
            idempotency_key: IdempotencyKey::parse(&f.idempotency_key)
                .map_err(|e| bad("idempotency_key", &e))?,
            thesis: f
                .thesis
                .as_deref()
                .map(Thesis::parse)
                .transpose()
                .map_err(|e| bad("thesis", &e))?,
            alert_time: f
                .alert_time
                .as_deref()
                .map(|t| time("alert_time", t))
                .transpose()?,
            received_at: time("received_at", &f.received_at)?,
            source: Cow::Owned(f.source),
            reduce_only: f.reduce_only,
        };
        if ClientOrderId::derive(&order.source, &order.fund_id, &order.idempotency_key)
            != order.client_order_id
        {
            return Err(bad(
                "client_order_id",
                &"does not derive from source, fund_id and idempotency_key",
            ));
        }
        Ok(order)
    }
}

/// What an inbound message asks for: a new order, or a modification of one (SPEC §13).
/// Deliberately exhaustive, so adding one breaks every match that must handle it.
///
/// Serialized with its kind as `intent` (`submit`, `cancel`, `replace`, `cancel_all`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// Submit a new order now.
    Submit(OrderIntent),
    /// Cancel one order (its serialized form names its kind itself).
    #[serde(untagged)]
    Cancel(Modification<Cancel>),
    /// Change one order's terms.
    #[serde(untagged)]
    Replace(Modification<Replace>),
    /// Cancel every order of a fund and strategy, or of one symbol.
    #[serde(untagged)]
    CancelAll(Modification<CancelAll>),
}

/// The kinds of [`Intent`], without their contents. The kind is part of an intent's
/// deterministic id and of its replay window key ([`ClientOrderId::derive_for`]), so a
/// modification keyed `x` never collides with the order keyed `x` (SPEC §13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentKind {
    /// A new order.
    Submit,
    /// Cancel one order.
    Cancel,
    /// Change one order's terms.
    Replace,
    /// Cancel every order of a fund and strategy (optionally of one symbol).
    CancelAll,
}

names!(IntentKind { Submit = "submit", Cancel = "cancel", Replace = "replace", CancelAll = "cancel_all" });

impl IntentKind {
    /// Returns what the kind adds to the id derivation: nothing for a submit, whose ids predate
    /// kinds and must not change; every later kind its name.
    pub fn id_tag(self) -> Option<&'static str> {
        match self {
            IntentKind::Submit => None,
            kind => Some(kind.as_str()),
        }
    }
}

/// One field every kind of intent has, read from whichever it is.
macro_rules! common {
    ($intent:expr, $field:ident) => {
        match $intent {
            Intent::Submit(o) => &o.$field,
            Intent::Cancel(m) => &m.$field,
            Intent::Replace(m) => &m.$field,
            Intent::CancelAll(m) => &m.$field,
        }
    };
}

impl Intent {
    /// Returns the intent's kind.
    pub fn kind(&self) -> IntentKind {
        match self {
            Intent::Submit(_) => IntentKind::Submit,
            Intent::Cancel(_) => IntentKind::Cancel,
            Intent::Replace(_) => IntentKind::Replace,
            Intent::CancelAll(_) => IntentKind::CancelAll,
        }
    }

    /// Its own deterministic id: an order's client order id, a modification's request id.
    pub fn id(&self) -> ClientOrderId {
        match self {
            Intent::Submit(o) => o.client_order_id,
            Intent::Cancel(m) => m.request_id,
            Intent::Replace(m) => m.request_id,
            Intent::CancelAll(m) => m.request_id,
        }
    }

    /// The adapter that received it.
    pub fn source(&self) -> &str {
        common!(self, source)
    }

    /// The fund it acts for.
    pub fn fund_id(&self) -> &FundId {
        common!(self, fund_id)
    }

    /// The strategy it acts for.
    pub fn strategy_id(&self) -> &StrategyId {
        common!(self, strategy_id)
    }

    /// The sender's key for it.
    pub fn idempotency_key(&self) -> &IdempotencyKey {
        common!(self, idempotency_key)
    }

    /// When the bridge received it.
    pub fn received_at(&self) -> UnixMillis {
        *common!(self, received_at)
    }

    /// The symbol whose stream it travels in; `None` for a cancel-all of every symbol.
    pub fn symbol(&self) -> Option<&CanonicalSymbol> {
        match self {
            Intent::Submit(o) => Some(&o.symbol),
            Intent::Cancel(m) => Some(&m.change.symbol),
            Intent::Replace(m) => Some(&m.change.symbol),
            Intent::CancelAll(m) => m.change.symbol.as_ref(),
        }
    }

    /// The order it modifies, for a cancel or a replace.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Intent::Cancel(m) => Some(&m.change.target),
            Intent::Replace(m) => Some(&m.change.target),
            Intent::Submit(_) | Intent::CancelAll(_) => None,
        }
    }

    /// The order, for a submit.
    pub fn order(&self) -> Option<&OrderIntent> {
        match self {
            Intent::Submit(o) => Some(o),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_reads_back_exactly_and_tampering_is_refused() {
        let fund_id = FundId::parse("f").unwrap();
        let key = IdempotencyKey::parse("k 1").unwrap();
        let order = OrderIntent {
            client_order_id: ClientOrderId::derive("tradingview", &fund_id, &key),
            source: Cow::Borrowed("tradingview"),
            fund_id,
            strategy_id: StrategyId::parse("s:1").unwrap(),
            symbol: CanonicalSymbol::parse("BTC-USD").unwrap(),
            instrument_class: InstrumentClass::Spot,
            tradingview_symbol: Some(TradingViewSymbol::parse("BINANCE:BTCUSDT").unwrap()),
            venue_hint: Some(VenueHint::parse("binance").unwrap()),
            side: Side::Sell,
            quantity: Quantity::parse("0.0000001").unwrap(),
            pricing: Pricing::StopLimit {
                stop: Price::parse("10").unwrap(),
                limit: Price::parse("9.5").unwrap(),
            },
            tif: TimeInForce::Ioc,
            actor: Actor::parse("desk").unwrap(),
            idempotency_key: key,
            thesis: Some(Thesis::parse("why\nnot").unwrap()),
            alert_time: Some(UnixMillis(1_709_296_496_789)),
            received_at: UnixMillis(1_709_296_500_000),
            reduce_only: true,
        };
        let text = serde_json::to_string(&order).unwrap();
        let back: OrderIntent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, order);
        for (from, to) in [
            ("\"k 1\"", "\"k 2\""),
            ("\"0.0000001\"", "\"-1\""),
            ("\"stop_limit\"", "\"limit\""),
            ("\"spot\"", "\"future\""),
        ] {
            let tampered = text.replace(from, to);
            assert!(
                serde_json::from_str::<OrderIntent>(&tampered).is_err(),
                "{to}"
            );
        }
    }

    #[test]
    fn a_record_without_a_class_reads_back_with_the_class_its_symbol_implies() {
        let order = crate::testing::order("f", "k", UnixMillis(1_709_296_500_000));
        let serde_json::Value::Object(mut fields) = serde_json::to_value(&order).unwrap() else {
            unreachable!("an order serializes to an object")
        };
        fields.remove("instrument_class");
        fields.remove("tradingview_symbol");
        for (symbol, class) in [
            ("BTC-USD", InstrumentClass::Spot),
            ("EUR-USD", InstrumentClass::Fx),
            ("AAPL", InstrumentClass::Equity),
        ] {
            fields.insert("symbol".into(), symbol.into());
            let record = serde_json::Value::Object(fields.clone());
            let back: OrderIntent = serde_json::from_value(record).unwrap();
            assert_eq!(back.instrument_class, class, "{symbol}");
        }
    }

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
