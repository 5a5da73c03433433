//! Interaction bodies: a PING, or the `/order` application command read from its options.
//!
//! `/order` has four subcommands: `place` (a new order), `cancel`, `replace` and `cancel-all`
//! (SPEC §13), with the options and meaning of Slack's `/order` words. An interaction whose
//! options sit at the top level, without a subcommand, is the `/order` of the registration
//! before modifications existed, and is read as `place`: a bridge upgraded before its command
//! is registered again keeps taking orders.
//!
//! Quantities and prices are STRING options (type 3), never NUMBER (type 10): Discord carries a
//! NUMBER as a double, and `0.1` would reach the bridge already rounded. An option of any type
//! other than STRING is refused, naming it. The command's registration (what Discord shows the
//! trader) is [`registration`].

use mts1b_inbound_core::rejection::bounded;
use mts1b_inbound_core::{IdempotencyKey, IntentKind, Member, PlatformId, Rejection, UnixMillis};
use serde::Deserialize;
use serde_json::Value;

use crate::chat::{ModifyRequest, OrderRequest, Request};

/// The command's name.
pub const COMMAND: &str = "order";

/// Discord's SUB_COMMAND option type.
const SUB_COMMAND: u64 = 1;
/// Discord's STRING option type.
const STRING: u64 = 3;

/// The subcommands, with what each asks for.
pub const SUBCOMMANDS: [(&str, IntentKind); 4] = [
    ("place", IntentKind::Submit),
    ("cancel", IntentKind::Cancel),
    ("replace", IntentKind::Replace),
    ("cancel-all", IntentKind::CancelAll),
];

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
    Command {
        /// Who sent it: guild, user, roles.
        member: Member,
        /// What it asks: an order or a change to one.
        request: Box<Request>,
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
    /// A subcommand's options.
    #[serde(default)]
    options: Vec<RawOption>,
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
            InteractionKind::Command {
                member,
                request: Box::new(request(data.options)?),
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

/// The request of `/order`'s options: one subcommand, or (the registration before
/// subcommands) an order's options at the top level.
fn request(options: Vec<RawOption>) -> Result<Request, Rejection> {
    if !options.iter().any(|o| o.kind == SUB_COMMAND) {
        let mut order = OrderRequest::default();
        fill(&mut order, options, OrderRequest::slot)?;
        return Ok(Request::Order(order));
    }
    let [subcommand] = <[RawOption; 1]>::try_from(options)
        .map_err(|_| Rejection::invalid("data.options", "a subcommand comes alone"))?;
    let kind = SUBCOMMANDS
        .iter()
        .find(|(name, _)| *name == subcommand.name)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| {
            Rejection::invalid(
                "data.options",
                format!(
                    "{:?} is not a subcommand of /{COMMAND}",
                    bounded(&subcommand.name)
                ),
            )
        })?;
    Ok(match kind {
        IntentKind::Submit => {
            let mut order = OrderRequest::default();
            fill(&mut order, subcommand.options, OrderRequest::slot)?;
            Request::Order(order)
        }
        kind => {
            let mut modify = ModifyRequest::new(kind);
            fill(&mut modify, subcommand.options, ModifyRequest::slot)?;
            Request::Modify(modify)
        }
    })
}

/// Fills `request` from STRING options, each named once and known to `slot`.
fn fill<R>(
    request: &mut R,
    options: Vec<RawOption>,
    slot: for<'r> fn(&'r mut R, &str) -> Option<&'r mut Option<String>>,
) -> Result<(), Rejection> {
    for option in options {
        let name = bounded(&option.name);
        let slot = slot(request, &option.name)
            .ok_or_else(|| Rejection::invalid(&name, "unknown option"))?;
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
    Ok(())
}

/// The `/order` command's registration, as `PUT /applications/{id}/commands` takes it: the
/// subcommands `place`, `cancel`, `replace` and `cancel-all`; side, type, tif, source and
/// reduce_only as choices; keys, quantities and prices as STRING options. Required options
/// come first, as Discord requires.
pub fn registration() -> Value {
    let choices = |names: &[&str]| -> Value {
        names
            .iter()
            .map(|n| serde_json::json!({"name": n, "value": n}))
            .collect::<Vec<_>>()
            .into()
    };
    let string = |name: &str, description: &str, required: bool| serde_json::json!({"type": STRING, "name": name, "description": description, "required": required});
    let with_choices = |mut option: Value, names: &[&str]| {
        option["choices"] = choices(names);
        option
    };
    let fund = string("fund", "the fund", true);
    let tif = with_choices(
        string("tif", "time in force (day by default)", false),
        &["day", "gtc", "ioc", "fok"],
    );
    let key = string(
        "key",
        "the key the order's reply printed (an alert's idempotency_key)",
        true,
    );
    let source = with_choices(
        string("source", "who placed it (this platform by default)", false),
        &crate::chat::SOURCES,
    );
    let target_strategy = string(
        "strategy",
        "its strategy, if the bridge no longer remembers the order",
        false,
    );
    let target_symbol = string(
        "symbol",
        "its symbol, if the bridge no longer remembers the order",
        false,
    );
    let limit = |description| string("limit", description, false);
    let stop = |description| string("stop", description, false);
    let subcommand = |name: &str, description: &str, options: Vec<Value>| serde_json::json!({"type": SUB_COMMAND, "name": name, "description": description, "options": options});
    serde_json::json!([{
        "name": COMMAND,
        "type": 1,
        "description": "Place, change or cancel orders through the MTS1B bridge",
        "contexts": [0],
        "options": [
            subcommand("place", "Place an order", vec![
                with_choices(string("side", "buy or sell", true), &["buy", "sell"]),
                string("quantity", "a decimal, such as 0.05", true),
                string("symbol", "as TradingView writes it: BINANCE:BTCUSDT, CME_MINI:ES1!", true),
                with_choices(
                    string("type", "order type", true),
                    &["market", "limit", "stop", "stop_limit"],
                ),
                fund.clone(),
                limit("limit price (limit and stop_limit orders)"),
                stop("stop price (stop and stop_limit orders)"),
                tif.clone(),
                string("strategy", "strategy id (manual by default)", false),
                with_choices(
                    string("reduce_only", "only reduce a position (false by default)", false),
                    &["true", "false"],
                ),
                string("thesis", "why, for the audit trail", false),
            ]),
            subcommand("cancel", "Cancel an order", vec![
                key.clone(),
                fund.clone(),
                source.clone(),
                target_strategy.clone(),
                target_symbol.clone(),
            ]),
            subcommand("replace", "Change an order's quantity, prices or time in force", vec![
                key,
                fund.clone(),
                string("quantity", "the new total quantity", false),
                limit("the new limit price"),
                stop("the new stop price"),
                tif,
                source,
                target_strategy,
                target_symbol,
            ]),
            subcommand("cancel-all", "Cancel every order of a strategy, or of one symbol", vec![
                fund,
                string("symbol", "only this symbol, as TradingView writes it", false),
                string("strategy", "the strategy (manual by default)", false),
            ]),
        ]
    }])
}
