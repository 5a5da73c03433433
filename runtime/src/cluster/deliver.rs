//! Delivery from the order log (SPEC §14): the replica holding a stream's lease sends that
//! stream's orders to the OMS in stream-sequence order, from the stream's delivered mark.
//!
//! The mark (bucket `{prefix}_progress`, one key per subject) is the sequence of the last
//! message of the subject that is settled: sent and answered, or expired. It advances by
//! compare-and-set after the OMS answered, so a replica that dies between the OMS's answer and
//! the mark leaves exactly that one order to be sent again by the next holder, with the same
//! client order id (the OMS de-duplicates it). Before every OMS call the holder renews its lease
//! and stops the moment it cannot: a stream has one deliverer at a time.
//!
//! Built: new orders (a transient failure retried with back-off, a permanent one settled as
//! rejected, an order older than `delivery.max_order_age` never sent, a record that cannot be
//! read set aside), each outcome recorded ([`super::status`]) before the mark passes it. Which
//! streams a replica drains is [`super::dispatch`]'s. Not yet: modifications, the follow-ups;
//! the configuration refuses the backend until they are.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use bytes::Bytes;
use mts1b_inbound_core::{Clock, Intent, OrderIntent};

use super::lease::{Lease, Leases, NotHeld};
use super::log::OrderLog;
use super::status::{Standing, StatusRecords};
use super::{Cluster, ClusterUnavailable, keys};
use crate::delivery::EXPIRED;
use crate::delivery::oms::{ErrorClass, OmsClient};
use crate::store::Status;

/// What became of one order of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The OMS accepted it, with its id.
    Submitted(String),
    /// The OMS refused it for good.
    Rejected(String),
    /// Older than `max_order_age` when its turn came: never sent.
    Expired,
    /// Its record could not be read back: never sent, logged at ERROR.
    Unreadable(String),
}

impl Outcome {
    /// The status record of an order of sequence `seq` that came to this after `attempts`
    /// OMS calls. An unreadable record reads as rejected, saying why.
    pub fn standing(&self, seq: u64, attempts: u32) -> Standing {
        let (status, order_id, reason) = match self {
            Outcome::Submitted(order_id) => (Status::Submitted, Some(order_id.clone()), None),
            Outcome::Rejected(reason) => (Status::Rejected, None, Some(reason.clone())),
            Outcome::Expired => (Status::Expired, None, Some(EXPIRED.to_owned())),
            Outcome::Unreadable(why) => (
                Status::Rejected,
                None,
                Some(format!("the order record cannot be read: {why}")),
            ),
        };
        Standing {
            status,
            attempts,
            order_id,
            reason,
            seq,
        }
    }
}

/// Why a drain stopped before the stream was empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Another replica holds the stream now.
    LeaseLost,
    /// NATS could not answer.
    Unavailable(ClusterUnavailable),
    /// A message this replica cannot deliver yet (a modification), left for a later version.
    Unsupported(u64),
}

/// Sends the orders of the log's streams.
pub struct Deliverer {
    stream: Stream,
    progress: kv::Store,
    status: StatusRecords,
    leases: Leases,
    oms: Arc<dyn OmsClient>,
    clock: Arc<dyn Clock>,
    max_order_age: Duration,
    backoff: Duration,
}

impl Deliverer {
    /// A deliverer of `log` to `oms`, holding streams through `leases`, recording each order's
    /// outcome in `status`.
    pub async fn open(
        cluster: &Cluster,
        log: &OrderLog,
        status: StatusRecords,
        leases: Leases,
        oms: Arc<dyn OmsClient>,
        clock: Arc<dyn Clock>,
        max_order_age: Duration,
    ) -> Result<Self, ClusterUnavailable> {
        let stream = cluster
            .jetstream
            .get_stream(log.stream())
            .await
            .map_err(|e| ClusterUnavailable(format!("stream {}: {e}", log.stream())))?;
        Ok(Self {
            stream,
            progress: cluster.bucket("progress", Duration::ZERO).await?,
            status,
            leases,
            oms,
            clock,
            max_order_age,
            backoff: Duration::from_millis(100),
        })
    }

    /// The delivered mark of the stream keyed `key` (its subject as a token) and the mark's
    /// revision (0 and none before its first order).
    pub async fn mark(&self, key: &str) -> Result<(u64, Option<u64>), ClusterUnavailable> {
        let entry = self
            .progress
            .entry(key)
            .await
            .map_err(|e| ClusterUnavailable(format!("progress: {e}")))?;
        Ok(match entry.filter(|e| e.operation == kv::Operation::Put) {
            Some(e) => (
                std::str::from_utf8(&e.value)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
                Some(e.revision),
            ),
            None => (0, None),
        })
    }

    /// Moves the mark to `seq`, expecting `revision`; a lost race means another replica
    /// delivers the stream now.
    async fn advance(&self, key: &str, revision: Option<u64>, seq: u64) -> Result<u64, Stopped> {
        let value = Bytes::from(seq.to_string());
        match revision {
            Some(revision) => self
                .progress
                .update(key, value, revision)
                .await
                .map_err(|e| {
                    if e.kind() == UpdateErrorKind::WrongLastRevision {
                        Stopped::LeaseLost
                    } else {
                        Stopped::Unavailable(ClusterUnavailable(format!("progress: {e}")))
                    }
                }),
            None => self.progress.create(key, value).await.map_err(|e| {
                if e.kind() == CreateErrorKind::AlreadyExists {
                    Stopped::LeaseLost
                } else {
                    Stopped::Unavailable(ClusterUnavailable(format!("progress: {e}")))
                }
            }),
        }
    }

    /// Sends the orders of `subject` after its mark, in order, while `lease` holds; returns
    /// what became of each once the stream is empty, or why it stopped.
    pub async fn drain(
        &self,
        subject: &str,
        lease: &mut Lease,
    ) -> Result<Vec<(u64, Outcome)>, (Vec<(u64, Outcome)>, Stopped)> {
        let key = keys::token(subject);
        let mut settled = Vec::new();
        let (mut mark, mut revision) = match self.mark(&key).await {
            Ok(m) => m,
            Err(e) => return Err((settled, Stopped::Unavailable(e))),
        };
        loop {
            let message = match self
                .stream
                .get_first_raw_message_by_subject(subject, mark + 1)
                .await
            {
                Ok(message) => message,
                // Nothing after the mark: drained.
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => return Ok(settled),
                Err(e) => {
                    let why = ClusterUnavailable(format!("read {subject}: {e}"));
                    return Err((settled, Stopped::Unavailable(why)));
                }
            };
            let seq = message.sequence;
            let id = message
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.as_str().to_owned())
                .unwrap_or_else(|| format!("seq-{seq}"));
            let mut attempts = 0;
            let outcome = match super::log::decode(&message.payload) {
                Ok(Intent::Submit(order)) => match self.send(&order, lease, &mut attempts).await {
                    Ok(outcome) => outcome,
                    Err(stopped) => return Err((settled, stopped)),
                },
                Ok(_) => return Err((settled, Stopped::Unsupported(seq))),
                // Written by a bridge, unreadable by this one: set aside, as the embedded
                // store quarantines a record it cannot read, so the stream goes on.
                Err(e) => {
                    tracing::error!(target: "mts1b::cluster", subject, seq, error = %e, "an order record cannot be read: never sent");
                    Outcome::Unreadable(e.to_string())
                }
            };
            // Its status first: the mark never passes an order whose outcome is not recorded.
            if let Err(e) = self
                .status
                .settle(&id, &outcome.standing(seq, attempts))
                .await
            {
                return Err((settled, Stopped::Unavailable(e)));
            }
            match self.advance(&key, revision, seq).await {
                Ok(next) => {
                    revision = Some(next);
                    mark = seq;
                    settled.push((seq, outcome));
                }
                Err(stopped) => return Err((settled, stopped)),
            }
        }
    }

    /// One order to the OMS: renewing the lease before each try, retrying transient failures
    /// until the order is too old; counts the calls in `attempts`.
    async fn send(
        &self,
        order: &OrderIntent,
        lease: &mut Lease,
        attempts: &mut u32,
    ) -> Result<Outcome, Stopped> {
        let max_age = i64::try_from(self.max_order_age.as_millis()).unwrap_or(i64::MAX);
        loop {
            if self.clock.now().millis_since(order.received_at) > max_age {
                return Ok(Outcome::Expired);
            }
            self.leases.renew(lease).await.map_err(|e| match e {
                NotHeld::Taken => Stopped::LeaseLost,
                NotHeld::Unavailable(why) => Stopped::Unavailable(why),
            })?;
            *attempts += 1;
            match self.oms.submit(order).await {
                Ok(accepted) => return Ok(Outcome::Submitted(accepted.order_id)),
                Err(e) if e.class == ErrorClass::Permanent => {
                    return Ok(Outcome::Rejected(e.message));
                }
                Err(_) => tokio::time::sleep(self.backoff).await,
            }
        }
    }
}
