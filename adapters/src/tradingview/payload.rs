//! Strict, bounded, panic-free parsing of a TradingView alert body into a typed [`TvAlert`].
//!
//! The body is read as JSON whatever the Content-Type says. Structure errors (not JSON, not an
//! object, trailing bytes) are `invalid_json`; everything the schema forbids is
//! `invalid_payload` naming the field. When several fields are wrong, the first unknown or
//! repeated key (in document order) is reported, else the first bad field in schema order.

use std::fmt;

use mts1b_inbound_core::decimal::DecimalError;
use mts1b_inbound_core::rejection::{MAX_ECHO_CHARS, bounded};
use mts1b_inbound_core::time::parse_rfc3339;
use mts1b_inbound_core::{
    Actor, FundId, IdempotencyKey, OrderType, Price, Pricing, Quantity, Rejection, Secret, Side,
    StrategyId, TextError, Thesis, TimeInForce, UnixMillis,
};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::schema::{FIELDS, Kind, at, index_of};

/// A schema-valid alert, not yet authenticated and not yet mapped to a canonical symbol.
pub struct TvAlert {
    /// The secret the sender presented.
    pub secret: Secret,
    /// The strategy that fired it.
    pub strategy_id: StrategyId,
    /// The fund it claims to trade for.
    pub fund_id: FundId,
    /// The symbol as sent (mapped in normalize).
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// How much.
    pub quantity: Quantity,
    /// Order type and its prices.
    pub pricing: Pricing,
    /// Time in force (`day` when absent).
    pub tif: TimeInForce,
    /// Who placed it (`tradingview` when absent).
    pub actor: Actor,
    /// The sender's key for this alert.
    pub idempotency_key: IdempotencyKey,
    /// Why, if given (an empty thesis counts as none).
    pub thesis: Option<Thesis>,
    /// When it fired, if given.
    pub alert_time: Option<UnixMillis>,
}

impl fmt::Debug for TvAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TvAlert")
            .field("secret", &self.secret)
            .field("strategy_id", &self.strategy_id)
            .field("fund_id", &self.fund_id)
            .field("symbol", &self.symbol)
            .field("side", &self.side)
            .field("quantity", &self.quantity)
            .field("pricing", &self.pricing)
            .field("tif", &self.tif)
            .field("actor", &self.actor)
            .field("idempotency_key", &self.idempotency_key)
            .field("thesis", &self.thesis)
            .field("alert_time", &self.alert_time)
            .finish()
    }
}

/// Parses a body into a [`TvAlert`], or the exact rejection.
pub fn parse_alert(body: &[u8]) -> Result<TvAlert, Rejection> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let fields = de
        .deserialize_map(FieldsVisitor)
        .and_then(|fields| de.end().map(|()| fields))
        .map_err(|e| Rejection::InvalidJson {
            detail: e.to_string(),
        })?;
    fields.typed()
}

/// The raw values of the known fields, and the first structural violation seen.
struct RawFields {
    values: [Option<Value>; FIELDS.len()],
    violation: Option<Rejection>,
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = RawFields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    // Schema violations are recorded, not returned as serde errors, so that the rest of the
    // document is still checked for well-formedness (a syntax error anywhere wins: invalid_json).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields, A::Error> {
        let mut raw = RawFields {
            values: Default::default(),
            violation: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            let slot = index_of(&key).filter(|&i| raw.values[i].is_none());
            match slot {
                Some(i) if raw.violation.is_none() => raw.values[i] = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    if raw.violation.is_none() {
                        let detail = if index_of(&key).is_some() {
                            "repeated field"
                        } else {
                            "unknown field (schema v1 is strict)"
                        };
                        raw.violation = Some(Rejection::invalid(&key, detail));
                    }
                }
            }
        }
        Ok(raw)
    }
}

impl RawFields {
    fn typed(mut self) -> Result<TvAlert, Rejection> {
        if let Some(violation) = self.violation.take() {
            return Err(violation);
        }
        let secret = required(at::SECRET, self.text(at::SECRET)?)?;
        let strategy_id = required(
            at::STRATEGY_ID,
            self.parsed(at::STRATEGY_ID, StrategyId::parse)?,
        )?;
        let fund_id = required(at::FUND_ID, self.parsed(at::FUND_ID, FundId::parse)?)?;
        let symbol = required(at::SYMBOL, self.text(at::SYMBOL)?)?;
        let side = required(at::SIDE, self.choice(at::SIDE, Side::parse)?)?;
        let quantity = required(at::QUANTITY, self.decimal(at::QUANTITY, Quantity::parse)?)?;
        let order_type = required(
            at::ORDER_TYPE,
            self.choice(at::ORDER_TYPE, OrderType::parse)?,
        )?;
        let limit = self.decimal(at::LIMIT_PRICE, Price::parse)?;
        let stop = self.decimal(at::STOP_PRICE, Price::parse)?;
        let pricing = pricing(order_type, limit, stop)?;
        let tif = self
            .choice(at::TIF, TimeInForce::parse)?
            .unwrap_or_default();
        let actor = match self.parsed(at::ACTOR, Actor::parse)? {
            Some(actor) => actor,
            None => Actor::parse(DEFAULT_ACTOR).map_err(|e| text_error(at::ACTOR, e))?,
        };
        let idempotency_key = required(
            at::IDEMPOTENCY_KEY,
            self.parsed(at::IDEMPOTENCY_KEY, IdempotencyKey::parse)?,
        )?;
        // An empty thesis is allowed by the schema and means none.
        let thesis = match self.text(at::THESIS)?.as_deref() {
            None | Some("") => None,
            Some(t) => Some(Thesis::parse(t).map_err(|e| text_error(at::THESIS, e))?),
        };
        let alert_time = self.time(at::ALERT_TIME)?;
        Ok(TvAlert {
            secret: Secret::new(secret),
            strategy_id,
            fund_id,
            symbol,
            side,
            quantity,
            pricing,
            tif,
            actor,
            idempotency_key,
            thesis,
            alert_time,
        })
    }

    /// A string field, checked for type, placeholders and length.
    fn text(&self, i: usize) -> Result<Option<String>, Rejection> {
        let field = &FIELDS[i];
        let Some(value) = &self.values[i] else {
            return Ok(None);
        };
        let Value::String(s) = value else {
            return Err(Rejection::invalid(field.name, "must be a string"));
        };
        check_placeholder(i, s)?;
        if let Kind::Text { min, max, .. } = field.kind {
            let chars = s.chars().count();
            if chars < min {
                return Err(Rejection::invalid(field.name, "must not be empty"));
            }
            if chars > max {
                return Err(Rejection::invalid(
                    field.name,
                    format!("longer than {max} characters"),
                ));
            }
        }
        Ok(Some(s.clone()))
    }

    fn parsed<T>(
        &self,
        i: usize,
        parse: fn(&str) -> Result<T, TextError>,
    ) -> Result<Option<T>, Rejection> {
        self.text(i)?
            .map(|s| parse(&s).map_err(|e| text_error(i, e)))
            .transpose()
    }

    fn choice<T>(&self, i: usize, parse: fn(&str) -> Option<T>) -> Result<Option<T>, Rejection> {
        let Some(s) = self.text(i)? else {
            return Ok(None);
        };
        match parse(&s) {
            Some(v) => Ok(Some(v)),
            None => {
                let allowed = match FIELDS[i].kind {
                    Kind::Choice(names) => names().join(", "),
                    _ => String::new(),
                };
                Err(Rejection::invalid(
                    FIELDS[i].name,
                    format!("{:?} is not one of {allowed}", bounded(&s)),
                ))
            }
        }
    }

    fn decimal<T>(
        &self,
        i: usize,
        parse: fn(&str) -> Result<T, DecimalError>,
    ) -> Result<Option<T>, Rejection> {
        let name = FIELDS[i].name;
        let text = match &self.values[i] {
            None => return Ok(None),
            Some(Value::String(s)) => {
                check_placeholder(i, s)?;
                s.as_str()
            }
            // With serde_json's arbitrary_precision, a number keeps its exact text.
            Some(Value::Number(n)) => n.as_str(),
            Some(_) => {
                return Err(Rejection::invalid(
                    name,
                    "must be a decimal as a string or number",
                ));
            }
        };
        parse(text)
            .map(Some)
            .map_err(|e| Rejection::invalid(name, e.to_string()))
    }

    fn time(&self, i: usize) -> Result<Option<UnixMillis>, Rejection> {
        self.text(i)?
            .map(|s| {
                parse_rfc3339(&s).map_err(|e| Rejection::invalid(FIELDS[i].name, e.to_string()))
            })
            .transpose()
    }
}

/// The actor of an alert that names none.
pub const DEFAULT_ACTOR: &str = "tradingview";

fn required<T>(i: usize, value: Option<T>) -> Result<T, Rejection> {
    value.ok_or_else(|| Rejection::invalid(FIELDS[i].name, "required field is missing"))
}

fn text_error(i: usize, e: TextError) -> Rejection {
    Rejection::invalid(FIELDS[i].name, e.to_string())
}

/// Refuses a string that still holds `{{` or `}}`: TradingView left a placeholder unrendered.
/// The placeholder is named, except in the secret, which is never echoed.
fn check_placeholder(i: usize, s: &str) -> Result<(), Rejection> {
    if !s.contains("{{") && !s.contains("}}") {
        return Ok(());
    }
    let name = FIELDS[i].name;
    if i == at::SECRET {
        return Err(Rejection::invalid(
            name,
            "holds an unrendered TradingView placeholder",
        ));
    }
    let shown = match s.find("{{") {
        Some(open) => {
            let end = s[open..]
                .find("}}")
                .map_or(s.len(), |close| open + close + 2);
            &s[open..end]
        }
        None => "}}",
    };
    let placeholder: String = shown.chars().take(MAX_ECHO_CHARS).collect();
    Err(Rejection::invalid(
        name,
        format!("unrendered TradingView placeholder {placeholder}"),
    ))
}

/// Pairs the order type with exactly the prices it needs.
fn pricing(
    order_type: OrderType,
    limit: Option<Price>,
    stop: Option<Price>,
) -> Result<Pricing, Rejection> {
    let name = order_type.as_str();
    let need = |field: &str, price: Option<Price>| {
        price
            .ok_or_else(|| Rejection::invalid(field, format!("required when order_type is {name}")))
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
            forbid("limit_price", limit)?;
            forbid("stop_price", stop)?;
            Pricing::Market
        }
        OrderType::Limit => {
            let limit = need("limit_price", limit)?;
            forbid("stop_price", stop)?;
            Pricing::Limit { limit }
        }
        OrderType::Stop => {
            forbid("limit_price", limit)?;
            Pricing::Stop {
                stop: need("stop_price", stop)?,
            }
        }
        OrderType::StopLimit => Pricing::StopLimit {
            limit: need("limit_price", limit)?,
            stop: need("stop_price", stop)?,
        },
    })
}
