//! Configuration of the MTS1B inbound bridge (SPEC §8): one TOML file plus
//! `MTS1B_TV_<SECTION>__<KEY>` environment overrides, validated into [`Settings`] with every
//! error reported at once by its dotted key path; and the static secret source.
//!
//! ```
//! use mts1b_inbound_config::{EnvOverrides, load_str};
//!
//! let toml = r#"
//! [funds.paper-tv-test]
//! secret = "change-me"
//! max_quantity = "1"
//! "#;
//! let settings = load_str(toml, EnvOverrides::from_vars([])).unwrap();
//! assert_eq!(settings.server.max_body_bytes, 4096);
//! ```

pub mod defaults;
pub mod duration;
mod env;
mod raw;
pub mod settings;
mod static_secrets;
mod validate;
pub mod vault;

use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Toml};

pub use duration::HumanDuration;
pub use env::{EnvOverrides, PREFIX as ENV_PREFIX};
pub use mts1b_inbound_core::IpNet;
pub use settings::Settings;
pub use static_secrets::StaticSecrets;
pub use vault::VaultSecrets;

/// One bad key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The dotted key path (`funds.paper-tv-test.max_alert_age`).
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Every error of a configuration that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} error(s)):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    fn one(path: &str, reason: impl Into<String>) -> Self {
        Self(vec![ConfigError {
            path: path.to_owned(),
            reason: reason.into(),
        }])
    }
}

/// Whether the configuration came from a file (production defaults) or not (embedded defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A config file was given: `delivery.sink` defaults to `oms`.
    File,
    /// No file: `delivery.sink` defaults to `paper`.
    Embedded,
}

/// Loads `path` (if given) with environment overrides from the process.
pub fn load(path: Option<&Path>) -> Result<Settings, ConfigErrors> {
    let env = EnvOverrides::from_process();
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigErrors::one(
                    "",
                    format!("cannot read config file {}: {e}", path.display()),
                )
            })?;
            load_from(Some(&text), env, Origin::File)
        }
        None => load_from(None, env, Origin::Embedded),
    }
}

/// Loads configuration text with the given overrides (as if from a file).
pub fn load_str(toml: &str, env: EnvOverrides) -> Result<Settings, ConfigErrors> {
    load_from(Some(toml), env, Origin::File)
}

/// Loads TOML text (or nothing) plus overrides, and validates.
pub fn load_from(
    toml: Option<&str>,
    env: EnvOverrides,
    origin: Origin,
) -> Result<Settings, ConfigErrors> {
    let figment = Figment::new()
        .merge(Toml::string(toml.unwrap_or_default()))
        .merge(env);
    let raw: raw::RawConfig = figment.extract().map_err(|errors| {
        ConfigErrors(
            errors
                .into_iter()
                .map(|e| ConfigError {
                    path: e.path.join("."),
                    reason: e.kind.to_string(),
                })
                .collect(),
        )
    })?;
    validate::validate(&raw, origin).map_err(ConfigErrors)
}

#[cfg(test)]
mod tests;
