//! Log lines leave the request path: a request formats its line and hands it to a writer thread,
//! which writes whatever has piled up with one `write` at most every [`LINGER`].
//!
//! Writing each line to stderr from the request's own thread cost a syscall and a contended
//! stderr lock per alert, and a stderr nobody reads would have stalled every request behind it.
//! Now a request never waits for the log: if [`CAPACITY`] lines are already waiting (the log
//! reader is stuck), the line is dropped and the writer reports how many with its next write.
//! A line is written within a few milliseconds; [`LogGuard`] flushes what is left at exit. A
//! SIGKILL can lose the last few milliseconds of lines (never an order: the store is the record).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait for the writer thread.
pub const CAPACITY: usize = 65_536;

/// How long the writer lets lines pile up after a write.
pub const LINGER: Duration = Duration::from_millis(2);

enum Msg {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// The tracing writer: each event becomes one [`Line`].
#[derive(Clone)]
pub struct Logs {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

/// Flushes the log lines still waiting when dropped (at exit).
pub struct LogGuard(SyncSender<Msg>);

impl Drop for LogGuard {
    fn drop(&mut self) {
        let (ack, done) = sync_channel(1);
        if self.0.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(Duration::from_secs(2));
        }
    }
}

/// Starts the writer thread over `out` with room for `capacity` waiting lines.
pub fn start(out: impl Write + Send + 'static, capacity: usize) -> (Logs, LogGuard) {
    let (tx, rx) = sync_channel(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    // If the thread cannot start, lines are dropped (and counted) rather than failing requests.
    let _ = std::thread::Builder::new()
        .name("mts1b-logs".into())
        .spawn(move || write_forever(rx, out, &counter));
    (
        Logs {
            tx: tx.clone(),
            dropped,
        },
        LogGuard(tx),
    )
}

fn write_forever(rx: Receiver<Msg>, mut out: impl Write, dropped: &AtomicU64) {
    let mut reported = 0;
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::new();
        let mut acks = Vec::new();
        let mut take = |msg| match msg {
            Msg::Line(line) => batch.extend_from_slice(&line),
            Msg::Flush(ack) => acks.push(ack),
        };
        take(first);
        while let Ok(msg) = rx.try_recv() {
            take(msg);
        }
        let lost = dropped.load(Ordering::Relaxed);
        if lost > reported {
            let _ = writeln!(
                batch,
                r#"{{"level":"WARN","target":"mts1b::logs","message":"log lines dropped: the log reader is not keeping up","dropped_total":{lost}}}"#
            );
            reported = lost;
        }
        // A failed write (the reader is gone) is ignored: a dead log collector never fails an
        // order.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        for ack in acks {
            let _ = ack.send(());
        }
        std::thread::sleep(LINGER);
    }
}

/// One log event being formatted; handed to the writer thread when dropped.
pub struct Line<'a> {
    logs: &'a Logs,
    buf: Vec<u8>,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.buf);
        if self.logs.tx.try_send(Msg::Line(line)).is_err() {
            self.logs.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            logs: self,
            buf: Vec::with_capacity(512),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Barrier, Mutex};

    use super::*;

    /// An output the test can read, and optionally hold shut until a barrier opens.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>, Option<Arc<Barrier>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Some(gate) = self.1.take() {
                gate.wait();
            }
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit(logs: &Logs, text: &str) {
        let mut line = logs.make_writer();
        line.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn every_line_arrives_whole_once_flushed() {
        let out = Shared::default();
        let (logs, guard) = start(out.clone(), CAPACITY);
        std::thread::scope(|s| {
            for t in 0..4 {
                let logs = &logs;
                s.spawn(move || {
                    for i in 0..500 {
                        emit(logs, &format!("thread {t} line {i}\n"));
                    }
                });
            }
        });
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 2000);
        for t in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            assert_eq!(mine.len(), 500);
            assert_eq!(
                mine[499],
                format!("thread {t} line 499"),
                "in order per thread"
            );
        }
    }

    #[test]
    fn a_stuck_reader_drops_lines_instead_of_blocking_and_says_so() {
        let gate = Arc::new(Barrier::new(2));
        let out = Shared(Arc::default(), Some(gate.clone()));
        let (logs, guard) = start(out.clone(), 4);
        // The first line reaches the writer, which then blocks in write until the gate opens.
        emit(&logs, "first\n");
        // Meanwhile lines pile up: 4 fit, the rest are dropped without waiting.
        while logs.dropped.load(Ordering::Relaxed) < 10 {
            emit(&logs, "more\n");
        }
        gate.wait();
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("first\n"), "{text}");
        assert!(text.contains("log lines dropped"), "{text}");
    }
}
