//! Interaction bodies: a PING, or the `/order` application command read from its options.
//!
//! Quantities and prices are STRING options (type 3), never NUMBER (type 10): Discord carries a
//! NUMBER as a double, and `0.1` would reach the bridge already rounded. An option of any type
//! other than STRING is refused, naming it. The command's registration (what Discord shows the
//! trader) is [`registration`].

use mts1b_inbound_core::rejection::bounded;
use mts1b_inbound_core::{IdempotencyKey, Member, PlatformId, Rejection, UnixMillis};
use serde::Deserialize;
use serde_json::Value;

use crate::chat::OrderRequest;

/// The command's name.
pub const COMMAND: &str = "order";

/// Discord's STRING option type.
const STRING: u64 = 3;

/// A signed interaction, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interaction {
    /// Discord's unique id of the interaction: the replay key.
    pub id: IdempotencyKey,
    /// What it is.
    pub kind: InteractionKind,
    /// Where its response can be edited later, when it carries a usable application id and
    /// token.
    pub webhook: Option<Webhook>,
    /// When Discord sent it (its signed timestamp; set by the adapter from the header).
    pub sent_at: Option<UnixMillis>,
}

/// The interaction's webhook: its application and its token (valid 15 minutes).
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The application's id.
    pub application_id: PlatformId,
    /// The interaction token: a secret for 15 minutes, so never printed.
    pub token: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("application_id", &self.application_id)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// The longest interaction token taken (Discord's are a few hundred characters).
const MAX_TOKEN_LEN: usize = 1024;

/// A token goes into a URL path: only the characters Discord's tokens use.
fn token(text: &str) -> Option<String> {
    let ok = !text.is_empty()
        && text.len() <= MAX_TOKEN_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| text.to_owned())
}

/// The interactions the bridge takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InteractionKind {
    /// Discord checking the endpoint (type 1): answered `{"type":1}`.
    Ping,
    /// The `/order` command (type 2).
    Order {
        /// Who sent it: guild, user, roles.
        member: Member,
        /// What it asks.
        order: Box<OrderRequest>,
    },
}

#[derive(Deserialize)]
struct RawInteraction {
    #[serde(rename = "type")]
    kind: u64,
    id: Option<String>,
    application_id: Option<String>,
    token: Option<String>,
    guild_id: Option<String>,
    member: Option<RawMember>,
    data: Option<RawData>,
}

#[derive(Deserialize)]
struct RawMember {
    user: RawUser,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
struct RawUser {
    id: String,
}

#[derive(Deserialize)]
struct RawData {
    name: String,
    #[serde(default)]
    options: Vec<RawOption>,
}

#[derive(Deserialize)]
struct RawOption {
    name: String,
    #[serde(rename = "type")]
    kind: u64,
    value: Option<Value>,
}

fn snowflake(field: &str, text: &str) -> Result<PlatformId, Rejection> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::invalid(field, "not a Discord id"));
    }
    PlatformId::parse(text).map_err(|e| Rejection::invalid(field, e.to_string()))
}

/// Reads an interaction body: a PING, or the `/order` command with its member and options.
/// Fields Discord adds that the bridge does not use are ignored (the platform's document, not
/// the trader's); every option the trader fills is checked.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, Rejection> {
    let raw: RawInteraction = serde_json::from_slice(body).map_err(|e| Rejection::InvalidJson {
        detail: e.to_string(),
    })?;
    let id = raw
        .id
        .as_deref()
        .ok_or_else(|| Rejection::invalid("id", "required"))?;
    let id = IdempotencyKey::parse(snowflake("id", id)?.as_str())
        .map_err(|e| Rejection::invalid("id", e.to_string()))?;
    let kind = match raw.kind {
        1 => InteractionKind::Ping,
        2 => {
            let guild = raw.guild_id.as_deref().ok_or_else(|| {
                Rejection::invalid(
                    "guild_id",
                    "orders are taken in a server, not in direct messages",
                )
            })?;
            let member = raw
                .member
                .ok_or_else(|| Rejection::invalid("member", "required"))?;
            if member.roles.len() > Member::MAX_ROLES {
                return Err(Rejection::invalid("member.roles", "too many roles"));
            }
            let member = Member {
                workspace: snowflake("guild_id", guild)?,
                user: snowflake("member.user.id", &member.user.id)?,
                roles: member
                    .roles
                    .iter()
                    .map(|r| snowflake("member.roles", r))
                    .collect::<Result<_, _>>()?,
            };
            let data = raw
                .data
                .ok_or_else(|| Rejection::invalid("data", "required"))?;
            if data.name != COMMAND {
                return Err(Rejection::invalid(
                    "data.name",
                    format!("{:?} is not the /{COMMAND} command", bounded(&data.name)),
                ));
            }
            InteractionKind::Order {
                member,
                order: Box::new(options(data.options)?),
            }
        }
        other => {
            return Err(Rejection::invalid(
                "type",
                format!(
                    "interaction type {other} is not taken: only PING (1) and the /{COMMAND} command (2)"
                ),
            ));
        }
    };
    let webhook = match (raw.application_id.as_deref(), raw.token.as_deref()) {
        (Some(application_id), Some(t)) => snowflake("application_id", application_id)
            .ok()
            .zip(token(t))
            .map(|(application_id, token)| Webhook {
                application_id,
                token,
            }),
        _ => None,
    };
    Ok(Interaction {
        id,
        kind,
        webhook,
        sent_at: None,
    })
}

fn options(options: Vec<RawOption>) -> Result<OrderRequest, Rejection> {
    let mut order = OrderRequest::default();
    for option in options {
        let name = bounded(&option.name);
        let slot = match option.name.as_str() {
            "side" => &mut order.side,
            "quantity" => &mut order.quantity,
            "symbol" => &mut order.symbol,
            "type" => &mut order.order_type,
            "limit" => &mut order.limit,
            "stop" => &mut order.stop,
            "fund" => &mut order.fund,
            "strategy" => &mut order.strategy,
            "tif" => &mut order.tif,
            "thesis" => &mut order.thesis,
            _ => return Err(Rejection::invalid(&name, "unknown option")),
        };
        if option.kind != STRING {
            return Err(Rejection::invalid(
                &name,
                format!(
                    "must be a STRING option (type 3), not type {}: numbers are sent as text so no decimal is rounded",
                    option.kind
                ),
            ));
        }
        let Some(Value::String(value)) = option.value else {
            return Err(Rejection::invalid(&name, "must have a string value"));
        };
        if slot.is_some() {
            return Err(Rejection::invalid(&name, "given twice"));
        }
        *slot = Some(value);
    }
    Ok(order)
}

/// The `/order` command's registration, as `PUT /applications/{id}/commands` takes it: side,
/// type and tif as choices, quantity and prices as STRING options.
pub fn registration() -> Value {
    let choices = |names: &[&str]| -> Vec<Value> {
        names
            .iter()
            .map(|n| serde_json::json!({"name": n, "value": n}))
            .collect()
    };
    let string = |name: &str, description: &str, required: bool| serde_json::json!({"type": STRING, "name": name, "description": description, "required": required});
    let mut side = string("side", "buy or sell", true);
    side["choices"] = choices(&["buy", "sell"]).into();
    let mut order_type = string("type", "order type", true);
    order_type["choices"] = choices(&["market", "limit", "stop", "stop_limit"]).into();
    let mut tif = string("tif", "time in force (day by default)", false);
    tif["choices"] = choices(&["day", "gtc", "ioc", "fok"]).into();
    serde_json::json!([{
        "name": COMMAND,
        "type": 1,
        "description": "Place an order through the MTS1B bridge",
        "contexts": [0],
        "options": [
            side,
            string("quantity", "a decimal, such as 0.05", true),
            string("symbol", "as TradingView writes it: BINANCE:BTCUSDT, CME_MINI:ES1!", true),
            order_type,
            string("fund", "the fund to trade for", true),
            string("limit", "limit price (limit and stop_limit orders)", false),
            string("stop", "stop price (stop and stop_limit orders)", false),
            tif,
            string("strategy", "strategy id (manual by default)", false),
            string("thesis", "why, for the audit trail", false),
        ]
    }])
}
