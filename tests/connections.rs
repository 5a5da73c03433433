//! What a client can hold open, over real sockets: every path from accept to a request head has
//! a deadline, keep-alive connections idle out, connections are capped in all and per address,
//! and a peer that is not allowed is closed at accept. Deadlines are the test settings' short
//! `header_timeout` (300 ms); a close is asserted to come at or after its deadline, never before.

mod support;

use std::time::Duration;

use mts1b_tradingview::config::HumanDuration;
use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Loopback peers 127.0.0.0/8 allowed: the tests are several peers at once.
const LOOPBACK_NET: &str = "[network]\nip_allowlist = [\"127.0.0.0/8\"]\n";

/// Far longer than any test waits: a connection closed within seconds was closed on purpose,
/// not by a deadline.
const LONG: Duration = Duration::from_secs(60);

/// The bytes a client sends, then waits: the server must close at `header_timeout`, not before.
async fn assert_cut_at_the_head_deadline(bytes: &[u8], what: &str) {
    let s = TestService::start(settings(LOOPBACK)).await;
    let deadline = s.settings.server.header_timeout.0;
    let since = Instant::now();
    let mut stream = TcpStream::connect(s.public).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let cut = closed_after(&mut stream, since, Duration::from_secs(10)).await;
    assert!(
        cut.is_some_and(|after| after >= deadline),
        "{what}: closed after {cut:?}, deadline {deadline:?}"
    );
    // Nothing was answered: it never sent a request.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "{what}: {rest:?}");
    assert_eq!(s.alert(&alert("after")).await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_head_deadline() {
    assert_cut_at_the_head_deadline(b"", "nothing").await;
}

#[tokio::test]
async fn a_connection_that_sends_one_byte_is_closed_at_the_head_deadline() {
    // `P` could start `POST` or the h2 preface: hyper has not even chosen a protocol yet.
    assert_cut_at_the_head_deadline(b"P", "one byte").await;
}

#[tokio::test]
async fn a_partial_h2_preface_is_closed_at_the_head_deadline() {
    assert_cut_at_the_head_deadline(b"PRI * HTTP/2.0\r\n", "partial preface").await;
}

#[tokio::test]
async fn an_h2_preface_without_settings_or_request_is_closed_at_the_head_deadline() {
    assert_cut_at_the_head_deadline(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "bare preface").await;
}

#[tokio::test]
async fn a_partial_http1_head_is_closed_at_the_head_deadline() {
    assert_cut_at_the_head_deadline(b"POST /webhook HTTP/1.1\r\nhost: t\r\n", "partial head").await;
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed_a_deadline_after_its_answer() {
    let s = TestService::start(settings(LOOPBACK)).await;
    let deadline = s.settings.server.header_timeout.0;
    let mut stream = TcpStream::connect(s.public).await.unwrap();
    let body = alert("ka").to_string();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let reply = read_reply(&mut stream).await.expect("an answer");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answered = Instant::now();
    let cut = closed_after(&mut stream, answered, Duration::from_secs(10)).await;
    // The deadline ran from the answer, which the server sent before we read it.
    assert!(
        cut.is_some_and(|after| after + Duration::from_millis(50) >= deadline),
        "closed {cut:?} after the answer, deadline {deadline:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn an_idle_h2_connection_is_closed_a_deadline_after_its_last_answer() {
    use http_body_util::{BodyExt, Full};
    let s = TestService::start(settings(LOOPBACK)).await;
    let deadline = s.settings.server.header_timeout.0;
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(s.public).await.unwrap());
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let request = hyper::Request::post("http://test/tradingview/webhook")
        .body(Full::new(bytes::Bytes::from(alert("h2-idle").to_string())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    let answered = Instant::now();
    // The client keeps the connection; the server ends it (GOAWAY and close).
    tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the server closes an idle h2 connection")
        .unwrap()
        .ok();
    assert!(
        answered.elapsed() + Duration::from_millis(50) >= deadline,
        "closed {:?} after the answer, deadline {deadline:?}",
        answered.elapsed()
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_is_not_allowed_is_closed_at_accept() {
    let mut config = settings("[network]\nip_allowlist = [\"127.0.0.1\"]\n");
    config.server.header_timeout = HumanDuration(LONG);
    let s = TestService::start(config).await;
    // 127.0.0.2 could only ever be answered 403: it never holds a slot, long deadline or not.
    let mut stranger = connect_from([127, 0, 0, 2], s.public).await;
    assert!(closed_within(&mut stranger, Duration::from_secs(5)).await);
    assert_eq!(s.alert(&alert("allowed")).await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections() {
    let mut config = settings(LOOPBACK_NET);
    config.server.header_timeout = HumanDuration(LONG);
    config.server.max_connections_per_peer = 4;
    let s = TestService::start(config).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from([127, 0, 0, 2], s.public).await);
    }
    // The fifth from the same address is closed at once (its deadline is a minute away).
    let mut fifth = connect_from([127, 0, 0, 2], s.public).await;
    assert!(closed_within(&mut fifth, Duration::from_secs(5)).await);
    // The four it holds are still open, and another address is served.
    for stream in &mut held {
        assert!(!closed_within(stream, Duration::from_millis(20)).await);
    }
    assert_eq!(s.alert(&alert("other-peer")).await.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn at_the_connection_cap_a_genuine_alert_still_gets_through() {
    let mut config = settings(LOOPBACK_NET);
    config.server.header_timeout = HumanDuration(LONG);
    config.server.max_connections = 8;
    let s = TestService::start(config).await;
    // Eight idle connections, from eight addresses, fill every slot, oldest first.
    let mut idle = Vec::new();
    for i in 0..8u8 {
        idle.push(connect_from([127, 0, 1, i + 1], s.public).await);
        // Each must hold its slot before the next arrives, so "oldest" is well defined: a
        // request on it proves the server has accepted it.
        let probe = b"GET /nowhere HTTP/1.1\r\nhost: t\r\n\r\n";
        idle[usize::from(i)].write_all(probe).await.unwrap();
        let r = read_reply(&mut idle[usize::from(i)]).await.expect("404");
        assert_eq!(r.status, 404);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A genuine alert needs a ninth: the longest-idle connection makes room.
    let reply = s.alert(&alert("genuine")).await;
    assert_eq!(
        (reply.status, reply.json()["status"].clone()),
        (200, json!("submitted"))
    );
    assert!(
        closed_within(&mut idle[0], Duration::from_secs(5)).await,
        "the oldest idle connection was closed for the newcomer"
    );
    for stream in &mut idle[1..] {
        assert!(!closed_within(stream, Duration::from_millis(20)).await);
    }
    s.shutdown().await;
}

#[tokio::test]
async fn many_h2_streams_from_one_address_cannot_take_every_in_flight_permit() {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A request body that never arrives.
    struct Stalled;
    impl hyper::body::Body for Stalled {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
            Poll::Pending
        }
    }

    let mut config = settings(LOOPBACK_NET);
    config.server.body_timeout = HumanDuration(LONG);
    config.server.max_in_flight = 64;
    config.server.max_in_flight_per_peer = 16;
    let s = TestService::start(config).await;
    // Six h2 connections of 200 streams each, from one address, none ever sending its body.
    let mut pending = Vec::new();
    for _ in 0..6 {
        let io = hyper_util::rt::TokioIo::new(connect_from([127, 0, 0, 2], s.public).await);
        let (sender, connection) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(connection);
        for _ in 0..200 {
            let mut sender = sender.clone();
            let request = hyper::Request::post("http://test/tradingview/webhook")
                .body(Stalled)
                .unwrap();
            pending.push(tokio::spawn(
                async move { sender.send_request(request).await },
            ));
        }
    }
    // Its share is all it gets (16 streams per connection, 16 requests per address).
    s.until_in_flight(16).await;
    // Another address is still served at once.
    let reply = s.alert(&alert("genuine-h2")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(s.runtime.requests_in_flight(), 16);
    for task in pending {
        task.abort();
    }
    s.shutdown().await;
}

#[tokio::test]
async fn http1_requests_need_exactly_one_host() {
    let s = TestService::start(settings(LOOPBACK)).await;
    let body = alert("host").to_string();
    for (head, what) in [
        ("POST /webhook HTTP/1.1\r\n", "no Host"),
        (
            "POST /webhook HTTP/1.1\r\nhost: a\r\nhost: b\r\n",
            "two Host",
        ),
    ] {
        let request = format!(
            "{head}connection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = send_raw(s.public, request.as_bytes()).await;
        let reply = read_reply(&mut stream).await.expect("an answer");
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        assert_eq!(reply.json()["error"], "bad_request", "{what}");
    }
    assert_eq!(s.journal(), "", "neither reached the pipeline");
    // HTTP/1.0 has no Host requirement; one Host on 1.1 is the norm.
    assert_eq!(s.alert(&alert("host")).await.status, 200);
    s.shutdown().await;
}
