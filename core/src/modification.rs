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

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client_order_id::ClientOrderId;
use crate::decimal::{Price, Quantity};
use crate::ids::{Actor, CanonicalSymbol, FundId, IdempotencyKey, StrategyId, TextError};
use crate::instrument::InstrumentClass;
use crate::order::{Intent, IntentKind, OrderIntent, Pricing, TimeInForce};
use crate::rejection::Rejection;
use crate::time::{UnixMillis, parse_rfc3339};

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

/// What the bridge remembers of an order a modification names: enough to route a chat cancel
/// or replace that names only the order's key (SPEC §13; a TradingView alert names its symbol).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownOrder {
    /// The order's strategy.
    pub strategy_id: StrategyId,
    /// Its canonical symbol.
    pub symbol: CanonicalSymbol,
    /// The symbol's class.
    pub instrument_class: InstrumentClass,
}

/// Where the orders the bridge has recorded are looked up by their client order id.
pub trait KnownOrders {
    /// The order with this client order id, if the bridge still has its record.
    fn known_order(&self, id: &ClientOrderId) -> Option<KnownOrder>;
}

/// No record of any order: offline translation (`validate`, fixtures, fuzzing).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoKnownOrders;

impl KnownOrders for NoKnownOrders {
    fn known_order(&self, _id: &ClientOrderId) -> Option<KnownOrder> {
        None
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
    /// The symbol's class (the envelope's quantity cap depends on it).
    pub instrument_class: InstrumentClass,
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
        (symbol, instrument_class): (CanonicalSymbol, InstrumentClass),
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
            instrument_class,
            quantity,
            limit_price,
            stop_price,
            tif,
        })
    }

    /// The order `order` becomes under this replace: the same order with the new terms, held
    /// to the cross-field rules of a new one (a new limit price on a market order is refused,
    /// as it would be on a new market order).
    pub fn applied_to(&self, order: &OrderIntent) -> Result<OrderIntent, Rejection> {
        let order_type = order.pricing.order_type();
        let limit = self.limit_price.or(order.pricing.limit_price());
        let stop = self.stop_price.or(order.pricing.stop_price());
        // The target's own prices are all there, so the only refusal is a new price its type
        // does not take: the field is the one `from_parts` names, said in a replace's words.
        let pricing = Pricing::from_parts(order_type, (limit, "limit_price"), (stop, "stop_price"))
            .map_err(|refused| match refused {
                Rejection::InvalidPayload { field, .. } => Rejection::invalid(
                    &field,
                    format!("the target is a {} order", order_type.as_str()),
                ),
                other => other,
            })?;
        Ok(OrderIntent {
            quantity: self.quantity.unwrap_or(order.quantity),
            pricing,
            tif: self.tif.unwrap_or(order.tif),
            ..order.clone()
        })
    }

    /// What it changes, as the target's history shows it (`quantity 2, limit_price 94000`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(q) = self.quantity {
            parts.push(format!("quantity {q}"));
        }
        if let Some(p) = self.limit_price {
            parts.push(format!("limit_price {p}"));
        }
        if let Some(p) = self.stop_price {
            parts.push(format!("stop_price {p}"));
        }
        if let Some(t) = self.tif {
            parts.push(format!("tif {}", t.as_str()));
        }
        parts.join(", ")
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

/// The kind of a modification's change, and its serialized fields.
pub trait Change: Sized {
    /// Its intent kind, part of its id.
    const KIND: IntentKind;

    /// Writes its fields into the serialized form.
    fn flatten(&self, flat: &mut FlatModification);

    /// Reads them back, re-validated.
    fn unflatten(flat: &FlatModification) -> Result<Self, String>;
}

fn parse<T>(field: &str, text: &str, f: fn(&str) -> Result<T, TextError>) -> Result<T, String> {
    f(text).map_err(|e| format!("{field}: {e}"))
}

fn optional<T, E: std::fmt::Display>(
    field: &str,
    text: &Option<String>,
    f: fn(&str) -> Result<T, E>,
) -> Result<Option<T>, String> {
    text.as_deref()
        .map(|t| f(t).map_err(|e| format!("{field}: {e}")))
        .transpose()
}

fn required<'a>(field: &str, text: &'a Option<String>) -> Result<&'a str, String> {
    text.as_deref().ok_or_else(|| format!("{field}: missing"))
}

impl Target {
    fn flatten(&self, flat: &mut FlatModification) {
        flat.target_key = Some(self.key.to_string());
        flat.target_client_order_id = Some(self.client_order_id.to_string());
    }

    fn unflatten(flat: &FlatModification) -> Result<Self, String> {
        Ok(Self {
            key: parse(
                "target_key",
                required("target_key", &flat.target_key)?,
                IdempotencyKey::parse,
            )?,
            client_order_id: ClientOrderId::parse(required(
                "target_client_order_id",
                &flat.target_client_order_id,
            )?)
            .map_err(|e| format!("target_client_order_id: {e}"))?,
        })
    }
}

impl Change for Cancel {
    const KIND: IntentKind = IntentKind::Cancel;

    fn flatten(&self, flat: &mut FlatModification) {
        self.target.flatten(flat);
        flat.symbol = Some(self.symbol.to_string());
    }

    fn unflatten(flat: &FlatModification) -> Result<Self, String> {
        Ok(Self {
            target: Target::unflatten(flat)?,
            symbol: parse(
                "symbol",
                required("symbol", &flat.symbol)?,
                CanonicalSymbol::parse,
            )?,
        })
    }
}

impl Change for Replace {
    const KIND: IntentKind = IntentKind::Replace;

    fn flatten(&self, flat: &mut FlatModification) {
        self.target.flatten(flat);
        flat.symbol = Some(self.symbol.to_string());
        flat.instrument_class = Some(self.instrument_class.as_str().to_owned());
        flat.quantity = self.quantity.map(|q| q.to_string());
        flat.limit_price = self.limit_price.map(|p| p.to_string());
        flat.stop_price = self.stop_price.map(|p| p.to_string());
        flat.tif = self.tif.map(|t| t.as_str().to_owned());
    }

    fn unflatten(flat: &FlatModification) -> Result<Self, String> {
        let symbol = parse(
            "symbol",
            required("symbol", &flat.symbol)?,
            CanonicalSymbol::parse,
        )?;
        let class = required("instrument_class", &flat.instrument_class)?;
        let class =
            InstrumentClass::parse(class).ok_or_else(|| format!("instrument_class: {class}"))?;
        let tif = match flat.tif.as_deref() {
            Some(t) => Some(TimeInForce::parse(t).ok_or_else(|| format!("tif: {t}"))?),
            None => None,
        };
        Replace::new(
            Target::unflatten(flat)?,
            (symbol, class),
            optional("quantity", &flat.quantity, Quantity::parse)?,
            optional("limit_price", &flat.limit_price, Price::parse)?,
            optional("stop_price", &flat.stop_price, Price::parse)?,
            tif,
        )
        .map_err(|e| format!("{e:?}"))
    }
}

impl Change for CancelAll {
    const KIND: IntentKind = IntentKind::CancelAll;

    fn flatten(&self, flat: &mut FlatModification) {
        flat.symbol = self.symbol.as_ref().map(ToString::to_string);
    }

    fn unflatten(flat: &FlatModification) -> Result<Self, String> {
        Ok(Self {
            symbol: optional("symbol", &flat.symbol, CanonicalSymbol::parse)?,
        })
    }
}

/// The serialized form of a modification, every field as text, re-validated on the way in
/// (the store keeps it; `validate` prints it).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlatModification {
    intent: String,
    request_id: String,
    source: String,
    fund_id: String,
    strategy_id: String,
    idempotency_key: String,
    actor: String,
    received_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_client_order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instrument_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quantity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit_price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tif: Option<String>,
}

impl<C: Change> Serialize for Modification<C> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut flat = FlatModification {
            intent: C::KIND.as_str().to_owned(),
            request_id: self.request_id.to_string(),
            source: self.source.to_string(),
            fund_id: self.fund_id.to_string(),
            strategy_id: self.strategy_id.to_string(),
            idempotency_key: self.idempotency_key.to_string(),
            actor: self.actor.to_string(),
            received_at: self.received_at.to_rfc3339(),
            ..FlatModification::default()
        };
        self.change.flatten(&mut flat);
        flat.serialize(s)
    }
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
    /// Reads a modification back from its serialized form, refusing one of another kind or
    /// whose request id is not the derivation of its own fields.
    fn unflatten(flat: &FlatModification) -> Result<Self, String> {
        if flat.intent != C::KIND.as_str() {
            return Err(format!(
                "intent: {} is not {}",
                flat.intent,
                C::KIND.as_str()
            ));
        }
        let read = Self::new(
            Cow::Owned(flat.source.clone()),
            parse("fund_id", &flat.fund_id, FundId::parse)?,
            parse("strategy_id", &flat.strategy_id, StrategyId::parse)?,
            parse(
                "idempotency_key",
                &flat.idempotency_key,
                IdempotencyKey::parse,
            )?,
            parse("actor", &flat.actor, Actor::parse)?,
            parse_rfc3339(&flat.received_at).map_err(|e| format!("received_at: {e}"))?,
            C::unflatten(flat)?,
        );
        if read.request_id.to_string() != flat.request_id {
            return Err(
                "request_id: does not derive from its kind, source, fund_id and idempotency_key"
                    .into(),
            );
        }
        Ok(read)
    }
}

/// A modification of any kind read back from its serialized form, as the [`Intent`] it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredModification(pub Intent);

impl<'de> Deserialize<'de> for StoredModification {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let flat = FlatModification::deserialize(d)?;
        let intent = match flat.intent.as_str() {
            "cancel" => Modification::unflatten(&flat).map(Intent::Cancel),
            "replace" => Modification::unflatten(&flat).map(Intent::Replace),
            "cancel_all" => Modification::unflatten(&flat).map(Intent::CancelAll),
            other => Err(format!("intent: {other} is not a modification")),
        };
        intent.map(StoredModification).map_err(D::Error::custom)
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
        let class = InstrumentClass::Equity;
        assert!(
            Replace::new(
                target.clone(),
                (symbol.clone(), class),
                None,
                None,
                None,
                None
            )
            .is_err()
        );
        let tif = Replace::new(
            target,
            (symbol, class),
            None,
            None,
            None,
            Some(TimeInForce::Gtc),
        )
        .unwrap();
        assert_eq!(tif.tif, Some(TimeInForce::Gtc));
    }
}
