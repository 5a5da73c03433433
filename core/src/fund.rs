//! What the bridge knows of one fund besides its secret: its envelope and its rate limit.

use std::collections::HashMap;

use serde::Serialize;

use crate::envelope::Envelope;
use crate::ids::FundId;

/// A map keyed by configured funds, looked up on every alert (four lookups per alert).
///
/// Hashed with foldhash, seeded per process: std's SipHash cost ~160 instructions a lookup
/// (BENCHMARKS.md), and foldhash is a kept crate several times faster that is still seeded, so
/// no request can predict its collisions (the keys come from configuration anyway: requests only
/// look funds up).
pub type FundMap<V> = HashMap<FundId, V, foldhash::fast::RandomState>;

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
