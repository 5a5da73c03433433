//! Embedding the translator: build it in code (no config file), translate one alert.
//!
//! Run with `cargo run --example translate`.

use std::collections::BTreeMap;
use std::sync::Arc;

use mts1b_tradingview::adapters::tradingview::TradingView;
use mts1b_tradingview::config::StaticSecrets;
use mts1b_tradingview::core::{
    Clock, Envelope, FundId, FundPolicy, Intent, NoGates, Quantity, RateLimit, RawRequest, Secret,
    SymbolTable, SystemClock, Translated, Translation, translate,
};
use mts1b_tradingview::runtime::http::status::status_of;

fn main() {
    let fund = FundId::parse("paper-tv-test").expect("valid fund id");
    let secrets = StaticSecrets::new().with_fund(fund.clone(), Secret::new("change-me"));
    let funds = BTreeMap::from([(
        fund,
        FundPolicy {
            envelope: Envelope::allow_any(Quantity::parse("1").expect("valid quantity")),
            rate_limit: RateLimit {
                per_second: 10,
                burst: 10,
            },
        },
    )]);
    let adapter = TradingView::new(Arc::new(SymbolTable::default()));

    for body in [
        include_str!("alerts/spec-example.json"),
        r#"{"secret":"change-me","strategy_id":"demo","fund_id":"paper-tv-test",
            "symbol":"BINANCE:BTCUSDT.P","side":"buy","quantity":"0.05",
            "order_type":"market","idempotency_key":"demo-2"}"#,
        // SPEC §13: cancel the order keyed demo-2.
        r#"{"secret":"change-me","strategy_id":"demo","fund_id":"paper-tv-test",
            "action":"cancel","target_key":"demo-2","symbol":"BINANCE:BTCUSDT.P",
            "idempotency_key":"demo-2-cancel"}"#,
    ] {
        let request = RawRequest::with_body(body, SystemClock.now());
        // The service's own steps, without its stateful gates (rate limit, replay window).
        match translate(&adapter, &request, &secrets, &funds, &mut NoGates) {
            Ok(Translation::Order(Translated {
                intent: Intent::Submit(order),
                ..
            })) => println!(
                "accepted: {} {} {} (venue {:?}), client_order_id {}",
                order.side.as_str(),
                order.quantity,
                order.symbol,
                order.venue_hint.as_ref().map(|v| v.as_str()),
                order.client_order_id
            ),
            Ok(Translation::Order(Translated {
                intent: modification,
                ..
            })) => println!(
                "accepted: {} of {}, request id {}",
                modification.kind().as_str(),
                modification
                    .target()
                    .map_or("every order", |t| t.key.as_str()),
                modification.id()
            ),
            // TradingView answers nothing without an order (a Discord PING would).
            Ok(Translation::Answered(body)) => println!("answered: {body}"),
            Err(rejection) => println!(
                "rejected: HTTP {} {}",
                status_of(&rejection),
                serde_json::to_string(&rejection).expect("rejections serialize")
            ),
        }
    }
}
