//! The one rejection type: a closed set of codes (SPEC §2), each carrying exactly the fields its
//! JSON answer shows. HTTP statuses are assigned in the runtime's HTTP layer, nowhere else.

use serde::Serialize;

/// The longest user-supplied text a rejection echoes back (field names, symbols, placeholders).
pub const MAX_ECHO_CHARS: usize = 64;

/// Why an inbound message was not turned into an order. Serializes to the JSON body of the
/// answer: `{"error": "<code>", ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
// Deliberately exhaustive: a new code is a contract change, and every match on it (the status
// mapping above all) must fail to compile until it is handled.
pub enum Rejection {
    /// The body is larger than the configured cap.
    PayloadTooLarge {
        /// The cap, in bytes.
        limit_bytes: u64,
    },
    /// The body is not a JSON object (or not well-formed JSON at all).
    InvalidJson {
        /// What the parser saw, with its position.
        detail: String,
    },
    /// The body breaks the schema: a field is missing, unknown, repeated, mistyped or out of range.
    InvalidPayload {
        /// The offending field (its name as sent, bounded).
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The symbol cannot be mapped to a canonical instrument.
    UnknownSymbol {
        /// The symbol as sent (bounded).
        symbol: String,
        /// Why, and what to send instead (SPEC §4).
        detail: String,
    },
    /// The fund's envelope does not allow this order.
    EnvelopeDenied {
        /// Which rule denied it.
        detail: String,
    },
    /// The OMS refused the order (a risk gate, an invalid order).
    OmsRejected {
        /// The OMS's reason.
        reason: String,
    },
    /// The alert is older than the fund allows.
    StaleAlert {
        /// Its age when received, in milliseconds.
        age_ms: i64,
    },
    /// The credential is wrong or the fund is unknown: one answer for both.
    Unauthorized,
    /// The source address is not allowed.
    Forbidden,
    /// The fund is over its rate limit.
    RateLimited {
        /// How long until the next alert would be admitted.
        retry_after_ms: u64,
    },
    /// The same (fund, idempotency key) was accepted within the replay window.
    DuplicateIdempotencyKey {
        /// The idempotency key (bounded).
        key: String,
    },
    /// The bridge cannot take it now; nothing was recorded, send again.
    Unavailable {
        /// Why, for logs only: not part of the answer.
        #[serde(skip)]
        reason: &'static str,
    },
    /// No such route.
    NotFound,
    /// The route exists, the method does not.
    MethodNotAllowed,
    /// The HTTP request itself is malformed (RFC 9112 §3.2: an HTTP/1.1 request without a
    /// `Host` header, or any request with two).
    BadRequest {
        /// What is wrong with it.
        detail: &'static str,
    },
    /// A chat member whose signature is good but whom no grant lets trade this fund and
    /// strategy (or who is not granted anything). Names no fund, so funds cannot be enumerated.
    NotPermitted,
    /// The order a cancel or replace names is not active: it expired, was rejected or
    /// cancelled, or the OMS reports it filled or unknown (SPEC §13).
    TargetNotActive {
        /// Why, in the bridge's or the OMS's words.
        reason: String,
    },
    /// The operator halted the fund (SPEC §15 kill switch): nothing recorded.
    FundHalted,
}

impl Rejection {
    /// Every error code, in the order [`Rejection::code_index`] numbers them.
    pub const CODES: [&'static str; 18] = [
        "payload_too_large",
        "invalid_json",
        "invalid_payload",
        "unknown_symbol",
        "envelope_denied",
        "oms_rejected",
        "stale_alert",
        "unauthorized",
        "forbidden",
        "rate_limited",
        "duplicate_idempotency_key",
        "unavailable",
        "not_found",
        "method_not_allowed",
        "bad_request",
        "not_permitted",
        "target_not_active",
        "fund_halted",
    ];

    /// Returns the stable error code (`invalid_payload`).
    pub fn code(&self) -> &'static str {
        Self::CODES[self.code_index()]
    }

    /// Returns the position of this rejection's code in [`Rejection::CODES`], so per-code
    /// state (a metric's labelled child) can sit in an array.
    pub fn code_index(&self) -> usize {
        match self {
            Rejection::PayloadTooLarge { .. } => 0,
            Rejection::InvalidJson { .. } => 1,
            Rejection::InvalidPayload { .. } => 2,
            Rejection::UnknownSymbol { .. } => 3,
            Rejection::EnvelopeDenied { .. } => 4,
            Rejection::OmsRejected { .. } => 5,
            Rejection::StaleAlert { .. } => 6,
            Rejection::Unauthorized => 7,
            Rejection::Forbidden => 8,
            Rejection::RateLimited { .. } => 9,
            Rejection::DuplicateIdempotencyKey { .. } => 10,
            Rejection::Unavailable { .. } => 11,
            Rejection::NotFound => 12,
            Rejection::MethodNotAllowed => 13,
            Rejection::BadRequest { .. } => 14,
            Rejection::NotPermitted => 15,
            Rejection::TargetNotActive { .. } => 16,
            Rejection::FundHalted => 17,
        }
    }

    /// A schema violation of `field`.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Rejection::InvalidPayload {
            field: bounded(field),
            detail: detail.into(),
        }
    }

    /// A symbol that cannot be mapped, and why.
    pub fn unknown_symbol(symbol: &str, why: &crate::SymbolRefusal) -> Self {
        Rejection::UnknownSymbol {
            symbol: bounded(symbol),
            detail: why.to_string(),
        }
    }

    /// An envelope rule that denies the order.
    pub fn denied(detail: impl Into<String>) -> Self {
        Rejection::EnvelopeDenied {
            detail: detail.into(),
        }
    }
}

/// Cuts user-supplied text to [`MAX_ECHO_CHARS`] characters (marking the cut with `…`), so no
/// answer or log line grows with the input.
pub fn bounded(text: &str) -> String {
    // No more bytes than the limit means no more characters: nothing to count.
    if text.len() <= MAX_ECHO_CHARS {
        return text.to_owned();
    }
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_their_indices_agree_with_the_serialized_answer() {
        let kinds = crate::testing::every_rejection();
        assert_eq!(kinds.len(), Rejection::CODES.len());
        for (i, r) in kinds.iter().enumerate() {
            let body: serde_json::Value = serde_json::to_value(r).unwrap();
            assert_eq!(r.code_index(), i, "{r:?}");
            assert_eq!(body["error"], r.code(), "{r:?}");
        }
    }

    #[test]
    fn serializes_to_the_spec_bodies() {
        let body = |r: &Rejection| serde_json::to_string(r).unwrap();
        assert_eq!(
            body(&Rejection::Unauthorized),
            r#"{"error":"unauthorized"}"#
        );
        assert_eq!(
            body(&Rejection::PayloadTooLarge { limit_bytes: 4096 }),
            r#"{"error":"payload_too_large","limit_bytes":4096}"#
        );
        assert_eq!(
            body(&Rejection::invalid("side", "must be buy or sell")),
            r#"{"error":"invalid_payload","field":"side","detail":"must be buy or sell"}"#
        );
        assert_eq!(
            body(&Rejection::Unavailable { reason: "store" }),
            r#"{"error":"unavailable"}"#
        );
        assert_eq!(
            body(&Rejection::RateLimited {
                retry_after_ms: 250
            }),
            r#"{"error":"rate_limited","retry_after_ms":250}"#
        );
        for r in [
            Rejection::DuplicateIdempotencyKey { key: "k".into() },
            Rejection::StaleAlert { age_ms: 1 },
            Rejection::MethodNotAllowed,
        ] {
            let v: serde_json::Value = serde_json::from_str(&body(&r)).unwrap();
            assert_eq!(v["error"], r.code());
        }
    }

    #[test]
    fn echoes_are_bounded() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(100);
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(bounded(&"x".repeat(64)), "x".repeat(64));
    }
}
