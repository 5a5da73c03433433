//! The gates a fund's alert passes once it is authenticated (SPEC §6): the fund's rate limit,
//! then the replay window's claim on the alert's id. Their state lives in this process
//! (`cluster.backend = "embedded"`) or in the NATS cluster every replica shares (`"nats"`,
//! SPEC §14), behind one interface, so the pipeline reads the same for both.

use std::sync::Arc;

use mts1b_inbound_core::{ClientOrderId, Clock, FundId, RateLimit, UnixMillis};

use super::rate_limit::{FundRateLimits, Throttle};
use super::replay::{Claim, ReplayWindow};
use crate::cluster::budget::{Refused, SharedBudgets};
use crate::cluster::replay::{NotClaimed, SharedClaim, SharedReplayWindow};

/// Where the fund gates keep their state.
pub enum FundGates {
    /// This process: governor limiters and the in-memory window (the durable store refuses a
    /// key the window forgot).
    Embedded {
        /// Per-fund rate limits.
        rate_limits: FundRateLimits,
        /// The replay window.
        replay: ReplayWindow,
    },
    /// The NATS cluster: one budget per fund and one window for every replica.
    Cluster(Box<SharedGates>),
}

/// The fund gates' state in the NATS cluster.
pub struct SharedGates {
    /// Per-fund budgets.
    pub budgets: SharedBudgets,
    /// The replay window.
    pub replay: SharedReplayWindow,
    /// Commits claims (the time a key was accepted).
    pub clock: Arc<dyn Clock>,
}

/// Why an alert did not pass.
#[derive(Debug)]
pub enum Stopped {
    /// Over the fund's rate limit, or the fund is not configured.
    Throttled(Throttle),
    /// Its id is claimed, or was accepted within the window.
    Duplicate,
    /// The shared state could not be reached: 503, nothing recorded.
    Unavailable(String),
}

/// An alert's claim on its id, held until it is durably accepted. Dropped unsettled, it is
/// released (a shared one in the background).
pub enum Pass<'a> {
    /// A claim in this process.
    Local(Claim<'a>),
    /// A claim every replica sees.
    Shared(Box<SharedClaim>, Arc<dyn Clock>),
}

impl FundGates {
    /// Spends one unit of `fund`'s rate limit (`limit`, its policy's), then claims `id`.
    pub async fn admit(
        &self,
        fund: &FundId,
        limit: RateLimit,
        id: ClientOrderId,
    ) -> Result<Pass<'_>, Stopped> {
        match self {
            FundGates::Embedded {
                rate_limits,
                replay,
            } => {
                rate_limits.check(fund).map_err(Stopped::Throttled)?;
                replay
                    .claim(id)
                    .map(Pass::Local)
                    .map_err(|_| Stopped::Duplicate)
            }
            FundGates::Cluster(shared) => {
                let SharedGates {
                    budgets,
                    replay,
                    clock,
                } = &**shared;
                // One after the other: taken at once (tokio::join!), the two writes answered
                // later on three NATS nodes (p50 at 100 alerts/s 10-15 ms against 6-7 ms;
                // BENCHMARKS.md), though sooner on one.
                budgets
                    .admit(fund, limit)
                    .await
                    .map_err(|refused| match refused {
                        Refused::RetryAfter(wait) => Stopped::Throttled(Throttle::RetryAfter(wait)),
                        Refused::Unavailable(e) => Stopped::Unavailable(e.0),
                    })?;
                match replay.claim(&id).await {
                    Ok(claim) => Ok(Pass::Shared(Box::new(claim), clock.clone())),
                    Err(NotClaimed::Duplicate { .. }) => Err(Stopped::Duplicate),
                    Err(NotClaimed::Unavailable(e)) => Err(Stopped::Unavailable(e.0)),
                }
            }
        }
    }
}

impl Pass<'_> {
    /// Frees the id at once, before the answer (a 503, a refusal after the claim): the
    /// sender's resend is admitted. A shared claim NATS cannot free now is freed in the
    /// background as soon as it can.
    pub async fn release(self) {
        if let Pass::Shared(claim, _) = self
            && let Err(e) = claim.release().await
        {
            tracing::warn!(target: "mts1b::cluster", error = %e, "replay claim not released yet; retrying");
        }
    }

    /// Records the id as accepted at `at` (now, unless the sink knew an earlier acceptance):
    /// repeats are refused until the window has passed.
    pub async fn commit(self, at: Option<UnixMillis>) {
        match self {
            Pass::Local(claim) => match at {
                Some(at) => claim.commit_at(at),
                None => claim.commit(),
            },
            Pass::Shared(claim, clock) => {
                let at = at.unwrap_or_else(|| clock.now());
                // Off the answer's path: the claim already refuses repeats while it stands.
                // The order is stored either way; a claim left uncommitted (the process died,
                // NATS refused) is taken over once stale, and the resend it admits is stored
                // once (the log's de-duplication) and answered as the first was.
                tokio::spawn(async move {
                    if let Err(e) = claim.commit(at).await {
                        tracing::warn!(target: "mts1b::cluster", error = %e, "replay claim not committed");
                    }
                });
            }
        }
    }
}
