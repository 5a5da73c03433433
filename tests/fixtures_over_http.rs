//! Every fixture of the corpus sent to the real service over a socket: the answer's status and
//! body, and for accepted alerts the order the paper OMS journaled, are what the fixture's
//! snapshot says. The snapshots are judged by `core::translate` without the stateful gates; this
//! shows the service runs exactly those steps (same rejection, same field, same detail).

mod common;
mod support;

use std::collections::BTreeSet;
use std::path::Path;

use common::{config_path, tradingview_fixtures};
use mts1b_tradingview::config::{EnvOverrides, load_str};
use mts1b_tradingview::core::RateLimit;
use serde_json::{Value, json};
use support::{LOOPBACK, T0, TestService, request, temp_dir};

/// The outcome a fixture's snapshot locks (the JSON after the snapshot's header).
fn snapshot_of(fixture: &Path) -> Value {
    let name = fixture.file_name().unwrap().to_string_lossy();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/snapshots/tradingview_fixtures__every_fixture_matches_its_snapshot@{name}.snap"
    ));
    let text = std::fs::read_to_string(&path).unwrap();
    let body = text
        .splitn(3, "---\n")
        .nth(2)
        .unwrap_or_else(|| panic!("{} has no body", path.display()));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture corpus's configuration, served on loopback with a paper OMS and rate limits no
/// fixture reaches (the clock stands still).
async fn service() -> TestService {
    let text = std::fs::read_to_string(config_path()).unwrap();
    let data = temp_dir("fixtures-http");
    let toml = format!(
        "{text}\n[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{LOOPBACK}\n[delivery]\nsink = \"paper\"\n[store]\npath = {data:?}\n"
    );
    let mut settings = load_str(&toml, EnvOverrides::from_vars([])).unwrap();
    for fund in settings.funds.values_mut() {
        fund.policy.rate_limit = RateLimit {
            per_second: 1_000_000,
            burst: 1_000_000,
        };
    }
    TestService::start(settings).await
}

#[tokio::test]
async fn every_fixture_answers_over_http_as_its_snapshot_says() {
    // The snapshots judge every fixture as received at T0, the test service's clock.
    assert_eq!(
        mts1b_tradingview::core::time::parse_rfc3339(common::RECEIVED_AT),
        Ok(T0)
    );
    let mut s = service().await;
    // A fixture whose key an earlier fixture had accepted would meet the replay window (which
    // comes before symbology and the envelope): it gets a fresh service.
    let mut accepted = BTreeSet::new();
    let fixtures = tradingview_fixtures();
    assert!(fixtures.len() >= 146, "only {} fixtures", fixtures.len());
    for fixture in fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let expected = snapshot_of(&fixture);
        let body = std::fs::read(&fixture).unwrap();
        let sent: Value = serde_json::from_slice(&body).unwrap_or_default();
        let key = (
            sent["fund_id"].to_string(),
            sent["idempotency_key"].to_string(),
        );
        if accepted.contains(&key) {
            s.shutdown().await;
            s = service().await;
            accepted.clear();
        }
        if expected["outcome"] == "accepted" {
            accepted.insert(key);
        }
        let reply = request(s.public, "POST", "/tradingview/webhook", &[], &body).await;
        let answer = serde_json::from_str::<Value>(&reply.body)
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}", reply.body));
        if expected["outcome"] == "accepted" {
            let order = &expected["order"];
            let id = order["client_order_id"].as_str().unwrap();
            assert_eq!(
                (reply.status, answer),
                (
                    200,
                    json!({
                        "status": "submitted",
                        "key": order["idempotency_key"],
                        "client_order_id": id,
                        "order_id": format!("paper-{id}"),
                    })
                ),
                "{name}"
            );
            let journaled = s
                .journal()
                .lines()
                .map(|line| serde_json::from_str::<Value>(line).unwrap())
                .find(|line| line["order"]["client_order_id"] == id)
                .unwrap_or_else(|| panic!("{name}: {id} not journaled"));
            assert_eq!(&journaled["order"], order, "{name}: the order delivered");
        } else if expected["outcome"] == "modification" {
            // Every gate passed; the paper OMS has never seen the orders these fixtures name,
            // so a cancel or replace is told its target is unknown, and a cancel-all clears
            // nothing (SPEC §13).
            let modification = &expected["modification"];
            let id = modification["request_id"].as_str().unwrap();
            if modification["intent"] == "cancel_all" {
                assert_eq!(
                    (reply.status, answer),
                    (
                        200,
                        json!({
                            "status": "cancelled_all",
                            "key": modification["idempotency_key"],
                            "request_id": id,
                        })
                    ),
                    "{name}"
                );
            } else {
                assert_eq!(reply.status, 422, "{name}: {answer}");
                assert_eq!(answer["error"], "target_not_active", "{name}");
                let reason = answer["reason"].as_str().unwrap();
                let target = modification["target_client_order_id"].as_str().unwrap();
                assert!(
                    reason.contains(&format!("no order {target}")),
                    "{name}: {reason}"
                );
            }
        } else {
            assert_eq!(
                (u64::from(reply.status), &answer),
                (expected["status"].as_u64().unwrap(), &expected["body"]),
                "{name}"
            );
        }
    }
    s.shutdown().await;
}
