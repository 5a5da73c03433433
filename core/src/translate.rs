//! The stateless steps of one request, in SPEC §6 order: parse → authenticate → (the caller's
//! stateful gates) → normalize (symbology) → envelope.
//!
//! There is one copy of them. The runtime's pipeline passes its rate limit and replay window as
//! the [`Gates`]; `validate`, the fixture corpus and the fuzz target pass [`NoGates`], so what
//! they check is exactly what the service answers, with the same code and the same rejection.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use crate::adapter::{InboundAdapter, authenticate_verified};
use crate::fund::FundPolicy;
use crate::ids::{FundId, IdempotencyKey};
use crate::order::Intent;
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
    /// The fund it trades for.
    pub fund: &'a FundId,
    /// That fund's policy.
    pub policy: &'a FundPolicy,
    /// The sender's idempotency key, when the source has one.
    pub key: Option<&'a IdempotencyKey>,
    /// True when the fund's previous secret proved it (a rotation's grace).
    pub previous_secret: bool,
}

/// The stateful gates between authentication and normalization (rate limit, replay window).
pub trait Gates {
    /// What passing them yields (the replay claim, held until the order is recorded).
    type Pass;

    /// Admits one authenticated request, or refuses it.
    fn admit(&mut self, admission: Admission<'_>) -> Result<Self::Pass, Rejection>;
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
}

/// Runs one request through its adapter, the stateful `gates` and the fund's envelope.
///
/// A fund must be configured to trade: an authenticated principal whose fund is not in `funds`
/// is answered `unauthorized`, like an unknown fund (SPEC §5), and so is an intent for another
/// fund than the one the principal proved. The gates run as soon as the fund is known: right
/// after authentication when the credential names the fund (TradingView), else right after
/// normalize, on the intent's fund and key (header-signed sources prove an app, not a fund), so
/// no path reaches the envelope without passing them.
pub fn translate<A, F, G>(
    adapter: &A,
    req: &RawRequest,
    secrets: &dyn SecretSource,
    funds: &F,
    gates: &mut G,
) -> Result<Translated<G::Pass>, Rejection>
where
    A: InboundAdapter + ?Sized,
    F: Funds + ?Sized,
    G: Gates,
{
    // A header-signed request is proven on its raw bytes first: a forged one is 401 unread.
    adapter.verify(req, secrets)?;
    let payload = adapter.parse(req)?;
    let alert = authenticate_verified(adapter, req, payload, secrets)?;
    let proven = alert.principal().fund_id.clone();
    let previous_secret = alert.principal().previous_secret;
    let early = match &proven {
        Some(fund) => {
            let policy = funds.policy(fund).ok_or(Rejection::Unauthorized)?;
            let key = adapter.idempotency_key(alert.payload());
            Some(gates.admit(Admission {
                adapter: adapter.name(),
                fund,
                policy,
                key,
                previous_secret,
            })?)
        }
        None => None,
    };
    let intent = adapter.normalize(alert)?;
    let Intent::Submit(order) = &intent;
    if proven.as_ref().is_some_and(|fund| *fund != order.fund_id) {
        return Err(Rejection::Unauthorized);
    }
    let policy = funds
        .policy(&order.fund_id)
        .ok_or(Rejection::Unauthorized)?;
    let pass = match early {
        Some(pass) => pass,
        None => gates.admit(Admission {
            adapter: adapter.name(),
            fund: &order.fund_id,
            policy,
            key: Some(&order.idempotency_key),
            previous_secret,
        })?,
    };
    policy.envelope.admit(order)?;
    Ok(Translated { intent, pass })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::adapter::{Authenticated, Principal};
    use crate::decimal::Quantity;
    use crate::envelope::Envelope;
    use crate::fund::{FundMap, RateLimit};
    use crate::secret::{FundSecrets, Secret, SecretLookup};
    use crate::testing::order;
    use crate::time::UnixMillis;

    /// A source whose body is `<proven fund or ->/<order fund>/<key>`, always authentic.
    #[derive(Default)]
    struct Toy {
        normalized: AtomicUsize,
    }

    impl InboundAdapter for Toy {
        type Payload = (Option<FundId>, String, IdempotencyKey);

        fn name(&self) -> &'static str {
            "toy"
        }

        fn idempotency_key<'a>(&self, p: &'a Self::Payload) -> Option<&'a IdempotencyKey> {
            Some(&p.2)
        }

        fn parse(&self, req: &RawRequest) -> Result<Self::Payload, Rejection> {
            let text = std::str::from_utf8(&req.body).map_err(|_| Rejection::invalid("b", "u"))?;
            let mut parts = text.split('/');
            let (proven, fund, key) = (parts.next(), parts.next(), parts.next());
            let proven = proven
                .filter(|p| *p != "-")
                .map(|p| FundId::parse(p).unwrap());
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
            Ok(Principal {
                adapter: "toy",
                fund_id: p.0.clone(),
                previous_secret: false,
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

    /// Records what it admitted; refuses fund `closed`.
    #[derive(Default)]
    struct Recorder(Vec<(String, Option<String>)>);

    impl Gates for Recorder {
        type Pass = usize;

        fn admit(&mut self, a: Admission<'_>) -> Result<usize, Rejection> {
            if a.fund.as_str() == "closed" {
                return Err(Rejection::RateLimited { retry_after_ms: 1 });
            }
            self.0
                .push((a.fund.to_string(), a.key.map(|k| k.to_string())));
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
        translate(toy, &req, &NoSecrets, funds, gates).map(|t| t.pass)
    }

    #[test]
    fn a_proven_fund_passes_the_gates_before_normalize() {
        let (toy, mut gates) = (Toy::default(), Recorder::default());
        let configured = funds(&["a", "closed"], "10");
        assert_eq!(run(&toy, &configured, &mut gates, "a/a/k1"), Ok(1));
        assert_eq!(gates.0, [("a".to_owned(), Some("k1".to_owned()))]);
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
        // Without a proven fund, the intent's fund must be configured too.
        assert_eq!(
            run(&toy, &configured, &mut gates, "-/b/k"),
            Err(Rejection::Unauthorized)
        );
        assert!(gates.0.is_empty());
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
    fn without_a_proven_fund_the_gates_run_on_the_intents_fund() {
        let (toy, mut gates) = (Toy::default(), Recorder::default());
        let configured = funds(&["a", "closed"], "10");
        assert_eq!(run(&toy, &configured, &mut gates, "-/a/k9"), Ok(1));
        assert_eq!(gates.0, [("a".to_owned(), Some("k9".to_owned()))]);
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
        let req = RawRequest::with_body("-/zzz/k", UnixMillis(0));
        assert!(matches!(
            translate(&toy, &req, &NoSecrets, &any, &mut NoGates),
            Err(Rejection::EnvelopeDenied { .. })
        ));
    }
}
