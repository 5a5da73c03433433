//! Embedding the bridge in another MTS1B service (SPEC §11), with no configuration file:
//! the TradingView adapter, static secrets, and the OMS sink (the durable outbox in front of a
//! gRPC OMS; here the scripted simulator, started in-process).
//!
//! It drives the runtime twice: through `handle()` (no HTTP at all), and by mounting the
//! bridge's hyper service in a host server the embedder owns. Run with
//! `cargo run --example embed`; it exits non-zero if anything is not as expected.

#[path = "oms_simulator/sim.rs"]
mod sim;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mts1b_tradingview::adapters::tradingview::TradingView;
use mts1b_tradingview::config::StaticSecrets;
use mts1b_tradingview::core::{
    Envelope, FundId, FundPolicy, IpNet, Quantity, RateLimit, RawRequest, Secret, SystemClock,
};
use mts1b_tradingview::runtime::delivery::grpc::GrpcOms;
use mts1b_tradingview::runtime::delivery::{DeliveryPolicy, Outbox};
use mts1b_tradingview::runtime::gates::source::SourcePolicy;
use mts1b_tradingview::runtime::http::server::{Deadlines, public_service};
use mts1b_tradingview::runtime::metrics::Metrics;
use mts1b_tradingview::runtime::store::OrderStore;
use mts1b_tradingview::runtime::{Runtime, RuntimeBuilder};

fn alert(key: &str) -> String {
    format!(
        r#"{{"secret":"embedded-secret","strategy_id":"embedded","fund_id":"fund-a","symbol":"NASDAQ:AAPL","side":"buy","quantity":"10","order_type":"limit","limit_price":"187.25","idempotency_key":"{key}"}}"#
    )
}

async fn build(oms_endpoint: &str, data: &std::path::Path) -> Arc<Runtime> {
    let fund = FundId::parse("fund-a").expect("valid");
    let secrets = StaticSecrets::new().with_fund(fund.clone(), Secret::new("embedded-secret"));
    let store = Arc::new(OrderStore::open(data).expect("a writable data folder"));
    let oms =
        Arc::new(GrpcOms::new(oms_endpoint, Duration::from_secs(1)).expect("a valid endpoint"));
    let policy = DeliveryPolicy {
        respond_within: Duration::from_secs(2),
        max_order_age: Duration::from_secs(60),
        max_cancel_age: Duration::from_secs(3600),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
        max_concurrent_calls: 16,
        replay_window: Duration::from_secs(300),
    };
    let metrics = Metrics::new();
    let outbox = Outbox::start(store, oms, Arc::new(SystemClock), policy, metrics.clone())
        .expect("the store opens");
    let runtime = RuntimeBuilder::new(Arc::new(secrets), Arc::new(outbox))
        .metrics(metrics)
        .adapter(TradingView::default())
        .fund(
            fund,
            FundPolicy {
                envelope: Envelope::allow_any(Quantity::parse("100").expect("valid")),
                rate_limit: RateLimit {
                    per_second: 10,
                    burst: 10,
                },
            },
        )
        .sources(SourcePolicy::new(
            vec![IpNet::parse("127.0.0.1").expect("valid")],
            vec![],
        ))
        .build()
        .expect("a runtime");
    Arc::new(runtime)
}

/// The embedder's own server: it answers `/host/health` itself and hands everything else to
/// the bridge's public service.
async fn host_server(runtime: Arc<Runtime>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let deadlines = Deadlines {
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        drain_timeout: Duration::from_secs(5),
    };
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let bridge = public_service(runtime.clone(), deadlines, peer);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let bridge = bridge.clone();
                        async move {
                            if req.uri().path() == "/host/health" {
                                return Ok(hyper::Response::new(Full::new(
                                    bytes::Bytes::from_static(b"host ok"),
                                )));
                            }
                            hyper::service::Service::call(&bridge, req).await
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn post(addr: SocketAddr, path: &str, body: String) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the host server");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1");
    tokio::spawn(connection);
    let request = hyper::Request::post(path)
        .header("host", "embedded")
        .body(Full::new(bytes::Bytes::from(body)))
        .expect("a request");
    let response = sender.send_request(request).await.expect("an answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::main]
async fn main() {
    let oms = sim::start(sim::Script::default()).await;
    let data = std::env::temp_dir().join(format!("mts1b-embed-{}", std::process::id()));
    let runtime = build(&oms.endpoint(), &data).await;

    // 1. No HTTP: hand the runtime a raw request.
    let caller = "127.0.0.1".parse().expect("an address");
    let request = RawRequest::with_body(alert("embed-1"), Default::default());
    let answer = runtime.handle("tradingview", caller, request).await;
    println!("handle(): {} {}", answer.status, answer.body);
    assert_eq!(answer.status, 200, "{}", answer.body);

    // 2. Mounted in the embedder's own hyper server.
    let host = host_server(runtime.clone()).await;
    let (status, body) = post(host, "/tradingview/webhook", alert("embed-2")).await;
    println!("host server: {status} {body}");
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(host, "/tradingview/webhook", alert("embed-2")).await;
    println!("host server, repeat: {status} {body}");
    assert_eq!(status, 409, "{body}");
    let (status, body) = post(host, "/host/health", String::new()).await;
    assert_eq!((status, body.as_str()), (200, "host ok"));

    assert_eq!(
        oms.accepted_ids().len(),
        2,
        "the OMS got both orders, once each"
    );
    println!("the OMS accepted {} orders", oms.accepted_ids().len());
    let _ = std::fs::remove_dir_all(&data);
}
