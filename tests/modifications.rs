//! Cancels, replaces and cancel-alls (SPEC §13) end to end: the real binary, delivering to the
//! real tonic OMS simulator, whose order book shows what each modification did. Each case runs
//! on both state backends (SPEC §14): the embedded store, and NATS JetStream (a nats-server of
//! the test's own).

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mts1b_tradingview::core::{ClientOrderId, FundId, IdempotencyKey, IntentKind};
use serde_json::{Value, json};
use sim::{Oms, Script};
use support::nats::NatsServer;
use support::process::{Running, bin, oms_config, serve};
use support::{Reply, request, temp_dir};

const FUND: &str = "fund-a";

/// Where the bridge keeps its state.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// Its own store.
    Embedded,
    /// A NATS server (started for the test).
    Nats,
}

/// The bridge's configuration: the OMS at `oms_port`; `respond_within`, `max_order_age` and
/// `max_cancel_age` as given; on `nats`, the cluster backend on that server.
fn config(
    dir: &Path,
    oms_port: u16,
    (respond_within, max_order_age, max_cancel_age): (&str, &str, &str),
    nats: Option<&NatsServer>,
) -> std::path::PathBuf {
    let delivery = format!(
        "respond_within = \"{respond_within}\"\nmax_order_age = \"{max_order_age}\"\nmax_cancel_age = \"{max_cancel_age}\""
    );
    let path = oms_config(dir, oms_port, &delivery);
    if let Some(nats) = nats {
        let text = std::fs::read_to_string(&path).unwrap();
        let cluster = format!(
            "\n[cluster]\nbackend = \"nats\"\n\n[cluster.nats]\nservers = [\"{}\"]\nreplicas = 1\n",
            nats.url()
        );
        std::fs::write(&path, text + &cluster).unwrap();
    }
    path
}

/// The bridge (and its NATS server) and the OMS simulator.
struct Desk {
    bridge: Running,
    oms: Oms,
    _nats: Option<NatsServer>,
}

/// The bridge, its OMS down (its port reserved but not listening: connections are refused).
struct Down {
    bridge: Running,
    reserved: tokio::net::TcpSocket,
    nats: Option<NatsServer>,
}

impl Desk {
    async fn start(tag: &str, backend: Backend) -> Self {
        Self::start_with(tag, backend, ("1s", "60s", "1h")).await
    }

    fn nats(tag: &str, backend: Backend) -> Option<NatsServer> {
        match backend {
            Backend::Embedded => None,
            Backend::Nats => Some(NatsServer::start(tag)),
        }
    }

    async fn start_with(tag: &str, backend: Backend, delivery: (&str, &str, &str)) -> Self {
        let dir = temp_dir(tag);
        let nats = Self::nats(tag, backend);
        let oms = sim::start(Script::default()).await;
        let config = config(&dir, oms.addr.port(), delivery, nats.as_ref());
        let bridge = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
        Self {
            bridge,
            oms,
            _nats: nats,
        }
    }

    /// The bridge, with the OMS's port reserved but not listening (connections are refused,
    /// as when the OMS is down); `oms_up` starts the OMS there.
    async fn start_down(tag: &str, backend: Backend) -> Down {
        let dir = temp_dir(tag);
        let nats = Self::nats(tag, backend);
        let (reserved, port) = support::reserved_port();
        let config = config(&dir, port, ("1s", "60s", "1h"), nats.as_ref());
        let bridge = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
        Down {
            bridge,
            reserved,
            nats,
        }
    }

    async fn oms_up(down: Down) -> Self {
        let oms = sim::start_on(down.reserved.listen(1024).unwrap(), Script::default()).await;
        Self {
            bridge: down.bridge,
            oms,
            _nats: down.nats,
        }
    }

    async fn send(&self, alert: &Value) -> Reply {
        request(
            self.bridge.public,
            "POST",
            "/webhook",
            &[],
            alert.to_string().as_bytes(),
        )
        .await
    }

    /// Sends `alert` and checks the answer's status; returns its body.
    async fn expect(&self, alert: &Value, status: u16) -> Value {
        let reply = self.send(alert).await;
        assert_eq!(reply.status, status, "{alert}: {}", reply.body);
        reply.json()
    }

    async fn order(&self, key: &str) -> Value {
        admin(self.bridge.admin, &format!("/orders/{FUND}/{key}")).await
    }

    /// Sends an order keyed `key` and waits until the OMS has it (answered 200, or 202 when the
    /// host is slower than `respond_within`, then delivered).
    async fn working(&self, key: &str) {
        let reply = self.send(&order(key, "BINANCE:BTCUSDT", "95000")).await;
        assert!(matches!(reply.status, 200 | 202), "{}", reply.body);
        until("the order reaches the OMS", || {
            self.oms.booked(&id_of(key)).is_some()
        })
        .await;
    }

    /// Makes the OMS answer UNAVAILABLE to every call (down), or serve again (up).
    fn oms_down(&self, down: bool) {
        self.oms.script(Script {
            unavailable_calls: if down { usize::MAX } else { 0 },
            ..Script::default()
        });
    }

    /// Every call the OMS got, in order: a submit's client order id, a modification's
    /// `kind:request_id`.
    fn calls(&self) -> Vec<String> {
        self.oms.state.lock().unwrap().calls.clone()
    }
}

async fn admin(addr: SocketAddr, path: &str) -> Value {
    request(addr, "GET", path, &[], b"").await.json()
}

fn order(key: &str, symbol: &str, limit: &str) -> Value {
    json!({
        "secret": "secret-a", "strategy_id": "breakout", "fund_id": FUND,
        "symbol": symbol, "side": "buy", "quantity": "1", "order_type": "limit",
        "limit_price": limit, "idempotency_key": key,
    })
}

fn cancel(key: &str, target: &str, symbol: &str) -> Value {
    json!({
        "secret": "secret-a", "strategy_id": "breakout", "fund_id": FUND,
        "action": "cancel", "target_key": target, "symbol": symbol, "idempotency_key": key,
    })
}

fn replace(key: &str, target: &str, symbol: &str, limit: &str) -> Value {
    json!({
        "secret": "secret-a", "strategy_id": "breakout", "fund_id": FUND,
        "action": "replace", "target_key": target, "symbol": symbol, "limit_price": limit,
        "idempotency_key": key,
    })
}

fn cancel_all(key: &str, symbol: Option<&str>) -> Value {
    let mut alert = json!({
        "secret": "secret-a", "strategy_id": "breakout", "fund_id": FUND,
        "action": "cancel_all", "idempotency_key": key,
    });
    if let Some(symbol) = symbol {
        alert["symbol"] = json!(symbol);
    }
    alert
}

/// `mts1b_delivery_queue_depth` as the bridge at `admin` exports it.
async fn queue_depth(admin: std::net::SocketAddr) -> i64 {
    let metrics = request(admin, "GET", "/metrics", &[], b"").await.body;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("mts1b_delivery_queue_depth "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no queue depth in\n{metrics}"))
}

/// Waits up to 20 s for `done`.
async fn until_async<F: std::future::Future<Output = bool>>(what: &str, done: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The client order id the bridge derives for the order keyed `key`.
fn id_of(key: &str) -> String {
    ClientOrderId::derive(
        "tradingview",
        &FundId::parse(FUND).unwrap(),
        &IdempotencyKey::parse(key).unwrap(),
    )
    .to_string()
}

/// Waits (bounded) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn submit_then_cancel_cancels_the_order_in_the_book(backend: Backend) {
    let desk = Desk::start("mod-cancel", backend).await;
    let placed = desk
        .send(&order("entry-1", "BINANCE:BTCUSDT", "95000"))
        .await;
    assert_eq!(placed.status, 200, "{}", placed.body);
    let cancelled = desk
        .send(&cancel("undo-1", "entry-1", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let answer = cancelled.json();
    assert_eq!(
        (answer["status"].as_str(), answer["target_key"].as_str()),
        (Some("cancelled"), Some("entry-1")),
        "{answer}"
    );
    assert_eq!(answer["order_id"], placed.json()["order_id"]);
    let booked = desk.oms.booked(&id_of("entry-1")).unwrap();
    assert_eq!(booked.state, sim::book::OrderState::Cancelled);
    assert_eq!(booked.history, ["submitted", "cancelled"]);
    // The bridge's record says so, and keeps the cancel's own record.
    let status = desk.order("entry-1").await;
    assert_eq!(status["status"], "cancelled", "{status}");
    assert_eq!(
        status["modifications"],
        json!(["cancelled by cancel undo-1"])
    );
    let own = desk.order("undo-1").await;
    assert_eq!(
        (own["intent"].as_str(), own["status"].as_str()),
        (Some("cancel"), Some("applied")),
        "{own}"
    );
    // The same cancel again is a duplicate; a cancel keyed like the order is not (SPEC §13).
    let again = desk
        .send(&cancel("undo-1", "entry-1", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    let keyed_alike = desk
        .send(&cancel("entry-1", "entry-1", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(keyed_alike.status, 422, "{}", keyed_alike.body);
    assert_eq!(keyed_alike.json()["error"], "target_not_active");
    assert_eq!(
        keyed_alike.json()["reason"],
        "the target is already cancelled"
    );
    let metrics = request(desk.bridge.admin, "GET", "/metrics", &[], b"")
        .await
        .body;
    for intent in ["submit", "cancel"] {
        let sample = format!(
            "tv_webhooks_total{{fund_id=\"fund-a\",intent=\"{intent}\",outcome=\"accepted\"}} 1"
        );
        assert!(metrics.contains(&sample), "{sample}\n{metrics}");
    }
}

async fn submit_replace_then_cancel_all_on_the_symbol_show_in_the_book_in_order(backend: Backend) {
    let desk = Desk::start("mod-replace", backend).await;
    desk.expect(&order("entry-2", "BINANCE:ETHUSDT", "3500"), 200)
        .await;
    let replaced = desk
        .send(&replace("move-2", "entry-2", "BINANCE:ETHUSDT", "3450.5"))
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.json()["status"], "replaced");
    // A replace that does not fit the order's type is refused before anything is recorded.
    let misfit = json!({
        "secret": "secret-a", "strategy_id": "breakout", "fund_id": FUND,
        "action": "replace", "target_key": "entry-2", "symbol": "BINANCE:ETHUSDT",
        "stop_price": "3300", "idempotency_key": "misfit",
    });
    let refused = desk.send(&misfit).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.json()["field"], "stop_price");
    let cleared = desk
        .send(&cancel_all("flat-2", Some("BINANCE:ETHUSDT")))
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(cleared.json()["status"], "cancelled_all");
    let booked = desk.oms.booked(&id_of("entry-2")).unwrap();
    assert_eq!(
        booked.history,
        [
            "submitted",
            "replaced: limit 3500 -> 3450.5",
            "cancelled (cancel-all)"
        ]
    );
    assert_eq!(booked.order.limit_price, "3450.5");
    let status = desk.order("entry-2").await;
    assert_eq!(status["status"], "cancelled", "{status}");
    assert_eq!(
        status["modifications"],
        json!([
            "replaced by replace move-2: limit_price 3450.5",
            "cancelled by cancel_all flat-2"
        ])
    );
    // Another symbol than the target's is refused too.
    let elsewhere = desk
        .send(&cancel("undo-x", "entry-2", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    assert_eq!(
        elsewhere.json()["detail"],
        "the target order trades ETH-USD"
    );
}

async fn with_the_oms_down_a_cancelled_order_is_never_sent(backend: Backend) {
    let down = Desk::start_down("mod-down", backend).await;
    let bridge = &down.bridge;
    let send = |alert: Value| {
        let public = bridge.public;
        async move {
            request(
                public,
                "POST",
                "/webhook",
                &[],
                alert.to_string().as_bytes(),
            )
            .await
        }
    };
    let queued = send(order("entry-3", "BINANCE:BTCUSDT", "95000")).await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    let cancelled = send(cancel("undo-3", "entry-3", "BINANCE:BTCUSDT")).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.json()["status"], "cancelled");
    assert_eq!(
        cancelled.json()["detail"],
        "cancelled before delivery: the OMS never saw the order"
    );
    // A queued order replaced before delivery goes out with its new terms only.
    assert_eq!(
        send(order("entry-4", "BINANCE:BTCUSDT", "94000"))
            .await
            .status,
        202
    );
    let moved = send(replace("move-4", "entry-4", "BINANCE:BTCUSDT", "93000")).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(
        moved.json()["detail"],
        "replaced before delivery: the OMS gets the new terms only"
    );
    // What is still to go: entry-4 alone (the cancel, entry-3 and the replace are final).
    assert_eq!(queue_depth(bridge.admin).await, 1);
    // The OMS comes back; an order sent after them goes out behind them in their stream.
    let desk = Desk::oms_up(down).await;
    desk.expect(&order("entry-5", "BINANCE:BTCUSDT", "92000"), 200)
        .await;
    until("entry-4 delivered", || {
        desk.oms.booked(&id_of("entry-4")).is_some()
    })
    .await;
    // Every call the OMS ever got: the two orders, in arrival order, and nothing else.
    assert_eq!(desk.calls(), [id_of("entry-4"), id_of("entry-5")]);
    until_async("the queue empty", || async {
        queue_depth(desk.bridge.admin).await == 0
    })
    .await;
    assert_eq!(
        desk.oms
            .booked(&id_of("entry-4"))
            .unwrap()
            .order
            .limit_price,
        "93000"
    );
    let status = desk.order("entry-3").await;
    assert_eq!(status["status"], "cancelled", "{status}");
    assert_eq!(
        status["modifications"],
        json!(["cancelled before delivery by cancel undo-3"])
    );
    let status = desk.order("entry-4").await;
    assert_eq!(
        status["modifications"],
        json!(["replaced before delivery by replace move-4: limit_price 93000"])
    );
}

async fn a_cancel_of_an_order_the_oms_filled_is_422_with_the_oms_reason(backend: Backend) {
    let desk = Desk::start("mod-filled", backend).await;
    desk.expect(&order("entry-6", "BINANCE:BTCUSDT", "95000"), 200)
        .await;
    assert!(desk.oms.fill(&id_of("entry-6")));
    let late = desk
        .send(&cancel("undo-6", "entry-6", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(late.status, 422, "{}", late.body);
    let answer = late.json();
    assert_eq!(answer["error"], "target_not_active", "{answer}");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("already filled"),
        "{answer}"
    );
    // An order the bridge does not know is named to the OMS all the same, which says so.
    let unknown = desk
        .send(&cancel("undo-7", "never-sent", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(unknown.json()["error"], "target_not_active");
    assert!(
        unknown.json()["reason"]
            .as_str()
            .unwrap()
            .contains("not_found")
    );
}

async fn an_expired_target_is_not_active_and_nothing_is_sent(backend: Backend) {
    let desk = Desk::start_with("mod-expired", backend, ("50ms", "1s", "1h")).await;
    desk.oms_down(true);
    desk.expect(&order("entry-8", "BINANCE:BTCUSDT", "95000"), 202)
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while desk.order("entry-8").await["status"] != "expired" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "entry-8 never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = desk.calls().len();
    let refused = desk
        .send(&cancel("undo-8", "entry-8", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        refused.json()["reason"],
        "the target expired: it was never sent"
    );
    assert_eq!(desk.calls().len(), calls, "nothing more reached the OMS");
    // Nothing was recorded: the same key with a target that exists is taken.
    desk.oms_down(false);
    desk.expect(&order("entry-9", "BINANCE:BTCUSDT", "95000"), 200)
        .await;
    let taken = desk
        .send(&cancel("undo-8", "entry-9", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(taken.status, 200, "{}", taken.body);
}

async fn a_cancel_all_of_every_symbol_is_a_barrier_for_its_scope(backend: Backend) {
    let desk = Desk::start("mod-barrier", backend).await;
    // Working at the OMS before the outage.
    desk.expect(&order("live-1", "BINANCE:BTCUSDT", "95000"), 200)
        .await;
    desk.oms_down(true);
    for (key, symbol) in [("q-1", "BINANCE:BTCUSDT"), ("q-2", "BINANCE:ETHUSDT")] {
        desk.expect(&order(key, symbol, "100"), 202).await;
    }
    let flat = desk.send(&cancel_all("flat-all", None)).await;
    assert_eq!(flat.status, 202, "the OMS is down: {}", flat.body);
    // Arrived after the cancel-all: delivered after it, in a stream of its scope.
    desk.expect(&order("after-1", "BINANCE:ETHUSDT", "3400"), 202)
        .await;
    // Queued orders in the scope were cancelled at once, before the OMS came back.
    for key in ["q-1", "q-2"] {
        let status = desk.order(key).await;
        assert_eq!(status["status"], "cancelled", "{key}: {status}");
    }
    desk.oms_down(false);
    until("after-1 delivered", || {
        desk.oms.booked(&id_of("after-1")).is_some()
    })
    .await;
    let served = desk.oms.served();
    let cancel_all_at = served
        .iter()
        .position(|c| c.starts_with("cancel_all:"))
        .expect("the cancel-all reached the OMS");
    let after_at = served.iter().position(|c| *c == id_of("after-1")).unwrap();
    assert!(cancel_all_at < after_at, "{served:?}");
    assert!(
        !served
            .iter()
            .any(|c| *c == id_of("q-1") || *c == id_of("q-2")),
        "{served:?}"
    );
    // The order working before the outage was cancelled by the OMS; the new one works.
    let live = desk.oms.booked(&id_of("live-1")).unwrap();
    assert_eq!(live.state, sim::book::OrderState::Cancelled);
    assert_eq!(
        desk.oms.booked(&id_of("after-1")).unwrap().state,
        sim::book::OrderState::Open
    );
    let status = desk.order("live-1").await;
    assert_eq!(status["status"], "cancelled", "{status}");
}

async fn a_cancel_outlives_max_order_age_and_one_that_expires_is_loud(backend: Backend) {
    // Orders expire after 500 ms, cancels after 2 s.
    let desk = Desk::start_with("mod-late", backend, ("50ms", "500ms", "2s")).await;
    desk.working("live-1").await;
    desk.oms_down(true);
    let sent = tokio::time::Instant::now();
    let undo = desk
        .send(&cancel("undo-1", "live-1", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(undo.status, 202, "{}", undo.body);
    // Still trying once older than an order may grow.
    while sent.elapsed() < Duration::from_millis(800) {
        assert_eq!(desk.order("undo-1").await["status"], "queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    desk.oms_down(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while desk.order("undo-1").await["status"] != "applied" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "undo-1 never applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        desk.oms.booked(&id_of("live-1")).unwrap().state,
        sim::book::OrderState::Cancelled
    );

    // One the OMS never takes expires at max_cancel_age, loudly: its order is still working.
    desk.working("live-2").await;
    desk.oms_down(true);
    let undo = desk
        .send(&cancel("undo-2", "live-2", "BINANCE:BTCUSDT"))
        .await;
    assert_eq!(undo.status, 202, "{}", undo.body);
    let (line, _) =
        support::process::wait_for(&desk.bridge.stderr, |l| l.contains("cancel expired"));
    assert!(line.contains("\"level\":\"ERROR\""), "{line}");
    assert_eq!(desk.order("undo-2").await["status"], "expired");
    let metrics = request(desk.bridge.admin, "GET", "/metrics", &[], b"")
        .await
        .body;
    assert!(
        metrics.contains("mts1b_delivery_cancels_expired_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mts1b_delivery_expired_total 0"),
        "an expired cancel is not an expired order: {metrics}"
    );
    assert_eq!(
        desk.oms.booked(&id_of("live-2")).unwrap().state,
        sim::book::OrderState::Open
    );
}

/// One request of the storm, in arrival order.
struct Sent {
    /// `submit`, `cancel`, `replace` or `cancel_all`.
    kind: IntentKind,
    key: String,
    /// The stream's symbol (canonical); `None` for a cancel-all of every symbol.
    symbol: Option<&'static str>,
    /// For a cancel or replace: the target's key.
    target: Option<String>,
}

impl Sent {
    /// How the OMS simulator logs a call for it.
    fn call(&self) -> String {
        let id = ClientOrderId::derive_for(
            self.kind,
            "tradingview",
            &FundId::parse(FUND).unwrap(),
            &IdempotencyKey::parse(&self.key).unwrap(),
        );
        match self.kind {
            IntentKind::Submit => id.to_string(),
            kind => format!("{}:{id}", kind.as_str()),
        }
    }
}

/// Orders, cancels, replaces and cancel-alls, interleaved on three symbols while the OMS goes
/// down and comes back: whatever the timing, every promise holds. A seeded generator picks the
/// requests; the timing is the machine's.
async fn a_storm_of_orders_and_modifications_keeps_every_promise(backend: Backend) {
    const SYMBOLS: [(&str, &str); 3] = [
        ("BINANCE:BTCUSDT", "BTC-USD"),
        ("BINANCE:ETHUSDT", "ETH-USD"),
        ("BINANCE:SOLUSDT", "SOL-USD"),
    ];
    let desk = Desk::start_with("mod-storm", backend, ("50ms", "60s", "1h")).await;
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut sent: Vec<Sent> = Vec::new();
    let mut orders: Vec<(String, usize)> = Vec::new();
    for i in 0..160 {
        if i % 16 == 0 {
            desk.oms_down(next(2) == 0);
        }
        let pick = next(20);
        let (alert, entry) = if pick < 10 || orders.is_empty() {
            let s = next(3) as usize;
            let key = format!("o-{i}");
            orders.push((key.clone(), s));
            let alert = order(&key, SYMBOLS[s].0, &format!("{}", 100 + i));
            (
                alert,
                Sent {
                    kind: IntentKind::Submit,
                    key,
                    symbol: Some(SYMBOLS[s].1),
                    target: None,
                },
            )
        } else if pick < 18 {
            let (target, s) = orders[next(orders.len() as u64) as usize].clone();
            let key = format!("m-{i}");
            let (alert, kind) = if pick < 15 {
                (cancel(&key, &target, SYMBOLS[s].0), IntentKind::Cancel)
            } else {
                let limit = format!("{}", 50 + i);
                (
                    replace(&key, &target, SYMBOLS[s].0, &limit),
                    IntentKind::Replace,
                )
            };
            (
                alert,
                Sent {
                    kind,
                    key,
                    symbol: Some(SYMBOLS[s].1),
                    target: Some(target),
                },
            )
        } else {
            let s = next(4) as usize;
            let key = format!("a-{i}");
            let symbol = SYMBOLS.get(s);
            (
                cancel_all(&key, symbol.map(|s| s.0)),
                Sent {
                    kind: IntentKind::CancelAll,
                    key,
                    symbol: symbol.map(|s| s.1),
                    target: None,
                },
            )
        };
        let reply = desk.send(&alert).await;
        assert!(
            matches!(reply.status, 200 | 202 | 400 | 422),
            "{alert}: {} {}",
            reply.status,
            reply.body
        );
        // A refusal (a target already cancelled, a replace of a cancelled order) recorded
        // nothing: not part of what must be delivered.
        if reply.status < 300 {
            sent.push(entry);
        }
    }
    desk.oms_down(false);
    // Everything settles: no record stays queued.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for s in &sent {
        loop {
            let status = desk.order(&s.key).await;
            if status["status"] != "queued" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never settled",
                s.key
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let served = desk.oms.served();
    // The first time the OMS served each request (a resend is a duplicate, served again).
    let at = |s: &Sent| served.iter().position(|c| *c == s.call());
    let mut checked = 0;
    for (i, s) in sent.iter().enumerate() {
        let status = desk.order(&s.key).await;
        // An order cancelled before delivery never reached the OMS.
        let before_delivery = status["modifications"].as_array().is_some_and(|m| {
            m.iter()
                .any(|h| h.as_str().unwrap().starts_with("cancelled before delivery"))
        });
        if s.kind == IntentKind::Submit && status["status"] == "cancelled" && before_delivery {
            assert_eq!(
                at(s),
                None,
                "{}: cancelled before delivery, yet sent: {status}",
                s.key
            );
            checked += 1;
        }
        // A modification the OMS served came after its target.
        if let (Some(target), Some(p)) = (&s.target, at(s)) {
            let t = sent.iter().find(|o| o.key == *target).unwrap();
            assert!(
                at(t) < Some(p),
                "{} served before its target {target}",
                s.key
            );
        }
        // Within a stream, what the OMS served it served in arrival order.
        for later in sent[i + 1..]
            .iter()
            .filter(|l| l.symbol.is_some() && l.symbol == s.symbol)
        {
            if let (Some(a), Some(b)) = (at(s), at(later)) {
                assert!(
                    a < b,
                    "{} arrived before {} but was served after it",
                    s.key,
                    later.key
                );
            }
        }
        // A cancel-all of every symbol is a barrier for every stream of the scope.
        if s.kind == IntentKind::CancelAll && s.symbol.is_none() {
            let Some(p) = at(s) else { continue };
            for (j, other) in sent.iter().enumerate().filter(|(j, _)| *j != i) {
                if let Some(q) = at(other) {
                    assert_eq!(j < i, q < p, "{} and the barrier {}", other.key, s.key);
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "the storm exercised nothing");
    eprintln!(
        "{} requests recorded, {} calls served, {checked} cancels-before-delivery and barriers checked",
        sent.len(),
        served.len()
    );
}

/// Each case on each backend.
macro_rules! on_backends {
    ($backend:ident: $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(super::Backend::$backend).await
            }
        )*
    };
}

mod embedded {
    on_backends!(Embedded: submit_then_cancel_cancels_the_order_in_the_book, submit_replace_then_cancel_all_on_the_symbol_show_in_the_book_in_order, with_the_oms_down_a_cancelled_order_is_never_sent, a_cancel_of_an_order_the_oms_filled_is_422_with_the_oms_reason, an_expired_target_is_not_active_and_nothing_is_sent, a_cancel_all_of_every_symbol_is_a_barrier_for_its_scope, a_cancel_outlives_max_order_age_and_one_that_expires_is_loud, a_storm_of_orders_and_modifications_keeps_every_promise);
}

mod nats {
    on_backends!(Nats: submit_then_cancel_cancels_the_order_in_the_book, submit_replace_then_cancel_all_on_the_symbol_show_in_the_book_in_order, with_the_oms_down_a_cancelled_order_is_never_sent, a_cancel_of_an_order_the_oms_filled_is_422_with_the_oms_reason, an_expired_target_is_not_active_and_nothing_is_sent, a_cancel_all_of_every_symbol_is_a_barrier_for_its_scope, a_cancel_outlives_max_order_age_and_one_that_expires_is_loud, a_storm_of_orders_and_modifications_keeps_every_promise);
}
