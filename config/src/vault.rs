//! Fund secrets from Vault KV v2 (SPEC §6): `<mount>/data/<path_prefix>/<fund_id>`, field
//! `webhook_secret` by default, token from `VAULT_TOKEN`.
//!
//! Secrets are read for every configured fund at start and then every `refresh`, in the
//! background: authentication never waits on Vault. Until the first pass in which Vault answered
//! for every fund, the source is not ready (alerts get 503, `/readyz` says why). After that, a
//! fund whose read fails keeps its last good secret, so a Vault outage or a permission slip
//! changes nothing; a fund Vault says has no secret (404, or no such field) is refused.
//!
//! Rotation: with `secrets.rotation_grace` above zero, the version before the current one is
//! accepted too, until the current version's `created_time` plus the grace: a fixed time that a
//! restart cannot extend. Deleting or destroying the previous version, or a grace of `0s`,
//! revokes it at the next refresh. Reading versions needs `read` on `<mount>/metadata/<path>` as
//! well as `<mount>/data/<path>`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mts1b_inbound_core::time::parse_rfc3339;
use mts1b_inbound_core::{
    Clock, FundId, FundSecrets, Secret, SecretLookup, SecretSource, SystemClock, UnixMillis,
};
use serde_json::Value;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use crate::settings::Vault;

/// How long one Vault read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Why Vault could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The client could not be built (bad address).
    #[error("cannot build the Vault client: {0}")]
    Client(String),
    /// At least one fund's read failed in a way that says nothing about its secret.
    #[error("Vault read failed for {fund}: {reason}")]
    Read {
        /// The fund whose read failed.
        fund: FundId,
        /// Why.
        reason: String,
    },
}

/// What one read says about one fund (or one version of its secret).
enum Read<T> {
    Secret(T),
    /// Vault answered: no secret for this fund.
    Absent(String),
}

#[derive(Default)]
struct State {
    loaded: bool,
    secrets: HashMap<FundId, Arc<FundSecrets>>,
    last_error: Option<String>,
}

/// A Vault API error as this source reports it: 404 is an answer ("no secret"), the rest a
/// failed read.
fn failed(e: ClientError, what: &str) -> Result<Read<Secret>, String> {
    match e {
        ClientError::APIError { code: 404, .. } => {
            Ok(Read::Absent("no secret at this path".into()))
        }
        ClientError::APIError { code, .. } => Err(format!("Vault answered {code} reading {what}")),
        e => Err(e.to_string()),
    }
}

/// The Vault secret source.
pub struct VaultSecrets {
    client: VaultClient,
    settings: Vault,
    /// The funds whose secrets are read (replaced at a reload).
    funds: RwLock<Vec<FundId>>,
    state: RwLock<State>,
}

impl VaultSecrets {
    /// A source for `funds`, reading with `token`. Nothing is read until [`Self::refresh`].
    pub fn new(settings: &Vault, token: &str, funds: Vec<FundId>) -> Result<Self, VaultError> {
        let client_settings = VaultClientSettingsBuilder::default()
            .address(&settings.address)
            .token(token)
            .timeout(Some(READ_TIMEOUT))
            .build()
            .map_err(|e| VaultError::Client(e.to_string()))?;
        let client =
            VaultClient::new(client_settings).map_err(|e| VaultError::Client(e.to_string()))?;
        Ok(Self {
            client,
            settings: settings.clone(),
            funds: RwLock::new(funds),
            state: RwLock::new(State::default()),
        })
    }

    fn path(&self, fund: &FundId) -> String {
        format!(
            "{}/{}",
            self.settings.path_prefix.trim_end_matches('/'),
            fund
        )
    }

    /// The secret field of what Vault returned.
    fn field(&self, data: &HashMap<String, Value>) -> Read<Secret> {
        match data.get(&self.settings.field) {
            Some(Value::String(s)) if !s.is_empty() => Read::Secret(Secret::new(s.clone())),
            Some(_) => Read::Absent(format!(
                "field {} is not a non-empty string",
                self.settings.field
            )),
            None => Read::Absent(format!("no field {}", self.settings.field)),
        }
    }

    /// Reads version `version` of the secret at `path` (the latest when `None`).
    async fn version(&self, path: &str, version: Option<u64>) -> Result<Read<Secret>, String> {
        let (client, mount) = (&self.client, &self.settings.mount);
        let data = match version {
            None => vaultrs::kv2::read::<HashMap<String, Value>>(client, mount, path).await,
            Some(v) => {
                vaultrs::kv2::read_version::<HashMap<String, Value>>(client, mount, path, v).await
            }
        };
        match data {
            Ok(data) => Ok(self.field(&data)),
            Err(e) => failed(e, &format!("{mount}/data/{path}")),
        }
    }

    async fn read(&self, fund: &FundId) -> Result<Read<FundSecrets>, String> {
        let path = self.path(fund);
        let grace = self.settings.rotation_grace.0;
        if grace.is_zero() {
            return Ok(match self.version(&path, None).await? {
                Read::Secret(secret) => Read::Secret(FundSecrets::new(secret)),
                Read::Absent(why) => Read::Absent(why),
            });
        }
        let mount = &self.settings.mount;
        let meta = match vaultrs::kv2::read_metadata(&self.client, mount, &path).await {
            Ok(meta) => meta,
            Err(ClientError::APIError { code: 403, .. }) => {
                return Err(format!(
                    "Vault denied reading {mount}/metadata/{path}: grant read on it, or set secrets.rotation_grace = \"0s\""
                ));
            }
            Err(e) => {
                return Ok(match failed(e, &format!("{mount}/metadata/{path}"))? {
                    Read::Absent(why) => Read::Absent(why),
                    Read::Secret(_) => unreachable!("`failed` never returns a secret"),
                });
            }
        };
        let current = meta.current_version;
        let mut secrets = match self.version(&path, Some(current)).await? {
            Read::Secret(secret) => FundSecrets::new(secret),
            Read::Absent(why) => return Ok(Read::Absent(why)),
        };
        if let Some(until) = previous_until(&meta, grace)? {
            // Fetched only while the grace lasts (judged on the system clock); whether a request
            // may still use it is judged again on the bridge's clock at every alert.
            if SystemClock.now() < until
                && let Read::Secret(previous) = self.version(&path, Some(current - 1)).await?
            {
                secrets = secrets.with_previous(previous, until);
            }
        }
        Ok(Read::Secret(secrets))
    }

    /// Reads every fund's secret once. Funds whose read fails keep their last good secret; the
    /// source becomes ready after the first pass without a failed read.
    pub async fn refresh(&self) -> Result<(), VaultError> {
        let mut first_failure = None;
        let funds = self.funds.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut read = Vec::with_capacity(funds.len());
        for fund in &funds {
            match self.read(fund).await {
                Ok(outcome) => read.push((fund, outcome)),
                Err(reason) => {
                    tracing::warn!(target: "mts1b::secrets", fund = %fund, reason = %reason, "Vault read failed; keeping the last good secret");
                    first_failure.get_or_insert((fund.clone(), reason));
                }
            }
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        // A fund a reload removed while this pass read it is not brought back.
        let funds = self.funds.read().unwrap_or_else(|p| p.into_inner());
        let configured: HashSet<&FundId> = funds.iter().collect();
        let read = read
            .into_iter()
            .filter(|(fund, _)| configured.contains(fund));
        for (fund, outcome) in read {
            match outcome {
                Read::Secret(secrets) => {
                    state.secrets.insert(fund.clone(), Arc::new(secrets));
                }
                Read::Absent(why) => {
                    tracing::warn!(target: "mts1b::secrets", fund = %fund, reason = %why, "no secret in Vault; the fund's alerts are refused");
                    state.secrets.remove(fund);
                }
            }
        }
        match first_failure {
            None => {
                state.loaded = true;
                state.last_error = None;
                Ok(())
            }
            Some((fund, reason)) => {
                state.last_error = Some(format!("Vault read failed for {fund}: {reason}"));
                Err(VaultError::Read { fund, reason })
            }
        }
    }

    /// Reads the secrets of `funds` from now on (a reloaded configuration): the secrets of
    /// funds no longer configured are forgotten at once; a new fund's alerts are refused as
    /// from an unknown fund until a [`Self::refresh`] has read its secret (call one now).
    pub fn set_funds(&self, funds: Vec<FundId>) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        let configured: HashSet<&FundId> = funds.iter().collect();
        state.secrets.retain(|fund, _| configured.contains(fund));
        *self.funds.write().unwrap_or_else(|p| p.into_inner()) = funds;
    }

    /// Refreshes every `settings.refresh`, forever (spawn it; drop the task to stop).
    pub async fn refresh_forever(self: Arc<Self>) {
        loop {
            let _ = self.refresh().await;
            tokio::time::sleep(self.settings.refresh.0).await;
        }
    }
}

/// When the version before the current one stops being accepted: the current version's
/// `created_time` plus `grace`; `None` when there is no previous version, or it was deleted or
/// destroyed (revoked).
fn previous_until(
    meta: &vaultrs::api::kv2::responses::ReadSecretMetadataResponse,
    grace: Duration,
) -> Result<Option<UnixMillis>, String> {
    let current = meta.current_version;
    if current < 2 {
        return Ok(None);
    }
    let (Some(successor), Some(previous)) = (
        meta.versions.get(&current.to_string()),
        meta.versions.get(&(current - 1).to_string()),
    ) else {
        return Ok(None);
    };
    let deleted = !previous.deletion_time.is_empty()
        && parse_rfc3339(&previous.deletion_time).map_or(true, |at| at <= SystemClock.now());
    if deleted || previous.destroyed {
        return Ok(None);
    }
    let created = parse_rfc3339(&successor.created_time)
        .map_err(|e| format!("version {current}'s created_time: {e}"))?;
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    Ok(Some(UnixMillis(created.0.saturating_add(grace_ms))))
}

impl SecretSource for VaultSecrets {
    fn fund_secret(&self, fund: &FundId) -> SecretLookup {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        if !state.loaded {
            return SecretLookup::NotLoaded;
        }
        state
            .secrets
            .get(fund)
            .map_or(SecretLookup::UnknownFund, |s| {
                SecretLookup::Found(s.clone())
            })
    }

    fn not_ready(&self) -> Option<String> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        if state.loaded {
            None
        } else {
            Some(
                state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "Vault secrets not loaded yet".into()),
            )
        }
    }
}
