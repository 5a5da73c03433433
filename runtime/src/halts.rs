//! The per-fund kill switch (SPEC §15): a halted fund's new orders are refused 422
//! `fund_halted` before its rate limit or replay window is touched, so nothing is recorded.
//!
//! Decisions where SPEC is silent:
//! - Cancels and cancel-alls of a halted fund still pass (submits and replaces are refused): an
//!   operator halts a fund to stop new risk, and refusing the exits would keep orders working
//!   that the strategy meant to pull.
//! - A halt set in the configuration (`funds.<id>.halted = true`) cannot be resumed from the
//!   admin page; one set from the page can. The configuration's halts are applied again at a
//!   reload (SIGHUP). A halt from the page is written to `<store.path>/halts.json` before it
//!   is answered, so it survives a restart.
//! - On the cluster backend a halt from the page is kept in the cluster's bucket and followed by
//!   every replica ([`crate::cluster::halts`]): set on one, it holds on all, and outlives any of
//!   them. The configuration's halts stay per replica's file (edit every replica's and reload).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use mts1b_inbound_core::{FundId, UnixMillis};

use crate::cluster::ClusterUnavailable;
use crate::cluster::halts::SharedHalts;
use serde::{Deserialize, Serialize};

/// The file, in the store's folder, that keeps the halts set from the admin page.
pub const HALTS_FILE: &str = "halts.json";

/// Who halted a fund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltedBy {
    /// `funds.<id>.halted = true`.
    Configuration,
    /// An operator, from the admin page, at this time.
    Operator {
        /// When.
        at: UnixMillis,
    },
}

/// Why a halt or a resume was not done.
#[derive(Debug, thiserror::Error)]
pub enum HaltError {
    /// The fund is not configured.
    #[error("no fund {0} is configured")]
    UnknownFund(String),
    /// The configuration halts it; only the configuration can resume it.
    #[error(
        "fund {0} is halted by the configuration (funds.{0}.halted): remove the key to resume it"
    )]
    Configured(String),
    /// This runtime has no place to keep an operator's halt (embedded without a folder).
    #[error(
        "this bridge keeps no halts of its own (no store folder): set funds.<id>.halted = true in the configuration and reload it (SIGHUP)"
    )]
    NotKept,
    /// The cluster could not keep the change: nothing changed.
    #[error("not changed: {0}")]
    Cluster(ClusterUnavailable),
    /// The halts file could not be written: nothing changed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

#[derive(Default, Deserialize, Serialize)]
struct HaltsFile {
    /// Funds an operator halted, and when.
    halted: BTreeMap<String, UnixMillis>,
}

/// Which funds are halted, and by whom.
#[derive(Debug, Default)]
pub struct FundHalts {
    /// Halted by the configuration (replaced at a reload: SIGHUP).
    configured: RwLock<HashSet<FundId>>,
    /// The configured funds (replaced at a reload).
    funds: RwLock<HashSet<FundId>>,
    operated: RwLock<BTreeMap<FundId, UnixMillis>>,
    /// Where the operator's halts are kept.
    keeper: Keeper,
}

/// Where the operator's halts are kept.
#[derive(Default)]
enum Keeper {
    /// Nowhere: only the configuration halts (a runtime embedded without a folder).
    #[default]
    Nowhere,
    /// `<store.path>/halts.json` (the embedded store).
    File(PathBuf),
    /// The cluster's bucket, followed by every replica.
    Cluster(Box<SharedHalts>),
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Keeper::Nowhere => "Nowhere",
            Keeper::File(_) => "File",
            Keeper::Cluster(_) => "Cluster",
        })
    }
}

impl FundHalts {
    /// The halts of `funds`, those in `configured` by the configuration, and the operator's
    /// kept in `folder` (read now: a file that cannot be read is an error, not "nothing
    /// halted"). Without a folder only the configuration halts.
    pub fn open(
        funds: impl IntoIterator<Item = FundId>,
        configured: impl IntoIterator<Item = FundId>,
        folder: Option<&Path>,
    ) -> Result<Self, String> {
        let funds: HashSet<FundId> = funds.into_iter().collect();
        let file = folder.map(|f| f.join(HALTS_FILE));
        let mut operated = BTreeMap::new();
        if let Some(path) = &file {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let kept: HaltsFile = serde_json::from_slice(&bytes)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    // A fund since removed from the configuration keeps its halt: configured
                    // again, it comes back as the operator left it.
                    for (fund, at) in kept.halted {
                        if let Ok(fund) = FundId::parse(&fund) {
                            operated.insert(fund, at);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Ok(Self {
            configured: RwLock::new(configured.into_iter().collect()),
            funds: RwLock::new(funds),
            operated: RwLock::new(operated),
            keeper: file.map_or(Keeper::Nowhere, Keeper::File),
        })
    }

    /// The halts of `funds`, those in `configured` by the configuration, and the operator's
    /// kept in the cluster's bucket (read now; [`SharedHalts::follow`] keeps them in step
    /// afterwards: spawn it with the returned halts).
    pub async fn on_cluster(
        funds: impl IntoIterator<Item = FundId>,
        configured: impl IntoIterator<Item = FundId>,
        shared: SharedHalts,
    ) -> Result<Self, ClusterUnavailable> {
        let operated = shared.snapshot().await?;
        Ok(Self {
            configured: RwLock::new(configured.into_iter().collect()),
            funds: RwLock::new(funds.into_iter().collect()),
            operated: RwLock::new(operated),
            keeper: Keeper::Cluster(Box::new(shared)),
        })
    }

    /// True when `fund` is halted.
    pub fn is_halted(&self, fund: &FundId) -> bool {
        self.configured_now().contains(fund) || self.operated_now().contains_key(fund)
    }

    /// Every halted fund that is configured, and who halted it.
    pub fn list(&self) -> BTreeMap<FundId, HaltedBy> {
        let mut out: BTreeMap<FundId, HaltedBy> = self
            .operated_now()
            .iter()
            .filter(|(fund, _)| self.is_configured(fund))
            .map(|(fund, at)| (fund.clone(), HaltedBy::Operator { at: *at }))
            .collect();
        for fund in self.configured_now().iter() {
            out.insert(fund.clone(), HaltedBy::Configuration);
        }
        out
    }

    /// Halts `fund` at `at`, kept (on disk, or in the cluster for every replica) before this
    /// returns. A fund already halted keeps its first time.
    pub async fn halt(&self, fund: &FundId, at: UnixMillis) -> Result<(), HaltError> {
        self.ensure_configured(fund)?;
        if let Keeper::Cluster(shared) = &self.keeper {
            let since = shared.halt(fund, at).await.map_err(HaltError::Cluster)?;
            self.operator_changed(fund.clone(), Some(since));
            return Ok(());
        }
        self.change_file(|operated| {
            operated.entry(fund.clone()).or_insert(at);
        })
    }

    /// Resumes `fund`, halted from the page (on a cluster, for every replica).
    pub async fn resume(&self, fund: &FundId) -> Result<(), HaltError> {
        self.ensure_configured(fund)?;
        if self.configured_now().contains(fund) {
            return Err(HaltError::Configured(fund.to_string()));
        }
        if let Keeper::Cluster(shared) = &self.keeper {
            shared.resume(fund).await.map_err(HaltError::Cluster)?;
            self.operator_changed(fund.clone(), None);
            return Ok(());
        }
        self.change_file(|operated| {
            operated.remove(fund);
        })
    }

    /// An operator's halt of `fund` set (`Some(since)`) or lifted, as the cluster's bucket
    /// says (its watch, or this replica's own write).
    pub(crate) fn operator_changed(&self, fund: FundId, at: Option<UnixMillis>) {
        let mut operated = self.operated.write().unwrap_or_else(|p| p.into_inner());
        match at {
            Some(at) => operated.insert(fund, at),
            None => operated.remove(&fund),
        };
    }

    fn ensure_configured(&self, fund: &FundId) -> Result<(), HaltError> {
        if self.is_configured(fund) {
            Ok(())
        } else {
            Err(HaltError::UnknownFund(fund.to_string()))
        }
    }

    fn change_file(
        &self,
        edit: impl FnOnce(&mut BTreeMap<FundId, UnixMillis>),
    ) -> Result<(), HaltError> {
        let Keeper::File(path) = &self.keeper else {
            return Err(HaltError::NotKept);
        };
        let mut operated = self.operated.write().unwrap_or_else(|p| p.into_inner());
        let mut next = operated.clone();
        edit(&mut next);
        write_atomically(path, &next).map_err(|source| HaltError::Write {
            path: path.display().to_string(),
            source,
        })?;
        *operated = next;
        Ok(())
    }

    /// Replaces the funds the configuration halts (a reloaded file), and says which were
    /// halted and which resumed by it. Funds not configured are left out.
    pub fn set_configured(
        &self,
        configured: impl IntoIterator<Item = FundId>,
    ) -> (Vec<FundId>, Vec<FundId>) {
        let next: HashSet<FundId> = configured
            .into_iter()
            .filter(|fund| self.is_configured(fund))
            .collect();
        let mut current = self.configured.write().unwrap_or_else(|p| p.into_inner());
        let mut halted: Vec<FundId> = next.difference(&current).cloned().collect();
        let mut resumed: Vec<FundId> = current.difference(&next).cloned().collect();
        halted.sort();
        resumed.sort();
        *current = next;
        (halted, resumed)
    }

    /// Takes the funds of a reloaded configuration. An operator's halt of a fund the reload
    /// removed is kept (in memory and in the file): were the fund configured again, it would
    /// come back halted, as the operator left it.
    pub fn set_funds(&self, funds: impl IntoIterator<Item = FundId>) {
        *self.funds.write().unwrap_or_else(|p| p.into_inner()) = funds.into_iter().collect();
    }

    fn is_configured(&self, fund: &FundId) -> bool {
        self.funds
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(fund)
    }

    fn configured_now(&self) -> std::sync::RwLockReadGuard<'_, HashSet<FundId>> {
        self.configured.read().unwrap_or_else(|p| p.into_inner())
    }

    fn operated_now(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<FundId, UnixMillis>> {
        self.operated.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes the halts to a temporary file, syncs it, and renames it over `path` (then syncs the
/// folder): a crash leaves the old file or the new one, never half of one.
fn write_atomically(path: &Path, halted: &BTreeMap<FundId, UnixMillis>) -> std::io::Result<()> {
    let file = HaltsFile {
        halted: halted
            .iter()
            .map(|(fund, at)| (fund.to_string(), *at))
            .collect(),
    };
    let body = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    let mut out = std::fs::File::create(&temporary)?;
    out.write_all(&body)?;
    out.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(folder) = path.parent() {
        std::fs::File::open(folder)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fund(name: &str) -> FundId {
        FundId::parse(name).unwrap()
    }

    #[tokio::test]
    async fn operator_halts_survive_a_restart_and_configured_ones_cannot_be_resumed() {
        let folder = std::env::temp_dir().join(format!("mts1b-halts-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let funds = || [fund("a"), fund("b"), fund("c")];
        let halts = FundHalts::open(funds(), [fund("c")], Some(&folder)).unwrap();
        assert!(!halts.is_halted(&fund("a")));
        assert!(halts.is_halted(&fund("c")));
        halts.halt(&fund("a"), UnixMillis(5)).await.unwrap();
        assert!(halts.is_halted(&fund("a")));
        assert!(matches!(
            halts.resume(&fund("c")).await,
            Err(HaltError::Configured(_))
        ));
        assert!(matches!(
            halts.halt(&fund("zz"), UnixMillis(6)).await,
            Err(HaltError::UnknownFund(_))
        ));
        // A reloaded configuration halts b instead of c (zz is not a fund: left out).
        assert_eq!(
            halts.set_configured([fund("b"), fund("zz")]),
            (vec![fund("b")], vec![fund("c")])
        );
        assert!(halts.is_halted(&fund("b")) && !halts.is_halted(&fund("c")));

        let reopened = FundHalts::open(funds(), [], Some(&folder)).unwrap();
        assert_eq!(
            reopened.list(),
            BTreeMap::from([(fund("a"), HaltedBy::Operator { at: UnixMillis(5) })])
        );
        reopened.resume(&fund("a")).await.unwrap();
        assert!(
            !FundHalts::open(funds(), [], Some(&folder))
                .unwrap()
                .is_halted(&fund("a"))
        );

        std::fs::write(folder.join(HALTS_FILE), "{").unwrap();
        assert!(
            FundHalts::open(funds(), [], Some(&folder)).is_err(),
            "unreadable is an error"
        );
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[tokio::test]
    async fn a_fund_a_reload_removes_and_adds_again_comes_back_as_the_operator_left_it() {
        let folder = std::env::temp_dir().join(format!("mts1b-halts-re-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let halts = FundHalts::open([fund("a"), fund("b")], [], Some(&folder)).unwrap();
        halts.halt(&fund("a"), UnixMillis(5)).await.unwrap();
        halts.set_funds([fund("b"), fund("c")]);
        assert!(halts.list().is_empty(), "a is not configured");
        assert!(matches!(
            halts.halt(&fund("a"), UnixMillis(6)).await,
            Err(HaltError::UnknownFund(_))
        ));
        halts.halt(&fund("c"), UnixMillis(7)).await.unwrap();
        halts.set_funds([fund("a"), fund("b"), fund("c")]);
        assert_eq!(
            halts.list(),
            BTreeMap::from([
                (fund("a"), HaltedBy::Operator { at: UnixMillis(5) }),
                (fund("c"), HaltedBy::Operator { at: UnixMillis(7) }),
            ])
        );
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[tokio::test]
    async fn without_a_folder_only_the_configuration_halts() {
        let halts = FundHalts::open([fund("a")], [], None).unwrap();
        assert!(matches!(
            halts.halt(&fund("a"), UnixMillis(1)).await,
            Err(HaltError::NotKept)
        ));
        assert!(!halts.is_halted(&fund("a")));
    }
}
