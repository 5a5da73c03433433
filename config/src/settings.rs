//! The validated configuration: every key of SPEC §8, typed, with its default applied.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mts1b_inbound_core::{FundId, FundPolicy, Grants, IpNet, Secret, SymbolTable, UnixMillis};

pub use mts1b_inbound_core::RateLimit;
use serde::{Serialize, Serializer};

use crate::duration::HumanDuration;

/// Serializes a time as RFC 3339 text (or null).
fn rfc3339<S: Serializer>(at: &Option<UnixMillis>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.collect_str(at),
        None => s.serialize_none(),
    }
}

/// Serializes a secret as `[redacted]` (or null when absent): `check-config` never prints one.
fn redacted_one<S: Serializer>(_secret: &Arc<Secret>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("[redacted]")
}

fn redacted<S: Serializer>(secret: &Option<Arc<Secret>>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_str("[redacted]"),
        None => s.serialize_none(),
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// Listeners and request limits.
    pub server: Server,
    /// Who may call.
    pub network: Network,
    /// The replay window.
    pub replay: Replay,
    /// The default per-fund rate limit.
    pub rate_limit: RateLimit,
    /// Where fund secrets come from.
    pub secrets: Secrets,
    /// The configured funds.
    pub funds: BTreeMap<FundId, Fund>,
    /// Delivery to the OMS.
    pub delivery: Delivery,
    /// The embedded durable store.
    pub store: Store,
    /// Which state backend, and how to reach NATS.
    pub cluster: Cluster,
    /// Which adapters are enabled, and their credentials.
    pub adapters: Adapters,
    /// The symbology table: built-in defaults plus config.
    pub symbology: SymbolTable,
}

/// `server.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Server {
    /// The public listener (`127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// The admin listener (`127.0.0.1:9090`), never exposed publicly.
    pub admin_listen: SocketAddr,
    /// The largest accepted body (4096).
    pub max_body_bytes: u64,
    /// How long a client may take to send its headers.
    pub header_timeout: HumanDuration,
    /// How long a client may take to send its body.
    pub body_timeout: HumanDuration,
    /// Requests handled at once before shedding with 503.
    pub max_in_flight: u32,
    /// Requests one caller address may have handled at once before shedding with 503.
    pub max_in_flight_per_peer: u32,
    /// Connections the public listener keeps open; at the cap the longest-idle one is closed
    /// to make room (lowered at start if the process's open-file limit cannot hold it).
    pub max_connections: u32,
    /// Connections one peer address may keep open (trusted proxies are bounded by
    /// `max_connections` alone).
    pub max_connections_per_peer: u32,
    /// `server.tls.*`: TLS on the public listener; plain HTTP when absent.
    pub tls: Option<Tls>,
    /// `server.admin_token`: the password of HTTP Basic on every admin route but `/healthz`
    /// (required when `admin_listen` is not loopback).
    #[serde(serialize_with = "redacted")]
    pub admin_token: Option<Arc<Secret>>,
}

/// `server.tls.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Tls {
    /// The certificate chain (PEM), reloaded when the file changes.
    pub cert: PathBuf,
    /// The private key (PEM), reloaded when the file changes.
    pub key: PathBuf,
    /// `client_cert = "tradingview"`: TradingView's client certificate is asked for and judged
    /// on the TradingView route.
    pub client_cert: Option<ClientCert>,
}

/// `server.tls.client_cert = "tradingview"` with its CA and mode.
#[derive(Clone, Debug, Serialize)]
pub struct ClientCert {
    /// `client_ca`: the CA (PEM) TradingView's certificate must chain to.
    pub ca: PathBuf,
    /// `client_cert_mode`: refuse (`enforce`, the default) or only log (`log`).
    pub mode: ClientCertMode,
}

/// `server.tls.client_cert_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientCertMode {
    /// Requests on the TradingView route without TradingView's certificate get 403.
    Enforce,
    /// They are logged and go on.
    Log,
}

/// `network.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Network {
    /// Source addresses allowed to call the public listener (TradingView's by default).
    pub ip_allowlist: Vec<IpNet>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

/// `replay.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Replay {
    /// How long an accepted (fund, idempotency key) refuses repeats.
    pub window: HumanDuration,
}

/// `secrets.*`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum Secrets {
    /// Secrets from `funds.<id>.secret` (config or environment).
    Static,
    /// Secrets from Vault KV v2.
    Vault(Vault),
}

/// `secrets.vault.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Vault {
    /// Vault's address (`http://127.0.0.1:8200`).
    pub address: String,
    /// The KV v2 mount (`secret`).
    pub mount: String,
    /// The path under the mount; the fund id is appended (`mts1b/tradingview`).
    pub path_prefix: String,
    /// The field holding the secret (`webhook_secret`).
    pub field: String,
    /// How often secrets are re-read.
    pub refresh: HumanDuration,
    /// How long the previous KV v2 version stays accepted after its successor was written
    /// (`secrets.rotation_grace`, 24 h); `0s` accepts only the current version.
    pub rotation_grace: HumanDuration,
    /// `token_file`: the file holding the Vault token (a systemd credential); without it the
    /// token comes from `VAULT_TOKEN`.
    pub token_file: Option<std::path::PathBuf>,
}

/// `funds.<fund_id>.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Fund {
    /// The fund's secret, with the static provider.
    #[serde(serialize_with = "redacted")]
    pub secret: Option<Arc<Secret>>,
    /// The secret it replaced, still accepted until `previous_secret_until` (static provider).
    #[serde(serialize_with = "redacted")]
    pub previous_secret: Option<Arc<Secret>>,
    /// When the previous secret stops being accepted: a fixed time, which no restart extends.
    #[serde(serialize_with = "rfc3339")]
    pub previous_secret_until: Option<UnixMillis>,
    /// Its envelope and rate limit (the default rate unless overridden).
    #[serde(flatten)]
    pub policy: FundPolicy,
    /// `halted = true`: the kill switch set in the configuration (SPEC §15); its alerts are
    /// refused 422 `fund_halted` until the key is removed (an operator cannot resume it from
    /// the admin page).
    pub halted: bool,
}

/// Where accepted orders go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sink {
    /// The MTS1B OMS over gRPC.
    Oms,
    /// The in-process paper OMS: accepts everything, journals to the data folder.
    Paper,
}

/// `delivery.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    /// Where orders go.
    pub sink: Sink,
    /// How long a request waits for the OMS before answering 202.
    pub respond_within: HumanDuration,
    /// Orders older than this are expired, never sent.
    pub max_order_age: HumanDuration,
    /// Cancels older than this are expired (loudly): a late cancel is never harmful, so they
    /// keep trying past `max_order_age` (SPEC §13).
    pub max_cancel_age: HumanDuration,
    /// The OMS endpoint.
    pub oms: Oms,
    /// Retry backoff.
    pub retry: Retry,
}

/// `delivery.oms.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Oms {
    /// `http://host:port`.
    pub endpoint: String,
    /// Per-call timeout.
    pub timeout: HumanDuration,
}

/// `delivery.retry.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Retry {
    /// The first backoff.
    pub initial_backoff: HumanDuration,
    /// The longest backoff.
    pub max_backoff: HumanDuration,
}

/// `store.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Store {
    /// The data folder.
    pub path: PathBuf,
}

/// `cluster.*` (SPEC §14).
#[derive(Clone, Debug, Serialize)]
pub struct Cluster {
    /// `embedded` (the default) or `nats`.
    pub backend: Backend,
    /// `cluster.nats.*`, when given (or required by `backend = "nats"`).
    pub nats: Option<Nats>,
}

/// Where the state replicas share lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// redb and in-process state: one replica.
    Embedded,
    /// NATS JetStream: several replicas.
    Nats,
}

/// `cluster.nats.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Nats {
    /// `nats://host:port` or `tls://host:port`, at least one.
    pub servers: Vec<String>,
    /// How the bridge proves itself.
    pub auth: NatsAuth,
    /// What buckets and streams are named after (`MTS1B_TV`).
    pub prefix: String,
    /// Copies JetStream keeps (1 to 5; 3 survives the loss of a node).
    pub replicas: usize,
    /// How long a request waits for NATS before it is answered 503.
    pub timeout: HumanDuration,
}

/// `cluster.nats.creds_file`, or `user` and `password`, or neither.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NatsAuth {
    /// No credentials.
    None,
    /// A `.creds` file.
    CredsFile(PathBuf),
    /// A user and password (the password redacted when printed).
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        #[serde(serialize_with = "redacted_one")]
        password: Arc<Secret>,
    },
}

/// `adapters.*`.
#[derive(Clone, Debug, Serialize)]
pub struct Adapters {
    /// `adapters.tradingview.*` (enabled by default).
    pub tradingview: TradingViewAdapter,
    /// `adapters.slack.*` (disabled by default).
    pub slack: SlackAdapter,
    /// `adapters.discord.*` (disabled by default).
    pub discord: DiscordAdapter,
}

/// The gates each adapter may set for itself (SPEC §12).
#[derive(Clone, Debug, Serialize)]
pub struct AdapterGates {
    /// `ip_allowlist`: who may call the adapter's route; `None` takes `network.ip_allowlist`.
    pub ip_allowlist: Option<Vec<IpNet>>,
    /// `max_body_bytes`: the adapter's body cap; `None` takes `server.max_body_bytes`.
    pub max_body_bytes: Option<u64>,
}

/// `adapters.tradingview.*`.
#[derive(Clone, Debug, Serialize)]
pub struct TradingViewAdapter {
    /// Whether `/tradingview/webhook` (and `/webhook`) is served.
    pub enabled: bool,
    /// Its gates (by default the `network` and `server` ones: TradingView's four addresses).
    #[serde(flatten)]
    pub gates: AdapterGates,
}

/// What the chat adapters (Slack, Discord) share.
#[derive(Clone, Debug, Serialize)]
pub struct ChatSettings {
    /// Its gates: any address by default (the platforms publish none; the signature decides).
    #[serde(flatten)]
    pub gates: AdapterGates,
    /// `principal_rate_limit`: commands per second one member may send.
    pub principal_rate_limit: RateLimit,
    /// `principals.<name>`: which members may trade which funds and strategies.
    pub principals: Grants,
}

/// `adapters.slack.*`.
#[derive(Clone, Debug, Serialize)]
pub struct SlackAdapter {
    /// Whether `/slack/webhook` is served.
    pub enabled: bool,
    /// The app's signing secret (required when enabled).
    #[serde(serialize_with = "redacted")]
    pub signing_secret: Option<Arc<Secret>>,
    /// Its gates (any address and 8 KiB bodies by default), member budget and grants.
    #[serde(flatten)]
    pub chat: ChatSettings,
    /// Where follow-ups may be posted: a `response_url` must start with it
    /// (`https://hooks.slack.com/`).
    pub response_url_prefix: String,
}

/// `adapters.discord.*`.
#[derive(Clone, Debug, Serialize)]
pub struct DiscordAdapter {
    /// Whether `/discord/webhook` is served.
    pub enabled: bool,
    /// The application's Ed25519 public key, hex (required when enabled).
    pub public_key: Option<String>,
    /// Its gates (any address and 32 KiB bodies by default: interactions carry the member, its
    /// roles and the resolved options), member budget and grants.
    #[serde(flatten)]
    pub chat: ChatSettings,
    /// Discord's API, where follow-ups edit deferred replies (`https://discord.com/api/v10`).
    pub api_base: String,
}
