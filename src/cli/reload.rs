//! SIGHUP (`systemctl reload`): the configuration file is read and validated again. Applied
//! without a restart: the TLS files (`server.tls`, also watched every 2 s), the symbology, the
//! funds (added, removed, envelopes, rate limits, static secrets; on Vault the set of funds
//! read) and their kill switches (`funds.<id>.halted`: how every replica of a cluster is
//! halted). A request already past its fund lookup finishes under what it took. Every other
//! section that changed is named in the log as waiting for a restart, so an operator is never
//! left believing an edit took effect. A file that does not validate changes nothing, and the
//! log says why.

use std::path::PathBuf;
use std::sync::Arc;

use mts1b_inbound_config::settings::Secrets;
use mts1b_inbound_config::{Settings, StaticSecrets};
use mts1b_inbound_core::{FundId, FundMap, Reloadable, SymbolTable};
use mts1b_inbound_runtime::Runtime;
use mts1b_inbound_runtime::http::tls::TlsTermination;
use mts1b_tradingview::service::SecretHandle;

/// Sections whose changes need a restart in this version (the symbology, the funds with the
/// default rate limit they take, and the TLS files are applied).
const RESTART_SECTIONS: [&str; 8] = [
    "server", "network", "replay", "secrets", "delivery", "store", "cluster", "adapters",
];

/// What a reload reaches in the running service.
pub struct Reloading {
    /// The runtime: funds and kill switches.
    pub runtime: Arc<Runtime>,
    /// TLS on the public listener, if any.
    pub tls: Option<Arc<TlsTermination>>,
    /// The adapters' symbology table.
    pub symbology: Reloadable<SymbolTable>,
    /// The fund secrets' source.
    pub secrets: SecretHandle,
}

/// SIGHUP, caught from now on. Taken before the service says it listens: SIGHUP's default
/// action ends the process, so one sent right after start-up must already find a handler.
#[cfg(unix)]
pub type Hangups = Option<tokio::signal::unix::Signal>;
/// No SIGHUP off Unix.
#[cfg(not(unix))]
pub type Hangups = Option<()>;

/// Catches SIGHUP from now on (within the async runtime).
pub fn catch_hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::hangup()).ok()
    }
    #[cfg(not(unix))]
    None
}

/// Reloads at each SIGHUP, until the process ends.
pub async fn on_hangup(
    hangups: Hangups,
    config: Option<PathBuf>,
    started_with: Settings,
    live: Reloading,
) {
    #[cfg(unix)]
    {
        let Some(mut hangups) = hangups else {
            return;
        };
        let mut running = started_with;
        while hangups.recv().await.is_some() {
            reload(config.as_deref(), &mut running, &live);
        }
    }
    #[cfg(not(unix))]
    let _ = (hangups, config, started_with, live);
}

fn names(funds: &[FundId]) -> String {
    funds
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the file again and applies what can change without a restart; `running` becomes
/// what now runs (the applied sections the file's, the rest as started).
fn reload(config: Option<&std::path::Path>, running: &mut Settings, live: &Reloading) {
    let Some(path) = config else {
        tracing::warn!(target: "mts1b::reload", "SIGHUP: started without --config, nothing to read again");
        return;
    };
    let file = match mts1b_inbound_config::load(Some(path)).and_then(|s| {
        mts1b_tradingview::wiring::check(&s)?;
        Ok(s)
    }) {
        Ok(settings) => settings,
        Err(errors) => {
            tracing::error!(target: "mts1b::reload", config = %path.display(), errors = %errors.to_string().trim_end(), "SIGHUP: the configuration does not validate; nothing changed");
            return;
        }
    };
    let tls = match live.tls.as_deref().map(TlsTermination::reload) {
        None => "no TLS".to_owned(),
        Some(Ok(true)) => "TLS files reloaded".to_owned(),
        Some(Ok(false)) => "TLS files unchanged".to_owned(),
        Some(Err(e)) => format!("TLS files not reloaded, the previous ones stay: {e}"),
    };
    let secrets = reload_secrets(running, &file, &live.secrets);
    let funds: FundMap<_> = file
        .funds
        .iter()
        .map(|(id, fund)| (id.clone(), fund.policy.clone()))
        .collect();
    let reloaded = live.runtime.reload_funds(funds);
    let (halted, resumed) = live.runtime.halts().set_configured(
        file.funds
            .iter()
            .filter(|(_, fund)| fund.halted)
            .map(|(id, _)| id.clone()),
    );
    let symbology = if same(&running.symbology, &file.symbology) {
        "unchanged"
    } else {
        live.symbology.replace(file.symbology.clone());
        for warning in file.symbology.calendar_warnings(live.runtime.clock().now()) {
            tracing::warn!(target: "mts1b::reload", "{warning}");
        }
        "reloaded"
    };
    let waiting = changed_sections(running, &file);
    running.funds = file.funds;
    running.symbology = file.symbology;
    let funds = format!(
        "added: [{}], removed: [{}], changed: [{}]",
        names(&reloaded.added),
        names(&reloaded.removed),
        names(&reloaded.changed)
    );
    let kill_switches = format!(
        "halted: [{}], resumed: [{}]",
        names(&halted),
        names(&resumed)
    );
    if !halted.is_empty() || !resumed.is_empty() {
        tracing::warn!(target: "mts1b::reload", kill_switches = %kill_switches, "SIGHUP: the configuration's kill switches applied");
    }
    if waiting.is_empty() {
        tracing::info!(target: "mts1b::reload", funds = %funds, symbology, secrets = %secrets, tls = %tls, "SIGHUP: configuration reloaded; nothing needs a restart");
    } else {
        tracing::warn!(target: "mts1b::reload", funds = %funds, symbology, secrets = %secrets, tls = %tls, restart_needed_for = %waiting.join(", "), "SIGHUP: configuration reloaded; these sections changed and apply only after a restart");
    }
}

/// The funds' secrets from the reloaded file, when the provider is the one running (a change
/// of provider, or of Vault's settings, waits for a restart: `secrets` is then named).
fn reload_secrets(running: &Settings, file: &Settings, source: &SecretHandle) -> String {
    match (source, &file.secrets) {
        (SecretHandle::Static(secrets), Secrets::Static) => {
            secrets.replace(StaticSecrets::from_settings(file));
            "static secrets reloaded".to_owned()
        }
        (SecretHandle::Vault(vault), Secrets::Vault(_)) => {
            let funds: Vec<FundId> = file.funds.keys().cloned().collect();
            let added = funds
                .iter()
                .filter(|f| !running.funds.contains_key(*f))
                .count();
            vault.set_funds(funds);
            let vault = vault.clone();
            // A new fund's alerts are refused as from an unknown fund until this read.
            tokio::spawn(async move {
                match vault.refresh().await {
                    Ok(()) => {
                        tracing::info!(target: "mts1b::reload", "SIGHUP: Vault read for the reloaded funds")
                    }
                    Err(e) => {
                        tracing::warn!(target: "mts1b::reload", error = %e, "SIGHUP: Vault read for the reloaded funds failed; retried at the next refresh")
                    }
                }
            });
            format!("Vault: reading the funds' secrets again ({added} new)")
        }
        _ => "provider changed: kept until a restart".to_owned(),
    }
}

/// True when two values serialize the same (secrets compared redacted: use only for
/// sections without secrets).
fn same<T: serde::Serialize>(a: &T, b: &T) -> bool {
    matches!((serde_json::to_value(a), serde_json::to_value(b)), (Ok(a), Ok(b)) if a == b)
}

/// The sections that differ between the running settings and the file's, of those a reload
/// does not apply. `server.tls` is compared too: a reload reads the same files again, so new
/// paths or a new client-certificate policy wait for a restart.
fn changed_sections(running: &Settings, file: &Settings) -> Vec<&'static str> {
    let (Ok(running_json), Ok(file_json)) =
        (serde_json::to_value(running), serde_json::to_value(file))
    else {
        return RESTART_SECTIONS.to_vec();
    };
    let secrets_changed = restart_secrets_changed(running, file);
    RESTART_SECTIONS
        .into_iter()
        .filter(|section| {
            running_json.get(*section) != file_json.get(*section)
                || secrets_changed.contains(section)
        })
        .collect()
}

/// The restart sections whose secrets changed: printed redacted, so the comparison of the
/// rest cannot see them.
fn restart_secrets_changed(running: &Settings, file: &Settings) -> Vec<&'static str> {
    use mts1b_inbound_config::settings::NatsAuth;
    type Exposed = Option<String>;
    let expose = |s: Option<&Arc<mts1b_inbound_core::Secret>>| -> Exposed {
        s.map(|s| s.expose().to_owned())
    };
    let nats_password = |s: &Settings| -> Exposed {
        match s.cluster.nats.as_ref().map(|n| &n.auth) {
            Some(NatsAuth::UserPassword { password, .. }) => expose(Some(password)),
            _ => None,
        }
    };
    let mut changed = Vec::new();
    if expose(running.server.admin_token.as_ref()) != expose(file.server.admin_token.as_ref()) {
        changed.push("server");
    }
    if nats_password(running) != nats_password(file) {
        changed.push("cluster");
    }
    let slack = |s: &Settings| expose(s.adapters.slack.signing_secret.as_ref());
    if slack(running) != slack(file) {
        changed.push("adapters");
    }
    changed
}

#[cfg(test)]
mod tests {
    use mts1b_inbound_config::{EnvOverrides, load_str};

    use super::*;

    fn settings(toml: &str) -> Settings {
        load_str(
            &format!("[funds.f]\nsecret = \"s-1234567890\"\nmax_quantity = \"1\"\n{toml}"),
            EnvOverrides::from_vars([]),
        )
        .unwrap()
    }

    #[test]
    fn a_changed_secret_of_a_restart_section_is_named_though_printed_redacted() {
        let token = |t: &str| settings(&format!("[server]\nadmin_token = \"{t}\"\n"));
        let running = token("a-token-of-sixteen-chars");
        assert!(changed_sections(&running, &running.clone()).is_empty());
        assert_eq!(
            changed_sections(&running, &token("another-token-sixteen")),
            ["server"]
        );
    }

    #[test]
    fn funds_symbology_and_the_default_rate_limit_are_not_named_server_tls_paths_are() {
        let running = settings("");
        let applied = settings(
            "[funds.g]\nsecret = \"g-1234567890\"\nmax_quantity = \"2\"\n[rate_limit]\nper_second = 3\nburst = 3\n[symbology.quotes]\nUSDQ = \"USD\"\n",
        );
        assert!(changed_sections(&running, &applied).is_empty());
        let tls =
            settings("[server.tls]\ncert = \"/etc/tls/cert.pem\"\nkey = \"/etc/tls/key.pem\"\n");
        assert_eq!(changed_sections(&running, &tls), ["server"]);
    }
}
