//! The conformance suite (SPEC §12): every adapter passes the same cases through the real
//! service (real sockets, a manual clock) and a real gRPC OMS (the simulator). The harness
//! checks the runtime's decision (its metrics, the OMS's calls) and asks the adapter's
//! [`Source`] how its platform sees the answer: a Slack 409 is a 200 saying "already received".
//!
//! Each source plugs in a valid-request builder, its forgeries and its reading of a reply
//! (`tradingview.rs`, `slack.rs`, `discord.rs`); `conformance!` makes one test per case and
//! source.

#[path = "../../examples/oms_simulator/sim.rs"]
mod sim;
#[path = "../support/mod.rs"]
mod support;

mod discord;
mod slack;
mod tradingview;

use mts1b_tradingview::config::{EnvOverrides, load_str};
use mts1b_tradingview::core::{ClientOrderId, FundId, IdempotencyKey};
use support::chat::Signed;
use support::{Reply, T0, TestService, request, temp_dir};

/// Funds: `desk` (a generous budget) and `tight` (two at once).
pub(crate) const DESK: &str = "desk";
pub(crate) const TIGHT: &str = "tight";

/// Who sends a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Who {
    /// A principal granted both funds.
    Granted,
    /// Another principal granted both funds.
    Colleague,
    /// A principal no grant names (TradingView: a wrong secret).
    Stranger,
}

/// A change to an order of fund `desk` on `BINANCE:BTCUSDT`, strategy `manual` (SPEC §13).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change<'a> {
    /// Cancel the order keyed `target`.
    Cancel { target: &'a str },
    /// Move the limit of the order keyed `target`.
    Limit { target: &'a str, limit: &'a str },
    /// Cancel every order of the symbol.
    CancelAll,
}

/// What a reply says happened, as the platform shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Accepted, with the key the reply prints.
    Accepted(String),
    /// A modification took effect, with its key.
    Modified(String),
    /// The order a modification names is not active, with the OMS's reason.
    NotActive(String),
    Duplicate,
    RateLimited,
    NotPermitted,
    Unauthorized,
    TooLarge,
}

/// What a chat reply's text says happened (Slack and Discord say it in the same words).
pub(crate) fn seen_in_text(text: &str) -> Seen {
    if let Some((_, key)) = text.split_once("Key: ") {
        if text.contains(": done by the OMS") {
            return Seen::Modified(key.to_owned());
        }
        assert!(
            text.contains("submitted") || text.contains("queued"),
            "{text}"
        );
        Seen::Accepted(key.to_owned())
    } else if let Some((_, reason)) = text.split_once("the order it changes is not active: ") {
        Seen::NotActive(reason.to_owned())
    } else if text.starts_with("Already received") {
        Seen::Duplicate
    } else if text.contains("too many orders") {
        Seen::RateLimited
    } else if text.contains("not allowed") {
        Seen::NotPermitted
    } else {
        panic!("unexpected reply: {text}")
    }
}

/// One adapter, as the suite drives it.
pub(crate) trait Source: Sync {
    /// The adapter's name: its route, and its client order id namespace.
    fn name(&self) -> &'static str;
    /// Its metric prefix.
    fn prefix(&self) -> &'static str;
    /// Its body cap.
    fn max_body_bytes(&self) -> usize;
    /// True when the credential is in headers over the raw bytes (checked before any parse,
    /// with a timestamp); false for a body secret (TradingView).
    fn signed_in_headers(&self) -> bool;
    /// An order of `fund` keyed `key` (digits), sent by `who`, signed at `at_secs`.
    fn order(&self, key: &str, fund: &str, who: Who, at_secs: i64) -> Signed;
    /// A change keyed `key`, sent by the granted principal: for a chat source, as a trader
    /// types it, naming only the target's key (the bridge remembers the rest).
    fn modification(&self, key: &str, change: Change<'_>, at_secs: i64) -> Signed;
    /// The same request with its credential broken.
    fn forged(&self, valid: Signed) -> Signed;
    /// How the platform sees a reply; panics on a reply the platform would not take.
    fn seen(&self, reply: &Reply) -> Seen;
    /// What an unknown principal is told.
    fn stranger(&self) -> Seen;
    /// True when principals other than the fund exist (chat members), each with a budget.
    fn has_members(&self) -> bool;
}

/// The service with every adapter enabled, and a real OMS.
pub(crate) struct Bench {
    pub(crate) service: TestService,
    pub(crate) oms: sim::Oms,
}

impl Bench {
    pub(crate) async fn start() -> Self {
        let oms = sim::start(sim::Script::default()).await;
        let data = temp_dir("conformance");
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
header_timeout = "1s"
body_timeout = "1s"

[network]
ip_allowlist = ["127.0.0.1"]

[funds.desk]
secret = "secret-desk"
max_quantity = "10"
rate_limit = {{ per_second = 1, burst = 20 }}

[funds.tight]
secret = "secret-tight"
max_quantity = "10"
rate_limit = {{ per_second = 1, burst = 2 }}

[delivery]
sink = "oms"
respond_within = "2s"

[delivery.oms]
endpoint = "{endpoint}"
timeout = "1s"

[store]
path = {data:?}

{adapters}
"#,
            endpoint = oms.endpoint(),
            adapters = support::chat::adapters_toml(
                r#"["desk", "tight"]"#,
                "principal_rate_limit = { per_second = 1, burst = 3 }",
                "principal_rate_limit = { per_second = 1, burst = 3 }",
                r#"
[adapters.slack.principals.bob]
team_id = "T0001"
user_id = "U0002"
funds = ["desk", "tight"]
"#,
            ),
        );
        let settings = load_str(&toml, EnvOverrides::from_vars([])).unwrap();
        Self {
            service: TestService::start(settings).await,
            oms,
        }
    }

    pub(crate) async fn send(&self, source: &dyn Source, req: &Signed) -> Reply {
        request(
            self.service.public,
            "POST",
            &format!("/{}/webhook", source.name()),
            &req.headers(),
            &req.body,
        )
        .await
    }

    /// The value of one metric sample (`name{labels}`), 0 when absent.
    pub(crate) async fn metric(&self, sample: &str) -> f64 {
        let metrics = self.service.admin_get("/metrics").await.body;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    pub(crate) async fn metrics(&self) -> String {
        self.service.admin_get("/metrics").await.body
    }
}

/// Now, in the Unix seconds the platforms sign with.
pub(crate) fn now_secs() -> i64 {
    T0.as_millis() / 1000
}

pub(crate) fn client_order_id(source: &dyn Source, fund: &str, key: &str) -> String {
    ClientOrderId::derive(
        source.name(),
        &FundId::parse(fund).unwrap(),
        &IdempotencyKey::parse(key).unwrap(),
    )
    .to_string()
}

/// Forged or unsigned: 401, and for header-signed sources before the body is parsed (garbage
/// from a forger is 401, never a 400 describing the parser).
pub(crate) async fn forged_or_unsigned(source: &dyn Source) {
    let bench = Bench::start().await;
    let valid = source.order("1001", DESK, Who::Granted, now_secs());
    let forged = bench.send(source, &source.forged(valid.clone())).await;
    assert_eq!(source.seen(&forged), Seen::Unauthorized, "{}", forged.body);
    if source.signed_in_headers() {
        let unsigned = Signed {
            headers: vec![],
            body: valid.body.clone(),
        };
        let reply = bench.send(source, &unsigned).await;
        assert_eq!(source.seen(&reply), Seen::Unauthorized, "{}", reply.body);
        let garbage = Signed {
            headers: valid.headers.clone(),
            body: b"{not a body".to_vec(),
        };
        let reply = bench.send(source, &garbage).await;
        assert_eq!(
            reply.status, 401,
            "refused before any parse: {}",
            reply.body
        );
    }
    let unauthorized = format!(
        "{}_webhook_rejections_total{{error=\"unauthorized\"}}",
        source.prefix()
    );
    assert!(bench.metric(&unauthorized).await >= 1.0);
    assert_eq!(bench.oms.calls(), 0);
    bench.service.shutdown().await;
}

/// A signed request more than 5 minutes from now, either way, is 401; at 5 minutes it is not.
pub(crate) async fn stale_timestamps(source: &dyn Source) {
    if !source.signed_in_headers() {
        return;
    }
    let bench = Bench::start().await;
    for (key, skew) in [("1002", -301), ("1003", 301)] {
        let reply = bench
            .send(
                source,
                &source.order(key, DESK, Who::Granted, now_secs() + skew),
            )
            .await;
        assert_eq!(
            source.seen(&reply),
            Seen::Unauthorized,
            "{skew}: {}",
            reply.body
        );
    }
    let reply = bench
        .send(
            source,
            &source.order("1004", DESK, Who::Granted, now_secs() - 300),
        )
        .await;
    assert_eq!(
        source.seen(&reply),
        Seen::Accepted("1004".into()),
        "{}",
        reply.body
    );
    bench.service.shutdown().await;
}

/// One byte over the adapter's cap is 413, before the adapter sees it (an unsigned body would
/// otherwise be 401).
pub(crate) async fn oversize(source: &dyn Source) {
    let bench = Bench::start().await;
    let body = vec![b'x'; source.max_body_bytes() + 1];
    let reply = bench
        .send(
            source,
            &Signed {
                headers: vec![],
                body,
            },
        )
        .await;
    assert_eq!(source.seen(&reply), Seen::TooLarge, "{}", reply.body);
    assert_eq!(reply.json()["limit_bytes"], source.max_body_bytes());
    // At the cap, the same garbage reaches the adapter.
    let body = vec![b'x'; source.max_body_bytes()];
    let reply = bench
        .send(
            source,
            &Signed {
                headers: vec![],
                body,
            },
        )
        .await;
    assert_ne!(reply.status, 413, "{}", reply.body);
    bench.service.shutdown().await;
}

/// Accepted: the OMS receives exactly one order, with the deterministic id; a replay is a
/// duplicate the OMS never sees.
pub(crate) async fn accepted_once_then_duplicate(source: &dyn Source) {
    let bench = Bench::start().await;
    let req = source.order("1005", DESK, Who::Granted, now_secs());
    let first = bench.send(source, &req).await;
    assert_eq!(
        source.seen(&first),
        Seen::Accepted("1005".into()),
        "{}",
        first.body
    );
    assert_eq!(
        bench.oms.accepted_ids(),
        [client_order_id(source, DESK, "1005")]
    );
    let again = bench.send(source, &req).await;
    assert_eq!(source.seen(&again), Seen::Duplicate, "{}", again.body);
    assert_eq!(bench.oms.calls(), 1, "the replay never reached the OMS");
    let prefix = source.prefix();
    for outcome in ["accepted", "duplicate"] {
        let sample = format!(
            "{prefix}_webhooks_total{{fund_id=\"desk\",intent=\"submit\",outcome=\"{outcome}\"}}"
        );
        assert_eq!(bench.metric(&sample).await, 1.0, "{sample}");
    }
    bench.service.shutdown().await;
}

/// Over the fund's budget: rate limited, whoever sends (members share the fund's budget).
pub(crate) async fn over_the_funds_rate(source: &dyn Source) {
    let bench = Bench::start().await;
    let senders = [Who::Granted, Who::Colleague, Who::Granted];
    let mut seen = Vec::new();
    for (i, who) in senders.into_iter().enumerate() {
        let key = format!("{}", 1010 + i);
        let reply = bench
            .send(source, &source.order(&key, TIGHT, who, now_secs()))
            .await;
        seen.push(source.seen(&reply));
        if i == 2 {
            assert_eq!(
                reply.status == 429,
                source.name() == "tradingview",
                "{}",
                reply.body
            );
        }
    }
    assert_eq!(
        seen,
        [
            Seen::Accepted("1010".into()),
            Seen::Accepted("1011".into()),
            Seen::RateLimited
        ]
    );
    let sample = format!(
        "{}_webhook_rejections_total{{error=\"rate_limited\"}}",
        source.prefix()
    );
    assert_eq!(bench.metric(&sample).await, 1.0);
    assert_eq!(bench.oms.calls(), 2);
    bench.service.shutdown().await;
}

/// Over one member's budget: that member is limited, a colleague on the same fund is not.
pub(crate) async fn over_the_principals_rate(source: &dyn Source) {
    if !source.has_members() {
        return;
    }
    let bench = Bench::start().await;
    for i in 0..3 {
        let key = format!("{}", 1020 + i);
        let reply = bench
            .send(source, &source.order(&key, DESK, Who::Granted, now_secs()))
            .await;
        assert_eq!(source.seen(&reply), Seen::Accepted(key), "{}", reply.body);
    }
    let limited = bench
        .send(
            source,
            &source.order("1023", DESK, Who::Granted, now_secs()),
        )
        .await;
    assert_eq!(source.seen(&limited), Seen::RateLimited, "{}", limited.body);
    let colleague = bench
        .send(
            source,
            &source.order("1024", DESK, Who::Colleague, now_secs()),
        )
        .await;
    assert_eq!(source.seen(&colleague), Seen::Accepted("1024".into()));
    bench.service.clock.advance(1000);
    let later = bench
        .send(
            source,
            &source.order("1025", DESK, Who::Granted, now_secs() + 1),
        )
        .await;
    assert_eq!(
        source.seen(&later),
        Seen::Accepted("1025".into()),
        "refilled"
    );
    bench.service.shutdown().await;
}

/// A principal no grant names is refused, nothing reaches the OMS, and no label grows from it.
pub(crate) async fn unknown_principal(source: &dyn Source) {
    let bench = Bench::start().await;
    let reply = bench
        .send(
            source,
            &source.order("1030", DESK, Who::Stranger, now_secs()),
        )
        .await;
    assert_eq!(source.seen(&reply), source.stranger(), "{}", reply.body);
    assert!(
        !reply.body.contains(DESK),
        "the refusal names no fund: {}",
        reply.body
    );
    assert_eq!(bench.oms.calls(), 0);
    // An unconfigured fund is never a label value.
    let nowhere = bench
        .send(
            source,
            &source.order("1031", "nowhere", Who::Granted, now_secs()),
        )
        .await;
    assert_ne!(source.seen(&nowhere), Seen::Accepted("1031".into()));
    let metrics = bench.metrics().await;
    assert!(!metrics.contains("nowhere"), "{metrics}");
    let unknown = format!(
        "{}_webhooks_total{{fund_id=\"unknown\",intent=\"unknown\",outcome=\"rejected\"}}",
        source.prefix()
    );
    assert_eq!(bench.metric(&unknown).await, 2.0, "{metrics}");
    bench.service.shutdown().await;
}

/// The OMS's id of the order keyed `key` (digits) placed through `source` for `desk`.
fn booked_state(
    bench: &Bench,
    source: &dyn Source,
    key: &str,
) -> (sim::book::OrderState, Vec<String>) {
    let booked = bench
        .oms
        .booked(&client_order_id(source, DESK, key))
        .expect("the OMS booked the order");
    (booked.state, booked.history)
}

/// Submit, then cancel by the order's key: the OMS's book shows it cancelled, the reply says
/// so with the cancel's key, a replay of the cancel is a duplicate the OMS never sees, and the
/// outcomes are counted by intent.
pub(crate) async fn submit_then_cancel(source: &dyn Source) {
    let bench = Bench::start().await;
    let placed = bench
        .send(
            source,
            &source.order("1040", DESK, Who::Granted, now_secs()),
        )
        .await;
    assert_eq!(
        source.seen(&placed),
        Seen::Accepted("1040".into()),
        "{}",
        placed.body
    );
    let cancel = source.modification("1041", Change::Cancel { target: "1040" }, now_secs());
    let cancelled = bench.send(source, &cancel).await;
    assert_eq!(
        source.seen(&cancelled),
        Seen::Modified("1041".into()),
        "{}",
        cancelled.body
    );
    let (state, history) = booked_state(&bench, source, "1040");
    assert_eq!(state, sim::book::OrderState::Cancelled);
    assert_eq!(history, ["submitted", "cancelled"]);
    let calls = bench.oms.calls();
    let again = bench.send(source, &cancel).await;
    assert_eq!(source.seen(&again), Seen::Duplicate, "{}", again.body);
    assert_eq!(bench.oms.calls(), calls, "the replay never reached the OMS");
    let prefix = source.prefix();
    for (intent, outcome) in [
        ("submit", "accepted"),
        ("cancel", "accepted"),
        ("cancel", "duplicate"),
    ] {
        let sample = format!(
            "{prefix}_webhooks_total{{fund_id=\"desk\",intent=\"{intent}\",outcome=\"{outcome}\"}}"
        );
        assert_eq!(bench.metric(&sample).await, 1.0, "{sample}");
    }
    bench.service.shutdown().await;
}

/// Submit, replace its limit, cancel everything on the symbol: the book shows each step, in
/// order.
pub(crate) async fn replace_then_cancel_all(source: &dyn Source) {
    let bench = Bench::start().await;
    let placed = bench
        .send(
            source,
            &source.order("1050", DESK, Who::Granted, now_secs()),
        )
        .await;
    assert_eq!(
        source.seen(&placed),
        Seen::Accepted("1050".into()),
        "{}",
        placed.body
    );
    let moved = source.modification(
        "1051",
        Change::Limit {
            target: "1050",
            limit: "94000",
        },
        now_secs(),
    );
    let reply = bench.send(source, &moved).await;
    assert_eq!(
        source.seen(&reply),
        Seen::Modified("1051".into()),
        "{}",
        reply.body
    );
    let reply = bench
        .send(
            source,
            &source.modification("1052", Change::CancelAll, now_secs()),
        )
        .await;
    assert_eq!(
        source.seen(&reply),
        Seen::Modified("1052".into()),
        "{}",
        reply.body
    );
    let (state, history) = booked_state(&bench, source, "1050");
    assert_eq!(state, sim::book::OrderState::Cancelled);
    assert_eq!(
        history,
        [
            "submitted",
            "replaced: limit 95000 -> 94000",
            "cancelled (cancel-all)"
        ]
    );
    bench.service.shutdown().await;
}

/// A cancel of an order the OMS has filled: 422 `target_not_active` (a chat reply saying so),
/// with the OMS's reason.
pub(crate) async fn cancel_of_a_filled_order(source: &dyn Source) {
    let bench = Bench::start().await;
    let placed = bench
        .send(
            source,
            &source.order("1060", DESK, Who::Granted, now_secs()),
        )
        .await;
    assert_eq!(
        source.seen(&placed),
        Seen::Accepted("1060".into()),
        "{}",
        placed.body
    );
    assert!(bench.oms.fill(&client_order_id(source, DESK, "1060")));
    let reply = bench
        .send(
            source,
            &source.modification("1061", Change::Cancel { target: "1060" }, now_secs()),
        )
        .await;
    assert_eq!(
        source.seen(&reply),
        Seen::NotActive("failed_precondition: already filled".into()),
        "{}",
        reply.body
    );
    let sample = format!(
        "{}_webhook_rejections_total{{error=\"target_not_active\"}}",
        source.prefix()
    );
    assert_eq!(bench.metric(&sample).await, 1.0, "{sample}");
    bench.service.shutdown().await;
}

macro_rules! conformance {
    ($($module:ident: $source:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn forged_or_unsigned_is_401() {
                forged_or_unsigned(&$source).await;
            }

            #[tokio::test]
            async fn stale_timestamps_are_401() {
                stale_timestamps(&$source).await;
            }

            #[tokio::test]
            async fn oversize_is_413() {
                oversize(&$source).await;
            }

            #[tokio::test]
            async fn accepted_once_then_duplicate() {
                super::accepted_once_then_duplicate(&$source).await;
            }

            #[tokio::test]
            async fn over_the_funds_rate_is_limited() {
                over_the_funds_rate(&$source).await;
            }

            #[tokio::test]
            async fn over_the_principals_rate_is_limited() {
                over_the_principals_rate(&$source).await;
            }

            #[tokio::test]
            async fn an_unknown_principal_is_refused() {
                unknown_principal(&$source).await;
            }

            #[tokio::test]
            async fn submit_then_cancel() {
                super::submit_then_cancel(&$source).await;
            }

            #[tokio::test]
            async fn replace_then_cancel_all() {
                super::replace_then_cancel_all(&$source).await;
            }

            #[tokio::test]
            async fn a_cancel_of_a_filled_order_is_not_active() {
                cancel_of_a_filled_order(&$source).await;
            }
        }
    )*};
}

conformance! {
    tradingview_adapter: tradingview::TradingView,
    slack_adapter: slack::Slack,
    discord_adapter: discord::Discord,
}
