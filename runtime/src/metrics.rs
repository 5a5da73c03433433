//! Prometheus metrics (SPEC §10), one family per adapter under its prefix (`tv_` for
//! TradingView). Label values come only from closed sets: configured funds (`unknown` for the
//! rest), outcomes, error codes. No input can add a label value.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use mts1b_inbound_core::Rejection;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Latency buckets, in seconds: sub-millisecond up to TradingView's 3 s timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0,
];

/// The registry of one runtime, shared by the pipeline and the outbox.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    families: Families,
    /// `mts1b_inbound_requests_in_flight`: requests being handled, all adapters together.
    in_flight: IntGauge,
    /// Delivery to the OMS, all adapters together.
    pub delivery: DeliveryMetrics,
    /// TLS on the public listener.
    pub tls: TlsMetrics,
    /// `mts1b_ready`: 1 while `/readyz` would answer 200, else 0 (set at each scrape).
    pub ready: IntGauge,
    /// `mts1b_secret_grace_end_timestamp_seconds{fund_id}`: when each fund's previous secret
    /// stops being accepted (funds in a rotation only; set at each scrape).
    pub secret_grace_end: prometheus::IntGaugeVec,
    adapters: Arc<RwLock<HashMap<String, AdapterMetrics>>>,
}

/// Delivery metrics.
#[derive(Clone)]
pub struct DeliveryMetrics {
    /// `mts1b_delivery_queue_depth`: orders recorded and not yet final.
    pub queue_depth: IntGauge,
    /// `mts1b_delivery_attempts_total{result}`: OMS calls by result (`submitted`, `rejected`,
    /// `transient`).
    pub attempts: IntCounterVec,
    /// `mts1b_delivery_expired_total`: orders expired before the OMS took them.
    pub expired: IntCounter,
    /// `mts1b_delivery_cancels_expired_total`: cancels (and cancel-alls) the OMS never took
    /// within `delivery.max_cancel_age`: orders they meant to cancel may still be working.
    pub cancels_expired: IntCounter,
    /// `mts1b_store_quarantined_records`: records the store could not read back and set aside.
    pub quarantined: IntGauge,
    /// `mts1b_follow_ups_total{result}`: follow-up messages to chat platforms about queued
    /// orders that settled, by result (`sent`, `failed`).
    pub follow_ups: IntCounterVec,
}

/// TLS metrics (zero while the public listener is plain HTTP).
#[derive(Clone)]
pub struct TlsMetrics {
    /// `mts1b_tls_handshakes_failed_total`: connections closed because their TLS handshake
    /// failed or did not finish within `server.header_timeout` (plain HTTP sent to the TLS
    /// listener among them).
    pub handshakes_failed: IntCounter,
    /// `mts1b_tls_client_certificates_total{verdict, mode}`: requests on the TradingView route
    /// by what their connection's client certificate proved (`tradingview`, `absent`,
    /// `untrusted`, `not_tradingview`) under `server.tls.client_cert_mode`.
    pub client_certificates: IntCounterVec,
}

/// Registers `metric`. Names are constants registered once per registry, so failure is a bug.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    families: &Families,
    metric: Result<M, prometheus::Error>,
) -> M {
    let metric = metric.expect("a valid metric");
    register(registry, families, &metric).expect("registered once");
    metric
}

/// The names of the registered families (a labelled family with no series yet is absent from
/// the text format, so the names are kept apart).
type Families = Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    families: &Families,
    metric: &M,
) -> Result<(), prometheus::Error> {
    registry.register(Box::new(metric.clone()))?;
    let mut names = families.lock().unwrap_or_else(|p| p.into_inner());
    for desc in metric.desc() {
        names.insert(desc.fq_name.clone());
    }
    Ok(())
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let families = Families::default();
        let in_flight = registered(
            &registry,
            &families,
            IntGauge::new(
                "mts1b_inbound_requests_in_flight",
                "Requests being handled now, all adapters together (shed with 503 at server.max_in_flight).",
            ),
        );
        let delivery = DeliveryMetrics {
            queue_depth: registered(
                &registry,
                &families,
                IntGauge::new(
                    "mts1b_delivery_queue_depth",
                    "Orders durably accepted and not yet submitted, rejected or expired.",
                ),
            ),
            attempts: registered(
                &registry,
                &families,
                IntCounterVec::new(
                    Opts::new("mts1b_delivery_attempts_total", "OMS calls by result."),
                    &["result"],
                ),
            ),
            expired: registered(
                &registry,
                &families,
                IntCounter::new(
                    "mts1b_delivery_expired_total",
                    "Orders expired (older than delivery.max_order_age) before the OMS took them.",
                ),
            ),
            cancels_expired: registered(
                &registry,
                &families,
                IntCounter::new(
                    "mts1b_delivery_cancels_expired_total",
                    "Cancels and cancel-alls the OMS never took within delivery.max_cancel_age: the orders they meant to cancel may still be working.",
                ),
            ),
            quarantined: registered(
                &registry,
                &families,
                IntGauge::new(
                    "mts1b_store_quarantined_records",
                    "Records the store could not read back at start, set aside in its quarantine table (never delivered; see the log for their ids).",
                ),
            ),
            follow_ups: registered(
                &registry,
                &families,
                IntCounterVec::new(
                    Opts::new(
                        "mts1b_follow_ups_total",
                        "Follow-up messages to chat platforms about queued orders that settled, by result.",
                    ),
                    &["result"],
                ),
            ),
        };
        let tls = TlsMetrics {
            handshakes_failed: registered(
                &registry,
                &families,
                IntCounter::new(
                    "mts1b_tls_handshakes_failed_total",
                    "Connections to the public listener closed because their TLS handshake failed or did not finish in time.",
                ),
            ),
            client_certificates: registered(
                &registry,
                &families,
                IntCounterVec::new(
                    Opts::new(
                        "mts1b_tls_client_certificates_total",
                        "Requests on the TradingView route by what their connection's client certificate proved, under server.tls.client_cert_mode.",
                    ),
                    &["verdict", "mode"],
                ),
            ),
        };
        let ready = registered(
            &registry,
            &families,
            IntGauge::new(
                "mts1b_ready",
                "1 while /readyz answers 200 (secrets loaded, store or cluster and OMS or sink ready), else 0.",
            ),
        );
        let secret_grace_end = registered(
            &registry,
            &families,
            prometheus::IntGaugeVec::new(
                Opts::new(
                    "mts1b_secret_grace_end_timestamp_seconds",
                    "When each fund's previous secret stops being accepted (funds in a secret rotation only).",
                ),
                &["fund_id"],
            ),
        );
        Self {
            registry,
            families,
            in_flight,
            delivery,
            tls,
            ready,
            secret_grace_end,
            adapters: Arc::default(),
        }
    }
}

/// The metrics of one adapter.
#[derive(Clone)]
pub struct AdapterMetrics {
    /// `<p>_webhooks_total{fund_id, outcome, intent}`: outcome `accepted`, `rejected` or `duplicate`,
    /// or `answered` (a Discord PING, `/order help`: no order asked).
    pub webhooks: IntCounterVec,
    /// `<p>_webhook_rejections_total{error}`: rejections by error code.
    pub rejections: IntCounterVec,
    /// `<p>_webhook_latency_seconds`: time from request to answer.
    pub latency: Histogram,
    /// `<p>_orders_submitted_total`: orders the OMS (or paper OMS) accepted, counted by the
    /// outbox whether the request was still waiting (200) or not (after a 202).
    pub orders_submitted: IntCounter,
    /// `<p>_orders_rejected_total{reason}`: orders the OMS refused, by gRPC status
    /// (`failed_precondition`, ...), counted by the outbox.
    pub orders_rejected: IntCounterVec,
    /// `<p>_webhook_old_secret_total{fund_id}`: requests authenticated with a fund's previous
    /// secret during a rotation's grace (at zero for long enough, the grace can end).
    pub old_secret: IntCounterVec,
    /// `rejections`' child of each code, looked up once: a label lookup hashes the values and
    /// takes a lock, on every rejection of a flood.
    rejected_by_code: Arc<[OnceLock<IntCounter>; Rejection::CODES.len()]>,
}

impl AdapterMetrics {
    /// Counts one rejection under its code.
    pub fn count_rejection(&self, rejection: &Rejection) {
        self.rejected_by_code[rejection.code_index()]
            .get_or_init(|| self.rejections.with_label_values(&[rejection.code()]))
            .inc();
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The metrics of the adapter named `source` (an order's `source`), if it is mounted.
    pub fn of_source(&self, source: &str) -> Option<AdapterMetrics> {
        self.adapters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(source)
            .cloned()
    }

    /// Registers the metrics of adapter `name`, with metric prefix `prefix`.
    pub fn adapter(&self, name: &str, prefix: &str) -> Result<AdapterMetrics, prometheus::Error> {
        let webhooks = IntCounterVec::new(
            Opts::new(
                format!("{prefix}_webhooks_total"),
                "Inbound requests by fund, outcome and intent (submit, cancel, replace, cancel_all; unknown when refused before the request was read).",
            ),
            &["fund_id", "outcome", "intent"],
        )?;
        let rejections = IntCounterVec::new(
            Opts::new(
                format!("{prefix}_webhook_rejections_total"),
                "Rejected requests by error code.",
            ),
            &["error"],
        )?;
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                format!("{prefix}_webhook_latency_seconds"),
                "Time from request to answer.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let orders_submitted = IntCounter::new(
            format!("{prefix}_orders_submitted_total"),
            "Orders accepted by the OMS.",
        )?;
        let orders_rejected = IntCounterVec::new(
            Opts::new(
                format!("{prefix}_orders_rejected_total"),
                "Orders refused by the OMS.",
            ),
            &["reason"],
        )?;
        let old_secret = IntCounterVec::new(
            Opts::new(
                format!("{prefix}_webhook_old_secret_total"),
                "Requests authenticated with the fund's previous secret, during a rotation's grace.",
            ),
            &["fund_id"],
        )?;
        register(&self.registry, &self.families, &old_secret)?;
        register(&self.registry, &self.families, &webhooks)?;
        register(&self.registry, &self.families, &rejections)?;
        register(&self.registry, &self.families, &latency)?;
        register(&self.registry, &self.families, &orders_submitted)?;
        register(&self.registry, &self.families, &orders_rejected)?;
        let metrics = AdapterMetrics {
            webhooks,
            rejections,
            latency,
            orders_submitted,
            orders_rejected,
            old_secret,
            rejected_by_code: Arc::new(std::array::from_fn(|_| OnceLock::new())),
        };
        self.adapters
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), metrics.clone());
        Ok(metrics)
    }

    /// The name of every registered metric family, those without series yet included.
    pub fn families(&self) -> Vec<String> {
        self.families
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Renders every metric in the Prometheus text format, with `in_flight` requests now.
    pub fn render(&self, in_flight: usize) -> String {
        self.in_flight
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
