//! Inbound adapters for the MTS1B bridge, one folder and one Cargo feature each.
//!
//! - [`tradingview`]: TradingView webhook alerts, schema v1 (SPEC §3), authenticated by the
//!   fund secret in the body.
//! - [`slack`]: Slack slash commands, authenticated by Slack's v0 HMAC signature.
//! - [`discord`]: Discord interactions, authenticated by Ed25519 signatures.
//!
//! Slack and Discord share [`chat`]: the order a trader types, turned into an intent by the
//! alert's own symbology and decimal rules, and the runtime's decision told back in a sentence.

#[cfg(any(feature = "slack", feature = "discord"))]
pub mod chat;
#[cfg(feature = "discord")]
pub mod discord;
#[cfg(any(feature = "slack", feature = "discord"))]
mod signed;
#[cfg(feature = "slack")]
pub mod slack;
#[cfg(feature = "tradingview")]
pub mod tradingview;
