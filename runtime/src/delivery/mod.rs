//! Where accepted orders go: the sink contract, and the paper OMS.

pub mod grpc;
pub mod oms;
pub mod paper;

use async_trait::async_trait;
use mts1b_inbound_core::OrderIntent;

pub use paper::PaperSink;

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
}

/// The sink could not take the order: nothing was recorded, the sender should send again (503).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("order sink unavailable: {0}")]
pub struct SinkUnavailable(pub String);

/// Takes accepted orders. An implementation must have recorded the order durably before it
/// returns `Ok`: the HTTP answer that follows promises the order is not lost.
#[async_trait]
pub trait OrderSink: Send + Sync {
    /// Records and delivers one order.
    async fn submit(&self, order: &OrderIntent) -> Result<Delivered, SinkUnavailable>;

    /// Returns why the sink cannot take orders now, if it cannot (for `/readyz`).
    fn not_ready(&self) -> Option<String>;
}
