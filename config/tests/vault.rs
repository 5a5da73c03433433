//! The Vault source against an in-test server speaking Vault's documented KV v2 read API
//! (`GET /v1/{mount}/data/{path}`, `X-Vault-Token`, the JSON envelope, 403, 404), so the real
//! vaultrs client runs over a real socket.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use mts1b_inbound_config::settings::Vault;
use mts1b_inbound_config::{HumanDuration, VaultSecrets};
use mts1b_inbound_core::{FundId, SecretLookup, SecretSource};
use serde_json::json;

const TOKEN: &str = "s.test-token";

#[derive(Default)]
struct FakeVault {
    /// path under the mount → the secret's data.
    secrets: HashMap<String, serde_json::Value>,
    /// Answer every read with 503, as a sealed Vault does.
    sealed: bool,
    reads: usize,
}

type Shared = Arc<Mutex<FakeVault>>;

fn answer(status: u16, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn serve(vault: &Shared, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let mut v = vault.lock().unwrap();
    v.reads += 1;
    if v.sealed {
        return answer(503, json!({"errors": ["Vault is sealed"]}));
    }
    if req
        .headers()
        .get("x-vault-token")
        .and_then(|t| t.to_str().ok())
        != Some(TOKEN)
    {
        return answer(403, json!({"errors": ["permission denied"]}));
    }
    let Some(path) = req.uri().path().strip_prefix("/v1/secret/data/") else {
        return answer(404, json!({"errors": []}));
    };
    match v.secrets.get(path) {
        None => answer(404, json!({"errors": []})),
        Some(data) => answer(
            200,
            json!({
                "request_id": "2f1a3b4c-0000-0000-0000-000000000000",
                "lease_id": "", "renewable": false, "lease_duration": 0,
                "data": {
                    "data": data,
                    "metadata": {
                        "created_time": "2026-11-29T14:48:09.000000000Z",
                        "custom_metadata": null, "deletion_time": "",
                        "destroyed": false, "version": 1
                    }
                },
                "wrap_info": null, "warnings": null, "auth": null
            }),
        ),
    }
}

async fn start(vault: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let vault = vault.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let reply = serve(&vault, &req);
                    async move { Ok::<_, Infallible>(reply) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    address
}

fn fund(s: &str) -> FundId {
    FundId::parse(s).unwrap()
}

fn settings(address: String, refresh: Duration) -> Vault {
    Vault {
        address,
        mount: "secret".into(),
        path_prefix: "mts1b/tradingview".into(),
        field: "webhook_secret".into(),
        refresh: HumanDuration(refresh),
    }
}

fn accepts(source: &dyn SecretSource, f: &str, secret: &str) -> bool {
    matches!(source.fund_secret(&fund(f)), SecretLookup::Found(s) if s.matches(secret))
}

fn set(vault: &Shared, f: &str, secret: &str) {
    vault.lock().unwrap().secrets.insert(
        format!("mts1b/tradingview/{f}"),
        json!({"webhook_secret": secret, "other": "x"}),
    );
}

async fn source(vault: &Shared, token: &str, refresh: Duration) -> VaultSecrets {
    let address = start(vault.clone()).await;
    VaultSecrets::new(
        &settings(address, refresh),
        token,
        vec![fund("alpha"), fund("beta")],
    )
    .unwrap()
}

#[tokio::test]
async fn loads_every_fund_and_is_not_ready_before() {
    let vault = Shared::default();
    set(&vault, "alpha", "alpha-1");
    set(&vault, "beta", "beta-1");
    let s = source(&vault, TOKEN, Duration::from_secs(60)).await;
    assert!(matches!(
        s.fund_secret(&fund("alpha")),
        SecretLookup::NotLoaded
    ));
    assert!(s.not_ready().is_some());
    s.refresh().await.unwrap();
    assert!(s.not_ready().is_none());
    assert!(accepts(&s, "alpha", "alpha-1") && accepts(&s, "beta", "beta-1"));
    assert!(!accepts(&s, "alpha", "beta-1"));
    assert!(matches!(
        s.fund_secret(&fund("gamma")),
        SecretLookup::UnknownFund
    ));
}

#[tokio::test]
async fn rotation_takes_effect_on_the_next_read() {
    let vault = Shared::default();
    set(&vault, "alpha", "old");
    set(&vault, "beta", "b");
    let s = source(&vault, TOKEN, Duration::from_secs(60)).await;
    s.refresh().await.unwrap();
    assert!(accepts(&s, "alpha", "old"));
    set(&vault, "alpha", "new");
    s.refresh().await.unwrap();
    assert!(
        !accepts(&s, "alpha", "old"),
        "the old secret must be refused after rotation"
    );
    assert!(accepts(&s, "alpha", "new"));
}

#[tokio::test]
async fn an_outage_keeps_the_last_good_secrets() {
    let vault = Shared::default();
    set(&vault, "alpha", "a");
    set(&vault, "beta", "b");
    let s = source(&vault, TOKEN, Duration::from_secs(60)).await;
    s.refresh().await.unwrap();
    vault.lock().unwrap().sealed = true;
    assert!(s.refresh().await.is_err());
    assert!(accepts(&s, "alpha", "a") && accepts(&s, "beta", "b"));
    assert!(
        s.not_ready().is_none(),
        "still serving the last good secrets"
    );
}

#[tokio::test]
async fn a_wrong_token_never_becomes_ready() {
    let vault = Shared::default();
    set(&vault, "alpha", "a");
    let s = source(&vault, "s.wrong", Duration::from_secs(60)).await;
    let err = s.refresh().await.unwrap_err().to_string();
    assert!(err.contains("403"), "{err}");
    assert!(matches!(
        s.fund_secret(&fund("alpha")),
        SecretLookup::NotLoaded
    ));
    assert!(s.not_ready().unwrap().contains("403"));
}

#[tokio::test]
async fn a_fund_without_a_secret_is_refused_and_the_rest_served() {
    let vault = Shared::default();
    set(&vault, "alpha", "a");
    let s = source(&vault, TOKEN, Duration::from_secs(60)).await;
    s.refresh().await.unwrap();
    assert!(accepts(&s, "alpha", "a"));
    assert!(matches!(
        s.fund_secret(&fund("beta")),
        SecretLookup::UnknownFund
    ));
    // A secret deleted from Vault stops working.
    vault.lock().unwrap().secrets.clear();
    s.refresh().await.unwrap();
    assert!(matches!(
        s.fund_secret(&fund("alpha")),
        SecretLookup::UnknownFund
    ));
}

/// Awaits a condition the background task brings about, bounded by 10 s: no fixed sleep decides
/// the outcome.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never happened"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_background_refresh_picks_up_rotation() {
    let vault = Shared::default();
    set(&vault, "alpha", "old");
    set(&vault, "beta", "b");
    let s = Arc::new(source(&vault, TOKEN, Duration::from_millis(50)).await);
    let task = tokio::spawn(s.clone().refresh_forever());
    eventually("first load", || accepts(&*s, "alpha", "old")).await;
    set(&vault, "alpha", "new");
    eventually("rotation", || accepts(&*s, "alpha", "new")).await;
    assert!(!accepts(&*s, "alpha", "old"));
    task.abort();
}
