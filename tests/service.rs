//! The webhook service over real sockets: every row of the SPEC §2 answer table and every gate
//! of SPEC §6. Time is a manual clock, never a sleep.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn accepted_then_duplicate_then_free_after_the_window() {
    let s = TestService::start(settings(LOOPBACK)).await;
    let first = s.alert(&alert("k-1")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let body = first.json();
    assert_eq!(body["status"], "submitted");
    assert_eq!(body["key"], "k-1");
    let client_order_id = body["client_order_id"].as_str().unwrap().to_owned();
    assert_eq!(body["order_id"], format!("paper-{client_order_id}"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert!(
        s.journal().contains(&client_order_id),
        "journaled before the answer"
    );

    // The /webhook alias is the same adapter, and the same window.
    let again = s.post("/webhook", &alert("k-1").to_string()).await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.json(),
        json!({"error": "duplicate_idempotency_key", "key": "k-1"})
    );

    s.clock.advance(299_999);
    assert_eq!(s.alert(&alert("k-1")).await.status, 409);
    s.clock.advance(1);
    // After the window the bridge accepts the key again (the rate limit refilled meanwhile); the
    // OMS, here the paper one, dedupes on the client order id: same order, journaled once.
    let again = s.alert(&alert("k-1")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["order_id"], body["order_id"]);
    assert_eq!(s.journal().lines().count(), 1);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_identical_alerts_make_exactly_one_order() {
    let mut config = settings(LOOPBACK);
    for fund in config.funds.values_mut() {
        fund.policy.rate_limit.burst = 100;
    }
    let s = TestService::start(config).await;
    let body = alert("same-key").to_string();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(40));
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (public, body, start) = (s.public, body.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                request(public, "POST", "/tradingview/webhook", &[], body.as_bytes())
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        39,
        "{statuses:?}"
    );
    assert_eq!(s.journal().lines().count(), 1);
    s.shutdown().await;
}

#[tokio::test]
async fn every_rejection_row_of_the_answer_table() {
    let s = TestService::start(settings(LOOPBACK)).await;
    let cases = [
        (
            s.post("/webhook", "{\"secret\":").await,
            400,
            json!({"error": "invalid_json"}),
        ),
        (
            s.post("/webhook", "[1,2]").await,
            400,
            json!({"error": "invalid_json"}),
        ),
        (
            s.alert(&with(alert("a"), "side", json!("long"))).await,
            400,
            json!({"error": "invalid_payload", "field": "side"}),
        ),
        (
            s.alert(&with(alert("b"), "symbol", json!("OANDA:SPX500USD")))
                .await,
            422,
            json!({"error": "unknown_symbol", "symbol": "OANDA:SPX500USD",
                   "detail": "SPX500USD is not a six-letter currency pair: CFDs and indices are not mapped; trade the future (e.g. CME_MINI:ES1!) or add an override"}),
        ),
        (
            s.alert(&with(alert("c"), "quantity", json!("11"))).await,
            422,
            json!({"error": "envelope_denied"}),
        ),
        (
            s.alert(&with(alert("d"), "secret", json!("wrong"))).await,
            401,
            json!({"error": "unauthorized"}),
        ),
        (
            s.alert(&with(alert("e"), "fund_id", json!("no-such-fund")))
                .await,
            401,
            json!({"error": "unauthorized"}),
        ),
    ];
    for (reply, status, expected) in cases {
        assert_eq!(reply.status, status, "{}", reply.body);
        let body = reply.json();
        for (k, v) in expected.as_object().unwrap() {
            assert_eq!(&body[k], v, "{}", reply.body);
        }
    }
    // Stale: fund-b allows 30 s.
    let stale = json!({
        "secret": "secret-b", "strategy_id": "s", "fund_id": "fund-b", "symbol": "BTC-USD",
        "side": "sell", "quantity": "0.1", "order_type": "market", "idempotency_key": "old",
        "alert_time": "2024-03-01T12:34:20Z"
    });
    let reply = s.alert(&stale).await;
    assert_eq!(
        (reply.status, reply.json()),
        (422, json!({"error": "stale_alert", "age_ms": 40000}))
    );
    // Wrong secret and unknown fund are indistinguishable.
    let a = s.alert(&with(alert("f"), "secret", json!("nope"))).await;
    let b = s.alert(&with(alert("f"), "fund_id", json!("zzz"))).await;
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    // A rejected alert's key stays free: fixing the alert and resending works.
    assert_eq!(s.alert(&alert("c")).await.status, 200);
    assert!(!s.journal().contains("\"idempotency_key\":\"a\""));
    s.shutdown().await;
}

#[tokio::test]
async fn routes_methods_and_admin_endpoints() {
    let s = TestService::start(settings(LOOPBACK)).await;
    let r = request(s.public, "GET", "/tradingview/webhook", &[], b"").await;
    assert_eq!(
        (r.status, r.json()),
        (405, json!({"error": "method_not_allowed"}))
    );
    assert_eq!(r.header("allow"), Some("POST"));
    let r = request(s.public, "POST", "/nowhere", &[], b"{}").await;
    assert_eq!((r.status, r.json()), (404, json!({"error": "not_found"})));
    // Slack and Discord are not enabled by default: their routes do not exist.
    assert_eq!(s.post("/slack/webhook", "{}").await.status, 404);
    assert_eq!(s.post("/discord/webhook", "{}").await.status, 404);
    assert_eq!(
        s.admin_get("/healthz").await.json(),
        json!({"status": "ok"})
    );
    assert_eq!(
        s.admin_get("/readyz").await.json(),
        json!({"ready": true, "reasons": []})
    );
    assert_eq!(s.admin_get("/nope").await.status, 404);
    assert_eq!(
        request(s.admin, "POST", "/metrics", &[], b"").await.status,
        405
    );
    // The admin listener is not the public one.
    assert_eq!(
        request(s.admin, "POST", "/webhook", &[], b"{}")
            .await
            .status,
        404
    );
    s.shutdown().await;
}

#[tokio::test]
async fn content_type_is_not_trusted() {
    let s = TestService::start(settings(LOOPBACK)).await;
    for (i, content_type) in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "image/png",
    ]
    .into_iter()
    .enumerate()
    {
        let body = alert(&format!("ct-{i}")).to_string();
        let r = request(
            s.public,
            "POST",
            "/webhook",
            &[("content-type", content_type)],
            body.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{content_type}: {}", r.body);
    }
    s.shutdown().await;
}

#[tokio::test]
async fn the_body_cap_answers_413_without_reading_and_counts_chunked_bodies() {
    let s = TestService::start(settings(LOOPBACK)).await;
    // Declared too large: answered before a single body byte is sent.
    let mut stream = send_raw(
        s.public,
        b"POST /webhook HTTP/1.1\r\nhost: t\r\ncontent-length: 4097\r\n\r\n",
    )
    .await;
    let r = read_reply(&mut stream).await.unwrap();
    assert_eq!(
        (r.status, r.json()),
        (
            413,
            json!({"error": "payload_too_large", "limit_bytes": 4096})
        )
    );

    // Chunked, no declared length: counted as it streams.
    let mut stream = send_raw(
        s.public,
        b"POST /webhook HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n",
    )
    .await;
    let chunk = format!("{:x}\r\n{}\r\n", 1000, "x".repeat(1000));
    for _ in 0..5 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let r = read_reply(&mut stream).await.unwrap();
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (413, Some("payload_too_large"))
    );

    // Exactly at the cap is fine (it is the JSON that is then wrong).
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(4096 - 10));
    assert_eq!(body.len(), 4096);
    assert_eq!(s.post("/webhook", &body).await.status, 400);
    s.shutdown().await;
}

/// POSTs `body` to /webhook with an `X-Forwarded-For` header.
async fn forwarded(addr: std::net::SocketAddr, xff: &str, body: &[u8]) -> Reply {
    request(addr, "POST", "/webhook", &[("x-forwarded-for", xff)], body).await
}

#[tokio::test]
async fn source_addresses_and_forwarded_for() {
    // Loopback is not allowed here: only TradingView's addresses, through a trusted proxy.
    let s = TestService::start(settings(
        "[network]\nip_allowlist = [\"52.89.214.238\"]\ntrusted_proxies = [\"127.0.0.1\"]\n",
    ))
    .await;
    let body = alert("src-1").to_string();
    let direct = forwarded(s.public, "52.89.214.238", body.as_bytes()).await;
    assert_eq!(
        direct.status, 200,
        "the trusted proxy forwards a TradingView address: {}",
        direct.body
    );
    let spoofed = forwarded(
        s.public,
        "52.89.214.238, 198.51.100.7",
        alert("src-2").to_string().as_bytes(),
    )
    .await;
    assert_eq!(
        (spoofed.status, spoofed.json()),
        (403, json!({"error": "forbidden"}))
    );
    let bare = s.post("/webhook", &alert("src-3").to_string()).await;
    assert_eq!(
        bare.status, 403,
        "the proxy itself is not an allowed caller"
    );
    s.shutdown().await;

    // Without trusted proxies the header is ignored: loopback is then neither an allowed caller
    // nor a proxy, and its connection is closed at accept, before a byte of HTTP is read.
    let s = TestService::start(settings("[network]\nip_allowlist = [\"52.89.214.238\"]\n")).await;
    let headers = [("x-forwarded-for", "52.89.214.238")];
    let r = try_request(s.public, "POST", "/webhook", &headers, body.as_bytes()).await;
    assert!(r.is_none(), "answered instead of closed: {r:?}");
    assert_eq!(s.journal(), "");
    s.shutdown().await;
}

/// POSTs `body` to /webhook with `x-forwarded-for: <xff>` written as raw bytes.
async fn forwarded_raw(addr: std::net::SocketAddr, xff: &[u8], body: &str) -> Reply {
    let mut head = format!(
        "POST /webhook HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\nx-forwarded-for: ",
        body.len()
    )
    .into_bytes();
    head.extend_from_slice(xff);
    head.extend_from_slice(b"\r\n\r\n");
    head.extend_from_slice(body.as_bytes());
    let mut stream = send_raw(addr, &head).await;
    read_reply(&mut stream).await.expect("an answer")
}

#[tokio::test]
async fn an_unreadable_forwarded_hop_is_refused_not_skipped() {
    // The proxy's own address would be allowed: judging it instead of the caller is the hole.
    let s = TestService::start(settings(
        "[network]\nip_allowlist = [\"127.0.0.1\", \"52.89.214.238\"]\ntrusted_proxies = [\"127.0.0.1\"]\n",
    ))
    .await;
    let plain = forwarded_raw(s.public, b"6.6.6.6", &alert("xff-1").to_string()).await;
    assert_eq!(plain.status, 403, "{}", plain.body);
    let mangled = forwarded_raw(s.public, b"6.6.6.6\xff", &alert("xff-2").to_string()).await;
    assert_eq!(
        (mangled.status, mangled.json()),
        (403, json!({"error": "forbidden"}))
    );
    let allowed = forwarded_raw(s.public, b"52.89.214.238", &alert("xff-3").to_string()).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(
        s.journal().lines().count(),
        1,
        "only the allowed caller's order"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn rate_limits_count_only_genuine_alerts_and_say_when_to_retry() {
    let s = TestService::start(settings(LOOPBACK)).await;
    // A flood of forged alerts for fund-a spends none of its budget.
    for i in 0..50 {
        let forged = with(alert(&format!("forged-{i}")), "secret", json!("guess"));
        assert_eq!(s.alert(&forged).await.status, 401);
    }
    for i in 0..3 {
        assert_eq!(
            s.alert(&alert(&format!("rl-{i}"))).await.status,
            200,
            "burst of 3"
        );
    }
    let limited = s.alert(&alert("rl-3")).await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.json(),
        json!({"error": "rate_limited", "retry_after_ms": 1000})
    );
    assert_eq!(limited.header("retry-after"), Some("1"));
    // fund-b has its own budget.
    let b = json!({"secret": "secret-b", "strategy_id": "s", "fund_id": "fund-b", "symbol": "BTC-USD",
        "side": "buy", "quantity": "0.1", "order_type": "market", "idempotency_key": "b-1",
        "alert_time": "2024-03-01T12:34:59Z"});
    assert_eq!(s.alert(&b).await.status, 200);
    // A throttled alert was not recorded: resent after the wait, it is accepted.
    s.clock.advance(1000);
    assert_eq!(s.alert(&alert("rl-3")).await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_funds_add_no_metric_labels_and_secrets_never_show() {
    let s = TestService::start(settings(LOOPBACK)).await;
    for i in 0..200 {
        let forged = with(
            with(
                alert(&format!("m-{i}")),
                "fund_id",
                json!(format!("fund-{i:04x}-x")),
            ),
            "secret",
            json!("secret-a"),
        );
        assert_eq!(s.alert(&forged).await.status, 401);
    }
    assert_eq!(s.alert(&alert("m-ok")).await.status, 200);
    let metrics = s.admin_get("/metrics").await.body;
    let funds: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("tv_webhooks_total{"))
        .filter_map(|l| l.split("fund_id=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(funds, BTreeSet::from(["fund-a", "unknown"]), "{metrics}");
    assert!(
        metrics.contains(
            "tv_webhooks_total{fund_id=\"unknown\",intent=\"unknown\",outcome=\"rejected\"} 200"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("tv_webhook_latency_seconds_bucket"));
    assert!(metrics.contains("tv_orders_submitted_total 1"));
    assert!(!metrics.contains("secret-a") && !metrics.contains("secret-b"));
    s.shutdown().await;
}

#[tokio::test]
async fn slow_clients_are_cut_by_the_deadlines() {
    let s = TestService::start(settings(LOOPBACK)).await;
    let deadline = s.settings.server.header_timeout.0;
    assert_eq!(deadline, s.settings.server.body_timeout.0);
    // Headers that never finish: cut at the header deadline, not before.
    let since = tokio::time::Instant::now();
    let mut slow_headers = send_raw(s.public, b"POST /webhook HTTP/1.1\r\nhost: t\r\n").await;
    let cut = closed_after(&mut slow_headers, since, Duration::from_secs(5)).await;
    assert!(
        cut.is_some_and(|after| after >= deadline),
        "slow headers: {cut:?}"
    );
    // A body that stalls: cut at the body deadline, not before.
    let since = tokio::time::Instant::now();
    let mut slow_body = send_raw(
        s.public,
        b"POST /webhook HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n{\"secret\"",
    )
    .await;
    let cut = closed_after(&mut slow_body, since, Duration::from_secs(5)).await;
    assert!(
        cut.is_some_and(|after| after >= deadline),
        "stalled body: {cut:?}"
    );
    // The service is still fine.
    assert_eq!(s.alert(&alert("after-slow")).await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn over_max_in_flight_is_shed_with_503_and_nothing_recorded() {
    let mut config = settings(LOOPBACK);
    config.server.max_in_flight = 1;
    config.server.body_timeout = mts1b_tradingview::config::HumanDuration(Duration::from_secs(30));
    let s = TestService::start(config).await;
    // One request holds the only slot: headers sent, body pending.
    let holder = send_raw(
        s.public,
        b"POST /webhook HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n{",
    )
    .await;
    s.until_in_flight(1).await;
    let shed = s.alert(&alert("shed")).await;
    assert_eq!(
        (shed.status, shed.json()),
        (503, json!({"error": "unavailable"}))
    );
    assert_eq!(shed.header("retry-after"), Some("1"));
    let metrics = s.admin_get("/metrics").await.body;
    assert!(
        metrics.contains("mts1b_inbound_requests_in_flight 1"),
        "{metrics}"
    );
    drop(holder);
    assert!(!s.journal().contains("\"shed\""));
    // Once the slot is free again, the same alert is accepted: the 503 recorded nothing.
    s.until_in_flight(0).await;
    assert_eq!(s.alert(&alert("shed")).await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let s = TestService::start(settings(LOOPBACK)).await;
    let mut stream = TcpStream::connect(s.public).await.unwrap();
    for i in 0..3 {
        let body = alert(&format!("ka-{i}")).to_string();
        let head = format!(
            "POST /webhook HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let r = read_reply(&mut stream)
            .await
            .expect("answer on the same connection");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_drains_a_request_in_flight() {
    let mut config = settings(LOOPBACK);
    config.server.body_timeout = mts1b_tradingview::config::HumanDuration(Duration::from_secs(30));
    let s = TestService::start(config).await;
    let body = alert("drain").to_string();
    let mut stream = TcpStream::connect(s.public).await.unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    // The request is being served before shutdown starts.
    s.until_in_flight(1).await;
    let public = s.public;
    let stopping = tokio::spawn(s.shutdown());
    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let r = read_reply(&mut stream)
        .await
        .expect("the in-flight request is answered");
    assert_eq!(r.status, 200, "{}", r.body);
    stopping.await.unwrap();
    assert!(
        TcpStream::connect(public).await.is_err(),
        "no new connections after shutdown"
    );
}

#[tokio::test]
async fn oversized_headers_are_refused_and_the_service_carries_on() {
    let s = TestService::start(settings(LOOPBACK)).await;
    let huge = format!(
        "POST /webhook HTTP/1.1\r\nhost: t\r\nx-pad: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut stream = TcpStream::connect(s.public).await.unwrap();
    // The server may stop reading and close before all of it is written.
    let _ = stream.write_all(huge.as_bytes()).await;
    match read_reply(&mut stream).await {
        None => {}
        Some(reply) => assert_eq!(reply.status, 431, "{}", reply.body),
    }
    assert_eq!(s.alert(&alert("after-huge")).await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served_too() {
    use http_body_util::{BodyExt, Full};
    let s = TestService::start(settings(LOOPBACK)).await;
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(s.public).await.unwrap());
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    tokio::spawn(connection);
    for i in 0..2 {
        let request = hyper::Request::post("http://test/tradingview/webhook")
            .body(Full::new(bytes::Bytes::from(
                alert(&format!("h2-{i}")).to_string(),
            )))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["status"],
            "submitted"
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_rotated_secret_is_accepted_until_its_fixed_end_and_counted() {
    use mts1b_tradingview::core::{FundId, Secret, UnixMillis};
    let mut config = settings(LOOPBACK);
    let until = UnixMillis(T0.0 + 3_600_000);
    let fund = config
        .funds
        .get_mut(&FundId::parse("fund-a").unwrap())
        .unwrap();
    fund.previous_secret = Some(std::sync::Arc::new(Secret::new("old-a")));
    fund.previous_secret_until = Some(until);
    let s = TestService::start(config.clone()).await;
    let old = |key: &str| with(alert(key), "secret", json!("old-a"));
    assert_eq!(s.alert(&old("rot-1")).await.status, 200);
    assert_eq!(s.alert(&alert("rot-2")).await.status, 200);
    let metrics = s.admin_get("/metrics").await.body;
    assert!(
        metrics.contains("tv_webhook_old_secret_total{fund_id=\"fund-a\"} 1"),
        "{metrics}"
    );
    // At the fixed end the old secret is refused, the current one still accepted.
    s.clock.set(until);
    assert_eq!(s.alert(&old("rot-3")).await.status, 401);
    assert_eq!(s.alert(&alert("rot-4")).await.status, 200);
    s.shutdown().await;
    // A restart does not extend it: the end is a time, not a duration from start.
    config.store.path = temp_dir("rotated-restart");
    let s = TestService::start(config).await;
    s.clock.set(until);
    assert_eq!(s.alert(&old("rot-5")).await.status, 401);
    s.shutdown().await;
}
