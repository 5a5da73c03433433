//! Rejection → HTTP status (SPEC §2). The only place statuses are decided.

use mts1b_inbound_core::Rejection;

/// Returns the HTTP status code of a rejection.
///
/// TradingView resends on 5xx (except 504) and never on 4xx, so only "nothing was recorded,
/// send again" may be a 5xx.
pub fn status_of(rejection: &Rejection) -> u16 {
    match rejection {
        Rejection::PayloadTooLarge { .. } => 413,
        Rejection::InvalidJson { .. }
        | Rejection::InvalidPayload { .. }
        | Rejection::BadRequest { .. } => 400,
        Rejection::UnknownSymbol { .. }
        | Rejection::EnvelopeDenied { .. }
        | Rejection::OmsRejected { .. }
        | Rejection::StaleAlert { .. }
        | Rejection::TargetNotActive { .. }
        | Rejection::FundHalted => 422,
        Rejection::Unauthorized => 401,
        Rejection::Forbidden | Rejection::NotPermitted => 403,
        Rejection::RateLimited { .. } => 429,
        Rejection::DuplicateIdempotencyKey { .. } => 409,
        Rejection::Unavailable { .. } => 503,
        Rejection::NotFound => 404,
        Rejection::MethodNotAllowed => 405,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mts1b_inbound_core::SymbolRefusal;

    #[test]
    fn maps_the_spec_table() {
        let cases = [
            (Rejection::PayloadTooLarge { limit_bytes: 4096 }, 413),
            (
                Rejection::InvalidJson {
                    detail: String::new(),
                },
                400,
            ),
            (Rejection::invalid("side", "x"), 400),
            (
                Rejection::unknown_symbol("X", &SymbolRefusal::NoExchange),
                422,
            ),
            (Rejection::denied("x"), 422),
            (
                Rejection::OmsRejected {
                    reason: String::new(),
                },
                422,
            ),
            (Rejection::StaleAlert { age_ms: 1 }, 422),
            (
                Rejection::TargetNotActive {
                    reason: "already filled".into(),
                },
                422,
            ),
            (Rejection::FundHalted, 422),
            (Rejection::Unauthorized, 401),
            (Rejection::Forbidden, 403),
            (Rejection::NotPermitted, 403),
            (Rejection::RateLimited { retry_after_ms: 1 }, 429),
            (
                Rejection::DuplicateIdempotencyKey { key: String::new() },
                409,
            ),
            (Rejection::Unavailable { reason: "x" }, 503),
            (Rejection::NotFound, 404),
            (Rejection::MethodNotAllowed, 405),
            (Rejection::BadRequest { detail: "no Host" }, 400),
        ];
        for (rejection, status) in cases {
            assert_eq!(status_of(&rejection), status, "{rejection:?}");
        }
    }
}
