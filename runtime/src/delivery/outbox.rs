//! The outbox (SPEC §7, §13): every accepted order and modification is recorded durably, then
//! delivered to the OMS by one worker per stream, effectively once.
//!
//! - The request waits up to `respond_within` for the first outcome: OMS accepted (200), OMS
//!   refused (422), or still trying (202, and the worker carries on).
//! - A stream is (fund, strategy, symbol). Its orders go out strictly in arrival order: a later
//!   order waits while an earlier one is retrying; a rejected or expired one stops blocking.
//!   Streams run concurrently, at most `max_concurrent_calls` OMS calls at once.
//! - The store is the queue. A stream's worker pages its orders from the store's `streams`
//!   table in arrival order, [`STREAM_PAGE`] at a time; the request that recorded an order hands
//!   it over in memory too, so it is not read back, but at most [`STREAM_PAGE`] per stream are
//!   held that way. However long the OMS is down and however many orders wait, memory holds a
//!   bounded number per stream; the rest stay on disk until their turn.
//! - Transient failures are retried with exponential backoff and full jitter; permanent ones end
//!   the order as rejected; an order older than `max_order_age` is expired and never sent again.
//! - After a restart, queued orders resume in arrival order. An order the OMS took just before a
//!   crash is sent again with the same client order id, and the OMS dedupes it.
//!
//! Modifications (SPEC §13) travel in their target's stream, behind it. Each is settled once,
//! by its stream's worker, between two OMS calls of that stream (so never against an order
//! being sent): a cancel or replace whose target is still queued is applied right there (the
//! target is cancelled, never sent, or rewritten) and never goes to the OMS; one whose target
//! is no longer active is refused; any other is delivered in its turn. A cancel-all of one
//! symbol cancels that stream's queued orders and is delivered; a cancel-all of every symbol
//! travels in its scope's own stream (`fund\nstrategy\n*`) and is a barrier: from the moment it
//! is recorded no stream of the scope starts another OMS call until it is final, it waits for
//! the calls in flight, cancels every queued order of the scope, and is delivered. Cancels
//! retry up to `max_cancel_age`, past `max_order_age`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mts1b_inbound_core::{
    ClientOrderId, Clock, Intent, IntentKind, KnownOrder, Rejection, UnixMillis,
};
use tokio::sync::{Notify, Semaphore, oneshot};

use super::oms::{ErrorClass, OmsAccepted, OmsClient, OmsError, OmsModified};
use super::{Delivered, OrderSink, OrderStatus, Settled, Settlement, SinkUnavailable};
use crate::metrics::Metrics;
use crate::store::{
    EVERY_SYMBOL, OrderRecord, OrderStore, Recording, Refusal, Resolution, Status, StoreError,
    StoreWriter, Transition, refusal, scope_of, stream_of_intent,
};

/// How delivery behaves (`delivery.*` in the configuration).
#[derive(Clone, Copy, Debug)]
pub struct DeliveryPolicy {
    /// How long a request waits for the OMS before answering 202.
    pub respond_within: Duration,
    /// Orders older than this (since received) are expired, never sent.
    pub max_order_age: Duration,
    /// Cancels (and cancel-alls) older than this are expired: a late cancel is never harmful,
    /// so they keep trying past `max_order_age` (SPEC §13).
    pub max_cancel_age: Duration,
    /// The first retry's backoff ceiling.
    pub initial_backoff: Duration,
    /// The largest backoff ceiling.
    pub max_backoff: Duration,
    /// OMS calls in flight at once, across streams.
    pub max_concurrent_calls: usize,
    /// The replay window: a record accepted within it refuses the same alert again.
    pub replay_window: Duration,
}

impl DeliveryPolicy {
    /// How old `kind` may grow before it is expired: a cancel's age limit, or an order's.
    pub fn max_age(&self, kind: IntentKind) -> Duration {
        match kind {
            IntentKind::Cancel | IntentKind::CancelAll => self.max_cancel_age,
            IntentKind::Submit | IntentKind::Replace => self.max_order_age,
        }
    }
}

/// How often the OMS's reachability is re-checked for `/readyz`.
pub const REACHABILITY_INTERVAL: Duration = Duration::from_secs(2);

/// The most orders of one stream held in memory: handed over by the requests that recorded
/// them, or read from the store as one page. The rest wait on disk.
pub const STREAM_PAGE: usize = 32;

/// An order or modification waiting in its stream, with the OMS calls already made for it.
struct Queued {
    intent: Intent,
    attempts: u32,
    seq: u64,
    /// The settlement epoch when `intent` was read: a settlement since may have changed it.
    epoch: u64,
}

/// One stream's state in memory while its worker runs.
#[derive(Default)]
struct Stream {
    /// Orders handed over by the requests that recorded them, by arrival sequence (at most
    /// [`STREAM_PAGE`]), so the worker need not read back what was just written.
    handed: HashMap<u64, Queued>,
    /// An order was recorded since the worker last read its page: it must look again before it
    /// may stop.
    pending: bool,
    /// The highest arrival sequence the worker has taken from a page: an order at or below it
    /// is not handed over (it was taken already, or will be read from the store).
    taken_up_to: Option<u64>,
}

/// What the workers coordinate on for modifications, under one lock: which streams have an
/// OMS call in flight, which modifications wait to be settled, which cancel-alls hold a scope.
#[derive(Default)]
struct Coordination {
    /// OMS calls in flight, by stream.
    in_flight: HashMap<String, u32>,
    /// Modifications not yet settled, by the stream whose worker settles them.
    unsettled: HashMap<String, BTreeSet<u64>>,
    /// Cancel-alls of every symbol not yet final, by scope stream.
    barriers: HashMap<String, BTreeSet<u64>>,
}

impl Coordination {
    /// Whether a cancel-all holds the scope of `stream` (a scope stream is never held: it is
    /// the one that holds).
    fn held(&self, stream: &str) -> bool {
        !stream.ends_with(EVERY_SYMBOL)
            && !self.barriers.is_empty()
            && self.barriers.contains_key(&scope_of(stream))
    }

    /// Whether modifications of `stream` wait to be settled.
    fn has_unsettled(&self, stream: &str) -> bool {
        self.unsettled.contains_key(stream)
    }

    /// Takes `seq` off `map`'s set for `stream`, and the set once empty: the maps stay as
    /// small as what still waits, however many streams modifications ever named.
    fn forget(map: &mut HashMap<String, BTreeSet<u64>>, stream: &str, seq: u64) {
        if let Some(set) = map.get_mut(stream) {
            set.remove(&seq);
            if set.is_empty() {
                map.remove(stream);
            }
        }
    }

    /// Whether any stream of the scope of `scope` has a call in flight.
    fn scope_busy(&self, scope: &str) -> bool {
        let prefix = scope.strip_suffix(EVERY_SYMBOL).unwrap_or(scope);
        self.in_flight
            .iter()
            .any(|(stream, n)| *n > 0 && stream != scope && stream.starts_with(prefix))
    }
}

struct Inner {
    store: Arc<OrderStore>,
    writer: StoreWriter,
    oms: Arc<dyn OmsClient>,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
    streams: Mutex<HashMap<String, Stream>>,
    coordination: Mutex<Coordination>,
    /// Signalled when a call ends, a modification arrives or a cancel-all lifts.
    changed: Notify,
    /// Counts settlements: a record read before the latest one is read again before it is sent
    /// (it may have been cancelled or rewritten).
    epoch: std::sync::atomic::AtomicU64,
    /// Orders being delivered right now (one per busy stream), for [`Outbox::orders_in_memory`].
    delivering: std::sync::atomic::AtomicUsize,
    waiters: Mutex<HashMap<ClientOrderId, oneshot::Sender<Settled>>>,
    calls: Semaphore,
    unreachable: RwLock<Option<String>>,
    metrics: Metrics,
}

/// The durable outbox; an [`OrderSink`].
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The backoff before retry number `attempts` (1-based): uniformly spread over
/// `[0, min(max, initial × 2^(attempts-1))]` ("full jitter"). The spread is a hash of the order
/// and the attempt, so different orders decorrelate while a test can predict it.
pub fn backoff(policy: &DeliveryPolicy, id: &ClientOrderId, attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let ceiling = policy
        .initial_backoff
        .saturating_mul(1u32 << exponent)
        .min(policy.max_backoff);
    let mut x =
        (id.as_uuid().as_u128() as u64) ^ u64::from(attempts).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    ceiling.mul_f64(x as f64 / u64::MAX as f64)
}

impl Outbox {
    /// Opens the outbox over `store`, resumes every queued order in arrival order, and starts the
    /// OMS reachability probe. Needs a tokio runtime.
    pub fn start(
        store: Arc<OrderStore>,
        oms: Arc<dyn OmsClient>,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
        metrics: Metrics,
    ) -> Result<Self, StoreError> {
        let outbox = Self {
            inner: Arc::new(Inner {
                writer: StoreWriter::start(store.clone())?,
                store,
                oms,
                clock,
                policy,
                streams: Mutex::new(HashMap::new()),
                coordination: Mutex::new(Coordination::default()),
                changed: Notify::new(),
                epoch: std::sync::atomic::AtomicU64::new(0),
                delivering: std::sync::atomic::AtomicUsize::new(0),
                waiters: Mutex::new(HashMap::new()),
                calls: Semaphore::new(policy.max_concurrent_calls.max(1)),
                unreachable: RwLock::new(None),
                metrics,
            }),
        };
        let (streams, queued) = outbox.inner.store.queued_streams()?;
        outbox
            .inner
            .metrics
            .delivery
            .queue_depth
            .set(i64::try_from(queued).unwrap_or(i64::MAX));
        if queued > 0 {
            tracing::info!(target: "mts1b::delivery", orders = queued, streams = streams.len(), "resuming queued orders");
        }
        // Before any worker starts: the modifications to settle, and the cancel-alls that
        // hold their scopes until they are final.
        {
            let mut coordination = lock(&outbox.inner.coordination);
            for (stream, seq) in outbox.inner.store.unsettled()? {
                coordination
                    .unsettled
                    .entry(stream)
                    .or_default()
                    .insert(seq);
            }
            for scope in streams.iter().filter(|s| s.ends_with(EVERY_SYMBOL)) {
                let held = outbox
                    .inner
                    .store
                    .stream_page(scope, usize::MAX, &BTreeSet::new())?;
                coordination
                    .barriers
                    .entry(scope.clone())
                    .or_default()
                    .extend(held);
            }
        }
        for stream in streams {
            outbox.inner.wake(stream, None);
        }
        let probe = Arc::downgrade(&outbox.inner);
        tokio::spawn(async move {
            while let Some(inner) = probe.upgrade() {
                let verdict = inner.oms.unreachable().await;
                *inner.unreachable.write().unwrap_or_else(|p| p.into_inner()) = verdict;
                drop(inner);
                tokio::time::sleep(REACHABILITY_INTERVAL).await;
            }
        });
        Ok(outbox)
    }

    /// How many orders are held in memory: handed over and waiting, or being delivered. Bounded
    /// by [`STREAM_PAGE`] + 1 per stream with queued orders, however many are queued.
    pub fn orders_in_memory(&self) -> usize {
        let handed: usize = lock(&self.inner.streams)
            .values()
            .map(|s| s.handed.len())
            .sum();
        handed
            + self
                .inner
                .delivering
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The record of one order.
    pub fn record(&self, id: &ClientOrderId) -> Result<Option<OrderRecord>, StoreError> {
        self.inner.store.get(id)
    }

    /// Deletes final records accepted before `before`, in passes of at most `pass` records that
    /// take their turn in the store's writer between batches of alerts (one long transaction
    /// held the write lock for seconds under load). Returns how many went.
    ///
    /// After each pass it rests as long as the pass took: passes back to back kept the writer
    /// busy, so every alert meanwhile shared its commit with a pass and waited for its pages
    /// (genuine alerts' p99 during a forged flood 1.9 ms without pruning, 5.4 ms with). Resting
    /// halves pruning's pace: ~17k records/s on this project's machine, about the most accepted
    /// alerts it can take per second, so only a sustained flood of accepted alerts outruns it
    /// (the backlog is then pruned by the next passes; nothing is lost but disk space).
    pub async fn prune(&self, before: UnixMillis, pass: usize) -> Result<usize, StoreError> {
        let (mut from, mut deleted) = (0, 0);
        loop {
            let started = Instant::now();
            let done = self.inner.writer.prune(before, from, pass).await?;
            deleted += done.deleted;
            match done.resume {
                Some(next) => from = next,
                None => return Ok(deleted),
            }
            tokio::time::sleep(started.elapsed()).await;
        }
    }
}

/// What the OMS did with one call.
enum Sent {
    /// It took an order.
    Order(OmsAccepted),
    /// It applied a modification.
    Modification(OmsModified),
}

impl Inner {
    /// Tells the worker of `stream` that it has orders (starting it if it is not running), and
    /// hands `order` over if there is room.
    fn wake(self: &Arc<Self>, stream: String, order: Option<Queued>) {
        let mut streams = lock(&self.streams);
        let (state, start) = match streams.get_mut(&stream) {
            Some(state) => (state, false),
            None => (streams.entry(stream.clone()).or_default(), true),
        };
        state.pending = true;
        if let Some(order) = order
            && state.handed.len() < STREAM_PAGE
            && state.taken_up_to.is_none_or(|taken| order.seq > taken)
        {
            state.handed.insert(order.seq, order);
        }
        if start {
            tokio::spawn(self.clone().run_stream(stream));
        }
    }

    /// Delivers the orders of `stream` in arrival order, a page at a time from the store, until
    /// none is left; then leaves.
    async fn run_stream(self: Arc<Self>, stream: String) {
        // Orders dealt with whose record could not be moved on (a store failure): still queued
        // on disk, never delivered twice by this worker.
        let mut dealt_with = std::collections::BTreeSet::new();
        loop {
            if let Some(state) = lock(&self.streams).get_mut(&stream) {
                state.pending = false;
            }
            // Read inline, not on the blocking pool: a short read of the stream's newest pages,
            // which redb's cache usually holds (not measured against a spawn_blocking hand-off).
            let page = match self.store.stream_page(&stream, STREAM_PAGE, &dealt_with) {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(target: "mts1b::delivery", stream = %stream.replace('\n', "/"), error = %e, "cannot read the stream's queue; trying again");
                    tokio::time::sleep(self.policy.max_backoff).await;
                    continue;
                }
            };
            if page.is_empty() {
                // Settle what may still wait (a modification whose record was final already).
                self.settle_unsettled(&stream).await;
                // Leave when idle. Recorders wake under the same lock, so an order recorded after
                // the page was read is never left behind.
                let mut streams = lock(&self.streams);
                if streams.get(&stream).is_some_and(|s| s.pending) {
                    continue;
                }
                streams.remove(&stream);
                return;
            }
            let whole_queue = page.len() < STREAM_PAGE;
            for seq in page {
                let handed = lock(&self.streams).get_mut(&stream).and_then(|s| {
                    s.taken_up_to = s.taken_up_to.max(Some(seq));
                    s.handed.remove(&seq)
                });
                let queued = match handed {
                    Some(queued) => Some(queued),
                    None => self.read_queued(seq),
                };
                let Some(queued) = queued else { continue };
                self.delivering
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let settled = self.deliver(&stream, queued).await;
                self.delivering
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                if !settled {
                    dealt_with.insert(seq);
                }
            }
            // A short page was the whole queue when it was read; if nothing was recorded since,
            // there is nothing left, and reading the store again to see that is spared.
            if whole_queue {
                let mut streams = lock(&self.streams);
                if !streams.get(&stream).is_some_and(|s| s.pending) {
                    streams.remove(&stream);
                    return;
                }
            }
        }
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Reads a queued order back from the store (one that was not handed over).
    fn read_queued(&self, seq: u64) -> Option<Queued> {
        let epoch = self.epoch();
        match self.store.record_at(seq) {
            Ok(Some(record)) if !record.status.is_final() => Some(Queued {
                intent: record.intent,
                attempts: record.attempts,
                seq,
                epoch,
            }),
            Ok(_) => None,
            Err(e) => {
                // Not readable now: left queued, resumed after a restart (or quarantined there).
                tracing::error!(target: "mts1b::delivery", seq, error = %e, "cannot read a queued order; skipped until restart");
                None
            }
        }
    }

    /// Counts a final OMS answer: one attempt of that result, one order out of the queue.
    fn count(&self, result: &str) {
        self.metrics
            .delivery
            .attempts
            .with_label_values(&[result])
            .inc();
        self.metrics.delivery.queue_depth.dec();
    }

    fn notify(&self, id: &ClientOrderId, outcome: Settled) {
        if let Some(waiter) = lock(&self.waiters).remove(id) {
            let _ = waiter.send(outcome);
        }
    }

    /// Moves the order `id` on through the writer thread; durable or lazy as
    /// [`Transition::durability`] says.
    async fn update(
        &self,
        id: ClientOrderId,
        transition: Transition,
    ) -> Result<Option<Box<OrderRecord>>, StoreError> {
        self.writer.update(id, self.clock.now(), transition).await
    }

    async fn get(&self, id: ClientOrderId) -> Result<Option<OrderRecord>, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.get(&id))
            .await
            .unwrap_or_else(|e| Err(StoreError::from(e)))
    }

    /// Records a newly accepted order or modification durably and hands it to its stream; a
    /// modification is also registered to be settled (and a cancel-all of every symbol holds
    /// its scope from now on).
    async fn record(self: Arc<Self>, intent: Intent) -> Result<Recording, StoreError> {
        let epoch = self.epoch();
        let recording = self
            .writer
            .record(intent.clone(), self.clock.now(), self.policy.replay_window)
            .await?;
        if let Recording::Recorded { seq } = recording {
            self.metrics.delivery.queue_depth.inc();
            let stream = stream_of_intent(&intent);
            if intent.order().is_none() {
                let mut coordination = lock(&self.coordination);
                coordination
                    .unsettled
                    .entry(stream.clone())
                    .or_default()
                    .insert(seq);
                if stream.ends_with(EVERY_SYMBOL) {
                    coordination
                        .barriers
                        .entry(stream.clone())
                        .or_default()
                        .insert(seq);
                }
            }
            self.wake(
                stream,
                Some(Queued {
                    intent,
                    attempts: 0,
                    seq,
                    epoch,
                }),
            );
            // A worker waiting out a backoff settles the modification now, not at its retry.
            self.changed.notify_waiters();
        }
        Ok(recording)
    }

    /// Settles the modifications waiting in `stream`, oldest first, and tells whoever waits
    /// on what they did. A scope stream first waits until no stream of its scope has a call
    /// in flight (none starts one meanwhile: the cancel-all holds them).
    async fn settle_unsettled(&self, stream: &str) {
        let scope = stream.ends_with(EVERY_SYMBOL);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let coordination = lock(&self.coordination);
                let Some(seq) = coordination
                    .unsettled
                    .get(stream)
                    .and_then(|s| s.first().copied())
                else {
                    return;
                };
                (!(scope && coordination.scope_busy(stream))).then_some(seq)
            };
            let Some(seq) = next else {
                // Calls in flight in the scope: wait for them to end.
                notified.await;
                continue;
            };
            let settlement = loop {
                match self.writer.settle(seq, self.clock.now()).await {
                    Ok(settlement) => break settlement,
                    Err(e) => {
                        tracing::error!(target: "mts1b::delivery", seq, error = %e, "cannot settle a modification; trying again");
                        tokio::time::sleep(self.policy.max_backoff).await;
                    }
                }
            };
            Coordination::forget(&mut lock(&self.coordination).unsettled, stream, seq);
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.announce(settlement);
        }
    }

    /// Tells the waiters what a settlement did, and counts what left the queue.
    fn announce(&self, settlement: crate::store::Settlement) {
        for (id, note) in settlement.cancelled {
            self.metrics.delivery.queue_depth.dec();
            tracing::info!(target: "mts1b::delivery", client_order_id = %id, note = %note, "cancelled before delivery");
            self.notify(&id, Settled::Cancelled(note));
        }
        let Some(record) = settlement.record else {
            return;
        };
        let id = record.intent.id();
        let outcome = match settlement.resolution {
            Resolution::Applied(note) => Settled::Modified {
                order_id: None,
                detail: Some(note),
            },
            Resolution::NotActive(reason) => Settled::NotActive(reason),
            Resolution::Deliver | Resolution::Gone => return,
        };
        self.metrics.delivery.queue_depth.dec();
        self.lift(&record.intent, record.seq);
        tracing::info!(target: "mts1b::delivery", request_id = %id, intent = record.intent.kind().as_str(), "modification settled in the outbox");
        self.notify(&id, outcome);
    }

    /// A cancel-all of every symbol at `seq` is final: its scope is no longer held.
    fn lift(&self, intent: &Intent, seq: u64) {
        let stream = stream_of_intent(intent);
        if stream.ends_with(EVERY_SYMBOL) {
            Coordination::forget(&mut lock(&self.coordination).barriers, &stream, seq);
            self.changed.notify_waiters();
        }
    }

    /// What the worker of `stream` does with `queued` before calling the OMS for it: settles
    /// the modifications waiting in the stream, waits while a cancel-all holds the scope, and
    /// reads the record again if a settlement may have changed it. Returns true with the call
    /// counted in flight (end it with [`Inner::call_ended`]), or false when the record became
    /// final meanwhile (cancelled before delivery, settled) and nothing is to be sent.
    async fn before_call(&self, stream: &str, queued: &mut Queued) -> bool {
        loop {
            self.settle_unsettled(stream).await;
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let epoch = self.epoch();
            if epoch == queued.epoch {
                let held = {
                    let mut coordination = lock(&self.coordination);
                    if coordination.has_unsettled(stream) {
                        // Arrived meanwhile: settled first.
                        continue;
                    }
                    let held = coordination.held(stream);
                    if !held {
                        *coordination.in_flight.entry(stream.to_owned()).or_default() += 1;
                    }
                    held
                };
                if !held {
                    return true;
                }
                notified.await;
                continue;
            }
            match self.store.record_at(queued.seq) {
                Ok(Some(record)) if !record.status.is_final() => queued.intent = record.intent,
                Ok(_) => return false,
                Err(e) => {
                    tracing::error!(target: "mts1b::delivery", seq = queued.seq, error = %e, "cannot read a queued record again; sending it as it was");
                }
            }
            queued.epoch = epoch;
        }
    }

    /// The call [`Inner::before_call`] counted has ended. Only a cancel-all waiting for its
    /// scope's calls needs to hear of it: waking every worker waiting out a backoff at each
    /// call's end would cost O(streams) per call during an outage.
    fn call_ended(&self, stream: &str) {
        let mut coordination = lock(&self.coordination);
        if let Some(n) = coordination.in_flight.get_mut(stream) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                coordination.in_flight.remove(stream);
            }
        }
        let awaited = !coordination.barriers.is_empty()
            && coordination.barriers.contains_key(&scope_of(stream));
        drop(coordination);
        if awaited {
            self.changed.notify_waiters();
        }
    }

    /// One OMS call for `intent`.
    async fn send(&self, intent: &Intent) -> Result<Sent, OmsError> {
        let _permit = self.calls.acquire().await;
        match intent {
            Intent::Submit(order) => self.oms.submit(order).await.map(Sent::Order),
            Intent::Cancel(m) => self.oms.cancel(m).await.map(Sent::Modification),
            Intent::Replace(m) => self.oms.replace(m).await.map(Sent::Modification),
            Intent::CancelAll(m) => self.oms.cancel_all(m).await.map(Sent::Modification),
        }
    }

    /// Waits out a retry's backoff, or less when a modification arrives for `stream` or a
    /// cancel-all holds its scope (the worker settles it at once).
    async fn back_off(&self, stream: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let coordination = lock(&self.coordination);
                if coordination.held(stream) || coordination.has_unsettled(stream) {
                    return;
                }
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return,
                () = &mut notified => {}
            }
        }
    }

    /// Delivers one order or modification to the end: submitted (applied), rejected, expired,
    /// or settled in the outbox. Returns whether its record says so (false when the store
    /// refused the final write: the record is still queued).
    async fn deliver(&self, stream: &str, mut queued: Queued) -> bool {
        let id = queued.intent.id();
        let kind = queued.intent.kind();
        let seq = queued.seq;
        let mut attempts = queued.attempts;
        let max_age = i64::try_from(self.policy.max_age(kind).as_millis()).unwrap_or(i64::MAX);
        let per_source = self.metrics.of_source(queued.intent.source());
        loop {
            if !self.before_call(stream, &mut queued).await {
                return true;
            }
            let intent = &queued.intent;
            let age = self.clock.now().millis_since(intent.received_at());
            if age > max_age {
                self.call_ended(stream);
                let settled = self.update(id, Transition::Expired).await.is_ok();
                self.metrics.delivery.queue_depth.dec();
                self.lift(intent, seq);
                if kind == IntentKind::Submit || kind == IntentKind::Replace {
                    self.metrics.delivery.expired.inc();
                    tracing::warn!(target: "mts1b::delivery", client_order_id = %id, intent = kind.as_str(), attempts, age_ms = age, "expired: older than delivery.max_order_age, never sent again");
                } else {
                    // A cancel that never reached the OMS leaves its orders working.
                    self.metrics.delivery.cancels_expired.inc();
                    tracing::error!(target: "mts1b::delivery", request_id = %id, intent = kind.as_str(), attempts, age_ms = age, "cancel expired: older than delivery.max_cancel_age and never taken by the OMS; the orders it meant to cancel may still be working");
                }
                self.notify(&id, Settled::Expired);
                return settled;
            }
            let result = self.send(intent).await;
            self.call_ended(stream);
            attempts += 1;
            match result {
                Ok(Sent::Order(accepted)) => {
                    let order_id = accepted.order_id;
                    // The caller hears of it at once: the status below is a lazy write (losing
                    // it costs only a resend the OMS dedupes), so the answer does not wait for
                    // it; `/orders` may still say `queued` for that moment.
                    self.notify(&id, Settled::Submitted(order_id.clone()));
                    self.count("submitted");
                    if let Some(m) = &per_source {
                        m.orders_submitted.inc();
                    }
                    tracing::info!(target: "mts1b::delivery", client_order_id = %id, attempts, order_id = %order_id, duplicate = accepted.duplicate, "submitted");
                    let submitted = Transition::Submitted { order_id, attempts };
                    return self.write_final(id, submitted, intent, max_age).await;
                }
                Ok(Sent::Modification(modified)) => {
                    // The orders' records first (lazy writes): `/orders` agrees with the answer.
                    self.mark_targets(intent, &modified).await;
                    self.notify(
                        &id,
                        Settled::Modified {
                            order_id: modified.order_id.clone(),
                            detail: None,
                        },
                    );
                    self.count("applied");
                    tracing::info!(target: "mts1b::delivery", request_id = %id, intent = kind.as_str(), attempts, duplicate = modified.duplicate, "modification applied by the OMS");
                    let applied = Transition::Applied {
                        order_id: modified.order_id,
                        attempts,
                    };
                    let written = self.write_final(id, applied, intent, max_age).await;
                    self.lift(intent, seq);
                    return written;
                }
                Err(e) if e.class == ErrorClass::Permanent => {
                    let reason = e.message;
                    self.count("rejected");
                    if let Some(m) = &per_source {
                        m.orders_rejected.with_label_values(&[e.label]).inc();
                    }
                    // A cancel or replace of an order the OMS says is filled, gone or unknown:
                    // its target is not active (SPEC §13).
                    let not_active = kind != IntentKind::Submit
                        && matches!(e.label, "not_found" | "failed_precondition");
                    let rejected = Transition::Rejected {
                        reason: reason.clone(),
                        attempts,
                    };
                    let settled = self.update(id, rejected).await.is_ok();
                    self.lift(intent, seq);
                    tracing::warn!(target: "mts1b::delivery", client_order_id = %id, intent = kind.as_str(), attempts, reason = %reason, "rejected by the OMS");
                    let outcome = if not_active {
                        Settled::NotActive(reason)
                    } else {
                        Settled::Rejected(reason)
                    };
                    self.notify(&id, outcome);
                    return settled;
                }
                Err(e) => {
                    self.metrics
                        .delivery
                        .attempts
                        .with_label_values(&["transient"])
                        .inc();
                    tracing::warn!(target: "mts1b::delivery", client_order_id = %id, attempts, error = %e.message, "OMS call failed; retrying");
                    let retrying = Transition::Retrying {
                        error: e.message,
                        attempts,
                    };
                    let _ = self.update(id, retrying).await;
                    let until_expiry =
                        Duration::from_millis(u64::try_from(max_age - age).unwrap_or(0) + 1);
                    let wait = backoff(&self.policy, &id, attempts).min(until_expiry);
                    self.back_off(stream, wait).await;
                }
            }
        }
    }

    /// Writes the final status of what the OMS took. The OMS has it: only the record is behind.
    /// Retries writing it, never the call, and not past its age limit: the stream waits behind
    /// this loop, and a record left queued is only resent after a restart if still young
    /// enough, where the OMS dedupes it; otherwise it is expired, never resent.
    async fn write_final(
        &self,
        id: ClientOrderId,
        transition: Transition,
        intent: &Intent,
        max_age: i64,
    ) -> bool {
        while let Err(e) = self.update(id, transition.clone()).await {
            let age = self.clock.now().millis_since(intent.received_at());
            if age > max_age {
                tracing::error!(target: "mts1b::delivery", client_order_id = %id, error = %e, age_ms = age, "taken by the OMS but not recorded; gave up writing at its age limit (the stream moves on)");
                return false;
            }
            tracing::error!(target: "mts1b::delivery", client_order_id = %id, error = %e, "taken by the OMS but not recorded; retrying the write");
            tokio::time::sleep(self.policy.max_backoff).await;
        }
        true
    }

    /// Records on the orders a modification changed what the OMS did to them (history for
    /// `/orders`; an order the bridge no longer remembers is skipped).
    async fn mark_targets(&self, intent: &Intent, modified: &OmsModified) {
        let by = format!("{} {}", intent.kind().as_str(), intent.idempotency_key());
        let changed: Vec<(ClientOrderId, Transition)> = match intent {
            Intent::Cancel(m) => vec![(
                m.change.target.client_order_id,
                Transition::Modified {
                    status: Status::Cancelled,
                    note: format!("cancelled by {by}"),
                },
            )],
            Intent::Replace(m) => vec![(
                m.change.target.client_order_id,
                Transition::Modified {
                    status: Status::Replaced,
                    note: format!("replaced by {by}: {}", m.change.describe()),
                },
            )],
            Intent::CancelAll(_) => modified
                .cancelled
                .iter()
                .filter_map(|id| ClientOrderId::parse(id).ok())
                .map(|id| {
                    (
                        id,
                        Transition::Modified {
                            status: Status::Cancelled,
                            note: format!("cancelled by {by}"),
                        },
                    )
                })
                .collect(),
            Intent::Submit(_) => Vec::new(),
        };
        for (id, transition) in changed {
            if let Err(e) = self.update(id, transition).await {
                tracing::warn!(target: "mts1b::delivery", client_order_id = %id, error = %e, "the OMS changed an order whose record could not be updated");
            }
        }
    }
}

impl Outbox {
    /// Why the bridge refuses `modification` against the order it names, when the bridge
    /// still knows that order (SPEC §13): another symbol or strategy (400), a target no longer
    /// active (422), new terms that do not fit its order type (400). Nothing is recorded.
    async fn check_target(&self, modification: &Intent) -> Result<Option<Rejection>, StoreError> {
        let Some(target) = modification.target() else {
            return Ok(None);
        };
        let Some(record) = self.inner.get(target.client_order_id).await? else {
            return Ok(None);
        };
        let refused = refusal(&record, modification).map(|refused| {
            let why = refused.to_string();
            match refused {
                Refusal::OtherSymbol(_) => Rejection::invalid("symbol", why),
                Refusal::OtherStrategy(_) => Rejection::invalid("strategy_id", why),
                Refusal::NotActive(_) => Rejection::TargetNotActive { reason: why },
            }
        });
        if refused.is_some() {
            return Ok(refused);
        }
        if let (Intent::Replace(m), Some(order)) = (modification, record.order())
            && let Err(rejection) = m.change.applied_to(order)
        {
            return Ok(Some(rejection));
        }
        Ok(None)
    }

    /// Records `intent` and waits up to `respond_within` for its outcome; when it is still
    /// queued then and `follow` is set, hands back how it will settle (its waiter stays
    /// registered until the worker settles it).
    async fn submit_inner(
        &self,
        intent: Intent,
        follow: bool,
    ) -> Result<(Delivered, Option<Settlement>), SinkUnavailable> {
        let inner = &self.inner;
        let id = intent.id();
        if intent.order().is_none() {
            match self.check_target(&intent).await {
                Ok(None) => {}
                Ok(Some(rejection)) => return Ok((Delivered::Refused(rejection), None)),
                Err(e) => return Err(SinkUnavailable(e.to_string())),
            }
        }
        let (tx, mut rx) = oneshot::channel();
        // Listen before the worker can possibly finish.
        lock(&inner.waiters).insert(id, tx);
        // Recording and enqueueing run as a task of their own: if the caller goes away (the
        // client hung up and hyper dropped this future), an order already on disk must still be
        // handed to its stream now, not at the next restart.
        let recorded = tokio::spawn(inner.clone().record(intent))
            .await
            .unwrap_or_else(|e| Err(StoreError::from(e)));
        match recorded {
            Ok(Recording::Recorded { .. }) => {}
            Ok(Recording::AlreadyAccepted(accepted_at)) => {
                // The replay window's cache had forgotten it; the store had not.
                lock(&inner.waiters).remove(&id);
                return Ok((Delivered::Duplicate { accepted_at }, None));
            }
            Err(e) => {
                lock(&inner.waiters).remove(&id);
                return Err(SinkUnavailable(e.to_string()));
            }
        }
        let delivered = match tokio::time::timeout(inner.policy.respond_within, &mut rx).await {
            Ok(Ok(settled)) => settled.delivered(),
            Ok(Err(_)) => {
                lock(&inner.waiters).remove(&id);
                return Ok((Delivered::Queued, None));
            }
            Err(_) if follow => return Ok((Delivered::Queued, Some(rx))),
            Err(_) => {
                lock(&inner.waiters).remove(&id);
                Delivered::Queued
            }
        };
        Ok((delivered, None))
    }
}

#[async_trait]
impl OrderSink for Outbox {
    async fn submit(
        &self,
        order: &mts1b_inbound_core::OrderIntent,
    ) -> Result<Delivered, SinkUnavailable> {
        self.submit_inner(Intent::Submit(order.clone()), false)
            .await
            .map(|(delivered, _)| delivered)
    }

    async fn submit_following(
        &self,
        order: &mts1b_inbound_core::OrderIntent,
    ) -> Result<(Delivered, Option<Settlement>), SinkUnavailable> {
        self.submit_inner(Intent::Submit(order.clone()), true).await
    }

    async fn modify(&self, modification: &Intent) -> Result<Delivered, SinkUnavailable> {
        self.submit_inner(modification.clone(), false)
            .await
            .map(|(delivered, _)| delivered)
    }

    async fn modify_following(
        &self,
        modification: &Intent,
    ) -> Result<(Delivered, Option<Settlement>), SinkUnavailable> {
        self.submit_inner(modification.clone(), true).await
    }

    // One read of the embedded store (a local file, mostly in its page cache): chat commands
    // are few, and the lookup spares the trader typing the order's symbol and strategy.
    fn known_order(&self, id: &ClientOrderId) -> Option<KnownOrder> {
        let record = self.inner.store.get(id).ok()??;
        let order = record.order()?;
        Some(KnownOrder {
            strategy_id: order.strategy_id.clone(),
            symbol: order.symbol.clone(),
            instrument_class: order.instrument_class,
        })
    }

    fn not_ready(&self) -> Option<String> {
        self.inner
            .unreachable
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn expired_order(
        &self,
        id: &ClientOrderId,
    ) -> Result<Option<mts1b_inbound_core::OrderIntent>, SinkUnavailable> {
        let record = self
            .inner
            .get(*id)
            .await
            .map_err(|e| SinkUnavailable(e.to_string()))?;
        Ok(record
            .filter(|r| r.status == crate::store::Status::Expired)
            .and_then(|r| r.order().cloned()))
    }

    async fn queued_by_stream(&self) -> Option<Result<Vec<(String, usize)>, SinkUnavailable>> {
        let store = self.inner.store.clone();
        let queued = tokio::task::spawn_blocking(move || store.queued())
            .await
            .unwrap_or_else(|e| Err(StoreError::from(e)));
        Some(
            queued
                .map(|records| {
                    let mut streams = std::collections::BTreeMap::<String, usize>::new();
                    for record in records {
                        *streams
                            .entry(crate::store::stream_of_intent(&record.intent))
                            .or_default() += 1;
                    }
                    streams.into_iter().collect()
                })
                .map_err(|e| SinkUnavailable(e.to_string())),
        )
    }

    async fn status(&self, id: &ClientOrderId) -> Result<Option<OrderStatus>, SinkUnavailable> {
        let record = self
            .inner
            .get(*id)
            .await
            .map_err(|e| SinkUnavailable(e.to_string()))?;
        Ok(record.map(|r| {
            let id = Some(r.intent.id().to_string());
            let (client_order_id, request_id) = match r.intent.order() {
                Some(_) => (id, None),
                None => (None, id),
            };
            OrderStatus {
                status: r.status,
                intent: r.intent.kind().as_str(),
                client_order_id,
                request_id,
                attempts: r.attempts,
                order_id: r.order_id,
                last_error: r.last_error,
                target_key: r.intent.target().map(|t| t.key.to_string()),
                modifications: r.history,
            }
        }))
    }
}

/// Accepted ids newer than `window` before `now`, to warm the replay window at start.
pub fn recently_accepted(
    store: &OrderStore,
    now: UnixMillis,
    window: Duration,
) -> Result<Vec<(ClientOrderId, UnixMillis)>, StoreError> {
    let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    store.accepted_since(UnixMillis(now.as_millis().saturating_sub(window)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Status;
    use mts1b_inbound_core::testing::order;
    use mts1b_inbound_core::{FundId, IdempotencyKey, SystemClock, UnixMillis};

    fn policy() -> DeliveryPolicy {
        DeliveryPolicy {
            respond_within: Duration::from_secs(2),
            max_order_age: Duration::from_secs(60),
            max_cancel_age: Duration::from_secs(3600),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_concurrent_calls: 8,
            replay_window: Duration::from_secs(300),
        }
    }

    /// An outbox over a fresh store and paper OMS in a temporary folder named after `tag`.
    fn paper_outbox(tag: &str) -> (std::path::PathBuf, Arc<OrderStore>, Outbox) {
        let data = std::env::temp_dir().join(format!("mts1b-outbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let store = Arc::new(OrderStore::open(&data).unwrap());
        let outbox = Outbox::start(
            store.clone(),
            Arc::new(crate::delivery::PaperOms::open(&data).unwrap()),
            Arc::new(SystemClock),
            policy(),
            Metrics::new(),
        )
        .unwrap();
        (data, store, outbox)
    }

    /// Waits (bounded) until the record of `id` says `status`.
    async fn until_status(store: &OrderStore, id: &ClientOrderId, status: Status) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = store.get(id).unwrap().map(|r| r.status);
            if now == Some(status) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still {now:?}, never {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn an_order_on_disk_is_delivered_even_if_its_caller_goes_away() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};

        let (data, store, outbox) = paper_outbox("gone");
        let o = order("f", "gone", SystemClock.now());
        // One poll starts recording; then the caller goes away, as when a client hangs up and
        // hyper drops the request's future.
        let mut submit = Box::pin(outbox.submit(&o));
        let poll = submit
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(poll, Poll::Pending));
        drop(submit);
        until_status(&store, &o.client_order_id, Status::Submitted).await;
        let _ = std::fs::remove_dir_all(&data);
    }

    #[tokio::test]
    async fn a_submitted_order_whose_record_cannot_be_written_never_blocks_its_stream_for_long() {
        use std::sync::atomic::Ordering;
        let data = std::env::temp_dir().join(format!("mts1b-outbox-stuck-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let store = Arc::new(OrderStore::open(&data).unwrap());
        let paper = Arc::new(crate::delivery::PaperOms::open(&data).unwrap());
        let journal = paper.journal_path().to_owned();
        let policy = DeliveryPolicy {
            respond_within: Duration::from_millis(50),
            max_order_age: Duration::from_millis(300),
            max_backoff: Duration::from_millis(10),
            ..policy()
        };
        let outbox = Outbox::start(
            store.clone(),
            paper,
            Arc::new(SystemClock),
            policy,
            Metrics::new(),
        )
        .unwrap();
        // The OMS takes both; the store then refuses every status write.
        store.fail_updates.store(true, Ordering::SeqCst);
        let first = order("f", "first", SystemClock.now());
        // Received later, so it is still young enough when the first's worker gives up.
        let second = order("f", "second", UnixMillis(SystemClock.now().0 + 500));
        // Submitted within respond_within, or queued when the host is slower than 50 ms at
        // recording and journaling it: the worker delivers it either way, and its record's
        // write then fails.
        let submitted = outbox.submit(&first).await;
        assert!(
            matches!(
                submitted,
                Ok(Delivered::Submitted { .. } | Delivered::Queued)
            ),
            "{submitted:?}"
        );
        // Same stream, behind the first, whose worker keeps retrying its record's write (queued,
        // unless the host took longer than max_order_age over the first).
        let queued = outbox.submit(&second).await;
        assert!(
            matches!(queued, Ok(Delivered::Queued | Delivered::Submitted { .. })),
            "{queued:?}"
        );
        // The OMS has the first (the write failing is the record's, not the delivery's).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .contains(&first.client_order_id.to_string())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the first never reached the OMS"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // It gives up at max_order_age and the stream moves on: the second reaches the OMS.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&journal)
            .unwrap()
            .contains(&second.client_order_id.to_string())
        {
            assert!(std::time::Instant::now() < deadline, "the stream is stuck");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The first's record was never written: still queued, resent (and deduped) after a
        // restart, or expired there.
        let first_status = store.get(&first.client_order_id).unwrap().map(|r| r.status);
        assert_eq!(first_status, Some(Status::Queued));
        store.fail_updates.store(false, Ordering::SeqCst);
        let _ = std::fs::remove_dir_all(&data);
    }

    #[tokio::test]
    async fn pruning_takes_turns_with_alerts_until_nothing_old_is_left() {
        let (data, store, outbox) = paper_outbox("prune");
        let now = SystemClock.now();
        let orders: Vec<_> = (0..7).map(|i| order("f", &format!("k{i}"), now)).collect();
        for o in &orders {
            assert!(matches!(
                outbox.submit(o).await,
                Ok(Delivered::Submitted { .. })
            ));
        }
        // Only final records are pruned: wait for the lazy `submitted` writes.
        for o in &orders {
            until_status(&store, &o.client_order_id, Status::Submitted).await;
        }
        // Nothing is older than the cutoff yet; then everything is, in passes of 2.
        assert_eq!(outbox.prune(now, 2).await.unwrap(), 0);
        assert_eq!(
            outbox.prune(UnixMillis(now.0 + 60_000), 2).await.unwrap(),
            7
        );
        assert!(
            orders
                .iter()
                .all(|o| store.get(&o.client_order_id).unwrap().is_none())
        );
        let _ = std::fs::remove_dir_all(&data);
    }

    #[test]
    fn backoff_is_full_jitter_under_an_exponential_ceiling() {
        let p = policy();
        let ids: Vec<ClientOrderId> = (0..200)
            .map(|i| {
                ClientOrderId::derive(
                    "t",
                    &FundId::parse("f").unwrap(),
                    &IdempotencyKey::parse(&format!("k{i}")).unwrap(),
                )
            })
            .collect();
        for (attempt, ceiling_ms) in [(1, 100), (2, 200), (3, 400), (7, 5000), (30, 5000)] {
            let waits: Vec<Duration> = ids.iter().map(|id| backoff(&p, id, attempt)).collect();
            assert!(
                waits
                    .iter()
                    .all(|w| *w <= Duration::from_millis(ceiling_ms)),
                "attempt {attempt}"
            );
            // Spread over the whole range, not bunched: some in each half.
            let half = Duration::from_millis(ceiling_ms / 2);
            assert!(
                waits.iter().any(|w| *w < half) && waits.iter().any(|w| *w > half),
                "attempt {attempt}"
            );
        }
        assert_eq!(backoff(&p, &ids[0], 3), backoff(&p, &ids[0], 3));
    }
}
