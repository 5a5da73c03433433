//! The whole TradingView translation of one body: parse, authenticate, normalize, envelope
//! (the runtime's translate steps, here on `core` and `adapters` alone so the fuzz build stays
//! small). Any panic, abort, timeout or unbounded allocation is a finding.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use mts1b_inbound_adapters::tradingview::TradingView;
use mts1b_inbound_core::{
    Envelope, FundId, InboundAdapter, Intent, Quantity, RawRequest, Rejection, Secret,
    SecretLookup, SecretSource, UnixMillis, authenticate,
};

/// One fund, one secret.
struct OneFund(FundId, Arc<Secret>);

impl SecretSource for OneFund {
    fn fund_secret(&self, fund: &FundId) -> SecretLookup {
        if *fund == self.0 { SecretLookup::Found(self.1.clone()) } else { SecretLookup::UnknownFund }
    }
}

struct World {
    adapter: TradingView,
    secrets: OneFund,
    envelope: Envelope,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    // The fixtures' fund and secret, so seeds from the corpus reach normalize and the envelope.
    let fund = FundId::parse("paper-tv-test").unwrap();
    let mut envelope = Envelope::allow_any(Quantity::parse("1000").unwrap());
    envelope.max_alert_age_ms = Some(30_000);
    World {
        adapter: TradingView::default(),
        secrets: OneFund(fund, Arc::new(Secret::new(SECRET))),
        envelope,
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

fn translate(world: &World, request: &RawRequest) -> Result<Intent, Rejection> {
    let payload = world.adapter.parse(request)?;
    let alert = authenticate(&world.adapter, request, payload, &world.secrets)?;
    let intent = world.adapter.normalize(alert)?;
    let Intent::Submit(order) = &intent;
    world.envelope.admit(order)?;
    Ok(intent)
}

fuzz_target!(|body: &[u8]| {
    let world = &*WORLD;
    let request = RawRequest::with_body(body, UnixMillis(1_709_296_500_000));
    if let Ok(Intent::Submit(order)) = translate(world, &request) {
        // An accepted order serializes, carries a positive quantity, and never echoes the secret:
        // its text may appear in the output only as often as the sender wrote it in other fields.
        let text = serde_json::to_string(&order).unwrap();
        let echoed = text.matches(SECRET).count();
        assert!(echoed <= written_outside_secret(body), "secret echoed: {text}");
        assert!(order.quantity.value() > 0.into());
    }
});
