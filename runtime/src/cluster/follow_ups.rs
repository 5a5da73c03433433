//! Follow-ups owed to chat users, in the replicated record (SPEC §14): a Slack or Discord
//! command answered "queued" is owed a message once its order settles. The replica that
//! accepted it sends it (the runtime's follow-up task) and then deletes the record; if that
//! replica dies first, another sends it.
//!
//! - bucket `{prefix}_follow_ups`, keyed by the order's (or modification's) id: the adapter,
//!   the platform's address, the intent, and the replica that owes it;
//! - every replica sweeps the follow-ups once a [`PRESENCE_EVERY`]: one owed by a replica no
//!   longer present ([`super::presence`]), whose order has settled, is taken over by compare-and-set (one replica
//!   wins), sent, and deleted. A follow-up is sent at most once per replica that takes it; a
//!   replica that dies mid-send leaves it to the next (the platform may then show it twice,
//!   never not at all while the platform's address is valid).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, UpdateErrorKind};
use bytes::Bytes;
use mts1b_inbound_core::{ClientOrderId, FollowUp, Intent};
use serde::{Deserialize, Serialize};

use super::presence::{PRESENCE_EVERY, Presence};
use super::status::StatusRecords;
use super::{Cluster, ClusterUnavailable, keys};
use crate::Runtime;

/// One follow-up owed.
#[derive(Debug, Serialize, Deserialize)]
struct Owed {
    /// The adapter that renders it.
    adapter: String,
    /// Where it goes.
    to: FollowUp,
    /// What the command asked for, as the log holds it.
    intent: serde_json::Value,
    /// The replica that owes it.
    owner: String,
}

/// The follow-ups owed, and this replica's presence.
#[derive(Clone)]
pub struct OwedFollowUps {
    owed: kv::Store,
    presence: Presence,
    replica: String,
}

impl OwedFollowUps {
    /// The records of `cluster` for the replica `presence` names; follow-ups kept up to
    /// `keep` (longer than any order may wait).
    pub async fn open(
        cluster: &Cluster,
        presence: Presence,
        keep: Duration,
    ) -> Result<Self, ClusterUnavailable> {
        Ok(Self {
            owed: cluster.bucket("follow_ups", keep).await?,
            replica: presence.name().to_owned(),
            presence,
        })
    }

    /// Records that this replica owes the sender of `intent` a follow-up at `to`.
    pub async fn owe(
        &self,
        adapter: &str,
        intent: &Intent,
        to: &FollowUp,
    ) -> Result<(), ClusterUnavailable> {
        let unavailable = |e: &dyn std::fmt::Display| ClusterUnavailable(format!("follow-up: {e}"));
        let encoded = super::log::encode(intent).map_err(|e| unavailable(&e))?;
        let owed = Owed {
            adapter: adapter.to_owned(),
            to: to.clone(),
            intent: serde_json::from_slice(&encoded).map_err(|e| unavailable(&e))?,
            owner: self.replica.clone(),
        };
        let body = serde_json::to_vec(&owed).map_err(|e| unavailable(&e))?;
        self.owed
            .put(intent.id().to_string(), Bytes::from(body))
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

    /// The follow-up of `id` was sent (or given up): no one owes it any more.
    pub async fn settle(&self, id: &ClientOrderId) -> Result<(), ClusterUnavailable> {
        self.owed
            .purge(id.to_string())
            .await
            .map_err(|e| ClusterUnavailable(format!("follow-up: {e}")))
    }

    /// Sends the follow-ups replicas that are gone owed, once their orders settled, until the
    /// process stops.
    pub async fn sweep_forever(self, runtime: Arc<Runtime>, status: StatusRecords) {
        loop {
            if let Err(e) = self.sweep(&runtime, &status).await {
                tracing::warn!(target: "mts1b::cluster", error = %e, "follow-ups not swept");
            }
            tokio::time::sleep(PRESENCE_EVERY).await;
        }
    }

    /// One pass over the follow-ups owed.
    pub async fn sweep(
        &self,
        runtime: &Runtime,
        status: &StatusRecords,
    ) -> Result<(), ClusterUnavailable> {
        let unavailable =
            |e: &dyn std::fmt::Display| ClusterUnavailable(format!("follow-ups: {e}"));
        let ids = super::listed_keys(&self.owed, PRESENCE_EVERY * 2).await?;
        if ids.is_empty() {
            return Ok(());
        }
        let present = self.presence.members().await?;
        for id in ids {
            let Some(entry) = self.owed.entry(&id).await.map_err(|e| unavailable(&e))? else {
                continue;
            };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            let Ok(mut owed) = serde_json::from_slice::<Owed>(&entry.value) else {
                continue;
            };
            if owed.owner == self.replica || present.contains(&keys::token(&owed.owner)) {
                continue;
            }
            let Some(standing) = status.get(&id).await? else {
                continue;
            };
            if !standing.status.is_final() {
                continue;
            }
            // Taken over by one replica only.
            let previous = std::mem::replace(&mut owed.owner, self.replica.clone());
            let body = serde_json::to_vec(&owed).map_err(|e| unavailable(&e))?;
            match self
                .owed
                .update(&id, Bytes::from(body), entry.revision)
                .await
            {
                Ok(_) => {}
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(unavailable(&e)),
            }
            let intent = serde_json::to_vec(&owed.intent)
                .ok()
                .and_then(|bytes| super::log::decode(&bytes).ok());
            if let Some(intent) = intent {
                let settled = super::sink::settled(standing);
                tracing::info!(target: "mts1b::cluster", id, owed_by = previous, "sending a follow-up a replica that is gone owed");
                runtime
                    .send_owed_follow_up(&owed.adapter, &intent, &owed.to, &settled)
                    .await;
            }
            self.owed.purge(&id).await.map_err(|e| unavailable(&e))?;
        }
        Ok(())
    }
}
