//! The configuration exactly as written (TOML file plus environment), before validation.
//!
//! Leaves are kept as text ([`Text`]) whatever TOML or the environment made of them, so that
//! every value is judged in one place (`validate`) and every error can be reported at once with
//! its key path. Unknown keys are collected (`unknown`) rather than failing deserialization on
//! the first one, for the same reason.

use std::collections::BTreeMap;
use std::fmt;

use figment::value::Value;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// Keys nobody asked for, kept to be reported.
pub(crate) type Unknown = BTreeMap<String, Value>;

/// A leaf value as text: strings as they are; numbers and booleans as TOML wrote them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                // Marked so decimal fields can insist on strings (a float is already rounded).
                Ok(Text(format!("{FLOAT_MARK}{v}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Prefix of a value that arrived as a TOML float.
pub(crate) const FLOAT_MARK: &str = "\u{0}float:";

/// A list given as a TOML array, or (from the environment) as one comma-separated string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TextList(pub Vec<String>);

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list, or a comma-separated string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextList, E> {
                Ok(TextList(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextList, A::Error> {
                let mut out = Vec::new();
                while let Some(Text(t)) = seq.next_element()? {
                    out.push(t);
                }
                Ok(TextList(out))
            }
        }
        d.deserialize_any(V)
    }
}

macro_rules! section {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Deserialize)]
        pub(crate) struct $name {
            $(#[serde(default)] pub $field: $ty,)*
            #[serde(flatten)]
            pub unknown: Unknown,
        }
    };
}

section!(RawConfig {
    server: RawServer,
    network: RawNetwork,
    replay: RawReplay,
    rate_limit: RawRateLimit,
    secrets: RawSecrets,
    funds: BTreeMap<String, RawFund>,
    delivery: RawDelivery,
    store: RawStore,
    cluster: RawCluster,
    adapters: RawAdapters,
    symbology: RawSymbology,
});
section!(RawServer {
    listen: Option<Text>,
    admin_listen: Option<Text>,
    max_body_bytes: Option<Text>,
    header_timeout: Option<Text>,
    body_timeout: Option<Text>,
    max_in_flight: Option<Text>,
    max_in_flight_per_peer: Option<Text>,
    max_connections: Option<Text>,
    max_connections_per_peer: Option<Text>,
    admin_token: Option<Text>,
    tls: RawTls,
});
section!(RawTls {
    cert: Option<Text>,
    key: Option<Text>,
    client_cert: Option<Text>,
    client_ca: Option<Text>,
    client_cert_mode: Option<Text>,
});
section!(RawNetwork { ip_allowlist: Option<TextList>, trusted_proxies: Option<TextList> });
section!(RawReplay { window: Option<Text> });
section!(RawRateLimit { per_second: Option<Text>, burst: Option<Text> });
section!(RawSecrets { provider: Option<Text>, rotation_grace: Option<Text>, vault: RawVault });
section!(RawVault {
    address: Option<Text>,
    mount: Option<Text>,
    path_prefix: Option<Text>,
    field: Option<Text>,
    refresh: Option<Text>,
    token_file: Option<Text>,
});
section!(RawFund {
    secret: Option<Text>,
    previous_secret: Option<Text>,
    previous_secret_until: Option<Text>,
    symbols: Option<TextList>,
    strategies: Option<TextList>,
    order_types: Option<TextList>,
    max_quantity: Option<Text>,
    max_quantity_by_class: BTreeMap<String, Text>,
    max_quantity_by_symbol: BTreeMap<String, Text>,
    max_alert_age: Option<Text>,
    rate_limit: Option<RawRateLimit>,
    halted: Option<Text>,
});
section!(RawDelivery {
    sink: Option<Text>,
    respond_within: Option<Text>,
    max_order_age: Option<Text>,
    max_cancel_age: Option<Text>,
    oms: RawOms,
    retry: RawRetry,
});
section!(RawOms { endpoint: Option<Text>, timeout: Option<Text> });
section!(RawRetry { initial_backoff: Option<Text>, max_backoff: Option<Text> });
section!(RawStore { path: Option<Text> });
section!(RawCluster { backend: Option<Text>, nats: RawNats });
section!(RawNats {
    servers: Option<TextList>,
    creds_file: Option<Text>,
    user: Option<Text>,
    password: Option<Text>,
    prefix: Option<Text>,
    replicas: Option<Text>,
    timeout: Option<Text>,
});
section!(RawAdapters {
    tradingview: RawTradingView,
    slack: RawSlack,
    discord: RawDiscord
});
section!(RawTradingView {
    enabled: Option<Text>,
    ip_allowlist: Option<TextList>,
    max_body_bytes: Option<Text>,
});
section!(RawSlack {
    enabled: Option<Text>,
    signing_secret: Option<Text>,
    ip_allowlist: Option<TextList>,
    max_body_bytes: Option<Text>,
    principal_rate_limit: Option<RawRateLimit>,
    principals: BTreeMap<String, RawPrincipal>,
    response_url_prefix: Option<Text>,
});
section!(RawDiscord {
    enabled: Option<Text>,
    public_key: Option<Text>,
    ip_allowlist: Option<TextList>,
    max_body_bytes: Option<Text>,
    principal_rate_limit: Option<RawRateLimit>,
    principals: BTreeMap<String, RawPrincipal>,
    api_base: Option<Text>,
});
section!(RawPrincipal {
    team_id: Option<Text>,
    guild_id: Option<Text>,
    user_id: Option<Text>,
    role_id: Option<Text>,
    funds: Option<TextList>,
    strategies: Option<TextList>,
});
section!(RawSymbology {
    exchanges: BTreeMap<String, RawExchange>,
    quotes: BTreeMap<String, Text>,
    base_aliases: BTreeMap<String, Text>,
    fx_currencies: Option<TextList>,
    exchange_calendars: BTreeMap<String, RawExchangeCalendar>,
    calendars: BTreeMap<String, RawCalendar>,
    overrides: BTreeMap<String, RawOverride>,
});
section!(RawExchange {
    class: Option<Text>,
    venue: Option<Text>,
    quotes: Option<TextList>,
    perpetual_quotes: Option<TextList>,
});
section!(RawExchangeCalendar { holidays: Option<TextList>, trade_date_starts: Option<Text> });
section!(RawCalendar {
    months: Option<Text>,
    last_trading_day: Option<Text>,
    roll_business_days: Option<Text>,
    exchange_calendar: Option<Text>,
});
section!(RawOverride { symbol: Option<Text>, class: Option<Text>, venue: Option<Text> });
