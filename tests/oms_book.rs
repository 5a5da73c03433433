//! The OMS contract's modifications (SPEC §13) against the simulator's order book, over real
//! gRPC: `CancelOrder`, `ReplaceOrder`, `CancelAllOrders`, each idempotent on its request id,
//! NOT_FOUND and FAILED_PRECONDITION for targets that cannot be modified. The bridge's side of
//! these calls comes with the modification intents; this pins what the OMS answers.

#[path = "../examples/oms_simulator/sim.rs"]
mod sim;

use mts1b_tradingview::runtime::oms_proto::order_service_client::OrderServiceClient;
use mts1b_tradingview::runtime::oms_proto::{
    CancelAllOrdersRequest, CancelOrderRequest, Order, OrderType, ReplaceOrderRequest, Requester,
    SubmitOrderRequest, TimeInForce,
};
use sim::book::OrderState;
use tonic::Code;
use tonic::transport::Channel;

async fn client(oms: &sim::Oms) -> OrderServiceClient<Channel> {
    OrderServiceClient::connect(oms.endpoint()).await.unwrap()
}

fn order(id: &str, symbol: &str, order_type: OrderType) -> Order {
    let limit = matches!(order_type, OrderType::Limit | OrderType::StopLimit);
    let mut order = Order {
        client_order_id: id.into(),
        fund_id: "desk".into(),
        strategy_id: "breakout".into(),
        symbol: symbol.into(),
        quantity: "1".into(),
        limit_price: if limit { "95000".into() } else { String::new() },
        source: "tradingview".into(),
        ..Order::default()
    };
    order.set_order_type(order_type);
    order.set_tif(TimeInForce::Day);
    order
}

async fn submit(c: &mut OrderServiceClient<Channel>, order: Order) {
    c.submit_order(SubmitOrderRequest { order: Some(order) })
        .await
        .unwrap();
}

fn requester() -> Option<Requester> {
    Some(Requester {
        actor: "tradingview".into(),
        source: "tradingview".into(),
        received_at_unix_ms: 1_709_296_500_000,
    })
}

fn cancel(request_id: &str, target: &str) -> CancelOrderRequest {
    CancelOrderRequest {
        request_id: request_id.into(),
        client_order_id: target.into(),
        fund_id: "desk".into(),
        strategy_id: "breakout".into(),
        symbol: "BTC-USD".into(),
        requester: requester(),
    }
}

fn replace(request_id: &str, target: &str) -> ReplaceOrderRequest {
    ReplaceOrderRequest {
        request_id: request_id.into(),
        client_order_id: target.into(),
        fund_id: "desk".into(),
        strategy_id: "breakout".into(),
        symbol: "BTC-USD".into(),
        requester: requester(),
        ..ReplaceOrderRequest::default()
    }
}

#[tokio::test]
async fn a_cancel_cancels_once_and_its_resend_is_a_duplicate() {
    let oms = sim::start(sim::Script::default()).await;
    let mut c = client(&oms).await;
    submit(&mut c, order("o-1", "BTC-USD", OrderType::Limit)).await;
    let first = c
        .cancel_order(cancel("r-1", "o-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.order_id.as_str(), first.duplicate), ("oms-1", false));
    let again = c
        .cancel_order(cancel("r-1", "o-1"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        again.duplicate,
        "the same request id is answered as the first time"
    );
    let booked = oms.booked("o-1").unwrap();
    assert_eq!(booked.state, OrderState::Cancelled);
    assert_eq!(booked.history, ["submitted", "cancelled"]);
    // Another request to cancel it again: the order is no longer working.
    let status = c.cancel_order(cancel("r-2", "o-1")).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::FailedPrecondition, "already cancelled")
    );
}

#[tokio::test]
async fn unknown_filled_or_foreign_targets_are_permanent_refusals() {
    let oms = sim::start(sim::Script::default()).await;
    let mut c = client(&oms).await;
    assert_eq!(
        c.cancel_order(cancel("r-1", "nowhere"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    submit(&mut c, order("o-1", "BTC-USD", OrderType::Limit)).await;
    assert!(oms.fill("o-1"));
    let status = c.cancel_order(cancel("r-2", "o-1")).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::FailedPrecondition, "already filled")
    );
    // Another fund's order is as unknown as no order.
    submit(&mut c, order("o-2", "BTC-USD", OrderType::Limit)).await;
    let mut foreign = cancel("r-3", "o-2");
    foreign.fund_id = "other".into();
    assert_eq!(
        c.cancel_order(foreign).await.unwrap_err().code(),
        Code::NotFound
    );
    // A request id is one request: reused for another kind, it is refused.
    let mut reused = replace("r-3x", "o-2");
    reused.quantity = "2".into();
    c.replace_order(reused).await.unwrap();
    let status = c.cancel_order(cancel("r-3x", "o-2")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_replace_changes_only_what_the_order_type_has() {
    let oms = sim::start(sim::Script::default()).await;
    let mut c = client(&oms).await;
    submit(&mut c, order("o-1", "BTC-USD", OrderType::Limit)).await;
    submit(&mut c, order("o-2", "BTC-USD", OrderType::Market)).await;
    let nothing = c.replace_order(replace("r-0", "o-1")).await.unwrap_err();
    assert_eq!(nothing.code(), Code::InvalidArgument);
    let mut stop_on_limit = replace("r-1", "o-1");
    stop_on_limit.stop_price = "90000".into();
    assert_eq!(
        c.replace_order(stop_on_limit).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut limit_on_market = replace("r-2", "o-2");
    limit_on_market.limit_price = "1".into();
    assert_eq!(
        c.replace_order(limit_on_market).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut negative = replace("r-3", "o-1");
    negative.quantity = "-1".into();
    assert_eq!(
        c.replace_order(negative).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut new_limit = replace("r-4", "o-1");
    new_limit.limit_price = "94000".into();
    new_limit.quantity = "2".into();
    new_limit.set_tif(TimeInForce::Gtc);
    c.replace_order(new_limit).await.unwrap();
    let booked = oms.booked("o-1").unwrap();
    assert_eq!(booked.state, OrderState::Replaced);
    assert_eq!(
        (
            booked.order.limit_price.as_str(),
            booked.order.quantity.as_str(),
            booked.order.tif()
        ),
        ("94000", "2", TimeInForce::Gtc)
    );
    assert_eq!(
        booked.history,
        [
            "submitted",
            "replaced: quantity 1 -> 2, limit 95000 -> 94000, tif TIME_IN_FORCE_DAY -> TIME_IN_FORCE_GTC"
        ]
    );
}

#[tokio::test]
async fn cancel_all_clears_its_scope_only_and_replaced_orders_too() {
    let oms = sim::start(sim::Script::default()).await;
    let mut c = client(&oms).await;
    submit(&mut c, order("btc-1", "BTC-USD", OrderType::Limit)).await;
    submit(&mut c, order("btc-2", "BTC-USD", OrderType::Limit)).await;
    submit(&mut c, order("eth-1", "ETH-USD", OrderType::Limit)).await;
    let mut other_strategy = order("btc-3", "BTC-USD", OrderType::Limit);
    other_strategy.strategy_id = "mean-revert".into();
    submit(&mut c, other_strategy).await;
    let mut new_limit = replace("r-1", "btc-2");
    new_limit.limit_price = "94000".into();
    c.replace_order(new_limit).await.unwrap();
    assert!(oms.fill("btc-1"));
    let request = CancelAllOrdersRequest {
        request_id: "r-all".into(),
        fund_id: "desk".into(),
        strategy_id: "breakout".into(),
        symbol: "BTC-USD".into(),
        requester: requester(),
    };
    let cleared = c
        .cancel_all_orders(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cleared.client_order_ids, ["btc-2"]);
    assert_eq!(
        oms.booked("btc-2").unwrap().history,
        [
            "submitted",
            "replaced: limit 95000 -> 94000",
            "cancelled (cancel-all)"
        ]
    );
    for (id, state) in [
        ("btc-1", OrderState::Filled),
        ("eth-1", OrderState::Open),
        ("btc-3", OrderState::Open),
    ] {
        assert_eq!(oms.booked(id).unwrap().state, state, "{id}");
    }
    let again = c.cancel_all_orders(request).await.unwrap().into_inner();
    assert!(again.duplicate);
    assert_eq!(again.client_order_ids, ["btc-2"]);
}

#[tokio::test]
async fn modifications_meet_the_scripted_outage_like_submits() {
    let oms = sim::start(sim::Script {
        unavailable_calls: 1,
        ..sim::Script::default()
    })
    .await;
    let mut c = client(&oms).await;
    let status = c.cancel_order(cancel("r-1", "o-1")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(oms.state.lock().unwrap().calls, ["cancel:r-1"]);
}
