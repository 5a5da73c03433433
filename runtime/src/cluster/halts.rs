//! The kill switches an operator sets from an admin page, shared by every replica (SPEC §15):
//! bucket `{prefix}_halts`, one key per halted fund ([`keys::token`] of its id), its value the
//! time it was halted (milliseconds, decimal text). A halt is a `create` (a second one, from
//! any replica, finds it there), a resume a delete. Every replica follows the bucket with a
//! watch that first delivers what is there, so each judges alerts from memory: a halt set on
//! one replica holds on the others once the watch delivers it (within milliseconds while NATS
//! is up; an alert cannot be accepted while NATS is down anyway, its gates live there).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind};
use bytes::Bytes;
use futures_util::StreamExt;
use mts1b_inbound_core::{FundId, UnixMillis};

use super::{Cluster, ClusterUnavailable, keys};
use crate::halts::FundHalts;

/// How long a broken watch waits before it is opened again.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// The operator's halts in the cluster.
#[derive(Clone)]
pub struct SharedHalts {
    kv: kv::Store,
    timeout: Duration,
}

/// A key's value as a halt's time; an unreadable value (written by hand) still halts.
fn halted_at(value: &[u8]) -> UnixMillis {
    let at = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
    UnixMillis(at.unwrap_or(0))
}

impl SharedHalts {
    /// Opens (creating it if missing) the bucket of `cluster`.
    pub async fn open(cluster: &Cluster) -> Result<Self, ClusterUnavailable> {
        Ok(Self {
            kv: cluster.bucket("halts", Duration::ZERO).await?,
            timeout: cluster.settings.timeout,
        })
    }

    /// The funds halted now, and since when.
    pub async fn snapshot(&self) -> Result<BTreeMap<FundId, UnixMillis>, ClusterUnavailable> {
        let mut halted = BTreeMap::new();
        for key in super::listed_keys(&self.kv, self.timeout).await? {
            let Some(fund) = keys::untoken(&key).and_then(|f| FundId::parse(&f).ok()) else {
                continue;
            };
            let value = self
                .kv
                .get(&key)
                .await
                .map_err(|e| ClusterUnavailable::of("halts", e))?;
            if let Some(value) = value {
                halted.insert(fund, halted_at(&value));
            }
        }
        Ok(halted)
    }

    /// Halts `fund` for every replica; one already halted stays halted since its first time,
    /// which is returned.
    pub async fn halt(
        &self,
        fund: &FundId,
        at: UnixMillis,
    ) -> Result<UnixMillis, ClusterUnavailable> {
        let key = keys::token(fund.as_str());
        let value = Bytes::from(at.as_millis().to_string());
        match self.kv.create(&key, value).await {
            Ok(_) => Ok(at),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                let value = self
                    .kv
                    .get(&key)
                    .await
                    .map_err(|e| ClusterUnavailable::of("halts", e))?;
                Ok(value.map_or(at, |v| halted_at(&v)))
            }
            Err(e) => Err(ClusterUnavailable::of("halts", e)),
        }
    }

    /// Resumes `fund` for every replica.
    pub async fn resume(&self, fund: &FundId) -> Result<(), ClusterUnavailable> {
        self.kv
            .delete(keys::token(fund.as_str()))
            .await
            .map_err(|e| ClusterUnavailable::of("halts", e))
    }

    /// Keeps `halts` in step with the bucket until the process ends (spawn it): each key's
    /// latest change first, then every change as it is made; a watch that breaks is opened
    /// again, and its first delivery brings whatever changed meanwhile.
    pub async fn follow(self, halts: Arc<FundHalts>) {
        loop {
            match self.kv.watch_with_history(">").await {
                Ok(mut watch) => {
                    while let Some(entry) = watch.next().await {
                        match entry {
                            Ok(entry) => Self::apply(&halts, &entry),
                            Err(e) => {
                                tracing::warn!(target: "mts1b::cluster", error = %e, "halts watch broke; opening it again");
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(target: "mts1b::cluster", error = %e, "halts watch not opened; retrying");
                }
            }
            tokio::time::sleep(REOPEN_AFTER).await;
        }
    }

    fn apply(halts: &FundHalts, entry: &kv::Entry) {
        let Some(fund) = keys::untoken(&entry.key).and_then(|f| FundId::parse(&f).ok()) else {
            return;
        };
        let at = (entry.operation == kv::Operation::Put).then(|| halted_at(&entry.value));
        halts.operator_changed(fund, at);
    }
}
