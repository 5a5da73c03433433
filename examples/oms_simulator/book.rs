//! The simulator's order book: every order it accepted, its state, and what modifications did
//! to it (SPEC §13), so tests can see the effect of a cancel, a replace or a cancel-all.
//!
//! A modification is idempotent on its request_id: a resend gets the first answer with
//! `duplicate = true`. Unknown targets are NOT_FOUND, orders no longer working
//! FAILED_PRECONDITION ("already filled", "already cancelled"), malformed changes
//! INVALID_ARGUMENT: all permanent for the bridge.

use std::collections::HashMap;

use mts1b_tradingview::runtime::oms_proto::{
    CancelAllOrdersRequest, CancelAllOrdersResponse, CancelOrderRequest, CancelOrderResponse,
    Order, OrderType, ReplaceOrderRequest, ReplaceOrderResponse, TimeInForce,
};
use rust_decimal::Decimal;
use tonic::Status;

/// Where an order stands in the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderState {
    /// Working as submitted.
    Open,
    /// Working, with terms a replace changed.
    Replaced,
    /// Cancelled: no longer working.
    Cancelled,
    /// Filled (on a test's command): no longer working.
    Filled,
}

impl OrderState {
    fn working(self) -> bool {
        matches!(self, OrderState::Open | OrderState::Replaced)
    }
}

/// One accepted order.
#[derive(Clone, Debug)]
pub struct Booked {
    /// The order, with any replaced terms applied.
    pub order: Order,
    /// The OMS's id for it.
    pub order_id: String,
    /// Where it stands.
    pub state: OrderState,
    /// What happened to it, in order: `submitted`, `replaced: limit 95000 -> 94000`, `cancelled`.
    pub history: Vec<String>,
}

enum Applied {
    Cancel(CancelOrderResponse),
    Replace(ReplaceOrderResponse),
    CancelAll(CancelAllOrdersResponse),
}

/// A request id already applied as another kind of modification.
fn reused(request_id: &str) -> Status {
    Status::invalid_argument(format!(
        "request_id {request_id} was used by another request"
    ))
}

/// The book.
#[derive(Default)]
pub struct Book {
    orders: Vec<Booked>,
    by_id: HashMap<String, usize>,
    applied: HashMap<String, Applied>,
}

impl Book {
    /// Books an order the simulator accepted.
    pub fn add(&mut self, order: Order, order_id: String) {
        self.by_id
            .insert(order.client_order_id.clone(), self.orders.len());
        self.orders.push(Booked {
            order,
            order_id,
            state: OrderState::Open,
            history: vec!["submitted".into()],
        });
    }

    /// Returns the order of `client_order_id`.
    pub fn get(&self, client_order_id: &str) -> Option<&Booked> {
        self.by_id.get(client_order_id).map(|&i| &self.orders[i])
    }

    /// Fills a working order (a test's command); false if it is not working.
    pub fn fill(&mut self, client_order_id: &str) -> bool {
        let Some(&i) = self.by_id.get(client_order_id) else {
            return false;
        };
        let booked = &mut self.orders[i];
        if !booked.state.working() {
            return false;
        }
        booked.state = OrderState::Filled;
        booked.history.push("filled".into());
        true
    }

    /// The working order a modification of `fund` names, or why not.
    fn target(&mut self, client_order_id: &str, fund: &str) -> Result<&mut Booked, Status> {
        let booked = self
            .by_id
            .get(client_order_id)
            .map(|&i| &mut self.orders[i])
            // Another fund's order is as unknown as no order: nothing leaks across funds.
            .filter(|b| b.order.fund_id == fund)
            .ok_or_else(|| Status::not_found(format!("no order {client_order_id}")))?;
        match booked.state {
            OrderState::Filled => Err(Status::failed_precondition("already filled")),
            OrderState::Cancelled => Err(Status::failed_precondition("already cancelled")),
            OrderState::Open | OrderState::Replaced => Ok(booked),
        }
    }

    /// Cancels one working order.
    pub fn cancel(&mut self, req: &CancelOrderRequest) -> Result<CancelOrderResponse, Status> {
        match self.applied.get(&req.request_id) {
            Some(Applied::Cancel(first)) => {
                return Ok(CancelOrderResponse {
                    duplicate: true,
                    ..first.clone()
                });
            }
            Some(_) => return Err(reused(&req.request_id)),
            None => {}
        }
        let booked = self.target(&req.client_order_id, &req.fund_id)?;
        booked.state = OrderState::Cancelled;
        booked.history.push("cancelled".into());
        let response = CancelOrderResponse {
            order_id: booked.order_id.clone(),
            duplicate: false,
        };
        self.applied
            .insert(req.request_id.clone(), Applied::Cancel(response.clone()));
        Ok(response)
    }

    /// Changes a working order's terms: at least one change, each allowed by its order type.
    pub fn replace(&mut self, req: &ReplaceOrderRequest) -> Result<ReplaceOrderResponse, Status> {
        match self.applied.get(&req.request_id) {
            Some(Applied::Replace(first)) => {
                return Ok(ReplaceOrderResponse {
                    duplicate: true,
                    ..first.clone()
                });
            }
            Some(_) => return Err(reused(&req.request_id)),
            None => {}
        }
        let tif = TimeInForce::try_from(req.tif).unwrap_or(TimeInForce::Unspecified);
        if req.quantity.is_empty()
            && req.limit_price.is_empty()
            && req.stop_price.is_empty()
            && tif == TimeInForce::Unspecified
        {
            return Err(Status::invalid_argument(
                "a replace changes at least one term",
            ));
        }
        let positive = |what: &str, text: &str| {
            text.parse::<Decimal>()
                .ok()
                .filter(|d| *d > Decimal::ZERO)
                .map(|_| ())
                .ok_or_else(|| {
                    Status::invalid_argument(format!("{what} {text:?} is not a positive decimal"))
                })
        };
        for (what, text) in [
            ("quantity", &req.quantity),
            ("limit_price", &req.limit_price),
            ("stop_price", &req.stop_price),
        ] {
            if !text.is_empty() {
                positive(what, text)?;
            }
        }
        let booked = self.target(&req.client_order_id, &req.fund_id)?;
        let kind = booked.order.order_type();
        let has_limit = matches!(kind, OrderType::Limit | OrderType::StopLimit);
        let has_stop = matches!(kind, OrderType::Stop | OrderType::StopLimit);
        if !req.limit_price.is_empty() && !has_limit {
            return Err(Status::invalid_argument(format!(
                "a {} order has no limit price",
                kind.as_str_name()
            )));
        }
        if !req.stop_price.is_empty() && !has_stop {
            return Err(Status::invalid_argument(format!(
                "a {} order has no stop price",
                kind.as_str_name()
            )));
        }
        let mut changes = Vec::new();
        let order = &mut booked.order;
        for (what, new, old) in [
            ("quantity", &req.quantity, &mut order.quantity),
            ("limit", &req.limit_price, &mut order.limit_price),
            ("stop", &req.stop_price, &mut order.stop_price),
        ] {
            if !new.is_empty() {
                changes.push(format!("{what} {old} -> {new}"));
                *old = new.clone();
            }
        }
        if tif != TimeInForce::Unspecified {
            changes.push(format!(
                "tif {} -> {}",
                order.tif().as_str_name(),
                tif.as_str_name()
            ));
            order.set_tif(tif);
        }
        booked.state = OrderState::Replaced;
        booked
            .history
            .push(format!("replaced: {}", changes.join(", ")));
        let response = ReplaceOrderResponse {
            order_id: booked.order_id.clone(),
            duplicate: false,
        };
        self.applied
            .insert(req.request_id.clone(), Applied::Replace(response.clone()));
        Ok(response)
    }

    /// Cancels every working order of a fund and strategy, optionally of one symbol.
    pub fn cancel_all(
        &mut self,
        req: &CancelAllOrdersRequest,
    ) -> Result<CancelAllOrdersResponse, Status> {
        match self.applied.get(&req.request_id) {
            Some(Applied::CancelAll(first)) => {
                return Ok(CancelAllOrdersResponse {
                    duplicate: true,
                    ..first.clone()
                });
            }
            Some(_) => return Err(reused(&req.request_id)),
            None => {}
        }
        if req.fund_id.is_empty() || req.strategy_id.is_empty() {
            return Err(Status::invalid_argument(
                "cancel-all names a fund and a strategy",
            ));
        }
        let mut cancelled = Vec::new();
        for booked in &mut self.orders {
            let o = &booked.order;
            let in_scope = o.fund_id == req.fund_id
                && o.strategy_id == req.strategy_id
                && (req.symbol.is_empty() || o.symbol == req.symbol);
            if in_scope && booked.state.working() {
                booked.state = OrderState::Cancelled;
                booked.history.push("cancelled (cancel-all)".into());
                cancelled.push(o.client_order_id.clone());
            }
        }
        let response = CancelAllOrdersResponse {
            client_order_ids: cancelled,
            duplicate: false,
        };
        self.applied
            .insert(req.request_id.clone(), Applied::CancelAll(response.clone()));
        Ok(response)
    }
}
