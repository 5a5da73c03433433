//! Slack: a signed slash command form, ephemeral 200 replies after authentication.

use super::support::Reply;
use super::support::chat::{SLACK_SECRET, Signed, slack_form, slack_signed};
use super::{Change, DESK, Seen, Source, Who, seen_in_text};

pub(crate) struct Slack;

impl Source for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn prefix(&self) -> &'static str {
        "slack"
    }

    fn max_body_bytes(&self) -> usize {
        8192
    }

    fn signed_in_headers(&self) -> bool {
        true
    }

    fn order(&self, key: &str, fund: &str, who: Who, at_secs: i64) -> Signed {
        let user = match who {
            Who::Granted => "U0001",
            Who::Colleague => "U0002",
            Who::Stranger => "U0009",
        };
        let text = format!("buy 0.05 BINANCE:BTCUSDT limit 95000 fund={fund}");
        slack_signed(
            SLACK_SECRET,
            &slack_form("T0001", user, key, &text),
            at_secs,
        )
    }

    fn modification(&self, key: &str, change: Change<'_>, at_secs: i64) -> Signed {
        let text = match change {
            Change::Cancel { target } => format!("cancel {target} fund={DESK}"),
            Change::Limit { target, limit } => {
                format!("replace {target} fund={DESK} limit={limit}")
            }
            Change::CancelAll => format!("cancel-all fund={DESK} BINANCE:BTCUSDT"),
        };
        slack_signed(
            SLACK_SECRET,
            &slack_form("T0001", "U0001", key, &text),
            at_secs,
        )
    }

    fn forged(&self, valid: Signed) -> Signed {
        let body = String::from_utf8(valid.body).unwrap();
        let at: i64 = valid.headers[1].1.parse().unwrap();
        slack_signed("not-the-signing-secret", &body, at)
    }

    fn seen(&self, reply: &Reply) -> Seen {
        match reply.status {
            401 => return Seen::Unauthorized,
            413 => return Seen::TooLarge,
            200 => {}
            other => panic!("Slack shows {other} as a bare failure: {}", reply.body),
        }
        let body = reply.json();
        assert_eq!(body["response_type"], "ephemeral", "{body}");
        let text = body["text"].as_str().unwrap();
        seen_in_text(text)
    }

    fn stranger(&self) -> Seen {
        Seen::NotPermitted
    }

    fn has_members(&self) -> bool {
        true
    }
}
