//! `serve [--config FILE]` and `serve --dev`: run the webhook service.
//!
//! `--dev` needs no configuration at all: it generates a fund secret and prints it, allows
//! loopback callers (besides TradingView's addresses), uses the paper OMS with its journal in
//! `./data`, and prints a ready-to-run curl line. Environment overrides still apply.

use std::net::SocketAddr;
use std::process::ExitCode;

use mts1b_inbound_config::{EnvOverrides, Origin, Settings, load_from};
use mts1b_inbound_core::{Clock, FundId, SystemClock};
use mts1b_tradingview::service::{shutdown_signal, start_system};

use super::logs::{self, LogGuard};
use super::{ConfigArg, USAGE_ERROR, load_settings};

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Run with no configuration: generated secret, loopback allowed, paper OMS, data in ./data.
    #[arg(long, conflicts_with = "config")]
    dev: bool,
}

/// The fund `--dev` creates.
pub const DEV_FUND: &str = "paper-tv-test";

fn dev_settings() -> Result<Settings, ExitCode> {
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let toml = format!(
        r#"
[network]
ip_allowlist = ["127.0.0.1", "::1", "52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"]

[funds.{DEV_FUND}]
secret = "{secret}"
max_quantity = "1000"

[delivery]
sink = "paper"

[store]
path = "./data"
"#
    );
    load_from(Some(&toml), EnvOverrides::from_process(), Origin::Embedded).map_err(|errors| {
        eprint!("{errors}");
        ExitCode::from(USAGE_ERROR)
    })
}

fn init_logs() -> LogGuard {
    // One JSON object per line on stderr, written off the request path (see `logs`); stdout is
    // left to the banner. A failed log write is dropped silently: a dead log collector must
    // never fail an order.
    use tracing_subscriber::layer::SubscriberExt;
    let (lines, guard) = logs::start(std::io::stderr(), logs::CAPACITY);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(lines);
    let _ = tracing::subscriber::set_global_default(subscriber);
    guard
}

fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr {
        a if a.ip().is_unspecified() => SocketAddr::from(([127, 0, 0, 1], a.port())),
        a => a,
    }
}

fn print_dev_banner(settings: &Settings, public: SocketAddr, admin: SocketAddr) {
    let Some(secret) = FundId::parse(DEV_FUND)
        .ok()
        .and_then(|id| settings.funds.get(&id))
        .and_then(|fund| fund.secret.as_ref())
    else {
        return;
    };
    let key = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let public = reachable(public);
    // Printing the secret is the point of --dev: it exists only for this run.
    let secret = secret.expose();
    println!(
        "mts1b-tradingview --dev: paper OMS, journal in {}",
        settings.store.path.join("paper-journal.jsonl").display()
    );
    println!("  fund {DEV_FUND}, webhook secret {secret}");
    println!(
        "  public http://{public}  admin http://{}",
        reachable(admin)
    );
    println!("Send an alert (run it twice: 200, then 409 for the repeat):");
    println!(
        "  curl -sS -X POST http://{public}/tradingview/webhook -H 'Content-Type: application/json' -d '{{\"secret\":\"{secret}\",\"strategy_id\":\"dev\",\"fund_id\":\"{DEV_FUND}\",\"symbol\":\"BINANCE:BTCUSDT\",\"side\":\"buy\",\"quantity\":\"0.01\",\"order_type\":\"market\",\"idempotency_key\":\"dev-{key}\"}}'"
    );
}

pub fn run(args: Args) -> ExitCode {
    let settings = if args.dev {
        dev_settings()
    } else {
        load_settings(args.config.config.as_deref())
    };
    let settings = match settings {
        Ok(s) => s,
        Err(code) => return code,
    };
    let _logs = init_logs();
    if settings.funds.is_empty() {
        tracing::warn!(target: "mts1b::server", "no funds configured: every alert will be refused (use --config FILE or --dev)");
    }
    for warning in settings.symbology.calendar_warnings(SystemClock.now()) {
        tracing::warn!(target: "mts1b::server", "{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let hangups = super::reload::catch_hangups();
        let service = match start_system(&settings).await {
            Ok(service) => service,
            Err(e) => {
                eprintln!("cannot start: {e}");
                return ExitCode::from(USAGE_ERROR);
            }
        };
        let (public, admin) = (service.public_addr(), service.admin_addr());
        tracing::info!(target: "mts1b::server", public = %public, admin = %admin, sink = ?settings.delivery.sink, "listening");
        if args.dev {
            print_dev_banner(&settings, public, admin);
        }
        tokio::spawn(super::reload::on_hangup(
            hangups,
            args.config.config.clone(),
            settings.clone(),
            super::reload::Reloading {
                runtime: service.runtime.clone(),
                tls: service.tls.clone(),
                symbology: service.symbology.clone(),
                secrets: service.secrets.clone(),
            },
        ));
        service.run(shutdown_signal()).await;
        tracing::info!(target: "mts1b::server", "stopped");
        ExitCode::SUCCESS
    })
}
