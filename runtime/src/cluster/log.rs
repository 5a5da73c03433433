//! The replicated order record (SPEC §14): every accepted order and modification is a message
//! of the stream `{prefix}_ORDERS`, on the subject of its (fund, strategy, symbol) stream
//! (`{prefix}.orders.<fund>.<strategy>.<symbol>`, each an encoded token), with its id as
//! `Nats-Msg-Id`. The answer waits for JetStream's acknowledgement: a 2xx means the stream holds
//! it, on as many nodes as `cluster.nats.replicas`. A resend within the stream's duplicate
//! window (the replay window) is acknowledged as a duplicate of the stored message, with the
//! same sequence: the sender whose first acknowledgement timed out gets the answer the first
//! would have had.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage as Publish;
use async_nats::jetstream::stream::{self, RawMessageErrorKind};
use bytes::Bytes;
use mts1b_inbound_core::{Intent, OrderIntent, StoredModification};

use super::{Cluster, ClusterUnavailable, keys};

/// The stream of accepted orders.
#[derive(Clone, Debug)]
pub struct OrderLog {
    cluster: Cluster,
    stream: String,
    subjects: String,
}

/// The symbol of a cancel-all of every symbol's stream: no canonical symbol is `*`.
const EVERY_SYMBOL: &str = "*";

/// The stream of the cancel-alls of every symbol of `subject`'s (fund, strategy): its scope,
/// whose every stream such a cancel-all is a barrier for.
pub fn scope_of(subject: &str) -> String {
    let head = subject.rsplit_once('.').map_or(subject, |(head, _)| head);
    format!("{head}.{}", keys::token(EVERY_SYMBOL))
}

/// The subjects of the log `stream` matching `filter` (`{prefix}.orders.>`), as the server
/// lists them.
pub async fn subjects_matching(
    stream: &stream::Stream,
    filter: String,
) -> Result<Vec<String>, ClusterUnavailable> {
    use futures_util::StreamExt;
    let unavailable = |e: &dyn std::fmt::Display| ClusterUnavailable(format!("{filter}: {e}"));
    let mut subjects = stream
        .clone()
        .info_with_subjects(filter.clone())
        .await
        .map_err(|e| unavailable(&e))?;
    let mut all = Vec::new();
    while let Some(entry) = subjects.next().await {
        all.push(entry.map_err(|e| unavailable(&e))?.0);
    }
    Ok(all)
}

/// Whether `subject` is a scope's stream ([`scope_of`]).
pub fn is_scope(subject: &str) -> bool {
    scope_of(subject) == subject
}

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored now, at this stream sequence.
    Stored(u64),
    /// Already stored (the same id within the duplicate window), at this sequence.
    AlreadyStored(u64),
}

impl OrderLog {
    /// The stream of `cluster` (created if missing): file storage, the configured replicas,
    /// de-duplication by id over `duplicate_window`, messages kept for `keep` (longer than any
    /// order may wait: `delivery.max_cancel_age` and more).
    pub async fn open(
        cluster: &Cluster,
        duplicate_window: Duration,
        keep: Duration,
    ) -> Result<Self, ClusterUnavailable> {
        let prefix = &cluster.settings.prefix;
        let (name, subjects) = (format!("{prefix}_ORDERS"), format!("{prefix}.orders"));
        let config = stream::Config {
            name: name.clone(),
            subjects: vec![format!("{subjects}.>")],
            storage: stream::StorageType::File,
            num_replicas: cluster.settings.replicas,
            duplicate_window,
            max_age: keep,
            ..Default::default()
        };
        let created = cluster.jetstream.create_stream(config).await;
        if let Err(e) = cluster.jetstream.get_stream(&name).await {
            let why = created.err().map_or(e.to_string(), |c| c.to_string());
            return Err(ClusterUnavailable(format!("stream {name}: {why}")));
        }
        Ok(Self {
            cluster: cluster.clone(),
            stream: name,
            subjects,
        })
    }

    /// The connection it appends on.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// What the message at `seq` holds, if it is still there and readable.
    pub async fn read(&self, seq: u64) -> Result<Option<Intent>, ClusterUnavailable> {
        let stream = self
            .cluster
            .jetstream
            .get_stream_no_info(&self.stream)
            .await
            .map_err(|e| ClusterUnavailable(format!("stream {}: {e}", self.stream)))?;
        match stream.get_raw_message(seq).await {
            Ok(message) => Ok(decode(&message.payload).ok()),
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(ClusterUnavailable(format!("read {seq}: {e}"))),
        }
    }

    /// The filter every stream of the log matches.
    pub fn every_subject(&self) -> String {
        format!("{}.>", self.subjects)
    }

    /// A stream's subject as the embedded store names the stream (fund, strategy and symbol,
    /// one a line; `*` for every symbol); the subject itself if it is not one of the log's.
    pub fn stream_of_subject(&self, subject: &str) -> String {
        let named = subject
            .strip_prefix(&self.subjects)
            .and_then(|rest| rest.strip_prefix('.'))
            .map(|rest| {
                rest.split('.')
                    .map(keys::untoken)
                    .collect::<Option<Vec<_>>>()
            });
        match named {
            Some(Some(parts)) if parts.len() == 3 => parts.join("\n"),
            _ => subject.to_owned(),
        }
    }

    /// The subject of `intent`'s (fund, strategy, symbol) stream; a cancel-all of every symbol
    /// has its scope's own ([`scope_of`]).
    pub fn subject_of(&self, intent: &Intent) -> String {
        let symbol = intent.symbol().map_or(EVERY_SYMBOL, |s| s.as_str());
        format!(
            "{}.{}.{}.{}",
            self.subjects,
            keys::token(intent.fund_id().as_str()),
            keys::token(intent.strategy_id().as_str()),
            keys::token(symbol)
        )
    }

    /// Appends `intent`, keyed by its id, and waits for JetStream's acknowledgement.
    pub async fn append(&self, intent: &Intent) -> Result<Appended, ClusterUnavailable> {
        let body = encode(intent).map_err(|e| ClusterUnavailable(format!("order record: {e}")))?;
        self.append_raw(
            &self.subject_of(intent),
            &intent.id().to_string(),
            body.into(),
        )
        .await
    }

    /// Appends `body` on `subject` with message id `id`.
    pub async fn append_raw(
        &self,
        subject: &str,
        id: &str,
        body: Bytes,
    ) -> Result<Appended, ClusterUnavailable> {
        let unavailable = |e: &dyn std::fmt::Display| ClusterUnavailable(format!("publish: {e}"));
        let ack = self
            .cluster
            .jetstream
            .send_publish(
                subject.to_owned(),
                Publish::build().payload(body).message_id(id),
            )
            .await
            .map_err(|e| unavailable(&e))?
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(if ack.duplicate {
            Appended::AlreadyStored(ack.sequence)
        } else {
            Appended::Stored(ack.sequence)
        })
    }
}

/// A message's body: an order as the embedded store writes one (`OrderIntent`'s JSON), a
/// modification in its flat form (which names its kind).
pub fn encode(intent: &Intent) -> Result<Vec<u8>, serde_json::Error> {
    match intent {
        Intent::Submit(order) => serde_json::to_vec(order),
        modification => serde_json::to_vec(modification),
    }
}

/// Reads a message's body back, re-validated: a modification if it names its kind, else an
/// order.
pub fn decode(body: &[u8]) -> Result<Intent, serde_json::Error> {
    match serde_json::from_slice::<StoredModification>(body) {
        Ok(StoredModification(intent)) => Ok(intent),
        Err(_) => serde_json::from_slice::<OrderIntent>(body).map(Intent::Submit),
    }
}
