//! How fast this machine is right now: one thread per CPU repeats a fixed piece of arithmetic
//! and prints, once a second, how long each took. On an idle box the figures should not move;
//! on the 2-vCPU machine of BENCHMARKS.md the same loop written in C jumped 2-2.5x for stretches
//! of ~10 s, both CPUs at once, which is why the load harness interleaves the ceiling and the
//! bridge in short slices.
//! `cargo run --release --example host_speed -- 40` (seconds, default 30).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The fixed work: `STEPS` additions through memory (~35 ms at full speed on this machine).
const STEPS: u64 = 100_000_000;

fn work() -> Duration {
    // A relaxed load and store per step: plain moves the compiler may not fold away.
    let sum = AtomicU64::new(0);
    // Seen from outside, so every step must really reach memory.
    let sum = black_box(&sum);
    let started = Instant::now();
    for step in 0..STEPS {
        sum.store(
            sum.load(Ordering::Relaxed).wrapping_add(step),
            Ordering::Relaxed,
        );
    }
    black_box(sum.load(Ordering::Relaxed));
    started.elapsed()
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    for cpu in 0..cpus {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for second in 0..seconds {
                let took = work();
                let _ = tx.send((second, cpu, took));
                let next = start + Duration::from_secs(second + 1);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
    }
    drop(tx);
    let mut row = vec![None; cpus];
    let mut current = 0;
    for (second, cpu, took) in rx {
        if second != current {
            print_row(current, &row);
            row.iter_mut().for_each(|r| *r = None);
            current = second;
        }
        row[cpu] = Some(took);
    }
    print_row(current, &row);
}

fn print_row(second: u64, row: &[Option<Duration>]) {
    let cells: Vec<String> = row
        .iter()
        .map(|took| took.map_or("-".into(), |t| format!("{:4} ms", t.as_millis())))
        .collect();
    println!("{second:3} s  {}", cells.join("  "));
}
