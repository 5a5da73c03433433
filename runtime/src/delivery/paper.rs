//! The paper OMS: accepts every order and appends it to a JSON-lines journal, flushed to disk
//! (`fdatasync`) before it answers. The embedded default for trying the bridge out; it sits
//! behind the same durable outbox as the real OMS, and like the real OMS it dedupes on the client
//! order id (a resend after a crash answers `duplicate` and is not journaled twice), across
//! restarts too: the ids are read back from the journal when it opens.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use mts1b_inbound_core::{ClientOrderId, OrderIntent};
use serde::Serialize;

use super::oms::{OmsAccepted, OmsClient, OmsError};
use crate::group_commit::GroupCommit;

/// The journal's file name inside the data folder.
pub const JOURNAL: &str = "paper-journal.jsonl";

/// One line for the journal: the order's client order id and its JSON line.
struct Entry {
    id: u128,
    line: Vec<u8>,
}

/// The client order ids the paper OMS remembers, newest kept. Like the real OMS it dedupes
/// resends; unlike it, its memory is bounded: the outbox resends only orders younger than
/// `delivery.max_order_age`, far fewer than this, so a bounded memory loses nothing.
const REMEMBERED: usize = 65_536;

type Known = quick_cache::unsync::Cache<u128, ()>;

/// Whether a line was new, or an id already journaled; or why the write failed.
type Written = Result<bool, String>;

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

/// The most lines one write and fdatasync take.
const MAX_BATCH: usize = 512;

/// Appends a batch of lines with one write and one `fdatasync`, skipping ids already in the
/// journal (or earlier in the batch). On failure no id of the batch counts as journaled, so a
/// resend writes it again.
fn append(file: &mut File, ids: &mut Known, entries: Vec<Entry>) -> Vec<Written> {
    let mut buf = Vec::new();
    let mut fresh = Vec::new();
    let mut out: Vec<Written> = entries
        .into_iter()
        .map(|entry| {
            if ids.contains_key(&entry.id) {
                Ok(true)
            } else {
                ids.insert(entry.id, ());
                buf.extend_from_slice(&entry.line);
                fresh.push(entry.id);
                Ok(false)
            }
        })
        .collect();
    if buf.is_empty() {
        return out;
    }
    if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
        for id in &fresh {
            ids.remove(id);
        }
        for written in &mut out {
            if *written == Ok(false) {
                *written = Err(e.to_string());
            }
        }
    }
    out
}

impl PaperOms {
    /// Opens (creating if needed) the journal in `data_dir`, and starts its writer thread.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(JOURNAL);
        let mut file = File::options().create(true).append(true).open(&path)?;
        let mut ids = Known::new(REMEMBERED);
        for line in BufReader::new(File::open(&path)?).lines() {
            let line: serde_json::Value = serde_json::from_str(&line?).unwrap_or_default();
            if let Some(id) = line["order"]["client_order_id"]
                .as_str()
                .and_then(|id| ClientOrderId::parse(id).ok())
            {
                ids.insert(id.as_uuid().as_u128(), ());
            }
        }
        let journal = GroupCommit::spawn("paper-journal", MAX_BATCH, move |entries| {
            append(&mut file, &mut ids, entries)
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
        format!("paper-{}", order.client_order_id)
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
        let entry = Entry {
            id: order.client_order_id.as_uuid().as_u128(),
            line,
        };
        match self.journal.run("paper journal", entry).await {
            Ok(Ok(duplicate)) => Ok(OmsAccepted {
                order_id,
                duplicate,
            }),
            Ok(Err(e)) => Err(OmsError::transient(
                "journal",
                format!("paper journal: {e}"),
            )),
            Err(e) => Err(OmsError::transient("journal", e.to_string())),
        }
    }

    async fn unreachable(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use mts1b_inbound_core::UnixMillis;
    use mts1b_inbound_core::testing::order;

    use super::*;

    #[test]
    fn a_batch_journals_each_id_once_with_one_write() {
        let path = std::env::temp_dir().join(format!("mts1b-paper-batch-{}", std::process::id()));
        let mut file = File::create(&path).unwrap();
        let mut ids = Known::new(16);
        ids.insert(9, ());
        let entry = |id: u128| Entry {
            id,
            line: format!("{id}\n").into_bytes(),
        };
        let written = append(
            &mut file,
            &mut ids,
            vec![entry(1), entry(1), entry(9), entry(2)],
        );
        assert_eq!(written, [Ok(false), Ok(true), Ok(true), Ok(false)]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n2\n");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_failed_write_journals_nothing_of_its_batch() {
        // A read-only handle: every write fails.
        let path = std::env::temp_dir().join(format!("mts1b-paper-ro-{}", std::process::id()));
        std::fs::write(&path, "").unwrap();
        let mut file = File::open(&path).unwrap();
        let mut ids = Known::new(16);
        let written = append(
            &mut file,
            &mut ids,
            vec![Entry {
                id: 1,
                line: b"1\n".to_vec(),
            }],
        );
        assert!(written[0].is_err(), "{written:?}");
        assert!(!ids.contains_key(&1), "a resend must write it again");
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

    /// Until the paper OMS keeps a book, a modification is refused, permanently and saying
    /// so: never a pretended cancel.
    #[tokio::test]
    async fn a_modification_is_refused_not_pretended() {
        use mts1b_inbound_core::{
            Actor, Cancel, CanonicalSymbol, FundId, IdempotencyKey, Modification, StrategyId,
            Target,
        };
        let dir = std::env::temp_dir().join(format!("mts1b-paper-mod-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let paper = PaperOms::open(&dir).unwrap();
        let fund = FundId::parse("f").unwrap();
        let key = IdempotencyKey::parse("a").unwrap();
        let cancel = Modification::new(
            "tradingview".into(),
            fund.clone(),
            StrategyId::parse("s").unwrap(),
            IdempotencyKey::parse("undo").unwrap(),
            Actor::parse("tradingview").unwrap(),
            UnixMillis(1),
            Cancel {
                target: Target::of("tradingview", &fund, key),
                symbol: CanonicalSymbol::parse("BTC-USD").unwrap(),
            },
        );
        let refused = paper.cancel(&cancel).await.unwrap_err();
        assert_eq!(refused.class, crate::delivery::oms::ErrorClass::Permanent);
        assert_eq!(refused.message, "this OMS cannot modify orders");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
