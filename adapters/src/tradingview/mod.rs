//! The TradingView adapter: schema v1 alerts (SPEC §3), authenticated by the fund secret in the
//! body, mapped through the symbology table (SPEC §4).

mod payload;
pub mod schema;

use std::sync::Arc;

use mts1b_inbound_core::{
    Authenticated, Cancel, CancelAll, Change, ClientOrderId, FundSecrets, IdempotencyKey,
    InboundAdapter, Intent, IntentKind, Modification, OrderIntent, Principal, RawRequest,
    Rejection, Reloadable, Replace, SecretCheck, SecretLookup, SecretSource, SymbolTable, Target,
    Timing, TradingViewSymbol, UnixMillis,
};

pub use payload::{DEFAULT_ACTOR, TvAlert, TvOrder, TvReplace, TvRequest, parse_alert};

/// The adapter name: route segment, metric prefix source and client order id namespace.
pub const NAME: &str = "tradingview";

/// Turns TradingView webhook alerts into canonical order intents.
#[derive(Clone, Debug, Default)]
pub struct TradingView {
    symbols: Reloadable<SymbolTable>,
}

impl TradingView {
    /// Builds the adapter over a symbology table (a [`Reloadable`] one is swapped by a reload).
    pub fn new(symbols: impl Into<Reloadable<SymbolTable>>) -> Self {
        Self {
            symbols: symbols.into(),
        }
    }

    /// Returns the symbology table in use now.
    pub fn symbols(&self) -> Arc<SymbolTable> {
        self.symbols.current()
    }
}

impl InboundAdapter for TradingView {
    type Payload = TvAlert;

    fn name(&self) -> &'static str {
        NAME
    }

    fn metric_prefix(&self) -> &'static str {
        "tv"
    }

    fn idempotency_key<'a>(&self, alert: &'a TvAlert) -> &'a IdempotencyKey {
        &alert.idempotency_key
    }

    fn parse(&self, req: &RawRequest) -> Result<TvAlert, Rejection> {
        parse_alert(&req.body)
    }

    fn authenticate(
        &self,
        req: &RawRequest,
        alert: &TvAlert,
        secrets: &dyn SecretSource,
    ) -> Result<Principal, Rejection> {
        let presented = alert.secret.expose();
        // An unknown fund is checked against a decoy: the same work as a wrong secret, so the
        // two answers cannot be told apart. The previous secret counts until its grace ends, on
        // the bridge's clock.
        let check = match secrets.fund_secret(&alert.fund_id) {
            SecretLookup::Found(secrets) => secrets.check(presented, req.received_at),
            SecretLookup::UnknownFund => {
                let _ = FundSecrets::decoy().check(presented, req.received_at);
                SecretCheck::Wrong
            }
            SecretLookup::NotLoaded => {
                return Err(Rejection::Unavailable {
                    reason: "secrets not loaded",
                });
            }
        };
        if check == SecretCheck::Wrong {
            return Err(Rejection::Unauthorized);
        }
        Ok(Principal {
            adapter: NAME,
            fund_id: Some(alert.fund_id.clone()),
            previous_secret: check == SecretCheck::Previous,
            member: None,
        })
    }

    fn intent_kind(&self, alert: &TvAlert) -> IntentKind {
        alert.request.kind()
    }

    fn normalize(&self, alert: Authenticated<TvAlert>) -> Result<Intent, Rejection> {
        let received_at = alert.received_at();
        let (_, mut a) = alert.into_parts();
        // Continuous futures resolve at the alert's own time: what the chart showed when it fired.
        let timing = Timing {
            alert_time: a.alert_time,
            received_at,
        };
        let symbols = self.symbols.current();
        let map = |symbol: &str| {
            symbols
                .map(symbol, timing)
                .map_err(|why| Rejection::unknown_symbol(symbol, &why))
        };
        fn modification<C: Change>(
            a: &TvAlert,
            received_at: UnixMillis,
            change: C,
        ) -> Modification<C> {
            Modification::new(
                NAME.into(),
                a.fund_id.clone(),
                a.strategy_id.clone(),
                a.idempotency_key.clone(),
                a.actor.clone(),
                received_at,
                change,
            )
        }
        // The target was sent by this fund through TradingView: its id derives as the
        // original's did (SPEC §13).
        let target = |key: IdempotencyKey| Target::of(NAME, &a.fund_id, key);
        let request = std::mem::replace(&mut a.request, TvRequest::CancelAll { symbol: None });
        Ok(match request {
            TvRequest::Submit(order) => {
                let mapped = map(&order.symbol)?;
                // Whatever maps is ASCII without control characters, but for an override key
                // written with one: the schema's 1-64 characters hold, the OMS still gets no
                // control character.
                let tradingview_symbol = TradingViewSymbol::parse(&order.symbol)
                    .map_err(|e| Rejection::invalid("symbol", e.to_string()))?;
                Intent::Submit(OrderIntent {
                    client_order_id: ClientOrderId::derive(NAME, &a.fund_id, &a.idempotency_key),
                    source: NAME.into(),
                    fund_id: a.fund_id,
                    strategy_id: a.strategy_id,
                    symbol: mapped.symbol,
                    instrument_class: mapped.class,
                    tradingview_symbol: Some(tradingview_symbol),
                    venue_hint: mapped.venue_hint,
                    side: order.side,
                    quantity: order.quantity,
                    pricing: order.pricing,
                    tif: order.tif,
                    actor: a.actor,
                    idempotency_key: a.idempotency_key,
                    thesis: a.thesis,
                    alert_time: a.alert_time,
                    received_at,
                    reduce_only: order.reduce_only,
                })
            }
            TvRequest::Cancel { target_key, symbol } => Intent::Cancel(modification(
                &a,
                received_at,
                Cancel {
                    target: target(target_key),
                    symbol: map(&symbol)?.symbol,
                },
            )),
            TvRequest::Replace(r) => {
                let mapped = map(&r.symbol)?;
                let replace = Replace::new(
                    target(r.target_key),
                    (mapped.symbol, mapped.class),
                    r.quantity,
                    r.limit_price,
                    r.stop_price,
                    r.tif,
                )?;
                Intent::Replace(modification(&a, received_at, replace))
            }
            TvRequest::CancelAll { symbol } => {
                let symbol = symbol.map(|s| map(&s)).transpose()?.map(|m| m.symbol);
                Intent::CancelAll(modification(&a, received_at, CancelAll { symbol }))
            }
        })
    }
}

#[cfg(test)]
mod tests;
