//! The stateless steps of one request, in SPEC §6 order: parse → authenticate → (the caller's
//! stateful gates) → normalize (symbology) → envelope.
//!
//! There is one copy of them. The runtime's pipeline passes its rate limit and replay window as
//! the [`Gates`]; `validate`, the fixture corpus and the fuzz target pass [`NoGates`], so what
//! they check is exactly what the service answers, with the same code and the same rejection.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::BuildHasher;
use std::task::{Context, Poll, Waker};

use crate::adapter::{InboundAdapter, authenticate_verified};
use crate::decision::FollowUp;
use crate::fund::FundPolicy;
use crate::grant::Member;
use crate::ids::{FundId, IdempotencyKey};
use crate::modification::{KnownOrders, NoKnownOrders};
use crate::order::{Intent, IntentKind};
use crate::rejection::Rejection;
use crate::request::RawRequest;
use crate::secret::SecretSource;

/// Where the policy of each configured fund is found.
pub trait Funds {
    /// Returns the policy of `fund`, or `None` when it is not configured.
    fn policy(&self, fund: &FundId) -> Option<&FundPolicy>;
}

impl<S: BuildHasher> Funds for HashMap<FundId, FundPolicy, S> {
    fn policy(&self, fund: &FundId) -> Option<&FundPolicy> {
        self.get(fund)
    }
}

impl Funds for BTreeMap<FundId, FundPolicy> {
    fn policy(&self, fund: &FundId) -> Option<&FundPolicy> {
        self.get(fund)
    }
}

/// Every fund is configured, with this one policy: for offline tools that have no
/// configuration (`validate` without `--config`), never for the service.
#[derive(Clone, Debug)]
pub struct AnyFund(pub FundPolicy);

impl Funds for AnyFund {
    fn policy(&self, _fund: &FundId) -> Option<&FundPolicy> {
        Some(&self.0)
    }
}

/// What the stateful gates see of an authenticated request for a configured fund.
#[derive(Clone, Copy, Debug)]
pub struct Admission<'a> {
    /// The adapter that authenticated it.
    pub adapter: &'static str,
    /// What the message asks for: part of the replay window's key.
    pub kind: IntentKind,
    /// The fund it trades for.
    pub fund: &'a FundId,
    /// That fund's policy.
    pub policy: &'a FundPolicy,
    /// The sender's idempotency key: every message has one.
    pub key: &'a IdempotencyKey,
    /// True when the fund's previous secret proved it (a rotation's grace).
    pub previous_secret: bool,
}

/// The stateful gates between authentication and normalization (rate limits, replay window).
pub trait Gates {
    /// What passing them yields (the replay claim, held until the order is recorded).
    type Pass;

    /// Admits a chat member as soon as the platform's signature names it, before its command
    /// is read (the per-principal rate limit: one chatty user cannot spend a fund's budget,
    /// nor the bridge's time on commands it would refuse). No gate by default.
    fn admit_member(&mut self, _adapter: &'static str, _member: &Member) -> Result<(), Rejection> {
        Ok(())
    }

    /// Admits one authenticated request once its fund is known, or refuses it.
    fn admit(&mut self, admission: Admission<'_>) -> Result<Self::Pass, Rejection>;

    /// The orders the bridge has recorded, for a modification that names only its target's
    /// key ([`InboundAdapter::normalize_with`]). None by default.
    fn known_orders(&self) -> &dyn KnownOrders {
        &NoKnownOrders
    }
}

/// The stateful gates, awaited: what a gate that asks another process answers (a replay window
/// or a rate limit shared by several replicas over NATS, SPEC §14). [`Gates`] are these with
/// nothing to wait for ([`translate`] runs them; [`translate_awaiting`] runs these).
pub trait AwaitedGates {
    /// What passing them yields.
    type Pass;

    /// As [`Gates::admit_member`].
    fn admit_member<'a>(
        &'a mut self,
        adapter: &'static str,
        member: &'a Member,
    ) -> impl Future<Output = Result<(), Rejection>> + 'a;

    /// As [`Gates::admit`].
    fn admit<'a>(
        &'a mut self,
        admission: Admission<'a>,
    ) -> impl Future<Output = Result<Self::Pass, Rejection>> + 'a;

    /// As [`Gates::known_orders`].
    fn known_orders(&self) -> &dyn KnownOrders;
}

/// Sync gates, as awaited ones that are always ready.
struct Ready<'g, G>(&'g mut G);

impl<G: Gates> AwaitedGates for Ready<'_, G> {
    type Pass = G::Pass;

    fn admit_member<'a>(
        &'a mut self,
        adapter: &'static str,
        member: &'a Member,
    ) -> impl Future<Output = Result<(), Rejection>> + 'a {
        std::future::ready(self.0.admit_member(adapter, member))
    }

    fn admit<'a>(
        &'a mut self,
        admission: Admission<'a>,
    ) -> impl Future<Output = Result<Self::Pass, Rejection>> + 'a {
        std::future::ready(self.0.admit(admission))
    }

    fn known_orders(&self) -> &dyn KnownOrders {
        self.0.known_orders()
    }
}

/// No stateful gate: offline translation (`validate`, fixtures, fuzzing).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoGates;

impl Gates for NoGates {
    type Pass = ();

    fn admit(&mut self, _admission: Admission<'_>) -> Result<(), Rejection> {
        Ok(())
    }
}

/// An intent that passed every step, with what the gates gave for it.
#[derive(Debug)]
pub struct Translated<P> {
    /// The canonical intent.
    pub intent: Intent,
    /// What the gates yielded.
    pub pass: P,
    /// Where the platform takes a later message about it ([`InboundAdapter::follow_up`]).
    pub follow_up: Option<FollowUp>,
}

/// What became of a request that was not refused.
#[derive(Debug)]
// The order is the hot path and lives on the stack for a moment: boxing it would cost every
// alert an allocation to save a PING a few bytes.
#[allow(clippy::large_enum_variant)]
pub enum Translation<P> {
    /// An intent for the sink.
    Order(Translated<P>),
    /// The adapter answered it without an order ([`InboundAdapter::direct_answer`]: a Discord
    /// PING, `/order help`): a body for an HTTP 200.
    Answered(String),
}

impl<P> Translation<P> {
    /// Returns the intent, if the request asked for one.
    pub fn into_intent(self) -> Option<Intent> {
        match self {
            Translation::Order(t) => Some(t.intent),
            Translation::Answered(_) => None,
        }
    }

    /// Returns the intent, for callers that want an order or a reason (`validate`, the
    /// fixtures): a direct answer is refused as not an order.
    pub fn into_order(self) -> Result<Intent, Rejection> {
        self.into_intent()
            .ok_or_else(|| Rejection::invalid("body", "answered without an order"))
    }
}

/// Who proved a request, as `translate` carries it across normalize.
enum Proven<'f, P> {
    /// The credential named the fund: its gates passed, with its policy.
    Fund { pass: P, policy: &'f FundPolicy },
    /// A chat member, with the message's key: the gates run on the intent's fund.
    Member { member: Member, key: IdempotencyKey },
}

/// Runs one request through its adapter, the stateful `gates` and the fund's envelope.
///
/// Every path ends with a fund the configuration grants the principal, or a refusal:
/// - a credential that names its fund (TradingView's secret): the fund must be configured
///   (else `unauthorized`, like an unknown fund, SPEC §5) and the intent must be for it; the
///   gates run right after authentication, before normalize;
/// - a chat member (Slack, Discord): one no grant names is `not_permitted` at once; else the
///   member gate runs right after authentication; after
///   normalize, one of the adapter's grants must let the member trade the intent's fund and
///   strategy (else `not_permitted`, which names no fund), then the gates run on it;
/// - anything else is `unauthorized`.
///
/// Either way the gates see the message's idempotency key, so no path passes without a
/// rate limit and a replay claim.
pub fn translate<A, F, G>(
    adapter: &A,
    req: &RawRequest,
    secrets: &dyn SecretSource,
    funds: &F,
    gates: &mut G,
) -> Result<Translation<G::Pass>, Rejection>
where
    A: InboundAdapter + ?Sized,
    F: Funds + ?Sized,
    G: Gates,
{
    let mut ready = Ready(gates);
    let translation = std::pin::pin!(translate_awaiting(adapter, req, secrets, funds, &mut ready));
    match translation.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(translated) => translated,
        // Never: sync gates answer at once, and nothing else in a translation waits.
        Poll::Pending => Err(Rejection::Unavailable {
            reason: "a translation waited on a sync gate",
        }),
    }
}

/// [`translate`] with gates that are awaited (the runtime's, which may ask NATS): the same
/// steps in the same order, the one copy of them.
pub async fn translate_awaiting<A, F, G>(
    adapter: &A,
    req: &RawRequest,
    secrets: &dyn SecretSource,
    funds: &F,
    gates: &mut G,
) -> Result<Translation<G::Pass>, Rejection>
where
    A: InboundAdapter + ?Sized,
    F: Funds + ?Sized,
    G: AwaitedGates,
{
    // A header-signed request is proven on its raw bytes first: a forged one is 401 unread.
    adapter.verify(req, secrets)?;
    let payload = adapter.parse(req)?;
    let alert = authenticate_verified(adapter, req, payload, secrets)?;
    if let Some(body) = adapter.direct_answer(alert.payload()) {
        return Ok(Translation::Answered(body));
    }
    let principal = alert.principal().clone();
    let kind = adapter.intent_kind(alert.payload());
    // Who proved the request: a fund (its gates already passed) or a chat member (its gates
    // run once normalize names the fund).
    let proven = match (&principal.fund_id, principal.member) {
        (Some(fund), _) => {
            let policy = funds.policy(fund).ok_or(Rejection::Unauthorized)?;
            let pass = gates
                .admit(Admission {
                    adapter: adapter.name(),
                    kind,
                    fund,
                    policy,
                    key: adapter.idempotency_key(alert.payload()),
                    previous_secret: principal.previous_secret,
                })
                .await?;
            Proven::Fund { pass, policy }
        }
        (None, Some(member)) => {
            // A member no grant names is refused before its command is read, and before the
            // member gate keeps a budget for it: only granted members can grow that table.
            if !adapter.grants().names(&member) {
                return Err(Rejection::NotPermitted);
            }
            gates.admit_member(adapter.name(), &member).await?;
            let key = adapter.idempotency_key(alert.payload()).clone();
            Proven::Member { member, key }
        }
        (None, None) => return Err(Rejection::Unauthorized),
    };
    let follow_up = adapter.follow_up(alert.payload());
    let intent = adapter.normalize_with(alert, gates.known_orders())?;
    if intent.kind() != kind {
        return Err(Rejection::invalid(
            "intent",
            "the message and its intent disagree on what it asks for",
        ));
    }
    let (fund_id, strategy_id) = (intent.fund_id(), intent.strategy_id());
    let (pass, policy) = match proven {
        Proven::Fund { pass, policy } => {
            if principal.fund_id.as_ref() != Some(fund_id) {
                return Err(Rejection::Unauthorized);
            }
            (pass, policy)
        }
        Proven::Member { member, key } => {
            if !adapter.grants().permit(&member, fund_id, strategy_id) {
                return Err(Rejection::NotPermitted);
            }
            if *intent.idempotency_key() != key {
                return Err(Rejection::invalid(
                    "idempotency_key",
                    "the intent does not carry the message's key",
                ));
            }
            // A grant naming an unconfigured fund is refused at start-up; this is the backstop.
            let policy = funds.policy(fund_id).ok_or(Rejection::NotPermitted)?;
            let pass = gates
                .admit(Admission {
                    adapter: adapter.name(),
                    kind,
                    fund: fund_id,
                    policy,
                    key: &key,
                    previous_secret: false,
                })
                .await?;
            (pass, policy)
        }
    };
    // The envelope holds new orders, and a replace's new quantity to the same cap; a cancel is
    // never harmful, so no envelope rule stands in its way (SPEC §13).
    match &intent {
        Intent::Submit(order) => policy.envelope.admit(order)?,
        Intent::Replace(m) => {
            if let Some(quantity) = m.change.quantity {
                let r = &m.change;
                policy
                    .envelope
                    .admit_quantity(&r.symbol, r.instrument_class, quantity)?;
            }
        }
        Intent::Cancel(_) | Intent::CancelAll(_) => {}
    }
    Ok(Translation::Order(Translated {
        intent,
        pass,
        follow_up,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::adapter::{Authenticated, Principal, member_principal};
    use crate::decimal::Quantity;
    use crate::envelope::Envelope;
    use crate::fund::{FundMap, RateLimit};
    use crate::grant::{Grant, Grantee, Grants};
    use crate::ids::{PlatformId, StrategyId};
    use crate::secret::{FundSecrets, Secret, SecretLookup};
    use crate::testing::order;
    use crate::time::UnixMillis;

    /// A source whose body is `<who>/<order fund>/<key>`, always authentic: `who` is a proven
    /// fund, `-` for the chat member T1/U1 (granted funds `a` and `closed`), `?` for nobody.
    /// The body `ping` is answered directly.
    struct Toy {
        normalized: AtomicUsize,
        grants: Grants,
    }

    impl Default for Toy {
        fn default() -> Self {
            let grant = Grant {
                name: "desk".into(),
                workspace: PlatformId::parse("T1").unwrap(),
                grantee: Grantee::User(PlatformId::parse("U1").unwrap()),
                funds: ["a", "closed"]
                    .iter()
                    .map(|f| FundId::parse(f).unwrap())
                    .collect(),
                strategies: [StrategyId::parse("s").unwrap()].into(),
            };
            Self {
                normalized: AtomicUsize::new(0),
                grants: Grants::new(vec![grant]),
            }
        }
    }

    fn member() -> Member {
        Member {
            workspace: PlatformId::parse("T1").unwrap(),
            user: PlatformId::parse("U1").unwrap(),
            roles: Vec::new(),
        }
    }

    impl InboundAdapter for Toy {
        type Payload = (Option<Option<FundId>>, String, IdempotencyKey);

        fn name(&self) -> &'static str {
            "toy"
        }

        fn idempotency_key<'a>(&self, p: &'a Self::Payload) -> &'a IdempotencyKey {
            &p.2
        }

        fn grants(&self) -> &Grants {
            &self.grants
        }

        fn direct_answer(&self, p: &Self::Payload) -> Option<String> {
            (p.1 == "ping").then(|| "pong".to_owned())
        }

        fn parse(&self, req: &RawRequest) -> Result<Self::Payload, Rejection> {
            let text = std::str::from_utf8(&req.body).map_err(|_| Rejection::invalid("b", "u"))?;
            if text == "ping" {
                let key = IdempotencyKey::parse("ping").unwrap();
                return Ok((Some(None), "ping".into(), key));
            }
            let mut parts = text.split('/');
            let (proven, fund, key) = (parts.next(), parts.next(), parts.next());
            let proven = match proven.unwrap() {
                "-" => None,
                "?" => Some(None),
                fund => Some(Some(FundId::parse(fund).unwrap())),
            };
            Ok((
                proven,
                fund.unwrap().to_owned(),
                IdempotencyKey::parse(key.unwrap()).unwrap(),
            ))
        }

        fn authenticate(
            &self,
            _req: &RawRequest,
            p: &Self::Payload,
            _secrets: &dyn SecretSource,
        ) -> Result<Principal, Rejection> {
            Ok(match &p.0 {
                None => member_principal("toy", member()),
                Some(fund_id) => Principal {
                    adapter: "toy",
                    fund_id: fund_id.clone(),
                    previous_secret: false,
                    member: None,
                },
            })
        }

        fn normalize(&self, alert: Authenticated<Self::Payload>) -> Result<Intent, Rejection> {
            self.normalized.fetch_add(1, Ordering::Relaxed);
            let (_, (_, fund, key)) = alert.into_parts();
            Ok(Intent::Submit(order(&fund, key.as_str(), UnixMillis(0))))
        }
    }

    struct NoSecrets;

    impl SecretSource for NoSecrets {
        fn fund_secret(&self, _fund: &FundId) -> SecretLookup {
            SecretLookup::Found(Arc::new(FundSecrets::new(Secret::new("unused"))))
        }
    }

    /// Records what it admitted (members as `member T1/U1`); refuses fund `closed`.
    #[derive(Default)]
    struct Recorder(Vec<(String, String)>);

    impl Gates for Recorder {
        type Pass = usize;

        fn admit_member(&mut self, _adapter: &'static str, m: &Member) -> Result<(), Rejection> {
            self.0.push(("member".into(), m.key()));
            Ok(())
        }

        fn admit(&mut self, a: Admission<'_>) -> Result<usize, Rejection> {
            if a.fund.as_str() == "closed" {
                return Err(Rejection::RateLimited { retry_after_ms: 1 });
            }
            self.0.push((a.fund.to_string(), a.key.to_string()));
            Ok(self.0.len())
        }
    }

    fn funds(names: &[&str], max: &str) -> FundMap<FundPolicy> {
        names
            .iter()
            .map(|n| {
                let policy = FundPolicy {
                    envelope: Envelope::allow_any(Quantity::parse(max).unwrap()),
                    rate_limit: RateLimit {
                        per_second: 1,
                        burst: 1,
                    },
                };
                (FundId::parse(n).unwrap(), policy)
            })
            .collect()
    }

    fn run(
        toy: &Toy,
        funds: &FundMap<FundPolicy>,
        gates: &mut Recorder,
        body: &str,
    ) -> Result<usize, Rejection> {
        let req = RawRequest::with_body(body, UnixMillis(0));
        match translate(toy, &req, &NoSecrets, funds, gates)? {
            Translation::Order(t) => Ok(t.pass),
            Translation::Answered(body) => panic!("answered {body}"),
        }
    }

    #[test]
    fn a_proven_fund_passes_the_gates_before_normalize() {
        let (toy, mut gates) = (Toy::default(), Recorder::default());
        let configured = funds(&["a", "closed"], "10");
        assert_eq!(run(&toy, &configured, &mut gates, "a/a/k1"), Ok(1));
        assert_eq!(gates.0, [("a".to_owned(), "k1".to_owned())]);
        // Refused by the gates: normalize never runs.
        let refused = run(&toy, &configured, &mut gates, "closed/closed/k2");
        assert_eq!(refused, Err(Rejection::RateLimited { retry_after_ms: 1 }));
        assert_eq!(toy.normalized.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_unconfigured_fund_is_unauthorized_before_any_gate() {
        let (toy, mut gates) = (Toy::default(), Recorder::default());
        let configured = funds(&["a"], "10");
        assert_eq!(
            run(&toy, &configured, &mut gates, "b/b/k"),
            Err(Rejection::Unauthorized)
        );
        assert!(gates.0.is_empty());
        assert_eq!(toy.normalized.load(Ordering::Relaxed), 0);
        // Neither a proven fund nor a member: nobody.
        assert_eq!(
            run(&toy, &configured, &mut gates, "?/a/k"),
            Err(Rejection::Unauthorized)
        );
        assert!(gates.0.is_empty());
        assert_eq!(toy.normalized.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_member_trades_only_what_a_grant_gives_it() {
        let (toy, mut gates) = (Toy::default(), Recorder::default());
        // `b` is configured but not granted; `c` neither: one answer for both.
        let configured = funds(&["a", "b"], "10");
        for body in ["-/b/k", "-/c/k"] {
            assert_eq!(
                run(&toy, &configured, &mut gates, body),
                Err(Rejection::NotPermitted),
                "{body}"
            );
        }
        // The member gate ran for each; the fund's gates for neither.
        assert_eq!(gates.0.len(), 2);
        assert!(gates.0.iter().all(|(what, _)| what == "member"));
    }

    #[test]
    fn a_member_no_grant_names_is_refused_before_any_gate_or_normalize() {
        let toy = Toy {
            grants: Grants::default(),
            ..Toy::default()
        };
        let mut gates = Recorder::default();
        assert_eq!(
            run(&toy, &funds(&["a"], "10"), &mut gates, "-/a/k"),
            Err(Rejection::NotPermitted)
        );
        assert!(gates.0.is_empty(), "no budget kept for a stranger");
        assert_eq!(toy.normalized.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_direct_answer_passes_no_gate() {
        let (toy, mut gates) = (Toy::default(), Recorder::default());
        let req = RawRequest::with_body("ping", UnixMillis(0));
        let answered = translate(&toy, &req, &NoSecrets, &funds(&["a"], "1"), &mut gates);
        assert!(matches!(answered, Ok(Translation::Answered(body)) if body == "pong"));
        assert!(gates.0.is_empty());
        assert_eq!(toy.normalized.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_principal_cannot_trade_another_fund() {
        let (toy, mut gates) = (Toy::default(), Recorder::default());
        let configured = funds(&["a", "b"], "10");
        assert_eq!(
            run(&toy, &configured, &mut gates, "a/b/k"),
            Err(Rejection::Unauthorized)
        );
    }

    #[test]
    fn a_members_gates_run_on_the_intents_fund() {
        let (toy, mut gates) = (Toy::default(), Recorder::default());
        let configured = funds(&["a", "closed"], "10");
        assert_eq!(run(&toy, &configured, &mut gates, "-/a/k9"), Ok(2));
        assert_eq!(
            gates.0,
            [
                ("member".to_owned(), "T1/U1".to_owned()),
                ("a".to_owned(), "k9".to_owned())
            ]
        );
        assert_eq!(
            run(&toy, &configured, &mut gates, "-/closed/k"),
            Err(Rejection::RateLimited { retry_after_ms: 1 })
        );
    }

    #[test]
    fn the_envelope_judges_after_the_gates() {
        let (toy, mut gates) = (Toy::default(), Recorder::default());
        // The toy orders 1; this fund allows 0.5.
        let configured = funds(&["a"], "0.5");
        assert!(matches!(
            run(&toy, &configured, &mut gates, "a/a/k"),
            Err(Rejection::EnvelopeDenied { .. })
        ));
        assert_eq!(gates.0.len(), 1);
        // Offline, with every fund allowed: the same steps, no gate.
        let any = AnyFund(configured.values().next().unwrap().clone());
        let req = RawRequest::with_body("-/a/k", UnixMillis(0));
        assert!(matches!(
            translate(&toy, &req, &NoSecrets, &any, &mut NoGates),
            Err(Rejection::EnvelopeDenied { .. })
        ));
    }

    /// A gate that answers on its second poll, as one asking another process does.
    struct Later(Recorder);

    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();

        fn poll(mut self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                Poll::Pending
            }
        }
    }

    impl AwaitedGates for Later {
        type Pass = usize;

        async fn admit_member<'a>(
            &'a mut self,
            adapter: &'static str,
            member: &'a Member,
        ) -> Result<(), Rejection> {
            YieldOnce(false).await;
            self.0.admit_member(adapter, member)
        }

        async fn admit<'a>(&'a mut self, admission: Admission<'a>) -> Result<usize, Rejection> {
            YieldOnce(false).await;
            self.0.admit(admission)
        }

        fn known_orders(&self) -> &dyn KnownOrders {
            &NoKnownOrders
        }
    }

    #[test]
    fn awaited_gates_run_the_same_steps_in_the_same_order() {
        let (toy, mut gates) = (Toy::default(), Later(Recorder::default()));
        let configured = funds(&["a", "closed"], "10");
        let mut run = |body: &str| {
            let req = RawRequest::with_body(body, UnixMillis(0));
            let mut translation = std::pin::pin!(translate_awaiting(
                &toy,
                &req,
                &NoSecrets,
                &configured,
                &mut gates
            ));
            let mut polls = 0;
            loop {
                polls += 1;
                if let Poll::Ready(done) = translation
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                {
                    return (done.map(|t| t.into_intent().is_some()), polls);
                }
            }
        };
        assert_eq!(run("a/a/k1"), (Ok(true), 2));
        assert_eq!(run("-/a/k2"), (Ok(true), 3), "a member passes two gates");
        assert_eq!(
            run("closed/closed/k3"),
            (Err(Rejection::RateLimited { retry_after_ms: 1 }), 2)
        );
        // Refused at the gate: normalize ran for the two admitted only.
        assert_eq!(toy.normalized.load(Ordering::Relaxed), 2);
        assert_eq!(
            gates.0.0,
            [
                ("a".to_owned(), "k1".to_owned()),
                ("member".to_owned(), "T1/U1".to_owned()),
                ("a".to_owned(), "k2".to_owned())
            ]
        );
    }
}
