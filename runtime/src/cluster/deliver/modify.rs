//! Modifications from the order log (SPEC §13 on the cluster backend). A modification travels
//! in its target's (fund, strategy, symbol) stream, so the stream's holder reaches it only
//! after its target settled: the target's status says whether it is still active, and the OMS
//! gets the cancel or replace otherwise. What the OMS applied is written on the orders it
//! changed (status and history, for `GET /orders`). A cancel or cancel-all that arrives behind
//! an order the OMS has not taken yet (it is down) cancels the order before delivery: the
//! holder looks behind the order between two tries.

use async_nats::jetstream::stream::RawMessageErrorKind;
use mts1b_inbound_core::{Intent, OrderIntent};

use super::{CANCELLED_BEFORE_DELIVERY, Deliverer, Gathered, Outcome, Stopped};
use crate::cluster::ClusterUnavailable;
use crate::cluster::log::decode;
use crate::cluster::status::Standing;
use crate::delivery::oms::{ErrorClass, OmsError, OmsModified};
use crate::store::{Status, not_active_because};

/// How many messages behind a waiting order are read for a cancel of it, between two tries:
/// an outage queues a few alerts per (fund, strategy, symbol), not thousands.
const LOOK_BEHIND: usize = 64;

fn unavailable(e: ClusterUnavailable) -> Stopped {
    Stopped::Unavailable(e)
}

impl Deliverer {
    /// One modification to the OMS, once its target is known to be active (or unknown: the
    /// OMS says), retrying transient failures until its age limit.
    pub(super) async fn send_modification(
        &self,
        modification: &Intent,
        holder: &mut super::Holder<'_>,
        attempts: &mut u32,
    ) -> Result<Outcome, Stopped> {
        if let Some(target) = modification.target() {
            let id = target.client_order_id.to_string();
            if let Some(standing) = self.status.get(&id).await.map_err(unavailable)? {
                let by = format!(
                    "cancelled before delivery by {} {}",
                    modification.kind().as_str(),
                    modification.idempotency_key()
                );
                // A holder that died between cancelling the order and settling the cancel.
                if standing.history.contains(&by) {
                    return Ok(Outcome::AppliedBeforeDelivery);
                }
                if let Some(why) = not_active_because(standing.status, standing.reason.as_deref()) {
                    return Ok(Outcome::NotActive(why));
                }
            }
        }
        let max_age = self.max_age(modification.kind());
        loop {
            let age = self.clock.now().millis_since(modification.received_at());
            if age > max_age {
                if !matches!(modification, Intent::Replace(_)) {
                    // A cancel that never reached the OMS leaves its orders working.
                    tracing::error!(target: "mts1b::cluster", request_id = %modification.id(), intent = modification.kind().as_str(), attempts, age_ms = age, "cancel expired: older than delivery.max_cancel_age and never taken by the OMS; the orders it meant to cancel may still be working");
                }
                return Ok(Outcome::Expired);
            }
            self.keep(holder).await?;
            *attempts += 1;
            match self.call(modification).await {
                Ok(modified) => {
                    // The orders' records first: `/orders` agrees with the answer.
                    self.mark_targets(modification, &modified).await;
                    return Ok(Outcome::Applied {
                        order_id: modified.order_id,
                        cancelled: modified.cancelled,
                    });
                }
                // A cancel or replace of an order the OMS says is filled, gone or unknown.
                Err(e)
                    if e.class == ErrorClass::Permanent
                        && matches!(e.label, "not_found" | "failed_precondition") =>
                {
                    return Ok(Outcome::NotActive(e.message));
                }
                Err(e) if e.class == ErrorClass::Permanent => {
                    return Ok(Outcome::Rejected(e.message));
                }
                Err(_) => self.retry_later(&modification.id(), *attempts).await,
            }
        }
    }

    async fn call(&self, modification: &Intent) -> Result<OmsModified, OmsError> {
        let _permit = self.calls.acquire().await;
        match modification {
            Intent::Cancel(m) => self.oms.cancel(m).await,
            Intent::Replace(m) => self.oms.replace(m).await,
            Intent::CancelAll(m) => self.oms.cancel_all(m).await,
            Intent::Submit(_) => Err(OmsError::permanent(
                "invalid",
                "an order is not a modification",
            )),
        }
    }

    /// Writes on the orders `modification` changed what the OMS did to them. Lazy, as the
    /// embedded outbox's: an order the bridge no longer remembers is skipped, and a write NATS
    /// refuses leaves only the history behind.
    async fn mark_targets(&self, modification: &Intent, modified: &OmsModified) {
        let by = format!(
            "{} {}",
            modification.kind().as_str(),
            modification.idempotency_key()
        );
        let changed: Vec<(String, Status, String)> = match modification {
            Intent::Cancel(m) => vec![(
                m.change.target.client_order_id.to_string(),
                Status::Cancelled,
                format!("cancelled by {by}"),
            )],
            Intent::Replace(m) => vec![(
                m.change.target.client_order_id.to_string(),
                Status::Replaced,
                format!("replaced by {by}: {}", m.change.describe()),
            )],
            Intent::CancelAll(_) => modified
                .cancelled
                .iter()
                .map(|id| (id.clone(), Status::Cancelled, format!("cancelled by {by}")))
                .collect(),
            Intent::Submit(_) => Vec::new(),
        };
        for (id, status, note) in changed {
            let written = match self.status.get(&id).await {
                Ok(Some(mut standing)) => {
                    standing.status = status;
                    standing.history.push(note);
                    self.status.settle(&id, &standing).await
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::warn!(target: "mts1b::cluster", client_order_id = id, error = %e, "what a modification did is not on its order's record");
            }
        }
    }

    /// What waits behind `order` (at `seq` of `subject`) while the OMS has not taken it: the
    /// replaces of it are applied to its terms (each settled as applied, its history on the
    /// order's record), and a cancel of it or a cancel-all of its stream cancels it before
    /// delivery (a cancel settled as applied; a cancel-all is still sent, for what the OMS
    /// holds). Starts from the order as logged each time, so a holder that takes the stream
    /// over re-applies what its predecessor applied.
    pub(super) async fn behind(
        &self,
        subject: &str,
        seq: u64,
        order: &OrderIntent,
        gathered: &mut Gathered,
    ) -> Result<Behind, Stopped> {
        let mut terms: Option<OrderIntent> = None;
        let mut notes = Vec::new();
        let mut next = seq + 1;
        for _ in 0..LOOK_BEHIND {
            let message = match self
                .stream
                .get_first_raw_message_by_subject(subject, next)
                .await
            {
                Ok(message) => message,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => break,
                Err(e) => {
                    let why = ClusterUnavailable(format!("read {subject}: {e}"));
                    return Err(Stopped::Unavailable(why));
                }
            };
            next = message.sequence + 1;
            let Ok(behind) = decode(&message.payload) else {
                continue;
            };
            let by = format!("{} {}", behind.kind().as_str(), behind.idempotency_key());
            match &behind {
                Intent::Replace(m) if m.change.target.client_order_id == order.client_order_id => {
                    // One that does not fit is left for its turn (the OMS answers it).
                    let Ok(changed) = m.change.applied_to(terms.as_ref().unwrap_or(order)) else {
                        continue;
                    };
                    terms = Some(changed);
                    notes.push(format!(
                        "replaced before delivery by {by}: {}",
                        m.change.describe()
                    ));
                    gathered.history.clone_from(&notes);
                    self.settle_behind(
                        order,
                        seq,
                        gathered,
                        &behind,
                        message.sequence,
                        REPLACED_BEFORE_DELIVERY,
                    )
                    .await?;
                    self.settled_early(subject, message.sequence);
                }
                Intent::Cancel(m) if m.change.target.client_order_id == order.client_order_id => {
                    gathered.history = notes;
                    self.settle_behind(
                        order,
                        seq,
                        gathered,
                        &behind,
                        message.sequence,
                        CANCELLED_BEFORE_DELIVERY,
                    )
                    .await?;
                    self.settled_early(subject, message.sequence);
                    tracing::info!(target: "mts1b::cluster", client_order_id = %order.client_order_id, by, "cancelled before delivery");
                    return Ok(Behind::Cancelled(by));
                }
                Intent::CancelAll(_) => {
                    gathered.history = notes;
                    tracing::info!(target: "mts1b::cluster", client_order_id = %order.client_order_id, by, "cancelled before delivery");
                    return Ok(Behind::Cancelled(by));
                }
                _ => {}
            }
        }
        gathered.history = notes;
        Ok(terms.map_or(Behind::Unchanged, |terms| Behind::Terms(Box::new(terms))))
    }

    /// Records a modification behind a waiting order as applied before delivery (`detail`
    /// says how), unless it already is: the order's record first (its history so far), so a
    /// holder that dies between the two finds what its predecessor did on the order.
    async fn settle_behind(
        &self,
        order: &OrderIntent,
        seq: u64,
        gathered: &Gathered,
        modification: &Intent,
        at: u64,
        detail: &str,
    ) -> Result<(), Stopped> {
        let id = modification.id().to_string();
        let settled = self.status.get(&id).await.map_err(unavailable)?;
        if settled.is_some_and(|s| s.status.is_final()) {
            return Ok(());
        }
        let mut waiting = Standing::of(&Intent::Submit(order.clone()), seq, Status::Queued);
        waiting.attempts = gathered.attempts;
        waiting.history.clone_from(&gathered.history);
        self.status
            .settle(&order.client_order_id.to_string(), &waiting)
            .await
            .map_err(unavailable)?;
        let mut applied = Standing::of(modification, at, Status::Applied);
        applied.detail = Some(detail.to_owned());
        self.status.settle(&id, &applied).await.map_err(unavailable)
    }
}

/// What waits behind an order the OMS has not taken yet.
pub(super) enum Behind {
    /// Nothing for it.
    Unchanged,
    /// Its terms, with the replaces behind it applied.
    Terms(Box<OrderIntent>),
    /// Cancelled before delivery by the modification named.
    Cancelled(String),
}

/// How a replace that found its order still waiting took effect.
pub const REPLACED_BEFORE_DELIVERY: &str =
    "replaced before delivery: the OMS gets the new terms only";
