//! The fixture harness shared by the black-box tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mts1b_tradingview::adapters::tradingview::TradingView;
use mts1b_tradingview::config::{EnvOverrides, Settings, StaticSecrets, load_str};
use mts1b_tradingview::core::time::parse_rfc3339;
use mts1b_tradingview::core::{
    FundId, FundPolicy, Intent, NoGates, OrderIntent, RawRequest, Rejection, Timing, UnixMillis,
    translate,
};
use mts1b_tradingview::runtime::http::status::status_of;
use serde::Serialize;
use serde_json::Value;

/// The snapshot of one fixture. A typed struct, not a `serde_json::Value`: with serde_json's
/// `arbitrary_precision`, numbers inside a `Value` reach any other serializer (insta's) as a
/// private map.
#[derive(Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Accepted {
        order: OrderIntent,
    },
    /// A cancel, replace or cancel-all (SPEC §13), as the sink gets it.
    Modification {
        modification: Intent,
    },
    Rejected {
        status: u16,
        body: Rejection,
    },
}

impl Outcome {
    /// The outcome as JSON, for assertions.
    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap()
    }
}

/// When every fixture is judged to have been received.
pub const RECEIVED_AT: &str = "2024-03-01T12:35:00Z";

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn config_path() -> PathBuf {
    fixtures_dir().join("config.toml")
}

pub fn tradingview_fixtures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir().join("tradingview"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
}

pub struct Harness {
    pub settings: Settings,
    pub adapter: TradingView,
    pub secrets: StaticSecrets,
    pub funds: BTreeMap<FundId, FundPolicy>,
}

impl Harness {
    pub fn new() -> Self {
        let text = std::fs::read_to_string(config_path()).unwrap();
        let settings = load_str(&text, EnvOverrides::from_vars([])).unwrap();
        let adapter = TradingView::new(Arc::new(settings.symbology.clone()));
        let secrets = StaticSecrets::from_settings(&settings);
        let funds = settings
            .funds
            .iter()
            .map(|(id, f)| (id.clone(), f.policy.clone()))
            .collect();
        Self {
            settings,
            adapter,
            secrets,
            funds,
        }
    }

    pub fn received_at() -> UnixMillis {
        parse_rfc3339(RECEIVED_AT).unwrap()
    }

    /// The service's stateless steps (`core::translate`), without its stateful gates.
    pub fn translate(&self, body: &[u8]) -> Result<Intent, Rejection> {
        let request = RawRequest::with_body(body, Self::received_at());
        translate(
            &self.adapter,
            &request,
            &self.secrets,
            &self.funds,
            &mut NoGates,
        )
        .and_then(|t| t.into_order())
    }

    /// What the service would answer, as the snapshot records it.
    pub fn outcome(&self, body: &[u8]) -> Outcome {
        match self.translate(body) {
            Ok(Intent::Submit(order)) => Outcome::Accepted { order },
            Ok(modification) => Outcome::Modification { modification },
            Err(rejection) => Outcome::Rejected {
                status: status_of(&rejection),
                body: rejection,
            },
        }
    }

    /// Which symbology refusal a fixture meets (its variant's name), if it meets one.
    pub fn refusal(&self, body: &[u8]) -> Option<String> {
        let alert: Value = serde_json::from_slice(body).ok()?;
        let symbol = alert["symbol"].as_str()?;
        let timing = Timing {
            alert_time: alert["alert_time"]
                .as_str()
                .and_then(|t| parse_rfc3339(t).ok()),
            received_at: Self::received_at(),
        };
        let refusal = self.settings.symbology.map(symbol, timing).err()?;
        let name = format!("{refusal:?}");
        Some(name.split([' ', '{']).next().unwrap_or_default().to_owned())
    }

    /// The JSON `validate` prints on stdout: the order, or the rejection body.
    pub fn printed(&self, body: &[u8]) -> Value {
        match self.translate(body) {
            Ok(Intent::Submit(order)) => serde_json::to_value(order).unwrap(),
            Ok(modification) => serde_json::to_value(modification).unwrap(),
            Err(rejection) => serde_json::to_value(rejection).unwrap(),
        }
    }
}
