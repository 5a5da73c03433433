//! Fund secrets from Vault KV v2 (SPEC §6): `<mount>/data/<path_prefix>/<fund_id>`, field
//! `webhook_secret` by default, token from `VAULT_TOKEN`.
//!
//! Secrets are read for every configured fund at start and then every `refresh`, in the
//! background: authentication never waits on Vault. Until the first pass in which Vault answered
//! for every fund, the source is not ready (alerts get 503, `/readyz` says why). After that, a
//! fund whose read fails keeps its last good secret, so a Vault outage or a permission slip
//! changes nothing; a fund Vault says has no secret (404, or no such field) is refused.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mts1b_inbound_core::{FundId, Secret, SecretLookup, SecretSource};
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

/// What one read says about one fund.
enum Read {
    Secret(Secret),
    /// Vault answered: no secret for this fund.
    Absent(String),
}

#[derive(Default)]
struct State {
    loaded: bool,
    secrets: HashMap<FundId, Arc<Secret>>,
    last_error: Option<String>,
}

/// The Vault secret source.
pub struct VaultSecrets {
    client: VaultClient,
    settings: Vault,
    funds: Vec<FundId>,
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
            funds,
            state: RwLock::new(State::default()),
        })
    }

    async fn read(&self, fund: &FundId) -> Result<Read, String> {
        let path = format!(
            "{}/{}",
            self.settings.path_prefix.trim_end_matches('/'),
            fund
        );
        match vaultrs::kv2::read::<HashMap<String, Value>>(
            &self.client,
            &self.settings.mount,
            &path,
        )
        .await
        {
            Ok(data) => match data.get(&self.settings.field) {
                Some(Value::String(s)) if !s.is_empty() => Ok(Read::Secret(Secret::new(s.clone()))),
                Some(_) => Ok(Read::Absent(format!(
                    "field {} is not a non-empty string",
                    self.settings.field
                ))),
                None => Ok(Read::Absent(format!("no field {}", self.settings.field))),
            },
            Err(ClientError::APIError { code: 404, .. }) => {
                Ok(Read::Absent("no secret at this path".into()))
            }
            Err(ClientError::APIError { code, .. }) => Err(format!("Vault answered {code}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Reads every fund's secret once. Funds whose read fails keep their last good secret; the
    /// source becomes ready after the first pass without a failed read.
    pub async fn refresh(&self) -> Result<(), VaultError> {
        let mut first_failure = None;
        let mut read = Vec::with_capacity(self.funds.len());
        for fund in &self.funds {
            match self.read(fund).await {
                Ok(outcome) => read.push((fund, outcome)),
                Err(reason) => {
                    tracing::warn!(target: "mts1b::secrets", fund = %fund, reason = %reason, "Vault read failed; keeping the last good secret");
                    first_failure.get_or_insert((fund.clone(), reason));
                }
            }
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        for (fund, outcome) in read {
            match outcome {
                Read::Secret(secret) => {
                    state.secrets.insert(fund.clone(), Arc::new(secret));
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

    /// Refreshes every `settings.refresh`, forever (spawn it; drop the task to stop).
    pub async fn refresh_forever(self: Arc<Self>) {
        loop {
            let _ = self.refresh().await;
            tokio::time::sleep(self.settings.refresh.0).await;
        }
    }
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
