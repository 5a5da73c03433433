//! `mts1b_delivery_queue_depth` on the cluster backend: each replica counts the messages of the
//! partitions it holds that are in the log and not final yet, as far as it knows them (each
//! appended while it held the partition, and each it reads past a mark, as after a take-over).
//! A message leaves the count once the mark passes it, or once a modification settled before
//! its turn (applied to a waiting order) is recorded; a stream whose partition is lost leaves
//! it whole (its new holder counts it). Summed over the replicas, it is the cluster's queue.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::Deliverer;
use crate::cluster::keys;

/// The messages not yet final, per stream.
#[derive(Default)]
pub(super) struct Queued(Mutex<HashMap<String, BTreeSet<u64>>>);

impl Deliverer {
    /// The message at `seq` of `subject` (a partition this replica holds) is in the log, not
    /// final unless its stream's mark already passed it.
    pub fn queued(&self, subject: &str, seq: u64) {
        if self
            .marks
            .get(&keys::token(subject))
            .is_some_and(|cached| cached.mark >= seq)
        {
            return;
        }
        self.count_queued(|streams| {
            streams.entry(subject.to_owned()).or_default().insert(seq);
        });
    }

    /// The message at `seq` of `subject` is final (recorded, its mark moved past it).
    pub(super) fn no_longer_queued(&self, subject: &str, seq: u64) {
        self.count_queued(|streams| {
            if let Some(queued) = streams.get_mut(subject) {
                queued.retain(|s| *s > seq);
                if queued.is_empty() {
                    streams.remove(subject);
                }
            }
        });
    }

    /// `subject` is not this replica's to count any more.
    pub(super) fn not_counted(&self, subject: &str) {
        self.count_queued(|streams| {
            streams.remove(subject);
        });
    }

    /// Settles one modification at `seq` of `subject` before the mark reaches it.
    pub(super) fn settled_early(&self, subject: &str, seq: u64) {
        self.count_queued(|streams| {
            if let Some(queued) = streams.get_mut(subject) {
                queued.remove(&seq);
            }
        });
    }

    fn count_queued(&self, change: impl FnOnce(&mut HashMap<String, BTreeSet<u64>>)) {
        let mut streams = self.queued.0.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut streams);
        let total: usize = streams.values().map(BTreeSet::len).sum();
        self.metrics
            .queue_depth
            .set(i64::try_from(total).unwrap_or(i64::MAX));
    }
}
