//! The runtime's decision in a sentence a trader reads (Slack and Discord say the same words).

use mts1b_inbound_core::rejection::bounded;
use mts1b_inbound_core::{Decision, Intent, IntentKind, OrderIntent, Pricing, Rejection};

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

/// Any intent in a few words: an order as [`describe`] says it; `cancel order K (BTC-USD,
/// manual) on f`, `replace order K (BTC-USD, manual) with limit_price 94000 on f`, `cancel
/// every manual order of BTC-USD on f`.
pub fn describe_intent(intent: &Intent) -> String {
    match intent {
        Intent::Submit(order) => describe(order),
        Intent::Cancel(m) => format!(
            "cancel order {} ({}, {}) on {}",
            m.change.target.key, m.change.symbol, m.strategy_id, m.fund_id
        ),
        Intent::Replace(m) => format!(
            "replace order {} ({}, {}) with {} on {}",
            m.change.target.key,
            m.change.symbol,
            m.strategy_id,
            m.change.describe(),
            m.fund_id
        ),
        Intent::CancelAll(m) => match &m.change.symbol {
            Some(symbol) => format!(
                "cancel every {} order of {symbol} on {}",
                m.strategy_id, m.fund_id
            ),
            None => format!("cancel every {} order on {}", m.strategy_id, m.fund_id),
        },
    }
}

/// What happened, in a sentence a trader reads. Every reply that accepts an order or a
/// modification prints its key. A malformed command ends with `help`, where the platform has a
/// way to ask for the grammar. `None` for the rejections a chat adapter leaves to SPEC §2's
/// HTTP answer: the request was not shown to come from the platform (or never reached the
/// adapter), so there is no one to tell.
pub fn sentence(decision: &Decision<'_>, help: Option<&str>) -> Option<String> {
    Some(match *decision {
        Decision::Submitted { order, order_id } => format!(
            "{}: submitted (order {}). Key: {}",
            describe(order),
            bounded(order_id),
            order.idempotency_key
        ),
        Decision::Queued { intent, follows } => format!(
            "{}: queued, the OMS has not answered yet; {}. Key: {}",
            describe_intent(intent),
            if follows {
                "the outcome follows here"
            } else {
                match intent.kind() {
                    IntentKind::Cancel | IntentKind::CancelAll => {
                        "it is delivered in order, retried up to delivery.max_cancel_age"
                    }
                    _ => "it is delivered in order and never after delivery.max_order_age",
                }
            },
            intent.idempotency_key()
        ),
        Decision::Cancelled { order, detail } => format!(
            "{}: {}; the OMS never saw it. Key: {}",
            describe(order),
            detail,
            order.idempotency_key
        ),
        Decision::Modified {
            modification,
            order_id,
            detail,
        } => {
            let how = match (detail, order_id) {
                (Some(detail), _) => detail.to_owned(),
                (None, Some(order_id)) => format!("done by the OMS (order {})", bounded(order_id)),
                (None, None) => "done by the OMS".to_owned(),
            };
            format!(
                "{}: {how}. Key: {}",
                describe_intent(modification),
                modification.idempotency_key()
            )
        }
        Decision::Refused { rejection, intent } => {
            let what = intent.map_or_else(|| "Not placed".to_owned(), describe_intent);
            match rejection {
                Rejection::DuplicateIdempotencyKey { key } => match intent.map(Intent::kind) {
                    Some(IntentKind::Submit) | None => {
                        format!("Already received (key {key}): not placed again.")
                    }
                    Some(_) => format!("Already received (key {key}): not sent again."),
                },
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
                Rejection::FundHalted => format!(
                    "{what}: the fund is halted by an operator; nothing was recorded."
                ),
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
    use mts1b_inbound_core::{
        Cancel, CanonicalSymbol, FundId, IdempotencyKey, Modification, StrategyId, Target,
        UnixMillis,
    };

    use super::*;
    use crate::chat::testing::{member, order_request, origin};

    fn order() -> OrderIntent {
        let request = order_request();
        let key = IdempotencyKey::parse("trigger-1").unwrap();
        let member = member();
        let intent = request
            .into_intent(
                origin(&member, mts1b_inbound_core::Grants::none(), &key),
                &Default::default(),
            )
            .unwrap();
        intent.order().unwrap().clone()
    }

    fn cancel() -> Intent {
        let fund = FundId::parse("paper-tv-test").unwrap();
        Intent::Cancel(Modification::new(
            "slack".into(),
            fund.clone(),
            StrategyId::parse("manual").unwrap(),
            IdempotencyKey::parse("trigger-2").unwrap(),
            mts1b_inbound_core::Actor::parse("slack:U1").unwrap(),
            UnixMillis(0),
            Cancel {
                target: Target::of("slack", &fund, IdempotencyKey::parse("trigger-1").unwrap()),
                symbol: CanonicalSymbol::parse("BTC-USD").unwrap(),
            },
        ))
    }

    #[test]
    fn replies_say_what_happened() {
        let order = order();
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
        let submit = Intent::Submit(order.clone());
        assert_eq!(
            sentence(
                &Decision::Refused {
                    rejection: &duplicate,
                    intent: Some(&submit)
                },
                None
            )
            .as_deref(),
            Some("Already received (key trigger-1): not placed again.")
        );
        let not_permitted = sentence(
            &Decision::Refused {
                rejection: &Rejection::NotPermitted,
                intent: None,
            },
            None,
        )
        .unwrap();
        assert!(!not_permitted.contains("paper-tv-test"), "{not_permitted}");
        assert_eq!(
            sentence(
                &Decision::Refused {
                    rejection: &Rejection::Unauthorized,
                    intent: None
                },
                None
            ),
            None
        );
    }

    #[test]
    fn modification_replies_say_what_became_of_the_order() {
        let cancel = cancel();
        let said = |decision: Decision<'_>| sentence(&decision, None).unwrap();
        assert_eq!(
            said(Decision::Modified {
                modification: &cancel,
                order_id: Some("oms-17"),
                detail: None
            }),
            "cancel order trigger-1 (BTC-USD, manual) on paper-tv-test: done by the OMS (order oms-17). Key: trigger-2"
        );
        assert_eq!(
            said(Decision::Modified {
                modification: &cancel,
                order_id: None,
                detail: Some("cancelled before delivery: the OMS never saw the order")
            }),
            "cancel order trigger-1 (BTC-USD, manual) on paper-tv-test: cancelled before delivery: the OMS never saw the order. Key: trigger-2"
        );
        assert!(
            said(Decision::Queued {
                intent: &cancel,
                follows: false
            })
            .contains("retried up to delivery.max_cancel_age")
        );
        let gone = Rejection::TargetNotActive {
            reason: "already filled".into(),
        };
        assert_eq!(
            said(Decision::Refused {
                rejection: &gone,
                intent: Some(&cancel)
            }),
            "cancel order trigger-1 (BTC-USD, manual) on paper-tv-test: the order it changes is not active: already filled"
        );
        let duplicate = Rejection::DuplicateIdempotencyKey {
            key: "trigger-2".into(),
        };
        assert_eq!(
            said(Decision::Refused {
                rejection: &duplicate,
                intent: Some(&cancel)
            }),
            "Already received (key trigger-2): not sent again."
        );
    }
}
