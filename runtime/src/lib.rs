//! The MTS1B inbound runtime: what every adapter needs (caps, addresses, limits, replay,
//! durability, delivery, metrics), written once for any [`InboundAdapter`].
//!
//! Today it holds the translation steps every alert goes through ([`translate`]) and the mapping
//! of rejections to HTTP statuses ([`http::status`]); the listeners, gates, store and delivery
//! build on them.
//!
//! [`InboundAdapter`]: mts1b_inbound_core::InboundAdapter

pub mod http;
pub mod translate;

pub use translate::{FundEnvelopes, translate};
