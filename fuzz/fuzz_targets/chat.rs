//! What the chat fuzz targets share: one fund every member may trade, the steps the service
//! runs (`core::translate`, no stateful gates), and the checks on what comes out.

use mts1b_inbound_core::{
    Decision, Envelope, FundId, FundMap, FundPolicy, InboundAdapter, Intent, NoGates, Quantity,
    RateLimit, RawRequest, SecretLookup, SecretSource, Translation, translate,
};

/// Chat sources hold no fund secret.
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn fund_secret(&self, _fund: &FundId) -> SecretLookup {
        SecretLookup::UnknownFund
    }
}

/// The fixtures' fund.
pub fn funds() -> FundMap<FundPolicy> {
    let policy = FundPolicy {
        envelope: Envelope::allow_any(Quantity::parse("1000").unwrap()),
        rate_limit: RateLimit { per_second: 10, burst: 10 },
    };
    FundMap::from_iter([(FundId::parse("paper-tv-test").unwrap(), policy)])
}

/// When the fuzzed requests are signed and received.
pub const NOW_SECS: i64 = 1_709_296_500;

/// Runs one request; whatever comes out renders, and an accepted order carries the request's
/// key and a positive quantity.
pub fn check<A: InboundAdapter>(adapter: &A, funds: &FundMap<FundPolicy>, request: &RawRequest) {
    match translate(adapter, request, &NoSecrets, funds, &mut NoGates) {
        Ok(Translation::Order(t)) => match &t.intent {
            Intent::Submit(order) => {
                assert!(order.quantity.value() > 0.into());
                let reply = adapter.render(&Decision::Submitted { order, order_id: "o-1" });
                let reply = reply.expect("an accepted order is told");
                serde_json::from_str::<serde_json::Value>(&reply).expect("a reply is JSON");
                // Every reply that accepts an order prints its key.
                assert!(reply.contains("Key: "), "{reply}");
                serde_json::to_string(order).unwrap();
            }
            // A modification serializes like any intent, and its reply prints its key too.
            modification => {
                serde_json::to_string(modification).unwrap();
                let reply = adapter.render(&Decision::Modified {
                    modification,
                    order_id: Some("o-1"),
                    detail: None,
                });
                let reply = reply.expect("an accepted modification is told");
                serde_json::from_str::<serde_json::Value>(&reply).expect("a reply is JSON");
                assert!(reply.contains("Key: "), "{reply}");
            }
        },
        Ok(Translation::Answered(body)) => {
            serde_json::from_str::<serde_json::Value>(&body).expect("an answer is JSON");
        }
        Err(rejection) => {
            if let Some(body) = adapter.render(&Decision::Refused { rejection: &rejection, intent: None }) {
                serde_json::from_str::<serde_json::Value>(&body).expect("a reply is JSON");
            }
        }
    }
}
