//! Wires the configuration to the runtime and serves it (SPEC §9 `serve`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mts1b_inbound_adapters::discord::Discord;
use mts1b_inbound_adapters::slack::Slack;
use mts1b_inbound_adapters::tradingview::TradingView;
use mts1b_inbound_config::settings::{AdapterGates, Backend, NatsAuth, Secrets, Sink};
use mts1b_inbound_config::{Settings, StaticSecrets, VaultSecrets};
use mts1b_inbound_core::{
    ClientOrderId, Clock, RateLimit, Reloadable, SecretSource, SymbolTable, SystemClock, UnixMillis,
};
use mts1b_inbound_runtime::cluster::dispatch::Dispatcher;
use mts1b_inbound_runtime::cluster::follow_ups::OwedFollowUps;
use mts1b_inbound_runtime::cluster::halts::SharedHalts;
use mts1b_inbound_runtime::cluster::replica::{LEASE_TERM, Replica, ReplicaSettings};
use mts1b_inbound_runtime::cluster::status::StatusRecords;
use mts1b_inbound_runtime::cluster::{Credentials, NatsSettings};
use mts1b_inbound_runtime::delivery::grpc::GrpcOms;
use mts1b_inbound_runtime::delivery::oms::OmsClient;
use mts1b_inbound_runtime::delivery::outbox::recently_accepted;
use mts1b_inbound_runtime::delivery::{DeliveryPolicy, OrderSink, Outbox, PaperOms};
use mts1b_inbound_runtime::gates::fund::FundGates;
use mts1b_inbound_runtime::gates::source::SourcePolicy;
use mts1b_inbound_runtime::halts::FundHalts;
use mts1b_inbound_runtime::http::server::{
    ConnectionLimits, Deadlines, MAX_ADMIN_CONNECTIONS, serve,
};
use mts1b_inbound_runtime::http::tls::{
    ClientCertMode, ClientCertPolicy, TlsFiles, TlsTermination,
};
use mts1b_inbound_runtime::metrics::Metrics;
use mts1b_inbound_runtime::runtime::AdapterOptions;
use mts1b_inbound_runtime::store::OrderStore;
use mts1b_inbound_runtime::{Runtime, RuntimeBuilder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How long in-flight requests may take to finish at shutdown (TradingView gives up at 3 s).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// OMS calls in flight at once, across all streams.
pub const MAX_CONCURRENT_OMS_CALLS: usize = 64;

/// How often final records past the replay window are deleted.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Records one pruning pass looks at: a short commit, so an alert sharing it waits little.
pub const PRUNE_PASS: usize = 64;

/// Why the service could not start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The environment lacks something the configuration needs.
    #[error("{0}")]
    Environment(String),
    /// A listener could not be bound, or the data folder opened.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The runtime could not be assembled.
    #[error("{0}")]
    Build(String),
}

/// The secret source a reload (SIGHUP) updates.
#[derive(Clone)]
pub enum SecretHandle {
    /// `secrets.provider = "static"`: replaced whole by the reloaded file's secrets.
    Static(Reloadable<StaticSecrets>),
    /// `secrets.provider = "vault"`: told the reloaded set of funds, then read again.
    Vault(Arc<VaultSecrets>),
}

/// A runtime ready to serve, with its listeners bound.
pub struct Service {
    /// The runtime (embedders may call `handle` on it too).
    pub runtime: Arc<Runtime>,
    /// The bound public listener.
    pub public: TcpListener,
    /// The bound admin listener.
    pub admin: TcpListener,
    /// The HTTP deadlines.
    pub deadlines: Deadlines,
    /// How many connections the public listener keeps open.
    pub limits: ConnectionLimits,
    /// TLS on the public listener (`server.tls`), its files watched for changes.
    pub tls: Option<Arc<TlsTermination>>,
    /// The symbology table every adapter maps with, replaced at a reload.
    pub symbology: Reloadable<SymbolTable>,
    /// The fund secrets' source, as a reload reaches it.
    pub secrets: SecretHandle,
    /// Background tasks (Vault refresh, pruning), stopped with the service.
    background: Vec<JoinHandle<()>>,
    /// On the cluster backend: this replica's deliverer, stopped with the service.
    dispatcher: Option<Arc<Dispatcher>>,
}

impl Service {
    /// Returns the public listener's address.
    pub fn public_addr(&self) -> SocketAddr {
        self.public
            .local_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into())
    }

    /// Returns the admin listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into())
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        serve(
            self.runtime,
            self.public,
            self.admin,
            self.tls,
            self.deadlines,
            self.limits,
            shutdown,
        )
        .await;
        for task in self.background {
            task.abort();
        }
        if let Some(dispatcher) = self.dispatcher {
            dispatcher.stop();
        }
    }
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Io {
            what: format!("cannot listen on {addr} ({what})"),
            source,
        })
}

/// Builds the runtime described by `settings` on `clock` and binds its listeners.
pub async fn start(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Service, StartError> {
    // First: a wrong file stops the start before the store is opened or NATS joined.
    let tls = match &settings.server.tls {
        Some(tls) => Some(Arc::new(tls_termination(tls)?)),
        None => None,
    };
    let store_dir = &settings.store.path;
    let oms: Arc<dyn OmsClient> = match settings.delivery.sink {
        Sink::Paper => {
            std::fs::create_dir_all(store_dir).map_err(|source| StartError::Io {
                what: format!("cannot create the data folder {}", store_dir.display()),
                source,
            })?;
            Arc::new(PaperOms::open(store_dir).map_err(|source| StartError::Io {
                what: format!("cannot open the paper journal in {}", store_dir.display()),
                source,
            })?)
        }
        Sink::Oms => Arc::new(
            GrpcOms::new(
                &settings.delivery.oms.endpoint,
                settings.delivery.oms.timeout.0,
            )
            .map_err(|e| StartError::Build(format!("delivery.oms.endpoint: {e}")))?,
        ),
    };
    let metrics = Metrics::new();
    let state = match settings.cluster.backend {
        Backend::Embedded => embedded(settings, oms, &clock, &metrics)?,
        Backend::Nats => on_nats(settings, oms, &clock, &metrics).await?,
    };
    let mut refresh = None;
    let (secrets, secret_handle): (Arc<dyn SecretSource>, _) = match &settings.secrets {
        Secrets::Static => {
            let source = Reloadable::new(StaticSecrets::from_settings(settings));
            (Arc::new(source.clone()), SecretHandle::Static(source))
        }
        Secrets::Vault(vault) => {
            let token = vault_token(vault)?;
            let funds = settings.funds.keys().cloned().collect();
            let source = Arc::new(
                VaultSecrets::new(vault, &token, funds)
                    .map_err(|e| StartError::Build(e.to_string()))?,
            );
            refresh = Some(tokio::spawn(source.clone().refresh_forever()));
            (source.clone(), SecretHandle::Vault(source))
        }
    };
    let funds = settings.funds.keys().cloned();
    let configured_halts = settings
        .funds
        .iter()
        .filter(|(_, fund)| fund.halted)
        .map(|(id, _)| id.clone());
    let halts = match &state.halts {
        None => FundHalts::open(funds, configured_halts, Some(store_dir))
            .map_err(|e| StartError::Build(format!("cannot read the funds' halts: {e}")))?,
        Some(shared) => FundHalts::on_cluster(funds, configured_halts, shared.clone())
            .await
            .map_err(|e| StartError::Build(format!("cannot read the funds' halts: {e}")))?,
    };
    let halts = Arc::new(halts);
    let following = state
        .halts
        .map(|shared| tokio::spawn(shared.follow(halts.clone())));
    let mut builder = RuntimeBuilder::new(secrets, state.sink)
        .halts(halts)
        .admin_token(settings.server.admin_token.clone())
        .metrics(metrics)
        .remember(state.recent)
        .clock(clock)
        .sources(SourcePolicy::new(
            settings.network.ip_allowlist.clone(),
            settings.network.trusted_proxies.clone(),
        ))
        .replay_window(settings.replay.window.0)
        .max_body_bytes(settings.server.max_body_bytes)
        .max_in_flight(settings.server.max_in_flight as usize)
        .max_in_flight_per_peer(settings.server.max_in_flight_per_peer as usize);
    if let Some(gates) = state.gates {
        builder = builder.shared_gates(gates);
    }
    for (id, fund) in &settings.funds {
        builder = builder.fund(id.clone(), fund.policy.clone());
    }
    let symbols = Reloadable::new(settings.symbology.clone());
    let adapters = &settings.adapters;
    if adapters.tradingview.enabled {
        builder = builder.adapter_with(
            TradingView::new(symbols.clone()),
            options(&adapters.tradingview.gates, None),
        );
    }
    let slack = &adapters.slack;
    if slack.enabled
        && let Some(secret) = &slack.signing_secret
    {
        let adapter = Slack::new(
            (**secret).clone(),
            symbols.clone(),
            slack.chat.principals.clone(),
        )
        .response_urls(slack.response_url_prefix.clone());
        builder = builder.adapter_with(
            adapter,
            options(&slack.chat.gates, Some(slack.chat.principal_rate_limit)),
        );
    }
    let discord = &adapters.discord;
    if discord.enabled
        && let Some(key) = &discord.public_key
    {
        let adapter = Discord::from_hex(key)
            .map_err(|e| StartError::Build(e.to_string()))?
            .with(symbols.clone(), discord.chat.principals.clone())
            .api_base(discord.api_base.clone());
        builder = builder.adapter_with(
            adapter,
            options(&discord.chat.gates, Some(discord.chat.principal_rate_limit)),
        );
    }
    let runtime = Arc::new(
        builder
            .build()
            .map_err(|e| StartError::Build(e.to_string()))?,
    );
    let sweeping = state
        .follow_ups
        .map(|(owed, status)| tokio::spawn(owed.sweep_forever(runtime.clone(), status)));
    let watching = tls.clone().map(|tls| tokio::spawn(tls.watch_files()));
    let public = bind(settings.server.listen, "server.listen").await?;
    let admin = bind(settings.server.admin_listen, "server.admin_listen").await?;
    Ok(Service {
        runtime,
        public,
        admin,
        deadlines: Deadlines {
            header_timeout: settings.server.header_timeout.0,
            body_timeout: settings.server.body_timeout.0,
            drain_timeout: DRAIN_TIMEOUT,
        },
        limits: ConnectionLimits {
            max_connections: within_file_limit(
                settings.server.max_connections as usize,
                open_file_limit(),
            ),
            max_connections_per_peer: settings.server.max_connections_per_peer as usize,
        },
        tls,
        symbology: symbols,
        secrets: secret_handle,
        background: [
            refresh,
            state.pruning,
            sweeping,
            state.presence,
            watching,
            following,
        ]
        .into_iter()
        .flatten()
        .collect(),
        dispatcher: state.dispatcher,
    })
}

/// The Vault token: from `secrets.vault.token_file` (a systemd credential), else `VAULT_TOKEN`.
pub fn vault_token(vault: &mts1b_inbound_config::settings::Vault) -> Result<String, StartError> {
    match &vault.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| StartError::Io {
                what: format!("cannot read secrets.vault.token_file {}", path.display()),
                source,
            })?;
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(StartError::Environment(format!(
                    "secrets.vault.token_file {} is empty",
                    path.display()
                )));
            }
            Ok(token)
        }
        None => std::env::var("VAULT_TOKEN").map_err(|_| {
            StartError::Environment(
                "secrets.provider is \"vault\" but neither secrets.vault.token_file nor VAULT_TOKEN is set".into(),
            )
        }),
    }
}

/// `server.tls`: the files read now, so a wrong one stops the start with its name.
fn tls_termination(
    tls: &mts1b_inbound_config::settings::Tls,
) -> Result<TlsTermination, StartError> {
    TlsTermination::load(tls_files(tls)).map_err(|e| StartError::Build(format!("server.tls: {e}")))
}

/// `server.tls`, as the listener takes it.
pub fn tls_files(tls: &mts1b_inbound_config::settings::Tls) -> TlsFiles {
    TlsFiles {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        client: tls.client_cert.as_ref().map(|client| ClientCertPolicy {
            ca: client.ca.clone(),
            mode: match client.mode {
                mts1b_inbound_config::settings::ClientCertMode::Enforce => ClientCertMode::Enforce,
                mts1b_inbound_config::settings::ClientCertMode::Log => ClientCertMode::Log,
            },
        }),
    }
}

/// Where the runtime's state lives: the sink and, on the cluster, the shared fund gates.
struct State {
    sink: Arc<dyn OrderSink>,
    /// Alerts accepted within the replay window (the embedded window starts with them).
    recent: Vec<(ClientOrderId, UnixMillis)>,
    gates: Option<FundGates>,
    pruning: Option<JoinHandle<()>>,
    dispatcher: Option<Arc<Dispatcher>>,
    /// On the cluster: the follow-ups owed, swept for those of replicas that are gone.
    follow_ups: Option<(OwedFollowUps, StatusRecords)>,
    /// On the cluster: this replica's presence, written until the service stops.
    presence: Option<JoinHandle<()>>,
    /// On the cluster: the operator's halts every replica shares.
    halts: Option<SharedHalts>,
}

fn delivery_policy(settings: &Settings) -> DeliveryPolicy {
    DeliveryPolicy {
        respond_within: settings.delivery.respond_within.0,
        max_order_age: settings.delivery.max_order_age.0,
        max_cancel_age: settings.delivery.max_cancel_age.0,
        initial_backoff: settings.delivery.retry.initial_backoff.0,
        max_backoff: settings.delivery.retry.max_backoff.0,
        max_concurrent_calls: MAX_CONCURRENT_OMS_CALLS,
        replay_window: settings.replay.window.0,
    }
}

/// `cluster.backend = "embedded"`: the redb store in `store.path` and its outbox.
fn embedded(
    settings: &Settings,
    oms: Arc<dyn OmsClient>,
    clock: &Arc<dyn Clock>,
    metrics: &Metrics,
) -> Result<State, StartError> {
    let store_dir = &settings.store.path;
    let store = Arc::new(OrderStore::open(store_dir).map_err(|e| {
        StartError::Build(format!(
            "cannot open the order store in {}: {e}",
            store_dir.display()
        ))
    })?);
    metrics
        .delivery
        .quarantined
        .set(i64::try_from(store.quarantined()).unwrap_or(i64::MAX));
    let policy = delivery_policy(settings);
    let outbox = Outbox::start(store.clone(), oms, clock.clone(), policy, metrics.clone())
        .map_err(|e| StartError::Build(e.to_string()))?;
    let window = settings.replay.window.0;
    let recent = recently_accepted(&store, clock.now(), window)
        .map_err(|e| StartError::Build(e.to_string()))?;
    let pruning = tokio::spawn(prune_forever(outbox.clone(), clock.clone(), window));
    Ok(State {
        sink: Arc::new(outbox),
        recent,
        gates: None,
        pruning: Some(pruning),
        dispatcher: None,
        follow_ups: None,
        presence: None,
        halts: None,
    })
}

/// `cluster.backend = "nats"`: the order log, the shared gates and this replica's deliverer
/// (SPEC §14). NATS must answer at start-up; later outages are answered 503 and recover.
async fn on_nats(
    settings: &Settings,
    oms: Arc<dyn OmsClient>,
    clock: &Arc<dyn Clock>,
    metrics: &Metrics,
) -> Result<State, StartError> {
    let Some(nats) = &settings.cluster.nats else {
        return Err(StartError::Build(
            "cluster.backend is \"nats\" but cluster.nats is missing".into(),
        ));
    };
    let credentials = nats_credentials(&nats.auth);
    let replica = Replica::open(
        ReplicaSettings {
            nats: NatsSettings {
                servers: nats.servers.clone(),
                credentials,
                prefix: nats.prefix.clone(),
                replicas: nats.replicas,
                timeout: nats.timeout.0,
            },
            name: replica_name(),
            delivery: delivery_policy(settings),
            lease_term: LEASE_TERM,
        },
        oms,
        clock.clone(),
        metrics,
    )
    .await
    .map_err(|e| StartError::Build(format!("cluster.nats: {e}")))?;
    let halts = SharedHalts::open(&replica.cluster)
        .await
        .map_err(|e| StartError::Build(format!("cluster.nats: {e}")))?;
    let presence = replica.start();
    Ok(State {
        sink: replica.sink.clone(),
        recent: Vec::new(),
        gates: Some(replica.gates()),
        pruning: None,
        dispatcher: Some(replica.dispatcher.clone()),
        follow_ups: Some((replica.follow_ups.clone(), replica.status.clone())),
        presence: Some(presence),
        halts: Some(halts),
    })
}

/// `cluster.nats`'s credentials, as the cluster client takes them.
pub fn nats_credentials(auth: &NatsAuth) -> Credentials {
    match auth {
        NatsAuth::None => Credentials::None,
        NatsAuth::CredsFile(path) => Credentials::CredsFile(path.clone()),
        NatsAuth::UserPassword { user, password } => Credentials::UserPassword {
            user: user.clone(),
            password: password.expose().to_owned(),
        },
    }
}

/// This replica's name in lease records: the host and the process.
fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "replica".to_owned());
    format!("{host}-{}", std::process::id())
}

/// An adapter's configured gates, as the runtime takes them.
fn options(gates: &AdapterGates, member_rate_limit: Option<RateLimit>) -> AdapterOptions {
    AdapterOptions {
        allowlist: gates.ip_allowlist.clone(),
        max_body_bytes: gates.max_body_bytes,
        member_rate_limit,
    }
}

/// Files the process keeps open besides public connections: admin connections, the store, the
/// paper journal, listeners, the runtime's own descriptors, with room to spare.
pub const RESERVED_FILES: usize = MAX_ADMIN_CONNECTIONS + 192;

/// Returns `max_connections`, lowered (with a warning) so that the public connections and
/// [`RESERVED_FILES`] fit under the process's open-file limit: at the limit every `accept`
/// fails and no alert can connect at all.
pub fn within_file_limit(max_connections: usize, open_files: Option<usize>) -> usize {
    let Some(limit) = open_files else {
        return max_connections;
    };
    let room = limit.saturating_sub(RESERVED_FILES).max(16);
    if max_connections <= room {
        return max_connections;
    }
    tracing::warn!(
        target: "mts1b::server",
        configured = max_connections,
        open_file_limit = limit,
        effective = room,
        "server.max_connections lowered to fit the open-file limit (raise LimitNOFILE / ulimit -n)"
    );
    room
}

/// The process's soft limit on open files, where the platform says (`/proc/self/limits`).
pub fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    // "Max open files   <soft>   <hard>   files"; "unlimited" means no bound to fit under.
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Deletes final records once their replay window has passed, every minute.
async fn prune_forever(outbox: Outbox, clock: Arc<dyn Clock>, window: Duration) {
    loop {
        tokio::time::sleep(PRUNE_INTERVAL).await;
        let cutoff = UnixMillis(
            clock
                .now()
                .as_millis()
                .saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX)),
        );
        let started = std::time::Instant::now();
        match outbox.prune(cutoff, PRUNE_PASS).await {
            Ok(0) => {}
            Ok(pruned) => {
                let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::info!(target: "mts1b::store", pruned, elapsed_ms, "pruned records past the replay window")
            }
            Err(e) => tracing::warn!(target: "mts1b::store", error = %e, "pruning failed"),
        }
    }
}

/// Starts on the system clock.
pub async fn start_system(settings: &Settings) -> Result<Service, StartError> {
    start(settings, Arc::new(SystemClock)).await
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
