//! mts1b-tradingview: turns inbound trading alerts into MTS1B order intents.
//!
//! This facade re-exports the crates an embedder needs:
//! - [`core`]: the vocabulary (adapter trait, order intent, rejections, secrets, symbology);
//! - [`adapters`]: TradingView, Slack and Discord;
//! - [`config`]: configuration loading and the static secret source;
//! - [`runtime`]: the pipeline, its stateful gates, the store, delivery and HTTP.
//!
//! Translating one alert in code, no config file needed:
//!
//! ```
//! use std::collections::BTreeMap;
//! use mts1b_tradingview::adapters::tradingview::TradingView;
//! use mts1b_tradingview::config::StaticSecrets;
//! use mts1b_tradingview::core::{
//!     Envelope, FundId, FundPolicy, Intent, NoGates, Quantity, RateLimit, RawRequest, Secret,
//!     UnixMillis, translate,
//! };
//!
//! let fund = FundId::parse("paper-tv-test").unwrap();
//! let secrets = StaticSecrets::new().with_fund(fund.clone(), Secret::new("s3cret"));
//! let policy = FundPolicy {
//!     envelope: Envelope::allow_any(Quantity::parse("1").unwrap()),
//!     rate_limit: RateLimit { per_second: 10, burst: 10 },
//! };
//! let funds = BTreeMap::from([(fund, policy)]);
//! let body = r#"{"secret":"s3cret","strategy_id":"demo","fund_id":"paper-tv-test",
//!   "symbol":"BINANCE:BTCUSDT","side":"buy","quantity":"0.05","order_type":"market",
//!   "idempotency_key":"demo-1"}"#;
//! let request = RawRequest::with_body(body, UnixMillis(1_709_296_496_000));
//! // The service's stateless steps; `NoGates`: no rate limit or replay window offline.
//! let translated = translate(&TradingView::default(), &request, &secrets, &funds, &mut NoGates);
//! let Some(Intent::Submit(order)) = translated.unwrap().into_intent() else { panic!() };
//! assert_eq!(order.symbol.as_str(), "BTC-USD");
//! ```

pub mod service;
pub mod wiring;

pub use mts1b_inbound_adapters as adapters;
pub use mts1b_inbound_config as config;
pub use mts1b_inbound_core as core;
pub use mts1b_inbound_runtime as runtime;
