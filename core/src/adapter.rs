//! The adapter contract: what only a source knows (where its credential is, what its payload
//! means), leaving every shared gate to the runtime.

use crate::decision::{Decision, FollowUp};
use crate::grant::{Grants, Member};
use crate::ids::{FundId, IdempotencyKey};
use crate::modification::KnownOrders;
use crate::order::{Intent, IntentKind};
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
    /// The chat user who sent it (Slack team and user, Discord guild, user and roles), when the
    /// credential proves an app rather than a fund: the configuration's grants then say which
    /// funds and strategies this member may trade.
    pub member: Option<Member>,
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
/// The runtime calls `verify`, `parse`, then `authenticate` (through [`authenticate`]), then
/// `direct_answer` or `normalize`, with its own gates between them (SPEC §6), and finally
/// `render` on its decision. All three are synchronous and must be panic-free
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

    /// Returns the sender's key for this message, which the replay window guards (SPEC §6):
    /// every payload has one (TradingView's `idempotency_key`, Slack's `trigger_id`, Discord's
    /// interaction `id`), so no message passes without a claim on it. The intent must carry
    /// the same key.
    fn idempotency_key<'a>(&self, payload: &'a Self::Payload) -> &'a IdempotencyKey;

    /// Returns what the message asks for, known from the payload before normalize (it is part
    /// of the replay window's key); the intent `normalize` returns must be of this kind.
    /// Every message asks for a new order until modifications exist (SPEC §13).
    fn intent_kind(&self, _payload: &Self::Payload) -> IntentKind {
        IntentKind::Submit
    }

    /// Which funds and strategies each chat member may trade (`adapters.<name>.principals`).
    /// Sources whose credential names the fund (TradingView) have none: the default, empty.
    fn grants(&self) -> &Grants {
        Grants::none()
    }

    /// Answers an authenticated request that asks for no order (a Discord PING, `/order help`)
    /// with a body the runtime sends as HTTP 200, or `None` to go on to the gates and
    /// `normalize`. Runs right after authentication: nothing is rate limited or recorded.
    fn direct_answer(&self, _payload: &Self::Payload) -> Option<String> {
        None
    }

    /// Where the platform takes a later message about this request, if it does: read before
    /// normalize, kept by the runtime for an order that is still queued when it answers.
    fn follow_up(&self, _payload: &Self::Payload) -> Option<FollowUp> {
        None
    }

    /// Renders how a queued order settled (`Submitted`, or `Refused` with the OMS's reason or
    /// the expiry) as the body of the follow-up message; `None` sends none.
    fn render_follow_up(&self, _decision: &Decision<'_>) -> Option<String> {
        None
    }

    /// Renders the runtime's decision on an authenticated request for the platform, as a body
    /// the runtime sends with HTTP 200 (Slack's ephemeral message, Discord's interaction
    /// response); `None`, the default, answers as SPEC §2 says (TradingView). Statuses stay
    /// the runtime's: an adapter can only turn an outcome into a 200.
    fn render(&self, _decision: &Decision<'_>) -> Option<String> {
        None
    }

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

    /// As [`InboundAdapter::normalize`], with the orders the bridge has recorded at hand: a
    /// source whose modifications may name only the target's key (a chat `/order cancel KEY`)
    /// reads the target's strategy and symbol there. The default ignores them.
    fn normalize_with(
        &self,
        alert: Authenticated<Self::Payload>,
        _orders: &dyn KnownOrders,
    ) -> Result<Intent, Rejection> {
        self.normalize(alert)
    }
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

/// The principal of a header-signed request (Slack, Discord): the app's signature proved the
/// platform; the member is who the platform says sent it.
pub fn member_principal(adapter: &'static str, member: Member) -> Principal {
    Principal {
        adapter,
        fund_id: None,
        previous_secret: false,
        member: Some(member),
    }
}
