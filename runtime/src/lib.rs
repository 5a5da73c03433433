//! The MTS1B inbound runtime: what every adapter needs (caps, addresses, limits, replay,
//! durability, delivery, metrics), written once for any [`InboundAdapter`].
//!
//! Build a [`Runtime`] from adapters, a secret source and a sink ([`RuntimeBuilder`]), then
//! either hand it raw requests ([`Runtime::handle`], no HTTP) or serve it
//! ([`http::server::serve`]). The story of one alert: `http` (listeners, routes, status
//! mapping) → [`pipeline`] (the gates in order) → [`gates`] → [`delivery`] → [`metrics`].
//!
//! [`InboundAdapter`]: mts1b_inbound_core::InboundAdapter

pub mod delivery;
pub mod gates;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod runtime;
pub mod translate;

pub use runtime::{Runtime, RuntimeBuilder};
pub use translate::{FundEnvelopes, translate};
