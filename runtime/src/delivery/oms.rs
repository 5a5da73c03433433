//! The OMS as the delivery worker sees it: submit one order, get an id or a classified error.

use async_trait::async_trait;
use mts1b_inbound_core::{Cancel, CancelAll, Modification, OrderIntent, Replace};

/// The OMS took the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OmsAccepted {
    /// The OMS's id for the order.
    pub order_id: String,
    /// The OMS already had this client order id (a retry's resend).
    pub duplicate: bool,
}

/// Whether a failed submission may succeed if tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry with backoff (the OMS is down, slow or busy).
    Transient,
    /// Never retry: the OMS refused the order (a risk gate, an invalid order).
    Permanent,
}

/// A failed submission.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OmsError {
    /// Retry or not.
    pub class: ErrorClass,
    /// What happened, for the record and the 422 reason.
    pub message: String,
    /// A short, closed label for metrics (`unavailable`, `failed_precondition`, ...).
    pub label: &'static str,
}

impl OmsError {
    /// A transient failure.
    pub fn transient(label: &'static str, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Transient,
            message: message.into(),
            label,
        }
    }

    /// A permanent refusal.
    pub fn permanent(label: &'static str, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Permanent,
            message: message.into(),
            label,
        }
    }
}

/// What the OMS did with a modification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OmsModified {
    /// The OMS's id of the order it cancelled or changed (none for a cancel-all).
    pub order_id: Option<String>,
    /// The client order ids a cancel-all cancelled.
    pub cancelled: Vec<String>,
    /// The OMS had already applied this request id (a retry's resend).
    pub duplicate: bool,
}

impl OmsModified {
    /// The answer about one order (a cancel, a replace).
    pub fn of_order(order_id: String, duplicate: bool) -> Self {
        Self {
            order_id: Some(order_id),
            cancelled: Vec::new(),
            duplicate,
        }
    }
}

/// The refusal of an OMS client that cannot modify orders.
fn cannot_modify() -> OmsError {
    OmsError::permanent("unimplemented", "this OMS cannot modify orders")
}

/// An order management system: the real one over gRPC, or the paper one.
#[async_trait]
pub trait OmsClient: Send + Sync {
    /// Submits one order; idempotent on its client order id.
    async fn submit(&self, order: &OrderIntent) -> Result<OmsAccepted, OmsError>;

    /// Cancels one order; idempotent on the modification's request id. NOT_FOUND and
    /// FAILED_PRECONDITION ("already filled") are permanent. Refused by clients that cannot.
    async fn cancel(&self, _cancel: &Modification<Cancel>) -> Result<OmsModified, OmsError> {
        Err(cannot_modify())
    }

    /// Changes one order's terms; idempotent on the request id.
    async fn replace(&self, _replace: &Modification<Replace>) -> Result<OmsModified, OmsError> {
        Err(cannot_modify())
    }

    /// Cancels every order in the scope; idempotent on the request id.
    async fn cancel_all(
        &self,
        _cancel_all: &Modification<CancelAll>,
    ) -> Result<OmsModified, OmsError> {
        Err(cannot_modify())
    }

    /// Returns why the OMS cannot be reached now, if it cannot (for `/readyz`).
    async fn unreachable(&self) -> Option<String>;
}
