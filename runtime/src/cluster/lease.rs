//! Who delivers one (fund, strategy, symbol) stream (SPEC §14): a lease in the key-value bucket
//! `{prefix}_leases`, whose `max_age` is the lease's term. A replica takes a stream's lease by
//! an atomic `create` (one replica wins), keeps it by compare-and-set updates well inside the
//! term, and gives it up by a delete expecting its revision. A replica that dies stops renewing:
//! the server drops the entry when the term ends, and another replica's `create` takes the
//! stream over. A holder checks its lease (a renewal) before every OMS call, and stops the
//! moment a renewal fails, so two replicas deliver one stream together for at most the time
//! between a renewal and the call it precedes.

use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use bytes::Bytes;

use super::{Cluster, ClusterUnavailable, keys};

/// The leases of every stream.
#[derive(Clone)]
pub struct Leases {
    kv: kv::Store,
    holder: String,
    term: Duration,
}

/// A stream this replica delivers until [`Leases::renew`] says otherwise.
#[derive(Debug)]
pub struct Lease {
    key: String,
    revision: u64,
    /// When NATS last wrote it (its term runs from there).
    written: tokio::time::Instant,
}

impl Lease {
    /// Until when it certainly holds, `term` being its term: three quarters of a term past its
    /// last write, leaving a quarter for clocks and the write's own time on the way.
    pub fn held_until(&self, term: Duration) -> tokio::time::Instant {
        self.written + term * 3 / 4
    }

    fn at(key: String, revision: u64) -> Self {
        Self {
            key,
            revision,
            written: tokio::time::Instant::now(),
        }
    }
}

/// Why a lease was not taken or kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotHeld {
    /// Another replica holds it.
    Taken,
    /// NATS could not answer.
    Unavailable(ClusterUnavailable),
}

impl Leases {
    /// The leases of `cluster`, held by `holder` (this replica's name), lapsing `term` after
    /// their last renewal.
    pub async fn open(
        cluster: &Cluster,
        holder: impl Into<String>,
        term: Duration,
    ) -> Result<Self, ClusterUnavailable> {
        Ok(Self {
            kv: cluster.bucket("leases", term).await?,
            holder: holder.into(),
            term,
        })
    }

    /// Whose leases these are (the replica's name).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How long a lease lasts without renewal.
    pub fn term(&self) -> Duration {
        self.term
    }

    /// Takes the lease of `stream` (its subject), unless another replica holds it. A lease
    /// this replica still holds (its release did not reach NATS) is its own to take back: the
    /// caller makes sure no other task of this replica is using it.
    pub async fn acquire(&self, stream: &str) -> Result<Lease, NotHeld> {
        self.acquire_key(keys::token(stream)).await
    }

    /// [`Leases::acquire`] of a key as it is (`partition.3`).
    pub async fn acquire_key(&self, key: String) -> Result<Lease, NotHeld> {
        let unavailable = |e: &dyn std::fmt::Display| {
            NotHeld::Unavailable(ClusterUnavailable(format!("lease {key}: {e}")))
        };
        match self.kv.create(&key, Bytes::from(self.holder.clone())).await {
            Ok(revision) => return Ok(Lease::at(key, revision)),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(unavailable(&e)),
        }
        let entry = self.kv.entry(&key).await.map_err(|e| unavailable(&e))?;
        match entry {
            Some(entry)
                if entry.operation == kv::Operation::Put
                    && entry.value.as_ref() == self.holder.as_bytes() =>
            {
                let mut lease = Lease::at(key, entry.revision);
                self.extend(&mut lease).await.map(|()| lease)
            }
            _ => Err(NotHeld::Taken),
        }
    }

    /// Keeps `lease` for another term; `Taken` once another replica has it (this one lapsed).
    /// One written within the last quarter term is kept as it is: it holds for three quarters
    /// of a term yet, as long as a renewed one would have within a quarter (a write per order
    /// saved when each order is a stream of its own).
    pub async fn renew(&self, lease: &mut Lease) -> Result<(), NotHeld> {
        if lease.written.elapsed() < self.term / 4 {
            return Ok(());
        }
        self.extend(lease).await
    }

    /// Writes `lease` again: another term from now.
    async fn extend(&self, lease: &mut Lease) -> Result<(), NotHeld> {
        let written = tokio::time::Instant::now();
        match self
            .kv
            .update(&lease.key, Bytes::from(self.holder.clone()), lease.revision)
            .await
        {
            Ok(revision) => {
                lease.revision = revision;
                lease.written = written;
                Ok(())
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(NotHeld::Taken),
            Err(e) => Err(NotHeld::Unavailable(ClusterUnavailable(format!(
                "lease renewal: {e}"
            )))),
        }
    }

    /// The keys matching `pattern` (a key-value subject filter, `partition.*`) as leases of
    /// them are given up from now on (a lapse is not announced: NATS 2.9 writes no marker).
    pub async fn released(&self, pattern: &str) -> Result<kv::Watch, ClusterUnavailable> {
        self.kv
            .watch(pattern)
            .await
            .map_err(|e| ClusterUnavailable(format!("leases watch: {e}")))
    }

    /// Gives `lease` up at once, for another replica to take.
    pub async fn release(&self, lease: Lease) -> Result<(), ClusterUnavailable> {
        self.kv
            .delete_expect_revision(&lease.key, Some(lease.revision))
            .await
            .map_err(|e| ClusterUnavailable(format!("lease release: {e}")))
    }
}
