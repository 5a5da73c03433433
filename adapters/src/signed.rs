//! What header-signed sources (Slack, Discord) share: hex signatures, Unix-seconds timestamps,
//! freshness in both directions, and the authentication flow itself.

use mts1b_inbound_core::{RawRequest, Rejection};

/// Checks a request signed in headers, before its body is parsed: `verify(timestamp,
/// signature)` must accept the values of `timestamp_header` and `signature_header` (missing
/// headers verify as empty, and fail). Every failure is the same `unauthorized`.
pub(crate) fn verify(
    req: &RawRequest,
    timestamp_header: &str,
    signature_header: &str,
    verify: impl FnOnce(&str, &str) -> bool,
) -> Result<(), Rejection> {
    let timestamp = req.header_str(timestamp_header).unwrap_or_default();
    let signature = req.header_str(signature_header).unwrap_or_default();
    if verify(timestamp, signature) {
        Ok(())
    } else {
        Err(Rejection::Unauthorized)
    }
}

/// Decodes exactly `N` bytes of hex (the `hex` crate), or `None` for any other length or a
/// non-hex character.
pub(crate) fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// The signed timestamp of a request [`verify`] accepted, as a time: when the platform sent it.
pub(crate) fn sent_at(
    req: &RawRequest,
    timestamp_header: &str,
) -> Option<mts1b_inbound_core::UnixMillis> {
    let secs = unix_seconds(req.header_str(timestamp_header)?)?;
    Some(mts1b_inbound_core::UnixMillis(secs.checked_mul(1000)?))
}

/// Parses a Unix-seconds timestamp header: ASCII digits only, at most 12 of them.
pub(crate) fn unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// True when `timestamp_secs` is within `tolerance_secs` of `now_millis`, in either direction.
pub(crate) fn fresh(timestamp_secs: i64, now_millis: i64, tolerance_secs: i64) -> bool {
    (now_millis.div_euclid(1000) - timestamp_secs).abs() <= tolerance_secs
}

/// Runs the translator's stateless steps (`core::translate`) for a header-signed adapter, any
/// fund configured, no stateful gates: what the adapters' tests need to see the order of the
/// steps. Returns the intent, or the direct answer's body.
#[cfg(test)]
pub(crate) fn translate_any_fund<A: mts1b_inbound_core::InboundAdapter>(
    adapter: &A,
    req: &RawRequest,
    secrets: &dyn mts1b_inbound_core::SecretSource,
) -> Result<Result<mts1b_inbound_core::Intent, String>, Rejection> {
    use mts1b_inbound_core::Translation;
    use mts1b_inbound_core::{AnyFund, Envelope, FundPolicy, NoGates, Quantity, RateLimit};
    let funds = AnyFund(FundPolicy {
        envelope: Envelope::allow_any(Quantity::parse("1000").expect("a quantity")),
        rate_limit: RateLimit {
            per_second: 1,
            burst: 1,
        },
    });
    Ok(
        match mts1b_inbound_core::translate(adapter, req, secrets, &funds, &mut NoGates)? {
            Translation::Order(t) => Ok(t.intent),
            Translation::Answered(body) => Err(body),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_exact_lengths_only() {
        assert_eq!(decode::<2>("0aFf"), Some([0x0a, 0xff]));
        assert_eq!(decode::<2>("0aF"), None);
        assert_eq!(decode::<2>("0aFf00"), None);
        assert_eq!(decode::<2>("0g00"), None);
        assert_eq!(decode::<1>("é"), None);
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(unix_seconds("1531420618"), Some(1_531_420_618));
        assert_eq!(unix_seconds("-5"), None);
        assert_eq!(unix_seconds("+5"), None);
        assert_eq!(unix_seconds(" 5"), None);
        assert_eq!(unix_seconds("9999999999999"), None);
        assert!(fresh(1000, 1_300_000, 300));
        assert!(fresh(1000, 700_000, 300));
        assert!(!fresh(1000, 1_301_000, 300));
        assert!(!fresh(1000, 699_000, 300));
    }
}
