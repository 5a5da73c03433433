//! The paper OMS: accepts every order and appends it to a JSON-lines journal, flushed to disk
//! (`fdatasync`) before it answers. The embedded default for trying the bridge out.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mts1b_inbound_core::OrderIntent;
use serde::Serialize;

use super::{Delivered, OrderSink, SinkUnavailable};

/// The journal's file name inside the data folder.
pub const JOURNAL: &str = "paper-journal.jsonl";

/// The paper OMS.
pub struct PaperSink {
    path: PathBuf,
    journal: Arc<Mutex<File>>,
}

#[derive(Serialize)]
struct Line<'a> {
    order_id: &'a str,
    order: &'a OrderIntent,
}

impl PaperSink {
    /// Opens (creating if needed) the journal in `data_dir`.
    pub async fn open(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join(JOURNAL);
        let open = path.clone();
        let dir = data_dir.to_owned();
        let journal = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(dir)?;
            File::options().create(true).append(true).open(open)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Self {
            path,
            journal: Arc::new(Mutex::new(journal)),
        })
    }

    /// Returns the journal's path.
    pub fn journal_path(&self) -> &Path {
        &self.path
    }

    /// The paper OMS's id for an order: derived from the client order id, so a retry gets the
    /// same id.
    pub fn order_id(order: &OrderIntent) -> String {
        format!("paper-{}", order.client_order_id)
    }
}

#[async_trait]
impl OrderSink for PaperSink {
    async fn submit(&self, order: &OrderIntent) -> Result<Delivered, SinkUnavailable> {
        let order_id = Self::order_id(order);
        let mut line = serde_json::to_vec(&Line {
            order_id: &order_id,
            order,
        })
        .map_err(|e| SinkUnavailable(format!("cannot encode the order: {e}")))?;
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
            Ok(Ok(())) => Ok(Delivered::Submitted { order_id }),
            Ok(Err(e)) => Err(SinkUnavailable(format!("paper journal: {e}"))),
            Err(e) => Err(SinkUnavailable(format!("paper journal writer: {e}"))),
        }
    }

    fn not_ready(&self) -> Option<String> {
        None
    }
}
