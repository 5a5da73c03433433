//! One rate-limit budget per fund for every replica (SPEC §14): the fund's GCRA state, its
//! "theoretical arrival time" in microseconds, in the key-value bucket `{prefix}_budgets`,
//! advanced by compare-and-set. Each admission reads the fund's value and its revision,
//! decides as the embedded limiter does (`burst` at once, refilled at `per_second`), and writes
//! the new time expecting that revision: of two replicas admitting at once, one write wins and
//! the other decides again on the new value. N replicas spend one budget, not N.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use bytes::Bytes;
use mts1b_inbound_core::{Clock, FundId, RateLimit};

use super::{Cluster, ClusterUnavailable, keys};

/// How many more times than the fund's burst one admission re-decides under contention. Each
/// lost write is another admission's success, so one that lost `burst + SLACK` times met a
/// budget spent (refills aside): it is never refused while units are left.
const SLACK: u32 = 16;

/// The shared budgets of every fund.
#[derive(Clone)]
pub struct SharedBudgets {
    kv: kv::Store,
    clock: Arc<dyn Clock>,
    /// Each fund's state as this replica last wrote or read it, and its revision: the first
    /// write is tried on it, so a fund one replica drives costs one round trip, not two; a
    /// write another replica got in before fails the compare-and-set and is decided again on
    /// a fresh read. One entry per configured fund.
    seen: Arc<Mutex<HashMap<String, (i64, u64)>>>,
}

/// Why an admission was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Over the fund's budget: try again after this long.
    RetryAfter(Duration),
    /// NATS could not answer: 503.
    Unavailable(ClusterUnavailable),
}

impl SharedBudgets {
    /// The budgets of `cluster` (the bucket is created if missing; a fund's state expires after
    /// an hour without admissions, when it would read as a full budget anyway).
    pub async fn open(
        cluster: &Cluster,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClusterUnavailable> {
        Ok(Self {
            kv: cluster.bucket("budgets", Duration::from_secs(3600)).await?,
            clock,
            seen: Arc::default(),
        })
    }

    /// Spends one unit of `fund`'s budget under `limit`, or says when one is next available.
    pub async fn admit(&self, fund: &FundId, limit: RateLimit) -> Result<(), Refused> {
        let key = keys::token(fund.as_str());
        let interval = 1_000_000 / i64::from(limit.per_second.max(1));
        let tolerance = interval * i64::from(limit.burst.max(1) - 1);
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            Refused::Unavailable(ClusterUnavailable(format!("budget {what}: {e}")))
        };
        let mut cached = self.seen().get(&key).copied();
        for _ in 0..limit.burst.saturating_add(SLACK) {
            let now = self.clock.now().0.saturating_mul(1000);
            let (tat, revision) = match cached.take() {
                Some((tat, revision)) => (tat, Some(revision)),
                None => self.read(&key, now).await?,
            };
            let tat = tat.max(now);
            let allowed_from = tat - tolerance;
            if now < allowed_from {
                let wait = u64::try_from(allowed_from - now).unwrap_or(0);
                return Err(Refused::RetryAfter(Duration::from_micros(wait)));
            }
            let next = tat + interval;
            let value = Bytes::from(next.to_string());
            let written = match revision {
                Some(revision) => match self.kv.update(&key, value, revision).await {
                    Ok(written) => Some(written),
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => None,
                    Err(e) => return Err(unavailable("write", &e)),
                },
                None => match self.kv.create(&key, value).await {
                    Ok(written) => Some(written),
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => None,
                    Err(e) => return Err(unavailable("write", &e)),
                },
            };
            match written {
                Some(revision) => {
                    self.seen().insert(key, (next, revision));
                    return Ok(());
                }
                None => {
                    self.seen().remove(&key);
                }
            }
        }
        // Lost more writes than the budget holds: it was spent by the others.
        Err(Refused::RetryAfter(Duration::from_micros(
            u64::try_from(interval).unwrap_or(1),
        )))
    }

    /// The fund's state and revision as NATS holds it (a full budget when it has none).
    async fn read(&self, key: &str, now: i64) -> Result<(i64, Option<u64>), Refused> {
        let entry =
            self.kv.entry(key).await.map_err(|e| {
                Refused::Unavailable(ClusterUnavailable(format!("budget read: {e}")))
            })?;
        Ok(
            match entry.as_ref().filter(|e| e.operation == kv::Operation::Put) {
                Some(e) => (
                    std::str::from_utf8(&e.value)
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok())
                        .unwrap_or(now),
                    Some(e.revision),
                ),
                None => (now, None),
            },
        )
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, u64)>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}
