//! `template`: print a TradingView alert message that renders into a valid schema v1 alert.
//!
//! It uses only placeholders TradingView has, and strategy ones (`{{strategy.*}}` render only in
//! strategy alerts, not in Pine `alert()` strings). The idempotency key is built from
//! `{{strategy.order.id}}` and `{{timenow}}`, the firing time: `{{time}}` is the bar time, which
//! an exit and the re-entry on the same bar share, so the second would be refused as a duplicate.

use std::process::ExitCode;

use mts1b_inbound_core::{Clock, FundId, StrategyId, SystemClock, Timing};
use serde::Serialize;

use super::{ConfigArg, USAGE_ERROR, load_settings};

/// Arguments of `template`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The fund the alert trades for.
    #[arg(long, value_name = "ID")]
    fund: String,
    /// The strategy id the alert reports.
    #[arg(long, value_name = "ID")]
    strategy: String,
    /// A fixed symbol (EXCHANGE:TICKER or canonical); default: the chart's, rendered by TradingView.
    #[arg(long, value_name = "SYMBOL")]
    symbol: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
}

/// The alert message, fields in schema order.
#[derive(Serialize)]
struct Message<'a> {
    secret: &'a str,
    strategy_id: &'a str,
    fund_id: &'a str,
    symbol: &'a str,
    side: &'a str,
    quantity: &'a str,
    order_type: &'a str,
    idempotency_key: &'a str,
    alert_time: &'a str,
}

/// What the operator pastes in place of the secret; plainly not a placeholder TradingView knows.
pub const SECRET_PLACEHOLDER: &str = "PASTE-THE-FUND-WEBHOOK-SECRET-HERE";

/// The rendered `{{timenow}}` is 20 characters (`2024-03-01T12:34:56Z`), plus two dashes.
const KEY_OVERHEAD: usize = 22;
const MAX_KEY: usize = 128;

pub fn run(args: Args) -> ExitCode {
    let settings = match load_settings(args.config.config.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let usage = |msg: String| {
        eprintln!("{msg}");
        ExitCode::from(USAGE_ERROR)
    };
    let fund = match FundId::parse(&args.fund) {
        Ok(f) => f,
        Err(e) => return usage(format!("--fund: {e}")),
    };
    let strategy = match StrategyId::parse(&args.strategy) {
        Ok(s) => s,
        Err(e) => return usage(format!("--strategy: {e}")),
    };
    let symbol = match &args.symbol {
        Some(symbol) => match settings
            .symbology
            .map(symbol, Timing::at(SystemClock.now()))
        {
            Ok(_) => symbol.clone(),
            Err(reason) => return usage(format!("--symbol {symbol:?} cannot be mapped: {reason}")),
        },
        None => "{{exchange}}:{{ticker}}".to_owned(),
    };
    if args.config.config.is_some() && !settings.funds.contains_key(&fund) {
        eprintln!("warning: fund {fund} is not in the configuration; its alerts will be refused");
    }
    let message = Message {
        secret: SECRET_PLACEHOLDER,
        strategy_id: strategy.as_str(),
        fund_id: fund.as_str(),
        symbol: &symbol,
        side: "{{strategy.order.action}}",
        quantity: "{{strategy.order.contracts}}",
        order_type: "market",
        idempotency_key: &format!("{strategy}-{{{{strategy.order.id}}}}-{{{{timenow}}}}"),
        alert_time: "{{timenow}}",
    };
    match serde_json::to_string_pretty(&message) {
        Ok(text) => println!("{text}"),
        Err(e) => return usage(format!("cannot print the template: {e}")),
    }
    let room = MAX_KEY.saturating_sub(strategy.as_str().len() + KEY_OVERHEAD);
    eprintln!(
        "Paste this as the alert message of a strategy alert, then replace {SECRET_PLACEHOLDER} with the fund's secret.\n\
         Keep strategy order ids (the id argument of strategy.entry/exit/order) to at most {room} characters of printable ASCII without double quotes."
    );
    ExitCode::SUCCESS
}
