//! The HTTP face of the runtime: listeners, routes, and the mapping of outcomes to answers.

pub mod admin;
pub mod answer;
pub mod connections;
pub mod page;
pub mod server;
pub mod status;
pub mod tls;
