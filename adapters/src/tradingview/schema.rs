//! Schema v1 of a TradingView alert, as one table: the parser enforces it and the published JSON
//! Schema is generated from it, so the two cannot drift.

use mts1b_inbound_core::{
    Actor, FundId, IdempotencyKey, OrderType, Side, StrategyId, Thesis, TimeInForce,
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

/// When a field must be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Always.
    Required,
    /// Never required.
    Optional,
    /// Required for these order types and forbidden for the others.
    ForOrderTypes(&'static [OrderType]),
}

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
}

const ID_PATTERN: &str = "^[A-Za-z0-9_.-]+$";
const STRATEGY_PATTERN: &str = "^[A-Za-z0-9_.:-]+$";
const KEY_PATTERN: &str = "^[ -~]+$";

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&v| name(v)).collect()
}

/// The fields of schema v1, in the order their errors are reported.
pub const FIELDS: [Field; 15] = [
    Field {
        name: "secret",
        presence: Presence::Required,
        kind: Kind::Text {
            min: 1,
            max: MAX_SECRET_CHARS,
            pattern: None,
        },
        description: "The fund's webhook secret. Compared in constant time; never logged, echoed or stored.",
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
    },
    Field {
        name: "symbol",
        presence: Presence::Required,
        kind: Kind::Text {
            min: 1,
            max: MAX_SYMBOL_CHARS,
            pattern: None,
        },
        description: "EXCHANGE:TICKER as TradingView renders {{exchange}}:{{ticker}}, or a canonical MTS1B symbol (BTC-USD).",
    },
    Field {
        name: "side",
        presence: Presence::Required,
        kind: Kind::Choice(|| names(Side::ALL, Side::as_str)),
        description: "buy or sell, any letter case ({{strategy.order.action}} renders it).",
    },
    Field {
        name: "quantity",
        presence: Presence::Required,
        kind: Kind::Decimal,
        description: "Decimal greater than 0, as a string or number, read exactly; at most 28 significant digits.",
    },
    Field {
        name: "order_type",
        presence: Presence::Required,
        kind: Kind::Choice(|| names(OrderType::ALL, OrderType::as_str)),
        description: "market, limit, stop or stop_limit.",
    },
    Field {
        name: "limit_price",
        presence: Presence::ForOrderTypes(&[OrderType::Limit, OrderType::StopLimit]),
        kind: Kind::Decimal,
        description: "Required for limit and stop_limit orders; forbidden otherwise.",
    },
    Field {
        name: "stop_price",
        presence: Presence::ForOrderTypes(&[OrderType::Stop, OrderType::StopLimit]),
        kind: Kind::Decimal,
        description: "Required for stop and stop_limit orders; forbidden otherwise.",
    },
    Field {
        name: "tif",
        presence: Presence::Optional,
        kind: Kind::Choice(|| names(TimeInForce::ALL, TimeInForce::as_str)),
        description: "Time in force: day (default), gtc, ioc or fok.",
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
    },
    Field {
        name: "alert_time",
        presence: Presence::Optional,
        kind: Kind::Time,
        description: "When the alert fired, RFC 3339 ({{timenow}}). Required when the fund sets max_alert_age.",
    },
    Field {
        name: "reduce_only",
        presence: Presence::Optional,
        kind: Kind::Bool,
        description: "true: the order may only reduce a position (perpetual and futures exits). A JSON boolean; false when absent.",
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

/// Returns the JSON Schema (draft 2020-12) of alert payload v1.
pub fn json_schema() -> Value {
    let properties: serde_json::Map<String, Value> = FIELDS
        .iter()
        .map(|f| (f.name.to_owned(), field_schema(f)))
        .collect();
    let required: Vec<&str> = FIELDS
        .iter()
        .filter(|f| f.presence == Presence::Required)
        .map(|f| f.name)
        .collect();
    let conditional: Vec<Value> = FIELDS
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
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:mts1b:tradingview:alert:v1",
        "title": "MTS1B TradingView alert, schema v1",
        "description": "The alert message a TradingView alert sends to mts1b-tradingview. Strict: unknown and repeated fields are refused, and any string still holding {{ or }} is an unrendered placeholder.",
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
        "allOf": conditional,
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
        ];
        for (i, name) in expected {
            assert_eq!(FIELDS[i].name, name);
            assert_eq!(index_of(name), Some(i));
        }
        assert_eq!(index_of("nope"), None);
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
