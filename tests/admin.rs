//! The admin listener's page, password and kill switch (SPEC §15), over real sockets: HTTP
//! Basic with `server.admin_token`, the per-fund kill switch from the configuration and from
//! the page (CSRF token, cross-site refusal, kept across a restart), and the recent alerts
//! with their reasons, filtered and escaped. `admin_browser.rs` loads the same page in Chromium.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::time::Duration;

use base64::Engine;
use mts1b_tradingview::config::HumanDuration;
use mts1b_tradingview::config::settings::Sink;
use mts1b_tradingview::config::{EnvOverrides, load_str};
use mts1b_tradingview::core::{Envelope, FundId, FundMap, Quantity};
use serde_json::json;
use support::nats::NatsServer;
use support::{LOOPBACK, Reply, TestService, alert, request, with};

const TOKEN: &str = "correct-horse-battery-staple";

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn admin(
    svc: &TestService,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    request(svc.admin, method, path, headers, body.as_bytes()).await
}

/// The CSRF token in the page's forms.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    page[at..at + 64].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_admin_route_but_healthz_needs_basic_with_it() {
    let mut settings = support::settings(LOOPBACK);
    settings.server.admin_token = Some(std::sync::Arc::new(mts1b_tradingview::core::Secret::new(
        TOKEN,
    )));
    let svc = TestService::start(settings).await;
    for path in ["/", "/metrics", "/readyz", "/orders/fund-a/k"] {
        let open = admin(&svc, "GET", path, &[], "").await;
        assert_eq!(open.status, 401, "{path}");
        assert_eq!(
            open.header("www-authenticate"),
            Some(r#"Basic realm="mts1b-tradingview admin", charset="UTF-8""#)
        );
        let wrong = basic("admin", "correct-horse-battery-stapl");
        assert_eq!(
            admin(&svc, "GET", path, &[("authorization", &wrong)], "")
                .await
                .status,
            401,
            "{path}"
        );
        let right = basic("anyone", TOKEN);
        let reply = admin(&svc, "GET", path, &[("authorization", &right)], "").await;
        assert!(
            matches!(reply.status, 200 | 404),
            "{path}: {}",
            reply.status
        );
    }
    assert_eq!(admin(&svc, "GET", "/healthz", &[], "").await.status, 200);
    // Never in a query string.
    let query = format!("/metrics?token={TOKEN}");
    assert_eq!(admin(&svc, "GET", &query, &[], "").await.status, 401);
    svc.shutdown().await;
}

#[test]
fn off_loopback_the_admin_listener_needs_a_token_of_some_length() {
    let error = |toml: &str| {
        load_str(toml, EnvOverrides::from_vars([]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let text = error("[server]\nadmin_listen = \"0.0.0.0:9090\"\n");
    assert!(
        text.contains(
            "server.admin_token: required when server.admin_listen is not a loopback address"
        ),
        "{text}"
    );
    let text = error("[server]\nadmin_listen = \"0.0.0.0:9090\"\nadmin_token = \"short\"\n");
    assert!(
        text.contains("server.admin_token: must be 16 to 256 characters"),
        "{text}"
    );
    assert_eq!(
        error(&format!(
            "[server]\nadmin_listen = \"0.0.0.0:9090\"\nadmin_token = \"{TOKEN}\"\n"
        )),
        ""
    );
    let shown = mts1b_tradingview::config::load_str(
        &format!("[server]\nadmin_token = \"{TOKEN}\"\n"),
        EnvOverrides::from_vars([]),
    )
    .unwrap();
    let printed = serde_json::to_string(&shown).unwrap();
    assert!(!printed.contains(TOKEN) && printed.contains("[redacted]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fund_halted_in_the_configuration_records_nothing_and_its_cancels_pass() {
    let svc = TestService::start(support::settings(&format!(
        "{LOOPBACK}\n[funds.fund-c]\nsecret = \"secret-c\"\nmax_quantity = \"1\"\nhalted = true\n"
    )))
    .await;
    let halted = with(
        with(alert("h-1"), "fund_id", json!("fund-c")),
        "secret",
        json!("secret-c"),
    );
    let reply = svc.alert(&halted).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.json(), json!({"error": "fund_halted"}));
    assert_eq!(svc.journal(), "", "nothing reached the OMS");
    assert_eq!(
        svc.order("fund-c", "h-1").await.status,
        404,
        "nothing recorded"
    );
    // The same key once the fund trades again is not a duplicate: nothing claimed it.
    // A cancel passes the kill switch (it reaches the store, which knows no such order).
    let cancel = with(
        with(
            with(halted.clone(), "action", json!("cancel")),
            "idempotency_key",
            json!("h-2"),
        ),
        "target_key",
        json!("h-1"),
    );
    let cancel = with(
        with(with(cancel, "side", json!(null)), "quantity", json!(null)),
        "order_type",
        json!(null),
    );
    let reply = svc.alert(&cancel).await;
    assert_ne!(reply.json()["error"], "fund_halted", "{}", reply.body);
    // Another fund is not affected.
    assert_eq!(svc.alert(&alert("a-1")).await.status, 200);
    let page = admin(&svc, "GET", "/", &[], "").await.body;
    assert!(
        page.contains("halted</span> by the configuration"),
        "{page}"
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_kill_switch_needs_its_token_and_outlives_a_restart() {
    let settings = support::settings(LOOPBACK);
    let svc = TestService::start(settings.clone()).await;
    let page = admin(&svc, "GET", "/", &[], "").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csrf = csrf_of(&page.body);
    let form = [("content-type", "application/x-www-form-urlencoded")];

    let forged = admin(&svc, "POST", "/funds/fund-a/halt", &form, "csrf=0000").await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("token is missing or stale"));
    let no_token = admin(&svc, "POST", "/funds/fund-a/halt", &form, "").await;
    assert_eq!(no_token.status, 403);
    let cross_site = [form[0], ("sec-fetch-site", "cross-site")];
    let body = format!("csrf={csrf}");
    assert_eq!(
        admin(&svc, "POST", "/funds/fund-a/halt", &cross_site, &body)
            .await
            .status,
        403
    );
    assert_eq!(
        svc.alert(&alert("before")).await.status,
        200,
        "no refused form halted it"
    );

    let halted = admin(&svc, "POST", "/funds/fund-a/halt", &form, &body).await;
    assert_eq!(halted.status, 303);
    assert_eq!(halted.header("location"), Some("/"));
    assert_eq!(
        svc.alert(&alert("during")).await.json()["error"],
        "fund_halted"
    );
    assert_eq!(
        admin(&svc, "POST", "/funds/nobody/halt", &form, &body)
            .await
            .status,
        409
    );
    svc.shutdown().await;

    // A restart keeps the halt: the file the page wrote in the store's folder is read at start
    // (copied to a fresh folder: this process's workers still hold the first store's lock).
    // A new process has a new token.
    let mut settings = settings;
    let folder = support::temp_dir("admin-restart");
    std::fs::copy(
        settings.store.path.join("halts.json"),
        folder.join("halts.json"),
    )
    .unwrap();
    settings.store.path = folder;
    let svc = TestService::start(settings).await;
    assert_eq!(
        svc.alert(&alert("after-restart")).await.json()["error"],
        "fund_halted"
    );
    let page = admin(&svc, "GET", "/", &[], "").await.body;
    assert!(page.contains("halted</span> from this page at"), "{page}");
    assert_eq!(
        admin(&svc, "POST", "/funds/fund-a/resume", &form, &body)
            .await
            .status,
        403,
        "the old process's token"
    );
    let body = format!("csrf={}", csrf_of(&page));
    assert_eq!(
        admin(&svc, "POST", "/funds/fund-a/resume", &form, &body)
            .await
            .status,
        303
    );
    assert_eq!(svc.alert(&alert("resumed")).await.status, 200);
    assert_eq!(svc.journal().lines().count(), 1, "resumed");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_recent_alerts_with_their_reasons_filtered_and_escaped() {
    let svc = TestService::start(support::settings(LOOPBACK)).await;
    assert_eq!(svc.alert(&alert("good-1")).await.status, 200);
    let unknown = with(alert("bad-symbol"), "symbol", json!("NOWHERE:XYZ"));
    assert_eq!(svc.alert(&unknown).await.status, 422);
    let forged = with(alert("forged"), "secret", json!("nope"));
    assert_eq!(svc.alert(&forged).await.status, 401);
    let hostile = alert("<script>alert(1)</script>");
    assert_eq!(svc.alert(&hostile).await.status, 200);

    let page = admin(&svc, "GET", "/", &[], "").await.body;
    assert!(page.contains("<td>good-1</td>"), "{page}");
    assert!(page.contains("<td>unknown_symbol</td>"));
    assert!(page.contains("NOWHERE:XYZ"), "the reason's detail");
    assert!(page.contains("<td>unauthorized</td>"));
    assert!(
        page.contains("submitted · 1 attempt"),
        "the order's state now"
    );
    assert!(!page.contains("<script>"), "escaped");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("Nothing queued"));

    let rejected = admin(&svc, "GET", "/?fund=&outcome=rejected", &[], "")
        .await
        .body;
    assert!(
        rejected.contains("<td>unknown_symbol</td>") && rejected.contains("<td>unauthorized</td>")
    );
    assert!(!rejected.contains("<td>good-1</td>"));
    assert!(rejected.contains("<option value=\"rejected\" selected>"));
    let fund_a = admin(&svc, "GET", "/?fund=fund-a&outcome=accepted", &[], "")
        .await
        .body;
    assert!(fund_a.contains("<td>good-1</td>") && !fund_a.contains("<td>unknown_symbol</td>"));
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_order_is_sent_again_only_as_a_new_order_on_an_operators_action() {
    expired_order_sent_again(LOOPBACK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_an_expired_order_is_sent_again_from_its_log_record() {
    let nats = NatsServer::start("admin-resubmit");
    expired_order_sent_again(&format!(
        "{LOOPBACK}[cluster]\nbackend = \"nats\"\n\n[cluster.nats]\nservers = [\"{}\"]\nreplicas = 1\n",
        nats.url()
    ))
    .await;
}

/// Posts the page's re-submit form: fund-a's expired order `key` again under `new_key`.
async fn resubmit(svc: &TestService, key: &str, new_key: &str, csrf: &str) -> Reply {
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let body = format!("csrf={csrf}&fund=fund-a&key={key}&new_key={new_key}");
    admin(svc, "POST", "/resubmit", &form, &body).await
}

/// Awaits (bounded) until the admin page holds `text`; returns the page. An order's status is
/// written before its stream's mark moves past it, so the queue follows the status shortly.
async fn until_page_holds(svc: &TestService, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page = admin(svc, "GET", "/", &[], "").await.body;
        if page.contains(text) {
            return page;
        }
        assert!(std::time::Instant::now() < deadline, "never {text}: {page}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An order expires undelivered with the OMS down; the page sends it again under a new key.
async fn expired_order_sent_again(toml: &str) {
    let oms = sim::start(sim::Script {
        unavailable_calls: usize::MAX,
        ..sim::Script::default()
    })
    .await;
    let mut config = support::settings(toml);
    config.delivery.sink = Sink::Oms;
    config.delivery.oms.endpoint = oms.endpoint();
    config.delivery.respond_within = HumanDuration(Duration::from_millis(50));
    config.delivery.retry.initial_backoff = HumanDuration(Duration::from_millis(10));
    config.delivery.retry.max_backoff = HumanDuration(Duration::from_millis(40));
    let svc = TestService::start(config).await;
    assert_eq!(svc.alert(&alert("late")).await.status, 202);
    // Its stream's queue holds it while the OMS is down.
    let queued = "<tr><td>fund-a\ntv_breakout_v1\nBTC-USD</td><td>1</td></tr>";
    until_page_holds(&svc, queued).await;
    svc.clock.advance(60_001);
    let expired = svc.until_order("fund-a", "late", "expired").await;

    let page = until_page_holds(&svc, "Nothing queued").await;
    assert_eq!(
        page.matches("Re-submit as a new order").count(),
        1,
        "{page}"
    );
    let csrf = csrf_of(&page);
    let forged = resubmit(&svc, "late", "late-2", "0").await;
    assert_eq!(forged.status, 403);

    // The fund's envelope tightened since (a reload): the terms no longer fit, nothing is sent
    // and the new key is not spent.
    let configured = || {
        svc.settings
            .funds
            .iter()
            .map(|(id, fund)| (id.clone(), fund.policy.clone()))
            .collect::<FundMap<_>>()
    };
    let mut tight = configured();
    let fund_a = FundId::parse("fund-a").unwrap();
    tight.get_mut(&fund_a).unwrap().envelope =
        Envelope::allow_any(Quantity::parse("0.01").unwrap());
    svc.runtime.reload_funds(tight);
    let refused = resubmit(&svc, "late", "late-2", &csrf).await;
    assert_eq!(refused.status, 409);
    assert!(refused.body.contains("envelope_denied"), "{}", refused.body);
    assert_eq!(svc.order("fund-a", "late-2").await.status, 404);
    svc.runtime.reload_funds(configured());

    let sent = resubmit(&svc, "late", "late-2", &csrf).await;
    assert_eq!(
        (sent.status, sent.header("location")),
        (303, Some("/?fund=fund-a")),
        "{}",
        sent.body
    );
    let renewed = svc.order("fund-a", "late-2").await.json();
    assert_eq!(renewed["status"], "queued");
    until_page_holds(&svc, queued).await;
    assert_ne!(
        renewed["client_order_id"], expired["client_order_id"],
        "a new order"
    );
    // The OMS comes back: the new order is delivered, the expired one never.
    oms.script(sim::Script::default());
    let delivered = svc.until_order("fund-a", "late-2", "submitted").await;
    assert_eq!(
        oms.accepted_ids(),
        vec![delivered["client_order_id"].as_str().unwrap().to_owned()]
    );
    assert_eq!(
        svc.order("fund-a", "late").await.json()["status"],
        "expired"
    );

    // The new key once only; and only an expired order can be sent again.
    let again = resubmit(&svc, "late", "late-2", &csrf).await;
    assert_eq!(again.status, 409);
    assert!(
        again.body.contains("duplicate_idempotency_key"),
        "{}",
        again.body
    );
    let live = resubmit(&svc, "late-2", "late-3", &csrf).await;
    assert_eq!(live.status, 409);
    assert!(
        live.body
            .contains("only an expired order can be sent again"),
        "{}",
        live.body
    );
    let page = admin(&svc, "GET", "/?fund=fund-a", &[], "").await.body;
    assert!(
        page.contains("<td>late-2</td>"),
        "the new order is among the recent alerts"
    );
    svc.shutdown().await;
}
