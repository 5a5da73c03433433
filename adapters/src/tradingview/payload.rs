//! Strict, bounded, panic-free parsing of a TradingView alert body into a typed [`TvAlert`].
//!
//! The body is read as JSON whatever the Content-Type says. Structure errors (not JSON, not an
//! object, trailing bytes) are `invalid_json`; everything the schema forbids is
//! `invalid_payload` naming the field. When several fields are wrong, the first unknown or
//! repeated key (in document order) is reported, else the first bad field in schema order.

use std::borrow::Cow;
use std::fmt;

use mts1b_inbound_core::decimal::DecimalError;
use mts1b_inbound_core::rejection::{MAX_ECHO_CHARS, bounded};
use mts1b_inbound_core::time::parse_rfc3339;
use mts1b_inbound_core::{
    Actor, FundId, IdempotencyKey, IntentKind, OrderType, Price, Pricing, Quantity, Rejection,
    Secret, Side, StrategyId, TextError, Thesis, TimeInForce, UnixMillis,
};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::schema::{FIELDS, Kind, at, index_of};

/// A schema-valid alert, not yet authenticated and not yet mapped to a canonical symbol.
pub struct TvAlert {
    /// The secret the sender presented.
    pub secret: Secret,
    /// The strategy that fired it.
    pub strategy_id: StrategyId,
    /// The fund it claims to trade for.
    pub fund_id: FundId,
    /// Who placed it (`tradingview` when absent).
    pub actor: Actor,
    /// The sender's key for this alert.
    pub idempotency_key: IdempotencyKey,
    /// Why, if given (an empty thesis counts as none).
    pub thesis: Option<Thesis>,
    /// When it fired, if given.
    pub alert_time: Option<UnixMillis>,
    /// What it asks for (`action`, SPEC §13).
    pub request: TvRequest,
}

/// What an alert asks for, with exactly the fields its action takes.
#[derive(Debug)]
pub enum TvRequest {
    /// A new order (`action` absent or `submit`).
    Submit(TvOrder),
    /// Cancel the order keyed `target_key`.
    Cancel {
        /// The target's idempotency key.
        target_key: IdempotencyKey,
        /// The target's symbol, as sent.
        symbol: String,
    },
    /// Change the terms of the order keyed `target_key`.
    Replace(TvReplace),
    /// Cancel every order of the fund and strategy, or of one symbol.
    CancelAll {
        /// Only this symbol's orders, as sent.
        symbol: Option<String>,
    },
}

impl TvRequest {
    /// The intent kind it asks for.
    pub fn kind(&self) -> IntentKind {
        match self {
            TvRequest::Submit(_) => IntentKind::Submit,
            TvRequest::Cancel { .. } => IntentKind::Cancel,
            TvRequest::Replace(_) => IntentKind::Replace,
            TvRequest::CancelAll { .. } => IntentKind::CancelAll,
        }
    }
}

/// A new order's terms.
#[derive(Debug)]
pub struct TvOrder {
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
    /// The order may only reduce a position (`false` when absent).
    pub reduce_only: bool,
}

/// A replace's new terms: at least one.
#[derive(Debug)]
pub struct TvReplace {
    /// The target's idempotency key.
    pub target_key: IdempotencyKey,
    /// The target's symbol, as sent.
    pub symbol: String,
    /// The new total quantity.
    pub quantity: Option<Quantity>,
    /// The new limit price.
    pub limit_price: Option<Price>,
    /// The new stop price.
    pub stop_price: Option<Price>,
    /// The new time in force.
    pub tif: Option<TimeInForce>,
}

impl fmt::Debug for TvAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TvAlert")
            .field("secret", &self.secret)
            .field("strategy_id", &self.strategy_id)
            .field("fund_id", &self.fund_id)
            .field("actor", &self.actor)
            .field("idempotency_key", &self.idempotency_key)
            .field("thesis", &self.thesis)
            .field("alert_time", &self.alert_time)
            .field("request", &self.request)
            .finish()
    }
}

/// Parses a body into a [`TvAlert`], or the exact rejection.
pub fn parse_alert(body: &[u8]) -> Result<TvAlert, Rejection> {
    // serde_json is the one reader of this body, which carries a secret. A body checked as
    // UTF-8 once, in word-sized steps, is read without serde_json checking each string again
    // byte by byte (a seventh of the parse). A body that is not UTF-8 goes the byte-slice way,
    // which names where the bad byte is.
    let fields = match std::str::from_utf8(body) {
        Ok(text) => read_fields(serde_json::Deserializer::from_str(text)),
        Err(_) => read_fields(serde_json::Deserializer::from_slice(body)),
    }
    .map_err(|e| Rejection::InvalidJson {
        detail: e.to_string(),
    })?;
    fields.typed(may_hold_braces(body))
}

/// Whether a value of this object could hold a brace: only if the body holds a brace besides
/// the object's own two, or a backslash (an escape can spell one). One pass over the body
/// without early exit spares a placeholder search per field.
fn may_hold_braces(body: &[u8]) -> bool {
    // A byte-wide count per 64-byte chunk: under callgrind 260 instructions for a typical alert,
    // against 590 for one `u32` count over the whole body.
    let marks: usize = body
        .chunks(64)
        .map(|chunk| {
            let n = chunk
                .iter()
                .fold(0_u8, |n, &b| n + u8::from(matches!(b, b'{' | b'}' | b'\\')));
            usize::from(n)
        })
        .sum();
    marks > 2
}

fn read_fields<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> serde_json::Result<RawFields<'de>> {
    let fields = de.deserialize_map(FieldsVisitor)?;
    de.end()?;
    Ok(fields)
}

/// One known field's value as sent, before its type is checked. Strings borrow from the body
/// when they hold no escapes, so a typical alert is read without copying its text (the parse was
/// a third of a rejected request's instructions when every value became a `serde_json::Value`).
#[derive(Debug, PartialEq)]
enum Raw<'de> {
    Text(Cow<'de, str>),
    /// With serde_json's `arbitrary_precision`, a number keeps its exact text.
    Number(Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`, an array or an object: never a valid value here.
    Other,
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Raw<'de>, E> {
        Ok(Raw::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw<'de>, E> {
        Ok(Raw::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw<'de>, E> {
        Ok(Raw::Text(Cow::Owned(v)))
    }

    // Integers that fit 64 bits arrive as such even with arbitrary_precision; their text is
    // the one sent (JSON has no other spelling of an integer but `-0`, which is 0 either way).
    fn visit_u64<E>(self, v: u64) -> Result<Raw<'de>, E> {
        Ok(Raw::Number(v.into()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw<'de>, E> {
        Ok(Raw::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw<'de>, E> {
        Ok(Number::from_f64(v).map_or(Raw::Other, Raw::Number))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw<'de>, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_unit<E>(self) -> Result<Raw<'de>, E> {
        Ok(Raw::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::Other)
    }

    // An object, or (arbitrary_precision) a number, which serde_json hands over as a map:
    // serde_json's own `Value` tells them apart through public API.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Raw<'de>, A::Error> {
        Ok(match Value::deserialize(MapAccessDeserializer::new(map))? {
            Value::Number(n) => Raw::Number(n),
            _ => Raw::Other,
        })
    }
}

/// A key of the alert object: the index of a known field, or the unknown name.
enum Key {
    Known(usize),
    Unknown(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(index_of(v).map_or_else(|| Key::Unknown(v.to_owned()), Key::Known))
    }
}

/// The raw values of the known fields, and the first structural violation seen.
#[derive(Debug)]
struct RawFields<'de> {
    values: [Option<Raw<'de>>; FIELDS.len()],
    violation: Option<Rejection>,
    /// Whether a value may hold a brace (else no placeholder search is needed).
    braces: bool,
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = RawFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    // Schema violations are recorded, not returned as serde errors, so that the rest of the
    // document is still checked for well-formedness (a syntax error anywhere wins: invalid_json).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields<'de>, A::Error> {
        let mut raw = RawFields::empty();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Known(i) if raw.violation.is_none() && raw.values[i].is_none() => {
                    raw.values[i] = Some(map.next_value()?);
                }
                key => {
                    map.next_value::<IgnoredAny>()?;
                    if raw.violation.is_none() {
                        raw.violation = Some(match key {
                            Key::Known(i) => Rejection::invalid(FIELDS[i].name, "repeated field"),
                            Key::Unknown(name) => {
                                Rejection::invalid(&name, "unknown field (schema v1 is strict)")
                            }
                        });
                    }
                }
            }
        }
        Ok(raw)
    }
}

impl RawFields<'_> {
    /// No field seen yet.
    fn empty() -> Self {
        Self {
            values: Default::default(),
            violation: None,
            braces: true,
        }
    }

    /// The typed alert; `braces` says whether any value may hold a placeholder's braces.
    /// A submit's errors come in schema order, as before actions existed; a field the action
    /// does not take is refused first.
    fn typed(mut self, braces: bool) -> Result<TvAlert, Rejection> {
        if let Some(violation) = self.violation.take() {
            return Err(violation);
        }
        self.braces = braces;
        let action = self.action()?;
        // A submit (nearly every alert) refuses one field only: spared the walk over the table.
        let refused = if action == IntentKind::Submit {
            self.values[at::TARGET_KEY]
                .is_some()
                .then_some(&FIELDS[at::TARGET_KEY])
        } else {
            FIELDS
                .iter()
                .zip(&self.values)
                .find(|(f, v)| v.is_some() && !f.actions.contains(&action))
                .map(|(f, _)| f)
        };
        if let Some(field) = refused {
            return Err(Rejection::invalid(
                field.name,
                format!("not allowed when action is {}", action.as_str()),
            ));
        }
        let secret = required(at::SECRET, self.text(at::SECRET)?)?;
        let strategy_id = required(
            at::STRATEGY_ID,
            self.parsed(at::STRATEGY_ID, StrategyId::parse)?,
        )?;
        let fund_id = required(at::FUND_ID, self.parsed(at::FUND_ID, FundId::parse)?)?;
        let symbol = self.text(at::SYMBOL)?.map(str::to_owned);
        let symbol = match action {
            IntentKind::CancelAll => symbol,
            _ => Some(required(at::SYMBOL, symbol)?),
        };
        let terms = match action {
            IntentKind::Submit => Some(self.order_terms()?),
            _ => None,
        };
        let changes = match action {
            IntentKind::Replace => Some(self.changes()?),
            _ => None,
        };
        let actor = match self.parsed(at::ACTOR, Actor::parse)? {
            Some(actor) => actor,
            None => Actor::parse(DEFAULT_ACTOR).map_err(|e| text_error(at::ACTOR, e))?,
        };
        let idempotency_key = required(
            at::IDEMPOTENCY_KEY,
            self.parsed(at::IDEMPOTENCY_KEY, IdempotencyKey::parse)?,
        )?;
        // An empty thesis is allowed by the schema and means none.
        let thesis = match self.text(at::THESIS)? {
            None | Some("") => None,
            Some(t) => Some(Thesis::parse(t).map_err(|e| text_error(at::THESIS, e))?),
        };
        let alert_time = self.time(at::ALERT_TIME)?;
        let reduce_only = self.flag(at::REDUCE_ONLY)?.unwrap_or(false);
        let target_key = self.parsed(at::TARGET_KEY, IdempotencyKey::parse)?;
        let request = match (action, terms, changes) {
            (IntentKind::Submit, Some((side, quantity, pricing, tif)), _) => {
                TvRequest::Submit(TvOrder {
                    symbol: symbol.unwrap_or_default(),
                    side,
                    quantity,
                    pricing,
                    tif,
                    reduce_only,
                })
            }
            (IntentKind::Cancel, ..) => TvRequest::Cancel {
                target_key: required(at::TARGET_KEY, target_key)?,
                symbol: symbol.unwrap_or_default(),
            },
            (IntentKind::Replace, _, Some((quantity, limit_price, stop_price, tif))) => {
                TvRequest::Replace(TvReplace {
                    target_key: required(at::TARGET_KEY, target_key)?,
                    symbol: symbol.unwrap_or_default(),
                    quantity,
                    limit_price,
                    stop_price,
                    tif,
                })
            }
            _ => TvRequest::CancelAll { symbol },
        };
        Ok(TvAlert {
            secret: Secret::new(secret),
            strategy_id,
            fund_id,
            actor,
            idempotency_key,
            thesis,
            alert_time,
            request,
        })
    }

    /// What the alert asks for (`submit` when absent). Other bridges' alerts, and templates
    /// that put `{{strategy.order.action}}` there, send the side as `action`: told where it goes.
    fn action(&self) -> Result<IntentKind, Rejection> {
        match self.choice(at::ACTION, IntentKind::parse) {
            Ok(action) => Ok(action.unwrap_or(IntentKind::Submit)),
            Err(refused) => match self.text(at::ACTION)?.and_then(Side::parse) {
                Some(side) => Err(Rejection::invalid(
                    FIELDS[at::ACTION].name,
                    format!(
                        "{:?} is a side: send it as \"side\"; action is submit (the default), cancel, replace or cancel_all",
                        side.as_str()
                    ),
                )),
                None => Err(refused),
            },
        }
    }

    /// A new order's side, quantity, type and prices, and time in force.
    fn order_terms(&self) -> Result<(Side, Quantity, Pricing, TimeInForce), Rejection> {
        let side = required(at::SIDE, self.choice(at::SIDE, Side::parse)?)?;
        let quantity = required(at::QUANTITY, self.decimal(at::QUANTITY, Quantity::parse)?)?;
        let order_type = required(
            at::ORDER_TYPE,
            self.choice(at::ORDER_TYPE, OrderType::parse)?,
        )?;
        let limit = self.decimal(at::LIMIT_PRICE, Price::parse)?;
        let stop = self.decimal(at::STOP_PRICE, Price::parse)?;
        let pricing =
            Pricing::from_parts(order_type, (limit, "limit_price"), (stop, "stop_price"))?;
        let tif = self
            .choice(at::TIF, TimeInForce::parse)?
            .unwrap_or_default();
        Ok((side, quantity, pricing, tif))
    }

    /// A replace's new terms: at least one (each checked against the target's order type
    /// later, when the target is known).
    #[allow(clippy::type_complexity)]
    fn changes(
        &self,
    ) -> Result<
        (
            Option<Quantity>,
            Option<Price>,
            Option<Price>,
            Option<TimeInForce>,
        ),
        Rejection,
    > {
        let quantity = self.decimal(at::QUANTITY, Quantity::parse)?;
        let limit = self.decimal(at::LIMIT_PRICE, Price::parse)?;
        let stop = self.decimal(at::STOP_PRICE, Price::parse)?;
        let tif = self.choice(at::TIF, TimeInForce::parse)?;
        if quantity.is_none() && limit.is_none() && stop.is_none() && tif.is_none() {
            return Err(Rejection::invalid(
                "action",
                "a replace changes at least one of quantity, limit_price, stop_price, tif",
            ));
        }
        Ok((quantity, limit, stop, tif))
    }

    /// A boolean field: JSON `true` or `false` only (a string `"true"` is refused: the schema
    /// says boolean, and a quoted one usually means a template that was not meant).
    fn flag(&self, i: usize) -> Result<Option<bool>, Rejection> {
        match &self.values[i] {
            None => Ok(None),
            Some(Raw::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Rejection::invalid(
                FIELDS[i].name,
                "must be true or false (a JSON boolean, not a string)",
            )),
        }
    }

    /// A string field, checked for type, placeholders and length.
    fn text(&self, i: usize) -> Result<Option<&str>, Rejection> {
        let field = &FIELDS[i];
        let Some(value) = &self.values[i] else {
            return Ok(None);
        };
        let Raw::Text(s) = value else {
            return Err(Rejection::invalid(field.name, "must be a string"));
        };
        if self.braces {
            check_placeholder(i, s)?;
        }
        if let Kind::Text { min, max, .. } = field.kind {
            // A character is one to four bytes, so the byte length nearly always decides without
            // counting characters.
            let decided = s.len() <= max && s.len().div_ceil(4) >= min;
            if !decided {
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
        }
        Ok(Some(s))
    }

    fn parsed<T>(
        &self,
        i: usize,
        parse: fn(&str) -> Result<T, TextError>,
    ) -> Result<Option<T>, Rejection> {
        self.text(i)?
            .map(|s| parse(s).map_err(|e| text_error(i, e)))
            .transpose()
    }

    fn choice<T>(&self, i: usize, parse: fn(&str) -> Option<T>) -> Result<Option<T>, Rejection> {
        let Some(s) = self.text(i)? else {
            return Ok(None);
        };
        match parse(s) {
            Some(v) => Ok(Some(v)),
            None => {
                let allowed = match FIELDS[i].kind {
                    Kind::Choice(names) => names().join(", "),
                    _ => String::new(),
                };
                Err(Rejection::invalid(
                    FIELDS[i].name,
                    format!("{:?} is not one of {allowed}", bounded(s)),
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
            Some(Raw::Text(s)) => {
                if self.braces {
                    check_placeholder(i, s)?;
                }
                s
            }
            Some(Raw::Number(n)) => n.as_str(),
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
                parse_rfc3339(s).map_err(|e| Rejection::invalid(FIELDS[i].name, e.to_string()))
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
    if !s
        .as_bytes()
        .windows(2)
        .any(|pair| matches!(pair, b"{{" | b"}}"))
    {
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
