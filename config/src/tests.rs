use super::*;
use crate::settings::{Secrets, Sink};
use mts1b_inbound_core::{FundId, InstrumentClass, SecretLookup, SecretSource, Timing, UnixMillis};

fn env(vars: &[(&str, &str)]) -> EnvOverrides {
    EnvOverrides::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
}

fn errors(toml: &str, vars: &[(&str, &str)]) -> Vec<String> {
    load_str(toml, env(vars))
        .expect_err("config must be refused")
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

const FUND: &str = r#"
[funds.paper-tv-test]
secret = "s3cret"
max_quantity = "2.5"
"#;

#[test]
fn embedded_defaults_match_the_spec() {
    let s = load_from(None, env(&[]), Origin::Embedded).unwrap();
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.server.admin_listen.to_string(), "127.0.0.1:9090");
    assert_eq!(s.server.max_body_bytes, 4096);
    assert_eq!(s.replay.window.to_string(), "5m");
    assert_eq!(s.delivery.respond_within.to_string(), "2s");
    assert_eq!(s.delivery.max_order_age.to_string(), "1m");
    assert_eq!(s.delivery.max_cancel_age.to_string(), "1h");
    assert_eq!(s.delivery.sink, Sink::Paper);
    // The product design's "10 req/sec per fund_id", with a burst of one second's worth.
    assert_eq!((s.rate_limit.per_second, s.rate_limit.burst), (10, 10));
    assert!(matches!(s.secrets, Secrets::Static));
    let allow: Vec<String> = s
        .network
        .ip_allowlist
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        allow,
        [
            "52.89.214.238",
            "34.212.75.30",
            "54.218.53.128",
            "52.32.178.7"
        ]
    );
    assert!(
        s.adapters.tradingview.enabled && !s.adapters.slack.enabled && !s.adapters.discord.enabled
    );
    assert!(s.funds.is_empty());
}

#[test]
fn a_config_file_defaults_to_the_oms_sink() {
    let s = load_str(FUND, env(&[])).unwrap();
    assert_eq!(s.delivery.sink, Sink::Oms);
    let fund = &s.funds[&FundId::parse("paper-tv-test").unwrap()];
    assert_eq!(fund.policy.envelope.max_quantity.to_string(), "2.5");
    assert_eq!(fund.policy.rate_limit, s.rate_limit);
}

#[test]
fn reports_every_error_at_once_with_its_path() {
    let toml = r#"
        bogus = 1
        [server]
        listen = "nope"
        max_body_bytes = "big"
        header_timeout = "5"
        [replay]
        window = "0s"
        [funds.paper-tv-test]
        secret = "x"
        max_quantity = "-1"
        max_alert_age = "300"
        symbols = ["BTC-USD", "btc-usd"]
        order_types = ["market", "trailing"]
        colour = "red"
        [delivery]
        respond_within = "3s"
        sink = "kafka"
        max_order_age = "2m"
        max_cancel_age = "90s"
        [delivery.retry]
        initial_backoff = "2s"
        max_backoff = "1s"
        [symbology.exchanges.PHEMEX]
        venue = "Phemex"
    "#;
    let errs = errors(toml, &[]);
    let paths: Vec<&str> = errs.iter().map(|e| e.split(':').next().unwrap()).collect();
    for expected in [
        "bogus",
        "server.listen",
        "server.max_body_bytes",
        "server.header_timeout",
        "replay.window",
        "funds.paper-tv-test.colour",
        "funds.paper-tv-test.max_quantity",
        "funds.paper-tv-test.max_alert_age",
        "funds.paper-tv-test.symbols[1]",
        "funds.paper-tv-test.order_types[1]",
        "delivery.sink",
        "delivery.respond_within",
        "delivery.retry.max_backoff",
        "delivery.max_cancel_age",
        "symbology.exchanges.PHEMEX.class",
    ] {
        assert!(paths.contains(&expected), "missing {expected} in {errs:#?}");
    }
    assert_eq!(paths.len(), 15, "{errs:#?}");
}

#[test]
fn environment_overrides_nest_and_never_guess_types() {
    let s = load_str(
        FUND,
        env(&[
            ("MTS1B_TV_SERVER__LISTEN", "0.0.0.0:8080"),
            ("MTS1B_TV_FUNDS__paper-tv-test__SECRET", "12345"),
            ("MTS1B_TV_FUNDS__Fund.B__SECRET", "007"),
            ("MTS1B_TV_FUNDS__Fund.B__MAX_QUANTITY", "0.10"),
            ("MTS1B_TV_FUNDS__Fund.B__SYMBOLS", "BTC-USD, ETH-USD"),
            ("MTS1B_TV_NETWORK__TRUSTED_PROXIES", "10.0.0.0/8,::1"),
            ("MTS1B_TV_RATE_LIMIT__BURST", "7"),
            ("MTS1B_TV_ADAPTERS__SLACK__ENABLED", "true"),
            ("MTS1B_TV_ADAPTERS__SLACK__SIGNING_SECRET", "99"),
            ("OTHER_VAR", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(s.server.listen.to_string(), "0.0.0.0:8080");
    let secrets = StaticSecrets::from_settings(&s);
    let found = |fund: &str, secret: &str| match secrets.fund_secret(&FundId::parse(fund).unwrap())
    {
        SecretLookup::Found(s) => s.current().matches(secret),
        _ => false,
    };
    assert!(found("paper-tv-test", "12345"));
    assert!(found("Fund.B", "007"));
    let b = &s.funds[&FundId::parse("Fund.B").unwrap()];
    assert_eq!(b.policy.envelope.max_quantity.to_string(), "0.1");
    assert_eq!(b.policy.envelope.symbols.len(), 2);
    assert_eq!(s.network.trusted_proxies.len(), 2);
    assert_eq!(s.rate_limit.burst, 7);
    assert!(s.adapters.slack.enabled && s.adapters.slack.signing_secret.is_some());
}

#[test]
fn environment_errors_carry_the_same_paths() {
    let errs = errors(
        FUND,
        &[
            ("MTS1B_TV_FUNDS__paper-tv-test__MAX_ALERT_AGE", "soon"),
            ("MTS1B_TV_SERVER__NOPE", "1"),
        ],
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("funds.paper-tv-test.max_alert_age:")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("server.nope: unknown key")),
        "{errs:?}"
    );
}

#[test]
fn a_section_and_a_key_inside_it_both_set_is_an_error_whatever_the_order() {
    for vars in [
        [
            ("MTS1B_TV_SERVER", "x"),
            ("MTS1B_TV_SERVER__LISTEN", "127.0.0.1:1"),
        ],
        [
            ("MTS1B_TV_SERVER__LISTEN", "127.0.0.1:1"),
            ("MTS1B_TV_SERVER", "x"),
        ],
        [
            ("MTS1B_TV_SERVER__LISTEN", "127.0.0.1:1"),
            ("MTS1B_TV_server__listen", "127.0.0.1:2"),
        ],
    ] {
        let errs = errors(FUND, &vars);
        assert_eq!(errs.len(), 1, "{vars:?}: {errs:?}");
        assert!(
            errs[0].contains("both set") && errs[0].contains("server"),
            "{vars:?}: {errs:?}"
        );
    }
    // Different keys of one section are fine, and so are funds that differ in case.
    let settings = load_str(
        FUND,
        env(&[
            ("MTS1B_TV_SERVER__LISTEN", "127.0.0.1:1"),
            ("MTS1B_TV_SERVER__MAX_IN_FLIGHT", "5"),
        ]),
    )
    .unwrap();
    assert_eq!(settings.server.max_in_flight, 5);
}

#[test]
fn decimals_must_not_arrive_as_floats() {
    let errs = errors("[funds.f]\nsecret = \"x\"\nmax_quantity = 0.1\n", &[]);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("funds.f.max_quantity: write it as a string"),
        "{errs:?}"
    );
}

#[test]
fn fund_secrets_follow_the_provider() {
    let errs = errors("[funds.f]\nmax_quantity = \"1\"\n", &[]);
    assert_eq!(
        errs,
        ["funds.f.secret: required with secrets.provider = \"static\""]
    );
    let errs = errors(&format!("[secrets]\nprovider = \"vault\"\n{FUND}"), &[]);
    assert!(
        errs[0].starts_with("funds.paper-tv-test.secret: not allowed"),
        "{errs:?}"
    );
    let ok = load_str(
        "[secrets]\nprovider = \"vault\"\n[funds.f]\nmax_quantity = \"1\"\n",
        env(&[]),
    )
    .unwrap();
    assert!(
        matches!(ok.secrets, Secrets::Vault(ref v) if v.mount == "secret" && v.field == "webhook_secret")
    );
}

#[test]
fn a_previous_secret_needs_a_fixed_end_and_the_static_provider() {
    let with = |extra: &str| format!("{FUND}{extra}");
    let errs = errors(&with("previous_secret = \"old-one\"\n"), &[]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("funds.paper-tv-test.previous_secret_until: required"),
        "{errs:?}"
    );
    let errs = errors(
        &with("previous_secret = \"old-one\"\nprevious_secret_until = \"in a day\"\n"),
        &[],
    );
    assert!(
        errs[0].starts_with("funds.paper-tv-test.previous_secret_until: \"in a day\""),
        "{errs:?}"
    );
    let errs = errors(
        &with("previous_secret_until = \"2026-12-02T00:00:00Z\"\n"),
        &[],
    );
    assert!(
        errs[0].contains("only used with previous_secret"),
        "{errs:?}"
    );
    let errs = errors(
        "[secrets]\nprovider = \"vault\"\n[funds.f]\nmax_quantity = \"1\"\nprevious_secret = \"x\"\n",
        &[],
    );
    assert!(
        errs[0].contains("Vault keeps the previous version"),
        "{errs:?}"
    );
    let errs = errors(&format!("{FUND}[secrets]\nrotation_grace = \"1h\"\n"), &[]);
    assert!(
        errs[0].starts_with("secrets.rotation_grace: only used"),
        "{errs:?}"
    );

    let s = load_str(
        &with("previous_secret = \"old-one\"\nprevious_secret_until = \"2026-12-02T00:00:00+01:00\"\n"),
        env(&[]),
    )
    .unwrap();
    let until = mts1b_inbound_core::time::parse_rfc3339("2026-12-01T23:00:00Z").unwrap();
    let fund = &s.funds[&FundId::parse("paper-tv-test").unwrap()];
    assert_eq!(fund.previous_secret_until, Some(until));
    let secrets = StaticSecrets::from_settings(&s);
    let SecretLookup::Found(found) = secrets.fund_secret(&FundId::parse("paper-tv-test").unwrap())
    else {
        panic!("configured");
    };
    use mts1b_inbound_core::{SecretCheck, UnixMillis};
    assert_eq!(
        found.check("old-one", UnixMillis(until.0 - 1)),
        SecretCheck::Previous
    );
    assert_eq!(found.check("old-one", until), SecretCheck::Wrong);
    let printed = serde_json::to_string(&s).unwrap();
    assert!(!printed.contains("old-one"), "{printed}");
    assert!(
        printed.contains("\"previous_secret_until\":\"2026-12-01T23:00:00.000Z\""),
        "{printed}"
    );
    // Vault's grace defaults to a day.
    let vault = load_str("[secrets]\nprovider = \"vault\"\n", env(&[])).unwrap();
    assert!(
        matches!(vault.secrets, Secrets::Vault(ref v) if v.rotation_grace.0.as_secs() == 86_400)
    );
}

#[test]
fn check_config_output_never_holds_a_secret() {
    let toml = format!(
        "{FUND}\n[adapters.slack]\nenabled = true\nsigning_secret = \"slack-signing-value\"\n"
    );
    let s = load_str(&toml, env(&[])).unwrap();
    let printed = serde_json::to_string(&s).unwrap();
    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(!printed.contains("slack-signing-value"), "{printed}");
    assert!(printed.contains("[redacted]"));
}

#[test]
fn symbology_extends_the_built_in_table() {
    let toml = r#"
        [symbology.quotes]
        USDX = "USD"
        [symbology.base_aliases]
        WBTC = "BTC"
        [symbology.exchanges.phemex]
        class = "crypto"
        venue = "phemex"
        quotes = ["USDT", "USDX"]
        perpetual_quotes = ["USDT"]
        [symbology.exchanges.BINANCE]
        quotes = ["AEUR"]
        [symbology.exchange_calendars.CME]
        holidays = ["2028-01-17"]
        [symbology.calendars.cl]
        months = "FGHJKMNQUVXZ"
        last_trading_day = "3 business days before day 25 of the month before"
        roll_business_days = 3
        [symbology.overrides]
        "bybit:ethusdt.p" = { symbol = "ETH-USD-PERP", venue = "bybit" }
        "CAPITALCOM:GOLD" = { symbol = "XAU-USD", venue = "capitalcom" }
    "#;
    let s = load_str(toml, env(&[])).unwrap();
    let at = Timing::at(UnixMillis(1_779_024_600_000)); // 2026-05-17T13:30:00Z
    let map = |sym: &str| {
        s.symbology
            .map(sym, at)
            .map(|m| (m.symbol.to_string(), m.class.as_str()))
    };
    assert_eq!(map("PHEMEX:BTCUSDX"), Ok(("BTC-USD".into(), "spot")));
    assert_eq!(
        map("PHEMEX:WBTCUSDT.P"),
        Ok(("BTC-USDT-PERP".into(), "perpetual"))
    );
    assert_eq!(map("BINANCE:BTCAEUR"), Ok(("BTC-AEUR".into(), "spot")));
    assert_eq!(map("BINANCE:BTCFDUSD"), Ok(("BTC-USD".into(), "spot")));
    assert_eq!(
        map("bybit:ethusdt.p"),
        Ok(("ETH-USD-PERP".into(), "perpetual"))
    );
    assert_eq!(map("CAPITALCOM:GOLD"), Ok(("XAU-USD".into(), "fx")));
    // Crude oil's June 2026 contract stops on 2026-05-19: 1! shows July from 3 business days
    // before, on 2026-05-14.
    assert_eq!(map("NYMEX:CL1!"), Ok(("CL-202607".into(), "future")));
    assert!(s.symbology.exchange_calendars["CME"].covers(2028));
}

#[test]
fn symbology_config_errors_name_the_key() {
    let toml = r#"
        [symbology.quote_aliases]
        FDUSD = "USD"
        [symbology.exchanges.PHEMEX]
        class = "crypto"
        [symbology.exchanges.NASDAQ]
        quotes = ["USD"]
        [symbology.exchanges.DERIBIT]
        class = "crypto"
        quotes = ["USDZ"]
        perpetual_quotes = ["USD"]
        [symbology.exchange_calendars.ICE]
        trade_date_starts = "25:00"
        [symbology.calendars.BRN]
        months = "FFX"
        last_trading_day = "last business day of the month before"
        roll_business_days = "5"
        exchange_calendar = "ICE2"
        [symbology.calendars.ZN]
        months = "HMUZ"
        [symbology.overrides]
        "BYBIT:ETHUSDT.P" = { symbol = "ETH-USD-PERP" }
        "OANDA:SPX500USD" = { symbol = "SPX-500", class = "fx" }
        "X:Y" = { symbol = "ES-202613", class = "future" }
    "#;
    let errs = errors(toml, &[]);
    assert_eq!(
        errs.iter()
            .filter(|e| e.starts_with("symbology.quote_aliases"))
            .count(),
        1,
        "the renamed key is reported once: {errs:?}"
    );
    for expected in [
        "symbology.quote_aliases: renamed",
        "symbology.exchanges.PHEMEX.quotes: required for a crypto exchange",
        "symbology.exchanges.NASDAQ: quotes and perpetual_quotes belong to crypto exchanges only",
        "symbology.exchanges.DERIBIT.quotes[0]: USDZ is not a quote currency",
        "symbology.exchanges.DERIBIT.venue: required for an exchange with perpetual_quotes",
        "symbology.exchange_calendars.ICE.trade_date_starts: \"25:00\" is not a UTC time",
        "symbology.exchange_calendars.ICE.holidays: required",
        "symbology.calendars.BRN.months: month code F is listed twice",
        "symbology.calendars.BRN.exchange_calendar: no exchange calendar ICE2",
        "symbology.calendars.ZN.last_trading_day: required",
        "symbology.calendars.ZN.roll_business_days: required",
        "symbology.overrides.BYBIT:ETHUSDT.P.venue: required for a perpetual",
        "symbology.overrides.OANDA:SPX500USD.symbol: SPX-500 is not a canonical fx symbol",
        "symbology.overrides.X:Y.symbol: ES-202613 is not a canonical future symbol",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(expected)),
            "{expected}\n{errs:#?}"
        );
    }
}

#[test]
fn funds_cap_quantities_per_class_and_symbol() {
    let toml = format!(
        "{FUND}max_quantity_by_class = {{ future = \"2\", spot = \"0.5\" }}\nmax_quantity_by_symbol = {{ \"BTC-USD\" = \"0.25\" }}\n"
    );
    let s = load_str(&toml, env(&[])).unwrap();
    let envelope = &s.funds.values().next().unwrap().policy.envelope;
    assert_eq!(
        envelope.max_quantity_by_class[&InstrumentClass::Future].to_string(),
        "2"
    );
    assert_eq!(envelope.max_quantity_by_symbol.len(), 1);
    let bad = format!(
        "{FUND}max_quantity_by_class = {{ futures = \"2\", spot = 0.5 }}\nmax_quantity_by_symbol = {{ \"btc-usd\" = \"1\" }}\n"
    );
    let errs = errors(&bad, &[]);
    for expected in [
        ".max_quantity_by_class.futures: not an instrument class",
        ".max_quantity_by_class.spot: write it as a string",
        ".max_quantity_by_symbol.btc-usd: \"btc-usd\" is not a canonical symbol",
    ] {
        assert!(
            errs.iter().any(|e| e.contains(expected)),
            "{expected}\n{errs:#?}"
        );
    }
}

#[test]
fn enabling_an_adapter_needs_its_credential() {
    let errs = errors(
        "[adapters.slack]\nenabled = true\n[adapters.discord]\nenabled = true\n[adapters.telegram]\nenabled = true\n",
        &[],
    );
    assert_eq!(
        errs,
        [
            "adapters.telegram: unknown key",
            "adapters.slack.signing_secret: required when the Slack adapter is enabled",
            "adapters.discord.public_key: required when the Discord adapter is enabled",
        ]
    );
}

#[test]
fn service_addresses_must_be_well_formed_urls() {
    for bad in [
        "http://",
        "http://exa mple",
        "ftp://x",
        "http://h:99999",
        "http://h:0",
        "http://[::1",
        "http://h/p?q",
        "127.0.0.1:8200",
    ] {
        let errs = errors(&format!("[delivery.oms]\nendpoint = {bad:?}\n"), &[]);
        assert!(
            errs[0].starts_with("delivery.oms.endpoint:"),
            "{bad}: {errs:?}"
        );
    }
    for good in [
        "http://127.0.0.1:8200",
        "https://vault.internal:8200/",
        "http://[::1]:50051",
        "http://oms",
    ] {
        let toml = format!("[secrets.vault]\naddress = {good:?}\n");
        assert!(load_str(&toml, env(&[])).is_ok(), "{good}");
    }
}

#[test]
fn chat_principals_become_grants_and_chat_gates_default_to_signature_only() {
    let s = load_str(
        &format!(
            r#"{FUND}
[adapters.slack]
enabled = true
signing_secret = "slack-signing-value"
principal_rate_limit = {{ per_second = 2, burst = 4 }}

[adapters.slack.principals.alice]
team_id = "T0001"
user_id = "U0001"
funds = ["paper-tv-test"]
strategies = ["manual"]

[adapters.discord]
enabled = true
public_key = "{key}"
max_body_bytes = "65536"

[adapters.discord.principals.traders]
guild_id = "100"
role_id = "300"
funds = ["paper-tv-test"]
"#,
            key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        ),
        env(&[]),
    )
    .unwrap();
    let (slack, discord) = (&s.adapters.slack, &s.adapters.discord);
    let alice = slack.chat.principals.iter().next().unwrap();
    assert_eq!(
        (alice.name.as_str(), alice.workspace.as_str()),
        ("alice", "T0001")
    );
    assert_eq!(slack.chat.principals.iter().count(), 1);
    assert_eq!(
        (
            slack.chat.principal_rate_limit.per_second,
            slack.chat.principal_rate_limit.burst
        ),
        (2, 4)
    );
    let any: Vec<String> = slack
        .chat
        .gates
        .ip_allowlist
        .iter()
        .flatten()
        .map(ToString::to_string)
        .collect();
    assert_eq!(any, ["0.0.0.0/0", "::/0"]);
    assert_eq!(slack.chat.gates.max_body_bytes, Some(8192));
    assert_eq!(discord.chat.gates.max_body_bytes, Some(65536));
    assert_eq!(discord.chat.principals.iter().count(), 1);
    // TradingView keeps the global gates.
    assert!(s.adapters.tradingview.gates.ip_allowlist.is_none());
    // check-config shows the grants, never the signing secret.
    let printed = serde_json::to_string(&s.adapters).unwrap();
    assert!(printed.contains("\"role\":\"300\""), "{printed}");
    assert!(!printed.contains("slack-signing-value"), "{printed}");
}

#[test]
fn a_bad_principal_is_refused_naming_its_key() {
    let errs = errors(
        &format!(
            r#"{FUND}
[adapters.slack.principals.a]
guild_id = "1"
user_id = "U1"
role_id = "R1"
funds = ["nowhere"]

[adapters.slack.principals.b]
team_id = "T1"

[adapters.discord.principals.c]
guild_id = "100"
user_id = "1"
role_id = "2"
funds = ["paper-tv-test"]
strategies = ["not ok"]
"#
        ),
        &[],
    );
    for expected in [
        "adapters.slack.principals.a.guild_id: not a key here: use team_id",
        "adapters.slack.principals.a.team_id: required",
        "adapters.slack.principals.a.role_id: Slack has no roles: grant a user_id",
        "adapters.slack.principals.a.funds[0]: \"nowhere\" is not a configured fund (funds.nowhere)",
        "adapters.slack.principals.b: required: a user_id",
        "adapters.slack.principals.b.funds: required: at least one fund",
        "adapters.discord.principals.c: grant either a user_id or a role_id, not both",
        "adapters.discord.principals.c.strategies[0]:",
    ] {
        assert!(
            errs.iter().any(|e| e.contains(expected)),
            "{expected}\n{errs:#?}"
        );
    }
}

#[test]
fn the_cluster_backend_is_embedded_unless_nats_is_chosen_and_nats_is_checked_at_its_paths() {
    let s = load_str(FUND, env(&[])).unwrap();
    assert_eq!(s.cluster.backend, crate::settings::Backend::Embedded);
    assert!(s.cluster.nats.is_none());
    // Everything about NATS checked, each error at its path.
    let toml = format!(
        r#"{FUND}
[cluster]
backend = "nats"
[cluster.nats]
servers = ["nats://10.0.0.1:4222", "10.0.0.2:4222"]
creds_file = "/etc/mts1b/bridge.creds"
user = "bridge"
replicas = 7
prefix = "has.dot"
"#
    );
    let refused = errors(&toml, &[]);
    assert_eq!(refused.len(), 4, "{refused:#?}");
    for path in [
        "cluster.nats.servers[1]",
        "cluster.nats.creds_file",
        "cluster.nats.replicas",
        "cluster.nats.prefix",
    ] {
        assert!(
            refused.iter().any(|e| e.starts_with(path)),
            "{path}: {refused:#?}"
        );
    }
    // A nats section beside the embedded backend is checked, kept, and not used; its password
    // comes from the environment and is never printed.
    let toml =
        format!("{FUND}\n[cluster.nats]\nservers = [\"tls://nats-1:4222\"]\nuser = \"bridge\"\n");
    let s = load_str(
        &toml,
        env(&[("MTS1B_TV_CLUSTER__NATS__PASSWORD", "hunter2")]),
    )
    .unwrap();
    let nats = s.cluster.nats.as_ref().unwrap();
    assert_eq!(nats.servers, ["tls://nats-1:4222"]);
    assert_eq!((nats.prefix.as_str(), nats.replicas), ("MTS1B_TV", 3));
    assert!(matches!(
        &nats.auth,
        crate::settings::NatsAuth::UserPassword { user, .. } if user == "bridge"
    ));
    let printed = serde_json::to_string(&s.cluster).unwrap();
    assert!(
        !printed.contains("hunter2") && printed.contains("[redacted]"),
        "{printed}"
    );
    let half =
        format!("{FUND}\n[cluster.nats]\nservers = [\"nats://n:4222\"]\nuser = \"bridge\"\n");
    assert_eq!(
        errors(&half, &[]),
        ["cluster.nats.user: a user and a password go together"]
    );
    // Chosen and complete: the backend every replica shares.
    let toml = format!(
        "{FUND}\n[cluster]\nbackend = \"nats\"\n[cluster.nats]\nservers = [\"nats://127.0.0.1:4222\"]\nreplicas = 1\n"
    );
    let s = load_str(&toml, env(&[])).unwrap();
    assert_eq!(s.cluster.backend, crate::settings::Backend::Nats);
    assert_eq!(s.cluster.nats.as_ref().unwrap().replicas, 1);
    // Chosen without saying where NATS is: refused at the path to fill in.
    let toml = format!("{FUND}\n[cluster]\nbackend = \"nats\"\n");
    assert!(
        errors(&toml, &[])
            .iter()
            .any(|e| e.starts_with("cluster.nats.servers")),
    );
}
