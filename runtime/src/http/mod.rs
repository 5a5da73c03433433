//! The HTTP face of the runtime.

pub mod status;
