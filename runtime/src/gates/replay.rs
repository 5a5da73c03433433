//! The replay window (SPEC §6): a (adapter, fund, idempotency key) accepted within the window is
//! refused as a duplicate.
//!
//! The key is the alert's [`ClientOrderId`], a UUIDv5 of exactly that triple: 16 bytes whatever
//! the key's length. A claim is two-phase: [`ReplayWindow::claim`] reserves the key atomically
//! (of any number of concurrent identical alerts exactly one wins), then the caller either
//! [`Claim::commit`]s it once the alert is durably accepted, or drops the claim (any rejection,
//! a failure to record, a cancelled request) and the key is free again, so a resend is accepted.
//!
//! In-flight claims are pinned in quick_cache, so concurrent identical alerts always meet the
//! claim and exactly one wins. Accepted keys may be evicted when the cache is full (the oldest
//! first); that never lets a duplicate through, because the durable store refuses to record a key
//! accepted within the window, in the same transaction that records (see `OrderStore::record`).
//! The cache is the fast path, the store the authority.

use std::sync::Arc;
use std::time::Duration;

use mts1b_inbound_core::{ClientOrderId, Clock, UnixMillis};
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use quick_cache::{DefaultHashBuilder, Lifecycle, UnitWeighter};

/// The state of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// An alert with this key is being processed.
    Claimed,
    /// An alert with this key was accepted at this time.
    Accepted(UnixMillis),
}

/// Keeps in-flight claims in the cache: see the module docs.
#[derive(Clone)]
struct PinLive {
    clock: Arc<dyn Clock>,
    window_ms: i64,
}

impl PinLive {
    fn live(&self, slot: &Slot, now: UnixMillis) -> bool {
        match slot {
            Slot::Claimed => true,
            Slot::Accepted(at) => now.millis_since(*at) < self.window_ms,
        }
    }
}

impl Lifecycle<ClientOrderId, Slot> for PinLive {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: ClientOrderId, _val: Slot) {}

    fn is_pinned(&self, _key: &ClientOrderId, slot: &Slot) -> bool {
        *slot == Slot::Claimed
    }
}

/// The in-memory replay window.
pub struct ReplayWindow {
    cache: Cache<ClientOrderId, Slot, UnitWeighter, DefaultHashBuilder, PinLive>,
    pin: PinLive,
}

/// The key is taken: accepted within the window, or being processed right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duplicate;

/// A reserved key. Dropping it without [`Claim::commit`] releases the key.
pub struct Claim<'a> {
    window: &'a ReplayWindow,
    id: ClientOrderId,
    committed: bool,
}

impl ReplayWindow {
    /// A window of `window` on `clock`, sized for about `capacity` keys before expired ones are
    /// evicted.
    pub fn new(window: Duration, capacity: usize, clock: Arc<dyn Clock>) -> Self {
        let pin = PinLive {
            clock,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
        };
        let cache = Cache::with(
            capacity,
            capacity as u64,
            UnitWeighter,
            DefaultHashBuilder::default(),
            pin.clone(),
        );
        Self { cache, pin }
    }

    /// Reserves `id`, unless it is claimed or was accepted within the window.
    pub fn claim(&self, id: ClientOrderId) -> Result<Claim<'_>, Duplicate> {
        let now = self.pin.clock.now();
        // Zero timeout: a concurrent claimant holding the cache's own placeholder is a duplicate,
        // never something to wait for.
        let outcome = self.cache.entry(&id, Some(Duration::ZERO), |_, slot| {
            if self.pin.live(slot, now) {
                EntryAction::Retain(())
            } else {
                EntryAction::ReplaceWithGuard
            }
        });
        match outcome {
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => {
                // Err only if the placeholder was invalidated by a concurrent insert, which
                // claims never do for a key they do not hold.
                guard.insert(Slot::Claimed).map_err(|_| Duplicate)?;
                Ok(Claim {
                    window: self,
                    id,
                    committed: false,
                })
            }
            EntryResult::Retained(()) | EntryResult::Timeout | EntryResult::Removed(..) => {
                Err(Duplicate)
            }
        }
    }

    /// Remembers `id` as accepted at `at` (warming the window from the durable store at start).
    pub fn remember(&self, id: ClientOrderId, at: UnixMillis) {
        self.cache.insert(id, Slot::Accepted(at));
    }

    /// True when `id` would be refused now.
    pub fn contains(&self, id: &ClientOrderId) -> bool {
        let now = self.pin.clock.now();
        self.cache
            .get(id)
            .is_some_and(|slot| self.pin.live(&slot, now))
    }
}

impl Claim<'_> {
    /// Records the key as accepted now: repeats are refused until the window has passed.
    pub fn commit(self) {
        let now = self.window.pin.clock.now();
        self.commit_at(now);
    }

    /// Records the key as accepted at `at` (the durable store knew an earlier acceptance).
    pub fn commit_at(mut self, at: UnixMillis) {
        self.window.cache.insert(self.id, Slot::Accepted(at));
        self.committed = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.window.cache.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use mts1b_inbound_core::{FundId, IdempotencyKey, ManualClock};

    use super::*;

    fn id(key: &str) -> ClientOrderId {
        ClientOrderId::derive(
            "tradingview",
            &FundId::parse("f").unwrap(),
            &IdempotencyKey::parse(key).unwrap(),
        )
    }

    fn window(clock: &ManualClock, capacity: usize) -> ReplayWindow {
        ReplayWindow::new(Duration::from_secs(300), capacity, Arc::new(clock.clone()))
    }

    #[test]
    fn accepted_keys_are_refused_for_the_window_then_free() {
        let clock = ManualClock::at(UnixMillis(1_700_000_000_000));
        let w = window(&clock, 100);
        w.claim(id("k")).unwrap().commit();
        assert!(w.claim(id("k")).is_err());
        clock.advance(299_999);
        assert!(w.claim(id("k")).is_err());
        clock.advance(1);
        let again = w.claim(id("k")).expect("the window has passed");
        again.commit();
        assert!(w.claim(id("k")).is_err());
    }

    #[test]
    fn a_dropped_claim_releases_the_key() {
        let clock = ManualClock::at(UnixMillis(1_700_000_000_000));
        let w = window(&clock, 100);
        let claim = w.claim(id("k")).unwrap();
        assert!(w.claim(id("k")).is_err(), "in flight counts as taken");
        drop(claim);
        assert!(!w.contains(&id("k")));
        assert!(w.claim(id("k")).is_ok());
    }

    #[test]
    fn concurrent_identical_claims_have_exactly_one_winner() {
        let clock = ManualClock::at(UnixMillis(1_700_000_000_000));
        let w = window(&clock, 1000);
        for round in 0..50 {
            let key = format!("k{round}");
            let barrier = std::sync::Barrier::new(40);
            let wins: usize = std::thread::scope(|s| {
                let handles: Vec<_> = (0..40)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            match w.claim(id(&key)) {
                                Ok(claim) => {
                                    claim.commit();
                                    1
                                }
                                Err(Duplicate) => 0,
                            }
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(wins, 1, "round {round}");
        }
    }

    #[test]
    fn a_full_cache_never_evicts_an_in_flight_claim() {
        let clock = ManualClock::at(UnixMillis(1_700_000_000_000));
        let w = window(&clock, 16);
        let held: Vec<Claim<'_>> = (0..64)
            .map(|i| w.claim(id(&format!("held{i}"))).unwrap())
            .collect();
        for i in 0..1000 {
            w.claim(id(&format!("k{i}"))).unwrap().commit();
        }
        for i in 0..64 {
            assert!(
                w.claim(id(&format!("held{i}"))).is_err(),
                "held{i} was evicted while in flight"
            );
        }
        drop(held);
        // Accepted keys do give way when full (the durable store is the authority for them).
        let kept = (0..1000)
            .filter(|i| w.contains(&id(&format!("k{i}"))))
            .count();
        assert!(kept < 1000, "nothing was evicted");
    }
}
