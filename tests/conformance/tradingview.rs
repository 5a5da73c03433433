//! TradingView: a body secret per fund, SPEC §2 answers.

use super::support::Reply;
use super::support::chat::Signed;
use super::{Change, DESK, Seen, Source, Who};

pub(crate) struct TradingView;

impl Source for TradingView {
    fn name(&self) -> &'static str {
        "tradingview"
    }

    fn prefix(&self) -> &'static str {
        "tv"
    }

    fn max_body_bytes(&self) -> usize {
        4096
    }

    fn signed_in_headers(&self) -> bool {
        false
    }

    fn order(&self, key: &str, fund: &str, who: Who, _at_secs: i64) -> Signed {
        let secret = match who {
            Who::Granted | Who::Colleague => format!("secret-{fund}"),
            Who::Stranger => "not-the-secret".to_owned(),
        };
        let body = serde_json::json!({
            "secret": secret, "strategy_id": "manual", "fund_id": fund,
            "symbol": "BINANCE:BTCUSDT", "side": "buy", "quantity": "0.05",
            "order_type": "limit", "limit_price": "95000", "idempotency_key": key,
        });
        Signed {
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn modification(&self, key: &str, change: Change<'_>, _at_secs: i64) -> Signed {
        let mut body = serde_json::json!({
            "secret": format!("secret-{DESK}"), "strategy_id": "manual", "fund_id": DESK,
            "symbol": "BINANCE:BTCUSDT", "idempotency_key": key,
        });
        match change {
            Change::Cancel { target } => {
                body["action"] = "cancel".into();
                body["target_key"] = target.into();
            }
            Change::Limit { target, limit } => {
                body["action"] = "replace".into();
                body["target_key"] = target.into();
                body["limit_price"] = limit.into();
            }
            Change::CancelAll => body["action"] = "cancel_all".into(),
        }
        Signed {
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn forged(&self, valid: Signed) -> Signed {
        let mut body: serde_json::Value = serde_json::from_slice(&valid.body).unwrap();
        body["secret"] = "forged".into();
        Signed {
            headers: valid.headers,
            body: body.to_string().into_bytes(),
        }
    }

    fn seen(&self, reply: &Reply) -> Seen {
        let body = reply.json();
        match reply.status {
            200 if ["cancelled", "replaced", "cancelled_all"]
                .contains(&body["status"].as_str().unwrap()) =>
            {
                Seen::Modified(body["key"].as_str().unwrap().to_owned())
            }
            200 | 202 => Seen::Accepted(body["key"].as_str().unwrap().to_owned()),
            422 if body["error"] == "target_not_active" => {
                Seen::NotActive(body["reason"].as_str().unwrap().to_owned())
            }
            409 => Seen::Duplicate,
            429 => {
                assert!(reply.header("retry-after").is_some());
                Seen::RateLimited
            }
            401 => Seen::Unauthorized,
            413 => Seen::TooLarge,
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }

    fn stranger(&self) -> Seen {
        Seen::Unauthorized
    }

    fn has_members(&self) -> bool {
        false
    }
}
