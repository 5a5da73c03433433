//! The embedded durable store (redb): one record per accepted alert, written (and fsynced by
//! redb's commit) before the HTTP answer.
//!
//! Tables: `orders` (client order id → the record as JSON) and `queue` (arrival sequence → client
//! order id, for records still queued), plus `meta` (the next sequence number). The queue table
//! is what recovery replays, in arrival order; the orders table is what the replay window is
//! warmed from and what `/orders/...` reads.

use std::path::Path;

use mts1b_inbound_core::{ClientOrderId, OrderIntent, UnixMillis};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const ORDERS: TableDefinition<u128, &[u8]> = TableDefinition::new("orders");
const QUEUE: TableDefinition<u64, u128> = TableDefinition::new("queue");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const NEXT_SEQ: &str = "next_seq";

/// The store's file name inside the data folder.
pub const FILE: &str = "orders.redb";

/// Where an accepted order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Durably accepted; not yet answered by the OMS.
    Queued,
    /// The OMS accepted it.
    Submitted,
    /// The OMS refused it.
    Rejected,
    /// Older than `delivery.max_order_age` before the OMS took it: never sent again.
    Expired,
}

impl Status {
    /// True once nothing more will happen to the order.
    pub fn is_final(self) -> bool {
        self != Status::Queued
    }
}

/// One accepted alert and its delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The canonical order.
    pub order: OrderIntent,
    /// Where it stands.
    pub status: Status,
    /// OMS calls made so far.
    pub attempts: u32,
    /// The OMS's id, once submitted.
    pub order_id: Option<String>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Arrival order, across restarts.
    pub seq: u64,
    /// When it was accepted.
    pub accepted_at: UnixMillis,
    /// When it last changed.
    pub updated_at: UnixMillis,
}

/// Whether a store change must be on disk before the call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsynced before returning.
    Fsync,
    /// Written with the next durable commit; lost if the process dies first.
    Lazy,
}

/// What [`OrderStore::record`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recording {
    /// Recorded as queued.
    Recorded(Box<OrderRecord>),
    /// Not recorded: the same alert was accepted at this time, within the window (or is still
    /// queued).
    AlreadyAccepted(UnixMillis),
}

/// A store failure: the caller answers 503 (nothing recorded) or retries later.
#[derive(Debug, thiserror::Error)]
#[error("order store: {0}")]
pub struct StoreError(String);

impl From<tokio::task::JoinError> for StoreError {
    fn from(e: tokio::task::JoinError) -> Self {
        StoreError(format!("store task failed: {e}"))
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn key(id: &ClientOrderId) -> u128 {
    id.as_uuid().as_u128()
}

/// The durable order store.
pub struct OrderStore {
    db: Database,
}

impl OrderStore {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(err)?;
        let db = Database::create(data_dir.join(FILE)).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        {
            txn.open_table(ORDERS).map_err(err)?;
            txn.open_table(QUEUE).map_err(err)?;
            txn.open_table(META).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(Self { db })
    }

    /// Records a newly accepted order as queued, durably, with the next arrival sequence number,
    /// unless the same id is still queued or was accepted within `window` before `now`: then
    /// nothing is written and the earlier acceptance time is returned. This is the durable half
    /// of the replay window: the check and the write are one transaction.
    pub fn record(
        &self,
        order: &OrderIntent,
        now: UnixMillis,
        window: std::time::Duration,
    ) -> Result<Recording, StoreError> {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let txn = self.db.begin_write().map_err(err)?;
        let record = {
            let mut orders = txn.open_table(ORDERS).map_err(err)?;
            let id = key(&order.client_order_id);
            if let Some(existing) = orders.get(id).map_err(err)? {
                let existing: OrderRecord =
                    serde_json::from_slice(existing.value()).map_err(err)?;
                if !existing.status.is_final() || now.millis_since(existing.accepted_at) < window_ms
                {
                    return Ok(Recording::AlreadyAccepted(existing.accepted_at));
                }
            }
            let mut meta = txn.open_table(META).map_err(err)?;
            let seq = meta.get(NEXT_SEQ).map_err(err)?.map_or(0, |v| v.value());
            meta.insert(NEXT_SEQ, seq + 1).map_err(err)?;
            let record = OrderRecord {
                order: order.clone(),
                status: Status::Queued,
                attempts: 0,
                order_id: None,
                last_error: None,
                seq,
                accepted_at: now,
                updated_at: now,
            };
            let bytes = serde_json::to_vec(&record).map_err(err)?;
            orders.insert(id, bytes.as_slice()).map_err(err)?;
            txn.open_table(QUEUE)
                .map_err(err)?
                .insert(seq, id)
                .map_err(err)?;
            record
        };
        txn.commit().map_err(err)?;
        Ok(Recording::Recorded(Box::new(record)))
    }

    /// Returns the record of `id`.
    pub fn get(&self, id: &ClientOrderId) -> Result<Option<OrderRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let orders = txn.open_table(ORDERS).map_err(err)?;
        let value = orders.get(key(id)).map_err(err)?;
        value
            .map(|v| serde_json::from_slice(v.value()).map_err(err))
            .transpose()
    }

    /// Applies `change` to the record of `id`; a record that becomes final leaves the queue.
    /// With `Durability::Fsync` the change is on disk when this returns; with `Durability::Lazy`
    /// it reaches the disk with the next durable commit, and a crash before that loses it (use it
    /// only for changes whose loss is harmless, see the outbox).
    pub fn update(
        &self,
        id: &ClientOrderId,
        durability: Durability,
        change: impl FnOnce(&mut OrderRecord),
    ) -> Result<Option<OrderRecord>, StoreError> {
        let mut txn = self.db.begin_write().map_err(err)?;
        if durability == Durability::Lazy {
            txn.set_durability(redb::Durability::None).map_err(err)?;
        }
        let updated = {
            let mut orders = txn.open_table(ORDERS).map_err(err)?;
            let Some(bytes) = orders
                .get(key(id))
                .map_err(err)?
                .map(|v| v.value().to_vec())
            else {
                return Ok(None);
            };
            let mut record: OrderRecord = serde_json::from_slice(&bytes).map_err(err)?;
            change(&mut record);
            let bytes = serde_json::to_vec(&record).map_err(err)?;
            orders.insert(key(id), bytes.as_slice()).map_err(err)?;
            if record.status.is_final() {
                txn.open_table(QUEUE)
                    .map_err(err)?
                    .remove(record.seq)
                    .map_err(err)?;
            }
            record
        };
        txn.commit().map_err(err)?;
        Ok(Some(updated))
    }

    /// Every queued record, in arrival order (what recovery resumes).
    pub fn queued(&self) -> Result<Vec<OrderRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let queue = txn.open_table(QUEUE).map_err(err)?;
        let orders = txn.open_table(ORDERS).map_err(err)?;
        let mut out = Vec::new();
        for entry in queue.iter().map_err(err)? {
            let (_, id) = entry.map_err(err)?;
            if let Some(bytes) = orders.get(id.value()).map_err(err)? {
                out.push(serde_json::from_slice(bytes.value()).map_err(err)?);
            }
        }
        Ok(out)
    }

    /// The ids and acceptance times of every record accepted at or after `since` (what the replay
    /// window is warmed with at start).
    pub fn accepted_since(
        &self,
        since: UnixMillis,
    ) -> Result<Vec<(ClientOrderId, UnixMillis)>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let orders = txn.open_table(ORDERS).map_err(err)?;
        let mut out = Vec::new();
        for entry in orders.iter().map_err(err)? {
            let (_, bytes) = entry.map_err(err)?;
            let record: OrderRecord = serde_json::from_slice(bytes.value()).map_err(err)?;
            if record.accepted_at >= since {
                out.push((record.order.client_order_id, record.accepted_at));
            }
        }
        Ok(out)
    }

    /// Deletes final records accepted before `before`; returns how many.
    pub fn prune(&self, before: UnixMillis) -> Result<usize, StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        let mut pruned = 0;
        {
            let mut orders = txn.open_table(ORDERS).map_err(err)?;
            orders
                .retain(|_, bytes| {
                    let keep = serde_json::from_slice::<OrderRecord>(bytes)
                        .map(|r| !r.status.is_final() || r.accepted_at >= before)
                        .unwrap_or(true);
                    pruned += usize::from(!keep);
                    keep
                })
                .map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests;
