//! `validate`: run one alert body offline through the same stateless steps the service runs
//! (`core::translate`, without the rate limit and the replay window), and print the canonical
//! order (exit 0) or the rejection body the service would answer (exit 1).
//!
//! The secret is checked only when it can be: with `--config` and the static provider. Without
//! a config the embedded defaults apply (built-in symbology, any fund, no envelope), and with the
//! Vault provider the secret is not fetched; stderr says what was skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use mts1b_inbound_adapters::tradingview::TradingView;
use mts1b_inbound_config::StaticSecrets;
use mts1b_inbound_config::settings::Secrets;
use mts1b_inbound_core::{
    AnyFund, Envelope, FundId, FundPolicy, FundSecrets, Funds, InboundAdapter, Intent, NoGates,
    Quantity, RateLimit, RawRequest, Rejection, SecretLookup, SecretSource, translate,
};
use mts1b_inbound_runtime::http::status::status_of;
use rust_decimal::Decimal;

use super::{ConfigArg, USAGE_ERROR, load_settings, time_arg};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Judge staleness (max_alert_age) as of this RFC 3339 time instead of now.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// The alert body: a file, or - (the default) for standard input.
    #[arg(value_name = "FILE|-", default_value = "-")]
    input: PathBuf,
}

/// Accepts whatever secret the alert presents, for the funds it knows (all when `None`): used
/// only when the real secret cannot be had offline, and said so on stderr.
struct PresentedSecret {
    secret: Arc<FundSecrets>,
    funds: Option<BTreeSet<FundId>>,
}

impl SecretSource for PresentedSecret {
    fn fund_secret(&self, fund: &FundId) -> SecretLookup {
        match &self.funds {
            Some(known) if !known.contains(fund) => SecretLookup::UnknownFund,
            _ => SecretLookup::Found(self.secret.clone()),
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    let config = args.config.config.as_deref();
    let settings = match load_settings(config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let now = match time_arg("--now", args.now.as_deref()) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let body = match read_input(&args.input, settings.server.max_body_bytes) {
        Ok(body) => body,
        Err(e) => {
            eprintln!("cannot read {}: {e}", args.input.display());
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let limit = settings.server.max_body_bytes;
    if body.len() as u64 > limit {
        return report(Err(Rejection::PayloadTooLarge { limit_bytes: limit }));
    }
    let request = RawRequest::with_body(body, now);
    let adapter = TradingView::new(Arc::new(settings.symbology.clone()));
    // The secret must be known before authentication can be skipped for it; a body that does
    // not parse is rejected right here, exactly as translate would.
    let presented = match adapter.parse(&request) {
        Ok(alert) => Arc::new(FundSecrets::new(alert.secret)),
        Err(rejection) => return report(Err(rejection)),
    };
    let configured: BTreeMap<FundId, FundPolicy> = settings
        .funds
        .iter()
        .map(|(id, f)| (id.clone(), f.policy.clone()))
        .collect();
    let steps = |secrets: &dyn SecretSource, funds: &dyn Funds| {
        // TradingView answers nothing directly: every translation is an order or a rejection.
        translate(&adapter, &request, secrets, funds, &mut NoGates).and_then(|t| t.into_order())
    };
    let outcome = match (config, &settings.secrets) {
        (Some(_), Secrets::Static) => steps(&StaticSecrets::from_settings(&settings), &configured),
        (Some(_), Secrets::Vault(_)) => {
            eprintln!(
                "note: secret not checked (secrets.provider is vault; validate does not contact Vault)"
            );
            let secrets = PresentedSecret {
                secret: presented,
                funds: Some(configured.keys().cloned().collect()),
            };
            steps(&secrets, &configured)
        }
        (None, _) => {
            eprintln!(
                "note: no --config: secret and fund envelope not checked; built-in symbology"
            );
            let secrets = PresentedSecret {
                secret: presented,
                funds: None,
            };
            let any = AnyFund(FundPolicy {
                envelope: Envelope::allow_any(
                    Quantity::new(Decimal::MAX).expect("Decimal::MAX is positive"),
                ),
                // Not applied offline: validate runs no stateful gate.
                rate_limit: RateLimit {
                    per_second: 1,
                    burst: 1,
                },
            });
            steps(&secrets, &any)
        }
    };
    report(outcome)
}

fn read_input(path: &PathBuf, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    // Read one byte past the cap so an oversized body is detected without reading it all.
    let take = limit.saturating_add(1);
    if path.as_os_str() == "-" {
        std::io::stdin().take(take).read_to_end(&mut body)?;
    } else {
        std::fs::File::open(path)?
            .take(take)
            .read_to_end(&mut body)?;
    }
    Ok(body)
}

fn report(outcome: Result<Intent, Rejection>) -> ExitCode {
    let (printed, code) = match &outcome {
        Ok(Intent::Submit(order)) => {
            eprintln!(
                "accepted: {} {} {} {}",
                order.side.as_str(),
                order.quantity,
                order.symbol,
                order.pricing.order_type().as_str()
            );
            (serde_json::to_string_pretty(order), ExitCode::SUCCESS)
        }
        Ok(modification) => {
            eprintln!(
                "accepted: {}{}",
                modification.kind().as_str(),
                modification
                    .target()
                    .map(|t| format!(" of {}", t.key))
                    .unwrap_or_default()
            );
            (
                serde_json::to_string_pretty(modification),
                ExitCode::SUCCESS,
            )
        }
        Err(rejection) => {
            eprintln!(
                "rejected: HTTP {} {}",
                status_of(rejection),
                rejection.code()
            );
            (serde_json::to_string_pretty(rejection), ExitCode::FAILURE)
        }
    };
    match printed {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("cannot print the outcome: {e}"),
    }
    code
}
