//! Schema v1 of a TradingView alert, as one table: the parser enforces it and the published JSON
//! Schema is generated from it, so the two cannot drift.

use mts1b_inbound_core::{
    Actor, FundId, IdempotencyKey, IntentKind, OrderType, Side, StrategyId, Thesis, TimeInForce,
};
use serde_json::{Value, json};

/// The schema version this module implements.
pub const VERSION: u32 = 1;

/// The longest `secret`, in characters.
pub const MAX_SECRET_CHARS: usize = 256;
/// The longest `symbol`, in characters (before mapping).
pub const MAX_SYMBOL_CHARS: usize = 64;

/// The value a field holds.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A string of `min..=max` characters, `pattern` (ECMA-262) describing the allowed set.
    Text {
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
        /// The allowed characters as a JSON Schema pattern, if restricted.
        pattern: Option<&'static str>,
    },
    /// An exact decimal greater than zero, as a JSON string or number.
    Decimal,
    /// One of the names, in any letter case.
    Choice(fn() -> Vec<&'static str>),
    /// An RFC 3339 date-time.
    Time,
    /// A JSON boolean (`true` or `false`, never a string).
    Bool,
}

/// When a field must be present, in the actions that take it ([`Field::actions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// In every action that takes it.
    Required,
    /// Never required.
    Optional,
    /// In a submit, required for these order types and forbidden for the others; optional in
    /// a replace (checked against the target's type).
    ForOrderTypes(&'static [OrderType]),
    /// Required in these actions, optional in the others that take it.
    RequiredIn(&'static [IntentKind]),
}

impl Presence {
    /// Whether a message of `action` must carry the field (order-type rules aside).
    pub fn required_in(self, action: IntentKind) -> bool {
        match self {
            Presence::Required => true,
            Presence::RequiredIn(actions) => actions.contains(&action),
            Presence::Optional | Presence::ForOrderTypes(_) => false,
        }
    }
}

/// Every action (SPEC §13): the fields every message has.
pub const ALL_ACTIONS: &[IntentKind] = IntentKind::ALL;
/// A new order only.
const SUBMIT: &[IntentKind] = &[IntentKind::Submit];
/// An order's terms: a new order's, or the new ones of a replace.
const TERMS: &[IntentKind] = &[IntentKind::Submit, IntentKind::Replace];
/// The actions that name one order to change.
const TARGETED: &[IntentKind] = &[IntentKind::Cancel, IntentKind::Replace];

/// One field of the schema.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The JSON key.
    pub name: &'static str,
    /// When it must be present.
    pub presence: Presence,
    /// What it holds.
    pub kind: Kind,
    /// What it means, for the published schema.
    pub description: &'static str,
    /// The actions that take it; in any other it is refused (SPEC §13).
    pub actions: &'static [IntentKind],
}

/// Index of each field in [`FIELDS`].
pub(crate) mod at {
    pub const SECRET: usize = 0;
    pub const STRATEGY_ID: usize = 1;
    pub const FUND_ID: usize = 2;
    pub const SYMBOL: usize = 3;
    pub const SIDE: usize = 4;
    pub const QUANTITY: usize = 5;
    pub const ORDER_TYPE: usize = 6;
    pub const LIMIT_PRICE: usize = 7;
    pub const STOP_PRICE: usize = 8;
    pub const TIF: usize = 9;
    pub const ACTOR: usize = 10;
    pub const IDEMPOTENCY_KEY: usize = 11;
    pub const THESIS: usize = 12;
    pub const ALERT_TIME: usize = 13;
    pub const REDUCE_ONLY: usize = 14;
    pub const ACTION: usize = 15;
    pub const TARGET_KEY: usize = 16;
}

const ID_PATTERN: &str = "^[A-Za-z0-9_.-]+$";
const STRATEGY_PATTERN: &str = "^[A-Za-z0-9_.:-]+$";
const KEY_PATTERN: &str = "^[ -~]+$";

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&v| name(v)).collect()
}

/// The fields of schema v1, in the order their errors are reported.
pub const FIELDS: [Field; 17] = [
    Field {
        name: "secret",
        presence: Presence::Required,
        kind: Kind::Text {
            min: 1,
            max: MAX_SECRET_CHARS,
            pattern: None,
        },
        description: "The fund's webhook secret. Compared in constant time; never logged, echoed or stored.",
        actions: ALL_ACTIONS,
    },
    Field {
        name: "strategy_id",
        presence: Presence::Required,
        kind: Kind::Text {
            min: 1,
            max: StrategyId::MAX_CHARS,
            pattern: Some(STRATEGY_PATTERN),
        },
        description: "The strategy that fired the alert.",
        actions: ALL_ACTIONS,
    },
    Field {
        name: "fund_id",
        presence: Presence::Required,
        kind: Kind::Text {
            min: 1,
            max: FundId::MAX_CHARS,
            pattern: Some(ID_PATTERN),
        },
        description: "The fund to trade for, as configured in the bridge.",
        actions: ALL_ACTIONS,
    },
    Field {
        name: "symbol",
        presence: Presence::RequiredIn(&[
            IntentKind::Submit,
            IntentKind::Cancel,
            IntentKind::Replace,
        ]),
        kind: Kind::Text {
            min: 1,
            max: MAX_SYMBOL_CHARS,
            pattern: None,
        },
        description: "EXCHANGE:TICKER as TradingView renders {{exchange}}:{{ticker}}, or a canonical MTS1B symbol (BTC-USD). In a cancel or replace, the target order's symbol; optional in a cancel_all (only that symbol's orders).",
        actions: ALL_ACTIONS,
    },
    Field {
        name: "side",
        presence: Presence::Required,
        kind: Kind::Choice(|| names(Side::ALL, Side::as_str)),
        description: "buy or sell, any letter case ({{strategy.order.action}} renders it).",
        actions: SUBMIT,
    },
    Field {
        name: "quantity",
        presence: Presence::RequiredIn(SUBMIT),
        kind: Kind::Decimal,
        description: "Decimal greater than 0, as a string or number, read exactly; at most 28 significant digits. In a replace, the new total quantity (not the remainder).",
        actions: TERMS,
    },
    Field {
        name: "order_type",
        presence: Presence::Required,
        kind: Kind::Choice(|| names(OrderType::ALL, OrderType::as_str)),
        description: "market, limit, stop or stop_limit.",
        actions: SUBMIT,
    },
    Field {
        name: "limit_price",
        presence: Presence::ForOrderTypes(&[OrderType::Limit, OrderType::StopLimit]),
        kind: Kind::Decimal,
        description: "Required for limit and stop_limit orders; forbidden otherwise.",
        actions: TERMS,
    },
    Field {
        name: "stop_price",
        presence: Presence::ForOrderTypes(&[OrderType::Stop, OrderType::StopLimit]),
        kind: Kind::Decimal,
        description: "Required for stop and stop_limit orders; forbidden otherwise.",
        actions: TERMS,
    },
    Field {
        name: "tif",
        presence: Presence::Optional,
        kind: Kind::Choice(|| names(TimeInForce::ALL, TimeInForce::as_str)),
        description: "Time in force: day (default), gtc, ioc or fok.",
        actions: TERMS,
    },
    Field {
        name: "actor",
        presence: Presence::Optional,
        kind: Kind::Text {
            min: 1,
            max: Actor::MAX_CHARS,
            pattern: None,
        },
        description: "Who placed the order; defaults to tradingview.",
        actions: ALL_ACTIONS,
    },
    Field {
        name: "idempotency_key",
        presence: Presence::Required,
        kind: Kind::Text {
            min: 1,
            max: IdempotencyKey::MAX_CHARS,
            pattern: Some(KEY_PATTERN),
        },
        description: "Unique per order, e.g. <strategy>-{{strategy.order.id}}-{{timenow}}. Never {{time}} alone: it is the bar time, shared by an exit and a re-entry on one bar.",
        actions: ALL_ACTIONS,
    },
    Field {
        name: "thesis",
        presence: Presence::Optional,
        kind: Kind::Text {
            min: 0,
            max: Thesis::MAX_CHARS,
            pattern: None,
        },
        description: "Why the order exists, for the audit trail.",
        actions: ALL_ACTIONS,
    },
    Field {
        name: "alert_time",
        presence: Presence::Optional,
        kind: Kind::Time,
        description: "When the alert fired, RFC 3339 ({{timenow}}). Required when the fund sets max_alert_age.",
        actions: ALL_ACTIONS,
    },
    Field {
        name: "reduce_only",
        presence: Presence::Optional,
        kind: Kind::Bool,
        description: "true: the order may only reduce a position (perpetual and futures exits). A JSON boolean; false when absent.",
        actions: SUBMIT,
    },
    Field {
        name: "action",
        presence: Presence::Optional,
        kind: Kind::Choice(|| names(IntentKind::ALL, IntentKind::as_str)),
        description: "submit (default: a new order), cancel, replace or cancel_all (every order of this fund and strategy, or of one symbol).",
        actions: ALL_ACTIONS,
    },
    Field {
        name: "target_key",
        presence: Presence::Required,
        kind: Kind::Text {
            min: 1,
            max: IdempotencyKey::MAX_CHARS,
            pattern: Some(KEY_PATTERN),
        },
        description: "The idempotency_key of the order a cancel or replace changes (sent by this fund through TradingView).",
        actions: TARGETED,
    },
];

/// Returns the position of `name` in [`FIELDS`].
pub(crate) fn index_of(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| f.name == name)
}

/// `^(?:[Bb][Uu][Yy]|...)$`: ECMA-262 has no inline case-insensitivity flag.
fn any_case_pattern(names: &[&str]) -> String {
    let alternatives: Vec<String> = names
        .iter()
        .map(|n| {
            n.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

fn field_schema(field: &Field) -> Value {
    let no_placeholder = json!({ "not": { "pattern": "\\{\\{|\\}\\}" } });
    let mut schema = match field.kind {
        Kind::Text { min, max, pattern } => {
            let mut s = json!({ "type": "string", "minLength": min, "maxLength": max });
            if let Some(p) = pattern {
                s["pattern"] = json!(p);
            }
            s
        }
        Kind::Decimal => json!({
            "oneOf": [
                { "type": "string", "pattern": "^-?[0-9]+(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$" },
                { "type": "number", "exclusiveMinimum": 0 }
            ]
        }),
        Kind::Choice(names) => json!({ "type": "string", "pattern": any_case_pattern(&names()) }),
        Kind::Time => json!({ "type": "string", "format": "date-time" }),
        Kind::Bool => json!({ "type": "boolean" }),
    };
    if matches!(field.kind, Kind::Text { .. } | Kind::Time) {
        schema["allOf"] = json!([no_placeholder]);
    }
    schema["description"] = json!(field.description);
    schema
}

/// The rules of one action: what it requires and what it refuses (`"properties": {f: false}`
/// forbids a field in JSON Schema 2020-12); a submit's order-type rules; a replace's "at least
/// one change".
fn action_rules(action: IntentKind) -> Value {
    // What every action requires is required at the top level already.
    let required: Vec<&str> = FIELDS
        .iter()
        .filter(|f| f.actions.contains(&action) && f.presence.required_in(action))
        .filter(|f| !(f.presence == Presence::Required && f.actions == ALL_ACTIONS))
        .map(|f| f.name)
        .collect();
    let forbidden: serde_json::Map<String, Value> = FIELDS
        .iter()
        .filter(|f| !f.actions.contains(&action))
        .map(|f| (f.name.to_owned(), Value::Bool(false)))
        .collect();
    let mut rules = json!({ "required": required, "properties": forbidden });
    match action {
        IntentKind::Submit => {
            let by_type: Vec<Value> = FIELDS
                .iter()
                .filter_map(|f| match f.presence {
                    Presence::ForOrderTypes(types) => Some(json!({
                        "if": {
                            "properties": {
                                "order_type": { "pattern": any_case_pattern(&names(types, OrderType::as_str)) }
                            }
                        },
                        "then": { "required": [f.name] },
                        "else": { "not": { "required": [f.name] } }
                    })),
                    _ => None,
                })
                .collect();
            rules["allOf"] = json!(by_type);
        }
        IntentKind::Replace => {
            let changes: Vec<Value> = FIELDS
                .iter()
                .filter(|f| f.actions == TERMS)
                .map(|f| json!({ "required": [f.name] }))
                .collect();
            rules["anyOf"] = json!(changes);
        }
        IntentKind::Cancel | IntentKind::CancelAll => {}
    }
    rules
}

/// The condition "this alert's action is `action`" (a submit also when `action` is absent).
fn is_action(action: IntentKind) -> Value {
    let named = json!({
        "required": ["action"],
        "properties": { "action": { "pattern": any_case_pattern(&[action.as_str()]) } }
    });
    match action {
        IntentKind::Submit => json!({ "anyOf": [{ "not": { "required": ["action"] } }, named] }),
        _ => named,
    }
}

/// Returns the JSON Schema (draft 2020-12) of alert payload v1.
pub fn json_schema() -> Value {
    let properties: serde_json::Map<String, Value> = FIELDS
        .iter()
        .map(|f| (f.name.to_owned(), field_schema(f)))
        .collect();
    let required: Vec<&str> = FIELDS
        .iter()
        .filter(|f| f.presence == Presence::Required && f.actions == ALL_ACTIONS)
        .map(|f| f.name)
        .collect();
    let by_action: Vec<Value> = IntentKind::ALL
        .iter()
        .map(|&action| json!({ "if": is_action(action), "then": action_rules(action) }))
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:mts1b:tradingview:alert:v1",
        "title": "MTS1B TradingView alert, schema v1",
        "description": "The alert message a TradingView alert sends to mts1b-tradingview. Strict: unknown and repeated fields are refused, and any string still holding {{ or }} is an unrendered placeholder. action (default submit) says what it asks for; each action takes only its own fields (SPEC §13).",
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
        "allOf": by_action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_match_the_table() {
        let expected = [
            (at::SECRET, "secret"),
            (at::STRATEGY_ID, "strategy_id"),
            (at::FUND_ID, "fund_id"),
            (at::SYMBOL, "symbol"),
            (at::SIDE, "side"),
            (at::QUANTITY, "quantity"),
            (at::ORDER_TYPE, "order_type"),
            (at::LIMIT_PRICE, "limit_price"),
            (at::STOP_PRICE, "stop_price"),
            (at::TIF, "tif"),
            (at::ACTOR, "actor"),
            (at::IDEMPOTENCY_KEY, "idempotency_key"),
            (at::THESIS, "thesis"),
            (at::ALERT_TIME, "alert_time"),
            (at::REDUCE_ONLY, "reduce_only"),
            (at::ACTION, "action"),
            (at::TARGET_KEY, "target_key"),
        ];
        for (i, name) in expected {
            assert_eq!(FIELDS[i].name, name);
            assert_eq!(index_of(name), Some(i));
        }
        assert_eq!(index_of("nope"), None);
    }

    #[test]
    fn a_submit_refuses_target_key_only() {
        // The parser's fast path for submits relies on it.
        let refused: Vec<&str> = FIELDS
            .iter()
            .filter(|f| !f.actions.contains(&IntentKind::Submit))
            .map(|f| f.name)
            .collect();
        assert_eq!(refused, ["target_key"]);
    }

    #[test]
    fn choice_patterns_accept_any_case_only_of_the_names() {
        assert_eq!(any_case_pattern(&["buy"]), "^(?:[Bb][Uu][Yy])$");
        assert_eq!(
            any_case_pattern(&["stop_limit"]),
            "^(?:[Ss][Tt][Oo][Pp]_[Ll][Ii][Mm][Ii][Tt])$"
        );
    }
}
