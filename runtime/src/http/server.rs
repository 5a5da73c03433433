//! The public and admin listeners (SPEC §2) over hyper 1: HTTP/1.1 with keep-alive, and h2c.
//!
//! Per connection, before hyper reads a byte: the source address (a peer that is neither an
//! allowed caller nor a trusted proxy is closed at once), then a slot among
//! `server.max_connections` and the peer's share of them (see [`connections`]). A connection
//! that waits `header_timeout` for a request head is closed: new (nothing sent, half a
//! preface, half a head) or idle after its last answer, HTTP/1 or h2. An h2 connection carries
//! at most [`MAX_STREAMS_PER_CONNECTION`] requests at once.
//!
//! With TLS ([`tls`]), the handshake comes next, within `header_timeout` too; a connection whose
//! handshake fails is closed (plain HTTP to a TLS listener among them: no plain HTTP is served
//! where TLS is configured).
//!
//! Per request on the public listener, cheapest first: the `Host` header (RFC 9112: 400 without
//! exactly one on HTTP/1.1), route and method, on the TradingView route the client certificate
//! when one is asked for (403, or a log line in `log` mode), the source address (403 without
//! reading the body),
//! the in-flight caps, all requests and per caller (503), the declared `Content-Length` against
//! the body cap (413 without reading a byte), then the body itself, capped as it streams (413 at
//! the first byte over, chunked too) and read within `body_timeout`. A client that sends its
//! headers or body too slowly is disconnected without an answer: it is not TradingView.
//!
//! [`connections`]: super::connections
//! [`tls`]: super::tls

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use mts1b_inbound_core::{RawRequest, Rejection};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::answer::Answer;
use super::connections::{Activity, ConnectionSlots, Refused};
use super::tls::{ClientCertMode, PeerCertificate, TlsTermination};
use crate::pipeline::admit_source;
use crate::runtime::Runtime;

/// The most bytes of request head (request line and headers) one connection may send.
pub const MAX_HEADER_BUFFER: usize = 16 * 1024;

/// Requests one h2 connection may have open at once (hyper's default is 200): TradingView sends
/// one alert per request, and a few h2 connections must not be able to hold every in-flight
/// permit for a body timeout.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 16;

/// Connections the admin listener keeps open (loopback scrapers and operators).
pub const MAX_ADMIN_CONNECTIONS: usize = 64;

/// How many connections the public listener keeps open.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open connections in all; at the cap the longest-idle one is closed for a newcomer.
    pub max_connections: usize,
    /// Open connections from one peer address (trusted proxies are bounded by the total only).
    pub max_connections_per_peer: usize,
}

/// Deadlines of the HTTP layer.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// How long in-flight requests may take to finish at shutdown.
    pub drain_timeout: Duration,
}

/// Why a connection was dropped without an answer (hyper closes it).
#[derive(Debug, thiserror::Error)]
pub enum Dropped {
    /// The body did not arrive within `body_timeout`.
    #[error("request body not received within {0:?}")]
    BodyTimeout(Duration),
    /// The client broke off while sending the body.
    #[error("request body broken: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
}

/// An answer as hyper sends it.
pub type Reply = Response<Full<Bytes>>;

pub(super) fn reply(answer: Answer) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = answer.retry_after_secs {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

pub(super) fn method_not_allowed(allow: &'static str) -> Reply {
    let mut response = reply(Answer::rejected(&Rejection::MethodNotAllowed));
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// The adapter a public path names: `/<name>/webhook`, and `/webhook` for TradingView.
fn adapter_of(path: &str) -> Option<&str> {
    if path == "/webhook" {
        return Some("tradingview");
    }
    path.strip_prefix('/')?
        .strip_suffix("/webhook")
        .filter(|name| !name.contains('/'))
}

fn declared_length(req: &Request<Incoming>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn public(
    rt: Arc<Runtime>,
    deadlines: Deadlines,
    peer: SocketAddr,
    certificate: Option<Arc<PeerCertificate>>,
    req: Request<Incoming>,
) -> Result<Reply, Dropped> {
    let started = Instant::now();
    if let Some(detail) = host_problem(&req) {
        return Ok(reply(Answer::rejected(&Rejection::BadRequest { detail })));
    }
    let Some(endpoint) = adapter_of(req.uri().path())
        .and_then(|name| rt.endpoint(name))
        .cloned()
    else {
        return Ok(reply(Answer::rejected(&Rejection::NotFound)));
    };
    if req.method() != Method::POST {
        return Ok(method_not_allowed("POST"));
    }
    if endpoint.name() == "tradingview"
        && let Some(certificate) = certificate
        && !admit_certificate(&rt, peer, &certificate)
    {
        return Ok(reply(rt.refuse_because(
            endpoint.as_ref(),
            Rejection::Forbidden,
            certificate.verdict.refusal(),
            started,
        )));
    }
    let mut request = RawRequest {
        headers: req
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
        body: Vec::new(),
        received_at: rt.clock().now(),
    };
    let caller = match admit_source(&endpoint.gates().sources, peer.ip(), &request) {
        Ok(caller) => caller,
        Err(rejection) => return Ok(reply(rt.refuse(endpoint.as_ref(), rejection, started))),
    };
    let _in_flight = match rt.in_flight(caller) {
        Ok(in_flight) => in_flight,
        Err(why) => return Ok(reply(rt.shed(endpoint.as_ref(), why))),
    };
    let limit = endpoint.gates().max_body_bytes;
    if declared_length(&req).is_some_and(|length| length > limit) {
        let rejection = Rejection::PayloadTooLarge { limit_bytes: limit };
        return Ok(reply(rt.refuse(endpoint.as_ref(), rejection, started)));
    }
    let capped = Limited::new(
        req.into_body(),
        usize::try_from(limit).unwrap_or(usize::MAX),
    );
    let body = match tokio::time::timeout(deadlines.body_timeout, capped.collect()).await {
        Err(_) => return Err(Dropped::BodyTimeout(deadlines.body_timeout)),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            let rejection = Rejection::PayloadTooLarge { limit_bytes: limit };
            return Ok(reply(rt.refuse(endpoint.as_ref(), rejection, started)));
        }
        Ok(Err(e)) => return Err(Dropped::Body(e)),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    request.body = body.to_vec();
    let answer = rt
        .handle_admitted(endpoint.as_ref(), peer.ip(), request, started)
        .await;
    Ok(reply(answer))
}

/// Whether a request on the TradingView route may go on, given its connection's client
/// certificate: TradingView's always; any other only in `log` mode, with a log line either way.
fn admit_certificate(rt: &Runtime, peer: SocketAddr, certificate: &PeerCertificate) -> bool {
    let (verdict, mode) = (&certificate.verdict, certificate.mode);
    rt.tls_metrics()
        .client_certificates
        .with_label_values(&[verdict.as_str(), mode.as_str()])
        .inc();
    let Some(why) = verdict.refusal() else {
        return true;
    };
    if once_a_second(&CERTIFICATE_LOGGED[usize::from(mode == ClientCertMode::Log)]) {
        match mode {
            ClientCertMode::Enforce => {
                tracing::warn!(target: "mts1b::tls", peer = %peer.ip(), reason = %why, "refused on the TradingView route (403)")
            }
            ClientCertMode::Log => {
                tracing::warn!(target: "mts1b::tls", peer = %peer.ip(), reason = %why, "would be refused on the TradingView route (client_cert_mode = \"log\")")
            }
        }
    }
    mode == ClientCertMode::Log
}

/// The second a refusal of each mode was last logged: a flood of requests without TradingView's
/// certificate must not become a flood of log lines.
static CERTIFICATE_LOGGED: [std::sync::atomic::AtomicU64; 2] =
    [const { std::sync::atomic::AtomicU64::new(0) }; 2];

/// True at most once per wall-clock second for each `last_logged`.
fn once_a_second(last_logged: &std::sync::atomic::AtomicU64) -> bool {
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    last_logged.swap(second, std::sync::atomic::Ordering::Relaxed) != second
}

/// RFC 9112 §3.2: an HTTP/1.1 request must carry exactly one `Host`, any request at most one.
/// HTTP/2 carries `:authority` instead, which hyper checks.
pub(super) fn host_problem(req: &Request<Incoming>) -> Option<&'static str> {
    let hosts = req.headers().get_all(header::HOST).iter().count();
    match (req.version(), hosts) {
        (_, 2..) => Some("more than one Host header"),
        (http::Version::HTTP_11, 0) => Some("an HTTP/1.1 request needs a Host header"),
        _ => None,
    }
}

/// Which listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listener {
    Public,
    Admin,
}

/// One request on a connection the server tracks: counted as busy while it is handled. The
/// listeners' own checks (the `Host` header first) are in `public` and `admin`, so embedders
/// serving [`public_service`] get them too.
async fn serve_tracked(
    listener: Listener,
    rt: Arc<Runtime>,
    deadlines: Deadlines,
    peer: SocketAddr,
    certificate: Option<Arc<PeerCertificate>>,
    activity: Arc<Activity>,
    req: Request<Incoming>,
) -> Result<Reply, Dropped> {
    let _busy = activity.busy();
    match listener {
        Listener::Public => public(rt, deadlines, peer, certificate, req).await,
        Listener::Admin => super::admin::admin(rt, req).await,
    }
}

/// `/orders/{fund_id}/{idempotency_key}`, the key percent-decoded by the `percent-encoding`
/// crate (it may hold spaces); `None` if the decoded key is not UTF-8.
pub(super) fn order_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/orders/")?;
    let (fund, key) = rest.split_once('/')?;
    let key = percent_encoding::percent_decode_str(key)
        .decode_utf8()
        .ok()?;
    Some((fund.to_owned(), key.into_owned()))
}

/// The public listener's service for one connection from `peer`, for embedders that run their
/// own hyper server: `serve_connection(io, public_service(runtime, deadlines, peer))`. An
/// embedder that terminates TLS itself judges TradingView's client certificate itself: this
/// service asks for none.
pub fn public_service(
    rt: Arc<Runtime>,
    deadlines: Deadlines,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Reply,
    Error = Dropped,
    Future = impl Future<Output = Result<Reply, Dropped>> + Send,
> + Clone {
    service_fn(move |req| public(rt.clone(), deadlines, peer, None, req))
}

/// Serves the public and admin listeners until `shutdown` completes, then stops accepting and
/// lets in-flight requests finish for up to `drain_timeout`. With `tls` the public listener
/// speaks TLS only; the admin listener is plain HTTP (it stays on loopback).
pub async fn serve(
    rt: Arc<Runtime>,
    public_listener: TcpListener,
    admin_listener: TcpListener,
    tls: Option<Arc<TlsTermination>>,
    deadlines: Deadlines,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(deadlines.header_timeout)
        // Bounds what one connection can make the server hold for headers (hyper's default is
        // ~400 KB); TradingView's headers are a few hundred bytes.
        .max_buf_size(MAX_HEADER_BUFFER)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .max_header_list_size(u32::try_from(MAX_HEADER_BUFFER).unwrap_or(u32::MAX))
        .keep_alive_interval(None);
    let public_slots =
        ConnectionSlots::new(limits.max_connections, limits.max_connections_per_peer);
    let admin_slots = ConnectionSlots::new(MAX_ADMIN_CONNECTIONS, MAX_ADMIN_CONNECTIONS);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer, listener) = tokio::select! {
            accepted = public_listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer, Listener::Public),
                Err(e) => { accept_failed(e).await; continue }
            },
            accepted = admin_listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer, Listener::Admin),
                Err(e) => { accept_failed(e).await; continue }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let slot = match listener {
            // A peer that could only ever be answered 403 is closed before it holds a slot.
            Listener::Public if !rt.may_connect(peer.ip()) => continue,
            Listener::Public => public_slots.admit(peer.ip(), rt.is_trusted_proxy(peer.ip())),
            Listener::Admin => admin_slots.admit(peer.ip(), false),
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(refused) => {
                connection_refused(peer, refused);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            listener,
            rt: rt.clone(),
            deadlines,
            peer,
            slot,
            stopping: stopping.clone(),
        };
        let builder = builder.clone();
        let tls = tls.clone().filter(|_| listener == Listener::Public);
        connections.spawn(async move {
            let Some(tls) = tls else {
                return connection.serve(&builder, stream, None).await;
            };
            // The failed connection is counted before its socket closes: whoever sees the
            // close (a client, a test) then sees the count too.
            let mut handshake = tls.acceptor().accept(stream).into_fallible();
            match tokio::time::timeout(deadlines.header_timeout, &mut handshake).await {
                Ok(Ok(stream)) => {
                    let certificate = tls.judge(stream.get_ref().1).map(Arc::new);
                    connection.serve(&builder, stream, certificate).await;
                }
                Ok(Err((e, stream))) => {
                    connection.handshake_failed(&e.to_string());
                    drop(stream);
                }
                Err(_) => {
                    connection.handshake_failed("not finished within server.header_timeout");
                    drop(handshake);
                }
            }
        });
    }
    drop(public_listener);
    drop(admin_listener);
    tracing::info!(target: "mts1b::server", "shutting down: draining in-flight requests");
    let _ = stop.send(true);
    let drained = tokio::time::timeout(deadlines.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(target: "mts1b::server", "drain timed out; closing remaining connections");
        connections.shutdown().await;
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    listener: Listener,
    rt: Arc<Runtime>,
    deadlines: Deadlines,
    peer: SocketAddr,
    /// Its place among the listener's connections, given back when it closes.
    slot: super::connections::ConnectionSlot,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    /// Serves requests on `io` until the client closes, its next request head is late, the
    /// listener evicts it, or the server stops.
    async fn serve<IO>(
        self,
        builder: &auto::Builder<TokioExecutor>,
        io: IO,
        certificate: Option<Arc<PeerCertificate>>,
    ) where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            listener,
            rt,
            deadlines,
            peer,
            slot,
            mut stopping,
        } = self;
        let activity = slot.activity().clone();
        let tracked = activity.clone();
        let svc = service_fn(move |req| {
            serve_tracked(
                listener,
                rt.clone(),
                deadlines,
                peer,
                certificate.clone(),
                tracked.clone(),
                req,
            )
        });
        let conn = builder.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        let head_timeout = deadlines.header_timeout;
        loop {
            // Busy connections are looked at again a header timeout later; idle ones when
            // their deadline for the next request head passes.
            let deadline = activity
                .idle_since()
                .unwrap_or_else(tokio::time::Instant::now)
                + head_timeout;
            tokio::select! {
                _ = conn.as_mut() => break,
                () = tokio::time::sleep_until(deadline) => {
                    if activity.idle_since().is_some_and(|since| since + head_timeout <= tokio::time::Instant::now()) {
                        // No request head within the deadline: closed without an answer.
                        break;
                    }
                }
                () = activity.evicted() => break,
                _ = stopping.changed() => {
                    // Idle connections close at once; requests being handled finish (the
                    // server aborts what is left after its drain timeout).
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                    break;
                }
            }
        }
        drop(slot);
    }

    /// A TLS handshake that failed or ran out of time: counted, logged at most once a second.
    fn handshake_failed(self, why: &str) {
        self.rt.tls_metrics().handshakes_failed.inc();
        static LOGGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        if once_a_second(&LOGGED) {
            tracing::warn!(target: "mts1b::tls", peer = %self.peer.ip(), reason = %why, "TLS handshake failed");
        }
    }
}

/// A connection closed at accept, logged at most once a second per kind: a flood of them
/// must not become a flood of log lines.
fn connection_refused(peer: SocketAddr, refused: Refused) {
    use std::sync::atomic::AtomicU64;
    static LAST_LOGGED_SECOND: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
    let kind = match refused {
        Refused::PerPeer => 0,
        Refused::Full => 1,
    };
    if once_a_second(&LAST_LOGGED_SECOND[kind]) {
        tracing::warn!(target: "mts1b::server", peer = %peer.ip(), reason = %refused, "connection refused");
    }
}

/// Too many open files and the like: log, pause briefly so the loop does not spin, go on.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(target: "mts1b::server", error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[cfg(test)]
mod tests {
    use super::adapter_of;

    #[test]
    fn order_paths_are_decoded() {
        use super::order_path;
        assert_eq!(
            order_path("/orders/f/k%201"),
            Some(("f".into(), "k 1".into()))
        );
        assert_eq!(
            order_path("/orders/f/a/b"),
            Some(("f".into(), "a/b".into()))
        );
        assert_eq!(order_path("/orders/f"), None);
        assert_eq!(order_path("/orders/f/%ff"), None, "not UTF-8");
        // `%+f` is not an escape (`u8::from_str_radix` read it as 0x0f): kept as written.
        assert_eq!(
            order_path("/orders/f/%+f"),
            Some(("f".into(), "%+f".into()))
        );
    }

    #[test]
    fn routes_name_their_adapter() {
        assert_eq!(adapter_of("/webhook"), Some("tradingview"));
        assert_eq!(adapter_of("/tradingview/webhook"), Some("tradingview"));
        assert_eq!(adapter_of("/slack/webhook"), Some("slack"));
        assert_eq!(adapter_of("/a/b/webhook"), None);
        assert_eq!(adapter_of("/tradingview"), None);
        assert_eq!(adapter_of("/"), None);
    }
}
