//! Which streams a replica delivers (SPEC §14). Every replica watches the log for new messages
//! (an ordered push consumer of headers only, from the moment it starts) and, for each message,
//! tries to take its stream's lease; the one that gets it drains the stream and gives the lease
//! up once the stream is empty. A message that arrives while its stream is being drained here
//! marks the stream to be drained again before the lease is given up; one that arrives between
//! the last read and the release is found by the check that follows every release. Every
//! lease's term, each replica also scans for streams whose last message is past their
//! delivered mark: how a stream whose deliverer died is taken over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::push::OrderedConfig;
use async_nats::jetstream::stream::Stream;
use futures_util::StreamExt;

use super::deliver::{Deliverer, Stopped};
use super::lease::{Lease, Leases, NotHeld};
use super::{Cluster, ClusterUnavailable, keys};

/// A scan checks this many streams, then pauses [`SCAN_PAUSE`]: at most 500 streams a second.
const SCAN_BATCH: usize = 50;
/// See [`SCAN_BATCH`].
const SCAN_PAUSE: Duration = Duration::from_millis(100);

/// How soon a lease NATS could not grant is asked for again.
const LEASE_RETRY: Duration = Duration::from_millis(100);

/// What this replica is draining: per subject, whether a message arrived meanwhile.
type Draining = Mutex<HashMap<String, bool>>;

/// Picks the streams this replica delivers.
pub struct Dispatcher {
    cluster: Cluster,
    stream: Stream,
    subjects: String,
    deliverer: Arc<Deliverer>,
    leases: Leases,
    draining: Draining,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    rescan: tokio::sync::Notify,
}

impl Dispatcher {
    /// A dispatcher of the log `stream` (subjects `{subjects}.>`) through `deliverer`.
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
        Ok(Arc::new(Self {
            cluster: cluster.clone(),
            stream,
            subjects: format!("{}.orders", cluster.settings.prefix),
            deliverer,
            leases,
            draining: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            rescan: tokio::sync::Notify::new(),
        }))
    }

    /// Watches, and scans once a lease's term, until [`Dispatcher::stop`].
    pub fn start(self: &Arc<Self>) {
        self.start_scanning_every(self.leases.term());
    }

    /// Watches, and scans every `every` and whenever [`Dispatcher::rescan`] asks, until
    /// [`Dispatcher::stop`]. A scan reads two values per stream of the log: with thousands of
    /// streams, scanning once a term is most of what NATS does, so the service scans when a
    /// replica has gone (its streams need a new holder) and otherwise rarely.
    pub fn start_scanning_every(self: &Arc<Self>, every: Duration) {
        let watcher = {
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = this.watch().await {
                        tracing::warn!(target: "mts1b::cluster", error = %e, "watching the order log failed; again in 1 s");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        };
        let scanner = {
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = this.scan().await {
                        tracing::warn!(target: "mts1b::cluster", error = %e, "scan for pending streams failed");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = this.rescan.notified() => {}
                    }
                }
            })
        };
        self.tasks().extend([watcher, scanner]);
    }

    /// Scans now (or as soon as the scan in progress ends).
    pub fn rescan(&self) {
        self.rescan.notify_one();
    }

    /// Stops watching, scanning and draining at once, leases held (as a replica that dies).
    pub fn stop(&self) {
        for task in self.tasks().drain(..) {
            task.abort();
        }
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<tokio::task::JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pokes the stream of every new message of the log.
    async fn watch(self: &Arc<Self>) -> Result<(), ClusterUnavailable> {
        let unavailable = |e: &dyn std::fmt::Display| ClusterUnavailable(format!("watch: {e}"));
        let consumer = self
            .stream
            .create_consumer(OrderedConfig {
                deliver_subject: self.cluster.jetstream.client().new_inbox(),
                filter_subject: format!("{}.>", self.subjects),
                deliver_policy: DeliverPolicy::New,
                headers_only: true,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let mut messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
        // What arrived while no watch was open (at start, after an outage) is found by a scan
        // now, not a term later.
        let this = self.clone();
        tokio::spawn(async move { this.scan().await });
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| unavailable(&e))?;
            self.poke(message.subject.to_string()).await;
        }
        Ok(())
    }

    /// Drains every stream with orders past its mark that no replica is draining.
    pub async fn scan(self: &Arc<Self>) -> Result<(), ClusterUnavailable> {
        let unavailable = |e: &dyn std::fmt::Display| ClusterUnavailable(format!("scan: {e}"));
        let mut subjects = self
            .stream
            .info_with_subjects(format!("{}.>", self.subjects))
            .await
            .map_err(|e| unavailable(&e))?;
        let mut all = Vec::new();
        while let Some(entry) = subjects.next().await {
            all.push(entry.map_err(|e| unavailable(&e))?.0);
        }
        // Two reads per stream: paced, so that a scan of thousands of streams does not take
        // NATS from the alerts for the seconds it lasts (at full speed, 10,000 streams held
        // every answer back by up to a second).
        for (i, subject) in all.into_iter().enumerate() {
            if self.pending(&subject).await? {
                self.poke(subject).await;
            }
            if i % SCAN_BATCH == SCAN_BATCH - 1 {
                tokio::time::sleep(SCAN_PAUSE).await;
            }
        }
        Ok(())
    }

    /// True when `subject`'s last message is past its delivered mark.
    async fn pending(&self, subject: &str) -> Result<bool, ClusterUnavailable> {
        self.pending_past(subject, None).await
    }

    /// [`Dispatcher::pending`], with the mark when this replica just moved it.
    async fn pending_past(
        &self,
        subject: &str,
        mark: Option<u64>,
    ) -> Result<bool, ClusterUnavailable> {
        let last = self
            .stream
            .get_last_raw_message_by_subject(subject)
            .await
            .map_err(|e| ClusterUnavailable(format!("last of {subject}: {e}")))?;
        let mark = match mark {
            Some(mark) => mark,
            None => self.deliverer.mark(&keys::token(subject)).await?.0,
        };
        Ok(last.sequence > mark)
    }

    /// Drains `subject` here, soon, if no one is draining it: the replica that appended an
    /// order pokes its stream at once, without waiting for its own watch.
    pub fn poke_soon(self: &Arc<Self>, subject: String) {
        tokio::spawn(Self::poke_later(self.clone(), subject));
    }

    /// Drains `subject` here if no one is draining it.
    async fn poke(self: &Arc<Self>, subject: String) {
        {
            // Reserved before the lease is asked for: one drain per stream in this process,
            // which is what lets `Leases::acquire` hand this replica back a lease of its own.
            let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(again) = draining.get_mut(&subject) {
                *again = true;
                return;
            }
            draining.insert(subject.clone(), false);
        }
        // NATS back from an outage answers some buckets before others: a lease it cannot
        // grant yet is asked for again, up to a term (then the scan takes over).
        let mut tries = 0;
        let lease = loop {
            match self.leases.acquire(&subject).await {
                Ok(lease) => break lease,
                Err(NotHeld::Taken) => {
                    self.forget(&subject);
                    return;
                }
                Err(NotHeld::Unavailable(e)) => {
                    tries += 1;
                    if LEASE_RETRY * tries >= self.leases.term() {
                        tracing::warn!(target: "mts1b::cluster", subject, error = %e, "cannot take a stream's lease");
                        self.forget(&subject);
                        return;
                    }
                    tokio::time::sleep(LEASE_RETRY).await;
                }
            }
        };
        let this = self.clone();
        let task = tokio::spawn(async move { this.drain(subject, lease).await });
        let mut tasks = self.tasks();
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    async fn drain(self: Arc<Self>, subject: String, mut lease: Lease) {
        let mut mark = None;
        loop {
            match self.deliverer.drain(&subject, &mut lease).await {
                Ok(settled) => {
                    mark = settled.last().map(|(seq, _)| *seq).or(mark);
                    let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
                    if draining.get(&subject) == Some(&true) {
                        draining.insert(subject.clone(), false);
                        continue;
                    }
                    break;
                }
                Err((_, Stopped::LeaseLost)) => {
                    self.forget(&subject);
                    return;
                }
                Err((_, Stopped::Unavailable(e))) => {
                    tracing::warn!(target: "mts1b::cluster", subject, error = %e, "delivery paused");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let _ = self.leases.release(lease).await;
        self.forget(&subject);
        // A message that arrived after the last read, while the lease was still held here.
        if matches!(self.pending_past(&subject, mark).await, Ok(true)) {
            tokio::spawn(Self::poke_later(self.clone(), subject));
        }
    }

    /// [`Dispatcher::poke`] as a named future: a drain pokes its stream again, and the type of
    /// a future that contains itself is not written otherwise.
    fn poke_later(
        self: Arc<Self>,
        subject: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move { self.poke(subject).await })
    }

    fn forget(&self, subject: &str) {
        self.draining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(subject);
    }
}
