//! The whole TradingView translation of one body: parse, authenticate, normalize, envelope,
//! through `core::translate`, the very steps the service's pipeline runs (without its stateful
//! gates). Any panic, abort, timeout or unbounded allocation is a finding; so is an accepted
//! intent that echoes the secret, or a modification that does not read back as written.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use mts1b_inbound_adapters::tradingview::TradingView;
use mts1b_inbound_core::{
    Envelope, FundId, FundMap, FundPolicy, FundSecrets, Intent, NoGates, Quantity, RateLimit, RawRequest,
    Rejection, Secret, SecretLookup, SecretSource, StoredModification, UnixMillis, translate,
};

/// One fund, one secret.
struct OneFund(FundId, Arc<FundSecrets>);

impl SecretSource for OneFund {
    fn fund_secret(&self, fund: &FundId) -> SecretLookup {
        if *fund == self.0 { SecretLookup::Found(self.1.clone()) } else { SecretLookup::UnknownFund }
    }
}

struct World {
    adapter: TradingView,
    secrets: OneFund,
    funds: FundMap<FundPolicy>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    // The fixtures' fund and secret, so seeds from the corpus reach normalize and the envelope.
    let fund = FundId::parse("paper-tv-test").unwrap();
    let mut envelope = Envelope::allow_any(Quantity::parse("1000").unwrap());
    envelope.max_alert_age_ms = Some(30_000);
    let policy = FundPolicy { envelope, rate_limit: RateLimit { per_second: 10, burst: 10 } };
    World {
        adapter: TradingView::default(),
        secrets: OneFund(fund.clone(), Arc::new(FundSecrets::new(Secret::new(SECRET)))),
        funds: FundMap::from_iter([(fund, policy)]),
    }
});

const SECRET: &str = "paper-secret";

/// How often the secret's text occurs in the decoded string values of fields other than `secret`.
fn written_outside_secret(body: &[u8]) -> usize {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) else {
        return 0;
    };
    fields
        .iter()
        .filter(|(name, _)| name.as_str() != "secret")
        .filter_map(|(_, value)| value.as_str())
        .map(|s| s.matches(SECRET).count())
        .sum()
}

fn run(world: &World, request: &RawRequest) -> Result<Intent, Rejection> {
    translate(&world.adapter, request, &world.secrets, &world.funds, &mut NoGates).and_then(|t| t.into_order())
}

fuzz_target!(|body: &[u8]| {
    let world = &*WORLD;
    let request = RawRequest::with_body(body, UnixMillis(1_709_296_500_000));
    match run(world, &request) {
        Ok(Intent::Submit(order)) => {
            // An accepted order serializes, carries a positive quantity, and never echoes the
            // secret: its text may appear in the output only as often as the sender wrote it in
            // other fields.
            let text = serde_json::to_string(&order).unwrap();
            let echoed = text.matches(SECRET).count();
            assert!(echoed <= written_outside_secret(body), "secret echoed: {text}");
            assert!(order.quantity.value() > 0.into());
        }
        Ok(modification) => {
            // A cancel, replace or cancel-all (SPEC §13) never echoes the secret either, and
            // reads back exactly as the store will write it.
            let text = serde_json::to_string(&modification).unwrap();
            let echoed = text.matches(SECRET).count();
            assert!(echoed <= written_outside_secret(body), "secret echoed: {text}");
            let back: StoredModification = serde_json::from_str(&text).unwrap();
            assert_eq!(back.0, modification, "a modification reads back as written");
        }
        Err(_) => {}
    }
});
