//! The chat fixture corpora: `/order` texts as traders type them in Slack
//! (`fixtures/slack/*.txt`) and `/order` options as Discord sends them
//! (`fixtures/discord/*.json`: an options array, or a whole interaction), each signed as the
//! platform signs and run through the service's own steps (`core::translate`), locked by a
//! snapshot of the order, or of the rejection and the reply the trader reads.
//!
//! Cancels and replaces name their target by key; the bridge's records these fixtures see are
//! [`RECORDED`]: a Slack order keyed `1111.2222.abcd`, a Discord order keyed
//! `1180000000000000050` and a TradingView alert's order keyed `tv-breakout-42`, all of fund
//! `paper-tv-test`. Any other key is one the bridge does not remember.

#[path = "support/chat.rs"]
mod chat;
mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Harness, RECEIVED_AT};
use mts1b_tradingview::adapters::discord::Discord;
use mts1b_tradingview::adapters::slack::Slack;
use mts1b_tradingview::core::time::parse_rfc3339;
use mts1b_tradingview::core::{
    Admission, CanonicalSymbol, ClientOrderId, Decision, FundId, Gates, IdempotencyKey,
    InboundAdapter, InstrumentClass, KnownOrder, KnownOrders, RawRequest, Rejection, Secret,
    StrategyId, Target, Translation, translate,
};
use mts1b_tradingview::runtime::http::status::status_of;
use serde_json::{Value, json};

/// The orders the bridge remembers: (source, key, strategy, symbol), all of `paper-tv-test`.
const RECORDED: [(&str, &str, &str, &str); 3] = [
    ("slack", "1111.2222.abcd", "manual", "BTC-USD"),
    ("discord", "1180000000000000050", "manual", "BTC-USD"),
    ("tradingview", "tv-breakout-42", "tv_breakout_v1", "ETH-USD"),
];

/// No stateful gate, and the bridge's records of [`RECORDED`].
struct Recorded;

impl KnownOrders for Recorded {
    fn known_order(&self, id: &ClientOrderId) -> Option<KnownOrder> {
        let fund = FundId::parse("paper-tv-test").unwrap();
        RECORDED.iter().find_map(|(source, key, strategy, symbol)| {
            let key = IdempotencyKey::parse(key).unwrap();
            (Target::of(source, &fund, key).client_order_id == *id).then(|| KnownOrder {
                strategy_id: StrategyId::parse(strategy).unwrap(),
                symbol: CanonicalSymbol::parse(symbol).unwrap(),
                instrument_class: InstrumentClass::Spot,
            })
        })
    }
}

impl Gates for Recorded {
    type Pass = ();

    fn admit(&mut self, _admission: Admission<'_>) -> Result<(), Rejection> {
        Ok(())
    }

    fn known_orders(&self) -> &dyn KnownOrders {
        self
    }
}

fn received_secs() -> i64 {
    parse_rfc3339(RECEIVED_AT).unwrap().as_millis() / 1000
}

/// The outcome as the snapshot records it: the order, the direct answer, or the rejection with
/// its HTTP status and the reply the adapter renders for it.
fn outcome<A: InboundAdapter>(harness: &Harness, adapter: &A, signed: chat::Signed) -> Value {
    let mut request = RawRequest::with_body(signed.body, parse_rfc3339(RECEIVED_AT).unwrap());
    for (name, value) in &signed.headers {
        request = request.header(name, value.as_bytes());
    }
    match translate(
        adapter,
        &request,
        &harness.secrets,
        &harness.funds,
        &mut Recorded,
    ) {
        Ok(Translation::Order(t)) => json!({"outcome": "accepted", "intent": t.intent}),
        Ok(Translation::Answered(body)) => {
            json!({"outcome": "answered", "reply": serde_json::from_str::<Value>(&body).unwrap()})
        }
        Err(rejection) => {
            let reply = adapter
                .render(&Decision::Refused {
                    rejection: &rejection,
                    intent: None,
                })
                .map(|body| serde_json::from_str::<Value>(&body).unwrap());
            json!({
                "outcome": "rejected",
                "status": status_of(&rejection),
                "error": rejection,
                "reply": reply,
            })
        }
    }
}

fn slack(harness: &Harness) -> Slack {
    let slack = &harness.settings.adapters.slack;
    Slack::new(
        Secret::new(chat::SLACK_SECRET),
        Arc::new(harness.settings.symbology.clone()),
        slack.chat.principals.clone(),
    )
}

fn discord(harness: &Harness) -> Discord {
    Discord::from_hex(chat::DISCORD_PUBLIC_KEY).unwrap().with(
        Arc::new(harness.settings.symbology.clone()),
        harness.settings.adapters.discord.chat.principals.clone(),
    )
}

fn slack_outcome(harness: &Harness, path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let trigger = format!("fixture.{}", path.file_stem().unwrap().to_string_lossy());
    let form = chat::slack_form("T0001", "U0001", &trigger, &text);
    let signed = chat::slack_signed(chat::SLACK_SECRET, &form, received_secs());
    outcome(harness, &slack(harness), signed)
}

fn discord_outcome(harness: &Harness, path: &Path) -> Value {
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = match &fixture {
        // An options array: the `/order` command of a member holding role 300 of guild 100.
        Value::Array(options) => {
            let mut interaction: Value = serde_json::from_str(&chat::discord_command(
                "1180000000000000100",
                "200",
                &["300"],
                &[],
            ))
            .unwrap();
            interaction["data"]["options"] = Value::Array(options.clone());
            interaction.to_string()
        }
        whole => whole.to_string(),
    };
    outcome(
        harness,
        &discord(harness),
        chat::discord_signed(&body, received_secs()),
    )
}

fn fixtures(dir: &str) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(common::fixtures_dir().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_slack_fixture_matches_its_snapshot() {
    let harness = Harness::new();
    insta::glob!("fixtures/slack/*.txt", |path| {
        insta::assert_json_snapshot!(slack_outcome(&harness, path));
    });
}

#[test]
fn every_discord_fixture_matches_its_snapshot() {
    let harness = Harness::new();
    insta::glob!("fixtures/discord/*.json", |path| {
        insta::assert_json_snapshot!(discord_outcome(&harness, path));
    });
}

/// The file name says what the fixture must do; every rejection after the signature is a
/// reply the trader reads, never a bare status.
#[test]
fn chat_fixtures_do_what_their_names_say() {
    let harness = Harness::new();
    let slack_paths = fixtures("slack");
    let discord_paths = fixtures("discord");
    assert!(slack_paths.len() >= 30 && discord_paths.len() >= 20);
    let all = slack_paths
        .iter()
        .map(|p| (p, slack_outcome(&harness, p)))
        .chain(
            discord_paths
                .iter()
                .map(|p| (p, discord_outcome(&harness, p))),
        );
    for (path, outcome) in all {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let error = outcome["error"]["error"].as_str();
        let as_named = match name.split('_').next().unwrap() {
            "accept" => outcome["outcome"] == "accepted",
            "help" | "ping" => outcome["outcome"] == "answered",
            "reject" => matches!(
                error,
                Some("invalid_payload" | "invalid_json" | "unknown_symbol")
            ),
            "denied" => error == Some("not_permitted"),
            "envelope" => error == Some("envelope_denied"),
            other => panic!("fixture {name}: unknown group {other}"),
        };
        assert!(as_named, "{name}: {outcome}");
        if outcome["outcome"] == "rejected" {
            assert!(
                outcome["reply"].is_object(),
                "{name}: the trader is told why: {outcome}"
            );
        }
    }
}
