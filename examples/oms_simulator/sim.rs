//! A scripted mts1b-oms: a real tonic server for `mts1b.oms.v1.OrderService`.
//!
//! It dedupes on client_order_id like the real OMS (a repeat gets the same order id and
//! `duplicate = true`), journals every order it accepts, and can be told to answer UNAVAILABLE
//! for the next N calls, to refuse symbols with FAILED_PRECONDITION naming a risk gate, or to be
//! slow. Shared by `examples/oms_simulator/main.rs` and the tests.
#![allow(dead_code)]

#[path = "book.rs"]
pub mod book;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mts1b_tradingview::runtime::oms_proto::order_service_server::{
    OrderService, OrderServiceServer,
};
use mts1b_tradingview::runtime::oms_proto::{
    CancelAllOrdersRequest, CancelAllOrdersResponse, CancelOrderRequest, CancelOrderResponse,
    Order, ReplaceOrderRequest, ReplaceOrderResponse, SubmitOrderRequest, SubmitOrderResponse,
};
use rust_decimal::Decimal;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

/// What the simulator answers a call while its script plays an outage.
pub const OUTAGE: &str = "simulated outage";

/// What the simulator does with the calls it gets.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// Answer UNAVAILABLE to this many calls before serving.
    pub unavailable_calls: usize,
    /// Refuse these canonical symbols with FAILED_PRECONDITION.
    pub refuse_symbols: Vec<String>,
    /// Refuse orders for more than this quantity with FAILED_PRECONDITION.
    pub max_quantity: Option<Decimal>,
    /// Wait this long before answering each call.
    pub delay: Duration,
    /// Print every call and its answer on stdout.
    pub print: bool,
    /// Append every accepted order to this file, one JSON object per line.
    pub journal: Option<std::path::PathBuf>,
}

/// The simulator's state, shared with whoever started it.
#[derive(Default)]
pub struct OmsState {
    /// The script.
    pub script: Script,
    /// Every call, in arrival order (client_order_id).
    pub calls: Vec<String>,
    /// What each call was answered, in the same order.
    pub answers: Vec<String>,
    /// Accepted orders by client_order_id, in acceptance order.
    pub accepted: Vec<Order>,
    /// What it accepted and what modifications did to it.
    pub book: book::Book,
    ids: HashMap<String, String>,
}

/// A handle on a running simulator.
#[derive(Clone)]
pub struct Oms {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state.
    pub state: Arc<Mutex<OmsState>>,
}

impl Oms {
    /// The endpoint to configure in the bridge.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The client order ids it accepted, in order (each once).
    pub fn accepted_ids(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .accepted
            .iter()
            .map(|o| o.client_order_id.clone())
            .collect()
    }

    /// How many calls it has answered (any outcome).
    pub fn calls(&self) -> usize {
        self.state.lock().unwrap().calls.len()
    }

    /// The calls it served, in order: every call but those its script answered as an outage
    /// (a submit's client order id, a modification's `kind:request_id`).
    pub fn served(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .calls
            .iter()
            .zip(&state.answers)
            .filter(|(_, answer)| !answer.contains(OUTAGE))
            .map(|(call, _)| call.clone())
            .collect()
    }

    /// Changes the script.
    pub fn script(&self, script: Script) {
        self.state.lock().unwrap().script = script;
    }

    /// Fills a working order, as a market would; false if it is not working.
    pub fn fill(&self, client_order_id: &str) -> bool {
        self.state.lock().unwrap().book.fill(client_order_id)
    }

    /// The book's entry for an order.
    pub fn booked(&self, client_order_id: &str) -> Option<book::Booked> {
        self.state
            .lock()
            .unwrap()
            .book
            .get(client_order_id)
            .cloned()
    }
}

impl Service {
    /// Runs one modification through the script (outage, delay), logs it in `calls` as
    /// `kind:request_id` with its answer, and applies it to the book.
    async fn modify<R: std::fmt::Debug>(
        &self,
        kind: &str,
        request_id: &str,
        apply: impl FnOnce(&mut book::Book) -> Result<R, Status>,
    ) -> Result<Response<R>, Status> {
        let delay = self.0.lock().unwrap().script.delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.0.lock().unwrap();
        state.calls.push(format!("{kind}:{request_id}"));
        let answer = if state.script.unavailable_calls > 0 {
            state.script.unavailable_calls -= 1;
            Err(Status::unavailable(OUTAGE))
        } else {
            apply(&mut state.book)
        };
        let said = match &answer {
            Ok(r) => format!("{r:?}"),
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        };
        if state.script.print {
            println!("{kind} {request_id}: {said}");
        }
        state.answers.push(said);
        answer.map(Response::new)
    }
}

struct Service(Arc<Mutex<OmsState>>);

#[tonic::async_trait]
impl OrderService for Service {
    async fn submit_order(
        &self,
        request: Request<SubmitOrderRequest>,
    ) -> Result<Response<SubmitOrderResponse>, Status> {
        let order = request
            .into_inner()
            .order
            .ok_or_else(|| Status::invalid_argument("order is required"))?;
        let delay = self.0.lock().unwrap().script.delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.0.lock().unwrap();
        state.calls.push(order.client_order_id.clone());
        let id = order.client_order_id.clone();
        let answer = answer(&mut state, order);
        let said = match &answer {
            Ok(r) if r.duplicate => format!("duplicate of {}", r.order_id),
            Ok(r) => format!("accepted as {}", r.order_id),
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        };
        if state.script.print {
            println!("call for {id}: {said}");
        }
        state.answers.push(said);
        answer.map(Response::new)
    }

    async fn cancel_order(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        let req = request.into_inner();
        self.modify("cancel", &req.request_id.clone(), |book| book.cancel(&req))
            .await
    }

    async fn replace_order(
        &self,
        request: Request<ReplaceOrderRequest>,
    ) -> Result<Response<ReplaceOrderResponse>, Status> {
        let req = request.into_inner();
        self.modify("replace", &req.request_id.clone(), |book| {
            book.replace(&req)
        })
        .await
    }

    async fn cancel_all_orders(
        &self,
        request: Request<CancelAllOrdersRequest>,
    ) -> Result<Response<CancelAllOrdersResponse>, Status> {
        let req = request.into_inner();
        self.modify("cancel_all", &req.request_id.clone(), |book| {
            book.cancel_all(&req)
        })
        .await
    }
}

fn answer(state: &mut OmsState, order: Order) -> Result<SubmitOrderResponse, Status> {
    if state.script.unavailable_calls > 0 {
        state.script.unavailable_calls -= 1;
        return Err(Status::unavailable(OUTAGE));
    }
    let quantity: Option<Decimal> = order.quantity.parse().ok();
    if let (Some(limit), Some(quantity)) = (state.script.max_quantity, quantity)
        && quantity > limit
    {
        return Err(Status::failed_precondition(format!(
            "risk gate: quantity {quantity} is over {limit}"
        )));
    }
    if state.script.refuse_symbols.contains(&order.symbol) {
        return Err(Status::failed_precondition(format!(
            "risk gate: symbol {} is blocked",
            order.symbol
        )));
    }
    if let Some(order_id) = state.ids.get(&order.client_order_id) {
        return Ok(SubmitOrderResponse {
            order_id: order_id.clone(),
            duplicate: true,
        });
    }
    let order_id = format!("oms-{}", state.accepted.len() + 1);
    if let Some(path) = &state.script.journal {
        let line = serde_json::json!({
            "order_id": order_id,
            "client_order_id": order.client_order_id,
            "fund_id": order.fund_id,
            "symbol": order.symbol,
            "instrument_class": order.instrument_class().as_str_name(),
            "tradingview_symbol": order.tradingview_symbol,
            "side": order.side().as_str_name(),
            "quantity": order.quantity,
            "order_type": order.order_type().as_str_name(),
        });
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            return Err(Status::unavailable(format!("journal: {e}")));
        }
    }
    state
        .ids
        .insert(order.client_order_id.clone(), order_id.clone());
    state.book.add(order.clone(), order_id.clone());
    state.accepted.push(order);
    Ok(SubmitOrderResponse {
        order_id,
        duplicate: false,
    })
}

/// Starts a simulator on `listener` with `script`.
pub async fn start_on(listener: TcpListener, script: Script) -> Oms {
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(Mutex::new(OmsState {
        script,
        ..Default::default()
    }));
    let service = OrderServiceServer::new(Service(state.clone()));
    tokio::spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    Oms { addr, state }
}

/// Starts a simulator on a free loopback port.
pub async fn start(script: Script) -> Oms {
    start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), script).await
}
