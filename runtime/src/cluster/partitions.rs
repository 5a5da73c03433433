//! Which replica delivers which streams (SPEC §14): the log's streams fall into [`PARTITIONS`]
//! partitions by their (fund, strategy), and each partition has one holder at a time, by a
//! lease ([`super::lease`], key `partition.N`) held for as long as the replica lives and
//! renewed in the background every quarter term. A drain checks its hold in memory before each
//! OMS call, so delivering an order costs no lease write; a partition whose holder died lapses
//! after a term and is taken by another replica, which then scans its streams.
//!
//! Balance: a partition's preferred holder is the present replica ranking it highest
//! (rendezvous hashing over the names in the presence bucket, [`super::presence`]). Each
//! replica takes the partitions it prefers, tries the others every other tick (so a partition
//! is never left without a holder while presence catches up), and hands back a partition whose
//! preferred holder is present once no drain of it is running. Every stream of one (fund,
//! strategy) sits in one partition, so one replica sees all of a strategy's symbols.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_nats::jetstream::kv;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::keys;
use super::lease::{Lease, Leases, NotHeld};

/// How many partitions the streams fall into: enough to spread over a handful of replicas,
/// few enough that holding them all costs a few writes a second.
pub const PARTITIONS: u32 = 16;

/// The partitions, as this replica holds them.
#[derive(Clone)]
pub struct Partitions {
    inner: Arc<Inner>,
}

struct Inner {
    leases: Leases,
    /// Its name as a presence key.
    me: String,
    slots: Mutex<Vec<Slot>>,
    epochs: AtomicU64,
}

/// What a drain checks: whether, and since when, this replica holds a partition.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Nonzero while held: a new value every time it is taken.
    epoch: u64,
    /// Past this, the lease may have lapsed unseen (three quarters of a term after the last
    /// write that NATS acknowledged): no OMS call starts.
    held_until: Option<Instant>,
    /// Being handed back: no drain starts and no OMS call is made.
    leaving: bool,
    /// Drains of it running here.
    drains: usize,
}

/// One drain's hold on its stream's partition, checked before every OMS call.
pub struct Hold {
    partitions: Partitions,
    partition: u32,
    epoch: u64,
}

impl Hold {
    /// Whether the partition is still held as when this hold was taken.
    pub fn check(&self) -> Result<(), NotHeld> {
        let slots = self.partitions.slots();
        let slot = slots[self.partition as usize];
        let held = slot.epoch == self.epoch
            && !slot.leaving
            && slot.held_until.is_some_and(|until| Instant::now() < until);
        if held { Ok(()) } else { Err(NotHeld::Taken) }
    }

    /// Which time this replica took the partition (marks read under an older one are stale).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut slots = self.partitions.slots();
        let slot = &mut slots[self.partition as usize];
        slot.drains = slot.drains.saturating_sub(1);
    }
}

/// The lease key of `partition`.
fn partition_key(partition: u32) -> String {
    format!("partition.{partition}")
}

/// The partition of the stream `subject` (`{prefix}.orders.{fund}.{strategy}.{symbol}`): of
/// its (fund, strategy), by FNV-1a, which every replica and version computes alike.
pub fn partition_of(subject: &str) -> u32 {
    let scope = subject.rsplit_once('.').map_or(subject, |(scope, _)| scope);
    fnv1a(scope.as_bytes()) % PARTITIONS
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The preferred holder of `partition` among `replicas` (presence keys).
fn preferred<'a>(partition: u32, replicas: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    replicas.max_by_key(|name| {
        let mut bytes = partition.to_be_bytes().to_vec();
        bytes.extend_from_slice(name.as_bytes());
        (fnv1a(&bytes), name.as_str())
    })
}

impl Partitions {
    /// The partitions' leases in `leases`, held under its holder's name `me`.
    pub fn new(leases: Leases, me: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                leases,
                me: keys::token(me),
                slots: Mutex::new(vec![Slot::default(); PARTITIONS as usize]),
                epochs: AtomicU64::new(0),
            }),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.inner.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A hold on the partition of `subject` for one drain, when this replica holds it.
    pub fn hold(&self, subject: &str) -> Option<Hold> {
        let partition = partition_of(subject);
        let mut slots = self.slots();
        let slot = &mut slots[partition as usize];
        let held = slot.epoch != 0
            && !slot.leaving
            && slot.held_until.is_some_and(|until| Instant::now() < until);
        held.then(|| {
            slot.drains += 1;
            Hold {
                partitions: self.clone(),
                partition,
                epoch: slot.epoch,
            }
        })
    }

    /// Whether this replica holds `partition` now.
    pub fn holds(&self, partition: u32) -> bool {
        let slot = self.slots()[partition as usize];
        slot.epoch != 0 && slot.held_until.is_some_and(|until| Instant::now() < until)
    }

    /// Takes, keeps and hands back partitions every quarter term, and at once when a
    /// partition is handed back, for as long as it runs; `members` are the replicas present
    /// (empty: this one alone). Calls `taken` with each partition taken (or held again after
    /// its renewal ran late), for its streams to be scanned.
    pub async fn keep(
        self,
        mut members: watch::Receiver<BTreeSet<String>>,
        taken: impl Fn(u32) + Send,
    ) {
        let leases = &self.inner.leases;
        let mut held: Vec<Option<Lease>> = (0..PARTITIONS).map(|_| None).collect();
        let tick = leases.term() / 4;
        let mut released = None;
        let mut next_try_all = Instant::now();
        loop {
            let present: BTreeSet<String> = {
                let mut present = members.borrow_and_update().clone();
                present.insert(self.inner.me.clone());
                present
            };
            // Partitions preferred by another replica are tried every half term too, so none
            // is left without a holder while presence catches up with a replica's death.
            let try_all = Instant::now() >= next_try_all;
            if try_all {
                next_try_all = Instant::now() + tick * 2;
            }
            for partition in 0..PARTITIONS {
                let mine = preferred(partition, present.iter()) == Some(&self.inner.me);
                let lease = &mut held[partition as usize];
                match lease.take() {
                    Some(current) => {
                        let lapsed = !self.holds(partition);
                        *lease = self.kept(partition, current, mine).await;
                        // Pokes were turned away while its renewal was late: scan it.
                        if lapsed && self.holds(partition) {
                            tracing::warn!(target: "mts1b::cluster", partition, "a partition's renewal ran late: its streams are scanned");
                            taken(partition);
                        }
                    }
                    None if mine || try_all => {
                        if let Ok(now_held) = leases.acquire_key(partition_key(partition)).await {
                            self.taken(partition, &now_held);
                            *lease = Some(now_held);
                            taken(partition);
                        }
                    }
                    None => {}
                }
            }
            if released.is_none() {
                released = leases.released("partition.*").await.ok();
            }
            // Until the next tick, or a partition handed back (for its preferred holder to
            // take it at once rather than a tick later).
            let next_tick = Instant::now() + tick;
            loop {
                let Some(watch) = released.as_mut() else {
                    tokio::time::sleep_until(next_tick).await;
                    break;
                };
                tokio::select! {
                    _ = tokio::time::sleep_until(next_tick) => break,
                    event = watch.next() => match event {
                        Some(Ok(entry)) if entry.operation != kv::Operation::Put => break,
                        Some(Ok(_)) => {}
                        // Watched again at the next round.
                        Some(Err(_)) | None => released = None,
                    },
                }
            }
        }
    }

    /// Renews a held partition's lease, or hands it back to a present preferred holder once
    /// its drains have stopped; `None` once it is not held any more.
    async fn kept(&self, partition: u32, mut lease: Lease, mine: bool) -> Option<Lease> {
        let leases = &self.inner.leases;
        if !mine {
            let drains = {
                let mut slots = self.slots();
                let slot = &mut slots[partition as usize];
                slot.leaving = true;
                slot.drains
            };
            if drains == 0 {
                self.lost(partition);
                if let Err(e) = leases.release(lease).await {
                    tracing::warn!(target: "mts1b::cluster", partition, error = %e, "a partition handed back was not released: it lapses after its term");
                }
                return None;
            }
        }
        match leases.renew(&mut lease).await {
            Ok(()) => {
                let mut slots = self.slots();
                slots[partition as usize].held_until = Some(lease.held_until(leases.term()));
                Some(lease)
            }
            Err(NotHeld::Taken) => {
                tracing::warn!(target: "mts1b::cluster", partition, "a partition's renewal was refused (another replica took it after a lapse, or a renewal whose answer was lost went through): taken again if still free");
                self.lost(partition);
                None
            }
            // Held until its last write's term runs out: the next tick tries again.
            Err(NotHeld::Unavailable(e)) => {
                tracing::warn!(target: "mts1b::cluster", partition, error = %e, "a partition's lease not renewed");
                Some(lease)
            }
        }
    }

    fn taken(&self, partition: u32, lease: &Lease) {
        let epoch = self.inner.epochs.fetch_add(1, Ordering::Relaxed) + 1;
        let mut slots = self.slots();
        let slot = &mut slots[partition as usize];
        *slot = Slot {
            epoch,
            held_until: Some(lease.held_until(self.inner.leases.term())),
            leaving: false,
            drains: slot.drains,
        };
        tracing::info!(target: "mts1b::cluster", partition, "partition taken");
    }

    fn lost(&self, partition: u32) {
        let mut slots = self.slots();
        let slot = &mut slots[partition as usize];
        slot.epoch = 0;
        slot.held_until = None;
        slot.leaving = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strategys_streams_share_a_partition_and_partitions_spread_over_replicas() {
        let btc = partition_of("MTS1B_TV.orders.desk.trend.BTC-USD");
        assert_eq!(btc, partition_of("MTS1B_TV.orders.desk.trend.ETH-USD"));
        // FNV-1a of the scope, fixed for every replica and version.
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        let funds: BTreeSet<u32> = (0..200)
            .map(|i| partition_of(&format!("MTS1B_TV.orders.fund-{i}.s.BTC-USD")))
            .collect();
        assert_eq!(funds.len(), PARTITIONS as usize);
        let replicas: Vec<String> = ["replica-a", "replica-b", "replica-c"]
            .map(String::from)
            .to_vec();
        let mut share = std::collections::BTreeMap::new();
        for p in 0..PARTITIONS {
            *share
                .entry(preferred(p, replicas.iter()).unwrap())
                .or_insert(0) += 1;
        }
        assert_eq!(share.len(), 3, "{share:?}");
        // One replica gone: only its partitions move.
        for p in 0..PARTITIONS {
            let before = preferred(p, replicas.iter()).unwrap();
            let after = preferred(p, replicas[..2].iter()).unwrap();
            if before != &replicas[2] {
                assert_eq!(before, after);
            }
        }
    }
}
