//! From the raw configuration to [`Settings`], collecting every error with its dotted key path.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mts1b_inbound_core::time::parse_rfc3339;
use mts1b_inbound_core::{
    Envelope, FundId, FundPolicy, InstrumentClass, IpNet, OrderType, Quantity, Secret, StrategyId,
    SymbolPattern, UnixMillis,
};

use crate::defaults as d;
use crate::duration::HumanDuration;
use crate::raw::*;
use crate::settings::*;
use crate::{ConfigError, Origin};

mod adapters;
mod cluster;
mod symbology;
mod tls;

/// Collects errors while converting; every getter returns a usable value so checking goes on.
pub(crate) struct Check {
    errors: Vec<ConfigError>,
}

impl Check {
    fn fail(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.into(),
            reason: reason.into(),
        });
    }

    fn unknown(&mut self, prefix: &str, unknown: &Unknown) {
        for key in unknown.keys() {
            self.fail(join(prefix, key), "unknown key");
        }
    }

    /// Parses `raw` (or `default` when absent); on error records it and returns `None`.
    fn get<T>(
        &mut self,
        path: &str,
        raw: Option<&Text>,
        default: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = raw.map_or(default, |t| t.0.strip_prefix(FLOAT_MARK).unwrap_or(&t.0));
        match parse(text) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.fail(path, reason);
                None
            }
        }
    }

    /// A duration longer than zero. After an error the value returned is a stand-in: the
    /// settings are discarded anyway.
    fn positive_duration(
        &mut self,
        path: &str,
        raw: Option<&Text>,
        default: &str,
    ) -> HumanDuration {
        match self.get(path, raw, default, HumanDuration::parse) {
            Some(v) if v.0.is_zero() => self.fail(path, "must be longer than 0"),
            Some(v) => return v,
            None => {}
        }
        HumanDuration(std::time::Duration::from_secs(1))
    }

    fn number<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
        &mut self,
        path: &str,
        raw: Option<&Text>,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> T {
        let (lo, hi) = (*range.start(), *range.end());
        self.get(path, raw, &default.to_string(), |s| {
            s.parse::<T>()
                .ok()
                .filter(|v| range.contains(v))
                .ok_or_else(|| format!("{s:?} is not a whole number from {lo} to {hi}"))
        })
        .unwrap_or(default)
    }

    fn flag(&mut self, path: &str, raw: Option<&Text>, default: bool) -> bool {
        self.get(path, raw, &default.to_string(), |s| match s {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{s:?} is not true or false")),
        })
        .unwrap_or(default)
    }

    fn list<T>(
        &mut self,
        path: &str,
        raw: Option<&TextList>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for (i, item) in raw
            .map(|l| l.0.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            match parse(item.strip_prefix(FLOAT_MARK).unwrap_or(item)) {
                Ok(v) => out.push(v),
                Err(reason) => self.fail(format!("{path}[{i}]"), reason),
            }
        }
        out
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn text_of(raw: Option<&Text>) -> Option<&str> {
    raw.map(|t| t.0.as_str())
}

/// Validates the raw configuration into [`Settings`], or returns every error found.
pub(crate) fn validate(raw: &RawConfig, origin: Origin) -> Result<Settings, Vec<ConfigError>> {
    let mut c = Check { errors: Vec::new() };
    c.unknown("", &raw.unknown);
    let server = server(&mut c, &raw.server);
    let network = network(&mut c, &raw.network);
    c.unknown("replay", &raw.replay.unknown);
    let replay = Replay {
        window: c.positive_duration(
            "replay.window",
            raw.replay.window.as_ref(),
            d::REPLAY_WINDOW,
        ),
    };
    let default_rate = RateLimit {
        per_second: d::RATE_PER_SECOND,
        burst: d::RATE_BURST,
    };
    let rate_limit = rate(&mut c, "rate_limit", &raw.rate_limit, default_rate);
    let secrets = secrets(&mut c, &raw.secrets);
    let funds = funds(&mut c, &raw.funds, rate_limit, &secrets);
    let delivery = delivery(&mut c, &raw.delivery, origin);
    c.unknown("store", &raw.store.unknown);
    let store = Store {
        path: PathBuf::from(text_of(raw.store.path.as_ref()).unwrap_or(d::STORE_PATH)),
    };
    if store.path.as_os_str().is_empty() {
        c.fail("store.path", "must not be empty");
    }
    let cluster = cluster::cluster(&mut c, &raw.cluster);
    let adapters = adapters::adapters(&mut c, &raw.adapters, &funds);
    let symbology = symbology::symbology(&mut c, &raw.symbology);
    if c.errors.is_empty() {
        Ok(Settings {
            server,
            network,
            replay,
            rate_limit,
            secrets,
            funds,
            delivery,
            store,
            cluster,
            adapters,
            symbology,
        })
    } else {
        Err(c.errors)
    }
}

fn socket(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not an address:port (e.g. 127.0.0.1:8080)"))
}

fn server(c: &mut Check, raw: &RawServer) -> Server {
    c.unknown("server", &raw.unknown);
    let listen = c.get("server.listen", raw.listen.as_ref(), d::LISTEN, socket);
    let admin = c.get(
        "server.admin_listen",
        raw.admin_listen.as_ref(),
        d::ADMIN_LISTEN,
        socket,
    );
    // Stand-ins after an error: the settings are discarded anyway.
    let stand_in = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = Server {
        listen: listen.unwrap_or(stand_in),
        admin_listen: admin.unwrap_or(stand_in),
        max_body_bytes: c.number(
            "server.max_body_bytes",
            raw.max_body_bytes.as_ref(),
            d::MAX_BODY_BYTES,
            64..=d::MAX_BODY_BYTES_LIMIT,
        ),
        header_timeout: c.positive_duration(
            "server.header_timeout",
            raw.header_timeout.as_ref(),
            d::HEADER_TIMEOUT,
        ),
        body_timeout: c.positive_duration(
            "server.body_timeout",
            raw.body_timeout.as_ref(),
            d::BODY_TIMEOUT,
        ),
        max_in_flight: c.number(
            "server.max_in_flight",
            raw.max_in_flight.as_ref(),
            d::MAX_IN_FLIGHT,
            1..=1_000_000,
        ),
        max_in_flight_per_peer: c.number(
            "server.max_in_flight_per_peer",
            raw.max_in_flight_per_peer.as_ref(),
            d::MAX_IN_FLIGHT_PER_PEER,
            1..=1_000_000,
        ),
        max_connections: c.number(
            "server.max_connections",
            raw.max_connections.as_ref(),
            d::MAX_CONNECTIONS,
            1..=1_000_000,
        ),
        max_connections_per_peer: c.number(
            "server.max_connections_per_peer",
            raw.max_connections_per_peer.as_ref(),
            d::MAX_CONNECTIONS_PER_PEER,
            1..=1_000_000,
        ),
        tls: tls::tls(c, &raw.tls),
        admin_token: raw
            .admin_token
            .as_ref()
            .and_then(|t| c.get("server.admin_token", Some(t), "", admin_token)),
    };
    // Off loopback the admin routes (orders, halts, the recent alerts) are open to whoever
    // reaches the port unless a password protects them.
    if admin.is_some_and(|a| !a.ip().is_loopback()) && server.admin_token.is_none() {
        c.fail(
            "server.admin_token",
            "required when server.admin_listen is not a loopback address",
        );
    }
    // Port 0 asks the OS for a free port, so two of them never collide.
    if listen.is_some_and(|l| l.port() != 0) && listen == admin {
        c.fail("server.admin_listen", "must differ from server.listen");
    }
    server
}

fn network(c: &mut Check, raw: &RawNetwork) -> Network {
    c.unknown("network", &raw.unknown);
    let default_allowlist = TextList(d::IP_ALLOWLIST.iter().map(|s| (*s).to_owned()).collect());
    Network {
        ip_allowlist: c.list(
            "network.ip_allowlist",
            Some(raw.ip_allowlist.as_ref().unwrap_or(&default_allowlist)),
            IpNet::parse,
        ),
        trusted_proxies: c.list(
            "network.trusted_proxies",
            raw.trusted_proxies.as_ref(),
            IpNet::parse,
        ),
    }
}

fn rate(c: &mut Check, path: &str, raw: &RawRateLimit, default: RateLimit) -> RateLimit {
    c.unknown(path, &raw.unknown);
    RateLimit {
        per_second: c.number(
            &join(path, "per_second"),
            raw.per_second.as_ref(),
            default.per_second,
            1..=1_000_000,
        ),
        burst: c.number(
            &join(path, "burst"),
            raw.burst.as_ref(),
            default.burst,
            1..=1_000_000,
        ),
    }
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(text.to_owned())
    }
}

/// `http://host[:port][/path]` or `https://…`, with a host of letters, digits, dots and dashes
/// (or a bracketed IPv6 address). Strict on purpose: vaultrs panics on a URL it cannot parse.
fn http_uri(text: &str) -> Result<String, String> {
    let bad =
        || format!("{text:?} is not an http:// or https:// address (e.g. http://127.0.0.1:8200)");
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(bad)?;
    let authority = rest.split('/').next().unwrap_or_default();
    let path = &rest[authority.len()..];
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (addr, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let host_ok = authority.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'#' && b != b'?');
    if host_ok && port_ok && path_ok {
        Ok(text.to_owned())
    } else {
        Err(bad())
    }
}

fn secrets(c: &mut Check, raw: &RawSecrets) -> Secrets {
    c.unknown("secrets", &raw.unknown);
    c.unknown("secrets.vault", &raw.vault.unknown);
    let v = &raw.vault;
    let vault = Vault {
        token_file: text_of(v.token_file.as_ref())
            .filter(|t| !t.is_empty())
            .map(std::path::PathBuf::from),
        address: c
            .get(
                "secrets.vault.address",
                v.address.as_ref(),
                d::VAULT_ADDRESS,
                http_uri,
            )
            .unwrap_or_default(),
        mount: c
            .get(
                "secrets.vault.mount",
                v.mount.as_ref(),
                d::VAULT_MOUNT,
                non_empty,
            )
            .unwrap_or_default(),
        path_prefix: c
            .get(
                "secrets.vault.path_prefix",
                v.path_prefix.as_ref(),
                d::VAULT_PATH_PREFIX,
                non_empty,
            )
            .unwrap_or_default(),
        field: c
            .get(
                "secrets.vault.field",
                v.field.as_ref(),
                d::VAULT_FIELD,
                non_empty,
            )
            .unwrap_or_default(),
        refresh: c.positive_duration(
            "secrets.vault.refresh",
            v.refresh.as_ref(),
            d::VAULT_REFRESH,
        ),
        rotation_grace: c
            .get(
                "secrets.rotation_grace",
                raw.rotation_grace.as_ref(),
                d::ROTATION_GRACE,
                HumanDuration::parse,
            )
            .unwrap_or(HumanDuration(std::time::Duration::ZERO)),
    };
    let provider = c.get(
        "secrets.provider",
        raw.provider.as_ref(),
        d::SECRETS_PROVIDER,
        |s| match s {
            "static" => Ok(Secrets::Static),
            "vault" => Ok(Secrets::Vault(vault)),
            _ => Err(format!("{s:?} is not static or vault")),
        },
    );
    let provider = provider.unwrap_or(Secrets::Static);
    if matches!(provider, Secrets::Static) && raw.rotation_grace.is_some() {
        c.fail(
            "secrets.rotation_grace",
            "only used with secrets.provider = \"vault\" (the static provider names each fund's previous_secret_until)",
        );
    }
    provider
}

/// The admin password: long enough that guessing it over the network is hopeless.
fn admin_token(text: &str) -> Result<Arc<Secret>, String> {
    let chars = text.chars().count();
    if !(16..=256).contains(&chars) {
        return Err("must be 16 to 256 characters".into());
    }
    Ok(Arc::new(Secret::new(text)))
}

fn secret(text: &str) -> Result<Arc<Secret>, String> {
    let chars = text.chars().count();
    if chars == 0 || chars > 256 {
        return Err("must be 1 to 256 characters".into());
    }
    Ok(Arc::new(Secret::new(text)))
}

/// `previous_secret` and `previous_secret_until` of one fund: both or neither, static provider
/// only, the end an RFC 3339 time.
fn previous(
    c: &mut Check,
    path: &str,
    provider: &Secrets,
    f: &RawFund,
) -> (Option<Arc<Secret>>, Option<UnixMillis>) {
    let (secret_path, until_path) = (
        join(path, "previous_secret"),
        join(path, "previous_secret_until"),
    );
    match (provider, &f.previous_secret, &f.previous_secret_until) {
        (_, None, None) => (None, None),
        (Secrets::Vault(_), ..) => {
            c.fail(
                if f.previous_secret.is_some() { secret_path } else { until_path },
                "not allowed with secrets.provider = \"vault\" (Vault keeps the previous version; see secrets.rotation_grace)",
            );
            (None, None)
        }
        (Secrets::Static, Some(_), None) => {
            c.fail(
                until_path,
                "required with previous_secret: the fixed time (RFC 3339) the previous secret stops being accepted",
            );
            (None, None)
        }
        (Secrets::Static, None, Some(_)) => {
            c.fail(until_path, "only used with previous_secret");
            (None, None)
        }
        (Secrets::Static, Some(s), Some(t)) => {
            let previous = c.get(&secret_path, Some(s), "", secret);
            let until = c.get(&until_path, Some(t), "", |text| {
                parse_rfc3339(text).map_err(|e| format!("{text:?}: {e}"))
            });
            match (previous, until) {
                (Some(previous), Some(until)) => (Some(previous), Some(until)),
                _ => (None, None),
            }
        }
    }
}

fn funds(
    c: &mut Check,
    raw: &BTreeMap<String, RawFund>,
    default_rate: RateLimit,
    provider: &Secrets,
) -> BTreeMap<FundId, Fund> {
    let mut out = BTreeMap::new();
    for (id, f) in raw {
        let path = format!("funds.{id}");
        c.unknown(&path, &f.unknown);
        let fund_id = match FundId::parse(id) {
            Ok(fund_id) => Some(fund_id),
            Err(e) => {
                c.fail(&path, format!("fund id {e}"));
                None
            }
        };
        let secret = match (provider, &f.secret) {
            (Secrets::Static, Some(s)) => c.get(&join(&path, "secret"), Some(s), "", secret),
            (Secrets::Static, None) => {
                c.fail(
                    join(&path, "secret"),
                    "required with secrets.provider = \"static\"",
                );
                None
            }
            (Secrets::Vault(_), Some(_)) => {
                c.fail(
                    join(&path, "secret"),
                    "not allowed with secrets.provider = \"vault\" (the secret lives in Vault)",
                );
                None
            }
            (Secrets::Vault(_), None) => None,
        };
        let (previous_secret, previous_secret_until) = previous(c, &path, provider, f);
        let qty_path = join(&path, "max_quantity");
        let max_quantity = match &f.max_quantity {
            None => {
                c.fail(
                    &qty_path,
                    "required: the largest quantity one alert may order, as a decimal string",
                );
                None
            }
            Some(t) => quantity(c, &qty_path, t),
        };
        let by_class_path = join(&path, "max_quantity_by_class");
        let mut max_quantity_by_class = BTreeMap::new();
        for (name, t) in &f.max_quantity_by_class {
            let item = join(&by_class_path, name);
            let class = InstrumentClass::parse(name);
            if class.is_none() {
                c.fail(
                    &item,
                    "not an instrument class: spot, perpetual, future, equity or fx",
                );
            }
            if let (Some(class), Some(cap)) = (class, quantity(c, &item, t)) {
                max_quantity_by_class.insert(class, cap);
            }
        }
        let by_symbol_path = join(&path, "max_quantity_by_symbol");
        let mut max_quantity_by_symbol = BTreeMap::new();
        for (name, t) in &f.max_quantity_by_symbol {
            let item = join(&by_symbol_path, name);
            let symbol = SymbolPattern::parse(name)
                .map_err(|e| c.fail(&item, e))
                .ok();
            if let (Some(symbol), Some(cap)) = (symbol, quantity(c, &item, t)) {
                max_quantity_by_symbol.insert(symbol, cap);
            }
        }
        let max_alert_age = f.max_alert_age.as_ref().map(|t| {
            c.positive_duration(&join(&path, "max_alert_age"), Some(t), "")
                .as_millis()
        });
        let symbols = c.list(
            &join(&path, "symbols"),
            f.symbols.as_ref(),
            SymbolPattern::parse,
        );
        let strategies = c.list(&join(&path, "strategies"), f.strategies.as_ref(), |s| {
            StrategyId::parse(s).map_err(|e| format!("{s:?}: {e}"))
        });
        let order_types = c.list(&join(&path, "order_types"), f.order_types.as_ref(), |s| {
            OrderType::parse(s)
                .ok_or_else(|| format!("{s:?} is not market, limit, stop or stop_limit"))
        });
        let rate_limit = match &f.rate_limit {
            Some(r) => rate(c, &join(&path, "rate_limit"), r, default_rate),
            None => default_rate,
        };
        let halted = c.flag(&join(&path, "halted"), f.halted.as_ref(), false);
        if let (Some(fund_id), Some(max_quantity)) = (fund_id, max_quantity) {
            let envelope = Envelope {
                symbols: symbols.into_iter().collect::<BTreeSet<_>>(),
                strategies: strategies.into_iter().collect(),
                order_types: order_types.into_iter().collect(),
                max_quantity,
                max_quantity_by_class,
                max_quantity_by_symbol,
                max_alert_age_ms: max_alert_age,
            };
            out.insert(
                fund_id,
                Fund {
                    secret,
                    previous_secret,
                    previous_secret_until,
                    policy: FundPolicy {
                        envelope,
                        rate_limit,
                    },
                    halted,
                },
            );
        }
    }
    out
}

fn delivery(c: &mut Check, raw: &RawDelivery, origin: Origin) -> Delivery {
    c.unknown("delivery", &raw.unknown);
    c.unknown("delivery.oms", &raw.oms.unknown);
    c.unknown("delivery.retry", &raw.retry.unknown);
    // SPEC §7: "oms" whenever a config file is given; the embedded defaults use the paper OMS.
    let default_sink = match origin {
        Origin::File => "oms",
        Origin::Embedded => "paper",
    };
    let sink = c
        .get(
            "delivery.sink",
            raw.sink.as_ref(),
            default_sink,
            |s| match s {
                "oms" => Ok(Sink::Oms),
                "paper" => Ok(Sink::Paper),
                _ => Err(format!("{s:?} is not oms or paper")),
            },
        )
        .unwrap_or(Sink::Paper);
    let respond_within = c.positive_duration(
        "delivery.respond_within",
        raw.respond_within.as_ref(),
        d::RESPOND_WITHIN,
    );
    if respond_within.as_millis() >= d::RESPOND_WITHIN_LIMIT_MS {
        c.fail(
            "delivery.respond_within",
            "must be under 3s: TradingView abandons a request after 3 s and never resends it",
        );
    }
    let retry = Retry {
        initial_backoff: c.positive_duration(
            "delivery.retry.initial_backoff",
            raw.retry.initial_backoff.as_ref(),
            d::INITIAL_BACKOFF,
        ),
        max_backoff: c.positive_duration(
            "delivery.retry.max_backoff",
            raw.retry.max_backoff.as_ref(),
            d::MAX_BACKOFF,
        ),
    };
    if retry.max_backoff < retry.initial_backoff {
        c.fail(
            "delivery.retry.max_backoff",
            "must not be shorter than delivery.retry.initial_backoff",
        );
    }
    let max_order_age = c.positive_duration(
        "delivery.max_order_age",
        raw.max_order_age.as_ref(),
        d::MAX_ORDER_AGE,
    );
    let max_cancel_age = c.positive_duration(
        "delivery.max_cancel_age",
        raw.max_cancel_age.as_ref(),
        d::MAX_CANCEL_AGE,
    );
    // A cancel waits in its stream behind the order it cancels: one that may expire before
    // its order is sent would leave that order working (SPEC §13).
    if max_cancel_age.0 < max_order_age.0 {
        c.fail(
            "delivery.max_cancel_age",
            "must not be shorter than delivery.max_order_age",
        );
    }
    Delivery {
        sink,
        respond_within,
        max_order_age,
        max_cancel_age,
        oms: Oms {
            endpoint: c
                .get(
                    "delivery.oms.endpoint",
                    raw.oms.endpoint.as_ref(),
                    d::OMS_ENDPOINT,
                    http_uri,
                )
                .unwrap_or_default(),
            timeout: c.positive_duration(
                "delivery.oms.timeout",
                raw.oms.timeout.as_ref(),
                d::OMS_TIMEOUT,
            ),
        },
        retry,
    }
}

/// A quantity cap: a decimal string (a TOML float is already rounded).
fn quantity(c: &mut Check, path: &str, t: &Text) -> Option<Quantity> {
    if t.0.starts_with(FLOAT_MARK) {
        c.fail(
            path,
            "write it as a string (\"0.5\"): a TOML float is already rounded",
        );
        return None;
    }
    c.get(path, Some(t), "", |s| {
        Quantity::parse(s).map_err(|e| format!("{s:?}: {e}"))
    })
}
