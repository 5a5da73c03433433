//! Checks that need both the configuration and the adapters (the config crate knows no adapter).

use mts1b_inbound_adapters::discord::Discord;
use mts1b_inbound_config::{ConfigError, ConfigErrors, Settings};

/// Refuses settings the adapters cannot use, naming the key (run at start-up, never later).
pub fn check(settings: &Settings) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    if let Some(key) = &settings.adapters.discord.public_key
        && let Err(e) = Discord::from_hex(key)
    {
        errors.push(ConfigError {
            path: "adapters.discord.public_key".into(),
            reason: e.to_string(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}
