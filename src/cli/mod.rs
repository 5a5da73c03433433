//! Subcommands. Exit status: 0 success, 1 the alert was rejected, 2 usage or configuration error.

mod check_config;
mod discord_command;
mod doctor;
mod logs;
mod reload;
mod serve;
mod symbol;
mod template;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mts1b_inbound_config::Settings;
use mts1b_inbound_core::time::parse_rfc3339;
use mts1b_inbound_core::{Clock, SystemClock, UnixMillis};

/// Turns TradingView alerts into MTS1B orders.
#[derive(Debug, Parser)]
#[command(name = "mts1b-tradingview", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the webhook service (`--dev`: no configuration needed).
    Serve(serve::Args),
    /// Parse and normalize one alert body offline; print the canonical order or the exact
    /// rejection (exit 0 or 1).
    Validate(validate::Args),
    /// Print a TradingView alert message that renders into a valid alert.
    Template(template::Args),
    /// Print what a TradingView symbol maps to (canonical symbol, class, venue hint, the rule
    /// that matched), or why it is refused (exit 1).
    Symbol(symbol::Args),
    /// Print the effective configuration, secrets redacted.
    CheckConfig(check_config::Args),
    /// Check the whole setup, one line per check with its fix; exit 0 only if all pass.
    Doctor(doctor::Args),
    /// Print the Discord `/order` command's registration JSON (for `PUT
    /// /applications/{id}/commands`).
    #[command(name = "discord-command")]
    DiscordRegistration(discord_command::Args),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::Serve(args) => serve::run(args),
            Command::Validate(args) => validate::run(args),
            Command::Template(args) => template::run(args),
            Command::Symbol(args) => symbol::run(args),
            Command::CheckConfig(args) => check_config::run(args),
            Command::Doctor(args) => doctor::run(args),
            Command::DiscordRegistration(args) => discord_command::run(args),
        }
    }
}

/// Exit status of a usage or configuration error.
const USAGE_ERROR: u8 = 2;

/// Loads and checks the configuration (embedded defaults without a file), or prints every error.
fn load_settings(path: Option<&Path>) -> Result<Settings, ExitCode> {
    let settings = mts1b_inbound_config::load(path).and_then(|s| {
        mts1b_tradingview::wiring::check(&s)?;
        Ok(s)
    });
    settings.map_err(|errors| {
        eprint!("{errors}");
        ExitCode::from(USAGE_ERROR)
    })
}

/// Reads a time option (`--now`, `--at`) as RFC 3339, or now when it is absent; prints the error
/// naming `flag` otherwise.
fn time_arg(flag: &str, value: Option<&str>) -> Result<UnixMillis, ExitCode> {
    match value.map(parse_rfc3339) {
        None => Ok(SystemClock.now()),
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => {
            eprintln!("{flag}: {e}");
            Err(ExitCode::from(USAGE_ERROR))
        }
    }
}

/// `--config FILE`, shared by the subcommands.
#[derive(Debug, clap::Args)]
struct ConfigArg {
    /// The TOML configuration file (without it: the embedded defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}
