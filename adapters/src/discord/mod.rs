//! The Discord adapter: interactions authenticated by Discord's Ed25519 request signature.
//!
//! Authentication is complete: `X-Signature-Ed25519` (hex) must be a strict Ed25519 signature
//! (`verify_strict`: no small-order keys, no malleable signatures) by the application's public
//! key over `X-Signature-Timestamp` followed by the raw body. The timestamp must also be within
//! 5 minutes of the receive time, either way, so a captured request cannot be replayed later.
//! Turning an interaction into an order is not supported yet.

use ed25519_dalek::{Signature, VerifyingKey};
use mts1b_inbound_core::{
    Authenticated, IdempotencyKey, InboundAdapter, Intent, Principal, RawRequest, Rejection,
    SecretSource,
};
use serde_json::Value;

use crate::signed;

/// The adapter name.
pub const NAME: &str = "discord";
/// How far `X-Signature-Timestamp` may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;
/// The header carrying the hex signature.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header carrying the Unix-seconds timestamp.
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// Why a public key could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 public key (expected 64 hex characters of a valid curve point)")]
pub struct PublicKeyError;

/// Authenticates Discord interactions.
#[derive(Debug)]
pub struct Discord {
    public_key: VerifyingKey,
}

/// A parsed interaction: a JSON object with its `type`.
#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    /// The interaction type (1 = PING, 2 = APPLICATION_COMMAND, ...).
    pub kind: u64,
    /// The whole object.
    pub body: Value,
}

impl Discord {
    /// Builds the adapter from the application's public key, as hex (as Discord shows it).
    pub fn from_hex(public_key: &str) -> Result<Self, PublicKeyError> {
        let bytes = signed::decode::<32>(public_key).ok_or(PublicKeyError)?;
        let public_key = VerifyingKey::from_bytes(&bytes).map_err(|_| PublicKeyError)?;
        Ok(Self { public_key })
    }

    /// True when `signature` (hex) is a strict Ed25519 signature of `message` by this key.
    pub fn verify_message(&self, message: &[u8], signature: &str) -> bool {
        let Some(signature) = signed::decode::<64>(signature) else {
            return false;
        };
        self.public_key
            .verify_strict(message, &Signature::from_bytes(&signature))
            .is_ok()
    }

    /// True when the request is signed over `timestamp ++ body` and fresh at `now_millis`.
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
        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(body);
        self.verify_message(&message, signature)
    }
}

impl InboundAdapter for Discord {
    type Payload = Interaction;

    fn name(&self) -> &'static str {
        NAME
    }

    // No replay key until commands are supported; the signature's 5-minute tolerance bounds
    // replays meanwhile.
    fn idempotency_key<'a>(&self, _payload: &'a Interaction) -> Option<&'a IdempotencyKey> {
        None
    }

    fn parse(&self, req: &RawRequest) -> Result<Interaction, Rejection> {
        let body: Value =
            serde_json::from_slice(&req.body).map_err(|e| Rejection::InvalidJson {
                detail: e.to_string(),
            })?;
        let kind = body
            .get("type")
            .and_then(Value::as_u64)
            .ok_or_else(|| Rejection::invalid("type", "an interaction needs a numeric type"))?;
        Ok(Interaction { kind, body })
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
        _payload: &Interaction,
        _secrets: &dyn SecretSource,
    ) -> Result<Principal, Rejection> {
        Ok(signed::principal(NAME))
    }

    fn normalize(&self, _interaction: Authenticated<Interaction>) -> Result<Intent, Rejection> {
        Err(Rejection::invalid(
            "type",
            "Discord interactions are not supported yet",
        ))
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use mts1b_inbound_core::{FundId, SecretLookup, UnixMillis, authenticate};

    use super::*;

    // RFC 8032 §7.1, TEST 1 and TEST 2.
    const T1_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const T1_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const T1_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    const T2_PUBLIC: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    const T2_SIGNATURE: &str = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

    const TS: &str = "1700000000";
    const NOW: i64 = 1_700_000_010_000;
    const BODY: &str = r#"{"type":2,"data":{"name":"buy"}}"#;

    struct NoSecrets;
    impl SecretSource for NoSecrets {
        fn fund_secret(&self, _: &FundId) -> SecretLookup {
            SecretLookup::UnknownFund
        }
    }

    fn hex(bytes: &[u8]) -> String {
        hex::encode(bytes)
    }

    fn sign(message: &[u8]) -> String {
        let key = SigningKey::from_bytes(&signed::decode::<32>(T1_SECRET).unwrap());
        hex(&key.sign(message).to_bytes())
    }

    fn request(ts: &str, sig: &str, body: &str, now: i64) -> RawRequest {
        RawRequest::with_body(body, UnixMillis(now))
            .header("X-Signature-Timestamp", ts)
            .header("X-Signature-Ed25519", sig)
    }

    fn auth(req: &RawRequest) -> Result<Principal, Rejection> {
        let d = Discord::from_hex(T1_PUBLIC).unwrap();
        let payload = d.parse(req)?;
        authenticate(&d, req, payload, &NoSecrets).map(|a| a.principal().clone())
    }

    #[test]
    fn verifies_rfc8032_vectors() {
        assert!(
            Discord::from_hex(T1_PUBLIC)
                .unwrap()
                .verify_message(b"", T1_SIGNATURE)
        );
        assert!(
            Discord::from_hex(T2_PUBLIC)
                .unwrap()
                .verify_message(&[0x72], T2_SIGNATURE)
        );
        // The RFC's secret key derives the RFC's public key, so our signing helper is the RFC's.
        let key = SigningKey::from_bytes(&signed::decode::<32>(T1_SECRET).unwrap());
        assert_eq!(hex(key.verifying_key().as_bytes()), T1_PUBLIC);
        assert_eq!(sign(b""), T1_SIGNATURE);
        // Swapped vectors fail.
        assert!(
            !Discord::from_hex(T2_PUBLIC)
                .unwrap()
                .verify_message(b"", T1_SIGNATURE)
        );
        assert!(
            !Discord::from_hex(T1_PUBLIC)
                .unwrap()
                .verify_message(&[0x72], T2_SIGNATURE)
        );
    }

    #[test]
    fn accepts_a_signed_fresh_interaction() {
        let sig = sign(format!("{TS}{BODY}").as_bytes());
        let p = auth(&request(TS, &sig, BODY, NOW)).unwrap();
        assert_eq!(p.adapter, "discord");
    }

    #[test]
    fn refuses_tampered_stale_or_unsigned_requests() {
        let sig = sign(format!("{TS}{BODY}").as_bytes());
        let tampered = BODY.replace("buy", "sel");
        assert_eq!(
            auth(&request(TS, &sig, &tampered, NOW)),
            Err(Rejection::Unauthorized)
        );
        assert_eq!(
            auth(&request("1700000001", &sig, BODY, NOW)),
            Err(Rejection::Unauthorized)
        );
        let mut flipped = sig.clone().into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            auth(&request(TS, &flipped, BODY, NOW)),
            Err(Rejection::Unauthorized)
        );
        assert_eq!(
            auth(&request(TS, &sig, BODY, NOW + 301_000)),
            Err(Rejection::Unauthorized)
        );
        assert_eq!(
            auth(&request(TS, &sig[..126], BODY, NOW)),
            Err(Rejection::Unauthorized)
        );
        let unsigned = RawRequest::with_body(BODY, UnixMillis(NOW));
        assert_eq!(auth(&unsigned), Err(Rejection::Unauthorized));
    }

    /// A forged or unsigned interaction is refused before its body is parsed: invalid JSON
    /// from an unsigned caller is 401, not a 400 with the parser's detail.
    #[test]
    fn a_forged_request_is_refused_before_its_body_is_read() {
        let d = Discord::from_hex(T1_PUBLIC).unwrap();
        let run = |req: &RawRequest| signed::translate_any_fund(&d, req, &NoSecrets);
        let garbage = "{not json";
        let unsigned = RawRequest::with_body(garbage, UnixMillis(NOW));
        assert_eq!(run(&unsigned), Err(Rejection::Unauthorized));
        let someone_elses = sign(format!("{TS}{BODY}").as_bytes());
        assert_eq!(
            run(&request(TS, &someone_elses, garbage, NOW)),
            Err(Rejection::Unauthorized)
        );
        // Signed, the same bytes reach the parser, which says what is wrong.
        let signed = sign(format!("{TS}{garbage}").as_bytes());
        assert!(matches!(
            run(&request(TS, &signed, garbage, NOW)),
            Err(Rejection::InvalidJson { .. })
        ));
    }

    #[test]
    fn refuses_bad_public_keys() {
        assert_eq!(Discord::from_hex("abcd").unwrap_err(), PublicKeyError);
        assert!(Discord::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn interactions_are_refused_clearly_for_now() {
        let d = Discord::from_hex(T1_PUBLIC).unwrap();
        let sig = sign(format!("{TS}{BODY}").as_bytes());
        let req = request(TS, &sig, BODY, NOW);
        let payload = d.parse(&req).unwrap();
        assert_eq!(payload.kind, 2);
        let r = d.normalize(authenticate(&d, &req, payload, &NoSecrets).unwrap());
        assert!(
            matches!(&r, Err(Rejection::InvalidPayload { detail, .. }) if detail.contains("not supported yet")),
            "{r:?}"
        );
    }
}
