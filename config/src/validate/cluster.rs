//! `cluster.*`: which state backend, and how to reach NATS (SPEC §14).

use std::path::PathBuf;

use super::{Check, secret, text_of};
use crate::defaults as d;
use crate::raw::{RawCluster, RawNats};
use crate::settings::{Backend, Cluster, Nats, NatsAuth};

pub(super) fn cluster(c: &mut Check, raw: &RawCluster) -> Cluster {
    c.unknown("cluster", &raw.unknown);
    let backend = c
        .get(
            "cluster.backend",
            raw.backend.as_ref(),
            d::CLUSTER_BACKEND,
            |s| match s {
                "embedded" => Ok(Backend::Embedded),
                "nats" => Ok(Backend::Nats),
                _ => Err(format!("{s:?} is not embedded or nats")),
            },
        )
        .unwrap_or(Backend::Embedded);
    let given = raw.nats.servers.is_some() || !raw.nats.unknown.is_empty();
    let nats = (backend == Backend::Nats || given).then(|| nats(c, &raw.nats));
    Cluster { backend, nats }
}

fn nats(c: &mut Check, raw: &RawNats) -> Nats {
    c.unknown("cluster.nats", &raw.unknown);
    let servers = c.list("cluster.nats.servers", raw.servers.as_ref(), server);
    if servers.is_empty() {
        c.fail(
            "cluster.nats.servers",
            "name at least one server (nats://host:4222)",
        );
    }
    let creds = text_of(raw.creds_file.as_ref()).map(PathBuf::from);
    let user = text_of(raw.user.as_ref());
    let password = raw
        .password
        .as_ref()
        .and_then(|p| c.get("cluster.nats.password", Some(p), "", secret));
    let auth = match (creds, user, password) {
        (None, None, None) => NatsAuth::None,
        (Some(path), None, None) => NatsAuth::CredsFile(path),
        (None, Some(user), Some(password)) => NatsAuth::UserPassword {
            user: user.to_owned(),
            password,
        },
        (Some(_), _, _) => {
            c.fail(
                "cluster.nats.creds_file",
                "a creds file or a user and password, not both",
            );
            NatsAuth::None
        }
        (None, _, _) => {
            c.fail("cluster.nats.user", "a user and a password go together");
            NatsAuth::None
        }
    };
    let prefix = c
        .get(
            "cluster.nats.prefix",
            raw.prefix.as_ref(),
            d::NATS_PREFIX,
            |s| {
                let ok = !s.is_empty()
                    && s.len() <= 32
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                ok.then(|| s.to_owned())
                    .ok_or_else(|| "1 to 32 of A-Z, a-z, 0-9, _ and -".to_owned())
            },
        )
        .unwrap_or_else(|| d::NATS_PREFIX.to_owned());
    let replicas = c.number(
        "cluster.nats.replicas",
        raw.replicas.as_ref(),
        d::NATS_REPLICAS,
        1..=5,
    );
    let timeout = c.positive_duration(
        "cluster.nats.timeout",
        raw.timeout.as_ref(),
        d::NATS_TIMEOUT,
    );
    Nats {
        servers,
        auth,
        prefix,
        replicas,
        timeout,
    }
}

fn server(text: &str) -> Result<String, String> {
    let rest = ["nats://", "tls://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme))
        .ok_or_else(|| format!("{text:?} is not nats://host:port or tls://host:port"))?;
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(text.to_owned())
        }
        _ => Err(format!("{text:?} has no host:port")),
    }
}
