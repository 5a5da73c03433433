//! The paper OMS: accepts every order and appends it to a JSON-lines journal, flushed to disk
//! (`fdatasync`) before it answers. The embedded default for trying the bridge out; it sits
//! behind the same durable outbox as the real OMS.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mts1b_inbound_core::OrderIntent;
use serde::Serialize;

use super::oms::{OmsAccepted, OmsClient, OmsError};

/// The journal's file name inside the data folder.
pub const JOURNAL: &str = "paper-journal.jsonl";

/// The paper OMS.
pub struct PaperOms {
    path: PathBuf,
    journal: Arc<Mutex<File>>,
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
        let journal = File::options().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            journal: Arc::new(Mutex::new(journal)),
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
        // Blocking I/O on the blocking pool; the lock keeps lines whole and is never held
        // across an await.
        let written = tokio::task::spawn_blocking(move || {
            let mut file = journal
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            file.write_all(&line)?;
            file.sync_data()
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(OmsAccepted {
                order_id,
                duplicate: false,
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
