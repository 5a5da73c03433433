//! The shared gates every alert passes (SPEC §6): source address, rate limit, replay window.
//! The body cap lives where the body is read (`http`), and is re-checked in the pipeline for
//! embedders that hand in bodies directly.

pub mod fund;
pub mod rate_limit;
pub mod replay;
pub mod source;
