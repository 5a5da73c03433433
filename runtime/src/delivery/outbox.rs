//! The outbox (SPEC §7): every accepted order is recorded durably, then delivered to the OMS by
//! one worker per stream, effectively once.
//!
//! - The request waits up to `respond_within` for the first outcome: OMS accepted (200), OMS
//!   refused (422), or still trying (202, and the worker carries on).
//! - A stream is (fund, strategy, symbol). Its orders go out strictly in arrival order: a later
//!   order waits while an earlier one is retrying; a rejected or expired one stops blocking.
//!   Streams run concurrently, at most `max_concurrent_calls` OMS calls at once.
//! - Transient failures are retried with exponential backoff and full jitter; permanent ones end
//!   the order as rejected; an order older than `max_order_age` is expired and never sent again.
//! - After a restart, queued orders resume in arrival order. An order the OMS took just before a
//!   crash is sent again with the same client order id, and the OMS dedupes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use mts1b_inbound_core::{
    CanonicalSymbol, ClientOrderId, Clock, FundId, OrderIntent, StrategyId, UnixMillis,
};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::oms::{ErrorClass, OmsClient};
use super::{Delivered, OrderSink, OrderStatus, SinkUnavailable};
use crate::metrics::Metrics;
use crate::store::{Durability, OrderRecord, OrderStore, Recording, Status, StoreError};

/// How delivery behaves (`delivery.*` in the configuration).
#[derive(Clone, Copy, Debug)]
pub struct DeliveryPolicy {
    /// How long a request waits for the OMS before answering 202.
    pub respond_within: Duration,
    /// Orders older than this (since received) are expired, never sent.
    pub max_order_age: Duration,
    /// The first retry's backoff ceiling.
    pub initial_backoff: Duration,
    /// The largest backoff ceiling.
    pub max_backoff: Duration,
    /// OMS calls in flight at once, across streams.
    pub max_concurrent_calls: usize,
    /// The replay window: a record accepted within it refuses the same alert again.
    pub replay_window: Duration,
}

/// How often the OMS's reachability is re-checked for `/readyz`.
pub const REACHABILITY_INTERVAL: Duration = Duration::from_secs(2);

type StreamKey = (FundId, StrategyId, CanonicalSymbol);

/// How an order ended, for a request still waiting.
enum Final {
    Submitted(String),
    Rejected(String),
    Expired,
}

struct Inner {
    store: Arc<OrderStore>,
    oms: Arc<dyn OmsClient>,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
    streams: Mutex<HashMap<StreamKey, mpsc::UnboundedSender<ClientOrderId>>>,
    waiters: Mutex<HashMap<ClientOrderId, oneshot::Sender<Final>>>,
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
                store,
                oms,
                clock,
                policy,
                streams: Mutex::new(HashMap::new()),
                waiters: Mutex::new(HashMap::new()),
                calls: Semaphore::new(policy.max_concurrent_calls.max(1)),
                unreachable: RwLock::new(None),
                metrics,
            }),
        };
        let queued = outbox.inner.store.queued()?;
        outbox
            .inner
            .metrics
            .delivery
            .queue_depth
            .set(i64::try_from(queued.len()).unwrap_or(i64::MAX));
        if !queued.is_empty() {
            tracing::info!(target: "mts1b::delivery", orders = queued.len(), "resuming queued orders");
        }
        for record in queued {
            outbox.inner.enqueue(&record.order);
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

    /// The record of one order.
    pub fn record(&self, id: &ClientOrderId) -> Result<Option<OrderRecord>, StoreError> {
        self.inner.store.get(id)
    }
}

impl Inner {
    fn enqueue(self: &Arc<Self>, order: &OrderIntent) {
        let key = (
            order.fund_id.clone(),
            order.strategy_id.clone(),
            order.symbol.clone(),
        );
        let mut streams = lock(&self.streams);
        if let Some(tx) = streams.get(&key)
            && tx.send(order.client_order_id).is_ok()
        {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(order.client_order_id);
        streams.insert(key.clone(), tx);
        tokio::spawn(self.clone().run_stream(key, rx));
    }

    async fn run_stream(
        self: Arc<Self>,
        key: StreamKey,
        mut rx: mpsc::UnboundedReceiver<ClientOrderId>,
    ) {
        while let Some(id) = rx.recv().await {
            self.deliver(id).await;
            // Leave when idle. Enqueuers send under the same lock, so nothing is lost between
            // this check and the removal.
            let mut streams = lock(&self.streams);
            if rx.is_empty() {
                streams.remove(&key);
                return;
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

    fn notify(&self, id: &ClientOrderId, outcome: Final) {
        if let Some(waiter) = lock(&self.waiters).remove(id) {
            let _ = waiter.send(outcome);
        }
    }

    /// Updates the record of `id`. Durability follows what a crash would cost: losing a
    /// `submitted` status or an attempt count only means the order is sent again, and the OMS
    /// dedupes it on its client order id, so those are lazy; a `rejected` or `expired` status is
    /// fsynced, because resending a refused order could let through what was answered as refused.
    async fn update(
        &self,
        id: ClientOrderId,
        durability: Durability,
        change: impl FnOnce(&mut OrderRecord) + Send + 'static,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let store = self.store.clone();
        let now = self.clock.now();
        tokio::task::spawn_blocking(move || {
            store.update(&id, durability, |r| {
                change(r);
                r.updated_at = now;
            })
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::from(e)))
    }

    async fn get(&self, id: ClientOrderId) -> Result<Option<OrderRecord>, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.get(&id))
            .await
            .unwrap_or_else(|e| Err(StoreError::from(e)))
    }

    /// Delivers one order to the end: submitted, rejected or expired.
    async fn deliver(&self, id: ClientOrderId) {
        let max_age = i64::try_from(self.policy.max_order_age.as_millis()).unwrap_or(i64::MAX);
        loop {
            let record = match self.get(id).await {
                Ok(Some(record)) => record,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(target: "mts1b::delivery", client_order_id = %id, error = %e, "cannot read the order; retrying");
                    tokio::time::sleep(self.policy.max_backoff).await;
                    continue;
                }
            };
            match record.status {
                Status::Queued => {}
                Status::Submitted => {
                    return self.notify(&id, Final::Submitted(record.order_id.unwrap_or_default()));
                }
                Status::Rejected => {
                    return self
                        .notify(&id, Final::Rejected(record.last_error.unwrap_or_default()));
                }
                Status::Expired => return self.notify(&id, Final::Expired),
            }
            let age = self.clock.now().millis_since(record.order.received_at);
            if age > max_age {
                let attempts = record.attempts;
                let _ = self
                    .update(id, Durability::Fsync, |r| r.status = Status::Expired)
                    .await;
                self.metrics.delivery.queue_depth.dec();
                self.metrics.delivery.expired.inc();
                tracing::warn!(target: "mts1b::delivery", client_order_id = %id, attempts, age_ms = age, "expired: older than delivery.max_order_age, never sent again");
                return self.notify(&id, Final::Expired);
            }
            let result = {
                let _permit = self.calls.acquire().await;
                self.oms.submit(&record.order).await
            };
            let attempts = record.attempts + 1;
            let per_source = self.metrics.of_source(&record.order.source);
            match result {
                Ok(accepted) => {
                    let order_id = accepted.order_id.clone();
                    let stored = self
                        .update(id, Durability::Lazy, move |r| {
                            r.status = Status::Submitted;
                            r.order_id = Some(accepted.order_id);
                            r.attempts = attempts;
                        })
                        .await;
                    if let Err(e) = stored {
                        // The OMS has it; the next pass resends and the OMS dedupes.
                        tracing::error!(target: "mts1b::delivery", client_order_id = %id, error = %e, "submitted but not recorded; will resend");
                        tokio::time::sleep(self.policy.initial_backoff).await;
                        continue;
                    }
                    self.count("submitted");
                    if let Some(m) = per_source {
                        m.orders_submitted.inc();
                    }
                    tracing::info!(target: "mts1b::delivery", client_order_id = %id, attempts, order_id = %order_id, duplicate = accepted.duplicate, "submitted");
                    return self.notify(&id, Final::Submitted(order_id));
                }
                Err(e) if e.class == ErrorClass::Permanent => {
                    let reason = e.message.clone();
                    self.count("rejected");
                    if let Some(m) = per_source {
                        m.orders_rejected.with_label_values(&[e.label]).inc();
                    }
                    let _ = self
                        .update(id, Durability::Fsync, move |r| {
                            r.status = Status::Rejected;
                            r.last_error = Some(e.message);
                            r.attempts = attempts;
                        })
                        .await;
                    tracing::warn!(target: "mts1b::delivery", client_order_id = %id, attempts, reason = %reason, "rejected by the OMS");
                    return self.notify(&id, Final::Rejected(reason));
                }
                Err(e) => {
                    self.metrics
                        .delivery
                        .attempts
                        .with_label_values(&["transient"])
                        .inc();
                    tracing::warn!(target: "mts1b::delivery", client_order_id = %id, attempts, error = %e.message, "OMS call failed; retrying");
                    let _ = self
                        .update(id, Durability::Lazy, move |r| {
                            r.last_error = Some(e.message);
                            r.attempts = attempts;
                        })
                        .await;
                    let until_expiry =
                        Duration::from_millis(u64::try_from(max_age - age).unwrap_or(0) + 1);
                    tokio::time::sleep(backoff(&self.policy, &id, attempts).min(until_expiry))
                        .await;
                }
            }
        }
    }
}

#[async_trait]
impl OrderSink for Outbox {
    async fn submit(&self, order: &OrderIntent) -> Result<Delivered, SinkUnavailable> {
        let inner = &self.inner;
        let id = order.client_order_id;
        let (tx, rx) = oneshot::channel();
        // Listen before the worker can possibly finish.
        lock(&inner.waiters).insert(id, tx);
        let store = inner.store.clone();
        let (to_record, now) = (order.clone(), inner.clock.now());
        let window = inner.policy.replay_window;
        let recorded = tokio::task::spawn_blocking(move || store.record(&to_record, now, window))
            .await
            .unwrap_or_else(|e| Err(StoreError::from(e)));
        match recorded {
            Ok(Recording::Recorded(_)) => {
                inner.metrics.delivery.queue_depth.inc();
                inner.enqueue(order);
            }
            Ok(Recording::AlreadyAccepted(accepted_at)) => {
                // The replay window's cache had forgotten it; the store had not.
                lock(&inner.waiters).remove(&id);
                return Ok(Delivered::Duplicate { accepted_at });
            }
            Err(e) => {
                lock(&inner.waiters).remove(&id);
                return Err(SinkUnavailable(e.to_string()));
            }
        }
        match tokio::time::timeout(inner.policy.respond_within, rx).await {
            Ok(Ok(Final::Submitted(order_id))) => Ok(Delivered::Submitted { order_id }),
            Ok(Ok(Final::Rejected(reason))) => Ok(Delivered::Rejected { reason }),
            Ok(Ok(Final::Expired)) => Ok(Delivered::Rejected {
                reason: "expired: not delivered within delivery.max_order_age".into(),
            }),
            Ok(Err(_)) | Err(_) => {
                lock(&inner.waiters).remove(&id);
                Ok(Delivered::Queued)
            }
        }
    }

    fn not_ready(&self) -> Option<String> {
        self.inner
            .unreachable
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn status(&self, id: &ClientOrderId) -> Result<Option<OrderStatus>, SinkUnavailable> {
        let record = self
            .inner
            .get(*id)
            .await
            .map_err(|e| SinkUnavailable(e.to_string()))?;
        Ok(record.map(|r| OrderStatus {
            status: r.status,
            client_order_id: r.order.client_order_id.to_string(),
            attempts: r.attempts,
            order_id: r.order_id,
            last_error: r.last_error,
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
    use mts1b_inbound_core::{FundId, IdempotencyKey};

    fn policy() -> DeliveryPolicy {
        DeliveryPolicy {
            respond_within: Duration::from_secs(2),
            max_order_age: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_concurrent_calls: 8,
            replay_window: Duration::from_secs(300),
        }
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
