//! What the bridge knows of one fund besides its secret: its envelope and its rate limit.

use serde::Serialize;

use crate::envelope::Envelope;

/// A token-bucket rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// Sustained alerts per second (at least 1).
    pub per_second: u32,
    /// Alerts allowed at once above the sustained rate (at least 1).
    pub burst: u32,
}

/// One configured fund's policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FundPolicy {
    /// What the fund allows.
    pub envelope: Envelope,
    /// How fast its authenticated alerts may arrive.
    pub rate_limit: RateLimit,
}
