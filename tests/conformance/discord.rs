//! Discord: a signed `/order` interaction, ephemeral type 4 replies after authentication.

use super::support::Reply;
use super::support::chat::{Signed, discord_signed, discord_subcommand};
use super::{Change, DESK, Seen, Source, Who, seen_in_text};

pub(crate) struct Discord;

impl Source for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn prefix(&self) -> &'static str {
        "discord"
    }

    fn max_body_bytes(&self) -> usize {
        32_768
    }

    fn signed_in_headers(&self) -> bool {
        true
    }

    fn order(&self, key: &str, fund: &str, who: Who, at_secs: i64) -> Signed {
        let (user, roles): (&str, &[&str]) = match who {
            Who::Granted => ("200", &["300"]),
            Who::Colleague => ("201", &["300", "301"]),
            Who::Stranger => ("209", &["301"]),
        };
        let options = [
            ("side", "buy"),
            ("quantity", "0.05"),
            ("symbol", "BINANCE:BTCUSDT"),
            ("type", "limit"),
            ("fund", fund),
            ("limit", "95000"),
        ];
        discord_signed(
            &discord_subcommand(key, user, roles, "place", &options),
            at_secs,
        )
    }

    fn modification(&self, key: &str, change: Change<'_>, at_secs: i64) -> Signed {
        let (subcommand, options): (&str, Vec<(&str, &str)>) = match change {
            Change::Cancel { target } => ("cancel", vec![("key", target), ("fund", DESK)]),
            Change::Limit { target, limit } => (
                "replace",
                vec![("key", target), ("fund", DESK), ("limit", limit)],
            ),
            Change::CancelAll => (
                "cancel-all",
                vec![("fund", DESK), ("symbol", "BINANCE:BTCUSDT")],
            ),
        };
        discord_signed(
            &discord_subcommand(key, "200", &["300"], subcommand, &options),
            at_secs,
        )
    }

    fn forged(&self, valid: Signed) -> Signed {
        let mut forged = valid;
        let signature = &mut forged.headers[2].1;
        let flipped = if signature.starts_with('0') { "1" } else { "0" };
        signature.replace_range(0..1, flipped);
        forged
    }

    fn seen(&self, reply: &Reply) -> Seen {
        match reply.status {
            401 => return Seen::Unauthorized,
            413 => return Seen::TooLarge,
            200 => {}
            other => panic!(
                "Discord shows {other} as a failed interaction: {}",
                reply.body
            ),
        }
        let body = reply.json();
        assert_eq!(body["type"], 4, "{body}");
        assert_eq!(body["data"]["flags"], 64, "ephemeral: {body}");
        let text = body["data"]["content"].as_str().unwrap();
        seen_in_text(text)
    }

    fn stranger(&self) -> Seen {
        Seen::NotPermitted
    }

    fn has_members(&self) -> bool {
        true
    }
}
