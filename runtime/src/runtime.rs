//! The runtime: adapters, a secret source and a sink assembled in code (SPEC §11), answering raw
//! requests with [`Runtime::handle`] or serving them over HTTP (`http::server`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mts1b_inbound_core::{
    ClientOrderId, Clock, FollowUp, FundId, FundMap, FundPolicy, IdempotencyKey, InboundAdapter,
    Intent, IntentKind, IpNet, RateLimit, RawRequest, Rejection, Reloadable, SecretSource,
    SystemClock, UnixMillis,
};
use serde::Serialize;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::delivery::{OrderSink, OrderStatus, Settled, SinkUnavailable};
use crate::follow_up::{FollowUpPolicy, FollowUps};
use crate::gates::fund::FundGates;
use crate::gates::rate_limit::{FundRateLimits, MemberRateLimits};
use crate::gates::replay::ReplayWindow;
use crate::gates::source::SourcePolicy;
use crate::halts::FundHalts;
use crate::http::answer::Answer;
use crate::http::connections::{PeerCounts, PeerSlot};
use crate::metrics::Metrics;
use crate::pipeline::{
    AdapterGates, Endpoint, MEMBER_RATE_LIMIT, Pipeline, Shared, Trace, admit_source, record,
    send_follow_up,
};

/// Accepted keys the in-memory replay window holds before the oldest are evicted (the durable
/// store still refuses them within the window, so this sizes the fast path, not the guarantee:
/// ~4 MiB, and well above any number of claims in flight).
pub const REPLAY_CAPACITY: usize = 65_536;

/// Mounts one adapter once the runtime's metrics registry and defaults exist.
type Mount = Box<dyn FnOnce(&Defaults<'_>) -> Result<Arc<dyn Endpoint>, prometheus::Error>>;

/// What an adapter mounted without gates of its own gets.
struct Defaults<'a> {
    metrics: &'a Metrics,
    sources: &'a SourcePolicy,
    max_body_bytes: u64,
    clock: &'a Arc<dyn Clock>,
}

/// One adapter's own gates (SPEC §12), each `None` to take the runtime's.
#[derive(Clone, Debug, Default)]
pub struct AdapterOptions {
    /// Who may call its route, instead of the runtime's allowlist (`0.0.0.0/0` and `::/0`
    /// admit any address: signature-only sources).
    pub allowlist: Option<Vec<IpNet>>,
    /// Its body cap, instead of the runtime's.
    pub max_body_bytes: Option<u64>,
    /// Its rate limit per chat member ([`MEMBER_RATE_LIMIT`] by default).
    pub member_rate_limit: Option<RateLimit>,
}

/// Assembles a [`Runtime`].
pub struct RuntimeBuilder {
    endpoints: Vec<Mount>,
    secrets: Arc<dyn SecretSource>,
    sink: Arc<dyn OrderSink>,
    funds: FundMap<FundPolicy>,
    clock: Arc<dyn Clock>,
    sources: SourcePolicy,
    replay_window: Duration,
    max_body_bytes: u64,
    max_in_flight: usize,
    max_in_flight_per_peer: Option<usize>,
    remembered: Vec<(ClientOrderId, UnixMillis)>,
    metrics: Metrics,
    replay_capacity: usize,
    follow_ups: FollowUps,
    cluster: Option<FundGates>,
    halts: Arc<FundHalts>,
    admin_token: Option<Arc<mts1b_inbound_core::Secret>>,
}

/// Why a runtime could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Two adapters share a name, or metrics could not be registered.
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// Two adapters share a name.
    #[error("two adapters are named {0}")]
    DuplicateAdapter(&'static str),
}

impl RuntimeBuilder {
    /// A runtime taking fund secrets from `secrets` and handing accepted orders to `sink`, with
    /// SPEC defaults: a 5-minute replay window, a 4096-byte body cap, 1024 requests in flight,
    /// a quarter of them per caller address, the system clock, and no caller admitted until
    /// [`RuntimeBuilder::sources`] says who.
    pub fn new(secrets: Arc<dyn SecretSource>, sink: Arc<dyn OrderSink>) -> Self {
        Self {
            endpoints: Vec::new(),
            secrets,
            sink,
            funds: FundMap::default(),
            clock: Arc::new(SystemClock),
            sources: SourcePolicy::default(),
            replay_window: Duration::from_secs(300),
            max_body_bytes: 4096,
            max_in_flight: 1024,
            max_in_flight_per_peer: None,
            remembered: Vec::new(),
            metrics: Metrics::new(),
            replay_capacity: REPLAY_CAPACITY,
            follow_ups: FollowUps::new(FollowUpPolicy::default()),
            cluster: None,
            halts: Arc::default(),
            admin_token: None,
        }
    }

    /// Keeps the fund gates' state in the NATS cluster every replica shares (SPEC §14) instead
    /// of this process: `gates` is a [`FundGates::Cluster`]; the replay window's settings and
    /// [`RuntimeBuilder::remember`] then have no effect.
    pub fn shared_gates(mut self, gates: FundGates) -> Self {
        self.cluster = Some(gates);
        self
    }

    /// Requires HTTP Basic with `token` as the password on every admin route but `/healthz`
    /// (open by default: for a loopback admin listener only).
    pub fn admin_token(mut self, token: Option<Arc<mts1b_inbound_core::Secret>>) -> Self {
        self.admin_token = token;
        self
    }

    /// Uses `halts` as the per-fund kill switch (none halted by default).
    pub fn halts(mut self, halts: Arc<FundHalts>) -> Self {
        self.halts = halts;
        self
    }

    /// Sets how follow-ups to chat platforms are sent.
    pub fn follow_ups(mut self, follow_ups: FollowUps) -> Self {
        self.follow_ups = follow_ups;
        self
    }

    /// Mounts an adapter at `/<name>/webhook`, with the runtime's allowlist and body cap.
    pub fn adapter<A: InboundAdapter>(self, adapter: A) -> Self {
        self.adapter_with(adapter, AdapterOptions::default())
    }

    /// Mounts an adapter at `/<name>/webhook` with gates of its own.
    pub fn adapter_with<A: InboundAdapter>(mut self, adapter: A, options: AdapterOptions) -> Self {
        self.endpoints.push(Box::new(move |d: &Defaults<'_>| {
            let m = d.metrics.adapter(adapter.name(), adapter.metric_prefix())?;
            let gates = AdapterGates {
                sources: match options.allowlist {
                    Some(allowlist) => d.sources.with_allowlist(allowlist),
                    None => d.sources.clone(),
                },
                max_body_bytes: options.max_body_bytes.unwrap_or(d.max_body_bytes),
                members: MemberRateLimits::new(
                    options.member_rate_limit.unwrap_or(MEMBER_RATE_LIMIT),
                    d.clock.clone(),
                ),
            };
            Ok(Arc::new(Pipeline::new(adapter, m, gates)) as Arc<dyn Endpoint>)
        }));
        self
    }

    /// Adds a fund and its policy.
    pub fn fund(mut self, fund: FundId, policy: FundPolicy) -> Self {
        self.funds.insert(fund, policy);
        self
    }

    /// Sets the clock (tests inject a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets who may call and which proxies are believed.
    pub fn sources(mut self, sources: SourcePolicy) -> Self {
        self.sources = sources;
        self
    }

    /// Sets the replay window.
    pub fn replay_window(mut self, window: Duration) -> Self {
        self.replay_window = window;
        self
    }

    /// Sets how many accepted keys the in-memory window keeps before evicting the oldest (the
    /// durable store still refuses them; in-flight claims are never evicted).
    pub fn replay_capacity(mut self, keys: usize) -> Self {
        self.replay_capacity = keys.max(1);
        self
    }

    /// Sets the body cap.
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets how many requests are handled at once before shedding with 503.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests;
        self
    }

    /// Sets how many requests one caller address may have in flight at once (a quarter of
    /// `max_in_flight` unless set): no single client can hold every permit. The caller is the
    /// address the source gate judges, so behind a trusted proxy each forwarded caller counts
    /// on its own.
    pub fn max_in_flight_per_peer(mut self, requests: usize) -> Self {
        self.max_in_flight_per_peer = Some(requests);
        self
    }

    /// Starts the replay window with these accepted alerts (from the durable store), so repeats
    /// are refused across a restart.
    pub fn remember(
        mut self,
        accepted: impl IntoIterator<Item = (ClientOrderId, UnixMillis)>,
    ) -> Self {
        self.remembered.extend(accepted);
        self
    }

    /// Uses `metrics` as the registry (share it with the outbox so delivery counts land in the
    /// same `/metrics`).
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Builds the runtime.
    pub fn build(self) -> Result<Runtime, BuildError> {
        let metrics = self.metrics;
        let defaults = Defaults {
            metrics: &metrics,
            sources: &self.sources,
            max_body_bytes: self.max_body_bytes,
            clock: &self.clock,
        };
        let mut endpoints: Vec<Arc<dyn Endpoint>> = Vec::new();
        for make in self.endpoints {
            let endpoint = make(&defaults)?;
            if endpoints.iter().any(|e| e.name() == endpoint.name()) {
                return Err(BuildError::DuplicateAdapter(endpoint.name()));
            }
            endpoints.push(endpoint);
        }
        let rate_limits = FundRateLimits::new(
            self.funds.iter().map(|(id, p)| (id.clone(), p.rate_limit)),
            self.clock.clone(),
        );
        let replay =
            ReplayWindow::new(self.replay_window, self.replay_capacity, self.clock.clone());
        for (id, at) in self.remembered {
            replay.remember(id, at);
        }
        let gates = self.cluster.unwrap_or(FundGates::Embedded {
            rate_limits,
            replay,
        });
        Ok(Runtime {
            sources: self.sources,
            shared: Shared {
                secrets: self.secrets,
                funds: Reloadable::new(self.funds),
                gates,
                sink: self.sink,
                clock: self.clock,
                follow_ups: self.follow_ups,
                halts: self.halts,
                recent: Default::default(),
                follow_up_results: metrics.delivery.follow_ups.clone(),
            },
            endpoints,
            in_flight: Semaphore::new(self.max_in_flight),
            in_flight_per_peer: PeerCounts::new(
                self.max_in_flight_per_peer
                    .unwrap_or(self.max_in_flight / 4)
                    .max(1),
            ),
            max_in_flight: self.max_in_flight,
            metrics,
            admin: crate::http::admin::AdminAccess::new(self.admin_token),
        })
    }
}

/// The assembled bridge.
pub struct Runtime {
    pub(crate) shared: Shared,
    /// The runtime's own allowlist and trusted proxies (adapters may have their own allowlist).
    sources: SourcePolicy,
    endpoints: Vec<Arc<dyn Endpoint>>,
    in_flight: Semaphore,
    in_flight_per_peer: Arc<PeerCounts>,
    max_in_flight: usize,
    metrics: Metrics,
    admin: crate::http::admin::AdminAccess,
}

/// A request counted against the in-flight caps, all requests and its caller's, until dropped.
pub(crate) struct InFlight<'a> {
    _all: SemaphorePermit<'a>,
    _caller: PeerSlot,
}

/// What a reload changed in the set of funds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FundsReloaded {
    /// Funds configured now that were not.
    pub added: Vec<FundId>,
    /// Funds no longer configured: their alerts are refused as from an unknown fund.
    pub removed: Vec<FundId>,
    /// Funds whose envelope or rate limit changed.
    pub changed: Vec<FundId>,
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// True when every dependency is ready.
    pub ready: bool,
    /// What is not ready, if anything.
    pub reasons: Vec<String>,
}

impl Runtime {
    /// Every mounted adapter.
    pub(crate) fn endpoints(&self) -> &[Arc<dyn Endpoint>] {
        &self.endpoints
    }

    /// Returns the adapter mounted as `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Arc<dyn Endpoint>> {
        self.endpoints.iter().find(|e| e.name() == name)
    }

    /// Returns the clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// True when `peer` is a trusted proxy (it carries many callers).
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.sources.is_trusted_proxy(peer)
    }

    /// True when a connection from `peer` may be kept: some mounted adapter admits it, or it
    /// is a trusted proxy. Anything else could only ever be answered 403.
    pub fn may_connect(&self, peer: IpAddr) -> bool {
        self.endpoints
            .iter()
            .any(|e| e.gates().sources.may_connect(peer))
    }

    /// Answers one request for adapter `name` from `peer`, with no HTTP involved. The arrival
    /// time is the runtime's clock, whatever `request.received_at` says: staleness, expiry and
    /// signature freshness are judged on the bridge's time, not the caller's.
    pub async fn handle(&self, name: &str, peer: IpAddr, mut request: RawRequest) -> Answer {
        request.received_at = self.shared.clock.now();
        let Some(endpoint) = self.endpoint(name) else {
            return Answer::rejected(&Rejection::NotFound);
        };
        let started = Instant::now();
        let caller = match admit_source(&endpoint.gates().sources, peer, &request) {
            Ok(caller) => caller,
            Err(rejection) => return self.refuse(endpoint.as_ref(), rejection, started),
        };
        let _in_flight = match self.in_flight(caller) {
            Ok(in_flight) => in_flight,
            Err(why) => return self.shed(endpoint.as_ref(), why),
        };
        self.handle_admitted(endpoint.as_ref(), peer, request, started)
            .await
    }

    /// Counts a request from `caller` against the in-flight caps, or says which is full.
    pub(crate) fn in_flight(&self, caller: IpAddr) -> Result<InFlight<'_>, &'static str> {
        let all = self
            .in_flight
            .try_acquire()
            .map_err(|_| "too many requests in flight")?;
        let caller = self
            .in_flight_per_peer
            .try_acquire(caller)
            .ok_or("too many requests in flight from one address")?;
        Ok(InFlight {
            _all: all,
            _caller: caller,
        })
    }

    /// Runs the pipeline for a request already counted against the in-flight cap.
    pub(crate) async fn handle_admitted(
        &self,
        endpoint: &dyn Endpoint,
        peer: IpAddr,
        request: RawRequest,
        started: Instant,
    ) -> Answer {
        let mut trace = Trace::default();
        let outcome = endpoint.run(&self.shared, peer, &request, &mut trace).await;
        let answer = endpoint.answer(&outcome, &trace);
        record(endpoint, &self.shared, &outcome, &answer, &trace, started);
        answer
    }

    /// Answers a request refused before the pipeline ran (body cap, source, overload), with
    /// the same metrics and log line.
    pub(crate) fn refuse(
        &self,
        endpoint: &dyn Endpoint,
        rejection: Rejection,
        started: Instant,
    ) -> Answer {
        self.refuse_because(endpoint, rejection, None, started)
    }

    /// As [`Runtime::refuse`], saying `why` in the log line and on the admin page.
    pub(crate) fn refuse_because(
        &self,
        endpoint: &dyn Endpoint,
        rejection: Rejection,
        why: Option<String>,
        started: Instant,
    ) -> Answer {
        let outcome = Err(rejection);
        let trace = Trace {
            why,
            ..Trace::default()
        };
        let answer = endpoint.answer(&outcome, &trace);
        record(endpoint, &self.shared, &outcome, &answer, &trace, started);
        answer
    }

    pub(crate) fn shed(&self, endpoint: &dyn Endpoint, reason: &'static str) -> Answer {
        self.refuse(endpoint, Rejection::Unavailable { reason }, Instant::now())
    }

    /// Returns how many requests are being handled right now.
    pub fn requests_in_flight(&self) -> usize {
        self.max_in_flight
            .saturating_sub(self.in_flight.available_permits())
    }

    /// Where the order of (fund, idempotency key) stands, for any mounted adapter.
    pub async fn order_status(
        &self,
        fund: &str,
        key: &str,
    ) -> Result<Option<OrderStatus>, Rejection> {
        let (Ok(fund), Ok(key)) = (FundId::parse(fund), IdempotencyKey::parse(key)) else {
            return Ok(None);
        };
        // An order's key, or a modification's (its kind is part of its id, SPEC §13).
        for endpoint in &self.endpoints {
            for &kind in IntentKind::ALL {
                let id = ClientOrderId::derive_for(kind, endpoint.name(), &fund, &key);
                let status =
                    self.shared
                        .sink
                        .status(&id)
                        .await
                        .map_err(|_| Rejection::Unavailable {
                            reason: "order store unavailable",
                        })?;
                if status.is_some() {
                    return Ok(status);
                }
            }
        }
        Ok(None)
    }

    /// Sends the follow-up another process owed the sender of `intent` through the adapter
    /// named `adapter` (on the cluster backend, a replica that died before its order settled):
    /// rendered by that adapter here, sent to `to`. False if no such adapter is mounted.
    pub async fn send_owed_follow_up(
        &self,
        adapter: &str,
        intent: &Intent,
        to: &FollowUp,
        settled: &Settled,
    ) -> bool {
        let Some(endpoint) = self.endpoint(adapter) else {
            return false;
        };
        if let Some(body) = endpoint.follow_up_body(intent, settled) {
            let results = &self.shared.follow_up_results;
            send_follow_up(
                &self.shared.follow_ups,
                results,
                endpoint.name(),
                intent,
                to,
                body,
            )
            .await;
        }
        true
    }

    /// Puts the funds of a reloaded configuration in place (SIGHUP): requests already past
    /// their fund lookup finish under the policy they took; later ones get the new. A fund
    /// whose rate limit is unchanged keeps the budget it has spent; on the cluster backend the
    /// shared budgets take each policy's limit as alerts arrive. The secrets of new funds are
    /// the secret source's business (replace it first, or a new fund's first alerts are
    /// refused as from an unknown fund).
    pub fn reload_funds(&self, funds: FundMap<FundPolicy>) -> FundsReloaded {
        let previous = self.shared.funds.current();
        let sorted = |mut ids: Vec<FundId>| {
            ids.sort();
            ids
        };
        let reloaded = FundsReloaded {
            added: sorted(
                funds
                    .keys()
                    .filter(|id| !previous.contains_key(*id))
                    .cloned()
                    .collect(),
            ),
            removed: sorted(
                previous
                    .keys()
                    .filter(|id| !funds.contains_key(*id))
                    .cloned()
                    .collect(),
            ),
            changed: sorted(
                funds
                    .iter()
                    .filter(|(id, policy)| previous.get(*id).is_some_and(|p| p != *policy))
                    .map(|(id, _)| id.clone())
                    .collect(),
            ),
        };
        if let FundGates::Embedded { rate_limits, .. } = &self.shared.gates {
            rate_limits.reconcile(funds.iter().map(|(id, p)| (id.clone(), p.rate_limit)));
        }
        self.shared.halts.set_funds(funds.keys().cloned());
        self.shared.funds.replace(funds);
        reloaded
    }

    /// The per-fund kill switch.
    pub fn halts(&self) -> &FundHalts {
        &self.shared.halts
    }

    /// Who may use the admin routes.
    pub fn admin(&self) -> &crate::http::admin::AdminAccess {
        &self.admin
    }

    /// The configured funds, by name.
    pub fn fund_ids(&self) -> Vec<FundId> {
        let mut funds: Vec<FundId> = self.shared.funds.current().keys().cloned().collect();
        funds.sort();
        funds
    }

    /// Where the order or modification with this id stands.
    pub async fn status_of(
        &self,
        id: &ClientOrderId,
    ) -> Result<Option<OrderStatus>, SinkUnavailable> {
        self.shared.sink.status(id).await
    }

    /// The orders not yet final per stream, where the sink can list them.
    pub async fn queued_by_stream(&self) -> Option<Result<Vec<(String, usize)>, SinkUnavailable>> {
        self.shared.sink.queued_by_stream().await
    }

    /// The recent alerts (for the admin page).
    pub fn recent(&self) -> &crate::recent::RecentAlerts {
        &self.shared.recent
    }

    /// The name of every metric family this runtime exports (those without series yet too).
    pub fn metric_families(&self) -> Vec<String> {
        self.metrics.families()
    }

    /// The TLS metrics, counted by the listener.
    pub fn tls_metrics(&self) -> &crate::metrics::TlsMetrics {
        &self.metrics.tls
    }

    /// Renders the metrics (Prometheus text format), with readiness and the secrets' grace
    /// ends as they are now.
    pub fn metrics(&self) -> String {
        self.metrics.ready.set(i64::from(self.readiness().ready));
        let grace = &self.metrics.secret_grace_end;
        grace.reset();
        for fund in self.shared.funds.current().keys() {
            if let mts1b_inbound_core::SecretLookup::Found(secrets) =
                self.shared.secrets.fund_secret(fund)
                && let Some((_, until)) = secrets.previous()
            {
                grace
                    .with_label_values(&[fund.as_str()])
                    .set(until.as_millis().div_euclid(1000));
            }
        }
        self.metrics.render(self.requests_in_flight())
    }

    /// Says whether the bridge can take alerts, and if not, why.
    pub fn readiness(&self) -> Readiness {
        let reasons: Vec<String> = [
            self.shared.secrets.not_ready(),
            self.shared.sink.not_ready(),
        ]
        .into_iter()
        .flatten()
        .collect();
        Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }
}
