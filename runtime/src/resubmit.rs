//! An expired order sent again, on an operator's explicit action (SPEC §15): never the same
//! order late (SPEC §7 forbids it), but a new order with the same terms under a new key the
//! operator chooses, so a new client order id, received now. It passes the kill switch, the
//! fund's envelope as configured now (it may have been tightened since the order was taken),
//! the fund's rate limit and the replay window (the new key once), is recorded and delivered
//! like an alert, and shows among the recent alerts as its adapter's. The expired record stays
//! expired.

use std::borrow::Cow;
use std::time::Instant;

use mts1b_inbound_core::{
    ClientOrderId, FundId, IdempotencyKey, Intent, IntentKind, OrderIntent, Rejection,
};

use crate::http::answer::Answer;
use crate::pipeline::{Handled, Outcome, Trace, deliver, record, refusal};
use crate::runtime::Runtime;

/// Why an expired order was not sent again.
#[derive(Debug, thiserror::Error)]
pub enum ResubmitError {
    /// The fund, key or new key is not one.
    #[error("{0}")]
    Invalid(String),
    /// No order of that fund and key expired here.
    #[error("no expired order {0} of fund {1}: only an expired order can be sent again")]
    NotExpired(String, String),
    /// The order store could not say.
    #[error("the order store cannot answer: {0}")]
    Unavailable(String),
}

impl Runtime {
    /// Sends the expired order `key` of `fund` again as a new order under `new_key`, answered
    /// as an alert would be (the answer's status says whether it was accepted).
    pub async fn resubmit_expired(
        &self,
        fund: &str,
        key: &str,
        new_key: &str,
    ) -> Result<Answer, ResubmitError> {
        let started = Instant::now();
        let parse = |what: &str, text: &str| {
            IdempotencyKey::parse(text).map_err(|e| ResubmitError::Invalid(format!("{what}: {e}")))
        };
        let fund_id =
            FundId::parse(fund).map_err(|e| ResubmitError::Invalid(format!("fund: {e}")))?;
        let (key, new_key) = (parse("key", key)?, parse("new key", new_key)?);
        let mut expired = None;
        for endpoint in self.endpoints() {
            let id = ClientOrderId::derive_for(IntentKind::Submit, endpoint.name(), &fund_id, &key);
            if let Some(order) = self
                .shared
                .sink
                .expired_order(&id)
                .await
                .map_err(|e| ResubmitError::Unavailable(e.0))?
            {
                expired = Some((endpoint.clone(), order));
                break;
            }
        }
        let Some((endpoint, order)) = expired else {
            return Err(ResubmitError::NotExpired(key.to_string(), fund.to_owned()));
        };
        let Some(policy) = self.shared.funds.current().get(&fund_id).cloned() else {
            return Err(ResubmitError::Invalid(format!(
                "fund {fund} is no longer configured"
            )));
        };
        let order = renewed(order, endpoint.name(), new_key, self.clock().now());
        let mut trace = Trace {
            fund: Some(fund_id.clone()),
            key: Some(order.idempotency_key.to_string()),
            intent: Some(IntentKind::Submit),
            ..Trace::default()
        };
        // The envelope before the gates: a refused re-submit spends neither the fund's rate
        // limit nor the new key.
        let outcome: Outcome = if self.halts().is_halted(&fund_id) {
            Err(Rejection::FundHalted)
        } else if let Err(rejection) = policy.envelope.admit(&order) {
            Err(rejection)
        } else {
            match self
                .shared
                .gates
                .admit(&fund_id, policy.rate_limit, order.client_order_id)
                .await
            {
                Err(stopped) => Err(refusal(stopped, &order.idempotency_key)),
                Ok(pass) => {
                    let intent = Intent::Submit(order.clone());
                    deliver(&self.shared, &intent, Some(pass), false)
                        .await
                        .0
                        .map(Handled::Order)
                }
            }
        };
        tracing::warn!(
            target: "mts1b::admin",
            fund = %fund_id,
            expired_key = %key,
            new_key = %order.idempotency_key,
            outcome = ?outcome.as_ref().map(|_| "accepted").map_err(Rejection::code),
            "expired order re-submitted by an operator as a new order"
        );
        trace.translated = Some(Intent::Submit(order));
        let answer = Answer::of(&outcome);
        record(
            endpoint.as_ref(),
            &self.shared,
            &outcome,
            &answer,
            &trace,
            started,
        );
        Ok(answer)
    }
}

/// The expired order's terms as a new order: the new key and its id, received now, with no
/// alert time (the original alert's would make it stale by definition).
fn renewed(
    order: OrderIntent,
    adapter: &str,
    new_key: IdempotencyKey,
    now: mts1b_inbound_core::UnixMillis,
) -> OrderIntent {
    OrderIntent {
        client_order_id: ClientOrderId::derive(adapter, &order.fund_id, &new_key),
        source: Cow::Owned(adapter.to_owned()),
        idempotency_key: new_key,
        alert_time: None,
        received_at: now,
        ..order
    }
}
