//! The static secret source: fund secrets from config or the environment, for dev and embedding.

use std::sync::Arc;

use mts1b_inbound_core::{FundId, FundMap, Secret, SecretLookup, SecretSource};

use crate::settings::Settings;

/// Fund secrets held in memory, loaded once.
#[derive(Clone, Debug, Default)]
pub struct StaticSecrets {
    funds: FundMap<Arc<Secret>>,
}

impl StaticSecrets {
    /// An empty source (every fund unknown).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a fund's secret.
    pub fn with_fund(mut self, fund: FundId, secret: Secret) -> Self {
        self.funds.insert(fund, Arc::new(secret));
        self
    }

    /// The secrets of every configured fund that has one.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            funds: settings
                .funds
                .iter()
                .filter_map(|(id, f)| Some((id.clone(), f.secret.clone()?)))
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
