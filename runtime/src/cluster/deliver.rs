//! Delivery from the order log (SPEC §14): the replica holding a stream's partition
//! ([`super::partitions`]; a stream's own lease in the library's tests) sends that stream's
//! orders to the OMS in stream-sequence order, from the stream's delivered mark.
//!
//! The mark (bucket `{prefix}_progress`, one key per subject) is the sequence of the last
//! message of the subject that is settled: sent and answered, or expired. It advances by
//! compare-and-set after the OMS answered, so a replica that dies between the OMS's answer and
//! the mark leaves exactly that one order to be sent again by the next holder, with the same
//! client order id (the OMS de-duplicates it). The holder keeps the marks it wrote in memory
//! while it holds the partition, so it reads a stream's mark once per take-over, not once per
//! order. Before every OMS call the holder checks its hold and stops the moment it may have
//! lost it: a stream has one deliverer at a time.
//!
//! Orders and modifications alike (SPEC §13, [`modify`]): a transient failure is retried with
//! back-off, a permanent one settled as rejected (a modification's target gone or filled: not
//! active), anything older than its age limit never sent, a record that cannot be read set
//! aside; each outcome recorded ([`super::status`]) before the mark passes it. Which streams a
//! replica drains is [`super::dispatch`]'s.

mod barrier;
mod modify;
mod queued;

use modify::Behind;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use bytes::Bytes;
use mts1b_inbound_core::{ClientOrderId, Clock, Intent, IntentKind, OrderIntent};

use super::lease::{Lease, Leases, NotHeld};
use super::log::OrderLog;
use super::partitions::Hold;
use super::status::{Standing, StatusRecords};
use super::{ClusterUnavailable, keys};
use crate::delivery::oms::{ErrorClass, OmsClient};
use crate::delivery::outbox::backoff;
use crate::delivery::{DeliveryPolicy, EXPIRED};
use crate::metrics::DeliveryMetrics;
use crate::store::Status;

/// What became of one order of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The OMS accepted it, with its id.
    Submitted(String),
    /// The OMS refused it for good.
    Rejected(String),
    /// Older than `max_order_age` when its turn came: never sent.
    Expired,
    /// Its record could not be read back: never sent, logged at ERROR.
    Unreadable(String),
    /// A modification the OMS applied: the order it changed (a cancel's, a replace's), and
    /// the orders a cancel-all cancelled.
    Applied {
        /// The OMS's id of the order it changed.
        order_id: Option<String>,
        /// The client order ids a cancel-all cancelled.
        cancelled: Vec<String>,
    },
    /// A modification whose target is not active, with why.
    NotActive(String),
    /// An order cancelled before delivery by the modification named (it arrived behind the
    /// order while the OMS was down): never sent.
    Cancelled(String),
    /// A cancel that found its order waiting and cancelled it before delivery.
    AppliedBeforeDelivery,
    /// Settled before its turn came (a cancel applied before delivery, or a message settled
    /// by a holder that died before moving the mark): its status stands, the mark moves on.
    AlreadySettled,
}

/// How a cancel that found its order still waiting took effect.
pub const CANCELLED_BEFORE_DELIVERY: &str =
    "cancelled before delivery: the OMS never saw the order";

impl Outcome {
    /// The status record of `intent` (none: unreadable), of sequence `seq`, that came to
    /// this after `attempts` OMS calls. An unreadable record reads as rejected, saying why.
    pub fn standing(&self, intent: Option<&Intent>, seq: u64, attempts: u32) -> Standing {
        let status = match self {
            Outcome::Submitted(_) => Status::Submitted,
            Outcome::Rejected(_) | Outcome::Unreadable(_) | Outcome::NotActive(_) => {
                Status::Rejected
            }
            Outcome::Expired => Status::Expired,
            Outcome::Applied { .. } | Outcome::AppliedBeforeDelivery | Outcome::AlreadySettled => {
                Status::Applied
            }
            Outcome::Cancelled(_) => Status::Cancelled,
        };
        let mut standing = match intent {
            Some(intent) => Standing::of(intent, seq, status),
            None => Standing::of_unreadable(seq),
        };
        standing.attempts = attempts;
        match self {
            Outcome::Submitted(order_id) => standing.order_id = Some(order_id.clone()),
            Outcome::Applied { order_id, .. } => standing.order_id = order_id.clone(),
            Outcome::Rejected(reason) => standing.reason = Some(reason.clone()),
            Outcome::NotActive(reason) => {
                standing.reason = Some(reason.clone());
                standing.not_active = true;
            }
            Outcome::Expired => standing.reason = Some(EXPIRED.to_owned()),
            Outcome::Unreadable(why) => {
                standing.reason = Some(format!("the order record cannot be read: {why}"));
            }
            Outcome::Cancelled(by) => {
                standing.detail = Some(CANCELLED_BEFORE_DELIVERY.to_owned());
                standing
                    .history
                    .push(format!("cancelled before delivery by {by}"));
            }
            Outcome::AppliedBeforeDelivery => {
                standing.detail = Some(CANCELLED_BEFORE_DELIVERY.to_owned());
            }
            Outcome::AlreadySettled => {}
        }
        standing
    }
}

/// Why a drain stopped before the stream was empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Another replica holds the stream now.
    LeaseLost,
    /// NATS could not answer.
    Unavailable(ClusterUnavailable),
    /// A cancel-all of every symbol of the stream's scope, ahead of the next message, is not
    /// final yet: the stream goes on once it is (its drain pokes the scope's streams).
    Barred,
}

/// Sends the orders of the log's streams.
pub struct Deliverer {
    stream: Stream,
    progress: kv::Store,
    status: StatusRecords,
    leases: Leases,
    oms: Arc<dyn OmsClient>,
    clock: Arc<dyn Clock>,
    /// The age limits and the retry back-off, as the embedded outbox has them.
    policy: DeliveryPolicy,
    metrics: DeliveryMetrics,
    /// OMS calls in flight at once from this replica, across its streams
    /// (`max_concurrent_calls`, as the outbox's).
    calls: tokio::sync::Semaphore,
    /// The marks this replica wrote or read last, per stream, with the [`Hold::epoch`] they
    /// were read or written under: while the partition stays held here no one else moves
    /// them, so a drain reads its mark from NATS once per take-over, not once per order.
    /// Bounded: a stream that falls out reads its mark again.
    marks: quick_cache::sync::Cache<String, CachedMark>,
    /// How a stream is handed to its drain (the dispatcher's poke): a cancel-all of every
    /// symbol pokes the streams of its scope.
    poker: std::sync::OnceLock<Poke>,
    /// What this replica counts as queued ([`queued`]).
    queued: queued::Queued,
}

/// Has a stream (its subject) drained.
pub type Poke = Arc<dyn Fn(&str) + Send + Sync>;

/// A stream's mark as this replica last read or wrote it.
#[derive(Clone, Copy, Debug)]
struct CachedMark {
    mark: u64,
    revision: Option<u64>,
    /// The [`Hold::epoch`] it was read or written under.
    epoch: u64,
    /// Written by this replica (read: the first message past it may have been settled by a
    /// predecessor that died before moving it).
    own: bool,
}

/// A stream's mark and revision, whether it is this replica's own ([`Deliverer::mark_for`]),
/// and the stream's first message when it was read beside them.
type MarkAndFirst = (
    ((u64, Option<u64>), bool),
    Option<Result<Option<StreamMessage>, ClusterUnavailable>>,
);

/// How many streams' marks a replica keeps in memory.
const MARKS_CACHED: usize = 65_536;

/// What entitles a drain to deliver its stream: a lease of its own (renewed before each OMS
/// call), or its partition's hold (renewed in the background, checked in memory).
pub enum Holder<'a> {
    /// The stream's own lease.
    Stream(&'a mut Lease),
    /// The hold of the stream's partition.
    Partition(&'a Hold),
}

/// What one message's delivery gathered for its status record.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    /// OMS calls made.
    attempts: u32,
    /// What was done to an order before delivery (replaces applied to its terms).
    history: Vec<String>,
}

impl Deliverer {
    /// A deliverer of `log` to `oms`, holding streams through `leases`, recording each order's
    /// outcome in `status`.
    pub async fn open(
        log: &OrderLog,
        status: StatusRecords,
        leases: Leases,
        oms: Arc<dyn OmsClient>,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
        metrics: DeliveryMetrics,
    ) -> Result<Self, ClusterUnavailable> {
        let cluster = log.cluster();
        let stream = cluster
            .jetstream
            .get_stream(log.stream())
            .await
            .map_err(|e| ClusterUnavailable(format!("stream {}: {e}", log.stream())))?;
        Ok(Self {
            stream,
            progress: cluster.bucket("progress", Duration::ZERO).await?,
            status,
            leases,
            oms,
            clock,
            calls: tokio::sync::Semaphore::new(policy.max_concurrent_calls.max(1)),
            marks: quick_cache::sync::Cache::new(MARKS_CACHED),
            poker: std::sync::OnceLock::new(),
            queued: queued::Queued::default(),
            policy,
            metrics,
        })
    }

    /// The delivered mark of the stream keyed `key` (its subject as a token) and the mark's
    /// revision (0 and none before its first order).
    pub async fn mark(&self, key: &str) -> Result<(u64, Option<u64>), ClusterUnavailable> {
        let entry = self
            .progress
            .entry(key)
            .await
            .map_err(|e| ClusterUnavailable(format!("progress: {e}")))?;
        Ok(match entry.filter(|e| e.operation == kv::Operation::Put) {
            Some(e) => (
                std::str::from_utf8(&e.value)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
                Some(e.revision),
            ),
            None => (0, None),
        })
    }

    /// True when `subject`'s last message is past its delivered mark (as this replica knows
    /// it under `hold`).
    pub async fn pending(&self, subject: &str, hold: &Hold) -> Result<bool, ClusterUnavailable> {
        let last = self
            .stream
            .get_last_raw_message_by_subject(subject)
            .await
            .map_err(|e| ClusterUnavailable(format!("last of {subject}: {e}")))?;
        let ((mark, _), _) = self
            .mark_for(&keys::token(subject), &Holder::Partition(hold))
            .await?;
        Ok(last.sequence > mark)
    }

    /// Moves the mark to `seq`, expecting `revision`; a lost race means another replica
    /// delivers the stream now.
    async fn advance(&self, key: &str, revision: Option<u64>, seq: u64) -> Result<u64, Stopped> {
        let value = Bytes::from(seq.to_string());
        match revision {
            Some(revision) => self
                .progress
                .update(key, value, revision)
                .await
                .map_err(|e| {
                    if e.kind() == UpdateErrorKind::WrongLastRevision {
                        Stopped::LeaseLost
                    } else {
                        Stopped::Unavailable(ClusterUnavailable(format!("progress: {e}")))
                    }
                }),
            None => self.progress.create(key, value).await.map_err(|e| {
                if e.kind() == CreateErrorKind::AlreadyExists {
                    Stopped::LeaseLost
                } else {
                    Stopped::Unavailable(ClusterUnavailable(format!("progress: {e}")))
                }
            }),
        }
    }

    /// Sends the orders of `subject` after its mark, in order, while `lease` holds; returns
    /// what became of each once the stream is empty, or why it stopped.
    pub async fn drain(
        &self,
        subject: &str,
        lease: &mut Lease,
    ) -> Result<Vec<(u64, Outcome)>, (Vec<(u64, Outcome)>, Stopped)> {
        self.drain_holding(subject, Holder::Stream(lease), None)
            .await
    }

    /// Sends the orders of `subject` after its mark, in order, while `hold` on its partition
    /// holds, up to sequence `upto` (further only as far as it reads on; none: until the
    /// stream is empty); returns what became of each, or why it stopped.
    pub async fn drain_held(
        &self,
        subject: &str,
        hold: &Hold,
        upto: Option<u64>,
    ) -> Result<Vec<(u64, Outcome)>, (Vec<(u64, Outcome)>, Stopped)> {
        let drained = self
            .drain_holding(subject, Holder::Partition(hold), upto)
            .await;
        if let Err((_, stopped)) = &drained {
            // Whether its last move reached NATS is unknown: read it again next time.
            self.marks.remove(&keys::token(subject));
            if *stopped == Stopped::LeaseLost {
                self.not_counted(subject);
            }
        }
        drained
    }

    /// The mark of the stream keyed `key` for a drain by `holder`, and whether it is this
    /// replica's own (written under the same hold, so nothing past it was settled by another
    /// replica).
    async fn mark_for(
        &self,
        key: &str,
        holder: &Holder<'_>,
    ) -> Result<((u64, Option<u64>), bool), ClusterUnavailable> {
        if let Some(cached) = self.cached_mark(key, holder) {
            return Ok(cached);
        }
        let (mark, revision) = self.mark(key).await?;
        // Only this replica moves the marks of a partition it holds: what it read stays true
        // until it moves them (a predecessor's late move fails its next compare-and-set).
        self.cache_mark(key, holder, (mark, revision), false);
        Ok(((mark, revision), false))
    }

    /// The mark of the stream keyed `key` as this replica keeps it under `holder`'s partition
    /// hold (none: not kept, or kept under an earlier hold, or a stream's own lease).
    fn cached_mark(&self, key: &str, holder: &Holder<'_>) -> Option<((u64, Option<u64>), bool)> {
        let Holder::Partition(hold) = holder else {
            return None;
        };
        let cached = self.marks.get(key).filter(|c| c.epoch == hold.epoch())?;
        Some(((cached.mark, cached.revision), cached.own))
    }

    /// Keeps the mark of the stream keyed `key` as read or written (`own`) under `holder`'s
    /// partition hold; a stream's own lease keeps nothing.
    fn cache_mark(
        &self,
        key: &str,
        holder: &Holder<'_>,
        (mark, revision): (u64, Option<u64>),
        own: bool,
    ) {
        if let Holder::Partition(hold) = holder {
            let cached = CachedMark {
                mark,
                revision,
                epoch: hold.epoch(),
                own,
            };
            self.marks.insert(key.to_owned(), cached);
        }
    }

    /// The first message of `subject` after sequence `mark`, if any, as the stream's leader
    /// has it (a direct read may be answered by a follower behind it).
    async fn read_after(
        &self,
        subject: &str,
        mark: u64,
    ) -> Result<Option<StreamMessage>, ClusterUnavailable> {
        match self
            .stream
            .get_first_raw_message_by_subject(subject, mark + 1)
            .await
        {
            Ok(message) => Ok(Some(message)),
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(ClusterUnavailable(format!("read {subject}: {e}"))),
        }
    }

    /// The mark of `subject` (keyed `key`) for a drain by `holder` ([`Self::mark_for`]).
    /// When this replica does not know it yet, what the drain reads next is read at the same
    /// time, one round trip instead of three: the stream's first message (the one after a
    /// mark of 0, which a new stream has; returned) and the mark of its scope's stream
    /// (kept, for [`Self::barrier`]). Either is wasted only on a stream met again after a
    /// take-over.
    async fn open_drain(
        &self,
        subject: &str,
        key: &str,
        holder: &Holder<'_>,
    ) -> Result<MarkAndFirst, ClusterUnavailable> {
        if let Some(cached) = self.cached_mark(key, holder) {
            return Ok((cached, None));
        }
        if let Holder::Stream(_) = holder {
            return Ok((self.mark_for(key, holder).await?, None));
        }
        let scope =
            (!super::log::is_scope(subject)).then(|| keys::token(&super::log::scope_of(subject)));
        let scope_mark = async {
            match &scope {
                Some(scope) => self.mark_for(scope, holder).await.map(|_| ()),
                None => Ok(()),
            }
        };
        let (mark, first, scope_mark) = tokio::join!(
            self.mark_for(key, holder),
            self.read_after(subject, 0),
            scope_mark
        );
        scope_mark?;
        Ok((mark?, Some(first)))
    }

    async fn drain_holding(
        &self,
        subject: &str,
        mut holder: Holder<'_>,
        upto: Option<u64>,
    ) -> Result<Vec<(u64, Outcome)>, (Vec<(u64, Outcome)>, Stopped)> {
        let key = keys::token(subject);
        let mut settled = Vec::new();
        let (((mut mark, mut revision), own), mut from_start) =
            match self.open_drain(subject, &key, &holder).await {
                Ok(opened) => opened,
                Err(e) => return Err((settled, Stopped::Unavailable(e))),
            };
        // A mark of its own leaves nothing past it settled elsewhere: the first message's
        // status need not be read.
        let mut first = !own;
        loop {
            if upto.is_some_and(|upto| mark >= upto) {
                return Ok(settled);
            }
            let read = match from_start.take() {
                // Read beside the mark: the message after it when the mark is the start.
                Some(read) if mark == 0 => read,
                _ => self.read_after(subject, mark).await,
            };
            let message = match read {
                Ok(Some(message)) => message,
                // Nothing after the mark: drained.
                Ok(None) => return Ok(settled),
                Err(why) => return Err((settled, Stopped::Unavailable(why))),
            };
            let seq = message.sequence;
            if matches!(holder, Holder::Partition(_)) {
                self.queued(subject, seq);
            }
            let id = message
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.as_str().to_owned())
                .unwrap_or_else(|| format!("seq-{seq}"));
            let mut gathered = Gathered::default();
            let intent = super::log::decode(&message.payload);
            let outcome = match &intent {
                Ok(intent) => match self
                    .deliver(intent, subject, seq, &id, first, &mut holder, &mut gathered)
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(stopped) => return Err((settled, stopped)),
                },
                // Written by a bridge, unreadable by this one: set aside, as the embedded
                // store quarantines a record it cannot read, so the stream goes on.
                Err(e) => {
                    tracing::error!(target: "mts1b::cluster", subject, seq, error = %e, "an order record cannot be read: never sent");
                    Outcome::Unreadable(e.to_string())
                }
            };
            first = false;
            if let Ok(intent) = &intent {
                self.count(intent, &outcome);
            }
            // Its status first: the mark never passes an order whose outcome is not recorded.
            if outcome != Outcome::AlreadySettled {
                let mut standing = outcome.standing(intent.as_ref().ok(), seq, gathered.attempts);
                standing.history.splice(0..0, gathered.history);
                if let Err(e) = self.status.settle(&id, &standing).await {
                    return Err((settled, Stopped::Unavailable(e)));
                }
            }
            match self.advance(&key, revision, seq).await {
                Ok(next) => {
                    revision = Some(next);
                    mark = seq;
                    self.no_longer_queued(subject, seq);
                    self.cache_mark(&key, &holder, (mark, revision), true);
                    settled.push((seq, outcome));
                }
                Err(stopped) => return Err((settled, stopped)),
            }
            // A cancel-all of every symbol is final: the streams it held back go on.
            if super::log::is_scope(subject) {
                match self.scope_streams(subject).await {
                    Ok(streams) => streams.iter().for_each(|stream| self.poke(stream)),
                    Err(e) => return Err((settled, Stopped::Unavailable(e))),
                }
            }
        }
    }

    /// One message of `subject`, at `seq`, to the OMS. The first of a drain and every
    /// modification is checked for a status already final (settled before its turn).
    #[allow(clippy::too_many_arguments)]
    async fn deliver(
        &self,
        intent: &Intent,
        subject: &str,
        seq: u64,
        id: &str,
        first: bool,
        holder: &mut Holder<'_>,
        gathered: &mut Gathered,
    ) -> Result<Outcome, Stopped> {
        let mut resume = false;
        // Its status (when it may have been settled before its turn) and its scope's barrier
        // at once: both read after the message was, so after it was appended ([`barrier`]).
        let status = async {
            if first || intent.order().is_none() {
                self.status.get(id).await.map_err(Stopped::Unavailable)
            } else {
                Ok(None)
            }
        };
        let (standing, barrier) = tokio::join!(status, self.barrier(subject, holder));
        if let Some(standing) = standing? {
            if standing.status.is_final() {
                return Ok(Outcome::AlreadySettled);
            }
            // A predecessor replaced it before delivery: its terms are rebuilt first.
            resume = !standing.history.is_empty();
        }
        let barrier = barrier?;
        match intent {
            Intent::Submit(order) => {
                let read = Some(barrier);
                self.send_order(order, (subject, seq), resume, read, holder, gathered)
                    .await
            }
            modification => {
                if let Some((ahead, _)) = barrier
                    && ahead < seq
                {
                    return Err(Stopped::Barred);
                }
                if super::log::is_scope(subject) {
                    self.clear_scope(subject, seq, holder).await?;
                }
                self.send_modification(modification, holder, &mut gathered.attempts)
                    .await
            }
        }
    }

    /// Counts what became of `intent` as the embedded outbox does
    /// (`mts1b_delivery_attempts_total{result}`, the expirations).
    fn count(&self, intent: &Intent, outcome: &Outcome) {
        let result = match outcome {
            Outcome::Submitted(_) => "submitted",
            Outcome::Applied { .. } => "applied",
            Outcome::Rejected(_) | Outcome::NotActive(_) => "rejected",
            Outcome::Expired => {
                match intent {
                    Intent::Cancel(_) | Intent::CancelAll(_) => self.metrics.cancels_expired.inc(),
                    Intent::Submit(_) | Intent::Replace(_) => self.metrics.expired.inc(),
                }
                return;
            }
            Outcome::Unreadable(_)
            | Outcome::Cancelled(_)
            | Outcome::AppliedBeforeDelivery
            | Outcome::AlreadySettled => return,
        };
        self.metrics.attempts.with_label_values(&[result]).inc();
    }

    /// How old `kind` may grow before it is expired, in milliseconds.
    fn max_age(&self, kind: IntentKind) -> i64 {
        let age = self.policy.max_age(kind);
        i64::try_from(age.as_millis()).unwrap_or(i64::MAX)
    }

    /// A transient OMS failure of `id`'s `attempts`th call: retried after the outbox's
    /// back-off (`delivery.retry.*`).
    async fn retry_later(&self, id: &ClientOrderId, attempts: u32) {
        self.metrics
            .attempts
            .with_label_values(&["transient"])
            .inc();
        tokio::time::sleep(backoff(&self.policy, id, attempts)).await;
    }

    /// Checks `holder` before an OMS call (renewing a stream's own lease): stops the moment
    /// another replica may have the stream.
    async fn keep(&self, holder: &mut Holder<'_>) -> Result<(), Stopped> {
        let held = match holder {
            Holder::Stream(lease) => self.leases.renew(lease).await,
            Holder::Partition(hold) => hold.check(),
        };
        held.map_err(|e| match e {
            NotHeld::Taken => Stopped::LeaseLost,
            NotHeld::Unavailable(why) => Stopped::Unavailable(why),
        })
    }

    /// One order to the OMS: renewing the lease before each try, retrying transient failures
    /// until the order is too old; counts the calls. The barrier is read before each try
    /// (`barrier_read`: the first try's, read beside the order's status). Between tries (the
    /// OMS is down), and before the first when `resume` (a predecessor did), what arrived
    /// behind it is applied: replaces change its terms, a cancel or cancel-all cancels it
    /// before delivery.
    async fn send_order(
        &self,
        order: &OrderIntent,
        (subject, seq): (&str, u64),
        resume: bool,
        mut barrier_read: Option<Option<(u64, String)>>,
        holder: &mut Holder<'_>,
        gathered: &mut Gathered,
    ) -> Result<Outcome, Stopped> {
        let max_age = self.max_age(IntentKind::Submit);
        let mut terms = std::borrow::Cow::Borrowed(order);
        loop {
            if self.clock.now().millis_since(order.received_at) > max_age {
                return Ok(Outcome::Expired);
            }
            // A cancel-all of every symbol of its scope: one ahead holds it back, one behind
            // cancels it before delivery ([`barrier`]).
            let barrier = match barrier_read.take() {
                Some(read) => read,
                None => self.barrier(subject, holder).await?,
            };
            match barrier {
                Some((ahead, _)) if ahead < seq => return Err(Stopped::Barred),
                Some((_, by)) => {
                    tracing::info!(target: "mts1b::cluster", client_order_id = %order.client_order_id, by, "cancelled before delivery");
                    return Ok(Outcome::Cancelled(by));
                }
                None => {}
            }
            if resume || gathered.attempts > 0 {
                match self.behind(subject, seq, order, gathered).await? {
                    Behind::Cancelled(by) => return Ok(Outcome::Cancelled(by)),
                    Behind::Terms(changed) => terms = std::borrow::Cow::Owned(*changed),
                    Behind::Unchanged => {}
                }
            }
            self.keep(holder).await?;
            gathered.attempts += 1;
            let submitted = {
                let _permit = self.calls.acquire().await;
                self.oms.submit(&terms).await
            };
            match submitted {
                Ok(accepted) => return Ok(Outcome::Submitted(accepted.order_id)),
                Err(e) if e.class == ErrorClass::Permanent => {
                    return Ok(Outcome::Rejected(e.message));
                }
                Err(_) => {
                    self.retry_later(&order.client_order_id, gathered.attempts)
                        .await
                }
            }
        }
    }
}
