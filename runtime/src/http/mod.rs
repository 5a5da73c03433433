//! The HTTP face of the runtime: listeners, routes, and the mapping of outcomes to answers.

pub mod answer;
pub mod connections;
pub mod server;
pub mod status;
pub mod tls;
