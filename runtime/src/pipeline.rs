//! One alert through the gates of SPEC §6, for any adapter, in one readable function.

use std::borrow::Cow;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use mts1b_inbound_core::rejection::bounded;
use mts1b_inbound_core::{
    Admission, AwaitedGates, ClientOrderId, Clock, Decision, FollowUp, FundId, FundMap, FundPolicy,
    IdempotencyKey, InboundAdapter, Intent, IntentKind, KnownOrder, KnownOrders, Member, RateLimit,
    RawRequest, Rejection, Reloadable, SecretSource, Translated, Translation, translate_awaiting,
};

use crate::delivery::{Delivered, OrderSink, Settled, Settlement};
use crate::follow_up::FollowUps;
use crate::gates::fund::{FundGates, Pass, Stopped};
use crate::gates::rate_limit::{MemberRateLimits, Throttle};
use crate::gates::source::SourcePolicy;
use crate::http::answer::Answer;
use crate::metrics::AdapterMetrics;

/// What every pipeline shares: secrets, funds, fund gates, the sink and the clock.
pub struct Shared {
    /// Where fund secrets come from.
    pub secrets: Arc<dyn SecretSource>,
    /// The configured funds (hashed: looked up on every authenticated alert, with thousands of
    /// funds a tree walk cost more than the hash), replaced whole at a reload.
    pub funds: Reloadable<FundMap<FundPolicy>>,
    /// Per-fund rate limits and the replay window, in this process or shared by every replica.
    pub gates: FundGates,
    /// Where accepted orders go.
    pub sink: Arc<dyn OrderSink>,
    /// The one clock.
    pub clock: Arc<dyn Clock>,
    /// Sends follow-ups about queued chat orders once they settle.
    pub follow_ups: FollowUps,
    /// The per-fund kill switch.
    pub halts: Arc<crate::halts::FundHalts>,
    /// The recent alerts, for the admin page.
    pub recent: crate::recent::RecentAlerts,
    /// `mts1b_follow_ups_total{result}`.
    pub follow_up_results: prometheus::IntCounterVec,
}

/// The gates one adapter has of its own (SPEC §12: allowlists and body caps are per adapter).
pub struct AdapterGates {
    /// Who may call its route (trusted proxies are the runtime's, shared).
    pub sources: SourcePolicy,
    /// Its body cap.
    pub max_body_bytes: u64,
    /// Its rate limit per chat member, for adapters whose principals are members.
    pub members: MemberRateLimits,
}

/// An accepted alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// What it asked for.
    pub kind: IntentKind,
    /// The sender's idempotency key.
    pub key: String,
    /// The deterministic id: an order's client order id, a modification's request id.
    pub client_order_id: ClientOrderId,
    /// The key of the order a cancel or replace changes.
    pub target_key: Option<String>,
    /// What the sink did with it.
    pub delivered: Delivered,
}

/// What became of a request that was not refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// An order was accepted.
    Order(Accepted),
    /// The adapter answered without an order (a Discord PING, `/order help`): the body of an
    /// HTTP 200.
    Answered(String),
}

/// The outcome of one request: handled, or why not.
pub type Outcome = Result<Handled, Rejection>;

/// What the log line and the metrics need to know about a request, filled in as it advances.
#[derive(Debug, Default)]
pub struct Trace {
    /// The authenticated fund, if it got that far and is configured.
    pub fund: Option<FundId>,
    /// The idempotency key, bounded, if it got that far.
    pub key: Option<String>,
    /// True when the fund's previous secret authenticated it (a rotation's grace).
    pub previous_secret: bool,
    /// The chat member who sent it (`workspace/user`), once the platform's signature named it.
    pub member: Option<String>,
    /// The order or modification, once the request got as far as one: the adapter's reply
    /// describes it.
    pub translated: Option<Intent>,
    /// True when a follow-up will tell the sender how its queued request settled.
    pub follows: bool,
    /// What the request asked for, once that was read.
    pub intent: Option<IntentKind>,
    /// Why, when the answer says less than the operator needs (a 403 for a client
    /// certificate): the log line's and the admin page's detail.
    pub why: Option<String>,
}

/// One adapter mounted on the runtime.
#[async_trait]
pub trait Endpoint: Send + Sync {
    /// The adapter name (route segment).
    fn name(&self) -> &'static str;

    /// Its metrics.
    fn metrics(&self) -> &AdapterMetrics;

    /// Its own gates: allowlist and body cap.
    fn gates(&self) -> &AdapterGates;

    /// The answer to an outcome, rendered for the adapter's platform (SPEC §12): the adapter's
    /// body as HTTP 200 where it renders one, else SPEC §2's answer.
    fn answer(&self, outcome: &Outcome, trace: &Trace) -> Answer;

    /// What this adapter tells a sender once its queued `intent` `settled`, if anything.
    fn follow_up_body(&self, intent: &Intent, settled: &Settled) -> Option<String>;

    /// Runs one request through every gate.
    async fn run(
        &self,
        shared: &Shared,
        peer: IpAddr,
        req: &RawRequest,
        trace: &mut Trace,
    ) -> Outcome;
}

/// Records and delivers an order or modification that passed every gate, and settles its
/// replay claim. With `follow`, an order still queued comes back with how it will settle.
pub(crate) async fn deliver(
    shared: &Shared,
    intent: &Intent,
    claim: Option<Pass<'_>>,
    follow: bool,
) -> (Result<Accepted, Rejection>, Option<Settlement>) {
    let submitted = match intent {
        Intent::Submit(order) if follow => shared.sink.submit_following(order).await,
        Intent::Submit(order) => shared.sink.submit(order).await.map(|d| (d, None)),
        modification if follow => shared.sink.modify_following(modification).await,
        modification => shared.sink.modify(modification).await.map(|d| (d, None)),
    };
    let (delivered, settlement) = match submitted {
        Ok(submitted) => submitted,
        Err(_) => {
            if let Some(claim) = claim {
                claim.release().await;
            }
            let unavailable = Rejection::Unavailable {
                reason: "order sink unavailable",
            };
            return (Err(unavailable), None);
        }
    };
    (settle_claim(intent, claim, delivered).await, settlement)
}

/// What the sink did, as the request's outcome; the replay claim committed unless the
/// sink refused to record it (then it is released with the claim's drop).
async fn settle_claim(
    intent: &Intent,
    claim: Option<Pass<'_>>,
    delivered: Delivered,
) -> Result<Accepted, Rejection> {
    match delivered {
        Delivered::Duplicate { accepted_at } => {
            if let Some(claim) = claim {
                claim.commit(Some(accepted_at)).await;
            }
            return Err(Rejection::DuplicateIdempotencyKey {
                key: bounded(intent.idempotency_key().as_str()),
            });
        }
        Delivered::Refused(rejection) => {
            if let Some(claim) = claim {
                claim.release().await;
            }
            return Err(rejection);
        }
        _ => {}
    }
    if let Some(claim) = claim {
        claim.commit(None).await;
    }
    match delivered {
        Delivered::Rejected { reason } => Err(Rejection::OmsRejected { reason }),
        Delivered::NotActive { reason } => Err(Rejection::TargetNotActive { reason }),
        delivered => Ok(Accepted {
            kind: intent.kind(),
            key: intent.idempotency_key().to_string(),
            client_order_id: intent.id(),
            target_key: intent.target().map(|t| t.key.to_string()),
            delivered,
        }),
    }
}

/// The gates for one adapter.
pub struct Pipeline<A> {
    // Shared with the follow-up tasks, which render how a queued order settled.
    adapter: Arc<A>,
    metrics: AdapterMetrics,
    gates: AdapterGates,
}

impl<A: InboundAdapter> Pipeline<A> {
    /// Mounts `adapter` with its metrics and its own gates.
    pub fn new(adapter: A, metrics: AdapterMetrics, gates: AdapterGates) -> Self {
        Self {
            adapter: Arc::new(adapter),
            metrics,
            gates,
        }
    }

    /// Tells the sender, at `to`, how its queued order or modification settles: a task that
    /// waits for the settlement (the outbox settles every record by its age limit), renders it
    /// with the adapter and sends it. A process that stops first owes it no more here; on the
    /// cluster backend the sink's replicated record lets a surviving replica send it.
    fn follow_up(&self, shared: &Shared, intent: Intent, to: FollowUp, settlement: Settlement) {
        let adapter = self.adapter.clone();
        let sender = shared.follow_ups.clone();
        let results = shared.follow_up_results.clone();
        let sink = shared.sink.clone();
        tokio::spawn(async move {
            let Ok(settled) = settlement.await else {
                return;
            };
            if let Some(body) = follow_up_body(&*adapter, &intent, &settled) {
                send_follow_up(&sender, &results, adapter.name(), &intent, &to, body).await;
            }
            sink.follow_up_sent(&intent.id()).await;
        });
    }
}

/// What `adapter` tells the sender of `intent` once it `settled`, if anything.
pub fn follow_up_body<A: InboundAdapter + ?Sized>(
    adapter: &A,
    intent: &Intent,
    settled: &Settled,
) -> Option<String> {
    let refused;
    let decision = match (settled, intent) {
        (Settled::Submitted(order_id), Intent::Submit(order)) => {
            Decision::Submitted { order, order_id }
        }
        (Settled::Cancelled(detail), Intent::Submit(order)) => {
            Decision::Cancelled { order, detail }
        }
        (Settled::Modified { order_id, detail }, modification)
            if modification.order().is_none() =>
        {
            Decision::Modified {
                modification,
                order_id: order_id.as_deref(),
                detail: detail.as_deref(),
            }
        }
        (Settled::Rejected(reason), _) => {
            refused = Rejection::OmsRejected {
                reason: reason.clone(),
            };
            Decision::Refused {
                rejection: &refused,
                intent: Some(intent),
            }
        }
        (Settled::Expired, _) => {
            let reason = match intent.kind() {
                IntentKind::Cancel | IntentKind::CancelAll => crate::delivery::EXPIRED_CANCEL,
                IntentKind::Submit | IntentKind::Replace => crate::delivery::EXPIRED,
            };
            refused = Rejection::OmsRejected {
                reason: reason.into(),
            };
            Decision::Refused {
                rejection: &refused,
                intent: Some(intent),
            }
        }
        (Settled::NotActive(reason), _) => {
            refused = Rejection::TargetNotActive {
                reason: reason.clone(),
            };
            Decision::Refused {
                rejection: &refused,
                intent: Some(intent),
            }
        }
        // An order's settlement is never a modification's, nor the reverse.
        _ => return None,
    };
    adapter.render_follow_up(&decision)
}

/// Sends `body` to `to`, counting and logging the result.
pub async fn send_follow_up(
    sender: &FollowUps,
    results: &prometheus::IntCounterVec,
    adapter: &str,
    intent: &Intent,
    to: &FollowUp,
    body: String,
) {
    let key = bounded(intent.idempotency_key().as_str());
    match sender.send(to, body).await {
        Ok(_) => {
            results.with_label_values(&["sent"]).inc();
            tracing::info!(target: "mts1b::follow_up", adapter, key = %key, "follow-up sent");
        }
        Err(e) => {
            results.with_label_values(&["failed"]).inc();
            tracing::warn!(target: "mts1b::follow_up", adapter, key = %key, error = %e, "follow-up not delivered");
        }
    }
}

/// The default per-member rate limit of chat adapters: one command a second, five at once.
pub const MEMBER_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 1,
    burst: 5,
};

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

    fn gates(&self) -> &AdapterGates {
        &self.gates
    }

    fn follow_up_body(&self, intent: &Intent, settled: &Settled) -> Option<String> {
        follow_up_body(&*self.adapter, intent, settled)
    }

    fn answer(&self, outcome: &Outcome, trace: &Trace) -> Answer {
        let intent = trace.translated.as_ref();
        let decision = match (outcome, intent) {
            (Ok(Handled::Answered(body)), _) => return Answer::ok(body.clone()),
            (Ok(Handled::Order(accepted)), Some(intent)) => match (&accepted.delivered, intent) {
                (Delivered::Submitted { order_id }, Intent::Submit(order)) => {
                    Decision::Submitted { order, order_id }
                }
                (Delivered::Cancelled { detail }, Intent::Submit(order)) => {
                    Decision::Cancelled { order, detail }
                }
                (Delivered::Modified { order_id, detail }, modification) => Decision::Modified {
                    modification,
                    order_id: order_id.as_deref(),
                    detail: detail.as_deref(),
                },
                _ => Decision::Queued {
                    intent,
                    follows: trace.follows,
                },
            },
            (Ok(Handled::Order(_)), None) => return Answer::of(outcome),
            (Err(rejection), intent) => Decision::Refused { rejection, intent },
        };
        match self.adapter.render(&decision) {
            Some(body) => Answer::ok(body),
            None => Answer::of(outcome),
        }
    }

    // SPEC §6, cheapest and safest first: body cap → source address → parse and schema →
    // authenticate → rate limit → replay window → symbology and envelope → durable record →
    // delivery; a header-signed source (SPEC §12) verifies its signature before the parse, and
    // a chat member passes its own rate limit right after it. The stateless steps are
    // `translate` (the one copy `validate`, the fixtures and the fuzz targets run too); the
    // stateful gates are handed to it. Nothing unauthenticated reaches a rate limiter, the
    // replay window or the sink.
    async fn run(
        &self,
        shared: &Shared,
        peer: IpAddr,
        req: &RawRequest,
        trace: &mut Trace,
    ) -> Outcome {
        let limit = self.gates.max_body_bytes;
        if req.body.len() as u64 > limit {
            return Err(Rejection::PayloadTooLarge { limit_bytes: limit });
        }
        admit_source(&self.gates.sources, peer, req)?;
        let mut gates = StatefulGates {
            shared,
            members: &self.gates.members,
            trace,
        };
        // One configuration for the whole request, whatever a reload does meanwhile.
        let funds = shared.funds.current();
        let translation =
            translate_awaiting(&*self.adapter, req, &*shared.secrets, &*funds, &mut gates).await?;
        let Translated {
            intent,
            pass: claim,
            follow_up,
        } = match translation {
            Translation::Order(translated) => translated,
            Translation::Answered(body) => return Ok(Handled::Answered(body)),
        };
        let (delivered, settlement) = deliver(shared, &intent, claim, follow_up.is_some()).await;
        if let (Some(to), Some(settlement)) = (follow_up, settlement) {
            trace.follows = true;
            shared
                .sink
                .owe_follow_up(self.adapter.name(), &intent, &to)
                .await;
            self.follow_up(shared, intent.clone(), to, settlement);
        }
        trace.translated = Some(intent);
        delivered.map(Handled::Order)
    }
}

/// The runtime's stateful gates, as `translate` runs them: a chat member's rate limit as soon
/// as the member is known; once the fund is, the fund's rate limit, then the replay window's
/// claim on the key.
struct StatefulGates<'s, 't> {
    shared: &'s Shared,
    members: &'s MemberRateLimits,
    trace: &'t mut Trace,
}

fn throttled(throttle: Throttle) -> Rejection {
    match throttle {
        Throttle::RetryAfter(wait) => Rejection::RateLimited {
            retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
        },
        Throttle::UnknownFund => Rejection::Unauthorized,
    }
}

impl<'s> AwaitedGates for StatefulGates<'s, '_> {
    /// Held until the alert is durably accepted; dropped (released) on any later rejection.
    /// Always a claim: `Option` only so a duplicate found by the store can settle it.
    type Pass = Option<Pass<'s>>;

    fn admit_member<'a>(
        &'a mut self,
        _adapter: &'static str,
        member: &'a Member,
    ) -> impl Future<Output = Result<(), Rejection>> + 'a {
        let key = member.key();
        self.trace.member = Some(key.clone());
        std::future::ready(self.members.check(key).map_err(throttled))
    }

    fn known_orders(&self) -> &dyn KnownOrders {
        self
    }

    fn admit<'a>(
        &'a mut self,
        admission: Admission<'a>,
    ) -> impl Future<Output = Result<Self::Pass, Rejection>> + 'a {
        self.admit_fund(admission)
    }
}

impl<'s> StatefulGates<'s, '_> {
    /// The fund's rate limit, then the replay window's claim.
    async fn admit_fund(
        &mut self,
        admission: Admission<'_>,
    ) -> Result<Option<Pass<'s>>, Rejection> {
        let Admission {
            adapter,
            kind,
            fund,
            key,
            previous_secret,
            policy,
        } = admission;
        self.trace.fund = Some(fund.clone());
        self.trace.intent = Some(kind);
        self.trace.previous_secret = previous_secret;
        // The kill switch stops new risk; exits still pass (see `halts`).
        if matches!(kind, IntentKind::Submit | IntentKind::Replace)
            && self.shared.halts.is_halted(fund)
        {
            return Err(Rejection::FundHalted);
        }
        // Fund and key stay borrowed from the alert: a duplicate, refused right here, copies
        // them only into the trace and the answer.
        let id = ClientOrderId::derive_for(kind, adapter, fund, key);
        let admitted = self.shared.gates.admit(fund, policy.rate_limit, id).await;
        // As logged: a throttled alert's key was never looked at.
        if !matches!(admitted, Err(Stopped::Throttled(_))) {
            self.trace.key = Some(bounded(key.as_str()));
        }
        admitted.map(Some).map_err(|stopped| refusal(stopped, key))
    }
}

/// A fund gate's refusal as the answer to the request of `key`.
pub(crate) fn refusal(stopped: Stopped, key: &IdempotencyKey) -> Rejection {
    match stopped {
        Stopped::Throttled(throttle) => throttled(throttle),
        Stopped::Duplicate => Rejection::DuplicateIdempotencyKey {
            key: bounded(key.as_str()),
        },
        Stopped::Unavailable(why) => {
            tracing::warn!(target: "mts1b::cluster", error = %why, "fund gates unavailable");
            Rejection::Unavailable {
                reason: "shared state unavailable",
            }
        }
    }
}

impl KnownOrders for StatefulGates<'_, '_> {
    fn known_order(&self, id: &ClientOrderId) -> Option<KnownOrder> {
        self.shared.sink.known_order(id)
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
        .filter(|fund| shared.funds.current().contains_key(*fund))
        .map_or("unknown", FundId::as_str);
    let (outcome_label, code) = match outcome {
        Ok(Handled::Order(_)) => ("accepted", "none"),
        Ok(Handled::Answered(_)) => ("answered", "none"),
        Err(Rejection::DuplicateIdempotencyKey { .. }) => {
            ("duplicate", "duplicate_idempotency_key")
        }
        Err(rejection) => ("rejected", rejection.code()),
    };
    let intent_label = trace.intent.map_or("unknown", IntentKind::as_str);
    m.webhooks
        .with_label_values(&[fund_label, outcome_label, intent_label])
        .inc();
    if trace.previous_secret {
        m.old_secret.with_label_values(&[fund_label]).inc();
    }
    if let Err(rejection) = outcome {
        m.count_rejection(rejection);
    }
    // A rejection's detail is its SPEC §2 body: the answer's, serialized once for both, unless
    // the adapter rendered it for its platform (an HTTP 200).
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
        Err(_) if answer.status != 200 => Some(Cow::Borrowed(answer.body.as_str())),
        Err(rejection) => Some(Cow::Owned(
            serde_json::to_string(rejection).unwrap_or_default(),
        )),
    };
    let detail = trace.why.as_deref().map(Cow::Borrowed).or(detail);
    let latency_ms = f64::from(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)) / 1000.0;
    shared.recent.push(crate::recent::RecentAlert {
        at: shared.clock.now(),
        adapter: endpoint.name(),
        fund: trace.fund.as_ref().map(|fund| fund.as_str().to_owned()),
        key: trace.key.clone(),
        intent: trace.intent.map(IntentKind::as_str),
        outcome: outcome_label,
        reason: code,
        detail: detail.as_deref().map(str::to_owned),
        status: answer.status,
        latency_ms,
    });
    tracing::info!(
        target: "mts1b::alert",
        adapter = endpoint.name(),
        outcome = outcome_label,
        reason = code,
        detail = detail.as_deref(),
        intent = trace.intent.map(IntentKind::as_str),
        fund = trace.fund.as_ref().map_or("-", FundId::as_str),
        key = trace.key.as_deref().unwrap_or("-"),
        // Only for chat sources: who sent it.
        principal = trace.member.as_deref(),
        // Only present when the previous secret was used: which alerts still need editing.
        old_secret = trace.previous_secret.then_some(true),
        // In whole microseconds: `0.055`, not `0.055411999999999996`.
        latency_ms,
        "alert"
    );
}
