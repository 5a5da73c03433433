//! Which streams a replica drains (SPEC §14). Streams fall into partitions, each held by one
//! replica ([`super::partitions`]); every replica watches the log for new messages (an ordered
//! push consumer, from the moment it starts; it also remembers the orders it sees, for chat
//! modifications by key), hears at once from the replica
//! that appended a message (a core NATS poke), and drains the streams of the partitions it
//! holds, each up to the newest message it was told of. A message that arrives
//! while its stream is being drained here raises how far that drain goes; the drain ends, and
//! the stream is free for the next message's drain, under the same lock. A partition taken
//! (at start, or from a replica that died) has its streams scanned for orders past their
//! mark; so has every held partition every so often, and when the watch reopens.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::push::OrderedConfig;
use async_nats::jetstream::stream::Stream;
use futures_util::StreamExt;

use mts1b_inbound_core::{ClientOrderId, Intent, KnownOrder};

use super::deliver::{Deliverer, Stopped};
use super::lease::Leases;
use super::partitions::{Hold, PARTITIONS, Partitions, partition_of};
use super::{Cluster, ClusterUnavailable};

/// A scan checks this many streams, then pauses [`SCAN_PAUSE`]: at most 500 streams a second.
const SCAN_BATCH: usize = 50;
/// See [`SCAN_BATCH`].
const SCAN_PAUSE: Duration = Duration::from_millis(100);

/// How many streams poked while their partition was held elsewhere are remembered per
/// partition, and for how long (longer than a dead holder's partitions take to be taken over;
/// older ones were delivered by the holder, or are found by the scan).
const MISSED_KEPT: (usize, Duration) = (256, Duration::from_secs(15));

/// How many orders a replica remembers for chat modifications that name only their key.
const KNOWN_ORDERS: usize = 50_000;

/// What this replica is draining, per subject.
type Draining = Mutex<HashMap<String, Asked>>;

/// What a drain running here has been asked since it last looked.
#[derive(Clone, Copy, Debug)]
struct Asked {
    /// How far to go: the newest sequence poked (none: until the stream is empty).
    upto: Option<u64>,
    /// Whether a poke came since.
    again: bool,
}

/// How far a poke asks a drain to go, and how far a drain went: the further of the two.
fn further(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.zip(b).map(|(a, b)| a.max(b))
}

/// Picks the streams this replica delivers.
pub struct Dispatcher {
    cluster: Cluster,
    stream: Stream,
    subjects: String,
    deliverer: Arc<Deliverer>,
    partitions: Partitions,
    /// The replicas present, for the partitions' balance (none sent: this one alone).
    members: tokio::sync::watch::Sender<BTreeSet<String>>,
    draining: Draining,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    rescan: tokio::sync::Notify,
    /// Partitions taken and not scanned yet.
    to_scan: Mutex<BTreeSet<u32>>,
    /// Per partition, the streams last poked while it was held elsewhere (or handed over):
    /// drained the moment it is taken here, before its paced scan gets to them, so a
    /// hand-over delays what arrived meanwhile by the hand-over alone.
    missed: Mutex<Vec<VecDeque<(String, tokio::time::Instant)>>>,
    /// The orders appended to the log since this replica started watching it (the newest
    /// [`KNOWN_ORDERS`]), by client order id: where a chat cancel or replace that names only
    /// its target's key finds the target's strategy and symbol, on every replica.
    known: quick_cache::sync::Cache<String, KnownOrder>,
}

impl Dispatcher {
    /// A dispatcher of the log `stream` (subjects `{subjects}.>`) through `deliverer`, holding
    /// partitions by `leases`.
    pub async fn open(
        cluster: &Cluster,
        log: &super::log::OrderLog,
        deliverer: Arc<Deliverer>,
        leases: Leases,
    ) -> Result<Arc<Self>, ClusterUnavailable> {
        let stream = cluster
            .jetstream
            .get_stream(log.stream())
            .await
            .map_err(|e| ClusterUnavailable(format!("stream {}: {e}", log.stream())))?;
        let dispatcher = Arc::new(Self {
            cluster: cluster.clone(),
            stream,
            subjects: format!("{}.orders", cluster.settings.prefix),
            deliverer,
            partitions: Partitions::new(leases.clone(), leases.holder()),
            members: tokio::sync::watch::Sender::new(BTreeSet::new()),
            draining: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            rescan: tokio::sync::Notify::new(),
            to_scan: Mutex::new(BTreeSet::new()),
            missed: Mutex::new(vec![VecDeque::new(); PARTITIONS as usize]),
            known: quick_cache::sync::Cache::new(KNOWN_ORDERS),
        });
        let poker = Arc::downgrade(&dispatcher);
        dispatcher
            .deliverer
            .poke_with(Arc::new(move |subject: &str| {
                if let Some(dispatcher) = poker.upgrade() {
                    dispatcher.poke(subject.to_owned(), None);
                }
            }));
        Ok(dispatcher)
    }

    /// Holds partitions, watches, and scans every [`super::replica::SCAN_EVERY`], as the
    /// service does, until [`Dispatcher::stop`].
    pub fn start(self: &Arc<Self>) {
        self.start_scanning_every(super::replica::SCAN_EVERY);
    }

    /// Holds partitions, watches, and scans its partitions every `every`, when one is taken
    /// and whenever [`Dispatcher::rescan`] asks, until [`Dispatcher::stop`]. A scan reads two
    /// values per stream: with thousands of streams a frequent scan is most of what NATS does,
    /// so it runs rarely, as a safety net (a message the watch missed).
    pub fn start_scanning_every(self: &Arc<Self>, every: Duration) {
        let keeper = {
            let this = self.clone();
            let members = self.members.subscribe();
            tokio::spawn(
                self.partitions
                    .clone()
                    .keep(members, move |partition| this.scan_partition(partition)),
            )
        };
        let watcher = self.again_and_again("watching the order log", Self::watch);
        let listener = self.again_and_again("listening for pokes", Self::listen_for_pokes);
        let scanner = {
            let this = self.clone();
            tokio::spawn(async move {
                let mut next = tokio::time::Instant::now() + every;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(next) => {
                            next = tokio::time::Instant::now() + every;
                            this.to_scan().extend(0..PARTITIONS);
                        }
                        _ = this.rescan.notified() => {}
                    }
                    let partitions = std::mem::take(&mut *this.to_scan());
                    if let Err(e) = this.scan(&partitions).await {
                        tracing::warn!(target: "mts1b::cluster", error = %e, "scan for pending streams failed");
                    }
                }
            })
        };
        self.tasks().extend([keeper, watcher, listener, scanner]);
    }

    /// Runs `task` until it ends, and again 1 s after each end (an error logged as `what`).
    fn again_and_again<F>(
        self: &Arc<Self>,
        what: &'static str,
        task: fn(Arc<Self>) -> F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: std::future::Future<Output = Result<(), ClusterUnavailable>> + Send + 'static,
    {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = task(this.clone()).await {
                    tracing::warn!(target: "mts1b::cluster", error = %e, "{what} failed; again in 1 s");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }

    /// The replicas present now (presence keys), for the partitions' balance.
    pub fn present(&self, members: BTreeSet<String>) {
        self.members.send_replace(members);
    }

    /// Whether this replica holds the partition of `subject`.
    pub fn holds(&self, subject: &str) -> bool {
        self.partitions.holds(partition_of(subject))
    }

    fn to_scan(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        self.to_scan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drains the streams of `partition` poked while it was elsewhere, and scans the rest
    /// soon.
    fn scan_partition(self: &Arc<Self>, partition: u32) {
        let missed = std::mem::take(&mut self.missed()[partition as usize]);
        for (subject, when) in missed {
            if when.elapsed() < MISSED_KEPT.1 {
                self.poke(subject, None);
            }
        }
        self.to_scan().insert(partition);
        self.rescan.notify_one();
    }

    fn missed(&self) -> std::sync::MutexGuard<'_, Vec<VecDeque<(String, tokio::time::Instant)>>> {
        self.missed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers `subject`, poked while its partition is not held here.
    fn remember_missed(&self, subject: &str) {
        let mut missed = self.missed();
        let streams = &mut missed[partition_of(subject) as usize];
        let now = tokio::time::Instant::now();
        if let Some(seen) = streams.iter_mut().rev().take(8).find(|(s, _)| s == subject) {
            seen.1 = now;
            return;
        }
        if streams.len() == MISSED_KEPT.0 {
            streams.pop_front();
        }
        streams.push_back((subject.to_owned(), now));
    }

    /// Scans every held partition now (or as soon as the scan in progress ends).
    pub fn rescan(&self) {
        self.to_scan().extend(0..PARTITIONS);
        self.rescan.notify_one();
    }

    /// Stops holding, watching, scanning and draining at once, leases held (as a replica that
    /// dies: they lapse after their term).
    pub fn stop(&self) {
        for task in self.tasks().drain(..) {
            task.abort();
        }
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<tokio::task::JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The order with this client order id, if this replica saw it appended.
    pub fn known_order(&self, id: &ClientOrderId) -> Option<KnownOrder> {
        self.known.get(&id.to_string())
    }

    /// Remembers `intent`, appended to the log, if it is an order.
    pub fn remember(&self, intent: &Intent) {
        if let Intent::Submit(order) = intent {
            self.known.insert(
                order.client_order_id.to_string(),
                KnownOrder {
                    strategy_id: order.strategy_id.clone(),
                    symbol: order.symbol.clone(),
                    instrument_class: order.instrument_class,
                },
            );
        }
    }

    /// Pokes the stream of every new message of the log, and remembers its orders.
    async fn watch(self: Arc<Self>) -> Result<(), ClusterUnavailable> {
        let unavailable = |e: &dyn std::fmt::Display| ClusterUnavailable(format!("watch: {e}"));
        let consumer = self
            .stream
            .create_consumer(OrderedConfig {
                deliver_subject: self.cluster.jetstream.client().new_inbox(),
                filter_subject: format!("{}.>", self.subjects),
                deliver_policy: DeliverPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let mut messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
        // What arrived while no watch was open (at start, after an outage) is found by a scan
        // now, not a minute later.
        self.rescan();
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| unavailable(&e))?;
            let seq = message.info().map(|info| info.stream_sequence).ok();
            if let Ok(intent) = super::log::decode(&message.payload) {
                self.remember(&intent);
            }
            self.poke(message.subject.to_string(), seq);
        }
        Ok(())
    }

    /// Where replicas tell the holder of a stream's partition that it has a new message.
    fn pokes(&self) -> String {
        format!("{}.pokes", self.cluster.settings.prefix)
    }

    /// Pokes each stream another replica appended to (core NATS: `{seq} {subject}`).
    async fn listen_for_pokes(self: Arc<Self>) -> Result<(), ClusterUnavailable> {
        let client = self.cluster.jetstream.client();
        let mut pokes = client
            .subscribe(self.pokes())
            .await
            .map_err(|e| ClusterUnavailable(format!("pokes: {e}")))?;
        while let Some(message) = pokes.next().await {
            let text = std::str::from_utf8(&message.payload).unwrap_or_default();
            if let Some((seq, subject)) = text.split_once(' ')
                && let Ok(seq) = seq.parse()
            {
                self.poke(subject.to_owned(), Some(seq));
            }
        }
        Ok(())
    }

    /// Drains every stream of `partitions` held here with orders past its mark.
    async fn scan(self: &Arc<Self>, partitions: &BTreeSet<u32>) -> Result<(), ClusterUnavailable> {
        if !partitions.iter().any(|p| self.partitions.holds(*p)) {
            return Ok(());
        }
        let all: Vec<String> =
            super::log::subjects_matching(&self.stream, format!("{}.>", self.subjects))
                .await?
                .into_iter()
                .filter(|subject| partitions.contains(&partition_of(subject)))
                .collect();
        // Up to two reads per stream: paced, so that a scan of thousands of streams does not
        // take NATS from the alerts for the seconds it lasts (at full speed, 10,000 streams
        // held every answer back by up to a second).
        for (i, subject) in all.into_iter().enumerate() {
            let Some(hold) = self.partitions.hold(&subject) else {
                continue;
            };
            if self.deliverer.pending(&subject, &hold).await? {
                self.poke(subject, None);
            }
            if i % SCAN_BATCH == SCAN_BATCH - 1 {
                tokio::time::sleep(SCAN_PAUSE).await;
            }
        }
        Ok(())
    }

    /// Has `subject` drained up to `seq` at once, without waiting for the holder's watch of
    /// the log: here when this replica holds its partition, or by the holder, told on core
    /// NATS (at most once; the holder's watch is the reliable path, this the fast one).
    pub async fn poke_soon(self: &Arc<Self>, subject: String, seq: u64) {
        if self.holds(&subject) {
            self.poke(subject, Some(seq));
            return;
        }
        let poke = format!("{seq} {subject}");
        let _ = self
            .cluster
            .jetstream
            .client()
            .publish(self.pokes(), poke.into())
            .await;
    }

    /// Drains `subject` up to `seq` here if this replica holds its partition: starts a drain,
    /// or tells the one running to go that far.
    fn poke(self: &Arc<Self>, subject: String, seq: Option<u64>) {
        let hold = {
            let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(asked) = draining.get_mut(&subject) {
                asked.upto = further(asked.upto, seq);
                asked.again = true;
                if let Some(seq) = seq {
                    self.deliverer.queued(&subject, seq);
                }
                return;
            }
            let Some(hold) = self.partitions.hold(&subject) else {
                self.remember_missed(&subject);
                return;
            };
            if let Some(seq) = seq {
                self.deliverer.queued(&subject, seq);
            }
            draining.insert(
                subject.clone(),
                Asked {
                    upto: seq,
                    again: false,
                },
            );
            hold
        };
        let this = self.clone();
        let task = tokio::spawn(async move { this.drain(subject, hold).await });
        let mut tasks = self.tasks();
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    async fn drain(self: Arc<Self>, subject: String, hold: Hold) {
        let mut upto = self.asked(&subject);
        loop {
            match self.deliverer.drain_held(&subject, &hold, upto).await {
                Ok(_) => {
                    // Ends under the lock a poke takes: a message poked after this starts a
                    // drain of its own.
                    let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
                    match draining.get_mut(&subject) {
                        Some(asked) if asked.again => {
                            asked.again = false;
                            upto = asked.upto;
                        }
                        _ => {
                            draining.remove(&subject);
                            return;
                        }
                    }
                }
                Err((_, Stopped::LeaseLost | Stopped::Barred)) => break,
                Err((_, Stopped::Unavailable(e))) => {
                    tracing::warn!(target: "mts1b::cluster", subject, error = %e, "delivery paused");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if hold.check().is_err() {
                        break;
                    }
                    upto = self.asked(&subject);
                }
            }
        }
        self.draining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&subject);
    }

    /// How far the drain of `subject` is asked to go.
    fn asked(&self, subject: &str) -> Option<u64> {
        self.draining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(subject)
            .and_then(|asked| asked.upto)
    }
}
