//! One replica's part of the cluster backend, assembled: its connection, the fund gates every
//! replica shares, the sink that appends to the order log, and the dispatcher that delivers the
//! streams whose lease it holds.

use std::sync::Arc;
use std::time::Duration;

use mts1b_inbound_core::Clock;

use super::budget::SharedBudgets;
use super::deliver::{Ages, Deliverer};
use super::dispatch::Dispatcher;
use super::follow_ups::OwedFollowUps;
use super::lease::Leases;
use super::log::OrderLog;
use super::replay::SharedReplayWindow;
use super::sink::ClusterSink;
use super::status::StatusRecords;
use super::{Cluster, ClusterUnavailable, NatsSettings};
use crate::delivery::oms::OmsClient;
use crate::gates::fund::{FundGates, SharedGates};
use crate::metrics::Metrics;

/// How long a stream's lease lasts without renewal: a replica that dies leaves its streams to
/// the others within two terms (the lease lapses, and the next scan, once a term, finds them).
pub const LEASE_TERM: Duration = Duration::from_secs(5);

/// How long a status record is kept after its last change (`GET /orders` answers for a day).
pub const STATUS_KEPT: Duration = Duration::from_secs(24 * 3600);

/// What one replica is configured with.
#[derive(Clone, Debug)]
pub struct ReplicaSettings {
    /// How to reach NATS.
    pub nats: NatsSettings,
    /// This replica's name (lease holders are named by it).
    pub name: String,
    /// `replay.window`: the replay window and the log's duplicate window.
    pub replay_window: Duration,
    /// `delivery.respond_within`.
    pub respond_within: Duration,
    /// `delivery.max_order_age`.
    pub max_order_age: Duration,
    /// `delivery.max_cancel_age`.
    pub max_cancel_age: Duration,
    /// How long a stream's lease lasts ([`LEASE_TERM`] in service).
    pub lease_term: Duration,
}

/// One replica on the cluster.
pub struct Replica {
    /// The connection.
    pub cluster: Cluster,
    /// Where accepted orders go.
    pub sink: Arc<ClusterSink>,
    /// Delivers the streams this replica holds, once started.
    pub dispatcher: Arc<Dispatcher>,
    /// The follow-ups owed to chat users ([`OwedFollowUps::sweep_forever`] sends those of
    /// replicas that are gone).
    pub follow_ups: OwedFollowUps,
    /// Where each order stands.
    pub status: StatusRecords,
    budgets: SharedBudgets,
    replay: SharedReplayWindow,
    clock: Arc<dyn Clock>,
}

impl Replica {
    /// Connects and opens (creating what is missing) every stream and bucket; delivers to
    /// `oms` once [`Dispatcher::start`]ed, counting in `metrics`.
    pub async fn open(
        settings: ReplicaSettings,
        oms: Arc<dyn OmsClient>,
        clock: Arc<dyn Clock>,
        metrics: &Metrics,
    ) -> Result<Self, ClusterUnavailable> {
        let cluster = Cluster::connect(settings.nats.clone()).await?;
        // A claim lives from admission through the publish, the wait for the outcome and the
        // commit: one older than that was left by a replica that died mid-request.
        let stale_after = settings.respond_within + settings.nats.timeout * 4 + LEASE_TERM;
        let replay =
            SharedReplayWindow::open(&cluster, settings.replay_window, stale_after, clock.clone())
                .await?;
        let budgets = SharedBudgets::open(&cluster, clock.clone()).await?;
        // Kept past the longest any message may wait to be delivered.
        let keep = settings.max_order_age.max(settings.max_cancel_age)
            + settings.replay_window
            + Duration::from_secs(3600);
        let log = OrderLog::open(&cluster, settings.replay_window, keep).await?;
        let status = StatusRecords::open(&cluster, STATUS_KEPT).await?;
        let follow_ups = OwedFollowUps::open(&cluster, &settings.name, keep).await?;
        let leases = Leases::open(&cluster, settings.name, settings.lease_term).await?;
        let deliverer = Deliverer::open(
            &log,
            status.clone(),
            leases.clone(),
            oms,
            clock.clone(),
            Ages {
                order: settings.max_order_age,
                cancel: settings.max_cancel_age,
            },
            metrics.delivery.clone(),
        )
        .await?;
        let dispatcher = Dispatcher::open(&cluster, &log, Arc::new(deliverer), leases).await?;
        let sink = Arc::new(ClusterSink::new(
            cluster.clone(),
            log,
            status.clone(),
            dispatcher.clone(),
            follow_ups.clone(),
            (settings.respond_within, keep),
        ));
        Ok(Self {
            cluster,
            sink,
            dispatcher,
            follow_ups,
            status,
            budgets,
            replay,
            clock,
        })
    }

    /// The fund gates every replica shares, for the runtime.
    pub fn gates(&self) -> FundGates {
        FundGates::Cluster(Box::new(SharedGates {
            budgets: self.budgets.clone(),
            replay: self.replay.clone(),
            clock: self.clock.clone(),
        }))
    }
}
