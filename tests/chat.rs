//! Slack and Discord against the real binary (SPEC §12): a signed `/order` slash command and a
//! signed `/order` interaction each reach the OMS simulator as one order, with the platform's
//! reply; a Discord PING is answered `{"type":1}`; `/order help` answers the grammar.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::path::Path;

use mts1b_tradingview::core::{ClientOrderId, FundId, IdempotencyKey};
use support::chat::{
    SLACK_SECRET, Signed, adapters_toml, discord_command, discord_ping, discord_signed, slack_form,
    slack_signed,
};
use support::process::{bin, serve};
use support::{Reply, request, temp_dir};

fn config(dir: &Path, oms: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[funds.paper-tv-test]
secret = "unused-by-chat"
max_quantity = "1"

[delivery]
sink = "oms"

[delivery.oms]
endpoint = "{oms}"

[store]
path = {data:?}

{adapters}
"#,
            data = dir.join("data"),
            adapters = adapters_toml(r#"["paper-tv-test"]"#, "", "", ""),
        ),
    )
    .unwrap();
    path
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn post(addr: std::net::SocketAddr, path: &str, req: &Signed) -> Reply {
    request(addr, "POST", path, &req.headers(), &req.body).await
}

fn id(adapter: &str, key: &str) -> String {
    ClientOrderId::derive(
        adapter,
        &FundId::parse("paper-tv-test").unwrap(),
        &IdempotencyKey::parse(key).unwrap(),
    )
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_discord_orders_reach_the_oms_through_the_binary() {
    let oms = sim::start(sim::Script::default()).await;
    let dir = temp_dir("chat");
    let config = config(&dir, &oms.endpoint());
    let running = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
    let public = running.public;

    // Slack: help, then an order.
    let help = slack_form("T0001", "U0001", "111.222.help", "help");
    let reply = post(
        public,
        "/slack/webhook",
        &slack_signed(SLACK_SECRET, &help, now_secs()),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.json()["text"]
            .as_str()
            .unwrap()
            .contains("/order SIDE QUANTITY")
    );
    let trigger = "13345224609.738474920.8088930838d88f008e0";
    let form = slack_form(
        "T0001",
        "U0001",
        trigger,
        "buy 0.05 BINANCE:BTCUSDT limit 95000 fund=paper-tv-test tif=gtc thesis=“breakout retest”",
    );
    let reply = post(
        public,
        "/slack/webhook",
        &slack_signed(SLACK_SECRET, &form, now_secs()),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["response_type"], "ephemeral");
    let slack_id = id("slack", trigger);
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("buy 0.05 BTC-USD limit 95000 on paper-tv-test: submitted (order oms-1)"),
        "{text}"
    );
    assert!(text.ends_with(&format!("Key: {trigger}")), "{text}");
    assert_eq!(oms.accepted_ids(), std::slice::from_ref(&slack_id));

    // Discord: PING, then an order.
    let ping = post(
        public,
        "/discord/webhook",
        &discord_signed(&discord_ping("1180000000000000001"), now_secs()),
    )
    .await;
    assert_eq!((ping.status, ping.body.as_str()), (200, r#"{"type":1}"#));
    let interaction = discord_command(
        "1180000000000000002",
        "200",
        &["300"],
        &[
            ("side", "sell"),
            ("quantity", "0.5"),
            ("symbol", "BYBIT:BTCUSDT.P"),
            ("type", "market"),
            ("fund", "paper-tv-test"),
        ],
    );
    let reply = post(
        public,
        "/discord/webhook",
        &discord_signed(&interaction, now_secs()),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(
        (body["type"].as_u64(), body["data"]["flags"].as_u64()),
        (Some(4), Some(64))
    );
    let content = body["data"]["content"].as_str().unwrap();
    assert!(
        content
            .starts_with("sell 0.5 BTC-USDT-PERP market on paper-tv-test: submitted (order oms-2)"),
        "{content}"
    );
    let discord_id = id("discord", "1180000000000000002");
    assert_eq!(oms.accepted_ids(), [slack_id, discord_id]);
    let accepted = oms.state.lock().unwrap().accepted.clone();
    assert_eq!(
        (
            accepted[0].source.as_str(),
            accepted[0].actor.as_str(),
            accepted[0].thesis.as_str()
        ),
        ("slack", "slack:U0001", "breakout retest")
    );
    assert_eq!(
        (accepted[1].source.as_str(), accepted[1].actor.as_str()),
        ("discord", "discord:200")
    );

    // Discord probes new endpoints with bad signatures: each is 401.
    let mut probe = discord_signed(&discord_ping("1180000000000000003"), now_secs());
    probe.headers[2].1 = "00".repeat(64);
    assert_eq!(post(public, "/discord/webhook", &probe).await.status, 401);
    assert_eq!(oms.calls(), 2);
}
