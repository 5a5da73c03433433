//! The recent alerts the admin page shows (SPEC §15): every answered request, newest last, in a
//! ring of [`RECENT_ALERTS`] entries whose texts are bounded (a fund id of 64 characters, a key
//! of 128, a detail cut at 300), so a flood costs a fixed amount of memory and pushes older
//! entries out rather than growing.

use std::collections::VecDeque;
use std::sync::Mutex;

use mts1b_inbound_core::UnixMillis;
use serde::Serialize;

/// Entries the ring keeps.
pub const RECENT_ALERTS: usize = 1000;

/// The longest detail kept, in characters.
const DETAIL_CHARS: usize = 300;

/// One answered request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecentAlert {
    /// When it was answered.
    pub at: UnixMillis,
    /// The adapter (`tradingview`, `slack`, `discord`).
    pub adapter: &'static str,
    /// The authenticated fund, if it got that far.
    pub fund: Option<String>,
    /// Its idempotency key (bounded), if it got that far.
    pub key: Option<String>,
    /// `submit`, `cancel`, `replace`, `cancel_all`, once read.
    pub intent: Option<&'static str>,
    /// `accepted`, `rejected`, `duplicate` or `answered`.
    pub outcome: &'static str,
    /// The error code (`none` when accepted).
    pub reason: &'static str,
    /// What the answer said about it, bounded.
    pub detail: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// From request to answer, in milliseconds.
    pub latency_ms: f64,
}

/// Which entries to show.
#[derive(Clone, Debug, Default)]
pub struct RecentFilter {
    /// Only this fund's.
    pub fund: Option<String>,
    /// Only this outcome's.
    pub outcome: Option<String>,
}

impl RecentFilter {
    fn admits(&self, alert: &RecentAlert) -> bool {
        self.fund
            .as_deref()
            .is_none_or(|fund| alert.fund.as_deref() == Some(fund))
            && self
                .outcome
                .as_deref()
                .is_none_or(|outcome| alert.outcome == outcome)
    }
}

/// The ring.
#[derive(Debug)]
pub struct RecentAlerts {
    ring: Mutex<VecDeque<RecentAlert>>,
}

impl Default for RecentAlerts {
    fn default() -> Self {
        Self {
            ring: Mutex::new(VecDeque::with_capacity(RECENT_ALERTS)),
        }
    }
}

impl RecentAlerts {
    /// Keeps `alert`, its detail cut to a bounded length, dropping the oldest when full.
    pub fn push(&self, mut alert: RecentAlert) {
        if let Some(detail) = &mut alert.detail
            && let Some((cut, _)) = detail.char_indices().nth(DETAIL_CHARS)
        {
            detail.truncate(cut);
            detail.push('…');
        }
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == RECENT_ALERTS {
            ring.pop_front();
        }
        ring.push_back(alert);
    }

    /// Up to `limit` entries `filter` admits, newest first.
    pub fn newest(&self, filter: &RecentFilter, limit: usize) -> Vec<RecentAlert> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter()
            .rev()
            .filter(|a| filter.admits(a))
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: i64, fund: &str, outcome: &'static str) -> RecentAlert {
        RecentAlert {
            at: UnixMillis(n),
            adapter: "tradingview",
            fund: Some(fund.into()),
            key: Some(format!("k{n}")),
            intent: Some("submit"),
            outcome,
            reason: "none",
            detail: Some("x".repeat(1000)),
            status: 200,
            latency_ms: 1.0,
        }
    }

    #[test]
    fn the_ring_is_bounded_newest_first_and_filtered() {
        let recent = RecentAlerts::default();
        for n in 0..(RECENT_ALERTS as i64 + 10) {
            let outcome = if n % 2 == 0 { "accepted" } else { "rejected" };
            recent.push(alert(n, if n % 3 == 0 { "a" } else { "b" }, outcome));
        }
        let all = recent.newest(&RecentFilter::default(), usize::MAX);
        assert_eq!(all.len(), RECENT_ALERTS);
        assert_eq!(all[0].at, UnixMillis(RECENT_ALERTS as i64 + 9));
        assert_eq!(
            all.last().unwrap().at,
            UnixMillis(10),
            "the oldest ten left"
        );
        assert_eq!(
            all[0].detail.as_ref().unwrap().chars().count(),
            DETAIL_CHARS + 1
        );
        let filter = RecentFilter {
            fund: Some("a".into()),
            outcome: Some("rejected".into()),
        };
        let some = recent.newest(&filter, 5);
        assert_eq!(some.len(), 5);
        assert!(
            some.iter()
                .all(|a| a.fund.as_deref() == Some("a") && a.outcome == "rejected")
        );
        assert!(some.windows(2).all(|w| w[0].at > w[1].at));
    }
}
