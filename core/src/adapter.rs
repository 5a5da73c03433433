//! The adapter contract: what only a source knows (where its credential is, what its payload
//! means), leaving every shared gate to the runtime.

use crate::ids::{FundId, IdempotencyKey};
use crate::order::Intent;
use crate::rejection::Rejection;
use crate::request::RawRequest;
use crate::secret::SecretSource;
use crate::time::UnixMillis;

/// Who an authenticated request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The adapter that authenticated it.
    pub adapter: &'static str,
    /// The fund the credential belongs to, when the credential itself names one (a TradingView
    /// body secret). Header-signed sources (Slack, Discord) prove the app, not a fund.
    pub fund_id: Option<FundId>,
    /// True when the fund's previous secret proved it, during a rotation's grace (counted, so
    /// operators know when the grace can end).
    pub previous_secret: bool,
}

/// A payload whose sender has been proven. Only [`authenticate`] makes one, so only an
/// authenticated payload can reach [`InboundAdapter::normalize`].
#[derive(Debug)]
pub struct Authenticated<P> {
    principal: Principal,
    payload: P,
    received_at: UnixMillis,
}

impl<P> Authenticated<P> {
    /// Returns who sent it.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Returns the payload.
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// Returns when the bridge received it.
    pub fn received_at(&self) -> UnixMillis {
        self.received_at
    }

    /// Splits into who sent it and what they sent.
    pub fn into_parts(self) -> (Principal, P) {
        (self.principal, self.payload)
    }
}

/// One inbound source: TradingView webhooks, Slack or Discord commands.
///
/// The runtime calls `parse`, then `authenticate` (through [`authenticate`]), then `normalize`,
/// with its own gates between them (SPEC §6). All three are synchronous and must be panic-free
/// on any input: they do no I/O (secret sources answer from memory).
pub trait InboundAdapter: Send + Sync + 'static {
    /// The strictly parsed, not yet authenticated payload.
    type Payload: Send;

    /// Returns the route segment, metric prefix source and client order id namespace
    /// (`tradingview`).
    fn name(&self) -> &'static str;

    /// Returns the prefix of this adapter's metric names (`tv` for TradingView); the name by
    /// default.
    fn metric_prefix(&self) -> &'static str {
        self.name()
    }

    /// Returns the sender's key for this message, which the replay window guards (SPEC §6), or
    /// `None` for a source that has none yet. Called after authentication, before normalize.
    fn idempotency_key<'a>(&self, payload: &'a Self::Payload) -> Option<&'a IdempotencyKey>;

    /// Checks, on the raw request and before anything parses its body, what proves it came from
    /// the source: a header signature over the raw bytes (Slack, Discord). A request that fails
    /// is `unauthorized` without its body ever being read. Sources that prove themselves inside
    /// the body (TradingView's secret) have nothing to check here, the default.
    fn verify(&self, _req: &RawRequest, _secrets: &dyn SecretSource) -> Result<(), Rejection> {
        Ok(())
    }

    /// Parses the raw bytes strictly and boundedly into a payload, or says precisely why not.
    /// Runs only after [`InboundAdapter::verify`] accepted the request.
    fn parse(&self, req: &RawRequest) -> Result<Self::Payload, Rejection>;

    /// Proves who sent the request. Body-secret sources read the credential from the parsed
    /// payload; header-signature sources verify the raw bytes and a timestamp. Every failure is
    /// [`Rejection::Unauthorized`] (or `Unavailable` when the secrets are not loaded).
    fn authenticate(
        &self,
        req: &RawRequest,
        payload: &Self::Payload,
        secrets: &dyn SecretSource,
    ) -> Result<Principal, Rejection>;

    /// Turns an authenticated payload into a canonical intent (symbology, defaults, cross-field
    /// rules).
    fn normalize(&self, alert: Authenticated<Self::Payload>) -> Result<Intent, Rejection>;
}

/// Authenticates a parsed payload with its adapter, raw-request check
/// ([`InboundAdapter::verify`]) included; with `core::translate`, the only way to obtain
/// [`Authenticated`].
pub fn authenticate<A: InboundAdapter + ?Sized>(
    adapter: &A,
    req: &RawRequest,
    payload: A::Payload,
    secrets: &dyn SecretSource,
) -> Result<Authenticated<A::Payload>, Rejection> {
    adapter.verify(req, secrets)?;
    authenticate_verified(adapter, req, payload, secrets)
}

/// [`authenticate`] for a request whose [`InboundAdapter::verify`] already passed (the
/// translator runs it before parsing, so the body of a forged request is never read).
pub(crate) fn authenticate_verified<A: InboundAdapter + ?Sized>(
    adapter: &A,
    req: &RawRequest,
    payload: A::Payload,
    secrets: &dyn SecretSource,
) -> Result<Authenticated<A::Payload>, Rejection> {
    let principal = adapter.authenticate(req, &payload, secrets)?;
    Ok(Authenticated {
        principal,
        payload,
        received_at: req.received_at,
    })
}
