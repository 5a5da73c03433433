//! `symbol TEXT [--at TIME]`: what a TradingView symbol maps to (SPEC §4) and the rule that
//! mapped it, or the refusal the service would answer (exit 1). Continuous futures resolve at
//! `--at` (default: now), as the service resolves them at an alert's `alert_time`.

use std::process::ExitCode;

use mts1b_inbound_core::{Rejection, Timing};
use serde::Serialize;

use super::{ConfigArg, USAGE_ERROR, load_settings, time_arg};

/// Arguments of `symbol`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Resolve as of this RFC 3339 time (continuous futures, contract expiry); default: now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// The symbol as an alert would send it (`BYBIT:BTCUSDT.P`, `CME_MINI:ES1!`).
    #[arg(value_name = "TEXT")]
    text: String,
}

/// What `symbol` prints for a mapped symbol.
#[derive(Serialize)]
struct Printed<'a> {
    tradingview_symbol: &'a str,
    symbol: &'a str,
    instrument_class: &'a str,
    venue_hint: Option<&'a str>,
    rule: &'a str,
    at: String,
}

pub fn run(args: Args) -> ExitCode {
    let settings = match load_settings(args.config.config.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let at = match time_arg("--at", args.at.as_deref()) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let (printed, status) = match settings.symbology.explain(&args.text, Timing::at(at)) {
        Ok((m, rule)) => {
            let printed = Printed {
                tradingview_symbol: &args.text,
                symbol: m.symbol.as_str(),
                instrument_class: m.class.as_str(),
                venue_hint: m.venue_hint.as_ref().map(|v| v.as_str()),
                rule: &rule,
                at: at.to_rfc3339(),
            };
            (serde_json::to_string_pretty(&printed), ExitCode::SUCCESS)
        }
        Err(why) => {
            let rejection = Rejection::unknown_symbol(&args.text, &why);
            (serde_json::to_string_pretty(&rejection), ExitCode::FAILURE)
        }
    };
    match printed {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("cannot print: {e}");
            return ExitCode::from(USAGE_ERROR);
        }
    }
    status
}
