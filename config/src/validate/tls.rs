//! `server.tls.*`: TLS on the public listener and TradingView's client certificate (SPEC §15).
//! The files themselves are read when the service starts (and again when they change); here
//! only what belongs together is checked.

use std::path::PathBuf;

use super::{Check, text_of};
use crate::raw::RawTls;
use crate::settings::{ClientCert, ClientCertMode, Tls};

pub(super) fn tls(c: &mut Check, raw: &RawTls) -> Option<Tls> {
    c.unknown("server.tls", &raw.unknown);
    let path = |key: &str, raw: Option<&crate::raw::Text>, c: &mut Check| {
        let text = text_of(raw)?;
        if text.is_empty() {
            c.fail(format!("server.tls.{key}"), "must not be empty");
            return None;
        }
        Some(PathBuf::from(text))
    };
    let cert = path("cert", raw.cert.as_ref(), c);
    let key = path("key", raw.key.as_ref(), c);
    let wanted = c
        .get(
            "server.tls.client_cert",
            raw.client_cert.as_ref(),
            "off",
            |s| match s {
                "off" => Ok(false),
                "tradingview" => Ok(true),
                _ => Err(format!("{s:?} is not off or tradingview")),
            },
        )
        .unwrap_or(false);
    let ca = path("client_ca", raw.client_ca.as_ref(), c);
    let mode = c
        .get(
            "server.tls.client_cert_mode",
            raw.client_cert_mode.as_ref(),
            "enforce",
            |s| match s {
                "enforce" => Ok(ClientCertMode::Enforce),
                "log" => Ok(ClientCertMode::Log),
                _ => Err(format!("{s:?} is not enforce or log")),
            },
        )
        .unwrap_or(ClientCertMode::Enforce);
    let client_cert = match (wanted, ca) {
        (true, Some(ca)) => Some(ClientCert { ca, mode }),
        (true, None) => {
            c.fail(
                "server.tls.client_ca",
                "client_cert = \"tradingview\" needs the CA its certificate chains to (TradingView does not publish it, and system roots are never assumed)",
            );
            None
        }
        (false, Some(_)) => {
            c.fail(
                "server.tls.client_ca",
                "set only with client_cert = \"tradingview\"",
            );
            None
        }
        (false, None) => {
            if raw.client_cert_mode.is_some() {
                c.fail(
                    "server.tls.client_cert_mode",
                    "set only with client_cert = \"tradingview\"",
                );
            }
            None
        }
    };
    match (cert, key) {
        (Some(cert), Some(key)) => Some(Tls {
            cert,
            key,
            client_cert,
        }),
        (None, None) => {
            if client_cert.is_some() {
                c.fail(
                    "server.tls.client_cert",
                    "a client certificate is asked for over TLS only: set server.tls.cert and server.tls.key",
                );
            }
            None
        }
        (Some(_), None) => {
            c.fail("server.tls.key", "server.tls.cert needs its key");
            None
        }
        (None, Some(_)) => {
            c.fail("server.tls.cert", "server.tls.key needs its certificate");
            None
        }
    }
}
