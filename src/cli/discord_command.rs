//! `discord-command`: print the `/order` command's registration, as Discord's
//! `PUT /applications/{application.id}/commands` takes it (the same JSON as
//! `examples/discord/order-command.json`).

use std::process::ExitCode;

use mts1b_inbound_adapters::discord::command::registration;

/// Arguments of `discord-command` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    match serde_json::to_string_pretty(&registration()) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot print the registration: {e}");
            ExitCode::FAILURE
        }
    }
}
