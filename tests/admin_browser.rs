//! The admin page end to end in headless Chromium (SPEC §15), driven through chromedriver:
//! alerts sent, the page loaded, every alert seen with its reason, the filter used as an
//! operator would (choose, click), a fund halted with the page's own form, and a screenshot
//! kept (`target/tmp/admin-page.png`; the one in `docs/` was made by this test).

mod support;

use serde_json::json;
use support::webdriver::Browser;
use support::{LOOPBACK, TestService, alert, with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_filters_and_halts_in_a_real_browser() {
    let svc = TestService::start(support::settings(LOOPBACK)).await;
    assert_eq!(svc.alert(&alert("breakout-long-1")).await.status, 200);
    assert_eq!(svc.alert(&alert("breakout-long-1")).await.status, 409);
    let unknown = with(alert("typo-symbol"), "symbol", json!("NOWHERE:XYZ"));
    assert_eq!(svc.alert(&unknown).await.status, 422);
    let forged = with(alert("forged"), "secret", json!("guess"));
    assert_eq!(svc.alert(&forged).await.status, 401);
    let fund_b = with(
        with(
            with(alert("b-1"), "fund_id", json!("fund-b")),
            "secret",
            json!("secret-b"),
        ),
        "symbol",
        json!("COINBASE:BTCUSD"),
    );
    // fund-b refuses alerts older than 30 s, so they must say when they fired.
    let fund_b = with(fund_b, "alert_time", json!(support::T0.to_rfc3339()));
    assert_eq!(svc.alert(&fund_b).await.status, 200);

    let browser = Browser::start(1400, 1000).await;
    let page = format!("http://{}/", svc.admin);
    browser.open(&page).await;
    let table = browser.text("#alerts").await;
    for seen in [
        "breakout-long-1",
        "duplicate_idempotency_key",
        "unknown_symbol",
        "NOWHERE:XYZ",
        "unauthorized",
        "submitted · 1 attempt",
    ] {
        assert!(table.contains(seen), "{seen} not on the page:\n{table}");
    }
    assert!(browser.text("#readiness").await.starts_with("Ready"));

    // Filter as an operator does: choose fund-a and "rejected", press Filter.
    browser
        .click("select[name=fund] option[value='fund-a']")
        .await;
    browser
        .click("select[name=outcome] option[value=rejected]")
        .await;
    browser.click("#filter button").await;
    browser
        .until_url_ends_with("/?fund=fund-a&outcome=rejected")
        .await;
    let filtered = browser.until_text("#alerts", "unknown_symbol").await;
    assert!(
        !filtered.contains("b-1") && !filtered.contains("submitted"),
        "{filtered}"
    );
    assert!(
        !filtered.contains("unauthorized"),
        "unauthenticated: no fund:\n{filtered}"
    );

    browser.open(&page).await;
    let screenshot = browser.screenshot().await;
    assert!(screenshot.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let kept = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-page.png");
    std::fs::write(&kept, &screenshot).unwrap();
    eprintln!("screenshot: {}", kept.display());

    // The kill switch through the page's own form (its CSRF token, a same-origin POST).
    browser
        .click("form[action='/funds/fund-b/halt'] button")
        .await;
    browser
        .until_text("#funds", "fund-b halted from this page at")
        .await;
    assert_eq!(browser.url().await, page, "redirected back");
    let refused = svc
        .alert(&with(fund_b, "idempotency_key", json!("b-2")))
        .await;
    assert_eq!(refused.json()["error"], "fund_halted");
    browser.quit().await;
    svc.shutdown().await;
}
