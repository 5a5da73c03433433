//! A scripted mts1b-oms for trying the bridge against an OMS.
//!
//! ```sh
//! cargo run --example oms_simulator -- --listen 127.0.0.1:50051 [--unavailable 3] \
//!     [--refuse-symbol ETH-USD] [--max-quantity 5] [--delay-ms 500] [--journal oms.jsonl]
//! ```
//! Every call and its answer is printed; stop with Ctrl-C.

mod sim;

use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:50051".to_owned();
    let mut script = sim::Script {
        print: true,
        ..sim::Script::default()
    };
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => listen = value(),
            "--unavailable" => script.unavailable_calls = value().parse().expect("a count"),
            "--refuse-symbol" => script.refuse_symbols.push(value()),
            "--journal" => script.journal = Some(value().into()),
            "--max-quantity" => script.max_quantity = Some(value().parse().expect("a decimal")),
            "--delay-ms" => {
                script.delay = Duration::from_millis(value().parse().expect("milliseconds"))
            }
            other => panic!("unknown flag {other}"),
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .expect("a free address");
        let oms = sim::start_on(listener, script).await;
        println!("OMS simulator listening on {}", oms.endpoint());
        // Serve until interrupted (or forever, where the signal cannot be watched).
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    });
}
