//! `adapters.*`: which adapters run, their credentials, their own gates, and the chat
//! principals each may trade for (SPEC §12).

use std::collections::{BTreeMap, BTreeSet};

use mts1b_inbound_core::{
    FundId, Grant, Grantee, Grants, IpNet, PlatformId, RateLimit, StrategyId,
};

use super::{Check, http_uri, join, rate, secret};
use crate::defaults as d;
use crate::raw::{RawAdapters, RawPrincipal, RawRateLimit, Text, TextList};
use crate::settings::{
    AdapterGates, Adapters, ChatSettings, DiscordAdapter, Fund, SlackAdapter, TradingViewAdapter,
};

/// Which platform a principal belongs to: the key naming its workspace, whether roles can be
/// granted, and its default body cap.
#[derive(Clone, Copy)]
struct Platform {
    workspace_key: &'static str,
    roles: bool,
    max_body_bytes: u64,
}

const SLACK: Platform = Platform {
    workspace_key: "team_id",
    roles: false,
    max_body_bytes: d::SLACK_MAX_BODY_BYTES,
};
const DISCORD: Platform = Platform {
    workspace_key: "guild_id",
    roles: true,
    max_body_bytes: d::DISCORD_MAX_BODY_BYTES,
};

/// The keys Slack and Discord share, as written.
struct ChatRaw<'a> {
    ip_allowlist: Option<&'a TextList>,
    max_body_bytes: Option<&'a Text>,
    principal_rate_limit: Option<&'a RawRateLimit>,
    principals: &'a BTreeMap<String, RawPrincipal>,
}

/// A chat adapter's gates (signature-only and its own body cap by default), member budget and
/// grants.
fn chat(
    c: &mut Check,
    prefix: &str,
    platform: Platform,
    raw: ChatRaw<'_>,
    funds: &BTreeMap<FundId, Fund>,
) -> ChatSettings {
    ChatSettings {
        gates: chat_gates(
            c,
            prefix,
            raw.ip_allowlist,
            raw.max_body_bytes,
            platform.max_body_bytes,
        ),
        principal_rate_limit: principal_rate(c, prefix, raw.principal_rate_limit),
        principals: principals(c, prefix, platform, raw.principals, funds),
    }
}

pub(super) fn adapters(
    c: &mut Check,
    raw: &RawAdapters,
    funds: &BTreeMap<FundId, Fund>,
) -> Adapters {
    c.unknown("adapters", &raw.unknown);
    c.unknown("adapters.tradingview", &raw.tradingview.unknown);
    c.unknown("adapters.slack", &raw.slack.unknown);
    c.unknown("adapters.discord", &raw.discord.unknown);
    let tv = &raw.tradingview;
    let tradingview = TradingViewAdapter {
        enabled: c.flag("adapters.tradingview.enabled", tv.enabled.as_ref(), true),
        gates: AdapterGates {
            ip_allowlist: tv
                .ip_allowlist
                .as_ref()
                .map(|l| c.list("adapters.tradingview.ip_allowlist", Some(l), IpNet::parse)),
            max_body_bytes: tv
                .max_body_bytes
                .as_ref()
                .map(|t| body_cap(c, "adapters.tradingview.max_body_bytes", Some(t), 0)),
        },
    };
    let slack = &raw.slack;
    let slack_enabled = c.flag("adapters.slack.enabled", slack.enabled.as_ref(), false);
    let signing_secret = slack
        .signing_secret
        .as_ref()
        .and_then(|s| c.get("adapters.slack.signing_secret", Some(s), "", secret));
    if slack_enabled && slack.signing_secret.is_none() {
        c.fail(
            "adapters.slack.signing_secret",
            "required when the Slack adapter is enabled",
        );
    }
    let discord = &raw.discord;
    let discord_enabled = c.flag("adapters.discord.enabled", discord.enabled.as_ref(), false);
    let public_key = discord.public_key.as_ref().and_then(|k| {
        c.get("adapters.discord.public_key", Some(k), "", |s| {
            if hex::decode_to_slice(s, &mut [0u8; 32]).is_ok() {
                Ok(s.to_owned())
            } else {
                Err("must be the application's public key: 64 hex characters".into())
            }
        })
    });
    if discord_enabled && discord.public_key.is_none() {
        c.fail(
            "adapters.discord.public_key",
            "required when the Discord adapter is enabled",
        );
    }
    Adapters {
        tradingview,
        slack: SlackAdapter {
            enabled: slack_enabled,
            signing_secret,
            chat: chat(
                c,
                "adapters.slack",
                SLACK,
                ChatRaw {
                    ip_allowlist: slack.ip_allowlist.as_ref(),
                    max_body_bytes: slack.max_body_bytes.as_ref(),
                    principal_rate_limit: slack.principal_rate_limit.as_ref(),
                    principals: &slack.principals,
                },
                funds,
            ),
            response_url_prefix: c
                .get(
                    "adapters.slack.response_url_prefix",
                    slack.response_url_prefix.as_ref(),
                    d::SLACK_RESPONSE_URL_PREFIX,
                    |s| {
                        let url = http_uri(s)?;
                        // Without the slash, https://hooks.slack.com would admit
                        // https://hooks.slack.com.example.net.
                        let host_end = url.find("://").map_or(0, |i| i + 3);
                        if url[host_end..].contains('/') && url.ends_with('/') {
                            Ok(url)
                        } else {
                            Err(format!(
                                "{s:?} must end with a path and a / (https://hooks.slack.com/)"
                            ))
                        }
                    },
                )
                .unwrap_or_default(),
        },
        discord: DiscordAdapter {
            enabled: discord_enabled,
            public_key,
            chat: chat(
                c,
                "adapters.discord",
                DISCORD,
                ChatRaw {
                    ip_allowlist: discord.ip_allowlist.as_ref(),
                    max_body_bytes: discord.max_body_bytes.as_ref(),
                    principal_rate_limit: discord.principal_rate_limit.as_ref(),
                    principals: &discord.principals,
                },
                funds,
            ),
            api_base: c
                .get(
                    "adapters.discord.api_base",
                    discord.api_base.as_ref(),
                    d::DISCORD_API_BASE,
                    http_uri,
                )
                .unwrap_or_default(),
        },
    }
}

fn body_cap(c: &mut Check, path: &str, raw: Option<&Text>, default: u64) -> u64 {
    c.number(path, raw, default, 64..=d::MAX_BODY_BYTES_LIMIT)
}

/// A chat adapter's gates: signature-only (any address) and its own body cap by default.
fn chat_gates(
    c: &mut Check,
    prefix: &str,
    allowlist: Option<&TextList>,
    max_body_bytes: Option<&Text>,
    default_cap: u64,
) -> AdapterGates {
    let any = TextList(
        d::CHAT_IP_ALLOWLIST
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    );
    AdapterGates {
        ip_allowlist: Some(c.list(
            &join(prefix, "ip_allowlist"),
            Some(allowlist.unwrap_or(&any)),
            IpNet::parse,
        )),
        max_body_bytes: Some(body_cap(
            c,
            &join(prefix, "max_body_bytes"),
            max_body_bytes,
            default_cap,
        )),
    }
}

fn principal_rate(c: &mut Check, prefix: &str, raw: Option<&RawRateLimit>) -> RateLimit {
    let default = RateLimit {
        per_second: d::PRINCIPAL_RATE_PER_SECOND,
        burst: d::PRINCIPAL_RATE_BURST,
    };
    match raw {
        Some(raw) => rate(c, &join(prefix, "principal_rate_limit"), raw, default),
        None => default,
    }
}

fn platform_id(c: &mut Check, path: &str, raw: Option<&Text>) -> Option<PlatformId> {
    let raw = raw?;
    c.get(path, Some(raw), "", |s| {
        PlatformId::parse(s).map_err(|e| format!("{s:?}: {e}"))
    })
}

/// `<prefix>.principals.<name>`: a workspace, one user or (Discord) one role, at least one
/// configured fund, and optionally the only strategies allowed.
fn principals(
    c: &mut Check,
    prefix: &str,
    platform: Platform,
    raw: &BTreeMap<String, RawPrincipal>,
    funds: &BTreeMap<FundId, Fund>,
) -> Grants {
    let mut grants = Vec::new();
    for (name, p) in raw {
        let path = format!("{prefix}.principals.{name}");
        c.unknown(&path, &p.unknown);
        let (workspace, other) = match platform.workspace_key {
            "team_id" => (&p.team_id, ("guild_id", &p.guild_id)),
            _ => (&p.guild_id, ("team_id", &p.team_id)),
        };
        if other.1.is_some() {
            c.fail(
                join(&path, other.0),
                format!("not a key here: use {}", platform.workspace_key),
            );
        }
        let workspace_path = join(&path, platform.workspace_key);
        let workspace = match workspace {
            Some(t) => platform_id(c, &workspace_path, Some(t)),
            None => {
                c.fail(&workspace_path, "required");
                None
            }
        };
        let user = platform_id(c, &join(&path, "user_id"), p.user_id.as_ref());
        let role = platform_id(c, &join(&path, "role_id"), p.role_id.as_ref());
        if !platform.roles && p.role_id.is_some() {
            c.fail(
                join(&path, "role_id"),
                "Slack has no roles: grant a user_id",
            );
        }
        let grantee = match (user, role, p.user_id.is_some(), p.role_id.is_some()) {
            (Some(user), None, true, false) => Some(Grantee::User(user)),
            (None, Some(role), false, true) if platform.roles => Some(Grantee::Role(role)),
            (_, _, true, true) => {
                c.fail(&path, "grant either a user_id or a role_id, not both");
                None
            }
            (_, _, false, false) => {
                let which = if platform.roles {
                    "a user_id or a role_id"
                } else {
                    "a user_id"
                };
                c.fail(&path, format!("required: {which}"));
                None
            }
            _ => None,
        };
        let funds_path = join(&path, "funds");
        let granted: BTreeSet<FundId> = c
            .list(&funds_path, p.funds.as_ref(), |s| {
                let fund = FundId::parse(s).map_err(|e| format!("{s:?}: {e}"))?;
                if funds.contains_key(&fund) {
                    Ok(fund)
                } else {
                    Err(format!("{s:?} is not a configured fund (funds.{s})"))
                }
            })
            .into_iter()
            .collect();
        if p.funds.as_ref().is_none_or(|l| l.0.is_empty()) {
            c.fail(&funds_path, "required: at least one fund");
        }
        let strategies: BTreeSet<StrategyId> = c
            .list(&join(&path, "strategies"), p.strategies.as_ref(), |s| {
                StrategyId::parse(s).map_err(|e| format!("{s:?}: {e}"))
            })
            .into_iter()
            .collect();
        if let (Some(workspace), Some(grantee)) = (workspace, grantee) {
            grants.push(Grant {
                name: name.clone(),
                workspace,
                grantee,
                funds: granted,
                strategies,
            });
        }
    }
    Grants::new(grants)
}
