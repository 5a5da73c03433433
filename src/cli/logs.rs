//! Log lines leave the request path: a request formats its event as a JSON line and hands it to
//! `tracing-appender`'s non-blocking writer, whose thread writes whatever has piled up and then
//! flushes once (the output is buffered, so a burst of lines is one `write`).
//!
//! The writer is lossy: if [`CAPACITY`] lines are already waiting (the log reader is stuck), a
//! line is dropped rather than making the request wait, and the next line that gets through is
//! preceded by a `log lines dropped` warning with the total. At exit [`LogGuard`] lets the writer
//! write what is left, but waits at most [`FLUSH_TIMEOUT`]: a log reader that never reads again
//! must not keep the process alive after SIGTERM. A SIGKILL, or a stuck reader at exit, can lose
//! the last lines (never an order: the store is the record).

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mts1b_tradingview::core::json_text::first_special;
use mts1b_tradingview::core::{Clock, SystemClock};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::{Context, Layer};

/// Lines that may wait for the writer thread.
pub const CAPACITY: usize = 8_192;

/// The longest exit waits for the writer to write the lines still waiting.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Bytes the writer thread gathers before a `write` (it flushes whenever it has caught up).
const WRITE_BUFFER: usize = 64 * 1024;

/// The tracing layer: formats each event as one JSON line and hands it to the writer thread.
#[derive(Clone)]
pub struct Logs {
    writer: NonBlocking,
    dropped: ErrorCounter,
    reported: Arc<AtomicUsize>,
}

/// Lets the writer write the lines still waiting when dropped (at exit), for at most
/// [`FLUSH_TIMEOUT`].
pub struct LogGuard(Option<WorkerGuard>);

impl Drop for LogGuard {
    fn drop(&mut self) {
        let Some(guard) = self.0.take() else {
            return;
        };
        // The worker's guard waits for the writer up to ~1.1 s, then may print to stdout, which
        // can block too: it is dropped on a thread of its own, and exit goes on without it.
        let (done, finished) = std::sync::mpsc::channel();
        let flushing = std::thread::Builder::new()
            .name("mts1b-logs-exit".into())
            .spawn(move || {
                drop(guard);
                let _ = done.send(());
            });
        if flushing.is_ok() {
            let _ = finished.recv_timeout(FLUSH_TIMEOUT);
        }
    }
}

/// Starts the writer thread over `out` with room for `capacity` waiting lines.
pub fn start(out: impl Write + Send + 'static, capacity: usize) -> (Logs, LogGuard) {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(capacity)
        .thread_name("mts1b-logs")
        .finish(BufWriter::with_capacity(WRITE_BUFFER, out));
    let logs = Logs {
        dropped: writer.error_counter(),
        writer,
        reported: Arc::default(),
    };
    (logs, LogGuard(Some(guard)))
}

impl Logs {
    /// Hands one finished line to the writer thread, or drops (and counts) it if the thread is
    /// that far behind. Lines dropped since the last report are reported first, in the same
    /// write: if that write is dropped too, the next line reports again.
    fn send(&self, line: Vec<u8>) {
        let lost = self.dropped.dropped_lines();
        let reported = self.reported.load(Ordering::Relaxed);
        let text = if lost > reported {
            self.reported.fetch_max(lost, Ordering::Relaxed);
            let mut text = dropped_warning(lost);
            text.extend_from_slice(&line);
            text
        } else {
            line
        };
        // Lossy: never blocks, and never fails (a full queue counts a dropped line).
        let _ = self.writer.clone().write_all(&text);
    }
}

/// The warning line that `dropped` lines were lost, in the shape of every other line.
fn dropped_warning(dropped: usize) -> Vec<u8> {
    let mut line = Vec::with_capacity(192);
    line.extend_from_slice(b"{\"timestamp\":\"");
    let _ = SystemClock.now().write_rfc3339(&mut Escaping(&mut line));
    line.extend_from_slice(
        b"\",\"level\":\"WARN\",\"message\":\"log lines dropped: the log reader is not keeping up\",\"dropped_total\":",
    );
    let _ = write!(line, "{dropped}");
    line.extend_from_slice(b",\"target\":\"mts1b::logs\"}\n");
    line
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

    use serde_json::json;

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
        while logs.dropped.dropped_lines() < 10 {
            emit(&logs, "more\n");
        }
        let lost = logs.dropped.dropped_lines() as u64;
        gate.wait();
        // Once the reader catches up, the next line that gets through is preceded by the report.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let text = loop {
            emit(&logs, "after\n");
            std::thread::sleep(Duration::from_millis(1));
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            if text.contains("after") {
                break text;
            }
            assert!(std::time::Instant::now() < deadline, "{text}");
        };
        drop(guard);
        assert!(text.starts_with("first\nmore\n"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let after = lines.iter().position(|l| *l == "after").unwrap();
        let warning: serde_json::Value = serde_json::from_str(lines[after - 1])
            .unwrap_or_else(|e| panic!("{e}: no report before the next line: {text}"));
        assert_eq!(
            (&warning["level"], &warning["target"]),
            (&json!("WARN"), &json!("mts1b::logs"))
        );
        assert!(
            warning["dropped_total"].as_u64().unwrap() >= lost,
            "{warning}"
        );
        assert!(warning["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn exit_does_not_wait_for_a_reader_that_never_reads() {
        // The writer blocks in its first write forever (the barrier's other side never comes).
        let never = Shared(Arc::default(), Some(Arc::new(Barrier::new(2))));
        let (logs, guard) = start(never, 4);
        for _ in 0..100 {
            emit(&logs, "line\n");
        }
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(guard);
            let _ = done.send(());
        });
        // Bounded by FLUSH_TIMEOUT; the margin is for a loaded machine, not a measurement.
        assert!(
            dropped.recv_timeout(FLUSH_TIMEOUT * 5).is_ok(),
            "dropping the guard blocked"
        );
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
