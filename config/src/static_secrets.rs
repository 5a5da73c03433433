//! The static secret source: fund secrets from config or the environment, for dev and embedding.

use std::sync::Arc;

use mts1b_inbound_core::{FundId, FundMap, FundSecrets, Secret, SecretLookup, SecretSource};

use crate::settings::Settings;

/// Fund secrets held in memory, loaded once (a previous secret with its fixed end included).
#[derive(Clone, Debug, Default)]
pub struct StaticSecrets {
    funds: FundMap<Arc<FundSecrets>>,
}

impl StaticSecrets {
    /// An empty source (every fund unknown).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a fund's secret.
    pub fn with_fund(self, fund: FundId, secret: Secret) -> Self {
        self.with_fund_secrets(fund, FundSecrets::new(secret))
    }

    /// Adds or replaces a fund's secrets (during a rotation, the previous one and its end too).
    pub fn with_fund_secrets(mut self, fund: FundId, secrets: FundSecrets) -> Self {
        self.funds.insert(fund, Arc::new(secrets));
        self
    }

    /// The secrets of every configured fund that has one, with its previous secret while
    /// `previous_secret_until` says.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            funds: settings
                .funds
                .iter()
                .filter_map(|(id, f)| {
                    let mut secrets = FundSecrets::new(f.secret.clone()?);
                    if let (Some(previous), Some(until)) =
                        (&f.previous_secret, f.previous_secret_until)
                    {
                        secrets = secrets.with_previous(previous.clone(), until);
                    }
                    Some((id.clone(), Arc::new(secrets)))
                })
                .collect(),
        }
    }
}

impl SecretSource for StaticSecrets {
    fn fund_secret(&self, fund: &FundId) -> SecretLookup {
        self.funds.get(fund).map_or(SecretLookup::UnknownFund, |s| {
            SecretLookup::Found(s.clone())
        })
    }
}
