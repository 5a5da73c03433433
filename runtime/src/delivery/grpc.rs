//! The mts1b-oms gRPC client (`mts1b.oms.v1.OrderService`): `SubmitOrder`, and the modifications
//! `CancelOrder`, `ReplaceOrder`, `CancelAllOrders` (SPEC §13).

use std::time::Duration;

use async_trait::async_trait;
use mts1b_inbound_core::{
    Cancel, CancelAll, InstrumentClass, Modification, OrderIntent, OrderType, Replace, Side,
    TimeInForce,
};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::oms::{ErrorClass, OmsAccepted, OmsClient, OmsError, OmsModified};
use crate::oms_proto;
use crate::oms_proto::order_service_client::OrderServiceClient;

/// Decides, in one place, whether a gRPC failure is worth retrying (SPEC §7).
///
/// UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED and ABORTED are transient, and so is a
/// transport failure (no connection, reset, timeout), which tonic reports as UNAVAILABLE or as
/// UNKNOWN with a transport error source. Everything else is a permanent refusal.
pub fn classify(status: &Status) -> ErrorClass {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted => {
            ErrorClass::Transient
        }
        Code::Unknown | Code::Cancelled if is_transport_failure(status) => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

fn is_transport_failure(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::transport::Error>() || error.is::<std::io::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn label(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

fn instrument_class(class: InstrumentClass) -> oms_proto::InstrumentClass {
    match class {
        InstrumentClass::Spot => oms_proto::InstrumentClass::Spot,
        InstrumentClass::Perpetual => oms_proto::InstrumentClass::Perpetual,
        InstrumentClass::Future => oms_proto::InstrumentClass::Future,
        InstrumentClass::Equity => oms_proto::InstrumentClass::Equity,
        InstrumentClass::Fx => oms_proto::InstrumentClass::Fx,
    }
}

fn tif(tif: TimeInForce) -> oms_proto::TimeInForce {
    match tif {
        TimeInForce::Day => oms_proto::TimeInForce::Day,
        TimeInForce::Gtc => oms_proto::TimeInForce::Gtc,
        TimeInForce::Ioc => oms_proto::TimeInForce::Ioc,
        TimeInForce::Fok => oms_proto::TimeInForce::Fok,
    }
}

/// Who asked for a modification, on the wire.
fn requester<C>(m: &Modification<C>) -> Option<oms_proto::Requester> {
    Some(oms_proto::Requester {
        actor: m.actor.to_string(),
        source: m.source.to_string(),
        received_at_unix_ms: m.received_at.as_millis(),
    })
}

/// The wire form of a cancel.
pub fn cancel_to_proto(m: &Modification<Cancel>) -> oms_proto::CancelOrderRequest {
    oms_proto::CancelOrderRequest {
        request_id: m.request_id.to_string(),
        client_order_id: m.change.target.client_order_id.to_string(),
        fund_id: m.fund_id.to_string(),
        strategy_id: m.strategy_id.to_string(),
        symbol: m.change.symbol.to_string(),
        requester: requester(m),
    }
}

/// The wire form of a replace: an unchanged term is empty (UNSPECIFIED for the tif).
pub fn replace_to_proto(m: &Modification<Replace>) -> oms_proto::ReplaceOrderRequest {
    let r = &m.change;
    let text = |d: Option<mts1b_inbound_core::Price>| d.map(|p| p.to_string()).unwrap_or_default();
    oms_proto::ReplaceOrderRequest {
        request_id: m.request_id.to_string(),
        client_order_id: r.target.client_order_id.to_string(),
        fund_id: m.fund_id.to_string(),
        strategy_id: m.strategy_id.to_string(),
        symbol: r.symbol.to_string(),
        quantity: r.quantity.map(|q| q.to_string()).unwrap_or_default(),
        limit_price: text(r.limit_price),
        stop_price: text(r.stop_price),
        tif: r
            .tif
            .map_or(oms_proto::TimeInForce::Unspecified, tif)
            .into(),
        requester: requester(m),
    }
}

/// The wire form of a cancel-all.
pub fn cancel_all_to_proto(m: &Modification<CancelAll>) -> oms_proto::CancelAllOrdersRequest {
    oms_proto::CancelAllOrdersRequest {
        request_id: m.request_id.to_string(),
        fund_id: m.fund_id.to_string(),
        strategy_id: m.strategy_id.to_string(),
        symbol: m
            .change
            .symbol
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        requester: requester(m),
    }
}

/// Awaits one call: its answer, or its failure classified.
async fn answer<R>(
    call: impl std::future::Future<Output = Result<tonic::Response<R>, Status>>,
) -> Result<R, OmsError> {
    call.await
        .map(tonic::Response::into_inner)
        .map_err(|status| oms_error(&status))
}

/// A failed call, classified (SPEC §7) and labelled.
fn oms_error(status: &Status) -> OmsError {
    OmsError {
        class: classify(status),
        message: format!("{}: {}", label(status.code()), status.message()),
        label: label(status.code()),
    }
}

/// The wire form of an order.
pub fn to_proto(order: &OrderIntent) -> oms_proto::SubmitOrderRequest {
    let side = match order.side {
        Side::Buy => oms_proto::Side::Buy,
        Side::Sell => oms_proto::Side::Sell,
    };
    let order_type = match order.pricing.order_type() {
        OrderType::Market => oms_proto::OrderType::Market,
        OrderType::Limit => oms_proto::OrderType::Limit,
        OrderType::Stop => oms_proto::OrderType::Stop,
        OrderType::StopLimit => oms_proto::OrderType::StopLimit,
    };
    let text = |d: Option<mts1b_inbound_core::Price>| d.map(|p| p.to_string()).unwrap_or_default();
    oms_proto::SubmitOrderRequest {
        order: Some(oms_proto::Order {
            client_order_id: order.client_order_id.to_string(),
            fund_id: order.fund_id.to_string(),
            strategy_id: order.strategy_id.to_string(),
            symbol: order.symbol.to_string(),
            venue_hint: order
                .venue_hint
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            side: side.into(),
            quantity: order.quantity.to_string(),
            order_type: order_type.into(),
            limit_price: text(order.pricing.limit_price()),
            stop_price: text(order.pricing.stop_price()),
            tif: tif(order.tif).into(),
            actor: order.actor.to_string(),
            thesis: order
                .thesis
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            source: order.source.to_string(),
            received_at_unix_ms: order.received_at.as_millis(),
            instrument_class: instrument_class(order.instrument_class).into(),
            tradingview_symbol: order
                .tradingview_symbol
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            reduce_only: order.reduce_only,
        }),
    }
}

/// The OMS over gRPC. Connects lazily: the bridge starts (and queues orders) while the OMS is
/// down.
#[derive(Clone)]
pub struct GrpcOms {
    client: OrderServiceClient<Channel>,
    authority: String,
    timeout: Duration,
}

impl GrpcOms {
    /// A client for `endpoint` (`http://host:port`), each call bounded by `timeout`.
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(endpoint.to_owned())?
            .connect_timeout(timeout)
            .timeout(timeout)
            .connect_lazy();
        let authority = endpoint
            .split("://")
            .nth(1)
            .unwrap_or(endpoint)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            client: OrderServiceClient::new(channel),
            authority,
            timeout,
        })
    }
}

#[async_trait]
impl OmsClient for GrpcOms {
    async fn submit(&self, order: &OrderIntent) -> Result<OmsAccepted, OmsError> {
        match self.client.clone().submit_order(to_proto(order)).await {
            Ok(response) => {
                let response = response.into_inner();
                Ok(OmsAccepted {
                    order_id: response.order_id,
                    duplicate: response.duplicate,
                })
            }
            Err(status) => Err(oms_error(&status)),
        }
    }

    async fn cancel(&self, m: &Modification<Cancel>) -> Result<OmsModified, OmsError> {
        let mut client = self.client.clone();
        let r = answer(client.cancel_order(cancel_to_proto(m))).await?;
        Ok(OmsModified::of_order(r.order_id, r.duplicate))
    }

    async fn replace(&self, m: &Modification<Replace>) -> Result<OmsModified, OmsError> {
        let mut client = self.client.clone();
        let r = answer(client.replace_order(replace_to_proto(m))).await?;
        Ok(OmsModified::of_order(r.order_id, r.duplicate))
    }

    async fn cancel_all(&self, m: &Modification<CancelAll>) -> Result<OmsModified, OmsError> {
        let mut client = self.client.clone();
        let response = answer(client.cancel_all_orders(cancel_all_to_proto(m))).await?;
        Ok(OmsModified {
            order_id: None,
            cancelled: response.client_order_ids,
            duplicate: response.duplicate,
        })
    }

    async fn unreachable(&self) -> Option<String> {
        let connect = tokio::net::TcpStream::connect(self.authority.as_str());
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("OMS {} unreachable: {e}", self.authority)),
            Err(_) => Some(format!(
                "OMS {} unreachable: no answer within {:?}",
                self.authority, self.timeout
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_permanent_codes_follow_the_spec() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Aborted,
        ] {
            assert_eq!(
                classify(&Status::new(code, "x")),
                ErrorClass::Transient,
                "{code:?}"
            );
        }
        for code in [
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::NotFound,
            Code::Internal,
            Code::Unknown,
            Code::Unimplemented,
        ] {
            assert_eq!(
                classify(&Status::new(code, "x")),
                ErrorClass::Permanent,
                "{code:?}"
            );
        }
    }

    #[test]
    fn an_unknown_status_caused_by_the_transport_is_transient() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let status = Status::from_error(Box::new(io));
        assert_eq!(status.code(), Code::Unknown);
        assert_eq!(classify(&status), ErrorClass::Transient);
    }
}
