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
use mts1b_inbound_core::{ClientOrderId, Intent, OrderIntent, Rejection};
use tokio::sync::oneshot;

use super::dispatch::Dispatcher;
use super::log::{Appended, OrderLog};
use super::status::{Standing, StatusRecords};
use super::{Cluster, ClusterUnavailable};
use crate::delivery::{Delivered, OrderSink, OrderStatus, Settled, Settlement, SinkUnavailable};
use crate::store::Status;

/// Takes orders into the replicated log.
pub struct ClusterSink {
    cluster: Cluster,
    log: OrderLog,
    status: StatusRecords,
    dispatcher: Arc<Dispatcher>,
    respond_within: Duration,
    follow_for: Duration,
}

impl ClusterSink {
    /// A sink appending to `log` and answering from `status`, waiting up to `respond_within`
    /// for an order's outcome, and up to `follow_for` (longer than any order may wait) for a
    /// queued chat order's; each appended order's stream is poked on `dispatcher`.
    pub fn new(
        cluster: Cluster,
        log: OrderLog,
        status: StatusRecords,
        dispatcher: Arc<Dispatcher>,
        respond_within: Duration,
        follow_for: Duration,
    ) -> Self {
        Self {
            cluster,
            log,
            status,
            dispatcher,
            respond_within,
            follow_for,
        }
    }

    /// Appends `intent` and waits for its outcome up to `respond_within`.
    async fn record(&self, intent: &Intent) -> Result<Delivered, SinkUnavailable> {
        let id = intent.id().to_string();
        let seq = match self.log.append(intent).await.map_err(unavailable)? {
            Appended::Stored(seq) | Appended::AlreadyStored(seq) => seq,
        };
        self.dispatcher.poke_soon(self.log.subject_of(intent));
        // Stored: from here on every answer is a 2xx or the OMS's own refusal.
        match self.status.wait(&id, self.respond_within).await {
            Ok(Some(standing)) => Ok(delivered(standing)),
            Ok(None) | Err(_) => {
                if let Err(e) = self.status.queue(&id, seq).await {
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

fn settled(standing: Standing) -> Settled {
    let reason = standing.reason.unwrap_or_default();
    match standing.status {
        Status::Submitted => Settled::Submitted(standing.order_id.unwrap_or_default()),
        Status::Expired => Settled::Expired,
        _ => Settled::Rejected(reason),
    }
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

    // Not delivered from the log yet: refused before anything is recorded, never accepted and
    // left undelivered.
    async fn modify(&self, _modification: &Intent) -> Result<Delivered, SinkUnavailable> {
        Ok(Delivered::Refused(Rejection::InvalidPayload {
            field: "action".into(),
            detail: "cancel, replace and cancel_all are not available with cluster.backend = \"nats\" yet (issue 16): nothing was recorded".into(),
        }))
    }

    fn not_ready(&self) -> Option<String> {
        self.cluster.unreachable()
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
        Ok(Some(OrderStatus {
            status: standing.status,
            intent: "submit",
            client_order_id: Some(id.to_string()),
            request_id: None,
            attempts: standing.attempts,
            order_id: standing.order_id,
            last_error: standing.reason,
            target_key: None,
            modifications: Vec::new(),
        }))
    }
}
