//! The Slack adapter: slash commands authenticated by Slack's v0 request signature.
//!
//! Authentication is complete: HMAC-SHA256 over `v0:{timestamp}:{raw body}` with the app's
//! signing secret, compared in constant time, with a 5-minute tolerance in both directions on
//! `X-Slack-Request-Timestamp` (measured against the request's receive time, which the runtime
//! takes from its injectable clock). Turning a command into an order is not supported yet.

mod form;

use hmac::{Hmac, KeyInit, Mac};
use mts1b_inbound_core::{
    Authenticated, IdempotencyKey, InboundAdapter, Intent, Principal, RawRequest, Rejection,
    Secret, SecretSource,
};
use sha2::Sha256;

use crate::signed;

pub use form::{SlackCommand, parse_form};

/// The adapter name.
pub const NAME: &str = "slack";
/// How far `X-Slack-Request-Timestamp` may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;
/// The header carrying `v0=<hex HMAC>`.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header carrying the Unix-seconds timestamp.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// Authenticates Slack slash commands.
#[derive(Debug)]
pub struct Slack {
    signing_secret: Secret,
}

impl Slack {
    /// Builds the adapter with the app's signing secret.
    pub fn new(signing_secret: Secret) -> Self {
        Self { signing_secret }
    }

    /// True when `signature` (`v0=<hex>`) is Slack's signature of `body` at `timestamp`, and
    /// `timestamp` is within [`TOLERANCE_SECS`] of `now_millis`.
    pub fn signature_valid(
        &self,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now_millis: i64,
    ) -> bool {
        let Some(ts) = signed::unix_seconds(timestamp) else {
            return false;
        };
        if !signed::fresh(ts, now_millis, TOLERANCE_SECS) {
            return false;
        }
        let Some(expected) = signature.strip_prefix("v0=").and_then(signed::decode::<32>) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.signing_secret.expose().as_bytes())
        else {
            return false;
        };
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&expected).is_ok()
    }
}

impl InboundAdapter for Slack {
    type Payload = SlackCommand;

    fn name(&self) -> &'static str {
        NAME
    }

    // No replay key until commands are supported; the signature's 5-minute tolerance bounds
    // replays meanwhile.
    fn idempotency_key<'a>(&self, _payload: &'a SlackCommand) -> Option<&'a IdempotencyKey> {
        None
    }

    fn parse(&self, req: &RawRequest) -> Result<SlackCommand, Rejection> {
        parse_form(&req.body)
    }

    fn verify(&self, req: &RawRequest, _secrets: &dyn SecretSource) -> Result<(), Rejection> {
        signed::verify(req, TIMESTAMP_HEADER, SIGNATURE_HEADER, |ts, sig| {
            self.signature_valid(ts, sig, &req.body, req.received_at.as_millis())
        })
    }

    // The signature was checked over the raw bytes in `verify`, which every path to an
    // `Authenticated` runs first.
    fn authenticate(
        &self,
        _req: &RawRequest,
        _payload: &SlackCommand,
        _secrets: &dyn SecretSource,
    ) -> Result<Principal, Rejection> {
        Ok(signed::principal(NAME))
    }

    fn normalize(&self, _command: Authenticated<SlackCommand>) -> Result<Intent, Rejection> {
        Err(Rejection::invalid(
            "command",
            "Slack commands are not supported yet",
        ))
    }
}

#[cfg(test)]
mod tests {
    use mts1b_inbound_core::{FundId, SecretLookup, UnixMillis, authenticate};

    use super::*;

    // Slack's worked example, from "Verifying requests from Slack".
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const AT: i64 = 1_531_420_618_000;

    struct NoSecrets;
    impl SecretSource for NoSecrets {
        fn fund_secret(&self, _: &FundId) -> SecretLookup {
            SecretLookup::UnknownFund
        }
    }

    fn slack() -> Slack {
        Slack::new(Secret::new(SECRET))
    }

    fn request(ts: &str, sig: &str, body: &str, now: i64) -> RawRequest {
        RawRequest::with_body(body, UnixMillis(now))
            .header("X-Slack-Request-Timestamp", ts)
            .header("X-Slack-Signature", sig)
    }

    fn auth(req: &RawRequest) -> Result<Principal, Rejection> {
        let s = slack();
        let payload = s.parse(req)?;
        authenticate(&s, req, payload, &NoSecrets).map(|a| a.principal().clone())
    }

    #[test]
    fn accepts_slacks_published_example() {
        assert!(slack().signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT));
        let p = auth(&request(TIMESTAMP, SIGNATURE, BODY, AT)).unwrap();
        assert_eq!(p.adapter, "slack");
        assert_eq!(p.fund_id, None);
    }

    #[test]
    fn tolerates_five_minutes_either_way_and_no_more() {
        let s = slack();
        assert!(s.signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT + 300_000));
        assert!(s.signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT - 300_000));
        assert!(!s.signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT + 301_000));
        assert!(!s.signature_valid(TIMESTAMP, SIGNATURE, BODY.as_bytes(), AT - 301_000));
    }

    #[test]
    fn refuses_any_tampering() {
        let s = slack();
        let tampered_body = BODY.replace("roadrunner", "coyote");
        assert!(!s.signature_valid(TIMESTAMP, SIGNATURE, tampered_body.as_bytes(), AT));
        assert!(!s.signature_valid("1531420619", SIGNATURE, BODY.as_bytes(), AT));
        let flipped = SIGNATURE.replace("a2114d", "a2114e");
        assert!(!s.signature_valid(TIMESTAMP, &flipped, BODY.as_bytes(), AT));
        assert!(!s.signature_valid(
            TIMESTAMP,
            &SIGNATURE.replace("v0=", "v1="),
            BODY.as_bytes(),
            AT
        ));
        assert!(!s.signature_valid(
            TIMESTAMP,
            &SIGNATURE[..SIGNATURE.len() - 2],
            BODY.as_bytes(),
            AT
        ));
        assert!(!Slack::new(Secret::new("other")).signature_valid(
            TIMESTAMP,
            SIGNATURE,
            BODY.as_bytes(),
            AT
        ));
    }

    #[test]
    fn unsigned_or_forged_requests_are_unauthorized() {
        let unsigned = RawRequest::with_body(BODY, UnixMillis(AT));
        assert_eq!(auth(&unsigned), Err(Rejection::Unauthorized));
        let forged = request(TIMESTAMP, &SIGNATURE.replace('a', "b"), BODY, AT);
        assert_eq!(auth(&forged), Err(Rejection::Unauthorized));
    }

    /// A forged or unsigned command is refused before its form is read: a malformed body from
    /// an unsigned caller is 401, not a 400 that describes the parser.
    #[test]
    fn a_forged_request_is_refused_before_its_body_is_read() {
        let s = slack();
        let run = |req: &RawRequest| signed::translate_any_fund(&s, req, &NoSecrets);
        let malformed = "a=1&".repeat(65);
        let unsigned = RawRequest::with_body(malformed.clone(), UnixMillis(AT));
        assert_eq!(run(&unsigned), Err(Rejection::Unauthorized));
        assert_eq!(
            run(&request(TIMESTAMP, SIGNATURE, &malformed, AT)),
            Err(Rejection::Unauthorized)
        );
        // Signed, the same bytes reach the parser, which says what is wrong.
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("v0:{TIMESTAMP}:{malformed}").as_bytes());
        let signed = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            run(&request(TIMESTAMP, &signed, &malformed, AT)),
            Err(Rejection::invalid("body", "more than 64 form fields"))
        );
    }

    #[test]
    fn commands_are_refused_clearly_for_now() {
        let s = slack();
        let req = request(TIMESTAMP, SIGNATURE, BODY, AT);
        let payload = s.parse(&req).unwrap();
        assert_eq!(payload.get("command"), Some("/webhook-collect"));
        let alert = authenticate(&s, &req, payload, &NoSecrets).unwrap();
        let r = s.normalize(alert);
        assert!(
            matches!(&r, Err(Rejection::InvalidPayload { detail, .. }) if detail.contains("not supported yet")),
            "{r:?}"
        );
    }
}
