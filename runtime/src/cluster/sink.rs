//! The order sink of the cluster backend (SPEC §14): an accepted order is appended to the order
//! log and answered once JetStream acknowledged it, with its outcome if the replica delivering
//! its stream (this one or another) settles it within `delivery.respond_within`, else `queued`.
//!
//! A publish whose acknowledgement does not come in time is answered 503 (nothing is promised);
//! the sender's resend is stored once, by the stream's de-duplication on the order's id, and
//! answered as the first would have been.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mts1b_inbound_core::{
    ClientOrderId, FollowUp, Intent, IntentKind, KnownOrder, OrderIntent, Rejection,
};
use tokio::sync::oneshot;

use super::dispatch::Dispatcher;
use super::follow_ups::OwedFollowUps;
use super::log::{Appended, OrderLog};
use super::status::{Standing, StatusRecords};
use super::{Cluster, ClusterUnavailable};
use crate::delivery::{Delivered, OrderSink, OrderStatus, Settled, Settlement, SinkUnavailable};
use crate::store::{Status, not_active_because};

/// Takes orders into the replicated log.
pub struct ClusterSink {
    cluster: Cluster,
    log: OrderLog,
    status: StatusRecords,
    dispatcher: Arc<Dispatcher>,
    follow_ups: OwedFollowUps,
    /// The streams' delivered marks (read for the admin page's queue per stream).
    progress: async_nats::jetstream::kv::Store,
    respond_within: Duration,
    follow_for: Duration,
}

impl ClusterSink {
    /// A sink appending to `log` and answering from `status`, waiting up to `respond_within`
    /// for an order's outcome, and up to `follow_for` (longer than any order may wait) for a
    /// queued chat order's; each appended order's stream is poked on `dispatcher`; the
    /// follow-ups owed go to `follow_ups`; the streams' marks are read from `progress`.
    pub fn new(
        cluster: Cluster,
        log: OrderLog,
        status: StatusRecords,
        dispatcher: Arc<Dispatcher>,
        (follow_ups, progress): (OwedFollowUps, async_nats::jetstream::kv::Store),
        (respond_within, follow_for): (Duration, Duration),
    ) -> Self {
        Self {
            cluster,
            log,
            status,
            dispatcher,
            follow_ups,
            progress,
            respond_within,
            follow_for,
        }
    }

    /// Appends `intent` and waits for its outcome up to `respond_within`.
    async fn record(&self, intent: &Intent) -> Result<Delivered, SinkUnavailable> {
        let id = intent.id().to_string();
        let listening = self.status.listen(&id);
        let (seq, resent) = match self.log.append(intent).await.map_err(unavailable)? {
            Appended::Stored(seq) => (seq, false),
            Appended::AlreadyStored(seq) => (seq, true),
        };
        self.dispatcher.remember(intent);
        self.dispatcher
            .poke_soon(self.log.subject_of(intent), seq)
            .await;
        // Stored: from here on every answer is a 2xx or the OMS's own refusal. A new order
        // cannot have settled before this listened; a resend's may have.
        match listening.settled(self.respond_within, resent).await {
            Ok(Some(standing)) => Ok(delivered(standing)),
            Ok(None) | Err(_) => {
                let queued = Standing::of(intent, seq, Status::Queued);
                if let Err(e) = self.status.queue(&id, &queued).await {
                    tracing::warn!(target: "mts1b::cluster", id, error = %e, "queued order's status not recorded; it shows once delivered");
                }
                Ok(Delivered::Queued)
            }
        }
    }

    /// How the queued order `id` settles, told by whichever replica delivers it (this process
    /// must live to pass it on).
    fn settlement(&self, id: ClientOrderId) -> Settlement {
        let (tx, rx) = oneshot::channel();
        let (status, within) = (self.status.clone(), self.follow_for);
        tokio::spawn(async move {
            if let Ok(Some(standing)) = status.wait(&id.to_string(), within).await {
                let _ = tx.send(settled(standing));
            }
        });
        rx
    }
}

fn unavailable(e: ClusterUnavailable) -> SinkUnavailable {
    SinkUnavailable(e.0)
}

/// What the request that waited for `standing` answers.
fn delivered(standing: Standing) -> Delivered {
    settled(standing).delivered()
}

/// How the order whose status is `standing` settled, for a request or a follow-up.
pub(super) fn settled(standing: Standing) -> Settled {
    let reason = standing.reason.unwrap_or_default();
    match standing.status {
        Status::Expired => Settled::Expired,
        Status::Applied => Settled::Modified {
            order_id: standing.order_id,
            detail: standing.detail,
        },
        // Cancelled before it was ever sent; one the OMS took is answered as submitted.
        Status::Cancelled if standing.order_id.is_none() => Settled::Cancelled(
            standing
                .history
                .into_iter()
                .next()
                .unwrap_or_else(|| "cancelled before delivery".to_owned()),
        ),
        Status::Submitted | Status::Cancelled | Status::Replaced => {
            Settled::Submitted(standing.order_id.unwrap_or_default())
        }
        Status::Rejected if standing.not_active => Settled::NotActive(reason),
        Status::Rejected | Status::Queued => Settled::Rejected(reason),
    }
}

/// Why `modification` is refused before anything is recorded, if it is (SPEC §13): a target
/// of another strategy or symbol, a target no longer active. A target this backend has no status of yet passes: the
/// OMS answers for it.
fn refusal(modification: &Intent, target: Option<&Standing>) -> Option<Rejection> {
    let target = target.filter(|t| t.kind == "submit")?;
    if target.symbol.as_deref() != modification.symbol().map(|s| s.as_str()) {
        let symbol = target.symbol.as_deref().unwrap_or("another symbol");
        return Some(Rejection::invalid(
            "symbol",
            format!("the target order trades {symbol}"),
        ));
    }
    if target.strategy != modification.strategy_id().as_str() {
        return Some(Rejection::invalid(
            "strategy_id",
            format!("the target order belongs to strategy {}", target.strategy),
        ));
    }
    not_active_because(target.status, target.reason.as_deref())
        .map(|reason| Rejection::TargetNotActive { reason })
}

#[async_trait]
impl OrderSink for ClusterSink {
    async fn submit(&self, order: &OrderIntent) -> Result<Delivered, SinkUnavailable> {
        self.record(&Intent::Submit(order.clone())).await
    }

    async fn submit_following(
        &self,
        order: &OrderIntent,
    ) -> Result<(Delivered, Option<Settlement>), SinkUnavailable> {
        let delivered = self.submit(order).await?;
        let settlement =
            (delivered == Delivered::Queued).then(|| self.settlement(order.client_order_id));
        Ok((delivered, settlement))
    }

    async fn modify(&self, modification: &Intent) -> Result<Delivered, SinkUnavailable> {
        let target = match modification.target() {
            Some(target) => {
                let id = target.client_order_id.to_string();
                self.status.get(&id).await.map_err(unavailable)?
            }
            None => None,
        };
        if let Some(refused) = refusal(modification, target.as_ref()) {
            return Ok(Delivered::Refused(refused));
        }
        // New terms that do not fit the order's type: refused as the embedded outbox does,
        // against the order as logged.
        if let (Intent::Replace(m), Some(target)) = (modification, &target) {
            let logged = self.log.read(target.seq).await.map_err(unavailable)?;
            if let Some(Intent::Submit(order)) = logged
                && let Err(rejection) = m.change.applied_to(&order)
            {
                return Ok(Delivered::Refused(rejection));
            }
        }
        self.record(modification).await
    }

    async fn modify_following(
        &self,
        modification: &Intent,
    ) -> Result<(Delivered, Option<Settlement>), SinkUnavailable> {
        let delivered = self.modify(modification).await?;
        let settlement =
            (delivered == Delivered::Queued).then(|| self.settlement(modification.id()));
        Ok((delivered, settlement))
    }

    async fn owe_follow_up(&self, adapter: &'static str, intent: &Intent, to: &FollowUp) {
        if let Err(e) = self.follow_ups.owe(adapter, intent, to).await {
            tracing::warn!(target: "mts1b::cluster", id = %intent.id(), error = %e, "follow-up not in the replicated record: only this replica will send it");
        }
    }

    async fn follow_up_sent(&self, id: &ClientOrderId) {
        if let Err(e) = self.follow_ups.settle(id).await {
            tracing::warn!(target: "mts1b::cluster", id = %id, error = %e, "a sent follow-up is still recorded as owed");
        }
    }

    // From memory: the orders this replica saw appended to the log (by any replica) since it
    // started. An older order is not found, and the reply asks for its symbol and strategy.
    fn known_order(&self, id: &ClientOrderId) -> Option<KnownOrder> {
        self.dispatcher.known_order(id)
    }

    fn not_ready(&self) -> Option<String> {
        self.cluster.unreachable()
    }

    async fn queued_by_stream(&self) -> Option<Result<Vec<(String, usize)>, SinkUnavailable>> {
        let listed = super::queue::queued_by_stream(&self.log, &self.progress).await;
        Some(listed.map_err(unavailable).map(|(queued, streams)| {
            if streams > super::queue::MOST_STREAMS {
                tracing::info!(target: "mts1b::admin", streams, looked_at = super::queue::MOST_STREAMS, "queue per stream: not every stream looked at");
            }
            queued
        }))
    }

    // From its status record (every replica's) and the log message it points at, kept past
    // the longest an order may wait; gone from the log, there is nothing to send again.
    async fn expired_order(
        &self,
        id: &ClientOrderId,
    ) -> Result<Option<OrderIntent>, SinkUnavailable> {
        let standing = self
            .status
            .get(&id.to_string())
            .await
            .map_err(unavailable)?;
        let Some(standing) = standing.filter(|s| s.status == Status::Expired && s.kind == "submit")
        else {
            return Ok(None);
        };
        match self.log.read(standing.seq).await.map_err(unavailable)? {
            Some(Intent::Submit(order)) if order.client_order_id == *id => Ok(Some(order)),
            _ => Ok(None),
        }
    }

    async fn status(&self, id: &ClientOrderId) -> Result<Option<OrderStatus>, SinkUnavailable> {
        let Some(standing) = self
            .status
            .get(&id.to_string())
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let intent = IntentKind::ALL
            .iter()
            .find(|k| k.as_str() == standing.kind)
            .map_or("submit", |k| k.as_str());
        let order = intent == IntentKind::Submit.as_str();
        Ok(Some(OrderStatus {
            status: standing.status,
            intent,
            client_order_id: order.then(|| id.to_string()),
            request_id: (!order).then(|| id.to_string()),
            attempts: standing.attempts,
            order_id: standing.order_id,
            last_error: standing.reason,
            target_key: standing.target_key,
            modifications: standing.history,
        }))
    }
}
