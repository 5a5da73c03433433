//! What the runtime decided about one authenticated request, for an adapter to render in its
//! platform's words ([`InboundAdapter::render`]).
//!
//! [`InboundAdapter::render`]: crate::InboundAdapter::render

use crate::order::{Intent, OrderIntent};
use crate::rejection::Rejection;

/// Where a platform takes a later message about a request already answered: Slack's
/// `response_url` (POST), Discord's original interaction response (PATCH). The runtime sends
/// one when a queued order settles. Serialized into the cluster backend's replicated record
/// (SPEC §14), so a surviving replica can send it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FollowUp {
    /// `POST` or `PATCH`.
    pub method: FollowUpMethod,
    /// The address, checked by the adapter against its platform's (never any address a
    /// request names).
    pub url: String,
}

/// How a follow-up is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpMethod {
    /// A new message (Slack).
    Post,
    /// An edit of the deferred reply (Discord).
    Patch,
}

/// The runtime's decision on an authenticated request.
#[derive(Clone, Copy, Debug)]
pub enum Decision<'a> {
    /// The OMS accepted the order within `delivery.respond_within`.
    Submitted {
        /// The order.
        order: &'a OrderIntent,
        /// The OMS's id for it.
        order_id: &'a str,
    },
    /// The order or modification is durably queued; the OMS has not answered yet.
    Queued {
        /// The order or modification.
        intent: &'a Intent,
        /// True when the runtime will send a follow-up once it settles
        /// ([`InboundAdapter::follow_up`](crate::InboundAdapter::follow_up)).
        follows: bool,
    },
    /// Accepted, then cancelled before it was ever sent (SPEC §13: a cancel or cancel-all
    /// took it off the queue).
    Cancelled {
        /// The order.
        order: &'a OrderIntent,
        /// By what (`cancelled before delivery by cancel_all k`).
        detail: &'a str,
    },
    /// A cancel, replace or cancel-all took effect (SPEC §13): the OMS applied it, or the
    /// bridge did on an order it had not sent yet (`detail` says so).
    Modified {
        /// The modification.
        modification: &'a Intent,
        /// The OMS's id of the order it changed, when the OMS said.
        order_id: Option<&'a str>,
        /// How it took effect, when not by the OMS.
        detail: Option<&'a str>,
    },
    /// Not accepted (a duplicate is refused with `duplicate_idempotency_key`).
    Refused {
        /// Why.
        rejection: &'a Rejection,
        /// The order or modification, when the request got as far as one (a duplicate, an
        /// OMS rejection, a target no longer active).
        intent: Option<&'a Intent>,
    },
}
