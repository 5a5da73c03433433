//! `template`: print a TradingView alert message that renders into a valid schema v1 alert: a
//! new order, or (`--action`) a cancel, replace or cancel-all of orders it sent (SPEC §13).
//!
//! It uses only placeholders TradingView has, and strategy ones (`{{strategy.*}}` render only in
//! strategy alerts, not in Pine `alert()` strings). The idempotency key is built from
//! `{{strategy.order.id}}` and `{{timenow}}`, the firing time: `{{time}}` is the bar time, which
//! an exit and the re-entry on the same bar share, so the second would be refused as a duplicate.

use std::process::ExitCode;

use mts1b_inbound_core::{Clock, FundId, IdempotencyKey, StrategyId, SystemClock, Timing};
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
    /// A fixed symbol (EXCHANGE:TICKER or canonical); default: the chart's, rendered by
    /// TradingView (a cancel-all without it clears every symbol of the strategy).
    #[arg(long, value_name = "SYMBOL")]
    symbol: Option<String>,
    /// What the alert asks for: a new order, or a change to orders it sent.
    #[arg(long, value_enum, default_value_t = Action::Submit)]
    action: Action,
    /// The idempotency key of the order a cancel or replace changes, exactly as its alert
    /// sent it.
    #[arg(long, value_name = "KEY")]
    target_key: Option<String>,
    /// The term a replace changes.
    #[arg(long, value_enum, default_value_t = Term::StopPrice)]
    change: Term,
    #[command(flatten)]
    config: ConfigArg,
}

/// `--action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "snake_case")]
enum Action {
    Submit,
    Cancel,
    Replace,
    CancelAll,
}

/// `--change`: the term a replace changes, and the placeholder its new value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "snake_case")]
enum Term {
    Quantity,
    LimitPrice,
    StopPrice,
    Tif,
}

/// The alert message, fields in schema order; a field an action does not take is left out.
#[derive(Serialize)]
struct Message<'a> {
    secret: &'a str,
    strategy_id: &'a str,
    fund_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    symbol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    side: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_price: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_price: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tif: Option<&'a str>,
    idempotency_key: &'a str,
    alert_time: &'a str,
}

/// Where a replace's new value comes from: an indicator's first plot (`{{plot_0}}`, which
/// TradingView renders in alert messages), or for `tif`, a fixed `gtc`.
const NEW_VALUE: &str = "{{plot_0}}";

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
            Ok(_) => Some(symbol.clone()),
            Err(reason) => return usage(format!("--symbol {symbol:?} cannot be mapped: {reason}")),
        },
        // A cancel-all names a symbol only when asked to: without one it clears them all.
        None if args.action == Action::CancelAll => None,
        None => Some("{{exchange}}:{{ticker}}".to_owned()),
    };
    let target = match (args.action, &args.target_key) {
        (Action::Cancel | Action::Replace, None) => {
            return usage("--target-key: required by --action cancel and replace".into());
        }
        (Action::Submit | Action::CancelAll, Some(_)) => {
            return usage("--target-key: only --action cancel and replace name a target".into());
        }
        (_, Some(key)) => match IdempotencyKey::parse(key) {
            Ok(_) if key.contains("{{") || key.contains("}}") => {
                return usage(
                    "--target-key: the order's key as it was sent, not a placeholder: a later alert cannot render an earlier one's".into(),
                );
            }
            Ok(key) => Some(key),
            Err(e) => return usage(format!("--target-key: {e}")),
        },
        (_, None) => None,
    };
    if args.config.config.is_some() && !settings.funds.contains_key(&fund) {
        eprintln!("warning: fund {fund} is not in the configuration; its alerts will be refused");
    }
    let (key, hint) = match (args.action, &target) {
        (Action::Cancel, Some(target)) => (
            // The same cancel sent twice is one cancel: a resend is refused as a duplicate.
            format!("{target}-cancel"),
            format!(
                "It cancels the order sent with idempotency_key {target}; a second identical alert is refused as a duplicate (409), which is harmless."
            ),
        ),
        (Action::Replace, Some(target)) => (
            format!("{target}-replace-{{{{timenow}}}}"),
            format!(
                "It replaces a term of the order sent with idempotency_key {target}; the new value comes from {NEW_VALUE}, the indicator's first plot."
            ),
        ),
        (Action::CancelAll, _) => (
            format!("{strategy}-cancel-all-{{{{timenow}}}}"),
            "It cancels every working order of this fund and strategy (of --symbol only, if given).".to_owned(),
        ),
        _ => {
            let room = MAX_KEY.saturating_sub(strategy.as_str().len() + KEY_OVERHEAD);
            (
                format!("{strategy}-{{{{strategy.order.id}}}}-{{{{timenow}}}}"),
                format!(
                    "Keep strategy order ids (the id argument of strategy.entry/exit/order) to at most {room} characters of printable ASCII without double quotes."
                ),
            )
        }
    };
    // A modification's own key, as TradingView renders it, must fit the schema too.
    let rendered = key.replace("{{timenow}}", "2024-03-01T12:34:56Z");
    if args.action != Action::Submit && rendered.len() > MAX_KEY {
        return usage(format!(
            "--target-key: too long to build this alert's own key from it ({} characters once rendered, at most {MAX_KEY})",
            rendered.len()
        ));
    }
    let changed = |term: Term| args.action == Action::Replace && args.change == term;
    let message = Message {
        secret: SECRET_PLACEHOLDER,
        strategy_id: strategy.as_str(),
        fund_id: fund.as_str(),
        action: match args.action {
            Action::Submit => None,
            Action::Cancel => Some("cancel"),
            Action::Replace => Some("replace"),
            Action::CancelAll => Some("cancel_all"),
        },
        target_key: target.as_ref().map(IdempotencyKey::as_str),
        symbol: symbol.as_deref(),
        side: (args.action == Action::Submit).then_some("{{strategy.order.action}}"),
        quantity: match args.action {
            Action::Submit => Some("{{strategy.order.contracts}}"),
            _ => changed(Term::Quantity).then_some(NEW_VALUE),
        },
        order_type: (args.action == Action::Submit).then_some("market"),
        limit_price: changed(Term::LimitPrice).then_some(NEW_VALUE),
        stop_price: changed(Term::StopPrice).then_some(NEW_VALUE),
        tif: changed(Term::Tif).then_some("gtc"),
        idempotency_key: &key,
        alert_time: "{{timenow}}",
    };
    match serde_json::to_string_pretty(&message) {
        Ok(text) => println!("{text}"),
        Err(e) => return usage(format!("cannot print the template: {e}")),
    }
    let what = match args.action {
        Action::Submit => "a strategy alert",
        _ => "an alert",
    };
    eprintln!(
        "Paste this as the alert message of {what}, then replace {SECRET_PLACEHOLDER} with the fund's secret.\n{hint}"
    );
    ExitCode::SUCCESS
}
