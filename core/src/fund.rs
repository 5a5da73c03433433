//! What the bridge knows of one fund besides its secret: its envelope and its rate limit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

use crate::envelope::Envelope;
use crate::ids::FundId;

/// A map keyed by configured funds, looked up on every alert.
///
/// Its keys come from configuration, never from requests: a request only looks a fund up, and a
/// lookup's cost is bounded by the probe chains the configured funds made, whatever name the
/// request sends. So the hash need not be keyed against collision flooding (std's SipHash cost
/// ~160 instructions a lookup, four lookups per alert) and FNV-1a serves. Never use it for a map
/// that requests insert into.
pub type FundMap<V> = HashMap<FundId, V, BuildHasherDefault<FundHasher>>;

/// FNV-1a, 64 bits: a multiply per byte, for the short names funds have.
#[derive(Clone, Copy, Debug)]
pub struct FundHasher(u64);

impl Default for FundHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FundHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A token-bucket rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// Sustained alerts per second (at least 1).
    pub per_second: u32,
    /// Alerts allowed at once above the sustained rate (at least 1).
    pub burst: u32,
}

/// One configured fund's policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FundPolicy {
    /// What the fund allows.
    pub envelope: Envelope,
    /// How fast its authenticated alerts may arrive.
    pub rate_limit: RateLimit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_vectors() {
        // From the FNV reference test suite (Fowler, Noll, Vo: "FNV-1a 64-bit").
        let hash = |text: &[u8]| {
            let mut h = FundHasher::default();
            h.write(text);
            h.finish()
        };
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_fund_map_finds_every_configured_fund_and_nothing_else() {
        let funds: FundMap<usize> = (0..10_000)
            .map(|i| (FundId::parse(&format!("fund-{i}")).unwrap(), i))
            .collect();
        for i in 0..10_000 {
            assert_eq!(
                funds.get(&FundId::parse(&format!("fund-{i}")).unwrap()),
                Some(&i)
            );
        }
        assert_eq!(funds.get(&FundId::parse("fund-10000").unwrap()), None);
    }
}
