//! The translation steps of one alert, in SPEC §6 order, without the stateful gates between
//! them: parse → authenticate → normalize (symbology) → envelope.

use std::collections::BTreeMap;

use mts1b_inbound_core::{
    Envelope, FundId, InboundAdapter, Intent, RawRequest, Rejection, SecretSource, authenticate,
};

/// Where the envelope of each fund is found.
pub trait FundEnvelopes {
    /// Returns the envelope of `fund`, if it is configured.
    fn envelope(&self, fund: &FundId) -> Option<&Envelope>;
}

impl FundEnvelopes for BTreeMap<FundId, Envelope> {
    fn envelope(&self, fund: &FundId) -> Option<&Envelope> {
        self.get(fund)
    }
}

/// Runs one request through its adapter and the fund's envelope.
///
/// An authenticated fund without an envelope is denied rather than waved through: a secret
/// source that knows more funds than the configuration is a misconfiguration, not a licence.
pub fn translate<A: InboundAdapter + ?Sized>(
    adapter: &A,
    req: &RawRequest,
    secrets: &dyn SecretSource,
    envelopes: &dyn FundEnvelopes,
) -> Result<Intent, Rejection> {
    let payload = adapter.parse(req)?;
    let alert = authenticate(adapter, req, payload, secrets)?;
    let intent = adapter.normalize(alert)?;
    match &intent {
        Intent::Submit(order) => envelopes
            .envelope(&order.fund_id)
            .ok_or_else(|| Rejection::denied("fund has no envelope configured"))?
            .admit(order)?,
    }
    Ok(intent)
}
