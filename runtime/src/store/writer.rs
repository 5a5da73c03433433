//! The store's writer thread: changes from concurrent callers applied together, one
//! transaction and at most one fsync per batch ([`crate::group_commit`]).

use std::sync::Arc;
use std::time::Duration;

use mts1b_inbound_core::{ClientOrderId, Intent, UnixMillis};

use super::{
    Applied, Change, OrderRecord, OrderStore, Pruned, Recording, Settlement, StoreError, Transition,
};
use crate::group_commit::GroupCommit;

/// The most changes one transaction takes: enough to absorb any burst the in-flight cap lets
/// through, small enough that one commit stays short.
const MAX_BATCH: usize = 512;

const NAME: &str = "order store";

/// Writes to an [`OrderStore`] through its group-commit thread. Reads go to the store directly.
pub struct StoreWriter {
    commit: GroupCommit<Change, Result<Applied, StoreError>>,
    #[cfg(test)]
    store: Arc<OrderStore>,
}

impl StoreWriter {
    /// Starts the writer thread of `store`.
    pub fn start(store: Arc<OrderStore>) -> Result<Self, StoreError> {
        #[cfg(test)]
        let kept = store.clone();
        let commit = GroupCommit::spawn("store", MAX_BATCH, move |changes: Vec<Change>| {
            let n = changes.len();
            match store.apply(changes) {
                Ok(applied) => applied.into_iter().map(Ok).collect(),
                // Nothing of the batch was written: every caller gets the error.
                Err(e) => vec![Err(e); n],
            }
        })
        .map_err(|e| StoreError(format!("cannot start the store writer: {e}")))?;
        Ok(Self {
            commit,
            #[cfg(test)]
            store: kept,
        })
    }

    /// Records a newly accepted order or modification ([`Change::Record`]); on disk when
    /// this returns.
    pub async fn record(
        &self,
        intent: Intent,
        now: UnixMillis,
        window: Duration,
    ) -> Result<Recording, StoreError> {
        let change = Change::Record {
            intent: Box::new(intent),
            now,
            window,
        };
        self.commit.run(NAME, change).await??.recording()
    }

    /// One pruning pass ([`Change::Prune`]), taking its turn between batches.
    pub async fn prune(
        &self,
        before: UnixMillis,
        from: u64,
        max_scan: usize,
    ) -> Result<Pruned, StoreError> {
        let change = Change::Prune {
            before,
            from,
            max_scan,
        };
        self.commit.run(NAME, change).await??.pruned()
    }

    /// Settles the modification at `seq` against the outbox ([`Change::Settle`]); on disk
    /// when this returns.
    pub async fn settle(&self, seq: u64, now: UnixMillis) -> Result<Settlement, StoreError> {
        self.commit
            .run(NAME, Change::Settle { seq, now })
            .await??
            .settled()
    }

    /// Moves the order `id` on ([`Change::Update`]), durably or lazily as the transition says.
    pub async fn update(
        &self,
        id: ClientOrderId,
        now: UnixMillis,
        transition: Transition,
    ) -> Result<Option<Box<OrderRecord>>, StoreError> {
        #[cfg(test)]
        if self
            .store
            .fail_updates
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError("injected update failure".into()));
        }
        let change = Change::Update {
            id,
            now,
            transition,
        };
        self.commit.run(NAME, change).await??.updated()
    }
}
