//! Where each order stands, the same on every replica (SPEC §14): bucket `{prefix}_orders`,
//! keyed by the order's id. The replica that settles an order writes its outcome before the
//! stream's mark moves past it, so no settled order lacks its status; the replica that answered
//! `queued` writes `queued` first, if nothing is there yet. `GET /orders/{fund}/{key}` reads it
//! on any replica.
//!
//! A request waiting for its order's outcome learns it even when another replica delivered the
//! order: the replica that settles an order, once NATS holds its status, announces it on the
//! core NATS subject `{prefix}.settled` (no JetStream: nothing stored, nothing acknowledged),
//! which every replica subscribes to once (one subscription, not one per request) and hands
//! each status to the requests waiting for that key here. An announcement lost (a replica
//! reconnecting) costs only time: a waiter whose time runs out reads the record itself.
//! Measured against a watch of the bucket (an ordered consumer on every replica): on three
//! NATS nodes the watch held answers back by up to the whole `respond_within` (BENCHMARKS.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use mts1b_inbound_core::Intent;

use super::{Cluster, ClusterUnavailable};
use crate::store::Status;

/// One order's or modification's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// `queued`, `submitted`, `rejected`, `expired`, `cancelled`, `replaced` or (a
    /// modification) `applied`.
    pub status: Status,
    /// `submit`, `cancel`, `replace` or `cancel_all`.
    #[serde(default = "submit")]
    pub kind: String,
    /// Its strategy (a modification names its target's).
    #[serde(default)]
    pub strategy: String,
    /// Its symbol (none: a cancel-all of every symbol, or a record that cannot be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The key of the order a cancel or replace changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_key: Option<String>,
    /// OMS calls made for it.
    #[serde(default)]
    pub attempts: u32,
    /// The OMS's id, once submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Why it was refused or set aside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A modification whose target is not active (answered `target_not_active`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_active: bool,
    /// How it took effect when not by the OMS (cancelled before delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What was done to an order since (cancels, replaces), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    /// Its sequence in the order log.
    pub seq: u64,
}

fn submit() -> String {
    "submit".to_owned()
}

impl Standing {
    /// `intent`, at `seq` of the log, in `status` (the rest filled in after).
    pub fn of(intent: &Intent, seq: u64, status: Status) -> Self {
        Self {
            status,
            kind: intent.kind().as_str().to_owned(),
            strategy: intent.strategy_id().to_string(),
            symbol: intent.symbol().map(|s| s.to_string()),
            target_key: intent.target().map(|t| t.key.to_string()),
            ..Self::of_unreadable(seq)
        }
    }

    /// A record at `seq` that cannot be read back (set aside as rejected).
    pub fn of_unreadable(seq: u64) -> Self {
        Self {
            status: Status::Rejected,
            kind: submit(),
            strategy: String::new(),
            symbol: None,
            target_key: None,
            attempts: 0,
            order_id: None,
            reason: None,
            not_active: false,
            detail: None,
            history: Vec::new(),
            seq,
        }
    }
}

/// A settled status as announced to the replicas.
#[derive(Serialize, Deserialize)]
struct Announced {
    id: String,
    standing: Standing,
}

/// Requests of this replica waiting for an order's status, by key.
type Waiters = Mutex<HashMap<String, Vec<oneshot::Sender<Standing>>>>;

/// Hands `standing` to the requests waiting here for `id`.
fn hand(waiters: &Waiters, id: &str, standing: &Standing) {
    let waiting = lock(waiters).remove(id);
    for waiter in waiting.into_iter().flatten() {
        let _ = waiter.send(standing.clone());
    }
}

/// The status records of every order.
#[derive(Clone)]
pub struct StatusRecords {
    kv: kv::Store,
    waiters: Arc<Waiters>,
    client: async_nats::Client,
    /// Where settled statuses are announced.
    announced: String,
}

impl StatusRecords {
    /// The records of `cluster`, each kept for `keep` after its last change; subscribes this
    /// replica to the announcements (until every copy of the records is dropped).
    pub async fn open(cluster: &Cluster, keep: Duration) -> Result<Self, ClusterUnavailable> {
        let kv = cluster.bucket("orders", keep).await?;
        let client = cluster.jetstream.client();
        let announced = format!("{}.settled", cluster.settings.prefix);
        let subscription = client
            .subscribe(announced.clone())
            .await
            .map_err(|e| ClusterUnavailable(format!("subscription to settled orders: {e}")))?;
        let waiters = Arc::new(Waiters::default());
        tokio::spawn(Self::hand_out(subscription, Arc::downgrade(&waiters)));
        Ok(Self {
            kv,
            waiters,
            client,
            announced,
        })
    }

    /// Hands every status announced to the requests waiting for it here (the client
    /// subscribes again by itself after a reconnection).
    async fn hand_out(mut subscription: async_nats::Subscriber, waiters: Weak<Waiters>) {
        while let Some(message) = subscription.next().await {
            let Some(waiters) = waiters.upgrade() else {
                return;
            };
            let Ok(Announced { id, standing }) = serde_json::from_slice(&message.payload) else {
                continue;
            };
            hand(&waiters, &id, &standing);
        }
    }

    /// Records how the order `id` settled, and announces it to every replica.
    pub async fn settle(&self, id: &str, standing: &Standing) -> Result<(), ClusterUnavailable> {
        self.kv
            .put(id, encode(id, standing)?)
            .await
            .map_err(|e| ClusterUnavailable(format!("status of {id}: {e}")))?;
        // This replica's waiters at once; the others' through the announcement (the same
        // outcome again here finds no one waiting).
        hand(&self.waiters, id, standing);
        let announced = Announced {
            id: id.to_owned(),
            standing: standing.clone(),
        };
        if let Ok(body) = serde_json::to_vec(&announced) {
            // At most once: a waiter that misses it reads the record when its time runs out.
            let _ = self
                .client
                .publish(self.announced.clone(), Bytes::from(body))
                .await;
        }
        Ok(())
    }

    /// Records `queued` (its status `queued`), unless it has a status already (it settled
    /// meanwhile).
    pub async fn queue(&self, id: &str, queued: &Standing) -> Result<(), ClusterUnavailable> {
        match self.kv.create(id, encode(id, queued)?).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(ClusterUnavailable(format!("status of {id}: {e}"))),
        }
    }

    /// The status of the order `id`, if it has one.
    pub async fn get(&self, id: &str) -> Result<Option<Standing>, ClusterUnavailable> {
        let value = self
            .kv
            .get(id)
            .await
            .map_err(|e| ClusterUnavailable(format!("status of {id}: {e}")))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Waits up to `within` for the order `id` to settle, on whichever replica.
    pub async fn wait(
        &self,
        id: &str,
        within: Duration,
    ) -> Result<Option<Standing>, ClusterUnavailable> {
        self.listen(id).settled(within, true).await
    }

    /// Listens for the outcome of `id` from now on: listen before the order can settle (before
    /// its append), and nothing has to be read to learn what happened before.
    pub fn listen(&self, id: &str) -> Listening<'_> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters)
            .entry(id.to_owned())
            .or_default()
            .push(tx);
        Listening {
            records: self,
            id: id.to_owned(),
            rx: Some(rx),
        }
    }

    /// True while a request of this replica waits for `id`'s outcome.
    pub fn is_waited_for(&self, id: &str) -> bool {
        lock(&self.waiters).get(id).is_some_and(|w| !w.is_empty())
    }

    /// Drops this replica's waiters on `id` whose requests have gone.
    fn forget(&self, id: &str) {
        let mut waiters = lock(&self.waiters);
        if let Some(waiting) = waiters.get_mut(id) {
            waiting.retain(|w| !w.is_closed());
            if waiting.is_empty() {
                waiters.remove(id);
            }
        }
    }
}

/// A request listening for an order's outcome ([`StatusRecords::listen`]).
pub struct Listening<'a> {
    records: &'a StatusRecords,
    id: String,
    rx: Option<oneshot::Receiver<Standing>>,
}

impl Listening<'_> {
    /// The outcome, if the order settles within `within`. With `read_first`, the record is
    /// read before waiting (it may have settled before this listened: a resend). Read once
    /// more when the time runs out, in case the watch missed it.
    pub async fn settled(
        mut self,
        within: Duration,
        read_first: bool,
    ) -> Result<Option<Standing>, ClusterUnavailable> {
        let settled = |s: Option<Standing>| s.filter(|s| s.status != Status::Queued);
        if read_first && let Some(standing) = settled(self.records.get(&self.id).await?) {
            return Ok(Some(standing));
        }
        let Some(rx) = self.rx.take() else {
            return Ok(None);
        };
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(standing)) => Ok(Some(standing)),
            _ => self.records.get(&self.id).await.map(settled),
        }
    }
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        self.rx = None;
        self.records.forget(&self.id);
    }
}

fn encode(id: &str, standing: &Standing) -> Result<Bytes, ClusterUnavailable> {
    serde_json::to_vec(standing)
        .map(Bytes::from)
        .map_err(|e| ClusterUnavailable(format!("status of {id}: {e}")))
}

fn lock(
    waiters: &Waiters,
) -> std::sync::MutexGuard<'_, HashMap<String, Vec<oneshot::Sender<Standing>>>> {
    waiters.lock().unwrap_or_else(|p| p.into_inner())
}
