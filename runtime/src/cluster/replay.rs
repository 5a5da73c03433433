//! One replay window for every replica (SPEC §14): a key-value bucket `{prefix}_replay` whose
//! `max_age` is `replay.window`, keyed by the alert's client order id (a UUID: a valid key as
//! it is).
//!
//! A claim is an atomic `create` (of the same alert sent to N replicas at once exactly one
//! wins, the others are duplicates); it is committed (`accepted <ms>`) by a compare-and-set
//! update once the order is durably recorded, or released everywhere by a delete that expects
//! the claim's revision (a rejection after the claim, a 503). A claim left by a replica that
//! died mid-request would block the sender's resend for the whole window: one older than
//! `stale_after` (longer than any request may take) and never committed is taken over by the
//! next claimant, again by compare-and-set, so only one takes it. A claim whose write NATS never
//! answered may still be written later (the client holds writes while NATS is away and sends
//! them on reconnection): it is undone in the background, recognised by its random tag.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use bytes::Bytes;
use mts1b_inbound_core::{ClientOrderId, Clock, UnixMillis};

use super::{Cluster, ClusterUnavailable};

/// The shared replay window.
#[derive(Clone)]
pub struct SharedReplayWindow {
    kv: kv::Store,
    clock: Arc<dyn Clock>,
    stale_after: Duration,
}

/// Why a claim was not granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotClaimed {
    /// Accepted within the window, or being handled by a replica right now.
    Duplicate {
        /// When it was accepted, if it was.
        accepted_at: Option<UnixMillis>,
    },
    /// NATS could not answer: 503, nothing recorded.
    Unavailable(ClusterUnavailable),
}

/// A key this replica holds. Drop it unsettled and it is released (in the background).
pub struct SharedClaim {
    kv: kv::Store,
    key: String,
    revision: u64,
    settled: bool,
    stale_after: Duration,
}

/// What a key's value says. A claim carries a tag of its own (random), so the claimant can
/// tell its claim from another's when it must undo one whose write it never heard back about.
#[derive(Debug, PartialEq, Eq)]
enum Slot {
    Claimed(UnixMillis, u64),
    Accepted(UnixMillis),
}

impl Slot {
    fn write(&self) -> Bytes {
        Bytes::from(match self {
            Slot::Claimed(at, tag) => format!("claimed {} {tag:x}", at.0),
            Slot::Accepted(at) => format!("accepted {}", at.0),
        })
    }

    fn read(value: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(value).ok()?;
        let (state, rest) = text.split_once(' ')?;
        // A claim written before claims had tags reads with tag 0.
        let (at, tag) = rest.split_once(' ').unwrap_or((rest, "0"));
        let at = UnixMillis(at.parse().ok()?);
        match state {
            "claimed" => Some(Slot::Claimed(at, u64::from_str_radix(tag, 16).ok()?)),
            "accepted" => Some(Slot::Accepted(at)),
            _ => None,
        }
    }

    /// A fresh claim at `at`.
    fn claim(at: UnixMillis) -> Self {
        use std::hash::BuildHasher;
        // RandomState's keys differ with every call (random per thread, then stepped), so
        // no other claim carries the same tag.
        Slot::Claimed(
            at,
            std::collections::hash_map::RandomState::new().hash_one(at.0),
        )
    }
}

impl SharedReplayWindow {
    /// The window of `cluster`, `window` long (the bucket is created if missing); claims older
    /// than `stale_after` and never committed are taken over.
    pub async fn open(
        cluster: &Cluster,
        window: Duration,
        stale_after: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClusterUnavailable> {
        Ok(Self {
            kv: cluster.bucket("replay", window).await?,
            clock,
            stale_after,
        })
    }

    /// Reserves `id` for this replica, unless some replica holds it or accepted it within the
    /// window.
    pub async fn claim(&self, id: &ClientOrderId) -> Result<SharedClaim, NotClaimed> {
        let key = id.to_string();
        let now = self.clock.now();
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            NotClaimed::Unavailable(ClusterUnavailable(format!("replay {what}: {e}")))
        };
        // Twice at most: a key released or expired between our create and our read is free,
        // and the second create takes it (or meets whoever took it first).
        let mut attempts = 0;
        let entry = loop {
            attempts += 1;
            let claim = Slot::claim(now).write();
            match self.kv.create(&key, claim.clone()).await {
                Ok(revision) => return Ok(self.held(key, revision)),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
                Err(e) => {
                    // Unanswered is not unwritten: a create the client held while NATS was
                    // away reaches it on reconnection, and would block the sender's resend
                    // until it is stale. Undone in the background once NATS answers.
                    self.retract(key, claim);
                    return Err(unavailable("claim", &e));
                }
            }
            let entry = self
                .kv
                .entry(&key)
                .await
                .map_err(|e| unavailable("read", &e))?;
            match entry.filter(|e| e.operation == Operation::Put) {
                Some(entry) => break entry,
                None if attempts < 2 => continue,
                None => return Err(NotClaimed::Duplicate { accepted_at: None }),
            }
        };
        match Slot::read(&entry.value) {
            Some(Slot::Accepted(at)) => Err(NotClaimed::Duplicate {
                accepted_at: Some(at),
            }),
            Some(Slot::Claimed(at, _))
                if now.millis_since(at)
                    > i64::try_from(self.stale_after.as_millis()).unwrap_or(i64::MAX) =>
            {
                let claim = Slot::claim(now).write();
                match self.kv.update(&key, claim.clone(), entry.revision).await {
                    Ok(revision) => Ok(self.held(key, revision)),
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                        Err(NotClaimed::Duplicate { accepted_at: None })
                    }
                    Err(e) => {
                        self.retract(key, claim);
                        Err(unavailable("take over", &e))
                    }
                }
            }
            _ => Err(NotClaimed::Duplicate { accepted_at: None }),
        }
    }

    /// Deletes `key` in the background if it holds `claim` (a write whose answer never
    /// came), once NATS answers; gives up after `stale_after`, when the claim is taken over
    /// anyway. Absent at first, it is looked for again for [`RETRACT_WATCH`]: the held
    /// write may land after the first read.
    fn retract(&self, key: String, claim: Bytes) {
        let (kv, stale_after) = (self.kv.clone(), self.stale_after);
        tokio::spawn(async move {
            let give_up = tokio::time::Instant::now() + stale_after;
            let mut absent_since = None;
            while tokio::time::Instant::now() < give_up {
                match kv.entry(&key).await {
                    Ok(Some(entry)) if entry.operation == Operation::Put => {
                        // Another claimant's value: ours never landed, or was taken over.
                        if entry.value == claim {
                            delete_revision(&kv, &key, entry.revision, give_up).await;
                        }
                        return;
                    }
                    Ok(_) => {
                        let since = *absent_since.get_or_insert_with(tokio::time::Instant::now);
                        if since.elapsed() >= RETRACT_WATCH {
                            return;
                        }
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(RELEASE_RETRY).await;
            }
        });
    }

    fn held(&self, key: String, revision: u64) -> SharedClaim {
        SharedClaim {
            kv: self.kv.clone(),
            key,
            revision,
            settled: false,
            stale_after: self.stale_after,
        }
    }
}

impl SharedClaim {
    /// Marks the key accepted at `at`, for the rest of the window, on every replica.
    pub async fn commit(mut self, at: UnixMillis) -> Result<(), ClusterUnavailable> {
        self.settled = true;
        self.kv
            .update(&self.key, Slot::Accepted(at).write(), self.revision)
            .await
            .map(|_| ())
            .map_err(|e| ClusterUnavailable(format!("replay commit: {e}")))
    }

    /// Frees the key on every replica: a resend is taken. If NATS does not take the delete
    /// now, it is tried again in the background (see the `Drop`).
    pub async fn release(mut self) -> Result<(), ClusterUnavailable> {
        match self
            .kv
            .delete_expect_revision(&self.key, Some(self.revision))
            .await
        {
            Ok(()) => {
                self.settled = true;
                Ok(())
            }
            // Taken over, or gone with the window: not ours to release.
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                self.settled = true;
                Ok(())
            }
            Err(e) => Err(ClusterUnavailable(format!("replay release: {e}"))),
        }
    }
}

/// How often a release that NATS did not take is tried again.
const RELEASE_RETRY: Duration = Duration::from_millis(100);

/// How long a claim whose write went unanswered is looked for once NATS answers that the
/// key is free.
const RETRACT_WATCH: Duration = Duration::from_secs(2);

impl Drop for SharedClaim {
    // A rejection after the claim, a 503, a request dropped mid-way (its client hung up):
    // the claim is released, as the embedded window's is. A 503 usually means NATS did not
    // answer, and then neither does the first delete: it is tried again until NATS takes it,
    // so the sender's resend is admitted (and, if the first publish was stored after all,
    // answered as it would have been) as soon as NATS is back, not once the claim is stale.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (kv, key, revision) = (
            self.kv.clone(),
            std::mem::take(&mut self.key),
            self.revision,
        );
        let give_up = tokio::time::Instant::now() + self.stale_after;
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { delete_revision(&kv, &key, revision, give_up).await });
        }
    }
}

/// Deletes `key` if it is still at `revision`, trying again every [`RELEASE_RETRY`] while
/// NATS does not answer, until `give_up`.
async fn delete_revision(kv: &kv::Store, key: &str, revision: u64, give_up: tokio::time::Instant) {
    loop {
        match kv.delete_expect_revision(key, Some(revision)).await {
            Ok(()) => return,
            // Taken over, or gone with the window: not ours to release.
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => return,
            Err(_) if tokio::time::Instant::now() >= give_up => return,
            Err(_) => tokio::time::sleep(RELEASE_RETRY).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_reads_back_as_written_and_untagged_claims_still_read() {
        let at = UnixMillis(1_709_296_500_000);
        let claim = Slot::claim(at);
        assert_eq!(Slot::read(&claim.write()), Some(claim));
        assert_eq!(
            Slot::read(&Slot::Accepted(at).write()),
            Some(Slot::Accepted(at))
        );
        assert_eq!(
            Slot::read(b"claimed 1709296500000"),
            Some(Slot::Claimed(at, 0))
        );
        assert_eq!(Slot::read(b"claimed 1709296500000 not-hex"), None);
    }

    #[test]
    fn two_claims_at_the_same_instant_carry_different_tags() {
        let at = UnixMillis(1_709_296_500_000);
        assert_ne!(Slot::claim(at).write(), Slot::claim(at).write());
    }
}
