//! `check-config`: print the effective configuration, secrets redacted.

use std::process::ExitCode;

use super::{ConfigArg, load_settings};

/// Arguments of `check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
}

pub fn run(args: Args) -> ExitCode {
    let settings = match load_settings(args.config.config.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match serde_json::to_string_pretty(&settings) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot print the configuration: {e}");
            ExitCode::FAILURE
        }
    }
}
