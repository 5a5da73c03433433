//! Where each order stands, the same on every replica (SPEC §14): bucket `{prefix}_orders`,
//! keyed by the order's id, written by whichever replica settles it (before the stream's mark
//! moves past it, so no settled order lacks its status). `GET /orders/{fund}/{key}` reads it on
//! any replica, and a request still waiting for its order's outcome watches its key, so it
//! learns the outcome even when another replica delivered the order.

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterUnavailable};

/// One order's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// `submitted`, `rejected`, `expired` or `unreadable`.
    pub status: String,
    /// The OMS's id, once submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Why it was refused or set aside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its sequence in the order log.
    pub seq: u64,
}

/// The status records of every order.
#[derive(Clone)]
pub struct StatusRecords {
    kv: kv::Store,
}

impl StatusRecords {
    /// The records of `cluster`, each kept for `keep` after its last change.
    pub async fn open(cluster: &Cluster, keep: Duration) -> Result<Self, ClusterUnavailable> {
        Ok(Self {
            kv: cluster.bucket("orders", keep).await?,
        })
    }

    /// Records how the order `id` settled.
    pub async fn settle(&self, id: &str, standing: &Standing) -> Result<(), ClusterUnavailable> {
        let body = serde_json::to_vec(standing)
            .map_err(|e| ClusterUnavailable(format!("status of {id}: {e}")))?;
        self.kv
            .put(id, Bytes::from(body))
            .await
            .map(|_| ())
            .map_err(|e| ClusterUnavailable(format!("status of {id}: {e}")))
    }

    /// The status of the order `id`, if it has settled.
    pub async fn get(&self, id: &str) -> Result<Option<Standing>, ClusterUnavailable> {
        let value = self
            .kv
            .get(id)
            .await
            .map_err(|e| ClusterUnavailable(format!("status of {id}: {e}")))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Waits up to `within` for the order `id` to settle, on whichever replica.
    pub async fn wait(
        &self,
        id: &str,
        within: Duration,
    ) -> Result<Option<Standing>, ClusterUnavailable> {
        let unavailable =
            |e: &dyn std::fmt::Display| ClusterUnavailable(format!("status of {id}: {e}"));
        // Watch first, then read: a settlement between the two is in one or the other.
        let mut watch = self.kv.watch(id).await.map_err(|e| unavailable(&e))?;
        if let Some(standing) = self.get(id).await? {
            return Ok(Some(standing));
        }
        let settled = tokio::time::timeout(within, async {
            while let Some(entry) = watch.next().await {
                if let Ok(entry) = entry
                    && entry.operation == kv::Operation::Put
                    && let Ok(standing) = serde_json::from_slice::<Standing>(&entry.value)
                {
                    return Some(standing);
                }
            }
            None
        })
        .await;
        Ok(settled.ok().flatten())
    }
}
