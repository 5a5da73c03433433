//! What the chat adapters (Slack, Discord) share: an order or a modification as a trader types
//! it, turned into an intent by the same symbology and decimal rules as a TradingView alert
//! (SPEC §3, §4, §13), and the runtime's decision told back in a sentence a trader reads.

mod modify;
mod order;
mod reply;

use mts1b_inbound_core::rejection::bounded;
use mts1b_inbound_core::{
    Actor, Grants, IdempotencyKey, Intent, IntentKind, KnownOrders, Mapped, Member, Price,
    Rejection, SymbolTable, Timing, UnixMillis,
};

pub use modify::{ModifyRequest, SOURCES};
pub use order::OrderRequest;
pub use reply::{describe, describe_intent, sentence};

/// The strategy of a chat order that names none.
pub const DEFAULT_STRATEGY: &str = "manual";

/// What a chat command asks for, every part still text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A new order.
    Order(OrderRequest),
    /// A cancel, replace or cancel-all.
    Modify(ModifyRequest),
}

impl Request {
    /// What it asks for: part of the replay window's key.
    pub fn kind(&self) -> IntentKind {
        match self {
            Request::Order(_) => IntentKind::Submit,
            Request::Modify(m) => m.kind,
        }
    }

    /// Turns the request into an intent, or says which part is wrong and why. A modification
    /// that names only its target's key reads the target's strategy and symbol from `orders`.
    pub fn into_intent(
        self,
        origin: Origin<'_>,
        symbols: &SymbolTable,
        orders: &dyn KnownOrders,
    ) -> Result<Intent, Rejection> {
        match self {
            Request::Order(order) => order.into_intent(origin, symbols),
            Request::Modify(modify) => modify.into_intent(origin, symbols, orders),
        }
    }
}

/// Where a chat command came from, besides what it says.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// The adapter (`slack`): the order's source and its id namespace.
    pub adapter: &'static str,
    /// Who sent it.
    pub member: &'a Member,
    /// What the adapter's configuration grants (a modification looks up only the orders of a
    /// fund the member may trade, so a refusal never tells what another fund holds).
    pub grants: &'a Grants,
    /// The platform's unique id of the request (Slack `trigger_id`, Discord interaction `id`).
    pub key: &'a IdempotencyKey,
    /// When the platform sent it: its signed timestamp, the chat order's `alert_time` (so a
    /// fund's `max_alert_age` bounds the delay from the platform to the bridge).
    pub sent_at: Option<UnixMillis>,
    /// When the bridge received it.
    pub received_at: UnixMillis,
}

impl Origin<'_> {
    /// `symbol` as TradingView writes it, mapped by `symbols` at the command's time (a
    /// continuous future resolves to the contract the platform's timestamp falls in).
    fn map_symbol(&self, symbols: &SymbolTable, symbol: &str) -> Result<Mapped, Rejection> {
        let timing = Timing {
            alert_time: self.sent_at,
            received_at: self.received_at,
        };
        symbols
            .map(symbol, timing)
            .map_err(|why| Rejection::unknown_symbol(symbol, &why))
    }

    /// Who asked, as the audit trail names them: `slack:U1`.
    fn actor(&self) -> Result<Actor, Rejection> {
        Actor::parse(&format!("{}:{}", self.adapter, self.member.user))
            .map_err(|e| Rejection::invalid("user", e.to_string()))
    }
}

fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str, Rejection> {
    value
        .as_deref()
        .ok_or_else(|| Rejection::invalid(field, "required"))
}

fn choice<T: Copy>(
    field: &str,
    text: &str,
    parse: fn(&str) -> Option<T>,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, Rejection> {
    parse(text).ok_or_else(|| {
        let allowed: Vec<&str> = all.iter().map(|v| name(*v)).collect();
        Rejection::invalid(
            field,
            format!("{:?} is not one of {}", bounded(text), allowed.join(", ")),
        )
    })
}

fn optional_choice<T: Copy>(
    field: &str,
    text: &Option<String>,
    parse: fn(&str) -> Option<T>,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<Option<T>, Rejection> {
    text.as_deref()
        .map(|t| choice(field, t, parse, all, name))
        .transpose()
}

fn price(field: &str, text: &Option<String>) -> Result<Option<Price>, Rejection> {
    text.as_deref()
        .map(|t| Price::parse(t).map_err(|e| Rejection::invalid(field, e.to_string())))
        .transpose()
}

#[cfg(test)]
pub(crate) mod testing {
    use mts1b_inbound_core::{Grants, IdempotencyKey, Member, PlatformId, UnixMillis};

    use super::Origin;

    pub(crate) fn member() -> Member {
        Member {
            workspace: PlatformId::parse("T1").unwrap(),
            user: PlatformId::parse("U1").unwrap(),
            roles: vec![],
        }
    }

    /// `buy 0.05 BINANCE:BTCUSDT limit 95000 fund=paper-tv-test`.
    pub(crate) fn order_request() -> super::OrderRequest {
        super::OrderRequest {
            side: Some("buy".into()),
            quantity: Some("0.05".into()),
            symbol: Some("BINANCE:BTCUSDT".into()),
            order_type: Some("limit".into()),
            limit: Some("95000".into()),
            fund: Some("paper-tv-test".into()),
            ..super::OrderRequest::default()
        }
    }

    pub(crate) fn origin<'a>(
        member: &'a Member,
        grants: &'a Grants,
        key: &'a IdempotencyKey,
    ) -> Origin<'a> {
        Origin {
            adapter: "slack",
            member,
            grants,
            key,
            sent_at: None,
            received_at: UnixMillis(1_700_000_000_000),
        }
    }
}
