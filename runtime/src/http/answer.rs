//! Outcome → the HTTP answer of SPEC §2: status, JSON body, `Retry-After`.

use serde::Serialize;

use super::status::status_of;
use crate::delivery::Delivered;
use crate::pipeline::{Accepted, Handled, Outcome};
use mts1b_inbound_core::{IntentKind, Rejection};

/// An answer, free of any HTTP library type (embedders use it as is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// Seconds for the `Retry-After` header (429 and 503).
    pub retry_after_secs: Option<u64>,
}

#[derive(Serialize)]
struct Success<'a> {
    status: &'static str,
    key: &'a str,
    /// An order's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_order_id: Option<String>,
    /// A modification's own id (the OMS's `request_id`, SPEC §13).
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<&'a str>,
    /// The order a cancel or replace changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    target_key: Option<&'a str>,
    /// How a modification took effect when the OMS did not apply it ("cancelled before
    /// delivery: ...").
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

impl Answer {
    /// The answer to an outcome.
    pub fn of(outcome: &Outcome) -> Self {
        match outcome {
            Ok(Handled::Order(accepted)) => Self::accepted(accepted),
            Ok(Handled::Answered(body)) => Self::ok(body.clone()),
            Err(rejection) => Self::rejected(rejection),
        }
    }

    /// A 200 answer with a JSON body an adapter rendered.
    pub fn ok(body: String) -> Self {
        Self {
            status: 200,
            body,
            retry_after_secs: None,
        }
    }

    fn accepted(a: &Accepted) -> Self {
        let mut detail = None;
        let (status, label, order_id) = match &a.delivered {
            Delivered::Submitted { order_id } => (200, "submitted", Some(order_id.as_str())),
            Delivered::Queued => (202, "queued", None),
            Delivered::Modified {
                order_id,
                detail: how,
            } => {
                detail = how.as_deref();
                let label = match a.kind {
                    IntentKind::Cancel => "cancelled",
                    IntentKind::Replace => "replaced",
                    IntentKind::CancelAll => "cancelled_all",
                    IntentKind::Submit => "submitted",
                };
                (200, label, order_id.as_deref())
            }
            Delivered::Cancelled { detail: how } => {
                detail = Some(how.as_str());
                (200, "cancelled", None)
            }
            // Never reached: these become rejections (OmsRejected, TargetNotActive, the
            // refusal itself) and DuplicateIdempotencyKey outcomes.
            Delivered::Rejected { .. } | Delivered::NotActive { .. } | Delivered::Refused(_) => {
                (422, "rejected", None)
            }
            Delivered::Duplicate { .. } => (409, "duplicate", None),
        };
        let id = a.client_order_id.to_string();
        let (client_order_id, request_id) = match a.kind {
            IntentKind::Submit => (Some(id), None),
            _ => (None, Some(id)),
        };
        let body = Success {
            status: label,
            key: &a.key,
            client_order_id,
            request_id,
            order_id,
            target_key: a.target_key.as_deref(),
            detail,
        };
        Self {
            status,
            body: serde_json::to_string(&body).unwrap_or_default(),
            retry_after_secs: None,
        }
    }

    /// The answer to a rejection.
    pub fn rejected(rejection: &Rejection) -> Self {
        let retry_after_secs = match rejection {
            Rejection::RateLimited { retry_after_ms } => Some(retry_after_ms.div_ceil(1000).max(1)),
            Rejection::Unavailable { .. } => Some(1),
            _ => None,
        };
        Self {
            status: status_of(rejection),
            body: rejection_body(rejection),
            retry_after_secs,
        }
    }

    /// A 200 answer with a JSON body.
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_string(body).unwrap_or_default(),
            retry_after_secs: None,
        }
    }
}

/// The body of a rejection's answer, exactly as serializing the rejection writes it; written
/// directly for the kinds a flood brings (forged secrets, duplicates, misrouted requests), where
/// serializing the tagged enum was ~1,000 instructions of each request.
fn rejection_body(rejection: &Rejection) -> String {
    let constant = match rejection {
        Rejection::Unauthorized => r#"{"error":"unauthorized"}"#,
        Rejection::Forbidden => r#"{"error":"forbidden"}"#,
        Rejection::FundHalted => r#"{"error":"fund_halted"}"#,
        Rejection::Unavailable { .. } => r#"{"error":"unavailable"}"#,
        Rejection::NotFound => r#"{"error":"not_found"}"#,
        Rejection::MethodNotAllowed => r#"{"error":"method_not_allowed"}"#,
        Rejection::DuplicateIdempotencyKey { key } => {
            const HEAD: &[u8] = br#"{"error":"duplicate_idempotency_key","key":"#;
            let mut body = Vec::with_capacity(HEAD.len() + key.len() + 3);
            body.extend_from_slice(HEAD);
            // serde_json's own escaping of the one string (writing to a Vec cannot fail).
            let _ = serde_json::to_writer(&mut body, key);
            body.push(b'}');
            return String::from_utf8(body)
                .unwrap_or_else(|_| serde_json::to_string(rejection).unwrap_or_default());
        }
        _ => return serde_json::to_string(rejection).unwrap_or_default(),
    };
    constant.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mts1b_inbound_core::{ClientOrderId, FundId, IdempotencyKey};

    #[test]
    fn success_bodies_follow_the_spec() {
        let id = ClientOrderId::derive(
            "tradingview",
            &FundId::parse("f").unwrap(),
            &IdempotencyKey::parse("k").unwrap(),
        );
        let submitted = Answer::of(&Ok(Handled::Order(Accepted {
            kind: IntentKind::Submit,
            key: "k".into(),
            client_order_id: id,
            target_key: None,
            delivered: Delivered::Submitted {
                order_id: "o-1".into(),
            },
        })));
        assert_eq!(submitted.status, 200);
        assert_eq!(
            submitted.body,
            format!(
                r#"{{"status":"submitted","key":"k","client_order_id":"{id}","order_id":"o-1"}}"#
            )
        );
        let queued = Answer::of(&Ok(Handled::Order(Accepted {
            kind: IntentKind::Submit,
            key: "k".into(),
            client_order_id: id,
            target_key: None,
            delivered: Delivered::Queued,
        })));
        assert_eq!(queued.status, 202);
        assert_eq!(
            queued.body,
            format!(r#"{{"status":"queued","key":"k","client_order_id":"{id}"}}"#)
        );
    }

    #[test]
    fn every_rejection_body_is_the_serialized_rejection() {
        for r in mts1b_inbound_core::testing::every_rejection() {
            assert_eq!(rejection_body(&r), serde_json::to_string(&r).unwrap());
        }
    }

    proptest::proptest! {
        #[test]
        fn duplicate_bodies_escape_any_key_like_serde(key in ".*") {
            let r = Rejection::DuplicateIdempotencyKey { key };
            proptest::prop_assert_eq!(rejection_body(&r), serde_json::to_string(&r).unwrap());
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let limited = Answer::rejected(&Rejection::RateLimited {
            retry_after_ms: 1001,
        });
        assert_eq!((limited.status, limited.retry_after_secs), (429, Some(2)));
        let limited = Answer::rejected(&Rejection::RateLimited { retry_after_ms: 1 });
        assert_eq!(limited.retry_after_secs, Some(1));
        let unavailable = Answer::rejected(&Rejection::Unavailable { reason: "x" });
        assert_eq!(
            (unavailable.status, unavailable.body.as_str()),
            (503, r#"{"error":"unavailable"}"#)
        );
        assert_eq!(unavailable.retry_after_secs, Some(1));
        assert_eq!(
            Answer::rejected(&Rejection::Forbidden).retry_after_secs,
            None
        );
    }
}
