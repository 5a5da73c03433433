//! What the chat adapters (Slack, Discord) share: an order as a trader types it, turned into
//! an intent by the same symbology and decimal rules as a TradingView alert (SPEC §3, §4), and
//! the runtime's decision told back in a sentence a trader reads.

use mts1b_inbound_core::rejection::bounded;
use mts1b_inbound_core::{
    Actor, ClientOrderId, Decision, FundId, IdempotencyKey, Intent, Member, OrderIntent, OrderType,
    Price, Pricing, Quantity, Rejection, Side, StrategyId, SymbolTable, Thesis, TimeInForce,
    Timing, TradingViewSymbol, UnixMillis,
};

/// The strategy of a chat order that names none.
pub const DEFAULT_STRATEGY: &str = "manual";

/// An order as a chat command spells it, every part still text, named as the command names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderRequest {
    /// `buy` or `sell`.
    pub side: Option<String>,
    /// The quantity, a decimal.
    pub quantity: Option<String>,
    /// A TradingView symbol (`BINANCE:BTCUSDT`, `CME_MINI:ES1!`).
    pub symbol: Option<String>,
    /// `market`, `limit`, `stop` or `stop_limit`.
    pub order_type: Option<String>,
    /// The limit price.
    pub limit: Option<String>,
    /// The stop price.
    pub stop: Option<String>,
    /// The fund.
    pub fund: Option<String>,
    /// The strategy ([`DEFAULT_STRATEGY`] when absent).
    pub strategy: Option<String>,
    /// `day` (default), `gtc`, `ioc` or `fok`.
    pub tif: Option<String>,
    /// Why, for the audit trail.
    pub thesis: Option<String>,
}

/// Where a chat order came from, besides what it says.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// The adapter (`slack`): the order's source and its id namespace.
    pub adapter: &'static str,
    /// Who sent it.
    pub member: &'a Member,
    /// The platform's unique id of the request (Slack `trigger_id`, Discord interaction `id`).
    pub key: &'a IdempotencyKey,
    /// When the platform sent it: its signed timestamp, the chat order's `alert_time` (so a
    /// fund's `max_alert_age` bounds the delay from the platform to the bridge).
    pub sent_at: Option<UnixMillis>,
    /// When the bridge received it.
    pub received_at: UnixMillis,
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

fn price(field: &str, text: &Option<String>) -> Result<Option<Price>, Rejection> {
    text.as_deref()
        .map(|t| Price::parse(t).map_err(|e| Rejection::invalid(field, e.to_string())))
        .transpose()
}

impl OrderRequest {
    /// Turns the request into an order intent, or says which part is wrong and why.
    pub fn into_intent(
        self,
        origin: Origin<'_>,
        symbols: &SymbolTable,
    ) -> Result<Intent, Rejection> {
        let side = choice(
            "side",
            required("side", &self.side)?,
            Side::parse,
            Side::ALL,
            Side::as_str,
        )?;
        let quantity = Quantity::parse(required("quantity", &self.quantity)?)
            .map_err(|e| Rejection::invalid("quantity", e.to_string()))?;
        let symbol = required("symbol", &self.symbol)?;
        let order_type = choice(
            "type",
            required("type", &self.order_type)?,
            OrderType::parse,
            OrderType::ALL,
            OrderType::as_str,
        )?;
        let pricing = Pricing::from_parts(
            order_type,
            (price("limit", &self.limit)?, "limit"),
            (price("stop", &self.stop)?, "stop"),
        )?;
        let fund_id = FundId::parse(required("fund", &self.fund)?)
            .map_err(|e| Rejection::invalid("fund", e.to_string()))?;
        let strategy_id = StrategyId::parse(self.strategy.as_deref().unwrap_or(DEFAULT_STRATEGY))
            .map_err(|e| Rejection::invalid("strategy", e.to_string()))?;
        let tif = match &self.tif {
            Some(t) => choice(
                "tif",
                t,
                TimeInForce::parse,
                TimeInForce::ALL,
                TimeInForce::as_str,
            )?,
            None => TimeInForce::default(),
        };
        let thesis = match self.thesis.as_deref() {
            None | Some("") => None,
            Some(t) => {
                Some(Thesis::parse(t).map_err(|e| Rejection::invalid("thesis", e.to_string()))?)
            }
        };
        let timing = Timing {
            alert_time: origin.sent_at,
            received_at: origin.received_at,
        };
        let mapped = symbols
            .map(symbol, timing)
            .map_err(|why| Rejection::unknown_symbol(symbol, &why))?;
        let tradingview_symbol = TradingViewSymbol::parse(symbol)
            .map_err(|e| Rejection::invalid("symbol", e.to_string()))?;
        let actor = Actor::parse(&format!("{}:{}", origin.adapter, origin.member.user))
            .map_err(|e| Rejection::invalid("user", e.to_string()))?;
        Ok(Intent::Submit(OrderIntent {
            client_order_id: ClientOrderId::derive(origin.adapter, &fund_id, origin.key),
            source: origin.adapter.into(),
            fund_id,
            strategy_id,
            symbol: mapped.symbol,
            instrument_class: mapped.class,
            tradingview_symbol: Some(tradingview_symbol),
            venue_hint: mapped.venue_hint,
            side,
            quantity,
            pricing,
            tif,
            actor,
            idempotency_key: origin.key.clone(),
            thesis,
            alert_time: origin.sent_at,
            received_at: origin.received_at,
            // Chat commands cannot ask for it yet (SPEC §13's chat grammar comes with
            // modifications).
            reduce_only: false,
        }))
    }
}

/// The order in a few words: `buy 0.05 BTC-USD limit 95000 on paper-tv-test`.
pub fn describe(order: &OrderIntent) -> String {
    let prices = match order.pricing {
        Pricing::Market => "market".to_owned(),
        Pricing::Limit { limit } => format!("limit {limit}"),
        Pricing::Stop { stop } => format!("stop {stop}"),
        Pricing::StopLimit { stop, limit } => format!("stop {stop} limit {limit}"),
    };
    format!(
        "{} {} {} {} on {}",
        order.side.as_str(),
        order.quantity,
        order.symbol,
        prices,
        order.fund_id
    )
}

/// What happened, in a sentence a trader reads. Every reply that accepts an order prints its
/// key. A malformed command ends with `help`, where the platform has a way to ask for the
/// grammar. `None` for the rejections a chat adapter leaves to SPEC §2's HTTP answer: the
/// request was not shown to come from the platform (or never reached the adapter), so there is
/// no one to tell.
pub fn sentence(decision: &Decision<'_>, help: Option<&str>) -> Option<String> {
    Some(match *decision {
        Decision::Submitted { order, order_id } => format!(
            "{}: submitted (order {}). Key: {}",
            describe(order),
            bounded(order_id),
            order.idempotency_key
        ),
        Decision::Queued { order, follows } => format!(
            "{}: queued, the OMS has not answered yet; {}. Key: {}",
            describe(order),
            if follows {
                "the outcome follows here"
            } else {
                "it is delivered in order and never after delivery.max_order_age"
            },
            order.idempotency_key
        ),
        Decision::Cancelled { order, detail } => format!(
            "{}: {}; the OMS never saw it. Key: {}",
            describe(order),
            detail,
            order.idempotency_key
        ),
        Decision::Refused { rejection, order } => {
            let what = order.map_or_else(|| "Not placed".to_owned(), describe);
            match rejection {
                Rejection::DuplicateIdempotencyKey { key } => {
                    format!("Already received (key {key}): not placed again.")
                }
                Rejection::OmsRejected { reason } => {
                    format!("{what}: rejected by the OMS: {reason}")
                }
                Rejection::TargetNotActive { reason } => {
                    format!("{what}: the order it changes is not active: {reason}")
                }
                Rejection::InvalidPayload { field, detail } => match help {
                    Some(help) => format!("{what}: {field}: {detail}. {help}"),
                    None => format!("{what}: {field}: {detail}."),
                },
                Rejection::InvalidJson { detail } => {
                    format!("{what}: the request could not be read: {detail}")
                }
                Rejection::UnknownSymbol { symbol, detail } => {
                    format!("{what}: unknown symbol {symbol}: {detail}")
                }
                Rejection::EnvelopeDenied { detail } => {
                    format!("{what}: the fund's limits refuse it: {detail}")
                }
                Rejection::StaleAlert { age_ms } => format!("{what}: too old ({age_ms} ms)."),
                Rejection::RateLimited { retry_after_ms } => format!(
                    "{what}: too many orders; try again in {} s.",
                    retry_after_ms.div_ceil(1000).max(1)
                ),
                // Never the order: its description names the fund.
                Rejection::NotPermitted => "Not placed: you are not allowed to place this order. Ask an operator to grant your user this fund and strategy.".to_owned(),
                Rejection::Unavailable { .. } => format!(
                    "{what}: the bridge cannot take orders right now; nothing was recorded, send it again."
                ),
                // They keep their status.
                Rejection::Unauthorized
                | Rejection::Forbidden
                | Rejection::PayloadTooLarge { .. }
                | Rejection::NotFound
                | Rejection::MethodNotAllowed
                | Rejection::BadRequest { .. } => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use mts1b_inbound_core::PlatformId;

    use super::*;

    fn member() -> Member {
        Member {
            workspace: PlatformId::parse("T1").unwrap(),
            user: PlatformId::parse("U1").unwrap(),
            roles: vec![],
        }
    }

    fn request() -> OrderRequest {
        OrderRequest {
            side: Some("buy".into()),
            quantity: Some("0.05".into()),
            symbol: Some("BINANCE:BTCUSDT".into()),
            order_type: Some("limit".into()),
            limit: Some("95000".into()),
            fund: Some("paper-tv-test".into()),
            ..OrderRequest::default()
        }
    }

    fn intent(r: OrderRequest) -> Result<OrderIntent, Rejection> {
        let key = IdempotencyKey::parse("trigger-1").unwrap();
        let origin = Origin {
            adapter: "slack",
            member: &member(),
            key: &key,
            sent_at: None,
            received_at: UnixMillis(1_700_000_000_000),
        };
        let Intent::Submit(order) = r.into_intent(origin, &SymbolTable::default())? else {
            panic!("an order")
        };
        Ok(order)
    }

    #[test]
    fn a_chat_order_follows_the_alerts_rules() {
        let order = intent(request()).unwrap();
        assert_eq!(
            describe(&order),
            "buy 0.05 BTC-USD limit 95000 on paper-tv-test"
        );
        assert_eq!(order.strategy_id.as_str(), DEFAULT_STRATEGY);
        assert_eq!(order.actor.as_str(), "slack:U1");
        assert_eq!(order.source, "slack");
        let key = IdempotencyKey::parse("trigger-1").unwrap();
        assert_eq!(
            order.client_order_id,
            ClientOrderId::derive("slack", &order.fund_id, &key)
        );
        let refused = |r: OrderRequest| intent(r).unwrap_err();
        assert_eq!(
            refused(OrderRequest {
                limit: None,
                ..request()
            }),
            Rejection::invalid("limit", "required when order_type is limit")
        );
        assert!(matches!(
            refused(OrderRequest { quantity: Some("0.05e".into()), ..request() }),
            Rejection::InvalidPayload { field, .. } if field == "quantity"
        ));
        assert!(matches!(
            refused(OrderRequest {
                symbol: Some("NOWHERE:XYZ".into()),
                ..request()
            }),
            Rejection::UnknownSymbol { .. }
        ));
        assert_eq!(
            refused(OrderRequest {
                side: Some("long".into()),
                ..request()
            }),
            Rejection::invalid("side", "\"long\" is not one of buy, sell")
        );
    }

    #[test]
    fn replies_say_what_happened() {
        let order = intent(request()).unwrap();
        let submitted = sentence(
            &Decision::Submitted {
                order: &order,
                order_id: "oms-17",
            },
            None,
        );
        assert_eq!(
            submitted.as_deref(),
            Some(
                "buy 0.05 BTC-USD limit 95000 on paper-tv-test: submitted (order oms-17). Key: trigger-1"
            )
        );
        let duplicate = Rejection::DuplicateIdempotencyKey {
            key: "trigger-1".into(),
        };
        assert_eq!(
            sentence(
                &Decision::Refused {
                    rejection: &duplicate,
                    order: Some(&order)
                },
                None
            )
            .as_deref(),
            Some("Already received (key trigger-1): not placed again.")
        );
        let not_permitted = sentence(
            &Decision::Refused {
                rejection: &Rejection::NotPermitted,
                order: None,
            },
            None,
        )
        .unwrap();
        assert!(!not_permitted.contains("paper-tv-test"), "{not_permitted}");
        assert_eq!(
            sentence(
                &Decision::Refused {
                    rejection: &Rejection::Unauthorized,
                    order: None
                },
                None
            ),
            None
        );
    }
}
