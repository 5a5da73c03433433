//! Black-box tests of the `mts1b-tradingview` binary: `validate`, `template`, `check-config`.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{Harness, RECEIVED_AT, config_path, tradingview_fixtures};
use serde_json::Value;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mts1b-tradingview"));
    // The developer's own overrides must not leak into what is tested.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MTS1B_TV_")) {
        cmd.env_remove(key);
    }
    cmd
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        // A command that fails early (bad config) exits without reading its input.
        match input.write_all(bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.unwrap(),
        }
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const SPEC_EXAMPLE: &str = r#"{"secret":"paper-secret","strategy_id":"tv_breakout_v1","fund_id":"paper-tv-test",
 "symbol":"BINANCE:BTCUSDT","side":"buy","quantity":"0.05","order_type":"limit",
 "limit_price":"95000","tif":"day","actor":"tradingview",
 "idempotency_key":"tv_breakout_v1-Long-2024-03-01T12:34:56Z",
 "thesis":"20-bar breakout with vol confirmation","alert_time":"2024-03-01T12:34:56Z"}"#;

#[test]
fn validate_prints_the_canonical_order_of_the_spec_example() {
    let config = config_path();
    let out = run(
        &[
            "validate",
            "--config",
            config.to_str().unwrap(),
            "--now",
            RECEIVED_AT,
            "-",
        ],
        Some(SPEC_EXAMPLE.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let order = stdout_json(&out);
    assert_eq!(order["symbol"], "BTC-USD");
    assert_eq!(order["venue_hint"], "binance");
    assert_eq!(order["quantity"], "0.05");
    assert_eq!(order["limit_price"], "95000");
    assert!(stderr(&out).contains("accepted"));
}

#[test]
fn validate_prints_exactly_what_the_library_decides_for_every_fixture() {
    let harness = Harness::new();
    let config = config_path();
    for path in tradingview_fixtures() {
        let out = run(
            &[
                "validate",
                "--config",
                config.to_str().unwrap(),
                "--now",
                RECEIVED_AT,
                path.to_str().unwrap(),
            ],
            None,
        );
        let body = std::fs::read(&path).unwrap();
        let expected = harness.printed(&body);
        let expected_code = if expected.get("error").is_some() {
            1
        } else {
            0
        };
        assert_eq!(
            out.status.code(),
            Some(expected_code),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
        assert_eq!(stdout_json(&out), expected, "{}", path.display());
        if expected_code == 1 {
            let status = harness.outcome(&body).json()["status"].as_u64().unwrap();
            assert!(
                stderr(&out).contains(&format!("rejected: HTTP {status} ")),
                "{}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn validate_without_config_uses_the_embedded_defaults() {
    let out = run(&["validate"], Some(SPEC_EXAMPLE.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["symbol"], "BTC-USD");
    assert!(stderr(&out).contains("secret and fund envelope not checked"));
    let out = run(&["validate"], Some(b"{\"side\":\"buy\"}"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["error"], "invalid_payload");
}

#[test]
fn validate_refuses_an_oversized_body_like_the_service() {
    let mut body = SPEC_EXAMPLE
        .replace("20-bar breakout", &"x".repeat(5000))
        .into_bytes();
    body.truncate(6000);
    let out = run(&["validate"], Some(&body));
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    assert_eq!(v["error"], "payload_too_large");
    assert_eq!(v["limit_bytes"], 4096);
}

#[test]
fn a_bad_config_fails_naming_every_bad_key() {
    let dir = std::env::temp_dir().join(format!("mts1b-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"nowhere\"\n[funds.paper-tv-test]\nsecret = \"x\"\nmax_quantity = \"1\"\nmax_alert_age = \"soon\"\n",
    )
    .unwrap();
    for sub in ["check-config", "validate"] {
        let out = run(
            &[sub, "--config", path.to_str().unwrap()],
            Some(SPEC_EXAMPLE.as_bytes()),
        );
        assert_eq!(out.status.code(), Some(2), "{sub}");
        let err = stderr(&out);
        assert!(err.contains("server.listen: "), "{err}");
        assert!(err.contains("funds.paper-tv-test.max_alert_age: "), "{err}");
        assert!(out.stdout.is_empty());
    }
    let out = run(&["check-config", "--config", "/no/such/file.toml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read config file"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn check_config_prints_the_effective_config_without_secrets() {
    let config = config_path();
    let out = bin()
        .args(["check-config", "--config", config.to_str().unwrap()])
        .env("MTS1B_TV_SERVER__LISTEN", "0.0.0.0:8443")
        .env("MTS1B_TV_FUNDS__paper-tv-test__SECRET", "12345")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("paper-secret")
            && !text.contains("strict-secret")
            && !text.contains("12345"),
        "{text}"
    );
    let v = stdout_json(&out);
    assert_eq!(v["server"]["listen"], "0.0.0.0:8443");
    assert_eq!(v["funds"]["paper-tv-test"]["secret"], "[redacted]");
    assert_eq!(
        v["funds"]["strict-fund"]["envelope"]["max_alert_age_ms"],
        30000
    );
    assert_eq!(v["delivery"]["sink"], "oms");
}

#[test]
fn a_numeric_secret_from_the_environment_authenticates() {
    let config = config_path();
    let body = SPEC_EXAMPLE.replace("\"paper-secret\"", "\"12345\"");
    let mut child = bin()
        .args([
            "validate",
            "--config",
            config.to_str().unwrap(),
            "--now",
            RECEIVED_AT,
        ])
        .env("MTS1B_TV_FUNDS__paper-tv-test__SECRET", "12345")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Every placeholder TradingView renders (TRADINGVIEW.md), with a realistic rendering.
const RENDERED: &[(&str, &str)] = &[
    ("{{exchange}}", "BINANCE"),
    ("{{ticker}}", "BTCUSDT"),
    ("{{timenow}}", "2024-03-01T12:34:56Z"),
    ("{{time}}", "2024-03-01T12:34:00Z"),
    ("{{close}}", "95000.5"),
    ("{{strategy.order.action}}", "sell"),
    ("{{strategy.order.contracts}}", "0.05"),
    ("{{strategy.order.price}}", "95000.5"),
    ("{{strategy.order.id}}", "Long Exit"),
    ("{{strategy.order.comment}}", "exit"),
    ("{{strategy.market_position}}", "flat"),
    ("{{strategy.position_size}}", "0"),
    ("{{plot_0}}", "93500"),
];

fn render(template: &str) -> String {
    let mut out = template.to_owned();
    for (placeholder, value) in RENDERED {
        out = out.replace(placeholder, value);
    }
    out
}

#[test]
fn template_renders_into_an_alert_the_translator_accepts() {
    let out = run(
        &[
            "template",
            "--fund",
            "paper-tv-test",
            "--strategy",
            "tv_breakout_v1",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let template = String::from_utf8(out.stdout.clone()).unwrap();

    // Only placeholders that exist, and the key is built from the firing time, not the bar time.
    let used: Vec<&str> = template
        .match_indices("{{")
        .map(|(i, _)| {
            let end = template[i..].find("}}").unwrap() + i + 2;
            &template[i..end]
        })
        .collect();
    assert!(!used.is_empty());
    for p in &used {
        assert!(
            RENDERED.iter().any(|(known, _)| known == p),
            "unknown placeholder {p}"
        );
    }
    let message = stdout_json(&out);
    let key = message["idempotency_key"].as_str().unwrap();
    assert!(
        key.contains("{{strategy.order.id}}") && key.contains("{{timenow}}"),
        "{key}"
    );
    assert!(!key.contains("{{time}}"), "{key}");

    // Rendered by "TradingView" and with the secret pasted in, it is a valid alert.
    let placeholder = message["secret"].as_str().unwrap();
    let body = render(&template).replace(placeholder, "paper-secret");
    let harness = Harness::new();
    let outcome = harness.outcome(body.as_bytes()).json();
    assert_eq!(outcome["outcome"], "accepted", "{outcome}");
    assert_eq!(outcome["order"]["symbol"], "BTC-USD");
    assert_eq!(outcome["order"]["side"], "sell");

    // Sent unrendered (a Pine alert() string), it is refused naming the placeholder.
    let unrendered = template.replace(placeholder, "paper-secret");
    let outcome = harness.outcome(unrendered.as_bytes()).json();
    assert_eq!(outcome["body"]["error"], "invalid_payload", "{outcome}");
}

#[test]
fn modification_templates_render_into_modifications_the_translator_accepts() {
    let harness = Harness::new();
    for (action, extra, kind) in [
        (
            "cancel",
            &["--target-key", "tv_breakout_v1-L-1234"][..],
            "cancel",
        ),
        (
            "replace",
            &[
                "--target-key",
                "tv_breakout_v1-L-1234",
                "--change",
                "limit_price",
            ][..],
            "replace",
        ),
        ("cancel_all", &[][..], "cancel_all"),
    ] {
        let mut args = vec![
            "template",
            "--fund",
            "paper-tv-test",
            "--strategy",
            "tv_breakout_v1",
            "--action",
            action,
        ];
        args.extend(extra);
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(0), "{action}: {}", stderr(&out));
        let template = String::from_utf8(out.stdout.clone()).unwrap();
        let placeholder = stdout_json(&out)["secret"].as_str().unwrap().to_owned();
        let body = render(&template).replace(&placeholder, "paper-secret");
        let outcome = harness.outcome(body.as_bytes()).json();
        assert_eq!(outcome["outcome"], "modification", "{action}: {outcome}");
        let modification = &outcome["modification"];
        assert_eq!(modification["intent"], kind);
        match kind {
            "cancel_all" => assert!(modification.get("symbol").is_none(), "{outcome}"),
            _ => {
                assert_eq!(modification["target_key"], "tv_breakout_v1-L-1234");
                assert_eq!(modification["symbol"], "BTC-USD");
            }
        }
        if kind == "replace" {
            assert_eq!(modification["limit_price"], "93500", "{outcome}");
        }
    }
    // A cancel needs its target; a target is never a placeholder; a submit names none.
    for (args, says) in [
        (&["--action", "cancel"][..], "required"),
        (
            &[
                "--action",
                "cancel",
                "--target-key",
                "x-{{strategy.order.id}}",
            ][..],
            "not a placeholder",
        ),
        (
            &["--target-key", "x"][..],
            "only --action cancel and replace",
        ),
    ] {
        let mut all = vec!["template", "--fund", "f", "--strategy", "s"];
        all.extend(args);
        let out = run(&all, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn template_checks_what_it_is_given() {
    let out = run(&["template", "--fund", "paper tv", "--strategy", "s"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--fund"));
    let out = run(
        &[
            "template",
            "--fund",
            "f",
            "--strategy",
            "s",
            "--symbol",
            "OANDA:SPX500USD",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("CFDs and indices are not mapped"));
    let out = run(
        &[
            "template",
            "--fund",
            "f",
            "--strategy",
            "s",
            "--symbol",
            "NASDAQ:AAPL",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_json(&out)["symbol"], "NASDAQ:AAPL");
}

#[test]
fn the_cluster_examples_configs_are_valid_and_name_the_same_cluster() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    let mut clusters = Vec::new();
    for replica in ["a", "b", "c"] {
        let config = root.join(format!("replica-{replica}.toml"));
        let out = run(
            &["check-config", "--config", config.to_str().unwrap()],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{replica}: {}", stderr(&out));
        let printed = stdout_json(&out);
        assert_eq!(printed["cluster"]["backend"], "nats", "{replica}");
        clusters.push(printed["cluster"].to_string());
    }
    assert!(clusters.windows(2).all(|w| w[0] == w[1]), "{clusters:#?}");
}

#[test]
fn the_example_config_is_valid_and_the_example_alert_translates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = root.join("examples/config.toml");
    let out = run(
        &["check-config", "--config", config.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout_json(&out)["funds"]["paper-tv-test"]["secret"],
        "[redacted]"
    );

    let alert = root.join("examples/alerts/spec-example.json");
    let out = run(
        &[
            "validate",
            "--config",
            config.to_str().unwrap(),
            alert.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let order = stdout_json(&out);
    assert_eq!(
        (order["symbol"].as_str(), order["venue_hint"].as_str()),
        (Some("BTC-USD"), Some("binance"))
    );
    assert_eq!(order["quantity"], "0.05");
}

/// Every row of SPEC §4's table, as `symbol` prints it: (sent, canonical, class, venue hint,
/// the time to resolve at).
const SPEC_SYMBOL_TABLE: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "BINANCE:BTCUSDT",
        "BTC-USD",
        "spot",
        Some("binance"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "COINBASE:BTCUSD",
        "BTC-USD",
        "spot",
        Some("coinbase"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "BINANCE:BTCFDUSD",
        "BTC-USD",
        "spot",
        Some("binance"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "BINANCE:BTCBUSD",
        "BTC-USD",
        "spot",
        Some("binance"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "KRAKEN:XBTUSD",
        "BTC-USD",
        "spot",
        Some("kraken"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "BYBIT:BTCUSDT.P",
        "BTC-USDT-PERP",
        "perpetual",
        Some("bybit"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "BINANCE:BTCUSDTPERP",
        "BTC-USDT-PERP",
        "perpetual",
        Some("binance"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "BINANCE:BTCUSD.P",
        "BTC-USD-PERP",
        "perpetual",
        Some("binance"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "CME_MINI:ESH2026",
        "ES-202603",
        "future",
        Some("cme"),
        "2026-01-05T15:00:00Z",
    ),
    (
        "CME_MINI:ES1!",
        "ES-202606",
        "future",
        Some("cme"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "NASDAQ:AAPL",
        "AAPL",
        "equity",
        None,
        "2026-05-17T13:30:00Z",
    ),
    (
        "NYSE:BRK.B",
        "BRK.B",
        "equity",
        None,
        "2026-05-17T13:30:00Z",
    ),
    ("BATS:SPY", "SPY", "equity", None, "2026-05-17T13:30:00Z"),
    (
        "OANDA:EURUSD",
        "EUR-USD",
        "fx",
        Some("oanda"),
        "2026-05-17T13:30:00Z",
    ),
    (
        "OANDA:XAUUSD",
        "XAU-USD",
        "fx",
        Some("oanda"),
        "2026-05-17T13:30:00Z",
    ),
    ("BTC-USD", "BTC-USD", "spot", None, "2026-05-17T13:30:00Z"),
    // The issue's examples.
    (
        "CME_MINI:MES1!",
        "MES-202606",
        "future",
        Some("cme"),
        "2026-05-17T13:30:00Z",
    ),
];

#[test]
fn symbol_prints_every_row_of_the_spec_table() {
    for &(sent, symbol, class, venue, at) in SPEC_SYMBOL_TABLE {
        let out = run(&["symbol", sent, "--at", at], None);
        assert_eq!(out.status.code(), Some(0), "{sent}: {}", stderr(&out));
        let printed = stdout_json(&out);
        assert_eq!(printed["symbol"], symbol, "{sent}");
        assert_eq!(printed["instrument_class"], class, "{sent}");
        assert_eq!(printed["venue_hint"].as_str(), venue, "{sent}");
        assert_eq!(printed["tradingview_symbol"], sent);
        assert!(!printed["rule"].as_str().unwrap().is_empty());
    }
}

#[test]
fn symbol_prints_the_refusal_and_what_to_send_instead() {
    let out = run(&["symbol", "AAPL"], None);
    assert_eq!(out.status.code(), Some(1));
    let printed = stdout_json(&out);
    assert_eq!(printed["error"], "unknown_symbol");
    assert!(
        printed["detail"]
            .as_str()
            .unwrap()
            .contains("send {{exchange}}:{{ticker}}"),
        "{printed}"
    );
    let out = run(&["symbol", "ES1!", "--at", "yesterday"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--at"));
    // With a config, its tables apply.
    let config = config_path();
    let out = run(
        &[
            "symbol",
            "NYMEX:CL1!",
            "--at",
            "2026-05-17T13:30:00Z",
            "--config",
            config.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(stdout_json(&out)["symbol"], "CL-202607");
    let out = run(
        &["symbol", "NYMEX:CL1!", "--at", "2026-05-17T13:30:00Z"],
        None,
    );
    assert!(
        stdout_json(&out)["detail"]
            .as_str()
            .unwrap()
            .contains("no contract calendar for CL")
    );
}

#[test]
fn discord_command_prints_the_shipped_registration() {
    let out = run(&["discord-command"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string("examples/discord/order-command.json").unwrap(),
    )
    .unwrap();
    assert_eq!(
        stdout_json(&out),
        shipped,
        "examples/discord/order-command.json is stale"
    );
    let subcommands = shipped[0]["options"].as_array().unwrap();
    for (subcommand, names) in [
        ("place", &["quantity", "limit", "stop"][..]),
        ("replace", &["key", "quantity", "limit", "stop"][..]),
        ("cancel", &["key"][..]),
    ] {
        let options = subcommands
            .iter()
            .find(|s| s["name"] == subcommand)
            .unwrap()["options"]
            .as_array()
            .unwrap();
        for name in names {
            let option = options.iter().find(|o| o["name"] == *name).unwrap();
            assert_eq!(
                option["type"], 3,
                "{subcommand} {name} is a STRING option, never a NUMBER"
            );
        }
    }
}

#[test]
fn the_slack_manifest_declares_order_on_the_slack_route() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string("examples/slack/manifest.json").unwrap())
            .unwrap();
    let command = &manifest["features"]["slash_commands"][0];
    assert_eq!(command["command"], "/order");
    assert!(command["url"].as_str().unwrap().ends_with("/slack/webhook"));
    assert_eq!(
        manifest["oauth_config"]["scopes"]["bot"],
        serde_json::json!(["commands"])
    );
}
