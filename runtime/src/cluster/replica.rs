//! One replica's part of the cluster backend, assembled: its connection, the fund gates every
//! replica shares, the sink that appends to the order log, and the dispatcher that delivers the
//! streams of the partitions it holds.

use std::sync::Arc;
use std::time::Duration;

use mts1b_inbound_core::Clock;

use super::budget::SharedBudgets;
use super::deliver::Deliverer;
use super::dispatch::Dispatcher;
use super::follow_ups::OwedFollowUps;
use super::lease::Leases;
use super::log::OrderLog;
use super::presence::{PRESENCE_EVERY, Presence};
use super::replay::SharedReplayWindow;
use super::sink::ClusterSink;
use super::status::StatusRecords;
use super::{Cluster, ClusterUnavailable, NatsSettings};
use crate::delivery::DeliveryPolicy;
use crate::delivery::oms::OmsClient;
use crate::gates::fund::{FundGates, SharedGates};
use crate::metrics::Metrics;

/// How long a partition's lease lasts without renewal: a replica that dies leaves its
/// partitions to the others within one and a half terms (the lease lapses; the others try
/// partitions they do not hold every half term), and they scan the streams of each one taken.
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
    /// `delivery.*` and `replay.window` (the replay window is also the log's duplicate
    /// window).
    pub delivery: DeliveryPolicy,
    /// How long a partition's lease lasts ([`LEASE_TERM`] in service).
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
    /// Which replicas are alive.
    pub presence: Presence,
    budgets: SharedBudgets,
    replay: SharedReplayWindow,
    clock: Arc<dyn Clock>,
}

/// How often a replica scans the streams of the partitions it holds for orders past their mark:
/// a safety net (a poke lost with a watch that broke is found when the watch reopens).
pub const SCAN_EVERY: Duration = Duration::from_secs(60);

/// Writes this replica's presence every [`PRESENCE_EVERY`] and hands the replicas present to
/// the dispatcher, whose partitions follow them (a replica gone, [`super::presence`]'s
/// `PRESENCE_LAPSE` after its last write, leaves its partitions to the others; one that comes
/// is handed its share).
async fn keep_present(presence: Presence, dispatcher: Arc<Dispatcher>) {
    let mut seen = std::collections::BTreeSet::new();
    loop {
        if let Err(e) = presence.announce().await {
            tracing::warn!(target: "mts1b::cluster", error = %e, "presence not written");
        }
        if let Ok(members) = presence.members().await {
            let gone: Vec<&String> = seen.difference(&members).collect();
            if !gone.is_empty() {
                tracing::info!(target: "mts1b::cluster", gone = ?gone, "replicas gone: their partitions are taken over");
            }
            dispatcher.present(members.clone());
            seen = members;
        }
        tokio::time::sleep(PRESENCE_EVERY).await;
    }
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
        let delivery = settings.delivery;
        let stale_after = delivery.respond_within + settings.nats.timeout * 4 + LEASE_TERM;
        let replay =
            SharedReplayWindow::open(&cluster, delivery.replay_window, stale_after, clock.clone())
                .await?;
        let budgets = SharedBudgets::open(&cluster, clock.clone()).await?;
        // Kept past the longest any message may wait to be delivered.
        let keep = delivery.max_order_age.max(delivery.max_cancel_age)
            + delivery.replay_window
            + Duration::from_secs(3600);
        let log = OrderLog::open(&cluster, delivery.replay_window, keep).await?;
        let status = StatusRecords::open(&cluster, STATUS_KEPT).await?;
        let presence = Presence::open(&cluster, &settings.name).await?;
        let follow_ups = OwedFollowUps::open(&cluster, presence.clone(), keep).await?;
        let leases = Leases::open(&cluster, settings.name, settings.lease_term).await?;
        let deliverer = Deliverer::open(
            &log,
            status.clone(),
            leases.clone(),
            oms,
            clock.clone(),
            delivery,
            metrics.delivery.clone(),
        )
        .await?;
        let dispatcher = Dispatcher::open(&cluster, &log, Arc::new(deliverer), leases).await?;
        let sink = Arc::new(ClusterSink::new(
            cluster.clone(),
            log,
            status.clone(),
            dispatcher.clone(),
            (
                follow_ups.clone(),
                cluster.bucket("progress", Duration::ZERO).await?,
            ),
            (delivery.respond_within, keep),
        ));
        Ok(Self {
            cluster,
            sink,
            dispatcher,
            follow_ups,
            status,
            presence,
            budgets,
            replay,
            clock,
        })
    }

    /// Starts delivering: the dispatcher (scanning each partition it takes, and every
    /// [`SCAN_EVERY`] besides) and this replica's presence.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        self.dispatcher.start_scanning_every(SCAN_EVERY);
        tokio::spawn(keep_present(self.presence.clone(), self.dispatcher.clone()))
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
