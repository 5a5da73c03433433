//! TLS on the public listener and TradingView's client certificate (SPEC §15), over real
//! sockets with rustls on both sides and certificates made here by `rcgen`: a CA for the
//! server's certificate, a CA standing in for TradingView's issuer, another CA nobody
//! configured, and client certificates with TradingView's subject and e-mail name or others.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use mts1b_tradingview::config::{EnvOverrides, load_str};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::Value;
use support::chat::{adapters_toml, discord_ping, discord_signed};
use support::{LOOPBACK, Reply, T0, TestService, alert, temp_dir, try_request};

/// A CA: its certificate (PEM) and what signs with it.
struct Authority {
    pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn authority(name: &str) -> Authority {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    Authority {
        pem: cert.pem(),
        der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

/// A certificate and its key, PEM and DER.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn leaf(params: CertificateParams, by: &Authority) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &by.issuer).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

/// The server's certificate for `localhost`, named `name` (to tell a renewed one apart).
fn server_leaf(name: &str, by: &Authority) -> Leaf {
    let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf(params, by)
}

/// A client certificate with `subject` (attribute, value) and e-mail names `emails`.
fn client_leaf(subject: &[(DnType, &str)], emails: &[&str], by: &Authority) -> Leaf {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    for (attribute, value) in subject {
        params.distinguished_name.push(attribute.clone(), *value);
    }
    params.subject_alt_names = emails
        .iter()
        .map(|e| SanType::Rfc822Name((*e).try_into().unwrap()))
        .collect();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    leaf(params, by)
}

/// TradingView's certificate as its support page describes it.
fn tradingview_subject() -> Vec<(DnType, &'static str)> {
    vec![
        (DnType::CountryName, "US"),
        (DnType::StateOrProvinceName, "Ohio"),
        (DnType::LocalityName, "Westerville"),
        (DnType::OrganizationName, "TradingView, Inc."),
        (DnType::CommonName, "TradingView Webhooks"),
    ]
}

const TRADINGVIEW_EMAIL: &str = "webhook-server@tradingview.com";

/// The PKI of one test: the server's CA and certificate, TradingView's CA, another CA.
struct Pki {
    server_ca: Authority,
    tradingview_ca: Authority,
    other_ca: Authority,
    dir: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let pki = Pki {
            server_ca: authority("Desk server CA"),
            tradingview_ca: authority("TradingView client CA (stand-in)"),
            other_ca: authority("Somebody else's CA"),
            dir: temp_dir("tls"),
        };
        pki.write_server(&server_leaf("bridge", &pki.server_ca));
        std::fs::write(pki.path("client-ca.pem"), &pki.tradingview_ca.pem).unwrap();
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write_server(&self, leaf: &Leaf) {
        std::fs::write(self.path("server.key"), &leaf.key_pem).unwrap();
        std::fs::write(self.path("server.pem"), &leaf.cert_pem).unwrap();
    }

    /// `[server.tls]` with these files, and `client` keys appended.
    fn toml(&self, client: &str) -> String {
        format!(
            "[server.tls]\ncert = {:?}\nkey = {:?}\n{client}\n",
            self.path("server.pem"),
            self.path("server.key")
        )
    }

    fn client_cert_toml(&self, mode: &str) -> String {
        format!(
            "client_cert = \"tradingview\"\nclient_ca = {:?}\nclient_cert_mode = \"{mode}\"",
            self.path("client-ca.pem")
        )
    }

    /// A client trusting the server's CA, presenting `cert` (or none).
    fn client(&self, cert: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.server_ca.der.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        Arc::new(match cert {
            Some(leaf) => builder
                .with_client_auth_cert(vec![leaf.cert.clone()], leaf.key.clone_key())
                .unwrap(),
            None => builder.with_no_client_auth(),
        })
    }

    fn tradingview(&self) -> Leaf {
        client_leaf(
            &tradingview_subject(),
            &[TRADINGVIEW_EMAIL],
            &self.tradingview_ca,
        )
    }
}

async fn start(pki: &Pki, client: &str) -> TestService {
    let mut settings = support::settings(&format!(
        "{}\n{LOOPBACK}\n{}",
        pki.toml(client),
        adapters_toml(r#"["fund-a"]"#, "", "", "")
    ));
    // Idle connections close after the header timeout (300 ms in the tests' settings); one
    // must outlive a reload here.
    settings.server.header_timeout.0 = Duration::from_secs(30);
    TestService::start(settings).await
}

/// An HTTP/1.1 connection over TLS to `addr`, and the certificate the server presented.
async fn connect(
    addr: SocketAddr,
    client: Arc<rustls::ClientConfig>,
) -> Result<(SendRequest<Full<Bytes>>, CertificateDer<'static>), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(client)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok((sender, presented))
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut request = hyper::Request::post(path).header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(
            request
                .body(Full::new(Bytes::copy_from_slice(body)))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers: Vec::new(),
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// One request on a new TLS connection presenting `cert`.
async fn post(
    svc: &TestService,
    pki: &Pki,
    cert: Option<&Leaf>,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let (mut sender, _) = connect(svc.public, pki.client(cert)).await.unwrap();
    send(&mut sender, path, headers, body).await
}

async fn post_alert(svc: &TestService, pki: &Pki, cert: Option<&Leaf>, key: &str) -> Reply {
    let body = alert(key).to_string();
    post(svc, pki, cert, "/tradingview/webhook", &[], body.as_bytes()).await
}

/// A signed Discord PING on the chat route: answered `{"type":1}` whatever the certificate.
async fn ping_discord(svc: &TestService, pki: &Pki, cert: Option<&Leaf>) -> Reply {
    let body = discord_ping("1");
    let signed = discord_signed(&body, T0.as_millis() / 1000);
    post(
        svc,
        pki,
        cert,
        "/discord/webhook",
        &signed.headers(),
        &signed.body,
    )
    .await
}

/// The value of the metric line starting with `prefix` (0 when absent).
async fn metric(svc: &TestService, prefix: &str) -> f64 {
    let text = svc.admin_get("/metrics").await.body;
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

fn certificates_metric(verdict: &str, mode: &str) -> String {
    format!("mts1b_tls_client_certificates_total{{mode=\"{mode}\",verdict=\"{verdict}\"}}")
}

/// The orders the paper OMS took, one journal line each.
fn journal_keys(svc: &TestService) -> Vec<Value> {
    svc.journal()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tradingview_route_takes_only_tradingviews_certificate_and_chat_routes_any() {
    let pki = Pki::new();
    let svc = start(&pki, &pki.client_cert_toml("enforce")).await;
    let tradingview = pki.tradingview();
    let wrong_subject = client_leaf(
        &[
            (DnType::OrganizationName, "Not TradingView"),
            (DnType::CommonName, "TradingView Webhooks"),
        ],
        &[TRADINGVIEW_EMAIL],
        &pki.tradingview_ca,
    );
    let no_email = client_leaf(&tradingview_subject(), &[], &pki.tradingview_ca);
    let untrusted = client_leaf(&tradingview_subject(), &[TRADINGVIEW_EMAIL], &pki.other_ca);

    let accepted = post_alert(&svc, &pki, Some(&tradingview), "tv-1").await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.json()["status"], "submitted");

    let refused: [(&str, Option<&Leaf>); 4] = [
        ("wrong subject", Some(&wrong_subject)),
        ("no e-mail name", Some(&no_email)),
        ("untrusted chain", Some(&untrusted)),
        ("no certificate", None),
    ];
    for (i, (case, cert)) in refused.into_iter().enumerate() {
        let reply = post_alert(&svc, &pki, cert, &format!("refused-{i}")).await;
        assert_eq!(reply.status, 403, "{case}: {}", reply.body);
        assert_eq!(
            reply.json(),
            serde_json::json!({"error": "forbidden"}),
            "{case}"
        );
        let chat = ping_discord(&svc, &pki, cert).await;
        assert_eq!(chat.status, 200, "{case} on the chat route: {}", chat.body);
        assert_eq!(chat.json(), serde_json::json!({"type": 1}), "{case}");
    }
    // The admin page says why each was refused (the answer, a bare 403, does not).
    let page = svc.admin_get("/?outcome=rejected").await.body;
    for why in [
        "client certificate is not TradingView&#39;s",
        "client certificate not trusted",
        "no client certificate",
    ] {
        assert!(page.contains(why), "{why} not on the page");
    }
    // The refused alerts recorded nothing: only TradingView's reached the (paper) OMS.
    assert_eq!(journal_keys(&svc).len(), 1, "{}", svc.journal());
    for (verdict, count) in [
        ("tradingview", 1.0),
        ("not_tradingview", 2.0),
        ("untrusted", 1.0),
        ("absent", 1.0),
    ] {
        assert_eq!(
            metric(&svc, &certificates_metric(verdict, "enforce")).await,
            count,
            "{verdict}"
        );
    }
    // The same key again with TradingView's certificate: the refusals left it unclaimed.
    let later = post_alert(&svc, &pki, Some(&tradingview), "refused-0").await;
    assert_eq!(later.status, 200, "{}", later.body);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_mode_refuses_nothing_and_counts_what_it_would_have_refused() {
    let pki = Pki::new();
    let svc = start(&pki, &pki.client_cert_toml("log")).await;
    let untrusted = client_leaf(&tradingview_subject(), &[TRADINGVIEW_EMAIL], &pki.other_ca);
    for (key, cert) in [("no-cert", None), ("untrusted", Some(&untrusted))] {
        let reply = post_alert(&svc, &pki, cert, key).await;
        assert_eq!(reply.status, 200, "{key}: {}", reply.body);
    }
    let tradingview = pki.tradingview();
    assert_eq!(
        post_alert(&svc, &pki, Some(&tradingview), "tv")
            .await
            .status,
        200
    );
    assert_eq!(journal_keys(&svc).len(), 3);
    for (verdict, count) in [("absent", 1.0), ("untrusted", 1.0), ("tradingview", 1.0)] {
        assert_eq!(
            metric(&svc, &certificates_metric(verdict, "log")).await,
            count,
            "{verdict}"
        );
    }
    assert_eq!(
        metric(&svc, &certificates_metric("absent", "enforce")).await,
        0.0
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_listener_serves_no_plain_http_and_asks_no_certificate_unless_configured() {
    let pki = Pki::new();
    let svc = start(&pki, "").await;
    // TLS without client_cert: no certificate needed on any route.
    let reply = post_alert(&svc, &pki, None, "over-tls").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Plain HTTP to the TLS listener: no answer at all, and counted.
    let body = alert("plain").to_string();
    let plain = try_request(svc.public, "POST", "/webhook", &[], body.as_bytes()).await;
    assert!(plain.is_none(), "plain HTTP answered: {plain:?}");
    assert_eq!(metric(&svc, "mts1b_tls_handshakes_failed_total").await, 1.0);
    assert_eq!(journal_keys(&svc).len(), 1);
    // No certificate was asked for, so none was judged.
    assert!(
        !svc.admin_get("/metrics")
            .await
            .body
            .contains("mts1b_tls_client_certificates_total{")
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_files_are_served_to_new_connections_and_open_ones_stay() {
    let pki = Pki::new();
    let svc = start(&pki, "").await;
    let (mut open, first) = connect(svc.public, pki.client(None)).await.unwrap();
    assert_eq!(send_alert(&mut open, "before").await.status, 200);

    let renewed = server_leaf("bridge renewed", &pki.server_ca);
    pki.write_server(&renewed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, presented) = connect(svc.public, pki.client(None)).await.unwrap();
        if presented == renewed.cert {
            break;
        }
        assert_eq!(
            presented, first,
            "neither the old nor the renewed certificate"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "renewed files never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The connection opened before the renewal still carries requests.
    assert_eq!(send_alert(&mut open, "after").await.status, 200);
    svc.shutdown().await;
}

async fn send_alert(sender: &mut SendRequest<Full<Bytes>>, key: &str) -> Reply {
    let body = alert(key).to_string();
    send(sender, "/tradingview/webhook", &[], body.as_bytes()).await
}

#[test]
fn the_configuration_says_what_tls_needs() {
    let pki = Pki::new();
    let refused = |toml: &str| {
        load_str(toml, EnvOverrides::from_vars([]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let cert = format!("cert = {:?}", pki.path("server.pem"));
    let text = refused(&format!("[server.tls]\n{cert}\n"));
    assert!(
        text.contains("server.tls.key: server.tls.cert needs its key"),
        "{text}"
    );
    let text = refused(&format!(
        "[server.tls]\n{cert}\nkey = \"k.pem\"\nclient_cert = \"tradingview\"\n"
    ));
    assert!(
        text.contains("server.tls.client_ca: client_cert = \"tradingview\" needs the CA"),
        "{text}"
    );
    let text = refused("[server.tls]\nclient_cert = \"tradingview\"\nclient_ca = \"ca.pem\"\n");
    assert!(
        text.contains("server.tls.client_cert: a client certificate is asked for over TLS only"),
        "{text}"
    );
    let text = refused(&format!(
        "[server.tls]\n{cert}\nkey = \"k.pem\"\nclient_cert = \"yes\"\nclient_cert_mode = \"warn\"\n"
    ));
    assert!(
        text.contains("server.tls.client_cert: \"yes\" is not off or tradingview"),
        "{text}"
    );
    assert!(
        text.contains("server.tls.client_cert_mode: \"warn\" is not enforce or log"),
        "{text}"
    );
}

#[tokio::test]
async fn a_service_with_unusable_tls_files_does_not_start_and_says_which() {
    let pki = Pki::new();
    let other = server_leaf("other", &pki.server_ca);
    std::fs::write(pki.path("server.key"), &other.key_pem).unwrap();
    let settings = support::settings(&pki.toml(""));
    let error = mts1b_tradingview::service::start_system(&settings)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("server.tls: server.tls.cert and server.tls.key do not make a usable pair"),
        "{error}"
    );
    std::fs::remove_file(pki.path("server.pem")).unwrap();
    let error = mts1b_tradingview::service::start_system(&settings)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("cannot read") && error.contains("server.pem"),
        "{error}"
    );
}
