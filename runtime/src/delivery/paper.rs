//! The paper OMS: accepts every order and appends it to a JSON-lines journal, flushed to disk
//! (`fdatasync`) before it answers. The embedded default for trying the bridge out; it sits
//! behind the same durable outbox as the real OMS, and like the real OMS it dedupes on the client
//! order id (a resend after a crash answers `duplicate` and is not journaled twice), across
//! restarts too: the ids are read back from the journal when it opens.
//!
//! It keeps a small book of what it accepted, so that cancels, replaces and cancel-alls
//! (SPEC §13) behave as the real OMS's do: applied and journaled once per request id, an
//! unknown order NOT_FOUND, a cancelled one FAILED_PRECONDITION. Its orders never fill. The
//! book is rebuilt from the journal when it opens, by replaying it in order.

use std::fs::File;
use std::hash::{BuildHasher, Hash};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use mts1b_inbound_core::{
    Cancel, CancelAll, ClientOrderId, Intent, Modification, OrderIntent, Replace,
    StoredModification,
};
use serde::Serialize;

use super::oms::{OmsAccepted, OmsClient, OmsError, OmsModified};
use crate::group_commit::GroupCommit;

/// The journal's file name inside the data folder.
pub const JOURNAL: &str = "paper-journal.jsonl";

/// What one journal line does to the book.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    /// An order of `scope` (fund and strategy) for `symbol` (both hashed).
    Order { scope: u64, symbol: u64 },
    /// Cancel the order `target`.
    Cancel { target: ClientOrderId },
    /// Replace the terms of the order `target`.
    Replace { target: ClientOrderId },
    /// Cancel every working order of `scope`, or of one `symbol` in it.
    CancelAll { scope: u64, symbol: Option<u64> },
}

/// One line for the journal: its id (client order id or request id), what it does, and its
/// JSON line.
struct Entry {
    id: ClientOrderId,
    op: Op,
    line: Vec<u8>,
}

/// What the paper OMS remembers of an id.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Known {
    /// An order, and whether it is still working.
    Order {
        scope: u64,
        symbol: u64,
        working: bool,
    },
    /// A modification it applied, and what it cancelled (for a resend's answer).
    Applied { cancelled: Vec<ClientOrderId> },
}

/// The ids the paper OMS remembers, newest kept. Like the real OMS it dedupes resends; unlike
/// it, its memory is bounded: the outbox resends only orders younger than
/// `delivery.max_order_age` (cancels `max_cancel_age`), far fewer than this, so a bounded
/// memory loses nothing. An order it has forgotten is NOT_FOUND to a cancel, as the real OMS's
/// purged orders are.
const REMEMBERED: usize = 65_536;

type Book = quick_cache::unsync::Cache<ClientOrderId, Known>;

/// What the paper OMS answered one entry: applied (`duplicate` when the id was known), with
/// the orders a modification cancelled; or refused.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Applied {
        duplicate: bool,
        cancelled: Vec<ClientOrderId>,
    },
    Refused(OmsError),
}

/// An answer, or why the journal could not be written.
type Written = Result<Answer, String>;

/// The paper OMS.
pub struct PaperOms {
    path: PathBuf,
    journal: GroupCommit<Entry, Written>,
}

#[derive(Serialize)]
struct Line<'a> {
    order_id: &'a str,
    order: &'a OrderIntent,
}

#[derive(Serialize)]
struct ModificationLine<'a> {
    modification: &'a Intent,
}

/// The most lines one write and fdatasync take.
const MAX_BATCH: usize = 512;

/// A hash of `value` (the book's scopes and symbols): the book is rebuilt from the journal at
/// every open, so it need only be the same within one process.
fn hashed(value: impl Hash) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6d74_7331).hash_one(value)
}

fn scope_of(fund: &impl Hash, strategy: &impl Hash) -> u64 {
    hashed((fund, strategy))
}

/// Sets `key` to `value` in the book, keeping in `undo` what it was.
fn set(
    book: &mut Book,
    key: ClientOrderId,
    value: Known,
    undo: &mut Vec<(ClientOrderId, Option<Known>)>,
) {
    undo.push((key, book.peek(&key).cloned()));
    book.insert(key, value);
}

/// Applies `op` (id `id`, not known yet) to the book, keeping in `undo` what it changed.
fn apply(
    book: &mut Book,
    id: ClientOrderId,
    op: &Op,
    undo: &mut Vec<(ClientOrderId, Option<Known>)>,
) -> Answer {
    let cancelled: Vec<ClientOrderId> = match *op {
        Op::Order { scope, symbol } => {
            let order = Known::Order {
                scope,
                symbol,
                working: true,
            };
            set(book, id, order, undo);
            return Answer::Applied {
                duplicate: false,
                cancelled: Vec::new(),
            };
        }
        Op::Cancel { target } | Op::Replace { target } => {
            match book.peek(&target) {
                Some(Known::Order { working: true, .. }) => {}
                Some(Known::Order { working: false, .. }) => {
                    return Answer::Refused(OmsError::permanent(
                        "failed_precondition",
                        "failed_precondition: already cancelled",
                    ));
                }
                _ => {
                    return Answer::Refused(OmsError::permanent(
                        "not_found",
                        format!("not_found: no order {target}"),
                    ));
                }
            }
            match op {
                Op::Cancel { .. } => vec![target],
                _ => Vec::new(),
            }
        }
        Op::CancelAll { scope, symbol } => book
            .iter()
            .filter_map(|(key, known)| match known {
                Known::Order {
                    scope: s,
                    symbol: sym,
                    working: true,
                } if *s == scope && symbol.is_none_or(|want| want == *sym) => Some(*key),
                _ => None,
            })
            .collect(),
    };
    for &key in &cancelled {
        if let Some(Known::Order { scope, symbol, .. }) = book.peek(&key).cloned() {
            let stopped = Known::Order {
                scope,
                symbol,
                working: false,
            };
            set(book, key, stopped, undo);
        }
    }
    let applied = Known::Applied {
        cancelled: cancelled.clone(),
    };
    set(book, id, applied, undo);
    Answer::Applied {
        duplicate: false,
        cancelled,
    }
}

/// The answer to a resend of `known`.
fn again(known: &Known) -> Answer {
    Answer::Applied {
        duplicate: true,
        cancelled: match known {
            Known::Applied { cancelled } => cancelled.clone(),
            Known::Order { .. } => Vec::new(),
        },
    }
}

/// Appends a batch of lines with one write and one `fdatasync`, skipping ids already in the
/// journal (or earlier in the batch); a refused modification is not journaled. On failure no
/// entry of the batch counts as applied (the book is as before), so a resend writes it again.
fn append(file: &mut File, book: &mut Book, entries: Vec<Entry>) -> Vec<Written> {
    let mut buf = Vec::new();
    let mut undo = Vec::new();
    let out: Vec<Answer> = entries
        .into_iter()
        .map(|entry| match book.peek(&entry.id) {
            Some(known) => again(known),
            None => {
                let answer = apply(book, entry.id, &entry.op, &mut undo);
                if matches!(answer, Answer::Applied { .. }) {
                    buf.extend_from_slice(&entry.line);
                }
                answer
            }
        })
        .collect();
    if buf.is_empty() {
        return out.into_iter().map(Ok).collect();
    }
    if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
        for (key, before) in undo.into_iter().rev() {
            match before {
                Some(known) => book.insert(key, known),
                None => {
                    book.remove(&key);
                }
            }
        }
        return out
            .into_iter()
            .map(|answer| match answer {
                Answer::Applied {
                    duplicate: false, ..
                } => Err(e.to_string()),
                other => Ok(other),
            })
            .collect();
    }
    out.into_iter().map(Ok).collect()
}

/// What a journal line does to the book, read back at open (`None`: not a line it wrote).
fn replayed(line: &str) -> Option<(ClientOrderId, Op)> {
    #[derive(serde::Deserialize)]
    struct Any {
        #[serde(default)]
        order: Option<OrderIntent>,
        #[serde(default)]
        modification: Option<StoredModification>,
    }
    let any: Any = serde_json::from_str(line).ok()?;
    let intent = match (any.order, any.modification) {
        (Some(order), _) => Intent::Submit(order),
        (None, Some(StoredModification(intent))) => intent,
        (None, None) => return None,
    };
    Some((intent.id(), op_of(&intent)))
}

/// What `intent` does to the book.
fn op_of(intent: &Intent) -> Op {
    let scope = scope_of(intent.fund_id(), intent.strategy_id());
    match intent {
        Intent::Submit(order) => Op::Order {
            scope,
            symbol: hashed(&order.symbol),
        },
        Intent::Cancel(m) => Op::Cancel {
            target: m.change.target.client_order_id,
        },
        Intent::Replace(m) => Op::Replace {
            target: m.change.target.client_order_id,
        },
        Intent::CancelAll(m) => Op::CancelAll {
            scope,
            symbol: m.change.symbol.as_ref().map(hashed),
        },
    }
}

impl PaperOms {
    /// Opens (creating if needed) the journal in `data_dir`, rebuilds its book, and starts its
    /// writer thread.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(JOURNAL);
        let mut file = File::options().create(true).append(true).open(&path)?;
        let mut book = Book::new(REMEMBERED);
        for line in BufReader::new(File::open(&path)?).lines() {
            if let Some((id, op)) = replayed(&line?)
                && !book.contains_key(&id)
            {
                apply(&mut book, id, &op, &mut Vec::new());
            }
        }
        let journal = GroupCommit::spawn("paper-journal", MAX_BATCH, move |entries| {
            append(&mut file, &mut book, entries)
        })?;
        Ok(Self { path, journal })
    }

    /// Returns the journal's path.
    pub fn journal_path(&self) -> &Path {
        &self.path
    }

    /// The paper OMS's id for an order: derived from the client order id, so a resend gets the
    /// same id.
    pub fn order_id(order: &OrderIntent) -> String {
        Self::order_id_of(&order.client_order_id)
    }

    fn order_id_of(id: &ClientOrderId) -> String {
        format!("paper-{id}")
    }

    /// Journals one entry and answers it.
    async fn run(&self, id: ClientOrderId, op: Op, line: Vec<u8>) -> Result<Answer, OmsError> {
        let entry = Entry { id, op, line };
        match self.journal.run("paper journal", entry).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(OmsError::transient(
                "journal",
                format!("paper journal: {e}"),
            )),
            Err(e) => Err(OmsError::transient("journal", e.to_string())),
        }
    }

    /// Journals a modification and answers it as the real OMS would.
    async fn modify(
        &self,
        intent: Intent,
        target: Option<&ClientOrderId>,
    ) -> Result<OmsModified, OmsError> {
        let mut line = serde_json::to_vec(&ModificationLine {
            modification: &intent,
        })
        .map_err(|e| OmsError::permanent("encoding", format!("cannot encode it: {e}")))?;
        line.push(b'\n');
        match self.run(intent.id(), op_of(&intent), line).await? {
            Answer::Applied {
                duplicate,
                cancelled,
            } => Ok(OmsModified {
                order_id: target.map(Self::order_id_of),
                cancelled: cancelled.into_iter().map(|id| id.to_string()).collect(),
                duplicate,
            }),
            Answer::Refused(e) => Err(e),
        }
    }
}

#[async_trait]
impl OmsClient for PaperOms {
    async fn submit(&self, order: &OrderIntent) -> Result<OmsAccepted, OmsError> {
        let order_id = Self::order_id(order);
        let mut line = serde_json::to_vec(&Line {
            order_id: &order_id,
            order,
        })
        .map_err(|e| OmsError::permanent("encoding", format!("cannot encode the order: {e}")))?;
        line.push(b'\n');
        let op = Op::Order {
            scope: scope_of(&order.fund_id, &order.strategy_id),
            symbol: hashed(&order.symbol),
        };
        match self.run(order.client_order_id, op, line).await? {
            Answer::Applied { duplicate, .. } => Ok(OmsAccepted {
                order_id,
                duplicate,
            }),
            Answer::Refused(e) => Err(e),
        }
    }

    async fn cancel(&self, cancel: &Modification<Cancel>) -> Result<OmsModified, OmsError> {
        let target = cancel.change.target.client_order_id;
        self.modify(Intent::Cancel(cancel.clone()), Some(&target))
            .await
    }

    async fn replace(&self, replace: &Modification<Replace>) -> Result<OmsModified, OmsError> {
        let target = replace.change.target.client_order_id;
        self.modify(Intent::Replace(replace.clone()), Some(&target))
            .await
    }

    async fn cancel_all(
        &self,
        cancel_all: &Modification<CancelAll>,
    ) -> Result<OmsModified, OmsError> {
        self.modify(Intent::CancelAll(cancel_all.clone()), None)
            .await
    }

    async fn unreachable(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use mts1b_inbound_core::testing::order;
    use mts1b_inbound_core::{
        Actor, CanonicalSymbol, FundId, IdempotencyKey, StrategyId, Target, UnixMillis,
    };

    use super::*;

    fn id(n: u8) -> ClientOrderId {
        ClientOrderId::derive(
            "t",
            &FundId::parse("f").unwrap(),
            &IdempotencyKey::parse(&n.to_string()).unwrap(),
        )
    }

    fn entry(n: u8) -> Entry {
        Entry {
            id: id(n),
            op: Op::Order {
                scope: 1,
                symbol: 1,
            },
            line: format!("{n}\n").into_bytes(),
        }
    }

    fn applied(duplicate: bool) -> Written {
        Ok(Answer::Applied {
            duplicate,
            cancelled: Vec::new(),
        })
    }

    #[test]
    fn a_batch_journals_each_id_once_with_one_write() {
        let path = std::env::temp_dir().join(format!("mts1b-paper-batch-{}", std::process::id()));
        let mut file = File::create(&path).unwrap();
        let mut book = Book::new(16);
        apply(&mut book, id(9), &entry(9).op, &mut Vec::new());
        let written = append(
            &mut file,
            &mut book,
            vec![entry(1), entry(1), entry(9), entry(2)],
        );
        assert_eq!(
            written,
            [applied(false), applied(true), applied(true), applied(false)]
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n2\n");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_failed_write_journals_nothing_of_its_batch() {
        // A read-only handle: every write fails.
        let path = std::env::temp_dir().join(format!("mts1b-paper-ro-{}", std::process::id()));
        std::fs::write(&path, "").unwrap();
        let mut file = File::open(&path).unwrap();
        let mut book = Book::new(16);
        apply(&mut book, id(2), &entry(2).op, &mut Vec::new());
        let cancel = Entry {
            id: id(3),
            op: Op::Cancel { target: id(2) },
            line: b"3\n".to_vec(),
        };
        let written = append(&mut file, &mut book, vec![entry(1), cancel]);
        assert!(written.iter().all(Result::is_err), "{written:?}");
        assert!(!book.contains_key(&id(1)), "a resend must write it again");
        assert!(!book.contains_key(&id(3)));
        assert_eq!(
            book.peek(&id(2)),
            Some(&Known::Order {
                scope: 1,
                symbol: 1,
                working: true
            }),
            "the cancel that was not journaled did not happen"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_resend_is_a_duplicate_even_after_reopening() {
        let dir = std::env::temp_dir().join(format!("mts1b-paper-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (a, b) = (
            order("f", "a", UnixMillis(1)),
            order("f", "b", UnixMillis(1)),
        );
        {
            let paper = PaperOms::open(&dir).unwrap();
            assert!(!paper.submit(&a).await.unwrap().duplicate);
            let again = paper.submit(&a).await.unwrap();
            assert!(again.duplicate);
            assert_eq!(again.order_id, PaperOms::order_id(&a));
        }
        let paper = PaperOms::open(&dir).unwrap();
        assert!(
            paper.submit(&a).await.unwrap().duplicate,
            "known after a restart"
        );
        assert!(!paper.submit(&b).await.unwrap().duplicate);
        let lines = std::fs::read_to_string(paper.journal_path())
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, 2, "each order journaled once");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn modification<C: mts1b_inbound_core::Change>(key: &str, change: C) -> Modification<C> {
        Modification::new(
            "tradingview".into(),
            FundId::parse("f").unwrap(),
            StrategyId::parse("s").unwrap(),
            IdempotencyKey::parse(key).unwrap(),
            Actor::parse("tradingview").unwrap(),
            UnixMillis(1),
            change,
        )
    }

    fn cancel_of(key: &str, target: &str) -> Modification<Cancel> {
        modification(
            key,
            Cancel {
                target: Target::of(
                    "tradingview",
                    &FundId::parse("f").unwrap(),
                    IdempotencyKey::parse(target).unwrap(),
                ),
                symbol: CanonicalSymbol::parse("BTC-USD").unwrap(),
            },
        )
    }

    /// The paper OMS answers modifications as the real OMS does, from a book it rebuilds from
    /// its journal: applied once per request id, unknown and cancelled orders refused.
    #[tokio::test]
    async fn modifications_act_on_the_book_and_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("mts1b-paper-mod-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let placed = |key: &str, symbol: &str| {
            let mut o = order("f", key, UnixMillis(1));
            o.client_order_id =
                ClientOrderId::derive("tradingview", &o.fund_id, &o.idempotency_key);
            o.source = "tradingview".into();
            o.strategy_id = StrategyId::parse("s").unwrap();
            o.symbol = CanonicalSymbol::parse(symbol).unwrap();
            o
        };
        let (a, b, c) = (
            placed("a", "BTC-USD"),
            placed("b", "BTC-USD"),
            placed("c", "ETH-USD"),
        );
        {
            let paper = PaperOms::open(&dir).unwrap();
            let unknown = paper.cancel(&cancel_of("x1", "a")).await.unwrap_err();
            assert_eq!(unknown.label, "not_found");
            for o in [&a, &b, &c] {
                paper.submit(o).await.unwrap();
            }
            let done = paper.cancel(&cancel_of("x2", "a")).await.unwrap();
            assert_eq!(done.order_id, Some(PaperOms::order_id(&a)));
            assert!(!done.duplicate);
            assert!(paper.cancel(&cancel_of("x2", "a")).await.unwrap().duplicate);
            let twice = paper.cancel(&cancel_of("x3", "a")).await.unwrap_err();
            assert_eq!(twice.message, "failed_precondition: already cancelled");
            let btc_only = modification(
                "x4",
                CancelAll {
                    symbol: Some(CanonicalSymbol::parse("BTC-USD").unwrap()),
                },
            );
            let cleared = paper.cancel_all(&btc_only).await.unwrap();
            assert_eq!(cleared.cancelled, [b.client_order_id.to_string()]);
        }
        let paper = PaperOms::open(&dir).unwrap();
        let after = paper.cancel(&cancel_of("x5", "b")).await.unwrap_err();
        assert_eq!(
            after.label, "failed_precondition",
            "rebuilt from the journal"
        );
        assert!(paper.cancel(&cancel_of("x6", "c")).await.is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
