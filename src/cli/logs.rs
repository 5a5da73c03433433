//! Log lines leave the request path: a request formats its event as a JSON line and hands it to a
//! writer thread, which writes whatever has piled up with one `write` at most every [`LINGER`].
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

use mts1b_tradingview::core::json_text::first_special;
use mts1b_tradingview::core::{Clock, SystemClock};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

/// Lines that may wait for the writer thread.
pub const CAPACITY: usize = 8_192;

/// How long the writer lets lines pile up after a write.
pub const LINGER: Duration = Duration::from_millis(2);

enum Msg {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// The tracing layer: formats each event as one JSON line and hands it to the writer thread.
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

impl Logs {
    /// Hands one finished line to the writer thread, or drops (and counts) it if the thread is
    /// that far behind.
    fn send(&self, line: Vec<u8>) {
        if self.tx.try_send(Msg::Line(line)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Appends `text` as a JSON string.
fn push_str(line: &mut Vec<u8>, text: &str) {
    line.push(b'"');
    escape_into(line, text);
    line.push(b'"');
}

/// Appends `text` JSON-escaped (RFC 8259 §7: `"`, `\` and control characters), copying the runs
/// between escapes whole. Nearly every name and value has none: one scan, one copy.
fn escape_into(line: &mut Vec<u8>, text: &str) {
    let mut rest = text.as_bytes();
    while let Some(at) = first_special(rest) {
        line.extend_from_slice(&rest[..at]);
        let b = rest[at];
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            _ => 0,
        };
        if short == 0 {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            line.extend_from_slice(b"\\u00");
            line.push(HEX[usize::from(b >> 4)]);
            line.push(HEX[usize::from(b & 0xf)]);
        } else {
            line.extend_from_slice(&[b'\\', short]);
        }
        rest = &rest[at + 1..];
    }
    line.extend_from_slice(rest);
}

/// A `fmt::Write` that JSON-escapes into the line: `Debug` and `Display` values are written in
/// place, without a `String` of their own.
struct Escaping<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        escape_into(self.0, text);
        Ok(())
    }
}

/// Writes an event's fields as JSON members, straight into the line.
struct JsonFields<'a>(&'a mut Vec<u8>);

impl JsonFields<'_> {
    fn name(&mut self, field: &Field) {
        self.0.push(b',');
        push_str(self.0, field.name());
        self.0.push(b':');
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        push_str(self.0, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.name(field);
        // serde_json writes `null` for what JSON cannot hold (NaN, infinities).
        let _ = serde_json::to_writer(&mut *self.0, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.0
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        self.name(field);
        self.0.push(b'"');
        let _ = write!(Escaping(self.0), "{value:?}");
        self.0.push(b'"');
    }
}

// The line: {"timestamp":"…Z","level":"INFO", the fields in the order recorded (the event's text
// as "message"), "target":"…"}. Formatted here rather than by tracing-subscriber's JSON
// formatter, which cost ~21,000 instructions per event under callgrind, mostly in pushing
// serde_json's output through `fmt::Write` a few bytes at a time.
impl<S: Subscriber> Layer<S> for Logs {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = Vec::with_capacity(384);
        line.extend_from_slice(b"{\"timestamp\":\"");
        let _ = SystemClock.now().write_rfc3339(&mut Escaping(&mut line));
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(meta.level().as_str().as_bytes());
        line.push(b'"');
        event.record(&mut JsonFields(&mut line));
        line.extend_from_slice(b",\"target\":");
        push_str(&mut line, meta.target());
        line.extend_from_slice(b"}\n");
        self.send(line);
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
        logs.send(text.as_bytes().to_vec());
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

    fn escaped(text: &str) -> String {
        let mut line = vec![b'"'];
        escape_into(&mut line, text);
        line.push(b'"');
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn every_ascii_character_at_every_place_in_a_word_reads_back() {
        for c in (0u8..0x80).map(char::from) {
            for at in 0..17 {
                let mut text: Vec<char> = "abcdefghijklmnopq".chars().collect();
                text[at] = c;
                let text: String = text.into_iter().collect();
                let line = escaped(&text);
                assert_eq!(
                    serde_json::from_str::<String>(&line).unwrap(),
                    text,
                    "{line}"
                );
                // Only what must be escaped is: anything else is copied as it is.
                let must = c == '"' || c == '\\' || c < ' ';
                assert_eq!(line.len() == text.len() + 2, !must, "{line}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_reads_back(text in ".*", raw in proptest::collection::vec(0u8..0x80, 0..40)) {
            let raw = String::from_utf8(raw).unwrap();
            for text in [&text, &raw] {
                let line = escaped(text);
                proptest::prop_assert_eq!(&serde_json::from_str::<String>(&line).unwrap(), text);
            }
        }
    }

    #[test]
    fn events_become_json_lines_with_every_field() {
        use tracing_subscriber::layer::SubscriberExt;

        let out = Shared::default();
        let (logs, guard) = start(out.clone(), CAPACITY);
        let subscriber = tracing_subscriber::registry().with(logs);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "mts1b::alert", adapter = "tradingview", detail = %"a \"quoted\"\nline", raw = "tab\tback\\slash\u{1}\u{1f}\u{7f}é\r", n = -3i64, count = 7u64, ok = true, ms = 0.25, nan = f64::NAN, "alert");
            tracing::warn!(target: "mts1b::delivery", "second");
        });
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first = &lines[0];
        assert_eq!(first["message"], "alert");
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["target"], "mts1b::alert");
        assert_eq!(first["adapter"], "tradingview");
        assert_eq!(first["detail"], "a \"quoted\"\nline");
        assert_eq!(first["raw"], "tab\tback\\slash\u{1}\u{1f}\u{7f}é\r");
        assert_eq!(
            (first["n"].as_i64(), first["count"].as_u64()),
            (Some(-3), Some(7))
        );
        assert_eq!(
            (first["ok"].as_bool(), first["ms"].as_f64()),
            (Some(true), Some(0.25))
        );
        assert!(first["nan"].is_null());
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            (lines[1]["level"].as_str(), lines[1]["message"].as_str()),
            (Some("WARN"), Some("second"))
        );
    }
}
