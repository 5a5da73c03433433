//! The Vault source against an in-test server speaking Vault's documented KV v2 read API
//! (`GET /v1/{mount}/data/{path}[?version=N]`, `GET /v1/{mount}/metadata/{path}`,
//! `X-Vault-Token`, the JSON envelope, 403, 404, versions with their created, deletion and
//! destroyed marks), so the real vaultrs client runs over a real socket.

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
use mts1b_inbound_core::{
    Clock, FundId, SecretCheck, SecretLookup, SecretSource, SystemClock, UnixMillis,
};
use serde_json::json;

const TOKEN: &str = "s.test-token";

/// One version of a KV v2 secret.
struct Version {
    data: serde_json::Value,
    created_time: String,
    deletion_time: String,
    destroyed: bool,
}

#[derive(Default)]
struct FakeVault {
    /// path under the mount → its versions, oldest first (version 1 is `[0]`).
    secrets: HashMap<String, Vec<Version>>,
    /// Answer every read with 503, as a sealed Vault does.
    sealed: bool,
    /// Answer metadata reads with 403, as a policy granting only `data/` does.
    metadata_denied: bool,
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
    let uri = req.uri().path();
    if let Some(path) = uri.strip_prefix("/v1/secret/metadata/") {
        if v.metadata_denied {
            return answer(403, json!({"errors": ["permission denied"]}));
        }
        let Some(versions) = v.secrets.get(path) else {
            return answer(404, json!({"errors": []}));
        };
        let listed: serde_json::Map<String, serde_json::Value> = versions
            .iter()
            .enumerate()
            .map(|(i, version)| {
                let meta = json!({
                    "created_time": version.created_time,
                    "deletion_time": version.deletion_time,
                    "destroyed": version.destroyed,
                });
                ((i + 1).to_string(), meta)
            })
            .collect();
        return answer(
            200,
            json!({
                "request_id": "3a1a3b4c-0000-0000-0000-000000000000",
                "lease_id": "", "renewable": false, "lease_duration": 0,
                "data": {
                    "cas_required": false,
                    "created_time": versions[0].created_time,
                    "current_version": versions.len(),
                    "custom_metadata": null,
                    "delete_version_after": "0s",
                    "max_versions": 0,
                    "oldest_version": 0,
                    "updated_time": versions[versions.len() - 1].created_time,
                    "versions": listed,
                },
                "wrap_info": null, "warnings": null, "auth": null
            }),
        );
    }
    let Some(path) = uri.strip_prefix("/v1/secret/data/") else {
        return answer(404, json!({"errors": []}));
    };
    let asked = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("version="))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n > 0);
    let Some(versions) = v.secrets.get(path) else {
        return answer(404, json!({"errors": []}));
    };
    let number = asked.unwrap_or(versions.len());
    match versions.get(number - 1) {
        // Deleted or destroyed versions read as 404, as in Vault.
        Some(version) if version.deletion_time.is_empty() && !version.destroyed => answer(
            200,
            json!({
                "request_id": "2f1a3b4c-0000-0000-0000-000000000000",
                "lease_id": "", "renewable": false, "lease_duration": 0,
                "data": {
                    "data": version.data,
                    "metadata": {
                        "created_time": version.created_time,
                        "custom_metadata": null, "deletion_time": "",
                        "destroyed": false, "version": number
                    }
                },
                "wrap_info": null, "warnings": null, "auth": null
            }),
        ),
        _ => answer(404, json!({"errors": []})),
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

fn settings(address: String, refresh: Duration, grace: Duration) -> Vault {
    Vault {
        address,
        mount: "secret".into(),
        path_prefix: "mts1b/tradingview".into(),
        field: "webhook_secret".into(),
        refresh: HumanDuration(refresh),
        rotation_grace: HumanDuration(grace),
        token_file: None,
    }
}

/// Which secret `secret` is for fund `f`, for a request received `at`.
fn check_at(source: &dyn SecretSource, f: &str, secret: &str, at: UnixMillis) -> SecretCheck {
    match source.fund_secret(&fund(f)) {
        SecretLookup::Found(s) => s.check(secret, at),
        _ => SecretCheck::Wrong,
    }
}

fn accepts(source: &dyn SecretSource, f: &str, secret: &str) -> bool {
    check_at(source, f, secret, SystemClock.now()) != SecretCheck::Wrong
}

/// Writes a new version of fund `f`'s secret, created at `created` (RFC 3339, as Vault writes).
fn set_at(vault: &Shared, f: &str, secret: &str, created: UnixMillis) {
    let created_time = created.to_rfc3339().replace('Z', "123456Z");
    vault
        .lock()
        .unwrap()
        .secrets
        .entry(format!("mts1b/tradingview/{f}"))
        .or_default()
        .push(Version {
            data: json!({"webhook_secret": secret, "other": "x"}),
            created_time,
            deletion_time: String::new(),
            destroyed: false,
        });
}

fn set(vault: &Shared, f: &str, secret: &str) {
    set_at(vault, f, secret, SystemClock.now());
}

async fn source_with_grace(
    vault: &Shared,
    token: &str,
    refresh: Duration,
    grace: Duration,
) -> VaultSecrets {
    let address = start(vault.clone()).await;
    VaultSecrets::new(
        &settings(address, refresh, grace),
        token,
        vec![fund("alpha"), fund("beta")],
    )
    .unwrap()
}

/// A source with no rotation grace: only the current version counts.
async fn source(vault: &Shared, token: &str, refresh: Duration) -> VaultSecrets {
    source_with_grace(vault, token, refresh, Duration::ZERO).await
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
async fn a_reload_forgets_removed_funds_at_once_and_reads_added_ones_at_the_next_refresh() {
    let vault = Shared::default();
    set(&vault, "alpha", "alpha-1");
    set(&vault, "beta", "beta-1");
    set(&vault, "gamma", "gamma-1");
    let s = source(&vault, TOKEN, Duration::from_secs(60)).await;
    s.refresh().await.unwrap();
    assert!(!accepts(&s, "gamma", "gamma-1"), "not configured yet");
    s.set_funds(vec![fund("alpha"), fund("gamma")]);
    assert!(
        matches!(s.fund_secret(&fund("beta")), SecretLookup::UnknownFund),
        "removed: refused before any read"
    );
    assert!(accepts(&s, "alpha", "alpha-1"), "kept without a read");
    assert!(matches!(
        s.fund_secret(&fund("gamma")),
        SecretLookup::UnknownFund
    ));
    let reads = vault.lock().unwrap().reads;
    s.refresh().await.unwrap();
    assert_eq!(
        vault.lock().unwrap().reads - reads,
        2,
        "alpha and gamma only"
    );
    assert!(accepts(&s, "gamma", "gamma-1"));
    assert!(!accepts(&s, "beta", "beta-1"));
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

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn the_previous_version_is_accepted_until_its_successors_creation_plus_the_grace() {
    let vault = Shared::default();
    let now = SystemClock.now();
    let rotated = UnixMillis(now.0 - 3_600_000);
    set_at(&vault, "alpha", "old", UnixMillis(now.0 - 30 * 86_400_000));
    set_at(&vault, "alpha", "new", rotated);
    set(&vault, "beta", "b");
    let s = source_with_grace(&vault, TOKEN, Duration::from_secs(60), DAY).await;
    s.refresh().await.unwrap();
    let until = UnixMillis(rotated.0 + 86_400_000);
    assert_eq!(check_at(&s, "alpha", "new", now), SecretCheck::Current);
    assert_eq!(check_at(&s, "alpha", "old", now), SecretCheck::Previous);
    assert_eq!(
        check_at(&s, "alpha", "old", UnixMillis(until.0 - 1)),
        SecretCheck::Previous
    );
    // The end is Vault's created_time plus the grace: a fixed time, whatever a restart does.
    assert_eq!(check_at(&s, "alpha", "old", until), SecretCheck::Wrong);
    // A fund with one version has no previous secret.
    assert_eq!(check_at(&s, "beta", "old", now), SecretCheck::Wrong);
}

#[tokio::test]
async fn a_grace_long_past_is_not_even_fetched() {
    let vault = Shared::default();
    let now = SystemClock.now();
    set_at(&vault, "alpha", "old", UnixMillis(now.0 - 3 * 86_400_000));
    set_at(&vault, "alpha", "new", UnixMillis(now.0 - 2 * 86_400_000));
    set(&vault, "beta", "b");
    let s = source_with_grace(&vault, TOKEN, Duration::from_secs(60), DAY).await;
    s.refresh().await.unwrap();
    let Some(SecretLookup::Found(alpha)) = Some(s.fund_secret(&fund("alpha"))) else {
        panic!("alpha not found");
    };
    assert!(alpha.previous().is_none());
    assert!(accepts(&s, "alpha", "new") && !accepts(&s, "alpha", "old"));
}

#[tokio::test]
async fn revocation_takes_effect_at_the_next_refresh() {
    let vault = Shared::default();
    let now = SystemClock.now();
    set_at(&vault, "alpha", "leaked", UnixMillis(now.0 - 86_400_000));
    set_at(&vault, "alpha", "new", now);
    set(&vault, "beta", "b");
    let s = source_with_grace(&vault, TOKEN, Duration::from_secs(60), DAY).await;
    s.refresh().await.unwrap();
    assert!(accepts(&s, "alpha", "leaked"));
    // The leaked version is deleted in Vault: refused from the next refresh on.
    vault
        .lock()
        .unwrap()
        .secrets
        .get_mut("mts1b/tradingview/alpha")
        .unwrap()[0]
        .deletion_time = UnixMillis(now.0 - 1000).to_rfc3339();
    s.refresh().await.unwrap();
    assert!(!accepts(&s, "alpha", "leaked") && accepts(&s, "alpha", "new"));
    // Or the grace is set to zero (a reload with secrets.rotation_grace = "0s").
    vault
        .lock()
        .unwrap()
        .secrets
        .get_mut("mts1b/tradingview/alpha")
        .unwrap()[0]
        .deletion_time = String::new();
    let address = start(vault.clone()).await;
    let zero = VaultSecrets::new(
        &settings(address, Duration::from_secs(60), Duration::ZERO),
        TOKEN,
        vec![fund("alpha"), fund("beta")],
    )
    .unwrap();
    zero.refresh().await.unwrap();
    assert!(!accepts(&zero, "alpha", "leaked") && accepts(&zero, "alpha", "new"));
}

#[tokio::test]
async fn metadata_denied_with_a_grace_is_a_failed_read_that_says_what_to_grant() {
    let vault = Shared::default();
    set(&vault, "alpha", "a");
    set(&vault, "beta", "b");
    vault.lock().unwrap().metadata_denied = true;
    let s = source_with_grace(&vault, TOKEN, Duration::from_secs(60), DAY).await;
    let err = s.refresh().await.unwrap_err().to_string();
    assert!(
        err.contains("secret/metadata/mts1b/tradingview/alpha") && err.contains("rotation_grace"),
        "{err}"
    );
    assert!(s.not_ready().is_some());
}
