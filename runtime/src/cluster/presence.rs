//! Which replicas are alive (SPEC §14): each writes its name in bucket `{prefix}_replicas`
//! every [`PRESENCE_EVERY`]; the bucket's `max_age` drops a name [`PRESENCE_LAPSE`] after its
//! last write. A replica that sees another's name gone rescans the log (the streams it held
//! need a new holder once their leases lapse) and sends the follow-ups it owed.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;

use super::{Cluster, ClusterUnavailable, keys};

/// How often a replica writes its presence (and checks the others').
pub const PRESENCE_EVERY: Duration = Duration::from_secs(2);

/// How long after its last write a replica counts as gone.
pub const PRESENCE_LAPSE: Duration = Duration::from_secs(6);

/// The replicas' presence.
#[derive(Clone)]
pub struct Presence {
    kv: kv::Store,
    replica: String,
}

impl Presence {
    /// The presence of the replica named `replica` on `cluster`.
    pub async fn open(cluster: &Cluster, replica: &str) -> Result<Self, ClusterUnavailable> {
        Ok(Self {
            kv: cluster.bucket("replicas", PRESENCE_LAPSE).await?,
            replica: replica.to_owned(),
        })
    }

    /// This replica's name.
    pub fn name(&self) -> &str {
        &self.replica
    }

    /// Writes this replica's presence.
    pub async fn announce(&self) -> Result<(), ClusterUnavailable> {
        self.kv
            .put(keys::token(&self.replica), Bytes::from_static(b"present"))
            .await
            .map(|_| ())
            .map_err(|e| ClusterUnavailable(format!("presence: {e}")))
    }

    /// The replicas present now (their names as keys: [`keys::token`] of each).
    pub async fn members(&self) -> Result<BTreeSet<String>, ClusterUnavailable> {
        let listed = super::listed_keys(&self.kv, PRESENCE_EVERY)
            .await
            .map_err(|e| ClusterUnavailable(format!("presence: {}", e.0)))?;
        Ok(listed.into_iter().collect())
    }
}
