//! TLS on the public listener (SPEC §15): rustls with the certificate and key from PEM files,
//! read again when they change, and TradingView's client certificate.
//!
//! The client certificate is requested at every handshake but never required there: chat
//! routes share the listener and Slack and Discord present none, and `log` mode must see what
//! it would refuse. The handshake still checks that the client holds the key of the
//! certificate it presents (its signature over the handshake); the chain and the identity are
//! judged once the handshake is done ([`ClientCertificate`]), and the TradingView route refuses
//! what is not TradingView's (`enforce`) or logs it (`log`).
//!
//! TradingView does not publish its certificate's issuer, and public CAs are dropping
//! client-authentication certificates: the CA is always named (`server.tls.client_ca`), never
//! taken from the system's roots.
//!
//! Crates: rustls and tokio-rustls (already in the build through reqwest and async-nats, with
//! the same aws-lc-rs provider), and x509-parser for the certificate's subject and e-mail
//! names, which rustls and webpki check but do not expose: reading DER by hand would be a
//! second parser of what any client sends.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use tokio_rustls::TlsAcceptor;
use x509_parser::extensions::GeneralName;

/// How often the certificate files are read again to see whether they changed.
pub const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// The subject common name of TradingView's webhook client certificate.
pub const TRADINGVIEW_COMMON_NAME: &str = "TradingView Webhooks";
/// The subject organization of TradingView's webhook client certificate.
pub const TRADINGVIEW_ORGANIZATION: &str = "TradingView, Inc.";
/// The e-mail subject alternative name of TradingView's webhook client certificate.
pub const TRADINGVIEW_EMAIL: &str = "webhook-server@tradingview.com";

/// What to do on the TradingView route with a connection that did not prove to be TradingView.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCertMode {
    /// Refuse the request: 403 `forbidden`, nothing read or recorded.
    Enforce,
    /// Log what would have been refused, and go on: for a safe rollout.
    Log,
}

impl ClientCertMode {
    /// The mode's name in the configuration and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientCertMode::Enforce => "enforce",
            ClientCertMode::Log => "log",
        }
    }
}

/// The files TLS is served from.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain, PEM, the server's own certificate first.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// TradingView's client certificate: requested, and judged against this CA.
    pub client: Option<ClientCertPolicy>,
}

/// `server.tls.client_cert = "tradingview"`.
#[derive(Clone, Debug)]
pub struct ClientCertPolicy {
    /// The CA (PEM, one or more certificates) TradingView's certificate must chain to.
    pub ca: PathBuf,
    /// Refuse or only log.
    pub mode: ClientCertMode,
}

/// What a connection's client certificate proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCertificate {
    /// TradingView's: it chains to the configured CA and carries TradingView's subject and
    /// e-mail name.
    TradingView,
    /// The client presented none.
    Absent,
    /// It does not chain to the configured CA (or is expired, or not for client
    /// authentication): the verifier's words.
    Untrusted(String),
    /// It chains to the CA but is not TradingView's: what it names instead.
    NotTradingView(String),
}

impl ClientCertificate {
    /// The verdict's name in logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            ClientCertificate::TradingView => "tradingview",
            ClientCertificate::Absent => "absent",
            ClientCertificate::Untrusted(_) => "untrusted",
            ClientCertificate::NotTradingView(_) => "not_tradingview",
        }
    }

    /// Why it is not TradingView's, for the log (`None` when it is).
    pub fn refusal(&self) -> Option<String> {
        match self {
            ClientCertificate::TradingView => None,
            ClientCertificate::Absent => Some("no client certificate".into()),
            ClientCertificate::Untrusted(why) => {
                Some(format!("client certificate not trusted: {why}"))
            }
            ClientCertificate::NotTradingView(what) => {
                Some(format!("client certificate is not TradingView's: {what}"))
            }
        }
    }
}

/// A connection's client certificate, judged, and what the TradingView route does about it.
#[derive(Clone, Debug)]
pub struct PeerCertificate {
    /// What the certificate proves.
    pub verdict: ClientCertificate,
    /// Refuse or log.
    pub mode: ClientCertMode,
}

/// Why TLS could not be set up from the files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file does not hold what it should.
    #[error("{path}: {detail}")]
    Content {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// rustls refused the certificate and key (most often: the key is not the certificate's).
    #[error("server.tls.cert and server.tls.key do not make a usable pair: {0}")]
    Pair(rustls::Error),
}

/// What one reading of the files built.
struct Loaded {
    /// The files' bytes, to tell whether they changed.
    contents: Vec<Vec<u8>>,
    config: Arc<ServerConfig>,
    /// The chain check of client certificates (with the configured CA's roots).
    chain: Option<Arc<dyn ClientCertVerifier>>,
}

/// The public listener's TLS: the current configuration, rebuilt when the files change.
/// Handshakes in progress and open connections keep the configuration they started with.
pub struct TlsTermination {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    loaded: RwLock<Arc<Loaded>>,
    /// The last reload error logged, so a file left broken is reported once, not every check.
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for TlsTermination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTermination")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsTermination {
    /// Reads the files and builds the configuration, or says which file is wrong and how.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let loaded = build(&files, &provider, read_all(&files)?)?;
        Ok(Self {
            files,
            provider,
            loaded: RwLock::new(Arc::new(loaded)),
            last_error: Mutex::new(None),
        })
    }

    /// Reads the files again and, if any changed, rebuilds the configuration: `Ok(true)` when
    /// new handshakes now use new files. On an error the configuration in use stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let contents = read_all(&self.files)?;
        if self.current().contents == contents {
            return Ok(false);
        }
        let loaded = build(&self.files, &self.provider, contents)?;
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        Ok(true)
    }

    /// Checks the files every [`FILE_CHECK_INTERVAL`] and reloads them when they change (a
    /// renewed certificate is served without a restart); a broken file is logged once and the
    /// configuration in use stays until the files are right again.
    pub async fn watch_files(self: Arc<Self>) {
        loop {
            tokio::time::sleep(FILE_CHECK_INTERVAL).await;
            let outcome = self.reload();
            let mut last_error = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                Ok(false) => {}
                Ok(true) => {
                    *last_error = None;
                    tracing::info!(target: "mts1b::tls", cert = %self.files.cert.display(), "TLS files changed: reloaded");
                }
                Err(e) => {
                    let e = e.to_string();
                    if last_error.as_deref() != Some(e.as_str()) {
                        tracing::error!(target: "mts1b::tls", error = %e, "TLS files changed but cannot be used: still serving the previous ones");
                        *last_error = Some(e);
                    }
                }
            }
        }
    }

    /// An acceptor with the current configuration, for one connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current().config.clone())
    }

    /// What the client certificate of a finished handshake proves, and what the TradingView
    /// route does about it; `None` when no client certificate is asked for.
    pub fn judge(&self, connection: &ServerConnection) -> Option<PeerCertificate> {
        let policy = self.files.client.as_ref()?;
        let chain = self.current().chain.clone()?;
        let verdict = match connection.peer_certificates() {
            None | Some([]) => ClientCertificate::Absent,
            Some([end_entity, intermediates @ ..]) => {
                match chain.verify_client_cert(end_entity, intermediates, UnixTime::now()) {
                    Err(e) => ClientCertificate::Untrusted(e.to_string()),
                    Ok(_) => identity(end_entity),
                }
            }
        };
        Some(PeerCertificate {
            verdict,
            mode: policy.mode,
        })
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn read_all(files: &TlsFiles) -> Result<Vec<Vec<u8>>, TlsError> {
    let mut paths = vec![&files.cert, &files.key];
    if let Some(client) = &files.client {
        paths.push(&client.ca);
    }
    paths
        .into_iter()
        .map(|path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.display().to_string(),
                source,
            })
        })
        .collect()
}

fn content_error(path: &std::path::Path, detail: impl std::fmt::Display) -> TlsError {
    TlsError::Content {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// Certificates from PEM text: at least one, or an error naming the file.
fn certificates(
    path: &std::path::Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content_error(path, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(content_error(path, "holds no CERTIFICATE block"));
    }
    Ok(certs)
}

fn build(
    files: &TlsFiles,
    provider: &Arc<CryptoProvider>,
    contents: Vec<Vec<u8>>,
) -> Result<Loaded, TlsError> {
    let chain = certificates(&files.cert, &contents[0])?;
    let key = PrivateKeyDer::from_pem_slice(&contents[1])
        .map_err(|e| content_error(&files.key, format!("no usable private key: {e}")))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Pair)?;
    let (builder, client_chain) = match (&files.client, contents.get(2)) {
        (Some(client), Some(ca_pem)) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(&client.ca, ca_pem)? {
                roots
                    .add(ca)
                    .map_err(|e| content_error(&client.ca, format!("not a usable CA: {e}")))?;
            }
            let chain =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| content_error(&client.ca, e))?;
            let requesting = RequestClientCertificate {
                hints: chain.root_hint_subjects().to_vec(),
                algorithms: provider.signature_verification_algorithms,
            };
            (
                builder.with_client_cert_verifier(Arc::new(requesting)),
                Some(chain),
            )
        }
        _ => (builder.with_no_client_auth(), None),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(TlsError::Pair)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded {
        contents,
        config: Arc::new(config),
        chain: client_chain,
    })
}

/// What `doctor` reports of a certificate file.
#[derive(Clone, Debug)]
pub struct ChainReport {
    /// The first certificate's subject.
    pub subject: String,
    /// Its validity, in seconds since the Unix epoch.
    pub not_before: i64,
    /// Its end, in seconds since the Unix epoch.
    pub not_after: i64,
    /// How many certificates the file holds.
    pub certificates: usize,
    /// Where the chain breaks: a certificate not followed by its issuer.
    pub broken_link: Option<String>,
}

/// Reads a PEM chain as the listener would, and reports its first certificate's validity and
/// whether each certificate is followed by its issuer.
pub fn inspect_chain(path: &std::path::Path) -> Result<ChainReport, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let ders = certificates(path, &pem)?;
    let mut parsed = Vec::with_capacity(ders.len());
    for (i, der) in ders.iter().enumerate() {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| content_error(path, format!("certificate {}: {e}", i + 1)))?;
        parsed.push(cert);
    }
    let leaf = &parsed[0];
    let broken_link = parsed.windows(2).enumerate().find_map(|(i, pair)| {
        (pair[0].issuer() != pair[1].subject()).then(|| {
            format!(
                "certificate {} ({}) is not issued by certificate {} ({})",
                i + 1,
                pair[0].subject(),
                i + 2,
                pair[1].subject()
            )
        })
    });
    Ok(ChainReport {
        subject: leaf.subject().to_string(),
        not_before: leaf.validity().not_before.timestamp(),
        not_after: leaf.validity().not_after.timestamp(),
        certificates: parsed.len(),
        broken_link,
    })
}

/// TradingView's subject and e-mail name, or what the certificate names instead.
fn identity(end_entity: &CertificateDer<'_>) -> ClientCertificate {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(end_entity) else {
        return ClientCertificate::NotTradingView("unreadable certificate".into());
    };
    let subject = cert.subject();
    let all_equal = |mut values: Vec<Option<&str>>, expected: &str| {
        !values.is_empty() && values.drain(..).all(|v| v == Some(expected))
    };
    let common_names = subject
        .iter_common_name()
        .map(|a| a.as_str().ok())
        .collect();
    let organizations = subject
        .iter_organization()
        .map(|a| a.as_str().ok())
        .collect();
    let emails: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::RFC822Name(email) => Some((*email).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if all_equal(common_names, TRADINGVIEW_COMMON_NAME)
        && all_equal(organizations, TRADINGVIEW_ORGANIZATION)
        && emails
            .iter()
            .any(|e| e.eq_ignore_ascii_case(TRADINGVIEW_EMAIL))
    {
        ClientCertificate::TradingView
    } else {
        ClientCertificate::NotTradingView(format!(
            "subject {:?}, e-mail names {:?}",
            bounded(&subject.to_string()),
            emails.iter().map(|e| bounded(e)).collect::<Vec<_>>()
        ))
    }
}

/// A client's text in a log line, cut to a reasonable length.
fn bounded(text: &str) -> String {
    text.chars().take(200).collect()
}

/// Asks for a client certificate at the handshake without requiring or judging one there (see
/// the module's doc), but checks the client's signature with the certificate it presents.
#[derive(Debug)]
struct RequestClientCertificate {
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequestClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    use super::*;

    fn certificate(subject: &[(DnType, &str)], emails: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        for (attribute, value) in subject {
            params.distinguished_name.push(attribute.clone(), *value);
        }
        params.subject_alt_names.extend(
            emails
                .iter()
                .map(|e| SanType::Rfc822Name((*e).try_into().unwrap())),
        );
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn verdict(subject: &[(DnType, &str)], emails: &[&str]) -> ClientCertificate {
        let (pem, _) = certificate(subject, emails);
        identity(&CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
    }

    const TV: [(DnType, &str); 2] = [
        (DnType::OrganizationName, TRADINGVIEW_ORGANIZATION),
        (DnType::CommonName, TRADINGVIEW_COMMON_NAME),
    ];

    #[test]
    fn tradingviews_identity_is_its_subject_and_email_name() {
        assert_eq!(
            verdict(&TV, &[TRADINGVIEW_EMAIL]),
            ClientCertificate::TradingView
        );
        assert_eq!(
            verdict(&TV, &["Webhook-Server@TradingView.com"]),
            ClientCertificate::TradingView,
            "e-mail names compare without case"
        );
        for (case, subject, emails) in [
            ("no e-mail name", &TV[..], &[][..]),
            (
                "another e-mail name",
                &TV[..],
                &["webhook-server@example.com"][..],
            ),
            ("no organization", &TV[1..], &[TRADINGVIEW_EMAIL][..]),
            ("no common name", &TV[..1], &[TRADINGVIEW_EMAIL][..]),
        ] {
            assert!(
                matches!(
                    verdict(subject, emails),
                    ClientCertificate::NotTradingView(_)
                ),
                "{case}"
            );
        }
        let mut two_names = TV.to_vec();
        two_names.push((DnType::CommonName, "Someone else"));
        assert!(matches!(
            verdict(&two_names, &[TRADINGVIEW_EMAIL]),
            ClientCertificate::NotTradingView(_)
        ));
    }

    #[test]
    fn files_that_cannot_be_used_change_nothing() {
        let dir = std::env::temp_dir().join(format!("mts1b-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client: None,
        };
        let write = |(cert, key): &(String, String)| {
            std::fs::write(&files.cert, cert).unwrap();
            std::fs::write(&files.key, key).unwrap();
        };
        let first = certificate(&TV, &[]);
        write(&first);
        let tls = TlsTermination::load(files.clone()).unwrap();
        assert!(!tls.reload().unwrap(), "unchanged files are not reloaded");
        let served = |tls: &TlsTermination| tls.current().contents[0].clone();

        let second = certificate(&TV, &[]);
        std::fs::write(&files.key, &second.1).unwrap();
        assert!(
            matches!(tls.reload(), Err(TlsError::Pair(_))),
            "a key not the certificate's"
        );
        assert_eq!(served(&tls), first.0.as_bytes(), "still the first pair");
        std::fs::write(&files.cert, "not PEM").unwrap();
        assert!(matches!(tls.reload(), Err(TlsError::Content { .. })));
        std::fs::remove_file(&files.key).unwrap();
        assert!(matches!(tls.reload(), Err(TlsError::Read { .. })));
        assert_eq!(served(&tls), first.0.as_bytes());

        write(&second);
        assert!(tls.reload().unwrap());
        assert_eq!(served(&tls), second.0.as_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
