//! The load harness's ceiling: a bare hyper server that reads the body and answers a fixed 202,
//! with the same runtime and connection settings as the bridge. What the bridge costs is measured
//! against it. `cargo run --release --example ceiling -- 127.0.0.1:8181`

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

// The bridge's allocator, so the comparison is of the work, not of malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = req.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(br#"{"status":"queued"}"#)));
    *response.status_mut() = hyper::StatusCode::ACCEPTED;
    Ok(response)
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8181".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .expect("a free address");
    println!("ceiling listening on {addr}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                .await;
        });
    }
}
