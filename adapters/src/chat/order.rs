//! A new order as a chat command spells it.

use mts1b_inbound_core::{
    ClientOrderId, FundId, Intent, OrderIntent, OrderType, Pricing, Quantity, Rejection, Side,
    StrategyId, SymbolTable, Thesis, TimeInForce, TradingViewSymbol,
};

use super::{DEFAULT_STRATEGY, Origin, choice, optional_choice, price, required};

/// An order as a chat command spells it, every part still text, named as the command names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderRequest {
    /// `buy` or `sell`.
    pub side: Option<String>,
    /// The quantity, a decimal.
    pub quantity: Option<String>,
    /// A TradingView symbol (`BINANCE:BTCUSDT`, `CME_MINI:ES1!`).
    pub symbol: Option<String>,
    /// `market`, `limit`, `stop` or `stop_limit`.
    pub order_type: Option<String>,
    /// The limit price.
    pub limit: Option<String>,
    /// The stop price.
    pub stop: Option<String>,
    /// The fund.
    pub fund: Option<String>,
    /// The strategy ([`DEFAULT_STRATEGY`] when absent).
    pub strategy: Option<String>,
    /// `day` (default), `gtc`, `ioc` or `fok`.
    pub tif: Option<String>,
    /// Why, for the audit trail.
    pub thesis: Option<String>,
    /// `true` or `false` (default): the order may only reduce a position (SPEC §13).
    pub reduce_only: Option<String>,
}

impl OrderRequest {
    /// The options an order takes by name, as both platforms name them.
    pub const OPTIONS: [&'static str; 7] = [
        "fund",
        "strategy",
        "tif",
        "thesis",
        "limit",
        "stop",
        "reduce_only",
    ];

    /// The slot of the option named `name` (side, quantity, symbol and type included, which
    /// Slack reads by position and Discord by name), or `None` for one an order does not take.
    pub fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "side" => &mut self.side,
            "quantity" => &mut self.quantity,
            "symbol" => &mut self.symbol,
            "type" => &mut self.order_type,
            "limit" => &mut self.limit,
            "stop" => &mut self.stop,
            "fund" => &mut self.fund,
            "strategy" => &mut self.strategy,
            "tif" => &mut self.tif,
            "thesis" => &mut self.thesis,
            "reduce_only" => &mut self.reduce_only,
            _ => return None,
        })
    }

    /// Turns the request into an order intent, or says which part is wrong and why.
    pub fn into_intent(
        self,
        origin: Origin<'_>,
        symbols: &SymbolTable,
    ) -> Result<Intent, Rejection> {
        let side = choice(
            "side",
            required("side", &self.side)?,
            Side::parse,
            Side::ALL,
            Side::as_str,
        )?;
        let quantity = Quantity::parse(required("quantity", &self.quantity)?)
            .map_err(|e| Rejection::invalid("quantity", e.to_string()))?;
        let symbol = required("symbol", &self.symbol)?;
        let order_type = choice(
            "type",
            required("type", &self.order_type)?,
            OrderType::parse,
            OrderType::ALL,
            OrderType::as_str,
        )?;
        let pricing = Pricing::from_parts(
            order_type,
            (price("limit", &self.limit)?, "limit"),
            (price("stop", &self.stop)?, "stop"),
        )?;
        let fund_id = FundId::parse(required("fund", &self.fund)?)
            .map_err(|e| Rejection::invalid("fund", e.to_string()))?;
        let strategy_id = StrategyId::parse(self.strategy.as_deref().unwrap_or(DEFAULT_STRATEGY))
            .map_err(|e| Rejection::invalid("strategy", e.to_string()))?;
        let tif = optional_choice(
            "tif",
            &self.tif,
            TimeInForce::parse,
            TimeInForce::ALL,
            TimeInForce::as_str,
        )?
        .unwrap_or_default();
        let thesis = match self.thesis.as_deref() {
            None | Some("") => None,
            Some(t) => {
                Some(Thesis::parse(t).map_err(|e| Rejection::invalid("thesis", e.to_string()))?)
            }
        };
        let reduce_only = match self.reduce_only.as_deref() {
            None => false,
            Some(t) if t.eq_ignore_ascii_case("true") => true,
            Some(t) if t.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(Rejection::invalid("reduce_only", "must be true or false")),
        };
        let mapped = origin.map_symbol(symbols, symbol)?;
        let tradingview_symbol = TradingViewSymbol::parse(symbol)
            .map_err(|e| Rejection::invalid("symbol", e.to_string()))?;
        Ok(Intent::Submit(OrderIntent {
            client_order_id: ClientOrderId::derive(origin.adapter, &fund_id, origin.key),
            source: origin.adapter.into(),
            fund_id,
            strategy_id,
            symbol: mapped.symbol,
            instrument_class: mapped.class,
            tradingview_symbol: Some(tradingview_symbol),
            venue_hint: mapped.venue_hint,
            side,
            quantity,
            pricing,
            tif,
            actor: origin.actor()?,
            idempotency_key: origin.key.clone(),
            thesis,
            alert_time: origin.sent_at,
            received_at: origin.received_at,
            reduce_only,
        }))
    }
}

#[cfg(test)]
mod tests {
    use mts1b_inbound_core::{Grants, IdempotencyKey};

    use super::*;
    use crate::chat::describe;
    use crate::chat::testing::{member, order_request as request, origin};

    fn intent(r: OrderRequest) -> Result<OrderIntent, Rejection> {
        let key = IdempotencyKey::parse("trigger-1").unwrap();
        let member = member();
        let origin = origin(&member, Grants::none(), &key);
        let Intent::Submit(order) = r.into_intent(origin, &SymbolTable::default())? else {
            panic!("an order")
        };
        Ok(order)
    }

    #[test]
    fn a_chat_order_follows_the_alerts_rules() {
        let order = intent(request()).unwrap();
        assert_eq!(
            describe(&order),
            "buy 0.05 BTC-USD limit 95000 on paper-tv-test"
        );
        assert_eq!(order.strategy_id.as_str(), DEFAULT_STRATEGY);
        assert_eq!(order.actor.as_str(), "slack:U1");
        assert_eq!(order.source, "slack");
        assert!(!order.reduce_only);
        let key = IdempotencyKey::parse("trigger-1").unwrap();
        assert_eq!(
            order.client_order_id,
            ClientOrderId::derive("slack", &order.fund_id, &key)
        );
        let refused = |r: OrderRequest| intent(r).unwrap_err();
        assert_eq!(
            refused(OrderRequest {
                limit: None,
                ..request()
            }),
            Rejection::invalid("limit", "required when order_type is limit")
        );
        assert!(matches!(
            refused(OrderRequest { quantity: Some("0.05e".into()), ..request() }),
            Rejection::InvalidPayload { field, .. } if field == "quantity"
        ));
        assert!(matches!(
            refused(OrderRequest {
                symbol: Some("NOWHERE:XYZ".into()),
                ..request()
            }),
            Rejection::UnknownSymbol { .. }
        ));
        assert_eq!(
            refused(OrderRequest {
                side: Some("long".into()),
                ..request()
            }),
            Rejection::invalid("side", "\"long\" is not one of buy, sell")
        );
    }

    #[test]
    fn reduce_only_is_true_or_false() {
        let with = |text: &str| {
            intent(OrderRequest {
                reduce_only: Some(text.into()),
                ..request()
            })
        };
        assert!(with("true").unwrap().reduce_only);
        assert!(with("TRUE").unwrap().reduce_only);
        assert!(!with("false").unwrap().reduce_only);
        assert_eq!(
            with("yes").unwrap_err(),
            Rejection::invalid("reduce_only", "must be true or false")
        );
    }
}
