//! The paper OMS: accepts every order and appends it to a JSON-lines journal, flushed to disk
//! (`fdatasync`) before it answers. The embedded default for trying the bridge out; it sits
//! behind the same durable outbox as the real OMS, and like the real OMS it dedupes on the client
//! order id (a resend after a crash answers `duplicate` and is not journaled twice), across
//! restarts too: the ids are read back from the journal when it opens.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mts1b_inbound_core::OrderIntent;
use serde::Serialize;

use super::oms::{OmsAccepted, OmsClient, OmsError};

/// The journal's file name inside the data folder.
pub const JOURNAL: &str = "paper-journal.jsonl";

/// The journal and the client order ids already in it, behind one lock.
struct Journal {
    file: File,
    ids: HashSet<String>,
}

/// The paper OMS.
pub struct PaperOms {
    path: PathBuf,
    journal: Arc<Mutex<Journal>>,
}

#[derive(Serialize)]
struct Line<'a> {
    order_id: &'a str,
    order: &'a OrderIntent,
}

impl PaperOms {
    /// Opens (creating if needed) the journal in `data_dir`.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(JOURNAL);
        let file = File::options().create(true).append(true).open(&path)?;
        let mut ids = HashSet::new();
        for line in BufReader::new(File::open(&path)?).lines() {
            let line: serde_json::Value = serde_json::from_str(&line?).unwrap_or_default();
            if let Some(id) = line["order"]["client_order_id"].as_str() {
                ids.insert(id.to_owned());
            }
        }
        Ok(Self {
            path,
            journal: Arc::new(Mutex::new(Journal { file, ids })),
        })
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
        let journal = self.journal.clone();
        let id = order.client_order_id.to_string();
        // Blocking I/O on the blocking pool; the lock keeps lines whole and the id check and the
        // write together, and is never held across an await.
        let written = tokio::task::spawn_blocking(move || {
            let mut journal = journal
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if journal.ids.contains(&id) {
                return Ok(true);
            }
            journal.file.write_all(&line)?;
            journal.file.sync_data()?;
            journal.ids.insert(id);
            Ok::<bool, std::io::Error>(false)
        })
        .await;
        match written {
            Ok(Ok(duplicate)) => Ok(OmsAccepted {
                order_id,
                duplicate,
            }),
            Ok(Err(e)) => Err(OmsError::transient(
                "journal",
                format!("paper journal: {e}"),
            )),
            Err(e) => Err(OmsError::transient(
                "journal",
                format!("paper journal writer: {e}"),
            )),
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
}
