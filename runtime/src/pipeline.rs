//! One alert through the gates of SPEC §6, for any adapter, in one readable function.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use mts1b_inbound_core::rejection::bounded;
use mts1b_inbound_core::{
    Admission, ClientOrderId, Clock, FundId, FundMap, FundPolicy, Gates, InboundAdapter, Intent,
    RawRequest, Rejection, SecretSource, Translated, translate,
};

use crate::delivery::{Delivered, OrderSink};
use crate::gates::rate_limit::{FundRateLimits, Throttle};
use crate::gates::replay::{Claim, ReplayWindow};
use crate::gates::source::SourcePolicy;
use crate::http::answer::Answer;
use crate::metrics::AdapterMetrics;

/// What every pipeline shares: secrets, funds, gates, the sink and the clock.
pub struct Shared {
    /// Where fund secrets come from.
    pub secrets: Arc<dyn SecretSource>,
    /// The configured funds (hashed: looked up on every authenticated alert, with thousands of
    /// funds a tree walk cost more than the hash).
    pub funds: FundMap<FundPolicy>,
    /// Per-fund rate limits.
    pub rate_limits: FundRateLimits,
    /// The replay window.
    pub replay: ReplayWindow,
    /// Where accepted orders go.
    pub sink: Arc<dyn OrderSink>,
    /// The one clock.
    pub clock: Arc<dyn Clock>,
    /// Who may call.
    pub sources: SourcePolicy,
    /// The body cap.
    pub max_body_bytes: u64,
}

/// An accepted alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The sender's idempotency key.
    pub key: String,
    /// The deterministic client order id.
    pub client_order_id: ClientOrderId,
    /// What the sink did with it.
    pub delivered: Delivered,
}

/// The outcome of one request: accepted, or why not.
pub type Outcome = Result<Accepted, Rejection>;

/// What the log line and the metrics need to know about a request, filled in as it advances.
#[derive(Debug, Default)]
pub struct Trace {
    /// The authenticated fund, if it got that far and is configured.
    pub fund: Option<FundId>,
    /// The idempotency key, bounded, if it got that far.
    pub key: Option<String>,
    /// True when the fund's previous secret authenticated it (a rotation's grace).
    pub previous_secret: bool,
}

/// One adapter mounted on the runtime.
#[async_trait]
pub trait Endpoint: Send + Sync {
    /// The adapter name (route segment).
    fn name(&self) -> &'static str;

    /// Its metrics.
    fn metrics(&self) -> &AdapterMetrics;

    /// Runs one request through every gate.
    async fn run(
        &self,
        shared: &Shared,
        peer: IpAddr,
        req: &RawRequest,
        trace: &mut Trace,
    ) -> Outcome;
}

/// The gates for one adapter.
pub struct Pipeline<A> {
    adapter: A,
    metrics: AdapterMetrics,
}

impl<A: InboundAdapter> Pipeline<A> {
    /// Mounts `adapter` with its metrics.
    pub fn new(adapter: A, metrics: AdapterMetrics) -> Self {
        Self { adapter, metrics }
    }
}

/// Checks the caller's address (SPEC §6): the socket peer, or what a trusted proxy forwarded.
/// Returns the caller.
pub fn admit_source(
    sources: &SourcePolicy,
    peer: IpAddr,
    req: &RawRequest,
) -> Result<IpAddr, Rejection> {
    let forwarded = req
        .headers
        .iter()
        .filter(|(name, _)| name == "x-forwarded-for")
        .map(|(_, value)| value.as_slice());
    let caller = sources
        .caller(peer, forwarded)
        .ok_or(Rejection::Forbidden)?;
    if sources.admits(caller) {
        Ok(caller)
    } else {
        Err(Rejection::Forbidden)
    }
}

#[async_trait]
impl<A: InboundAdapter> Endpoint for Pipeline<A> {
    fn name(&self) -> &'static str {
        self.adapter.name()
    }

    fn metrics(&self) -> &AdapterMetrics {
        &self.metrics
    }

    // SPEC §6, cheapest and safest first: body cap → source address → parse and schema →
    // authenticate → rate limit → replay window → symbology and envelope → durable record →
    // delivery. The stateless steps are `translate` (the one copy `validate`, the fixtures and
    // the fuzz target run too); the stateful gates are handed to it. Nothing unauthenticated
    // reaches the rate limiter, the replay window or the sink.
    async fn run(
        &self,
        shared: &Shared,
        peer: IpAddr,
        req: &RawRequest,
        trace: &mut Trace,
    ) -> Outcome {
        if req.body.len() as u64 > shared.max_body_bytes {
            return Err(Rejection::PayloadTooLarge {
                limit_bytes: shared.max_body_bytes,
            });
        }
        admit_source(&shared.sources, peer, req)?;
        let mut gates = StatefulGates { shared, trace };
        let Translated {
            intent: Intent::Submit(order),
            pass: claim,
        } = translate(
            &self.adapter,
            req,
            &*shared.secrets,
            &shared.funds,
            &mut gates,
        )?;

        let delivered = shared
            .sink
            .submit(&order)
            .await
            .map_err(|_| Rejection::Unavailable {
                reason: "order sink unavailable",
            })?;
        if let Delivered::Duplicate { accepted_at } = delivered {
            if let Some(claim) = claim {
                claim.commit_at(accepted_at);
            }
            return Err(Rejection::DuplicateIdempotencyKey {
                key: bounded(order.idempotency_key.as_str()),
            });
        }
        if let Some(claim) = claim {
            claim.commit();
        }
        match delivered {
            Delivered::Rejected { reason } => Err(Rejection::OmsRejected { reason }),
            delivered => Ok(Accepted {
                key: order.idempotency_key.to_string(),
                client_order_id: order.client_order_id,
                delivered,
            }),
        }
    }
}

/// The runtime's stateful gates, as `translate` runs them once the fund is known: the fund's
/// rate limit, then the replay window's claim on the key.
struct StatefulGates<'s, 't> {
    shared: &'s Shared,
    trace: &'t mut Trace,
}

impl<'s> Gates for StatefulGates<'s, '_> {
    /// Held until the alert is durably accepted; dropped (released) on any later rejection.
    type Pass = Option<Claim<'s>>;

    fn admit(&mut self, admission: Admission<'_>) -> Result<Self::Pass, Rejection> {
        let Admission {
            adapter,
            fund,
            key,
            previous_secret,
            ..
        } = admission;
        self.trace.fund = Some(fund.clone());
        self.trace.previous_secret = previous_secret;
        self.shared
            .rate_limits
            .check(fund)
            .map_err(|throttle| match throttle {
                Throttle::RetryAfter(wait) => Rejection::RateLimited {
                    retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
                },
                Throttle::UnknownFund => Rejection::Unauthorized,
            })?;
        // Fund and key stay borrowed from the alert: a duplicate, refused right here, copies
        // them only into the trace and the answer.
        let Some(key) = key else {
            return Ok(None);
        };
        self.trace.key = Some(bounded(key.as_str()));
        let id = ClientOrderId::derive(adapter, fund, key);
        let claim =
            self.shared
                .replay
                .claim(id)
                .map_err(|_| Rejection::DuplicateIdempotencyKey {
                    key: self.trace.key.clone().unwrap_or_default(),
                })?;
        Ok(Some(claim))
    }
}

/// Records the metrics and the log line of one finished request, answered with `answer`.
pub fn record(
    endpoint: &dyn Endpoint,
    shared: &Shared,
    outcome: &Outcome,
    answer: &Answer,
    trace: &Trace,
    started: Instant,
) {
    let m = endpoint.metrics();
    let elapsed = started.elapsed();
    m.latency.observe(elapsed.as_secs_f64());
    let fund_label = trace
        .fund
        .as_ref()
        .filter(|fund| shared.funds.contains_key(*fund))
        .map_or("unknown", FundId::as_str);
    let (outcome_label, code) = match outcome {
        Ok(_) => ("accepted", "none"),
        Err(Rejection::DuplicateIdempotencyKey { .. }) => {
            ("duplicate", "duplicate_idempotency_key")
        }
        Err(rejection) => ("rejected", rejection.code()),
    };
    m.webhooks
        .with_label_values(&[fund_label, outcome_label])
        .inc();
    if trace.previous_secret {
        m.old_secret.with_label_values(&[fund_label]).inc();
    }
    if let Err(rejection) = outcome {
        m.count_rejection(rejection);
    }
    // A rejection's detail is its answer's body, serialized once for both.
    let detail = match outcome {
        Err(Rejection::InvalidPayload { field, detail }) => {
            Some(Cow::Owned(format!("{field}: {detail}")))
        }
        Err(Rejection::Unavailable { reason }) => Some(Cow::Borrowed(*reason)),
        // The answer would say no more than `reason` and `key` do: no `detail` at all (a
        // duplicate's line was 317 bytes with the whole answer as detail, now ~230).
        Err(
            Rejection::Unauthorized
            | Rejection::Forbidden
            | Rejection::NotFound
            | Rejection::MethodNotAllowed
            | Rejection::DuplicateIdempotencyKey { .. },
        )
        | Ok(_) => None,
        Err(_) => Some(Cow::Borrowed(answer.body.as_str())),
    };
    tracing::info!(
        target: "mts1b::alert",
        adapter = endpoint.name(),
        outcome = outcome_label,
        reason = code,
        detail = detail.as_deref(),
        fund = trace.fund.as_ref().map_or("-", FundId::as_str),
        key = trace.key.as_deref().unwrap_or("-"),
        // Only present when the previous secret was used: which alerts still need editing.
        old_secret = trace.previous_secret.then_some(true),
        // In whole microseconds: `0.055`, not `0.055411999999999996`.
        latency_ms = f64::from(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)) / 1000.0,
        "alert"
    );
}
