//! `doctor [--config FILE]`: checks the whole setup before the market opens (SPEC §15), in
//! order, one line each with what to do when it fails; exit 0 only when every check passes.
//! It runs beside a live service: a port held by the bridge itself (its `/healthz` answers)
//! passes, and the store is looked at without taking its lock.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use mts1b_inbound_config::settings::{Backend, Secrets, Sink};
use mts1b_inbound_config::{Settings, VaultSecrets, defaults};
use mts1b_inbound_core::{Clock, IpNet, SystemClock};
use mts1b_inbound_runtime::cluster::{Cluster, NatsSettings};
use mts1b_inbound_runtime::delivery::grpc::GrpcOms;
use mts1b_inbound_runtime::delivery::oms::OmsClient;
use mts1b_inbound_runtime::http::tls::{TlsTermination, inspect_chain};

use super::ConfigArg;

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
}

/// A certificate expiring sooner than this fails the check.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// How long a network check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// One check's verdict: what was found, and what to do when it failed.
enum Verdict {
    Pass(String),
    Fail { found: String, fix: String },
}

fn pass(found: impl Into<String>) -> Verdict {
    Verdict::Pass(found.into())
}

fn fail(found: impl Into<String>, fix: impl Into<String>) -> Verdict {
    Verdict::Fail {
        found: found.into(),
        fix: fix.into(),
    }
}

/// Prints one line per check; true when it passed.
fn report(name: &str, verdict: Verdict) -> bool {
    match verdict {
        Verdict::Pass(found) => {
            println!("ok    {name}: {found}");
            true
        }
        Verdict::Fail { found, fix } => {
            println!("FAIL  {name}: {found}. Fix: {fix}");
            false
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    let path = args.config.config.as_deref();
    let settings = match mts1b_inbound_config::load(path).and_then(|s| {
        mts1b_tradingview::wiring::check(&s)?;
        Ok(s)
    }) {
        Ok(settings) => {
            report("configuration", configuration(path, &settings));
            settings
        }
        Err(errors) => {
            let found = errors.to_string().trim_end().replace('\n', "; ");
            report(
                "configuration",
                fail(found, "edit the file; `check-config` prints what it reads"),
            );
            println!("(the other checks need a valid configuration)");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut all = true;
    all &= report("listeners", listeners(&settings));
    all &= report("tls", tls(&settings));
    all &= report("secrets", runtime.block_on(secrets(&settings)));
    all &= report("oms", runtime.block_on(oms(&settings)));
    all &= report("state", runtime.block_on(state(&settings)));
    all &= report("clock", clock());
    all &= report("allowlist", allowlist(&settings));
    if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn configuration(path: Option<&Path>, settings: &Settings) -> Verdict {
    let source = path.map_or_else(
        || "the embedded defaults".to_owned(),
        |p| p.display().to_string(),
    );
    let backend = match settings.cluster.backend {
        Backend::Embedded => "embedded store",
        Backend::Nats => "NATS cluster",
    };
    pass(format!(
        "valid ({source}): {} funds, {backend}",
        settings.funds.len()
    ))
}

fn listeners(settings: &Settings) -> Verdict {
    let admin = settings.server.admin_listen;
    let mut found = Vec::new();
    for (key, addr) in [
        ("server.listen", settings.server.listen),
        ("server.admin_listen", admin),
    ] {
        if addr.port() == 0 {
            found.push(format!("{key} {addr}: any free port"));
            continue;
        }
        match TcpListener::bind(addr) {
            Ok(_) => found.push(format!("{key} {addr} can be bound")),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && bridge_answers(admin) => {
                found.push(format!("{key} {addr} is held by the running bridge"));
            }
            Err(e) => {
                return fail(
                    format!("{key} {addr}: {e}"),
                    match e.kind() {
                        std::io::ErrorKind::AddrInUse => "stop what holds the port (`ss -ltnp`) or choose another".to_owned(),
                        std::io::ErrorKind::PermissionDenied => "ports under 1024 need CAP_NET_BIND_SERVICE (the systemd unit grants it)".to_owned(),
                        _ => "use an address of this host".to_owned(),
                    },
                );
            }
        }
    }
    pass(found.join("; "))
}

/// True when the bridge's `/healthz` answers at `admin`: the port is its own.
fn bridge_answers(admin: SocketAddr) -> bool {
    let admin = match admin {
        a if a.ip().is_unspecified() => SocketAddr::from(([127, 0, 0, 1], a.port())),
        a => a,
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&admin, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: doctor\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.take(4096).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.starts_with("HTTP/1.1 200") && answer.contains(r#"{"status":"ok"}"#)
}

fn tls(settings: &Settings) -> Verdict {
    let Some(tls) = &settings.server.tls else {
        return pass(
            "not configured: the public listener is plain HTTP (TradingView calls ports 80 and 443; TLS then ends at a proxy)",
        );
    };
    let files = mts1b_tradingview::service::tls_files(tls);
    if let Err(e) = TlsTermination::load(files) {
        return fail(
            e.to_string(),
            "point server.tls at a PEM chain and its own private key",
        );
    }
    let chain = match inspect_chain(&tls.cert) {
        Ok(chain) => chain,
        Err(e) => return fail(e.to_string(), "point server.tls.cert at a PEM chain"),
    };
    if let Some(link) = chain.broken_link {
        return fail(
            format!("{}: {link}", tls.cert.display()),
            "put the server's certificate first, then each issuer in order",
        );
    }
    let now = SystemClock.now().as_millis() / 1000;
    let days_left = (chain.not_after - now).div_euclid(86_400);
    if chain.not_before > now {
        return fail(
            format!("{} is not valid before {}", chain.subject, chain.not_before),
            "check the clock, or use a certificate valid now",
        );
    }
    if days_left < EXPIRY_WARNING_DAYS {
        return fail(
            format!("{} expires in {days_left} days", chain.subject),
            "renew it (the listener picks up the new files within 2 s)",
        );
    }
    let client = match &tls.client_cert {
        Some(c) => format!(
            "; TradingView's client certificate {} against {}",
            match c.mode {
                mts1b_inbound_config::settings::ClientCertMode::Enforce => "enforced",
                mts1b_inbound_config::settings::ClientCertMode::Log => "logged",
            },
            c.ca.display()
        ),
        None => String::new(),
    };
    pass(format!(
        "{} ({} certificates) matches its key, valid for {days_left} more days{client}",
        chain.subject, chain.certificates
    ))
}

async fn secrets(settings: &Settings) -> Verdict {
    let vault = match &settings.secrets {
        Secrets::Static => {
            return pass(format!(
                "static: each of the {} funds has its secret in the configuration",
                settings.funds.len()
            ));
        }
        Secrets::Vault(vault) => vault,
    };
    let token = match mts1b_tradingview::service::vault_token(vault) {
        Ok(token) => token,
        Err(e) => return fail(e.to_string(), "set secrets.vault.token_file or VAULT_TOKEN"),
    };
    let funds = settings.funds.keys().cloned().collect();
    let source = match VaultSecrets::new(vault, &token, funds) {
        Ok(source) => source,
        Err(e) => return fail(e.to_string(), "check secrets.vault.address"),
    };
    match tokio::time::timeout(PROBE_TIMEOUT * 2, source.refresh()).await {
        Ok(Ok(())) => pass(format!(
            "Vault at {} gave the secret of each of the {} funds",
            vault.address,
            settings.funds.len()
        )),
        Ok(Err(e)) => fail(
            e.to_string(),
            "check that Vault is unsealed and the token's policy reads secrets.vault.path_prefix",
        ),
        Err(_) => fail(
            format!("Vault at {} did not answer", vault.address),
            "check secrets.vault.address and the network to it",
        ),
    }
}

async fn oms(settings: &Settings) -> Verdict {
    if settings.delivery.sink == Sink::Paper {
        return pass(
            "delivery.sink is \"paper\": no OMS is called (orders go to the paper journal)",
        );
    }
    let endpoint = &settings.delivery.oms.endpoint;
    let oms = match GrpcOms::new(endpoint, settings.delivery.oms.timeout.0) {
        Ok(oms) => oms,
        Err(e) => return fail(e.to_string(), "check delivery.oms.endpoint"),
    };
    match tokio::time::timeout(PROBE_TIMEOUT, oms.unreachable()).await {
        Ok(None) => pass(format!("the OMS at {endpoint} answers")),
        Ok(Some(why)) => fail(
            format!("the OMS at {endpoint}: {why}"),
            "start the OMS or correct delivery.oms.endpoint; alerts are queued (202) meanwhile",
        ),
        Err(_) => fail(
            format!("the OMS at {endpoint} did not answer"),
            "check the network to the OMS",
        ),
    }
}

async fn state(settings: &Settings) -> Verdict {
    match settings.cluster.backend {
        Backend::Embedded => store(&settings.store.path),
        Backend::Nats => nats(settings).await,
    }
}

/// The store's folder exists (or can be made) and takes a file, looked at beside a running
/// bridge without opening the database (redb holds a lock while the bridge runs).
fn store(folder: &Path) -> Verdict {
    if let Err(e) = std::fs::create_dir_all(folder) {
        return fail(
            format!("cannot create {}: {e}", folder.display()),
            "create it, writable by the service's user (the systemd unit's StateDirectory does)",
        );
    }
    let probe = folder.join(format!(".doctor-{}", std::process::id()));
    let written = std::fs::write(&probe, b"doctor").and_then(|()| std::fs::remove_file(&probe));
    match written {
        Ok(()) => {
            let database = folder.join(mts1b_inbound_runtime::store::FILE);
            pass(format!(
                "{} is writable{}",
                folder.display(),
                if database.exists() {
                    " and holds the order store"
                } else {
                    " (the order store is created at first start)"
                }
            ))
        }
        Err(e) => fail(
            format!("cannot write in {}: {e}", folder.display()),
            "give the service's user write access to store.path",
        ),
    }
}

async fn nats(settings: &Settings) -> Verdict {
    let Some(nats) = &settings.cluster.nats else {
        return fail(
            "cluster.backend is \"nats\" but cluster.nats is missing",
            "add cluster.nats.servers",
        );
    };
    let credentials = mts1b_tradingview::service::nats_credentials(&nats.auth);
    let connected = Cluster::connect(NatsSettings {
        servers: nats.servers.clone(),
        credentials,
        prefix: nats.prefix.clone(),
        replicas: nats.replicas,
        timeout: PROBE_TIMEOUT,
    });
    match tokio::time::timeout(PROBE_TIMEOUT * 2, connected).await {
        Ok(Ok(cluster)) => match cluster.unreachable() {
            None => pass(format!("NATS at {} answers", nats.servers.join(", "))),
            Some(why) => fail(why, "check the NATS servers and their JetStream"),
        },
        Ok(Err(e)) => fail(
            e.to_string(),
            "check cluster.nats.servers and the credentials",
        ),
        Err(_) => fail(
            format!("NATS at {} did not answer", nats.servers.join(", ")),
            "check cluster.nats.servers and the network to them",
        ),
    }
}

fn clock() -> Verdict {
    match mts1b_inbound_sys::clock_state() {
        Ok(state) if state.synchronised => pass(format!(
            "the kernel reports the clock synchronised (estimated error {} µs)",
            state.estimated_error_us
        )),
        Ok(state) => fail(
            format!(
                "the kernel reports the clock unsynchronised (maximum error {} µs): alert ages, the replay window and max_order_age are judged by it",
                state.maximum_error_us
            ),
            "run an NTP client (chrony or systemd-timesyncd) and wait for it to synchronise",
        ),
        Err(e) => fail(
            format!("cannot read the clock's state: {e}"),
            "run doctor on Linux",
        ),
    }
}

fn allowlist(settings: &Settings) -> Verdict {
    if !settings.adapters.tradingview.enabled {
        return pass("the TradingView adapter is off");
    }
    let allowed = settings
        .adapters
        .tradingview
        .gates
        .ip_allowlist
        .as_ref()
        .unwrap_or(&settings.network.ip_allowlist);
    let missing: Vec<&str> = defaults::IP_ALLOWLIST
        .iter()
        .copied()
        .filter(|address| {
            let Ok(ip) = address.parse() else {
                return true;
            };
            !allowed.iter().any(|net: &IpNet| net.contains(ip))
        })
        .collect();
    if missing.is_empty() {
        pass("TradingView's four webhook addresses are allowed")
    } else {
        fail(
            format!(
                "TradingView's {} are not allowed: their alerts would get 403",
                missing.join(", ")
            ),
            "add them to network.ip_allowlist (TradingView's published addresses)",
        )
    }
}
