//! The cluster backend (SPEC §14): the state several replicas of the bridge share, on NATS
//! JetStream, built from what Debian's nats-server 2.9 offers (streams with de-duplication by
//! message id, key-value buckets with a bucket-wide TTL, pull consumers, R3 replication).
//!
//! What carries each guarantee (the whole design: README "Several replicas"):
//! - one replay window: a key-value bucket whose `max_age` is the window; a claim is an atomic
//!   `create` of the alert's client order id (of any number of replicas exactly one wins),
//!   committed by a compare-and-set update, released by a delete that expects the claim's
//!   revision ([`replay`]);
//! - one rate-limit budget per fund: a GCRA "theoretical arrival time" per fund in a key-value
//!   bucket, advanced by compare-and-set, so the replicas spend one budget ([`budget`]);
//! - the durable record: the stream `{prefix}_ORDERS`, one subject per (fund, strategy,
//!   symbol), de-duplicated by id ([`log`]);
//! - one deliverer per stream: the streams fall into partitions by (fund, strategy), each held
//!   by one replica through a lease in a bucket whose `max_age` is its term, renewed in the
//!   background and checked in memory before every OMS call ([`partitions`], [`lease`]); the
//!   stream's delivered mark advanced by compare-and-set ([`deliver`]); every replica watching
//!   the log, told at once of an append by the replica that made it (core NATS), and scanning
//!   the streams of each partition it takes ([`dispatch`]);
//! - the outcome of each order in a bucket every replica reads, announced on core NATS to the
//!   replica whose request waits for it ([`status`]);
//! - the kill switches an operator sets from any replica's admin page: a key-value bucket every
//!   replica reads at start and follows with a watch ([`halts`]); the page's queue per stream is
//!   counted from the log and the delivered marks when it loads ([`queue`]).

pub mod budget;
pub mod deliver;
pub mod dispatch;
pub mod follow_ups;
pub mod halts;
pub mod keys;
pub mod lease;
pub mod log;
pub mod partitions;
pub mod presence;
pub mod queue;
pub mod replay;
pub mod replica;
pub mod sink;
pub mod status;

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::{kv, stream};

/// How to reach the NATS cluster (`cluster.nats.*`).
#[derive(Clone, Debug)]
pub struct NatsSettings {
    /// Server URLs (`nats://127.0.0.1:4222`); the client fails over between them.
    pub servers: Vec<String>,
    /// Credentials: a `.creds` file, or a user and password, or none.
    pub credentials: Credentials,
    /// What the bridge's buckets and streams are named after (`MTS1B_TV`).
    pub prefix: String,
    /// Copies JetStream keeps of each (1, or 3 to survive the loss of one node).
    pub replicas: usize,
    /// How long a request waits for NATS before it is answered 503.
    pub timeout: Duration,
}

/// How the bridge proves itself to NATS.
#[derive(Clone)]
pub enum Credentials {
    /// None (a server without authorization).
    None,
    /// A `.creds` file (a user JWT and its nkey seed), as `nsc` writes it.
    CredsFile(PathBuf),
    /// A user and its password.
    UserPassword {
        /// The user.
        user: String,
        /// Its password (never printed).
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::CredsFile(path) => f.debug_tuple("CredsFile").field(path).finish(),
            Credentials::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"[redacted]")
                .finish(),
        }
    }
}

/// Why the cluster cannot be used now: answered 503, nothing recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("NATS unavailable: {0}")]
pub struct ClusterUnavailable(pub String);

impl ClusterUnavailable {
    fn of(what: &str, e: impl std::fmt::Display) -> Self {
        Self(format!("{what}: {e}"))
    }
}

/// The keys of `bucket`, listed within `within`. async-nats ends a listing once everything
/// counted at its start was delivered, or once the server says so at an idle heartbeat; a key
/// that lapses (`max_age`, as presence does) in between leaves the listing waiting. Unbounded,
/// such a listing left a follow-up sweep that never ran again (`tests/cluster_replicas.rs`:
/// about one run in fifteen; bounded, none in thirty). A stalled listing costs one round.
pub(crate) async fn listed_keys(
    bucket: &kv::Store,
    within: Duration,
) -> Result<Vec<String>, ClusterUnavailable> {
    use futures_util::StreamExt;
    let listing = async {
        let mut keys = bucket
            .keys()
            .await
            .map_err(|e| ClusterUnavailable::of("keys", e))?;
        let mut all = Vec::new();
        while let Some(key) = keys.next().await {
            all.push(key.map_err(|e| ClusterUnavailable::of("keys", e))?);
        }
        Ok(all)
    };
    tokio::time::timeout(within, listing)
        .await
        .unwrap_or_else(|_| {
            Err(ClusterUnavailable(format!(
                "keys not listed within {within:?}"
            )))
        })
}

/// A connection to the cluster and its JetStream context.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The JetStream context.
    pub jetstream: jetstream::Context,
    /// The settings it was opened with.
    pub settings: NatsSettings,
}

impl Cluster {
    /// Connects to the servers (retrying in the background once connected).
    pub async fn connect(settings: NatsSettings) -> Result<Self, ClusterUnavailable> {
        let options = match &settings.credentials {
            Credentials::None => async_nats::ConnectOptions::new(),
            Credentials::CredsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| ClusterUnavailable::of("cluster.nats.creds_file", e))?,
            Credentials::UserPassword { user, password } => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
        }
        .connection_timeout(settings.timeout)
        .request_timeout(Some(settings.timeout))
        .name("mts1b-tradingview");
        let client = options
            .connect(settings.servers.as_slice())
            .await
            .map_err(|e| ClusterUnavailable::of("connect", e))?;
        let mut jetstream = jetstream::new(client);
        jetstream.set_timeout(settings.timeout);
        Ok(Self {
            jetstream,
            settings,
        })
    }

    /// Why the cluster cannot take orders now, if it cannot (for `/readyz`): the connection to
    /// NATS is down. The client reconnects on its own, and this clears when it has.
    pub fn unreachable(&self) -> Option<String> {
        match self.jetstream.client().connection_state() {
            async_nats::connection::State::Connected => None,
            async_nats::connection::State::Pending => Some("NATS: connecting".to_owned()),
            async_nats::connection::State::Disconnected => Some(format!(
                "NATS: disconnected from {}; reconnecting",
                self.settings.servers.join(", ")
            )),
        }
    }

    /// The bucket `{prefix}_{name}`, created with `max_age` (zero: no expiry) if it is
    /// missing; one value per key, on disk, with the configured replicas.
    pub async fn bucket(
        &self,
        name: &str,
        max_age: Duration,
    ) -> Result<kv::Store, ClusterUnavailable> {
        let bucket = format!("{}_{name}", self.settings.prefix);
        if let Ok(store) = self.jetstream.get_key_value(&bucket).await {
            return Ok(store);
        }
        // The bucket's stream, as a key-value bucket of ADR-8 is: async-nats's own
        // `create_key_value` first reads the account's info in a shape only 2.10+ servers
        // answer (`reserved_memory`), so on Debian's 2.9 it cannot create one.
        let stream = stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age,
            storage: stream::StorageType::File,
            num_replicas: self.settings.replicas,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        };
        let unavailable =
            |e: &dyn std::fmt::Display| ClusterUnavailable::of(&format!("bucket {bucket}"), e);
        // Creating it again with the same settings is a no-op; a replica that lost the race to
        // create it, or one configured differently, uses the bucket that is there.
        let created = self.jetstream.create_stream(stream).await;
        match self.jetstream.get_key_value(&bucket).await {
            Ok(store) => Ok(store),
            Err(e) => Err(unavailable(
                &created.err().map_or(e.to_string(), |c| c.to_string()),
            )),
        }
    }
}
