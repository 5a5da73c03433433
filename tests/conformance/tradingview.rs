//! TradingView: a body secret per fund, SPEC §2 answers.

use super::support::Reply;
use super::support::chat::Signed;
use super::{Seen, Source, Who};

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
            200 | 202 => Seen::Accepted(body["key"].as_str().unwrap().to_owned()),
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
