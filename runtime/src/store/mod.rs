//! The embedded durable store (redb): one record per accepted alert, written (and fsynced by
//! redb's commit) before the HTTP answer.
//!
//! Tables: `records` (arrival sequence → the record as JSON), `ids` (client order id → arrival
//! sequence), `queued` (the sequence numbers of records still queued), `streams` ((delivery
//! stream, arrival sequence) of every queued record: what a stream's worker pages its orders
//! from, in arrival order) and `meta` (the next sequence number). Records are keyed by arrival so that new ones append to the right edge of
//! the tree and status changes land on the same recent pages: a batch of commits dirties a few
//! pages, not one random leaf per order (client order ids are hashes). `queued` is what recovery
//! replays, in arrival order; `records` is what the replay window is warmed from, `ids` what
//! `/orders/...` and the replay check look up.

use std::path::Path;

use mts1b_inbound_core::{
    Cancel, CanonicalSymbol, ClientOrderId, Intent, Modification, OrderIntent, Replace,
    StoredModification, StrategyId, UnixMillis,
};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
const IDS: TableDefinition<u128, u64> = TableDefinition::new("ids");
const QUEUED: TableDefinition<u64, ()> = TableDefinition::new("queued");
const STREAMS: TableDefinition<(&str, u64), ()> = TableDefinition::new("streams");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Modifications not yet settled against the outbox ((their stream, arrival sequence)): each is
/// looked at once, by its stream's worker, before anything more of that stream is sent
/// ([`Change::Settle`]).
const UNSETTLED: TableDefinition<(&str, u64), ()> = TableDefinition::new("unsettled");
/// Records that could not be read back at start (arrival sequence → their bytes as found), kept
/// aside for an operator instead of stopping the service or blocking their stream.
const QUARANTINE: TableDefinition<u64, &[u8]> = TableDefinition::new("quarantine");
const NEXT_SEQ: &str = "next_seq";

/// The store's file name inside the data folder.
pub const FILE: &str = "orders.redb";

/// The symbol part of the stream of a cancel-all of every symbol: no canonical symbol is `*`.
pub const EVERY_SYMBOL: &str = "*";

/// The delivery stream of `intent`, as the `streams` table keys it: (fund, strategy, symbol),
/// whose records go to the OMS strictly in arrival order (the parts cannot hold a line break).
/// An order's is its own (SPEC §7); a cancel's or replace's is its
/// target's (the same fund, strategy and symbol); a cancel-all of one symbol that symbol's; a
/// cancel-all of every symbol the scope stream `fund\nstrategy\n*`, a barrier for every
/// stream of the scope.
pub fn stream_of_intent(intent: &Intent) -> String {
    let symbol = intent.symbol().map_or(EVERY_SYMBOL, |s| s.as_str());
    format!("{}\n{}\n{symbol}", intent.fund_id(), intent.strategy_id())
}

/// The scope stream of `stream`: the stream of a cancel-all of every symbol of its fund and
/// strategy.
pub fn scope_of(stream: &str) -> String {
    let prefix = stream
        .rsplit_once('\n')
        .map_or(stream, |(prefix, _)| prefix);
    format!("{prefix}\n{EVERY_SYMBOL}")
}

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
    /// Older than `delivery.max_order_age` before the OMS took it: never sent again (a cancel:
    /// older than `delivery.max_cancel_age`).
    Expired,
    /// An order cancelled: by the OMS, or in the outbox before it was ever sent.
    Cancelled,
    /// An order whose terms the OMS replaced (it works on with the new ones).
    Replaced,
    /// A modification that took effect: the OMS applied it, or the outbox did, before its
    /// target was ever sent.
    Applied,
}

impl Status {
    /// Its name, as `GET /orders` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Submitted => "submitted",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
            Status::Replaced => "replaced",
            Status::Applied => "applied",
        }
    }

    /// True once nothing more will happen to the order.
    pub fn is_final(self) -> bool {
        self != Status::Queued
    }
}

/// One accepted alert and its delivery.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RecordRepr")]
pub struct OrderRecord {
    /// What it asks for: an order, or a modification of one.
    pub intent: Intent,
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
    /// What was done to it since (an order's cancels and replaces), oldest first.
    pub history: Vec<String>,
}

impl OrderRecord {
    /// The order, if the record is one (not a modification).
    pub fn order(&self) -> Option<&OrderIntent> {
        self.intent.order()
    }
}

/// The stored form of a record: an order under `order` (as every record written before
/// modifications existed), a modification under `modification`.
#[derive(Deserialize)]
struct RecordRepr {
    #[serde(default)]
    order: Option<OrderIntent>,
    #[serde(default)]
    modification: Option<StoredModification>,
    status: Status,
    attempts: u32,
    order_id: Option<String>,
    last_error: Option<String>,
    seq: u64,
    accepted_at: UnixMillis,
    updated_at: UnixMillis,
    #[serde(default)]
    history: Vec<String>,
}

impl TryFrom<RecordRepr> for OrderRecord {
    type Error = String;

    fn try_from(r: RecordRepr) -> Result<Self, String> {
        let intent = match (r.order, r.modification) {
            (Some(order), None) => Intent::Submit(order),
            (None, Some(StoredModification(intent))) => intent,
            _ => return Err("a record holds exactly one of order and modification".into()),
        };
        Ok(Self {
            intent,
            status: r.status,
            attempts: r.attempts,
            order_id: r.order_id,
            last_error: r.last_error,
            seq: r.seq,
            accepted_at: r.accepted_at,
            updated_at: r.updated_at,
            history: r.history,
        })
    }
}

impl Serialize for OrderRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut o = s.serialize_struct("OrderRecord", 9)?;
        match &self.intent {
            Intent::Submit(order) => o.serialize_field("order", order)?,
            modification => o.serialize_field("modification", modification)?,
        }
        o.serialize_field("status", &self.status)?;
        o.serialize_field("attempts", &self.attempts)?;
        o.serialize_field("order_id", &self.order_id)?;
        o.serialize_field("last_error", &self.last_error)?;
        o.serialize_field("seq", &self.seq)?;
        o.serialize_field("accepted_at", &self.accepted_at)?;
        o.serialize_field("updated_at", &self.updated_at)?;
        if !self.history.is_empty() {
            o.serialize_field("history", &self.history)?;
        }
        o.end()
    }
}

/// Whether a store change must be on disk before the call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsynced before returning.
    Fsync,
    /// Written with the next durable commit; lost if the process dies first.
    Lazy,
}

/// What recording a newly accepted order did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    /// Recorded as queued, with this arrival sequence number.
    Recorded {
        /// Arrival order, across restarts.
        seq: u64,
    },
    /// Not recorded: the same alert was accepted at this time, within the window (or is still
    /// queued).
    AlreadyAccepted(UnixMillis),
}

/// How an order moves on after an OMS answer (or the lack of one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The OMS accepted it, after `attempts` calls.
    Submitted {
        /// The OMS's id for the order.
        order_id: String,
        /// OMS calls made.
        attempts: u32,
    },
    /// The OMS refused it.
    Rejected {
        /// The OMS's reason.
        reason: String,
        /// OMS calls made.
        attempts: u32,
    },
    /// Older than `delivery.max_order_age` before the OMS took it.
    Expired,
    /// A call failed transiently; it will be retried.
    Retrying {
        /// What went wrong.
        error: String,
        /// OMS calls made.
        attempts: u32,
    },
    /// A modification the OMS applied, after `attempts` calls.
    Applied {
        /// The OMS's id of the order it changed (none for a cancel-all).
        order_id: Option<String>,
        /// OMS calls made.
        attempts: u32,
    },
    /// An order the OMS cancelled or replaced (`status` says which), as `note` tells.
    Modified {
        /// [`Status::Cancelled`] or [`Status::Replaced`].
        status: Status,
        /// What did it, for the record's history.
        note: String,
    },
}

impl Transition {
    /// Whether the change must be on disk before the caller goes on. It follows what a crash
    /// would cost: losing a `submitted` status or an attempt count only means the order is sent
    /// again, and the OMS dedupes it on its client order id, so those are lazy; a `rejected` or
    /// `expired` status is fsynced, because resending a refused or expired order could let
    /// through what was answered as refused.
    pub fn durability(&self) -> Durability {
        match self {
            // A modification the OMS applied is resent after a crash at worst, and the OMS
            // dedupes it on its request id; an order's new state is history, not a promise.
            Transition::Submitted { .. }
            | Transition::Retrying { .. }
            | Transition::Applied { .. }
            | Transition::Modified { .. } => Durability::Lazy,
            Transition::Rejected { .. } | Transition::Expired => Durability::Fsync,
        }
    }

    fn apply(self, record: &mut OrderRecord, now: UnixMillis) {
        match self {
            Transition::Submitted { order_id, attempts } => {
                record.status = Status::Submitted;
                record.order_id = Some(order_id);
                record.attempts = attempts;
            }
            Transition::Rejected { reason, attempts } => {
                record.status = Status::Rejected;
                record.last_error = Some(reason);
                record.attempts = attempts;
            }
            Transition::Expired => record.status = Status::Expired,
            Transition::Retrying { error, attempts } => {
                record.last_error = Some(error);
                record.attempts = attempts;
            }
            Transition::Applied { order_id, attempts } => {
                record.status = Status::Applied;
                record.order_id = order_id;
                record.attempts = attempts;
            }
            Transition::Modified { status, note } => {
                record.status = status;
                record.history.push(note);
            }
        }
        record.updated_at = now;
    }
}

/// One write, applied alone or in one transaction with others ([`OrderStore::apply`]).
#[derive(Clone, Debug)]
pub enum Change {
    /// Records a newly accepted order as queued, with the next arrival sequence number, unless
    /// the same id is still queued or was accepted within `window` before `now`.
    Record {
        /// The order or modification (boxed: it is several times the size of the other
        /// changes).
        intent: Box<Intent>,
        /// When it was accepted.
        now: UnixMillis,
        /// The replay window.
        window: std::time::Duration,
    },
    /// One pruning pass ([`OrderStore::prune`]): through the writer, so it takes its turn
    /// between batches of alerts instead of holding the write lock against them.
    Prune {
        /// Final records accepted before this go.
        before: UnixMillis,
        /// The sequence number the pass starts at.
        from: u64,
        /// The most records the pass looks at.
        max_scan: usize,
    },
    /// Settles the queued modification at arrival sequence `seq` against the outbox
    /// ([`Tables::settle`]): applied there to a target still queued (never sent), refused
    /// for a target no longer active, or left queued for the OMS.
    Settle {
        /// The modification's arrival sequence.
        seq: u64,
        /// When.
        now: UnixMillis,
    },
    /// Moves the order `id` on; a record that becomes final leaves the queue.
    Update {
        /// The order.
        id: ClientOrderId,
        /// When.
        now: UnixMillis,
        /// What happened.
        transition: Transition,
    },
}

impl Change {
    fn durability(&self) -> Durability {
        match self {
            // A prune is durable so that redb releases the pages it frees (see `prune`).
            // A settlement may cancel or rewrite orders before they are sent: durable before
            // anyone is told.
            Change::Record { .. } | Change::Prune { .. } | Change::Settle { .. } => {
                Durability::Fsync
            }
            Change::Update { transition, .. } => transition.durability(),
        }
    }
}

/// What one [`Change`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// What recording did.
    Recorded(Recording),
    /// The updated record; `None` if there was no such order.
    Updated(Option<Box<OrderRecord>>),
    /// What a pruning pass did.
    Pruned(Pruned),
    /// What settling a modification did.
    Settled(Settlement),
}

/// What settling a queued modification against the outbox did ([`Change::Settle`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settlement {
    /// What became of the modification.
    pub resolution: Resolution,
    /// The queued records it cancelled before they were sent, with why.
    pub cancelled: Vec<(ClientOrderId, String)>,
    /// The modification's record after it.
    pub record: Option<Box<OrderRecord>>,
}

/// What became of a modification when it was settled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Resolution {
    /// Applied in the outbox: its target had not been sent and never will be as it was.
    Applied(String),
    /// Refused: its target is not active (or the change does not fit it), with why.
    NotActive(String),
    /// Still queued: for the OMS, in its stream's order.
    #[default]
    Deliver,
    /// Nothing to settle (no such record, or already final).
    Gone,
}

impl Applied {
    pub(crate) fn recording(self) -> Result<Recording, StoreError> {
        match self {
            Applied::Recorded(recording) => Ok(recording),
            _ => Err(mismatch()),
        }
    }

    pub(crate) fn pruned(self) -> Result<Pruned, StoreError> {
        match self {
            Applied::Pruned(pruned) => Ok(pruned),
            _ => Err(mismatch()),
        }
    }

    pub(crate) fn settled(self) -> Result<Settlement, StoreError> {
        match self {
            Applied::Settled(settlement) => Ok(settlement),
            _ => Err(mismatch()),
        }
    }

    pub(crate) fn updated(self) -> Result<Option<Box<OrderRecord>>, StoreError> {
        match self {
            Applied::Updated(record) => Ok(record),
            _ => Err(mismatch()),
        }
    }
}

/// A store failure: the caller answers 503 (nothing recorded) or retries later.
#[derive(Clone, Debug, thiserror::Error)]
#[error("order store: {0}")]
pub struct StoreError(pub(crate) String);

impl From<crate::group_commit::Stopped> for StoreError {
    fn from(e: crate::group_commit::Stopped) -> Self {
        StoreError(e.to_string())
    }
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(e: tokio::task::JoinError) -> Self {
        StoreError(format!("store task failed: {e}"))
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub(crate) fn mismatch() -> StoreError {
    StoreError("a change was answered out of kind".into())
}

fn key(id: &ClientOrderId) -> u128 {
    id.as_uuid().as_u128()
}

/// The tables of one write transaction.
struct Tables<'t> {
    records: redb::Table<'t, u64, &'static [u8]>,
    ids: redb::Table<'t, u128, u64>,
    queued: redb::Table<'t, u64, ()>,
    streams: redb::Table<'t, (&'static str, u64), ()>,
    meta: redb::Table<'t, &'static str, u64>,
    unsettled: redb::Table<'t, (&'static str, u64), ()>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            records: txn.open_table(RECORDS).map_err(err)?,
            ids: txn.open_table(IDS).map_err(err)?,
            queued: txn.open_table(QUEUED).map_err(err)?,
            streams: txn.open_table(STREAMS).map_err(err)?,
            meta: txn.open_table(META).map_err(err)?,
            unsettled: txn.open_table(UNSETTLED).map_err(err)?,
        })
    }

    fn find(&self, id: &ClientOrderId) -> Result<Option<OrderRecord>, StoreError> {
        find(&self.ids, &self.records, id)
    }

    /// Writes `record`. A new record is read back first ([`encode`]); an update is not: it was
    /// just read (so its order decodes) and a transition changes only the status, attempts,
    /// order id, error and time, which read back whatever they hold (the round-trip property
    /// test covers them). Reading back every update cost ~20,000 instructions per delivered
    /// order under callgrind, a third of what an accepted alert gained in this change.
    fn put(&mut self, record: &OrderRecord, new: bool) -> Result<(), StoreError> {
        let bytes = if new {
            encode(record)?
        } else {
            serde_json::to_vec(record).map_err(err)?
        };
        self.records
            .insert(record.seq, bytes.as_slice())
            .map_err(err)?;
        Ok(())
    }

    fn record(
        &mut self,
        intent: Intent,
        now: UnixMillis,
        window: std::time::Duration,
    ) -> Result<Recording, StoreError> {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let id = intent.id();
        let stream = stream_of_intent(&intent);
        let modification = intent.order().is_none();
        if let Some(existing) = self.find(&id)? {
            if !existing.status.is_final() || now.millis_since(existing.accepted_at) < window_ms {
                return Ok(Recording::AlreadyAccepted(existing.accepted_at));
            }
            // Accepted again after the window: the old record gives way to the new one.
            self.records.remove(existing.seq).map_err(err)?;
        }
        let seq = self
            .meta
            .get(NEXT_SEQ)
            .map_err(err)?
            .map_or(0, |v| v.value());
        self.meta.insert(NEXT_SEQ, seq + 1).map_err(err)?;
        self.put(
            &OrderRecord {
                intent,
                status: Status::Queued,
                attempts: 0,
                order_id: None,
                last_error: None,
                seq,
                accepted_at: now,
                updated_at: now,
                history: Vec::new(),
            },
            true,
        )?;
        self.ids.insert(key(&id), seq).map_err(err)?;
        self.queued.insert(seq, ()).map_err(err)?;
        self.streams
            .insert((stream.as_str(), seq), ())
            .map_err(err)?;
        if modification {
            self.unsettled
                .insert((stream.as_str(), seq), ())
                .map_err(err)?;
        }
        Ok(Recording::Recorded { seq })
    }

    fn update(
        &mut self,
        id: &ClientOrderId,
        now: UnixMillis,
        transition: Transition,
    ) -> Result<Option<Box<OrderRecord>>, StoreError> {
        let Some(mut record) = self.find(id)? else {
            return Ok(None);
        };
        let was_final = record.status.is_final();
        transition.apply(&mut record, now);
        self.put(&record, false)?;
        if record.status.is_final() && !was_final {
            self.dequeue(&record)?;
        }
        Ok(Some(Box::new(record)))
    }

    /// Takes a record that became final out of the queue, its stream and the unsettled.
    fn dequeue(&mut self, record: &OrderRecord) -> Result<(), StoreError> {
        self.queued.remove(record.seq).map_err(err)?;
        let stream = stream_of_intent(&record.intent);
        self.streams
            .remove((stream.as_str(), record.seq))
            .map_err(err)?;
        if record.order().is_none() {
            self.unsettled
                .remove((stream.as_str(), record.seq))
                .map_err(err)?;
        }
        Ok(())
    }

    /// Makes `record` final as `status` with a history line: what a settlement does to the
    /// queued records it cancels, and to itself.
    fn finish(
        &mut self,
        mut record: OrderRecord,
        status: Status,
        note: String,
        now: UnixMillis,
    ) -> Result<OrderRecord, StoreError> {
        record.status = status;
        if status == Status::Rejected {
            record.last_error = Some(note.clone());
        }
        record.history.push(note);
        record.updated_at = now;
        self.put(&record, false)?;
        self.dequeue(&record)?;
        Ok(record)
    }

    /// Settles the modification at `seq` against the outbox, in its stream, when nothing of
    /// that stream is being sent (its worker calls it between OMS calls):
    /// - a cancel or replace whose target is still queued is applied here: the target is
    ///   cancelled (never sent) or rewritten with the new terms (sent as such), and the
    ///   modification is final, never sent to the OMS;
    /// - one whose target expired, was rejected or cancelled is refused (`NotActive`);
    /// - a cancel-all cancels every queued record of its scope that arrived before it, and is
    ///   still sent to the OMS (orders already sent may be working);
    /// - anything else stays queued, for the OMS, in its stream's order.
    fn settle(&mut self, seq: u64, now: UnixMillis) -> Result<Settlement, StoreError> {
        let gone = || Settlement {
            resolution: Resolution::Gone,
            ..Settlement::default()
        };
        let Some(record) = self.at(seq)? else {
            return Ok(gone());
        };
        let stream = stream_of_intent(&record.intent);
        self.unsettled.remove((stream.as_str(), seq)).map_err(err)?;
        if record.status.is_final() {
            return Ok(gone());
        }
        let cancelled_by = format!(
            "cancelled before delivery by {} {}",
            record.intent.kind().as_str(),
            record.intent.idempotency_key()
        );
        let mut cancelled = Vec::new();
        let resolution = match &record.intent {
            Intent::Submit(_) => Resolution::Deliver,
            Intent::Cancel(Modification {
                change: Cancel { target, .. },
                ..
            })
            | Intent::Replace(Modification {
                change: Replace { target, .. },
                ..
            }) => match self.find(&target.client_order_id)? {
                None => Resolution::Deliver,
                Some(found) => match refusal(&found, &record.intent) {
                    Some(refused) => Resolution::NotActive(refused.to_string()),
                    None if found.status != Status::Queued => Resolution::Deliver,
                    None => self.apply_before_delivery(
                        found,
                        &record.intent,
                        &cancelled_by,
                        now,
                        &mut cancelled,
                    )?,
                },
            },
            Intent::CancelAll(m) => {
                let scope: Vec<String> = match &m.change.symbol {
                    Some(_) => vec![stream.clone()],
                    None => self.streams_of_scope(&stream)?,
                };
                for queued in scope {
                    for victim in self.queued_before(&queued, seq)? {
                        let Some(victim) = self.at(victim)? else {
                            continue;
                        };
                        let id = victim.intent.id();
                        self.finish(victim, Status::Cancelled, cancelled_by.clone(), now)?;
                        cancelled.push((id, cancelled_by.clone()));
                    }
                }
                Resolution::Deliver
            }
        };
        let record = match &resolution {
            Resolution::Applied(note) => self.finish(record, Status::Applied, note.clone(), now)?,
            Resolution::NotActive(reason) => {
                self.finish(record, Status::Rejected, reason.clone(), now)?
            }
            Resolution::Deliver | Resolution::Gone => record,
        };
        Ok(Settlement {
            resolution,
            cancelled,
            record: Some(Box::new(record)),
        })
    }

    /// The record at arrival sequence `seq`.
    fn at(&self, seq: u64) -> Result<Option<OrderRecord>, StoreError> {
        self.records
            .get(seq)
            .map_err(err)?
            .map(|bytes| decode(bytes.value()))
            .transpose()
    }

    /// Applies a cancel or replace to its `target`, still queued: cancelled (added to
    /// `cancelled`, as `cancelled_by` says), or rewritten.
    fn apply_before_delivery(
        &mut self,
        target: OrderRecord,
        modification: &Intent,
        cancelled_by: &str,
        now: UnixMillis,
        cancelled: &mut Vec<(ClientOrderId, String)>,
    ) -> Result<Resolution, StoreError> {
        match (modification, &target.intent) {
            (Intent::Replace(m), Intent::Submit(order)) => match m.change.applied_to(order) {
                Err(e) => Ok(Resolution::NotActive(refused_change(&e))),
                Ok(replaced) => {
                    let mut target = target;
                    target.intent = Intent::Submit(replaced);
                    target.history.push(format!(
                        "replaced before delivery by replace {}: {}",
                        modification.idempotency_key(),
                        m.change.describe()
                    ));
                    target.updated_at = now;
                    // Read back like a new record: the rewritten order is what will be sent.
                    let bytes = encode(&target)?;
                    self.records
                        .insert(target.seq, bytes.as_slice())
                        .map_err(err)?;
                    Ok(Resolution::Applied(
                        "replaced before delivery: the OMS gets the new terms only".into(),
                    ))
                }
            },
            (Intent::Cancel(_), _) => {
                let id = target.intent.id();
                self.finish(target, Status::Cancelled, cancelled_by.to_owned(), now)?;
                cancelled.push((id, cancelled_by.to_owned()));
                Ok(Resolution::Applied(
                    "cancelled before delivery: the OMS never saw the order".into(),
                ))
            }
            // `refusal` has answered for anything but an order.
            _ => Ok(Resolution::NotActive("the target is not an order".into())),
        }
    }

    /// Every stream with queued records in the scope of the scope stream `scope`
    /// (`fund\nstrategy\n*`), itself excluded.
    fn streams_of_scope(&self, scope: &str) -> Result<Vec<String>, StoreError> {
        let prefix = scope.strip_suffix(EVERY_SYMBOL).unwrap_or(scope);
        let mut found: Vec<String> = Vec::new();
        for entry in self.streams.range((prefix, 0)..).map_err(err)? {
            let key = entry.map_err(err)?.0;
            let (stream, _) = key.value();
            if !stream.starts_with(prefix) {
                break;
            }
            if stream != scope && found.last().map(String::as_str) != Some(stream) {
                found.push(stream.to_owned());
            }
        }
        Ok(found)
    }

    /// The queued records of `stream` that arrived before `seq`.
    fn queued_before(&self, stream: &str, seq: u64) -> Result<Vec<u64>, StoreError> {
        self.streams
            .range((stream, 0)..(stream, seq))
            .map_err(err)?
            .map(|entry| entry.map(|(k, _)| k.value().1).map_err(err))
            .collect()
    }
}

/// Why a modification cannot apply to the order it names (SPEC §13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The order trades another symbol than the modification names.
    OtherSymbol(CanonicalSymbol),
    /// The order belongs to another strategy than the modification's.
    OtherStrategy(StrategyId),
    /// The order is no longer active, with why.
    NotActive(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::OtherSymbol(symbol) => write!(f, "the target order trades {symbol}"),
            Refusal::OtherStrategy(strategy) => {
                write!(f, "the target order belongs to strategy {strategy}")
            }
            Refusal::NotActive(why) => f.write_str(why),
        }
    }
}

/// Why `modification` cannot apply to `target`, if it cannot: another symbol or strategy, or
/// a target no longer active. A record that is not an order is never a target (a target's id
/// is derived as an order's): nothing to refuse.
pub fn refusal(target: &OrderRecord, modification: &Intent) -> Option<Refusal> {
    let order = target.order()?;
    if Some(&order.symbol) != modification.symbol() {
        return Some(Refusal::OtherSymbol(order.symbol.clone()));
    }
    if &order.strategy_id != modification.strategy_id() {
        return Some(Refusal::OtherStrategy(order.strategy_id.clone()));
    }
    not_active_because(target.status, target.last_error.as_deref()).map(Refusal::NotActive)
}

/// Why an order in `status` (refused for `last_error`) can no longer be cancelled or replaced,
/// if it cannot.
pub fn not_active_because(status: Status, last_error: Option<&str>) -> Option<String> {
    Some(match status {
        Status::Queued | Status::Submitted | Status::Replaced | Status::Applied => return None,
        Status::Rejected => format!(
            "the target was rejected: {}",
            last_error.unwrap_or("no reason given")
        ),
        Status::Expired => "the target expired: it was never sent".to_owned(),
        Status::Cancelled => "the target is already cancelled".to_owned(),
    })
}

fn refused_change(e: &mts1b_inbound_core::Rejection) -> String {
    match e {
        mts1b_inbound_core::Rejection::InvalidPayload { field, detail } => {
            format!("{field}: {detail}")
        }
        other => other.code().to_owned(),
    }
}

impl Tables<'_> {
    fn prune(
        &mut self,
        before: UnixMillis,
        from: u64,
        max_scan: usize,
    ) -> Result<Pruned, StoreError> {
        let mut resume = None;
        let mut gone = Vec::new();
        for (scanned, entry) in self.records.range(from..).map_err(err)?.enumerate() {
            let (seq, bytes) = entry.map_err(err)?;
            let seq = seq.value();
            if scanned == max_scan {
                resume = Some(seq);
                break;
            }
            let record = decode(bytes.value())?;
            if record.accepted_at >= before {
                break;
            }
            if record.status.is_final() {
                gone.push((seq, record.intent.id()));
            }
        }
        for (seq, id) in &gone {
            self.records.remove(*seq).map_err(err)?;
            // The id may belong to a newer record of the same alert by now.
            if self.ids.get(key(id)).map_err(err)?.map(|v| v.value()) == Some(*seq) {
                self.ids.remove(key(id)).map_err(err)?;
            }
        }
        Ok(Pruned {
            deleted: gone.len(),
            resume,
        })
    }
}

/// The record of `id`: its sequence number from `ids`, then the record; in a read or a write
/// transaction alike.
fn find(
    ids: &impl ReadableTable<u128, u64>,
    records: &impl ReadableTable<u64, &'static [u8]>,
    id: &ClientOrderId,
) -> Result<Option<OrderRecord>, StoreError> {
    let Some(seq) = ids.get(key(id)).map_err(err)?.map(|v| v.value()) else {
        return Ok(None);
    };
    let record = records.get(seq).map_err(err)?;
    record.map(|bytes| decode(bytes.value())).transpose()
}

fn decode(bytes: &[u8]) -> Result<OrderRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(err)
}

/// The bytes of `record`, refused unless they read back as the same record: the store writes
/// only what it can read, so one odd record can never make it unreadable (a refused `Record` is
/// answered 503 with nothing recorded). Reading back costs a few microseconds per write, in the
/// writer thread.
fn encode(record: &OrderRecord) -> Result<Vec<u8>, StoreError> {
    let bytes = serde_json::to_vec(record).map_err(err)?;
    match decode(&bytes) {
        Ok(back) if back == *record => Ok(bytes),
        Ok(_) => Err(StoreError(format!(
            "record {} would not read back as written",
            record.intent.id()
        ))),
        Err(e) => Err(StoreError(format!(
            "record {} would not read back: {}",
            record.intent.id(),
            e.0
        ))),
    }
}

/// A record found unreadable at start, and moved aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// Its arrival sequence number (its key in the `quarantine` table).
    pub seq: u64,
    /// Its client order id, if that much could be read.
    pub client_order_id: Option<String>,
    /// Why it could not be read.
    pub error: String,
}

/// Moves every record that does not read back into `quarantine`, out of `records`, `queued`
/// and `ids`, in one transaction.
fn quarantine_unreadable(txn: &redb::WriteTransaction) -> Result<Vec<Quarantined>, StoreError> {
    let mut tables = Tables::open(txn)?;
    let mut aside = txn.open_table(QUARANTINE).map_err(err)?;
    let mut found = Vec::new();
    for entry in tables.records.iter().map_err(err)? {
        let (seq, bytes) = entry.map_err(err)?;
        if let Err(e) = decode(bytes.value()) {
            let client_order_id = serde_json::from_slice::<serde_json::Value>(bytes.value())
                .ok()
                .and_then(|v| v["order"]["client_order_id"].as_str().map(str::to_owned));
            found.push((seq.value(), bytes.value().to_vec(), client_order_id, e.0));
        }
    }
    for (seq, bytes, _, _) in &found {
        aside.insert(*seq, bytes.as_slice()).map_err(err)?;
        tables.records.remove(*seq).map_err(err)?;
        tables.queued.remove(*seq).map_err(err)?;
    }
    if !found.is_empty() {
        // Their streams cannot be read from them: found by sequence number.
        let stale: Vec<(String, u64)> = tables
            .streams
            .iter()
            .map_err(err)?
            .filter_map(Result::ok)
            .filter_map(|(k, _)| {
                let (stream, seq) = k.value();
                found
                    .iter()
                    .any(|(q, ..)| *q == seq)
                    .then(|| (stream.to_owned(), seq))
            })
            .collect();
        for (stream, seq) in stale {
            tables.streams.remove((stream.as_str(), seq)).map_err(err)?;
        }
    }
    if !found.is_empty() {
        // Whatever id pointed at them; an id that cannot be read is found by its value.
        let stale: Vec<u128> = tables
            .ids
            .iter()
            .map_err(err)?
            .filter_map(Result::ok)
            .filter(|(_, seq)| found.iter().any(|(q, ..)| *q == seq.value()))
            .map(|(id, _)| id.value())
            .collect();
        for id in stale {
            tables.ids.remove(id).map_err(err)?;
        }
    }
    Ok(found
        .into_iter()
        .map(|(seq, _, client_order_id, error)| Quarantined {
            seq,
            client_order_id,
            error,
        })
        .collect())
}

/// redb's page cache. Its default (1 GiB) would let the process grow with the file; the hot
/// pages are the right edge of `records` and the upper levels of `ids`, which fit easily.
const CACHE_BYTES: usize = 2 << 20;

/// Fills the `streams` table from `queued` when it is empty but orders are queued: a store
/// written before the table existed.
fn index_streams(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut tables = Tables::open(txn)?;
    if !tables.streams.is_empty().map_err(err)? || tables.queued.is_empty().map_err(err)? {
        return Ok(());
    }
    let queued: Vec<u64> = tables
        .queued
        .iter()
        .map_err(err)?
        .map(|entry| entry.map(|(seq, _)| seq.value()).map_err(err))
        .collect::<Result<_, _>>()?;
    for seq in queued {
        let stream = match tables.records.get(seq).map_err(err)? {
            Some(bytes) => stream_of_intent(&decode(bytes.value())?.intent),
            None => continue,
        };
        tables
            .streams
            .insert((stream.as_str(), seq), ())
            .map_err(err)?;
    }
    Ok(())
}

/// Lazy commits in a row before one is made durable anyway (see [`OrderStore::apply`]).
pub const MAX_LAZY_COMMITS: u32 = 1024;

/// The durable order store.
pub struct OrderStore {
    db: Database,
    /// Lazy commits since the last durable one.
    lazy_commits: std::sync::atomic::AtomicU32,
    quarantined: Vec<Quarantined>,
    quarantine_size: u64,
    /// Fault injection for the crate's tests: every update through [`StoreWriter`] fails.
    #[cfg(test)]
    pub(crate) fail_updates: std::sync::atomic::AtomicBool,
}

impl OrderStore {
    /// Opens (creating if needed) the store in `data_dir`. A record that cannot be read back is
    /// quarantined, never a reason not to start: it is moved to the `quarantine` table, out of
    /// the queue, the replay window and `/orders`, logged with its sequence number and id, and
    /// counted ([`OrderStore::quarantined`]).
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(err)?;
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(data_dir.join(FILE))
            .map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        let quarantined = quarantine_unreadable(&txn)?;
        index_streams(&txn)?;
        let quarantine_size = txn
            .open_table(QUARANTINE)
            .map_err(err)?
            .len()
            .map_err(err)?;
        txn.commit().map_err(err)?;
        for q in &quarantined {
            tracing::error!(
                target: "mts1b::store",
                seq = q.seq,
                client_order_id = q.client_order_id.as_deref().unwrap_or("-"),
                error = %q.error,
                "record cannot be read back: quarantined (kept in the quarantine table, never delivered)"
            );
        }
        Ok(Self {
            db,
            lazy_commits: std::sync::atomic::AtomicU32::new(0),
            quarantined,
            quarantine_size,
            #[cfg(test)]
            fail_updates: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The records quarantined when this store was opened.
    pub fn quarantined_at_open(&self) -> &[Quarantined] {
        &self.quarantined
    }

    /// How many records the quarantine table holds (this start's and earlier ones).
    pub fn quarantined(&self) -> u64 {
        self.quarantine_size
    }

    /// Applies `changes` in one write transaction, in order (a later change sees an earlier
    /// one), with one commit: fsynced if any change needs it, lazy otherwise. Either every
    /// change is applied or, on error, none is. This is what group commit batches.
    pub fn apply(&self, changes: Vec<Change>) -> Result<Vec<Applied>, StoreError> {
        use std::sync::atomic::Ordering;
        let mut txn = self.db.begin_write().map_err(err)?;
        let lazy = changes.iter().all(|c| c.durability() == Durability::Lazy);
        // redb holds what lazy commits free until a durable one: delivering 100,000 orders after
        // an outage with no new alert (so no durable commit) grew the process by ~24 MiB. Every
        // MAX_LAZY_COMMITS-th lazy commit is made durable, which bounds that.
        if lazy && self.lazy_commits.fetch_add(1, Ordering::Relaxed) < MAX_LAZY_COMMITS {
            txn.set_durability(redb::Durability::None).map_err(err)?;
        } else {
            self.lazy_commits.store(0, Ordering::Relaxed);
        }
        let applied = {
            let mut tables = Tables::open(&txn)?;
            let mut applied = Vec::with_capacity(changes.len());
            for change in changes {
                applied.push(match change {
                    Change::Record {
                        intent,
                        now,
                        window,
                    } => Applied::Recorded(tables.record(*intent, now, window)?),
                    Change::Settle { seq, now } => Applied::Settled(tables.settle(seq, now)?),
                    Change::Update {
                        id,
                        now,
                        transition,
                    } => Applied::Updated(tables.update(&id, now, transition)?),
                    Change::Prune {
                        before,
                        from,
                        max_scan,
                    } => Applied::Pruned(tables.prune(before, from, max_scan)?),
                });
            }
            applied
        };
        txn.commit().map_err(err)?;
        Ok(applied)
    }

    /// Records a newly accepted order, durably, in a transaction of its own (see
    /// [`Change::Record`]). The check and the write are one transaction: this is the durable half
    /// of the replay window.
    pub fn record(
        &self,
        order: &OrderIntent,
        now: UnixMillis,
        window: std::time::Duration,
    ) -> Result<Recording, StoreError> {
        self.record_intent(&Intent::Submit(order.clone()), now, window)
    }

    /// Records a newly accepted order or modification, as [`OrderStore::record`] does an order.
    pub fn record_intent(
        &self,
        intent: &Intent,
        now: UnixMillis,
        window: std::time::Duration,
    ) -> Result<Recording, StoreError> {
        self.apply_one(Change::Record {
            intent: Box::new(intent.clone()),
            now,
            window,
        })?
        .recording()
    }

    /// Moves the order `id` on, in a transaction of its own (see [`Change::Update`]).
    pub fn update(
        &self,
        id: &ClientOrderId,
        now: UnixMillis,
        transition: Transition,
    ) -> Result<Option<Box<OrderRecord>>, StoreError> {
        self.apply_one(Change::Update {
            id: *id,
            now,
            transition,
        })?
        .updated()
    }

    /// Settles the modification at `seq`, in a transaction of its own (see [`Change::Settle`]).
    pub fn settle(&self, seq: u64, now: UnixMillis) -> Result<Settlement, StoreError> {
        self.apply_one(Change::Settle { seq, now })?.settled()
    }

    fn apply_one(&self, change: Change) -> Result<Applied, StoreError> {
        self.apply(vec![change])?.pop().ok_or_else(mismatch)
    }

    /// Returns the record of `id`.
    pub fn get(&self, id: &ClientOrderId) -> Result<Option<OrderRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let ids = txn.open_table(IDS).map_err(err)?;
        let records = txn.open_table(RECORDS).map_err(err)?;
        find(&ids, &records, id)
    }

    /// The arrival sequence numbers of up to `limit` queued orders of `stream`, oldest first,
    /// skipping `skip` (orders its worker has dealt with whose record is still queued).
    pub fn stream_page(
        &self,
        stream: &str,
        limit: usize,
        skip: &std::collections::BTreeSet<u64>,
    ) -> Result<Vec<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let streams = txn.open_table(STREAMS).map_err(err)?;
        let mut page = Vec::with_capacity(limit.min(64));
        for entry in streams
            .range((stream, 0)..=(stream, u64::MAX))
            .map_err(err)?
        {
            let seq = entry.map_err(err)?.0.value().1;
            if skip.contains(&seq) {
                continue;
            }
            page.push(seq);
            if page.len() == limit {
                break;
            }
        }
        Ok(page)
    }

    /// Returns the record with arrival sequence `seq`.
    pub fn record_at(&self, seq: u64) -> Result<Option<OrderRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let records = txn.open_table(RECORDS).map_err(err)?;
        let record = records.get(seq).map_err(err)?;
        record.map(|bytes| decode(bytes.value())).transpose()
    }

    /// The streams with queued orders, and how many orders are queued in all (what recovery
    /// resumes: each stream's worker pages its own orders).
    pub fn queued_streams(&self) -> Result<(Vec<String>, u64), StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let streams = txn.open_table(STREAMS).map_err(err)?;
        let mut names: Vec<String> = Vec::new();
        let mut queued = 0;
        for entry in streams.iter().map_err(err)? {
            let key = entry.map_err(err)?.0;
            let (stream, _) = key.value();
            queued += 1;
            if names.last().map(String::as_str) != Some(stream) {
                names.push(stream.to_owned());
            }
        }
        Ok((names, queued))
    }

    /// Every modification not yet settled ([`Change::Settle`]): its stream and arrival
    /// sequence, in stream order (what the outbox resumes at start).
    pub fn unsettled(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let unsettled = txn.open_table(UNSETTLED).map_err(err)?;
        unsettled
            .iter()
            .map_err(err)?
            .map(|entry| {
                let (k, _) = entry.map_err(err)?;
                let (stream, seq) = k.value();
                Ok((stream.to_owned(), seq))
            })
            .collect()
    }

    /// Every queued record, in arrival order (all in memory: for tests and tools).
    pub fn queued(&self) -> Result<Vec<OrderRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let queued = txn.open_table(QUEUED).map_err(err)?;
        let records = txn.open_table(RECORDS).map_err(err)?;
        let mut out = Vec::new();
        for entry in queued.iter().map_err(err)? {
            let (seq, _) = entry.map_err(err)?;
            if let Some(bytes) = records.get(seq.value()).map_err(err)? {
                out.push(decode(bytes.value())?);
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
        let records = txn.open_table(RECORDS).map_err(err)?;
        let mut out = Vec::new();
        for entry in records.iter().map_err(err)? {
            let (_, bytes) = entry.map_err(err)?;
            let record = decode(bytes.value())?;
            if record.accepted_at >= since {
                out.push((record.intent.id(), record.accepted_at));
            }
        }
        Ok(out)
    }

    /// Deletes final records accepted before `before`, in arrival order from sequence number
    /// `from`, looking at no more than `max_scan` records, in one transaction. Returns how many
    /// were deleted and where to resume, or `None` once it reached a record accepted at or after
    /// `before`, or the end. The commit is durable although a lost deletion would be harmless:
    /// redb releases the pages it frees only at a durable commit, and a quiet bridge makes none
    /// of its own (pruning 400,000 records lazily grew the process by 3.6 MiB; durably, by
    /// nothing).
    ///
    /// Pruning in short passes keeps the store's writer from waiting behind one long transaction
    /// (a full scan of a few hundred thousand records took over a second under load). Records are
    /// in arrival order, so the first one inside the window ends the pass; a record still queued
    /// is kept and stepped over.
    pub fn prune(
        &self,
        before: UnixMillis,
        from: u64,
        max_scan: usize,
    ) -> Result<Pruned, StoreError> {
        self.apply_one(Change::Prune {
            before,
            from,
            max_scan,
        })?
        .pruned()
    }
}

/// What one pruning pass did ([`OrderStore::prune`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// Records deleted.
    pub deleted: usize,
    /// Where the next pass starts, if there may be more to prune.
    pub resume: Option<u64>,
}

mod writer;

pub use writer::StoreWriter;

#[cfg(test)]
mod tests;
