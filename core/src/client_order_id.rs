//! The deterministic client order id: the same alert always yields the same id, on every retry
//! and every replica, so the OMS can dedupe and at-least-once delivery becomes effectively-once.

use std::fmt;

use serde::{Serialize, Serializer};
use sha1::{Digest, Sha1};
use uuid::Uuid;

use crate::ids::{FundId, IdempotencyKey};
use crate::order::IntentKind;

/// The UUIDv5 namespace of MTS1B inbound client order ids:
/// `uuid_v5(NAMESPACE_URL, "urn:mts1b:inbound:client-order-id")`.
pub const NAMESPACE: Uuid = Uuid::from_bytes([
    0x2c, 0x01, 0xa1, 0xdf, 0x9f, 0xe1, 0x59, 0xcd, 0x9c, 0x7e, 0xcc, 0x21, 0xad, 0xa3, 0x26, 0xc3,
]);

/// A client order id: UUIDv5 over `"{adapter}\n{fund_id}\n{idempotency_key}"` in [`NAMESPACE`].
///
/// The newline cannot occur in an adapter name, a fund id or an idempotency key (printable ASCII
/// only), so distinct triples never collide by concatenation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientOrderId(Uuid);

impl ClientOrderId {
    /// Derives the id of one alert.
    pub fn derive(adapter: &str, fund_id: &FundId, key: &IdempotencyKey) -> Self {
        Self::derive_tagged(adapter, fund_id, key, None)
    }

    /// Derives the id of an intent of `kind`: a submit's is [`ClientOrderId::derive`]'s,
    /// unchanged; any other kind's name is `"{adapter}\n{fund_id}\n{idempotency_key}\n{kind}"`.
    /// A key holds no newline, so a name with three newlines never equals one with two: no
    /// modification can share an id (or a replay window entry) with an order.
    pub fn derive_for(
        kind: IntentKind,
        adapter: &str,
        fund_id: &FundId,
        key: &IdempotencyKey,
    ) -> Self {
        Self::derive_tagged(adapter, fund_id, key, kind.id_tag())
    }

    fn derive_tagged(
        adapter: &str,
        fund_id: &FundId,
        key: &IdempotencyKey,
        tag: Option<&str>,
    ) -> Self {
        // RFC 9562 §5.5, as `Uuid::new_v5` computes it, but hashed with the CPU's SHA
        // extensions and without building the name: every alert derives one.
        let mut hash = Sha1::new()
            .chain_update(NAMESPACE.as_bytes())
            .chain_update(adapter)
            .chain_update("\n")
            .chain_update(fund_id.as_str())
            .chain_update("\n")
            .chain_update(key.as_str());
        if let Some(tag) = tag {
            hash = hash.chain_update("\n").chain_update(tag);
        }
        let digest = hash.finalize();
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(uuid::Builder::from_sha1_bytes(bytes).into_uuid())
    }

    /// Returns the UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// Reads a hyphenated UUID (as stored); whether it derives from an alert is the caller's check.
    pub fn parse(text: &str) -> Result<Self, uuid::Error> {
        Uuid::parse_str(text).map(Self)
    }

    /// Wraps a UUID read back from storage.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl Serialize for ClientOrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_the_documented_derivation() {
        let derived = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:mts1b:inbound:client-order-id");
        assert_eq!(
            NAMESPACE,
            derived,
            "NAMESPACE must be {:?}",
            derived.as_bytes()
        );
    }

    #[test]
    fn any_change_of_the_alert_makes_a_new_id() {
        // That the same alert gets the same id is `id_is_pinned_across_releases` below.
        let fund = FundId::parse("paper-tv-test").unwrap();
        let key = IdempotencyKey::parse("k-1").unwrap();
        let id = ClientOrderId::derive("tradingview", &fund, &key);
        assert_eq!(id.as_uuid().get_version_num(), 5);
        let other_key = IdempotencyKey::parse("k-2").unwrap();
        let other_fund = FundId::parse("paper-tv-test2").unwrap();
        assert_ne!(id, ClientOrderId::derive("tradingview", &fund, &other_key));
        assert_ne!(id, ClientOrderId::derive("slack", &fund, &key));
        assert_ne!(id, ClientOrderId::derive("tradingview", &other_fund, &key));
    }

    #[test]
    fn id_is_pinned_across_releases() {
        // The OMS may store these ids: a change here is a breaking change of the contract.
        let fund = FundId::parse("paper-tv-test").unwrap();
        let key = IdempotencyKey::parse("tv_breakout_v1-Long-2024-03-01T12:34:56Z").unwrap();
        // Computed independently with Python's uuid.uuid5 over the documented name.
        assert_eq!(
            ClientOrderId::derive("tradingview", &fund, &key).to_string(),
            "d63050e2-238f-5d4f-9bf6-ebc03f473ba3"
        );
    }

    #[test]
    fn a_submit_keeps_its_id_and_a_tagged_kind_gets_its_own() {
        let fund = FundId::parse("paper-tv-test").unwrap();
        let key = IdempotencyKey::parse("k-1").unwrap();
        assert_eq!(
            ClientOrderId::derive_for(IntentKind::Submit, "slack", &fund, &key),
            ClientOrderId::derive("slack", &fund, &key)
        );
        // Every later kind appends its name (`IntentKind::id_tag`).
        let tagged = ClientOrderId::derive_for(IntentKind::Cancel, "slack", &fund, &key);
        assert_ne!(tagged, ClientOrderId::derive("slack", &fund, &key));
        assert_eq!(
            tagged.as_uuid(),
            Uuid::new_v5(&NAMESPACE, b"slack\npaper-tv-test\nk-1\ncancel")
        );
        for (kind, name) in [
            (
                IntentKind::Replace,
                &b"slack\npaper-tv-test\nk-1\nreplace"[..],
            ),
            (
                IntentKind::CancelAll,
                b"slack\npaper-tv-test\nk-1\ncancel_all",
            ),
        ] {
            let id = ClientOrderId::derive_for(kind, "slack", &fund, &key);
            assert_eq!(id.as_uuid(), Uuid::new_v5(&NAMESPACE, name));
        }
    }

    proptest::proptest! {
        #[test]
        fn derives_what_uuid_v5_of_the_documented_name_is(
            adapter in "[a-z]{1,12}",
            fund in "[a-z0-9][a-z0-9-]{0,40}",
            key in "[ -~]{1,128}",
        ) {
            let (Ok(fund), Ok(key)) = (FundId::parse(&fund), IdempotencyKey::parse(&key)) else {
                return Ok(());
            };
            let name = format!("{adapter}\n{fund}\n{key}");
            proptest::prop_assert_eq!(
                ClientOrderId::derive(&adapter, &fund, &key).as_uuid(),
                Uuid::new_v5(&NAMESPACE, name.as_bytes())
            );
        }
    }
}
