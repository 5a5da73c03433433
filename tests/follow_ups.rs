//! Follow-ups (SPEC §12): a chat order still queued at `delivery.respond_within` is answered
//! "queued" (Slack) or deferred (Discord type 5), and once the OMS settles it the sender hears
//! the outcome at the platform's address, here a local server standing in for Slack and
//! Discord. The OMS is the simulator, slower than `respond_within`.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::time::Duration;

use mts1b_tradingview::config::{EnvOverrides, load_str};
use serde_json::Value;
use support::chat::{
    SLACK_SECRET, adapters_toml, discord_command, discord_signed, slack_form_to, slack_signed,
};
use support::nats::NatsServer;
use support::stand_in::StandIn;
use support::{T0, TestService, request, temp_dir};

struct Bench {
    service: TestService,
    platform: StandIn,
    _oms: sim::Oms,
}

/// The service, an OMS answering after 400 ms (or refusing `refuse`), and a stand-in for the
/// platforms answering `statuses` first.
async fn bench(statuses: &[u16], refuse: &[&str]) -> Bench {
    let script = sim::Script {
        delay: Duration::from_millis(400),
        refuse_symbols: refuse.iter().map(|s| (*s).to_owned()).collect(),
        ..sim::Script::default()
    };
    bench_on(statuses, script, false).await
}

/// As [`bench`], with the OMS playing `script`, and TradingView alerts taken when `tradingview`.
async fn bench_on(statuses: &[u16], script: sim::Script, tradingview: bool) -> Bench {
    bench_with(statuses, script, tradingview, "").await
}

/// As [`bench_on`], with `more` configuration (the cluster backend's section).
async fn bench_with(statuses: &[u16], script: sim::Script, tradingview: bool, more: &str) -> Bench {
    let oms = sim::start(script).await;
    let platform = StandIn::start(statuses).await;
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"

[funds.desk]
secret = "secret-desk"
max_quantity = "10"

[delivery]
sink = "oms"
respond_within = "100ms"

[delivery.oms]
endpoint = "{oms}"
timeout = "2s"

[store]
path = {data:?}

{network}
[adapters.tradingview]
enabled = {tradingview}

{adapters}
{more}
"#,
        oms = oms.endpoint(),
        tradingview = tradingview,
        // TradingView's alerts come from loopback here, not from TradingView's addresses.
        network = if tradingview { support::LOOPBACK } else { "" },
        data = temp_dir("follow-ups"),
        adapters = adapters_toml(
            r#"["desk"]"#,
            &format!("response_url_prefix = \"{}/commands/\"", platform.base()),
            &format!("api_base = \"{}/api/v10\"", platform.base()),
            "",
        ),
    );
    let settings = load_str(&toml, EnvOverrides::from_vars([])).unwrap();
    Bench {
        service: TestService::start(settings).await,
        platform,
        _oms: oms,
    }
}

fn now_secs() -> i64 {
    T0.as_millis() / 1000
}

async fn slack(b: &Bench, trigger: &str, text: &str, response_url: &str) -> Value {
    let form = slack_form_to("T0001", "U0001", trigger, text, response_url);
    let signed = slack_signed(SLACK_SECRET, &form, now_secs());
    let reply = request(
        b.service.public,
        "POST",
        "/slack/webhook",
        &signed.headers(),
        &signed.body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_slack_order_is_followed_up_at_its_response_url_despite_a_503() {
    let b = bench(&[503], &[]).await;
    let response_url = format!("{}/commands/T0001/1234/abcd", b.platform.base());
    let reply = slack(
        &b,
        "9001",
        "buy 0.05 BINANCE:BTCUSDT limit 95000 fund=desk",
        &response_url,
    )
    .await;
    let text = reply["text"].as_str().unwrap();
    assert_eq!(
        text,
        "buy 0.05 BTC-USD limit 95000 on desk: queued, the OMS has not answered yet; the outcome follows here. Key: 9001"
    );
    // The stand-in refused the first try (503); the second was delivered.
    let received = b.platform.until_received(2).await;
    for r in &received {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/commands/T0001/1234/abcd")
        );
    }
    let message: Value = serde_json::from_str(&received[1].body).unwrap();
    assert_eq!(message["response_type"], "ephemeral");
    assert_eq!(message["replace_original"], false);
    assert_eq!(
        message["text"],
        "buy 0.05 BTC-USD limit 95000 on desk: submitted (order oms-1). Key: 9001"
    );
    // Counted once the POST's answer is read: after the stand-in saw it.
    b.service
        .until_metric("mts1b_follow_ups_total{result=\"sent\"} 1")
        .await;
    b.service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oms_rejection_after_the_answer_is_followed_up_too() {
    let b = bench(&[], &["BTC-USD"]).await;
    let response_url = format!("{}/commands/T0001/1234/abcd", b.platform.base());
    slack(
        &b,
        "9002",
        "sell 1 BINANCE:BTCUSDT market fund=desk",
        &response_url,
    )
    .await;
    let received = b.platform.until_received(1).await;
    let message: Value = serde_json::from_str(&received[0].body).unwrap();
    let text = message["text"].as_str().unwrap();
    assert!(
        text.starts_with("sell 1 BTC-USD market on desk: rejected by the OMS:"),
        "{text}"
    );
    b.service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_url_that_is_not_slacks_gets_no_follow_up() {
    let b = bench(&[], &[]).await;
    let elsewhere = format!("{}/elsewhere/steal", b.platform.base());
    let reply = slack(
        &b,
        "9003",
        "buy 1 BINANCE:BTCUSDT market fund=desk",
        &elsewhere,
    )
    .await;
    let text = reply["text"].as_str().unwrap();
    assert!(
        text.contains("queued") && !text.contains("follows here"),
        "{text}"
    );
    // The order still settles; nothing is posted for it.
    b.service.until_order("desk", "9003", "submitted").await;
    assert!(b.platform.received().is_empty());
    b.service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_discord_order_is_deferred_then_its_reply_edited() {
    let b = bench(&[], &[]).await;
    let interaction = discord_command(
        "1180000000000000009",
        "200",
        &["300"],
        &[
            ("side", "buy"),
            ("quantity", "2"),
            ("symbol", "NASDAQ:AAPL"),
            ("type", "limit"),
            ("limit", "190.5"),
            ("fund", "desk"),
        ],
    );
    let signed = discord_signed(&interaction, now_secs());
    let reply = request(
        b.service.public,
        "POST",
        "/discord/webhook",
        &signed.headers(),
        &signed.body,
    )
    .await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, r#"{"type":5,"data":{"flags":64}}"#)
    );
    let received = b.platform.until_received(1).await;
    assert_eq!(received[0].method, "PATCH");
    assert_eq!(
        received[0].path,
        "/api/v10/webhooks/1170000000000000000/aW50ZXJhY3Rpb24tdG9rZW4/messages/@original"
    );
    let edit: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(
        edit["content"],
        "buy 2 AAPL limit 190.5 on desk: submitted (order oms-1). Key: 1180000000000000009"
    );
    assert_eq!(edit["allowed_mentions"]["parse"], serde_json::json!([]));
    b.service.shutdown().await;
}

/// SPEC §13: a chat order still queued that a TradingView cancel-all of its fund and strategy
/// takes off the queue is never sent, and its sender is told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_chat_order_cancelled_before_delivery_is_told_so() {
    let down = sim::Script {
        unavailable_calls: usize::MAX,
        ..sim::Script::default()
    };
    let b = bench_on(&[], down, true).await;
    let response_url = format!("{}/commands/T0001/1234/abcd", b.platform.base());
    slack(
        &b,
        "9010",
        "buy 0.05 BINANCE:BTCUSDT limit 95000 fund=desk",
        &response_url,
    )
    .await;
    let flat = serde_json::json!({
        "secret": "secret-desk", "fund_id": "desk", "strategy_id": "manual",
        "action": "cancel_all", "idempotency_key": "flat-1",
    });
    let reply = b.service.alert(&flat).await;
    // Still to be sent to the OMS (down): the order it cancelled in the queue is told now.
    assert_eq!(reply.status, 202, "{}", reply.body);
    let received = b.platform.until_received(1).await;
    let message: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(
        message["text"],
        "buy 0.05 BTC-USD limit 95000 on desk: cancelled before delivery by cancel_all flat-1; the OMS never saw it. Key: 9010"
    );
    b.service.shutdown().await;
}

/// SPEC §13 from chat: a cancel the OMS has not answered within `respond_within` is answered
/// "queued", and its sender hears what the OMS did, as for an order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_slack_cancel_is_followed_up_with_what_the_oms_did() {
    let b = bench(&[], &[]).await;
    let response_url = format!("{}/commands/T0001/1234/abcd", b.platform.base());
    slack(
        &b,
        "9020",
        "buy 0.05 BINANCE:BTCUSDT limit 95000 fund=desk",
        &response_url,
    )
    .await;
    b.service.until_order("desk", "9020", "submitted").await;
    // The key the order's reply printed is all the trader types.
    let reply = slack(&b, "9021", "cancel 9020 fund=desk", &response_url).await;
    assert_eq!(
        reply["text"],
        "cancel order 9020 (BTC-USD, manual) on desk: queued, the OMS has not answered yet; the outcome follows here. Key: 9021"
    );
    let received = b.platform.until_received(2).await;
    let texts: Vec<String> = received
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        texts[1],
        "cancel order 9020 (BTC-USD, manual) on desk: done by the OMS (order oms-1). Key: 9021"
    );
    b.service.until_order("desk", "9020", "cancelled").await;
    b.service.shutdown().await;
}

/// A chat cancel of a chat order still queued (the OMS down) takes it off the queue: the cancel
/// is answered at once, and the order's sender is told it was never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_cancel_of_a_queued_order_takes_it_off_the_queue() {
    let down = sim::Script {
        unavailable_calls: usize::MAX,
        ..sim::Script::default()
    };
    let b = bench_on(&[], down, false).await;
    let response_url = format!("{}/commands/T0001/1234/abcd", b.platform.base());
    slack(
        &b,
        "9030",
        "buy 0.05 BINANCE:BTCUSDT limit 95000 fund=desk",
        &response_url,
    )
    .await;
    let reply = slack(&b, "9031", "cancel 9030 fund=desk", &response_url).await;
    assert_eq!(
        reply["text"],
        "cancel order 9030 (BTC-USD, manual) on desk: cancelled before delivery: the OMS never saw the order. Key: 9031"
    );
    let received = b.platform.until_received(1).await;
    let message: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(
        message["text"],
        "buy 0.05 BTC-USD limit 95000 on desk: cancelled before delivery by cancel 9031; the OMS never saw it. Key: 9030"
    );
    b.service.until_order("desk", "9030", "cancelled").await;
    b.service.shutdown().await;
}

/// On the cluster backend (SPEC §14) too, a chat cancel names its order by the key alone: the
/// replica finds the order's strategy and symbol among the orders it saw appended to the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_a_slack_cancel_names_its_order_by_the_key_alone() {
    let nats = NatsServer::start("follow-ups-key");
    let cluster = format!(
        "[cluster]\nbackend = \"nats\"\n\n[cluster.nats]\nservers = [\"{}\"]\nreplicas = 1\n",
        nats.url()
    );
    let script = sim::Script {
        delay: Duration::from_millis(400),
        ..sim::Script::default()
    };
    let b = bench_with(&[], script, false, &cluster).await;
    let response_url = format!("{}/commands/T0001/1234/abcd", b.platform.base());
    slack(
        &b,
        "9040",
        "buy 0.05 BINANCE:BTCUSDT limit 95000 fund=desk",
        &response_url,
    )
    .await;
    b.service.until_order("desk", "9040", "submitted").await;
    let reply = slack(&b, "9041", "cancel 9040 fund=desk", &response_url).await;
    assert_eq!(
        reply["text"],
        "cancel order 9040 (BTC-USD, manual) on desk: queued, the OMS has not answered yet; the outcome follows here. Key: 9041"
    );
    b.service.until_order("desk", "9040", "cancelled").await;
    // An order this replica never saw: the reply asks for what it cannot look up.
    let reply = slack(&b, "9042", "cancel 9999 fund=desk", &response_url).await;
    assert!(
        reply["text"].as_str().unwrap().contains("symbol"),
        "{}",
        reply["text"]
    );
    b.service.shutdown().await;
}
