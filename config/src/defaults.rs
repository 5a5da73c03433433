//! Every default, in one place. Where SPEC §8 is silent the choice is explained here.

/// SPEC §2.
pub const LISTEN: &str = "127.0.0.1:8080";
/// SPEC §2.
pub const ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// SPEC §2.
pub const MAX_BODY_BYTES: u64 = 4096;
/// The most `server.max_body_bytes` may be raised to: an alert is a few hundred bytes.
pub const MAX_BODY_BYTES_LIMIT: u64 = 1 << 20;
/// `adapters.slack.max_body_bytes`: a slash command's form, with room for a long thesis.
pub const SLACK_MAX_BODY_BYTES: u64 = 8192;
/// `adapters.discord.max_body_bytes`: an interaction carries the member, its roles, the
/// channel and the resolved options; a few KiB is common, and many roles make it larger.
pub const DISCORD_MAX_BODY_BYTES: u64 = 32_768;
/// `adapters.{slack,discord}.ip_allowlist`: any address. Neither platform publishes the
/// addresses it calls from, so the signature over the raw bytes is the gate.
pub const CHAT_IP_ALLOWLIST: [&str; 2] = ["0.0.0.0/0", "::/0"];
/// `adapters.{slack,discord}.principal_rate_limit`: one command a second per member, five at once.
pub const PRINCIPAL_RATE_PER_SECOND: u32 = 1;
/// `adapters.slack.response_url_prefix`: Slack's own address for follow-ups.
pub const SLACK_RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";
/// `adapters.discord.api_base`.
pub const DISCORD_API_BASE: &str = "https://discord.com/api/v10";
/// See [`PRINCIPAL_RATE_PER_SECOND`].
pub const PRINCIPAL_RATE_BURST: u32 = 5;
/// TradingView gives up after 3 s, so a client slower than this is not TradingView.
pub const HEADER_TIMEOUT: &str = "2s";
/// As for headers.
pub const BODY_TIMEOUT: &str = "2s";
/// Comfortably above any real alert rate on 2 cores, low enough to shed a flood early.
pub const MAX_IN_FLIGHT: u32 = 1024;
/// A quarter of `MAX_IN_FLIGHT`: TradingView calls from four addresses, and no one address
/// (six h2 connections of 200 streams, say) can hold every permit.
pub const MAX_IN_FLIGHT_PER_PEER: u32 = 256;
/// Well under the usual open-file limits of a service (systemd's default soft limit is 1024
/// for plain units, often raised; the service lowers this at start, with a warning, when the
/// process's limit cannot hold it and what else it opens).
pub const MAX_CONNECTIONS: u32 = 4096;
/// One address's share: TradingView opens a connection per alert from four addresses, each
/// closed within milliseconds; 256 at once is far above that and far below the total.
pub const MAX_CONNECTIONS_PER_PEER: u32 = 256;
/// TradingView's published webhook source addresses (SPEC §6).
pub const IP_ALLOWLIST: [&str; 4] = [
    "52.89.214.238",
    "34.212.75.30",
    "54.218.53.128",
    "52.32.178.7",
];
/// SPEC §6.
pub const REPLAY_WINDOW: &str = "5m";
/// A fund's sustained rate: the product design's "10 req/sec per fund_id", far above what a
/// strategy fires, far below a flood.
pub const RATE_PER_SECOND: u32 = 10;
/// Alerts one fund may send at once above the sustained rate: one second's worth, enough for a
/// basket of alerts on one bar (a few symbols' exits and entries), small enough that a leaked
/// secret cannot fire more than ten orders before the sustained rate applies.
pub const RATE_BURST: u32 = 10;
/// The static provider serves dev and embedded use; production names `vault` explicitly.
pub const SECRETS_PROVIDER: &str = "static";
/// Vault's own default address.
pub const VAULT_ADDRESS: &str = "http://127.0.0.1:8200";
/// SPEC §6: `secret/mts1b/tradingview/<fund_id>`.
pub const VAULT_MOUNT: &str = "secret";
/// SPEC §6.
pub const VAULT_PATH_PREFIX: &str = "mts1b/tradingview";
/// SPEC §6.
pub const VAULT_FIELD: &str = "webhook_secret";
/// Rotation takes effect within a minute.
pub const VAULT_REFRESH: &str = "1m";
/// A day for every live TradingView alert to be edited after a rotation; revocation after a leak
/// sets it to `0s` (or deletes the previous version), effective at the next refresh.
pub const ROTATION_GRACE: &str = "24h";
/// SPEC §7.
pub const RESPOND_WITHIN: &str = "2s";
/// TradingView's timeout: an answer later than this is never seen.
pub const RESPOND_WITHIN_LIMIT_MS: u64 = 3000;
/// SPEC §7.
pub const MAX_ORDER_AGE: &str = "60s";
/// SPEC §13: a cancel keeps trying for an hour.
pub const MAX_CANCEL_AGE: &str = "1h";
/// mts1b-oms's conventional local port.
pub const OMS_ENDPOINT: &str = "http://127.0.0.1:50051";
/// One OMS call; a retry follows if it times out.
pub const OMS_TIMEOUT: &str = "1s";
/// The first retry comes quickly: most OMS blips are short.
pub const INITIAL_BACKOFF: &str = "100ms";
/// Retries stay frequent enough to deliver well inside `max_order_age`.
pub const MAX_BACKOFF: &str = "5s";
/// SPEC §9: data in `./data`.
pub const STORE_PATH: &str = "./data";

/// `cluster.backend`: one replica on its own disk, needing nothing else (SPEC §14).
pub const CLUSTER_BACKEND: &str = "embedded";
/// `cluster.nats.prefix`: the buckets are `MTS1B_TV_replay`, `MTS1B_TV_budgets`, ...
pub const NATS_PREFIX: &str = "MTS1B_TV";
/// `cluster.nats.replicas`: three copies survive the loss of any one NATS node.
pub const NATS_REPLICAS: usize = 3;
/// `cluster.nats.timeout`: well inside TradingView's 3 s, leaving time to answer 503.
pub const NATS_TIMEOUT: &str = "1s";
