//! Where accepted orders go: the sink contract, and the paper OMS.

pub mod grpc;
pub mod oms;
pub mod outbox;
pub mod paper;

use async_trait::async_trait;
use mts1b_inbound_core::{ClientOrderId, FollowUp, Intent, KnownOrder, OrderIntent, Rejection};

pub use outbox::{DeliveryPolicy, Outbox};
pub use paper::PaperOms;

/// What became of an order handed to a sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// The OMS accepted it (answered 200).
    Submitted {
        /// The OMS's id for the order.
        order_id: String,
    },
    /// Durably queued; the OMS has not answered yet (answered 202).
    Queued,
    /// The OMS refused it (answered 422).
    Rejected {
        /// The OMS's reason.
        reason: String,
    },
    /// The same alert was already accepted at this time, within the replay window (answered
    /// 409); nothing was recorded.
    Duplicate {
        /// When it was first accepted.
        accepted_at: mts1b_inbound_core::UnixMillis,
    },
    /// A modification took effect (answered 200): the OMS applied it, or the outbox did
    /// before its target was ever sent (`detail` says so).
    Modified {
        /// The OMS's id of the order it changed, when the OMS said.
        order_id: Option<String>,
        /// How it took effect, when not by the OMS.
        detail: Option<String>,
    },
    /// The order was cancelled before it was ever sent, while its request waited (answered
    /// 200 `cancelled`).
    Cancelled {
        /// By what.
        detail: String,
    },
    /// A modification's target is not active (answered 422 `target_not_active`).
    NotActive {
        /// Why.
        reason: String,
    },
    /// Refused before anything was recorded (a modification that does not fit the order it
    /// names): the rejection is the answer, and the replay window forgets it.
    Refused(Rejection),
}

/// How an order that was answered `queued` settled later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The OMS accepted it, with its id.
    Submitted(String),
    /// The OMS refused it, with its reason.
    Rejected(String),
    /// It was not delivered within `delivery.max_order_age` (a cancel: `max_cancel_age`):
    /// never sent.
    Expired,
    /// A modification took effect (see [`Delivered::Modified`]).
    Modified {
        /// The OMS's id of the order it changed, when the OMS said.
        order_id: Option<String>,
        /// How it took effect, when not by the OMS.
        detail: Option<String>,
    },
    /// Cancelled before it was ever sent, by what the text says.
    Cancelled(String),
    /// A modification's target is not active, with why.
    NotActive(String),
}

impl Settled {
    /// What the request that waited for it answers.
    pub fn delivered(self) -> Delivered {
        match self {
            Settled::Submitted(order_id) => Delivered::Submitted { order_id },
            Settled::Rejected(reason) => Delivered::Rejected { reason },
            Settled::Expired => Delivered::Rejected {
                reason: EXPIRED.into(),
            },
            Settled::Modified { order_id, detail } => Delivered::Modified { order_id, detail },
            Settled::Cancelled(detail) => Delivered::Cancelled { detail },
            Settled::NotActive(reason) => Delivered::NotActive { reason },
        }
    }
}

/// Why an order that expired is refused, in answers and follow-ups.
pub const EXPIRED: &str = "expired: not delivered within delivery.max_order_age";
/// Why a cancel or cancel-all that expired is refused, in follow-ups.
pub const EXPIRED_CANCEL: &str = "expired: not delivered within delivery.max_cancel_age";

/// Resolves when a queued order settles (dropped, unresolved, if the process stops first).
pub type Settlement = tokio::sync::oneshot::Receiver<Settled>;

/// The sink could not take the order: nothing was recorded, the sender should send again (503).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("order sink unavailable: {0}")]
pub struct SinkUnavailable(pub String);

/// Where one accepted order or modification stands (`GET /orders/{fund_id}/{idempotency_key}`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OrderStatus {
    /// `queued`, `submitted`, `rejected`, `expired`, `cancelled`, `replaced` or (a
    /// modification) `applied`.
    pub status: crate::store::Status,
    /// `submit`, `cancel`, `replace` or `cancel_all`.
    pub intent: &'static str,
    /// The deterministic client order id (an order's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
    /// A modification's own id (the OMS's `request_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// OMS calls made so far.
    pub attempts: u32,
    /// The OMS's id, once submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The last failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The key of the order a cancel or replace changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key: Option<String>,
    /// What was done to it since it was accepted (cancels, replaces), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modifications: Vec<String>,
}

/// Takes accepted orders. An implementation must have recorded the order durably before it
/// returns `Ok`: the HTTP answer that follows promises the order is not lost.
#[async_trait]
pub trait OrderSink: Send + Sync {
    /// Records and delivers one order.
    async fn submit(&self, order: &OrderIntent) -> Result<Delivered, SinkUnavailable>;

    /// As [`OrderSink::submit`]; for an order answered `Queued`, also how it will settle, when
    /// the sink can tell (chat sources owe their user a follow-up). None by default.
    async fn submit_following(
        &self,
        order: &OrderIntent,
    ) -> Result<(Delivered, Option<Settlement>), SinkUnavailable> {
        self.submit(order).await.map(|delivered| (delivered, None))
    }

    /// Records and delivers one modification (cancel, replace, cancel-all: SPEC §13), as
    /// [`OrderSink::submit`] does an order. Sinks that cannot modify orders refuse it.
    async fn modify(&self, _modification: &Intent) -> Result<Delivered, SinkUnavailable> {
        Ok(Delivered::Rejected {
            reason: "this order sink cannot modify orders".into(),
        })
    }

    /// As [`OrderSink::modify`]; for a modification answered `Queued`, also how it will
    /// settle, when the sink can tell (a chat user is told). None by default.
    async fn modify_following(
        &self,
        modification: &Intent,
    ) -> Result<(Delivered, Option<Settlement>), SinkUnavailable> {
        self.modify(modification)
            .await
            .map(|delivered| (delivered, None))
    }

    /// Records that the sender of `intent`, through the adapter named `adapter`, is owed a
    /// follow-up at `to` once it settles, where the sink keeps a record every replica reads
    /// (the cluster backend: a surviving replica sends it, SPEC §14). Nothing by default: the
    /// process that accepted it sends it.
    async fn owe_follow_up(&self, _adapter: &'static str, _intent: &Intent, _to: &FollowUp) {}

    /// The follow-up owed for `id` was sent (or given up) by this process.
    async fn follow_up_sent(&self, _id: &ClientOrderId) {}

    /// What the sink remembers of the order with this client order id, for a chat
    /// modification that names only its target's key. None by default. Called on the request
    /// path, so it must answer from memory or a local read.
    fn known_order(&self, _id: &ClientOrderId) -> Option<KnownOrder> {
        None
    }

    /// Returns why the sink cannot take orders now, if it cannot (for `/readyz`).
    fn not_ready(&self) -> Option<String>;

    /// Returns where an order stands, if the sink keeps records (the outbox does).
    async fn status(&self, _id: &ClientOrderId) -> Result<Option<OrderStatus>, SinkUnavailable> {
        Ok(None)
    }

    /// The order with this client order id if it expired undelivered, for an operator to send
    /// again as a new order; `Err` when the sink keeps no such records (by default).
    async fn expired_order(
        &self,
        _id: &ClientOrderId,
    ) -> Result<Option<OrderIntent>, SinkUnavailable> {
        Err(SinkUnavailable(
            "this order sink cannot re-submit expired orders".into(),
        ))
    }

    /// The orders not yet final, counted per (fund, strategy, symbol) stream, for the admin
    /// page; `None` when the sink cannot list them (the cluster's log: a scan of every stream).
    async fn queued_by_stream(&self) -> Option<Result<Vec<(String, usize)>, SinkUnavailable>> {
        None
    }
}
