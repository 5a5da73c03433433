//! A local server standing in for Slack's `response_url` and Discord's webhook API (hyper's
//! HTTP/1 server): it records every request (method, path, body) and answers the scripted
//! statuses in turn (then 200).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub body: String,
}

#[derive(Clone)]
pub struct StandIn {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl StandIn {
    /// Starts answering `statuses` in turn, then 200 for ever.
    pub async fn start(statuses: &[u16]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(
            statuses.iter().copied().collect::<VecDeque<_>>(),
        ));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, script) = (log.clone(), script.clone());
                let service = service_fn(move |req: Request<Incoming>| {
                    let (log, script) = (log.clone(), script.clone());
                    async move {
                        let (method, path) =
                            (req.method().to_string(), req.uri().path().to_owned());
                        let body = req.into_body().collect().await?.to_bytes();
                        let body = String::from_utf8_lossy(&body).into_owned();
                        log.lock().unwrap().push(Received { method, path, body });
                        let status = script.lock().unwrap().pop_front().unwrap_or(200);
                        let mut reply = Response::new(Full::new(Bytes::from_static(b"{}")));
                        *reply.status_mut() = StatusCode::from_u16(status).unwrap();
                        Ok::<_, hyper::Error>(reply)
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Self { addr, received }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Awaits (bounded) until `n` requests have arrived; returns them.
    pub async fn until_received(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} requests arrived: {received:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
