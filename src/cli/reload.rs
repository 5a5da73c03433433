//! SIGHUP (`systemctl reload`): the configuration file is read and validated again. What this
//! version applies without a restart: the TLS files (`server.tls`, also watched every 2 s) and
//! the kill switches (`funds.<id>.halted`: how every replica of a cluster is halted). Every
//! other section that changed is named in the log as waiting for a restart, so an operator is
//! never left believing an edit took effect. A file that does not validate changes nothing,
//! and the log says why.

use std::path::PathBuf;
use std::sync::Arc;

use mts1b_inbound_config::Settings;
use mts1b_inbound_runtime::Runtime;
use mts1b_inbound_runtime::http::tls::TlsTermination;

/// Sections whose changes need a restart in this version.
const RESTART_SECTIONS: [&str; 11] = [
    "server",
    "network",
    "replay",
    "rate_limit",
    "secrets",
    "funds",
    "delivery",
    "store",
    "cluster",
    "adapters",
    "symbology",
];

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
    runtime: Arc<Runtime>,
    tls: Option<Arc<TlsTermination>>,
) {
    #[cfg(unix)]
    {
        let Some(mut hangups) = hangups else {
            return;
        };
        while hangups.recv().await.is_some() {
            reload(config.as_deref(), &started_with, &runtime, tls.as_deref());
        }
    }
    #[cfg(not(unix))]
    let _ = (hangups, config, started_with, runtime, tls);
}

fn reload(
    config: Option<&std::path::Path>,
    started_with: &Settings,
    runtime: &Runtime,
    tls: Option<&TlsTermination>,
) {
    let Some(path) = config else {
        tracing::warn!(target: "mts1b::reload", "SIGHUP: started without --config, nothing to read again");
        return;
    };
    let settings = match mts1b_inbound_config::load(Some(path)).and_then(|s| {
        mts1b_tradingview::wiring::check(&s)?;
        Ok(s)
    }) {
        Ok(settings) => settings,
        Err(errors) => {
            tracing::error!(target: "mts1b::reload", config = %path.display(), errors = %errors.to_string().trim_end(), "SIGHUP: the configuration does not validate; nothing changed");
            return;
        }
    };
    let tls_outcome = match tls.map(TlsTermination::reload) {
        None => "no TLS".to_owned(),
        Some(Ok(true)) => "TLS files reloaded".to_owned(),
        Some(Ok(false)) => "TLS files unchanged".to_owned(),
        Some(Err(e)) => format!("TLS files not reloaded, the previous ones stay: {e}"),
    };
    let (halted, resumed) = runtime.halts().set_configured(
        settings
            .funds
            .iter()
            .filter(|(_, fund)| fund.halted)
            .map(|(id, _)| id.clone()),
    );
    let names = |funds: &[mts1b_inbound_core::FundId]| {
        funds
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kill_switches = format!(
        "halted: [{}], resumed: [{}]",
        names(&halted),
        names(&resumed)
    );
    if !halted.is_empty() || !resumed.is_empty() {
        tracing::warn!(target: "mts1b::reload", kill_switches = %kill_switches, "SIGHUP: the configuration's kill switches applied");
    }
    let waiting = changed_sections(started_with, &settings);
    if waiting.is_empty() {
        tracing::info!(target: "mts1b::reload", tls = %tls_outcome, "SIGHUP: configuration read again; nothing else changed");
    } else {
        tracing::warn!(target: "mts1b::reload", tls = %tls_outcome, restart_needed_for = %waiting.join(", "), "SIGHUP: configuration read again; these sections changed and apply only after a restart");
    }
}

/// The sections that differ between the running settings and the file's (secrets compared by
/// value, though printed redacted).
fn changed_sections(running: &Settings, file: &Settings) -> Vec<&'static str> {
    let (Ok(running_json), Ok(file_json)) =
        (serde_json::to_value(running), serde_json::to_value(file))
    else {
        return RESTART_SECTIONS.to_vec();
    };
    let mut changed: Vec<&'static str> = RESTART_SECTIONS
        .into_iter()
        .filter(|section| {
            // What a reload applies is left out: the TLS files, the kill switches.
            let strip_tls = |v: &serde_json::Value| {
                let mut v = v.get(*section).cloned().unwrap_or_default();
                if *section == "server"
                    && let Some(server) = v.as_object_mut()
                {
                    server.remove("tls");
                }
                if *section == "funds"
                    && let Some(funds) = v.as_object_mut()
                {
                    for fund in funds.values_mut() {
                        if let Some(fund) = fund.as_object_mut() {
                            fund.remove("halted");
                        }
                    }
                }
                v
            };
            strip_tls(&running_json) != strip_tls(&file_json)
        })
        .collect();
    let secrets_differ = running.funds.len() != file.funds.len()
        || running.funds.iter().any(|(id, fund)| {
            let other = file.funds.get(id);
            let expose =
                |s: Option<&Arc<mts1b_inbound_core::Secret>>| s.map(|s| s.expose().to_owned());
            other.is_none_or(|other| {
                expose(fund.secret.as_ref()) != expose(other.secret.as_ref())
                    || expose(fund.previous_secret.as_ref())
                        != expose(other.previous_secret.as_ref())
            })
        });
    if secrets_differ && !changed.contains(&"funds") {
        changed.push("funds");
    }
    changed
}
