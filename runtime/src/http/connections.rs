//! What one client can hold open: connections in all and per peer address, and how long a
//! connection may wait for a request.
//!
//! Every accepted connection takes a slot in [`ConnectionSlots`] before hyper sees a byte of it.
//! At the cap, the connection that has been idle longest (no request being handled) is closed to
//! make room; only when every connection is busy handling a request is the new one refused.
//! Closing the oldest idle connection rather than refusing the newcomer is what keeps a genuine
//! alert deliverable while someone holds connections open: TradingView opens a connection per
//! alert and sends the request at once, so its connection is the busy one, and the slots an
//! attacker holds by saying nothing are the ones given up. Refusing newcomers instead would hand
//! the service to whoever connected first.
//!
//! Each connection's [`Activity`] says whether a request is being handled and since when it has
//! been idle; the server closes a connection that has waited `header_timeout` for a request head,
//! whether it is new (nothing sent, half a preface, half a head) or a keep-alive connection after
//! its last answer, on HTTP/1 and h2 alike.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

/// Counts per peer address, capped: entries exist only while their count is above zero, so
/// the map never holds more addresses than there are slots in use, whatever addresses connect.
///
/// Hashed with foldhash (seeded per process): every request takes and gives back a count, and
/// std's SipHash cost ~580 instructions of it under callgrind (BENCHMARKS.md). Addresses come
/// from peers, but an address needs a completed TCP handshake, and the map holds at most as many
/// as there are requests in flight, so even a chain of collisions stays bounded.
#[derive(Debug)]
pub struct PeerCounts {
    cap: usize,
    counts: Mutex<HashMap<IpAddr, usize, foldhash::fast::RandomState>>,
}

/// One counted use by a peer; released when dropped.
#[derive(Debug)]
pub struct PeerSlot {
    counts: Arc<PeerCounts>,
    peer: IpAddr,
}

impl PeerCounts {
    /// At most `cap` uses per address at once.
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            counts: Mutex::default(),
        })
    }

    fn counts(&self) -> MutexGuard<'_, HashMap<IpAddr, usize, foldhash::fast::RandomState>> {
        // The map stays consistent whatever panicked while holding the lock: one `+= 1` or
        // `-= 1` per critical section.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one use for `peer`, or `None` when it already has `cap`.
    pub fn try_acquire(self: &Arc<Self>, peer: IpAddr) -> Option<PeerSlot> {
        let mut counts = self.counts();
        let count = counts.entry(peer).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            counts: self.clone(),
            peer,
        })
    }

    /// Returns how many uses `peer` holds.
    pub fn held_by(&self, peer: IpAddr) -> usize {
        self.counts().get(&peer).copied().unwrap_or(0)
    }

    /// Returns how many addresses hold at least one use.
    pub fn peers(&self) -> usize {
        self.counts().len()
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.counts();
        if let Some(count) = counts.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.peer);
            }
        }
    }
}

/// What the server knows of one connection's requests.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    busy: AtomicUsize,
    idle_since_ms: AtomicU64,
    evicted: Notify,
}

/// A request being handled on a connection; the connection is idle again once every one is
/// dropped.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Activity {
    fn new(epoch: Instant) -> Arc<Self> {
        let activity = Arc::new(Self {
            epoch,
            busy: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            evicted: Notify::new(),
        });
        activity.touch();
        activity
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.idle_since_ms.store(ms, Ordering::Relaxed);
    }

    /// Marks a request as being handled until the returned guard is dropped.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// When the connection became idle, or `None` while it is handling a request.
    pub fn idle_since(&self) -> Option<Instant> {
        if self.busy.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let ms = self.idle_since_ms.load(Ordering::Relaxed);
        Some(self.epoch + Duration::from_millis(ms))
    }

    /// Completes when the connection was chosen to make room for a newer one.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // Idle from now: the deadline for the next request head runs from the last answer.
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a connection was closed at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The address already holds its share of connections.
    #[error("connections per peer address at the cap")]
    PerPeer,
    /// Every slot is taken by a connection handling a request.
    #[error("every connection slot is busy")]
    Full,
}

/// The open connections of one listener.
#[derive(Debug)]
pub struct ConnectionSlots {
    epoch: Instant,
    max: usize,
    per_peer: Arc<PeerCounts>,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    by_id: HashMap<u64, Arc<Activity>>,
}

/// One open connection's slot; freed when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    slots: Arc<ConnectionSlots>,
    id: u64,
    activity: Arc<Activity>,
    _peer: Option<PeerSlot>,
}

impl ConnectionSlots {
    /// At most `max` connections, `per_peer` from one address.
    pub fn new(max: usize, per_peer: usize) -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            max: max.max(1),
            per_peer: PeerCounts::new(per_peer),
            open: Mutex::default(),
        })
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives `peer` a slot, closing the longest-idle connection if every slot is taken. A peer
    /// that is `exempt` from the per-peer cap (a trusted proxy, which carries every caller) is
    /// bounded by the total alone.
    pub fn admit(self: &Arc<Self>, peer: IpAddr, exempt: bool) -> Result<ConnectionSlot, Refused> {
        let peer_slot = if exempt {
            None
        } else {
            Some(self.per_peer.try_acquire(peer).ok_or(Refused::PerPeer)?)
        };
        let mut open = self.open();
        if open.by_id.len() >= self.max {
            let oldest_idle = open
                .by_id
                .iter()
                .filter_map(|(id, activity)| Some((activity.idle_since()?, *id)))
                .min()
                .map(|(_, id)| id);
            let Some(id) = oldest_idle else {
                return Err(Refused::Full);
            };
            if let Some(evicted) = open.by_id.remove(&id) {
                // `notify_one` keeps the wakeup if the connection's task is not waiting yet.
                evicted.evicted.notify_one();
            }
        }
        let id = open.next;
        open.next += 1;
        let activity = Activity::new(self.epoch);
        open.by_id.insert(id, activity.clone());
        Ok(ConnectionSlot {
            slots: self.clone(),
            id,
            activity,
            _peer: peer_slot,
        })
    }

    /// Returns how many connections hold a slot.
    pub fn len(&self) -> usize {
        self.open().by_id.len()
    }

    /// True when no connection holds a slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns how many connections `peer` holds (exempt peers are not counted).
    pub fn held_by(&self, peer: IpAddr) -> usize {
        self.per_peer.held_by(peer)
    }
}

impl ConnectionSlot {
    /// The connection's activity, shared with its requests.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        // Already gone if it was evicted.
        self.slots.open().by_id.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn per_peer_counts_cap_each_address_and_forget_it_at_zero() {
        let counts = PeerCounts::new(2);
        let a1 = counts.try_acquire(ip(1)).unwrap();
        let a2 = counts.try_acquire(ip(1)).unwrap();
        assert!(counts.try_acquire(ip(1)).is_none());
        let b = counts.try_acquire(ip(2)).unwrap();
        assert_eq!((counts.held_by(ip(1)), counts.peers()), (2, 2));
        drop(a1);
        let a3 = counts.try_acquire(ip(1)).unwrap();
        drop((a2, a3, b));
        assert_eq!(
            counts.peers(),
            0,
            "no address is remembered once it holds nothing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_longest_idle_connection_makes_room() {
        let slots = ConnectionSlots::new(3, 10);
        let first = slots.admit(ip(1), false).unwrap();
        tokio::time::advance(Duration::from_millis(10)).await;
        let second = slots.admit(ip(2), false).unwrap();
        tokio::time::advance(Duration::from_millis(10)).await;
        let third = slots.admit(ip(3), false).unwrap();
        // The oldest is handling a request: not idle, so the second goes.
        let _request = first.activity().busy();
        let fourth = slots.admit(ip(4), false).unwrap();
        assert_eq!(slots.len(), 3);
        tokio::time::timeout(Duration::from_millis(1), second.activity().evicted())
            .await
            .expect("the longest-idle connection is told to close");
        // Freeing an evicted slot does not free anyone else's.
        drop(second);
        assert_eq!(slots.len(), 3);
        drop((third, fourth));
        assert_eq!(slots.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_runs_from_the_last_answer() {
        let slots = ConnectionSlots::new(2, 10);
        let a = slots.admit(ip(1), false).unwrap();
        tokio::time::advance(Duration::from_millis(10)).await;
        let b = slots.admit(ip(2), false).unwrap();
        // `a` answers a request now: it becomes the more recently idle one.
        tokio::time::advance(Duration::from_millis(10)).await;
        drop(a.activity().busy());
        assert!(a.activity().idle_since() > b.activity().idle_since());
        let _c = slots.admit(ip(3), false).unwrap();
        tokio::time::timeout(Duration::from_millis(1), b.activity().evicted())
            .await
            .expect("b has been idle longest");
    }

    #[test]
    fn when_every_connection_is_busy_the_newcomer_is_refused() {
        let slots = ConnectionSlots::new(1, 10);
        let only = slots.admit(ip(1), false).unwrap();
        let _request = only.activity().busy();
        assert_eq!(slots.admit(ip(2), false).unwrap_err(), Refused::Full);
        // A refused newcomer holds nothing.
        assert_eq!(slots.held_by(ip(2)), 0);
    }

    #[test]
    fn a_peer_holds_at_most_its_share_unless_exempt() {
        let slots = ConnectionSlots::new(100, 2);
        let _held: Vec<_> = (0..2).map(|_| slots.admit(ip(1), false).unwrap()).collect();
        assert_eq!(slots.admit(ip(1), false).unwrap_err(), Refused::PerPeer);
        let proxy: Vec<_> = (0..5).map(|_| slots.admit(ip(9), true).unwrap()).collect();
        assert_eq!((proxy.len(), slots.len()), (5, 7));
    }
}
