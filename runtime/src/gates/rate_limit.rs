//! Per-fund rate limits with governor, on the runtime's injectable clock.
//!
//! Only configured funds have a limiter, built at start-up and again for the funds a reload
//! (SIGHUP) adds or whose limit it changes: the key set is the configuration's, so no input can
//! grow it (no `retain_recent` needed). Only authenticated alerts are counted, so forged traffic
//! cannot spend a fund's budget.

use std::num::NonZeroU32;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use governor::clock::Clock as GovernorClockTrait;
use governor::{Quota, RateLimiter};
use mts1b_inbound_core::{Clock, FundId, FundMap, RateLimit};

/// Governor's view of the runtime clock: time since the Unix epoch.
#[derive(Clone)]
struct GovernorClock(Arc<dyn Clock>);

impl GovernorClockTrait for GovernorClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now().as_millis()).unwrap_or(0))
    }
}

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    GovernorClock,
    governor::middleware::NoOpMiddleware<Duration>,
>;

/// One fund's limiter and the limit it was built for.
struct FundLimiter {
    limit: RateLimit,
    limiter: Limiter,
}

/// The rate limit of every configured fund.
pub struct FundRateLimits {
    limiters: RwLock<FundMap<Arc<FundLimiter>>>,
    clock: GovernorClock,
}

/// Why an alert was throttled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Throttle {
    /// Over the limit: the next alert would be admitted after this long.
    RetryAfter(Duration),
    /// The fund has no limiter (not configured).
    UnknownFund,
}

fn quota(limit: RateLimit) -> Quota {
    let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

impl FundRateLimits {
    /// One limiter per fund, on `clock`.
    pub fn new(
        funds: impl IntoIterator<Item = (FundId, RateLimit)>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let limits = Self {
            limiters: RwLock::default(),
            clock: GovernorClock(clock),
        };
        limits.reconcile(funds);
        limits
    }

    /// Takes the funds of a reloaded configuration: a fund whose limit is unchanged keeps its
    /// limiter and what it has spent (a reload is no way to refill a budget); a new fund, or
    /// one whose limit changed, starts with a full budget at its limit; a fund no longer
    /// configured loses its limiter.
    pub fn reconcile(&self, funds: impl IntoIterator<Item = (FundId, RateLimit)>) {
        let mut limiters = self
            .limiters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let next = funds
            .into_iter()
            .map(|(fund, limit)| {
                let kept = limiters
                    .get(&fund)
                    .filter(|kept| kept.limit == limit)
                    .cloned();
                let limiter = kept.unwrap_or_else(|| {
                    Arc::new(FundLimiter {
                        limit,
                        limiter: RateLimiter::direct_with_clock(quota(limit), self.clock.clone()),
                    })
                });
                (fund, limiter)
            })
            .collect();
        *limiters = next;
    }

    /// Counts one alert of `fund`, or says how long until one would be admitted.
    pub fn check(&self, fund: &FundId) -> Result<(), Throttle> {
        let limiters = self.limiters.read().unwrap_or_else(PoisonError::into_inner);
        let fund = limiters.get(fund).ok_or(Throttle::UnknownFund)?;
        fund.limiter
            .check()
            .map_err(|not_until| Throttle::RetryAfter(not_until.wait_time_from(self.clock.now())))
    }
}

/// The most chat members one adapter tracks a budget for. Only members the platform signed
/// reach the limiter; past this many, budgets idle long enough to be full again are dropped
/// (dropping one costs nothing: a full budget is what a new key gets).
pub const MAX_TRACKED_MEMBERS: usize = 10_000;

type KeyedLimiter = RateLimiter<
    String,
    governor::state::keyed::HashMapStateStore<String>,
    GovernorClock,
    governor::middleware::NoOpMiddleware<Duration>,
>;

/// One adapter's rate limit per chat member (SPEC §12): one chatty user cannot spend a whole
/// fund's budget. Keyed by `workspace/user`.
pub struct MemberRateLimits {
    limiter: KeyedLimiter,
    clock: GovernorClock,
}

impl MemberRateLimits {
    /// Every member of the adapter gets `limit`, on `clock`.
    pub fn new(limit: RateLimit, clock: Arc<dyn Clock>) -> Self {
        let clock = GovernorClock(clock);
        Self {
            limiter: RateLimiter::hashmap_with_clock(quota(limit), clock.clone()),
            clock,
        }
    }

    /// Counts one command of `member` (its key), or says how long until one would be admitted.
    pub fn check(&self, member: String) -> Result<(), Throttle> {
        if self.limiter.len() >= MAX_TRACKED_MEMBERS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&member)
            .map_err(|not_until| Throttle::RetryAfter(not_until.wait_time_from(self.clock.now())))
    }

    /// Returns how many members have a budget tracked now.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use mts1b_inbound_core::{ManualClock, UnixMillis};

    use super::*;

    fn fund(s: &str) -> FundId {
        FundId::parse(s).unwrap()
    }

    fn limits(clock: &ManualClock) -> FundRateLimits {
        FundRateLimits::new(
            [
                (
                    fund("a"),
                    RateLimit {
                        per_second: 2,
                        burst: 3,
                    },
                ),
                (
                    fund("b"),
                    RateLimit {
                        per_second: 1,
                        burst: 1,
                    },
                ),
            ],
            Arc::new(clock.clone()),
        )
    }

    #[test]
    fn burst_then_the_sustained_rate() {
        let clock = ManualClock::at(UnixMillis(1_700_000_000_000));
        let l = limits(&clock);
        for _ in 0..3 {
            assert_eq!(l.check(&fund("a")), Ok(()));
        }
        assert_eq!(
            l.check(&fund("a")),
            Err(Throttle::RetryAfter(Duration::from_millis(500)))
        );
        clock.advance(499);
        assert_eq!(
            l.check(&fund("a")),
            Err(Throttle::RetryAfter(Duration::from_millis(1)))
        );
        clock.advance(1);
        assert_eq!(l.check(&fund("a")), Ok(()));
        assert!(l.check(&fund("a")).is_err());
    }

    #[test]
    fn each_member_has_its_own_budget_and_idle_ones_are_forgotten() {
        let clock = ManualClock::at(UnixMillis(1_700_000_000_000));
        let limit = RateLimit {
            per_second: 1,
            burst: 2,
        };
        let members = MemberRateLimits::new(limit, Arc::new(clock.clone()));
        assert_eq!(members.check("T1/U1".into()), Ok(()));
        assert_eq!(members.check("T1/U1".into()), Ok(()));
        assert_eq!(
            members.check("T1/U1".into()),
            Err(Throttle::RetryAfter(Duration::from_secs(1)))
        );
        assert_eq!(members.check("T1/U2".into()), Ok(()), "another member");
        // Filling the map past its bound drops the budgets that are full again.
        for i in 0..MAX_TRACKED_MEMBERS {
            let _ = members.check(format!("T1/x{i}"));
        }
        clock.advance(10_000);
        let _ = members.check("T1/late".into());
        assert!(members.tracked() <= 2, "{}", members.tracked());
    }

    #[test]
    fn a_reload_keeps_unchanged_budgets_and_rebuilds_changed_ones() {
        let clock = ManualClock::at(UnixMillis(1_700_000_000_000));
        let l = limits(&clock);
        for _ in 0..3 {
            assert_eq!(l.check(&fund("a")), Ok(()));
        }
        assert_eq!(l.check(&fund("b")), Ok(()));
        let tight = RateLimit {
            per_second: 1,
            burst: 1,
        };
        let wide = RateLimit {
            per_second: 1,
            burst: 5,
        };
        // a unchanged, b widened, c added.
        l.reconcile([
            (
                fund("a"),
                RateLimit {
                    per_second: 2,
                    burst: 3,
                },
            ),
            (fund("b"), wide),
            (fund("c"), tight),
        ]);
        assert!(l.check(&fund("a")).is_err(), "a's spent budget is kept");
        for _ in 0..5 {
            assert_eq!(
                l.check(&fund("b")),
                Ok(()),
                "b starts full at its new limit"
            );
        }
        assert!(l.check(&fund("b")).is_err());
        assert_eq!(l.check(&fund("c")), Ok(()));
        // b removed.
        l.reconcile([(fund("c"), tight)]);
        assert_eq!(l.check(&fund("b")), Err(Throttle::UnknownFund));
        assert!(l.check(&fund("c")).is_err(), "c keeps its spent budget");
    }

    #[test]
    fn funds_do_not_share_a_budget() {
        let clock = ManualClock::at(UnixMillis(1_700_000_000_000));
        let l = limits(&clock);
        assert_eq!(l.check(&fund("b")), Ok(()));
        assert_eq!(
            l.check(&fund("b")),
            Err(Throttle::RetryAfter(Duration::from_secs(1)))
        );
        assert_eq!(l.check(&fund("a")), Ok(()));
        assert_eq!(l.check(&fund("nobody")), Err(Throttle::UnknownFund));
    }
}
