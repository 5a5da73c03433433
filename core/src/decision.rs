//! What the runtime decided about one authenticated request, for an adapter to render in its
//! platform's words ([`InboundAdapter::render`]).
//!
//! [`InboundAdapter::render`]: crate::InboundAdapter::render

use crate::order::OrderIntent;
use crate::rejection::Rejection;

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
    /// The order is durably queued; the OMS has not answered yet.
    Queued {
        /// The order.
        order: &'a OrderIntent,
    },
    /// Not accepted (a duplicate is refused with `duplicate_idempotency_key`).
    Refused {
        /// Why.
        rejection: &'a Rejection,
        /// The order, when the request got as far as one (a duplicate, an OMS rejection).
        order: Option<&'a OrderIntent>,
    },
}
