//! The load harness's open-loop generator: sends TradingView alerts at a constant rate and
//! reports latency percentiles measured from each request's *intended* send time, so a stall
//! cannot hide by delaying the requests behind it (coordinated omission). wrk measures from the
//! actual send time and slows down when the server does; this does not.
//!
//! `cargo run --release --example constant_rate -- ADDR[,ADDR...] SECONDS MODE:RATE[,MODE:RATE...] [RUN]`
//!
//! Several addresses (replicas of the bridge, SPEC §14) share each stream's connections in turn,
//! so each gets an equal part of the rate.
//!
//! MODE is `accepted`, `duplicate`, `forged` or `oversize` (the bodies of `bench/alert.lua`:
//! 10,000 funds, unique idempotency keys per RUN). Several streams run at once, each with its own
//! connections and its own figures: `forged:20000,accepted:100` measures a genuine alert's
//! latency during a forged-secret flood. Prints one line per stream:
//! `RESULT mode rate sent ok_2xx non_2xx errors p50_us p99_us p999_us max_us` (errors: the
//! connection failed before an answer).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

/// Connections per stream: at the rates used here, none waits long for a free one unless the
/// server stalls, which is the point.
const CONNS: usize = 32;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Accepted,
    Duplicate,
    Forged,
    Oversize,
}

impl Mode {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "accepted" => Mode::Accepted,
            "duplicate" => Mode::Duplicate,
            "forged" => Mode::Forged,
            "oversize" => Mode::Oversize,
            _ => return None,
        })
    }

    /// The alert body of request `n`, as `bench/alert.lua` builds it.
    fn body(self, run: &str, stream: usize, n: u64) -> Bytes {
        let fund = n % funds();
        let (fund, key, secret) = match self {
            Mode::Duplicate => (0, format!("dup-{run}"), "secret-0".to_owned()),
            Mode::Forged => (fund, format!("k-{run}-{stream}-{n}"), format!("forged-{n}")),
            Mode::Accepted | Mode::Oversize => (
                fund,
                format!("k-{run}-{stream}-{n}"),
                format!("secret-{fund}"),
            ),
        };
        let mut body = format!(
            r#"{{"secret":"{secret}","strategy_id":"load","fund_id":"fund-{fund}","symbol":"BINANCE:BTCUSDT","side":"buy","quantity":"0.01","order_type":"market","idempotency_key":"{key}"}}"#
        );
        if self == Mode::Oversize {
            body.push_str(&" ".repeat(5000));
        }
        Bytes::from(body)
    }
}

/// How many funds the alerts cycle through: `FUNDS` (the config must have `fund-0` …), or the
/// harness's 10,000.
fn funds() -> u64 {
    static FUNDS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *FUNDS.get_or_init(|| {
        std::env::var("FUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(10_000)
    })
}

struct Stream {
    name: String,
    mode: Mode,
    rate: u64,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    ok: u64,
    non_2xx: u64,
    errors: u64,
}

/// One connection: sends the jobs it is given, in order, and records each latency from the
/// job's intended time.
async fn connection(
    addr: String,
    stream: Arc<Stream>,
    index: usize,
    run: Arc<String>,
    mut jobs: mpsc::UnboundedReceiver<(u64, Instant)>,
    tally: Arc<Mutex<Tally>>,
) {
    let mut sender = None;
    while let Some((n, intended)) = jobs.recv().await {
        // A connection the server closed (it does after a 413) is replaced before use.
        if let Some(s) = sender.as_mut()
            && ready(s).await.is_err()
        {
            sender = None;
        }
        if sender.is_none() {
            let tcp = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("the server is listening");
            let _ = tcp.set_nodelay(true);
            let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .expect("an HTTP/1.1 handshake");
            tokio::spawn(conn);
            sender = Some(s);
        }
        let s = sender.as_mut().expect("connected above");
        let request = Request::post("/tradingview/webhook")
            .header("host", &addr)
            .header("content-type", "application/json")
            .body(Full::new(stream.mode.body(&run, index, n)))
            .expect("a valid request");
        let outcome = match s.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let _ = response.into_body().collect().await;
                Some(status.is_success())
            }
            Err(_) => None,
        };
        let latency = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut t = tally.lock().expect("not poisoned");
        t.latencies_us.push(latency);
        match outcome {
            Some(true) => t.ok += 1,
            Some(false) => t.non_2xx += 1,
            None => {
                t.errors += 1;
                sender = None;
            }
        }
    }
}

async fn ready(s: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>) -> hyper::Result<()> {
    std::future::poll_fn(|cx| s.poll_ready(cx)).await
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: constant_rate ADDR[,ADDR...] SECONDS MODE:RATE[,MODE:RATE...] [RUN]";
    let (Some(addr), Some(secs), Some(mix)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let secs: u64 = secs.parse().expect("SECONDS is a number");
    let addrs: Vec<String> = addr.split(',').map(str::to_owned).collect();
    let run = Arc::new(args.get(4).cloned().unwrap_or_else(|| "cr".to_owned()));
    let streams: Vec<Arc<Stream>> = mix
        .split(',')
        .map(|part| {
            let (mode, rate) = part.split_once(':').expect("MODE:RATE");
            Arc::new(Stream {
                name: mode.to_owned(),
                mode: Mode::parse(mode).expect("a known mode"),
                rate: rate.parse().expect("RATE is a number"),
            })
        })
        .collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut tallies = Vec::new();
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for (index, stream) in streams.iter().enumerate() {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let mut conns = Vec::new();
        for c in 0..CONNS {
            let (tx, rx) = mpsc::unbounded_channel();
            conns.push(tx);
            workers.push(runtime.spawn(connection(
                addrs[c % addrs.len()].clone(),
                stream.clone(),
                index,
                run.clone(),
                rx,
                tally.clone(),
            )));
        }
        senders.push(conns);
        tallies.push(tally);
    }

    // The schedule runs on a plain thread: tokio's timer ticks in milliseconds, too coarse for
    // 20,000 requests a second; a thread sleeping to each due time is within tens of µs.
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs(secs);
    let mut next: Vec<u64> = vec![0; streams.len()];
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let mut soonest = end;
        for (i, stream) in streams.iter().enumerate() {
            let period = Duration::from_secs(1).div_f64(stream.rate as f64);
            loop {
                let due = start + period.mul_f64(next[i] as f64);
                if due > now {
                    soonest = soonest.min(due);
                    break;
                }
                let n = next[i];
                let conn = &senders[i][(n % CONNS as u64) as usize];
                let _ = conn.send((n, due));
                next[i] += 1;
            }
        }
        std::thread::sleep(soonest.saturating_duration_since(Instant::now()));
    }
    drop(senders);
    runtime.block_on(async {
        for worker in workers {
            let _ = worker.await;
        }
    });
    for (stream, tally) in streams.iter().zip(tallies) {
        let mut t = tally.lock().expect("not poisoned");
        t.latencies_us.sort_unstable();
        let l = &t.latencies_us;
        println!(
            "RESULT {} {} {} {} {} {} {} {} {} {}",
            stream.name,
            stream.rate,
            l.len(),
            t.ok,
            t.non_2xx,
            t.errors,
            percentile(l, 50.0),
            percentile(l, 99.0),
            percentile(l, 99.9),
            l.last().copied().unwrap_or(0)
        );
    }
}
