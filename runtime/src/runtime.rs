//! The runtime: adapters, a secret source and a sink assembled in code (SPEC §11), answering raw
//! requests with [`Runtime::handle`] or serving them over HTTP (`http::server`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mts1b_inbound_core::{
    ClientOrderId, Clock, FundId, FundMap, FundPolicy, IdempotencyKey, InboundAdapter, RawRequest,
    Rejection, SecretSource, SystemClock, UnixMillis,
};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::delivery::{OrderSink, OrderStatus};
use crate::gates::rate_limit::FundRateLimits;
use crate::gates::replay::ReplayWindow;
use crate::gates::source::SourcePolicy;
use crate::http::answer::Answer;
use crate::metrics::Metrics;
use crate::pipeline::{Endpoint, Pipeline, Shared, Trace, record};

/// Accepted keys the in-memory replay window holds before the oldest are evicted (the durable
/// store still refuses them within the window, so this sizes the fast path, not the guarantee:
/// ~4 MiB, and well above any number of claims in flight).
pub const REPLAY_CAPACITY: usize = 65_536;

/// Mounts one adapter once the runtime's metrics registry exists.
type Mount = Box<dyn FnOnce(&Metrics) -> Result<Arc<dyn Endpoint>, prometheus::Error>>;

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
    remembered: Vec<(ClientOrderId, UnixMillis)>,
    metrics: Metrics,
    replay_capacity: usize,
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
    /// the system clock, and no caller admitted until [`RuntimeBuilder::sources`] says who.
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
            remembered: Vec::new(),
            metrics: Metrics::new(),
            replay_capacity: REPLAY_CAPACITY,
        }
    }

    /// Mounts an adapter at `/<name>/webhook`.
    pub fn adapter<A: InboundAdapter>(mut self, adapter: A) -> Self {
        self.endpoints.push(Box::new(move |metrics: &Metrics| {
            let m = metrics.adapter(adapter.name(), adapter.metric_prefix())?;
            Ok(Arc::new(Pipeline::new(adapter, m)) as Arc<dyn Endpoint>)
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
        let mut endpoints: Vec<Arc<dyn Endpoint>> = Vec::new();
        for make in self.endpoints {
            let endpoint = make(&metrics)?;
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
        Ok(Runtime {
            shared: Shared {
                secrets: self.secrets,
                funds: self.funds,
                rate_limits,
                replay,
                sink: self.sink,
                clock: self.clock,
                sources: self.sources,
                max_body_bytes: self.max_body_bytes,
            },
            endpoints,
            in_flight: Semaphore::new(self.max_in_flight),
            max_in_flight: self.max_in_flight,
            metrics,
        })
    }
}

/// The assembled bridge.
pub struct Runtime {
    pub(crate) shared: Shared,
    endpoints: Vec<Arc<dyn Endpoint>>,
    pub(crate) in_flight: Semaphore,
    max_in_flight: usize,
    metrics: Metrics,
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
    /// Returns the adapter mounted as `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Arc<dyn Endpoint>> {
        self.endpoints.iter().find(|e| e.name() == name)
    }

    /// Returns the clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// Returns the body cap.
    pub fn max_body_bytes(&self) -> u64 {
        self.shared.max_body_bytes
    }

    /// Answers one request for adapter `name` from `peer`, with no HTTP involved. The arrival
    /// time is the runtime's clock, whatever `request.received_at` says: staleness, expiry and
    /// signature freshness are judged on the bridge's time, not the caller's.
    pub async fn handle(&self, name: &str, peer: IpAddr, mut request: RawRequest) -> Answer {
        request.received_at = self.shared.clock.now();
        let Some(endpoint) = self.endpoint(name) else {
            return Answer::rejected(&Rejection::NotFound);
        };
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return self.shed(endpoint.as_ref());
        };
        self.handle_admitted(endpoint.as_ref(), peer, request, Instant::now())
            .await
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
        let answer = Answer::of(&outcome);
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
        let outcome = Err(rejection);
        let answer = Answer::of(&outcome);
        record(
            endpoint,
            &self.shared,
            &outcome,
            &answer,
            &Trace::default(),
            started,
        );
        answer
    }

    pub(crate) fn shed(&self, endpoint: &dyn Endpoint) -> Answer {
        self.refuse(
            endpoint,
            Rejection::Unavailable {
                reason: "too many requests in flight",
            },
            Instant::now(),
        )
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
        for endpoint in &self.endpoints {
            let id = ClientOrderId::derive(endpoint.name(), &fund, &key);
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
        Ok(None)
    }

    /// Renders the metrics (Prometheus text format).
    pub fn metrics(&self) -> String {
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
