//! Wall-clock time as the bridge sees it: Unix milliseconds, one injectable clock, RFC 3339 parsing.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A point in time as milliseconds since the Unix epoch (UTC). Serialized as the integer.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// Returns the milliseconds since the Unix epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Returns `self - earlier` in milliseconds (negative when `earlier` is later).
    pub fn millis_since(self, earlier: UnixMillis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Formats the time as RFC 3339 UTC with millisecond precision (`2026-11-29T14:48:09.000Z`).
    pub fn to_rfc3339(self) -> String {
        let mut text = String::with_capacity(24);
        // Writing into a String cannot fail.
        let _ = self.write_rfc3339(&mut text);
        text
    }

    /// Writes what [`UnixMillis::to_rfc3339`] returns into `out`, without a String of its own.
    pub fn write_rfc3339(self, out: &mut impl fmt::Write) -> fmt::Result {
        let days = self.0.div_euclid(86_400_000);
        let ms_of_day = self.0.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
        let (min, rest) = (rest / 60_000, rest % 60_000);
        let (s, ms) = (rest / 1000, rest % 1000);
        if !(0..=9999).contains(&y) {
            return write!(out, "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z");
        }
        // Every log line and every order carries one: digits written directly cost ~900
        // instructions per call under callgrind, `format!` ~3,000.
        let mut text = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: i64| {
            for slot in text[at..at + width].iter_mut().rev() {
                // 0..=9 after the modulo: the cast cannot truncate.
                *slot = b'0' + u8::try_from(value % 10).unwrap_or(0);
                value /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, h);
        put(14, 2, min);
        put(17, 2, s);
        put(20, 3, ms);
        // ASCII digits and separators: always UTF-8.
        out.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_rfc3339(f)
    }
}

/// The one source of "now" for everything time-dependent (staleness, replay windows, rate limits,
/// signature tolerance), so tests control time instead of sleeping.
pub trait Clock: Send + Sync {
    /// Returns the current wall-clock time.
    fn now(&self) -> UnixMillis;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixMillis(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to; for tests and offline tools.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Returns a clock standing at `at`.
    pub fn at(at: UnixMillis) -> Self {
        Self(Arc::new(AtomicI64::new(at.0)))
    }

    /// Moves the clock forward (or back, with a negative amount) by `millis`.
    pub fn advance(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: UnixMillis) {
        self.0.store(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMillis {
        UnixMillis(self.0.load(Ordering::SeqCst))
    }
}

/// Why a timestamp is not RFC 3339.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 time (expected like 2026-11-29T14:48:09Z)")]
pub struct TimeFormatError;

/// Parses an RFC 3339 date-time (`2026-11-29T14:48:09Z`, `…09.123+02:00`) into Unix milliseconds.
///
/// Fractions below a millisecond are truncated. Leap second 60 is refused: no order needs it and
/// the OS clock never shows it.
pub fn parse_rfc3339(text: &str) -> Result<UnixMillis, TimeFormatError> {
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > 35 {
        return Err(TimeFormatError);
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(TimeFormatError);
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(TimeFormatError);
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(TimeFormatError);
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(TimeFormatError);
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return Err(TimeFormatError);
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(TimeFormatError);
            }
            let m = oh * 60 + om;
            if *sign == b'-' { -m } else { m }
        }
        _ => return Err(TimeFormatError),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Ok(UnixMillis(secs * 1000 + millis))
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<i64, TimeFormatError> {
    let slice = b.get(at..at + n).ok_or(TimeFormatError)?;
    slice.iter().try_fold(0i64, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + i64::from(c - b'0'))
        } else {
            Err(TimeFormatError)
        }
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_timenow_renders() {
        // 2024-03-01T12:34:56Z, checked with `date -u -d ... +%s`.
        assert_eq!(
            parse_rfc3339("2024-03-01T12:34:56Z"),
            Ok(UnixMillis(1_709_296_496_000))
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(UnixMillis(0)));
    }

    #[test]
    fn applies_offsets_and_fractions() {
        assert_eq!(
            parse_rfc3339("2024-03-01T14:34:56.789+02:00"),
            Ok(UnixMillis(1_709_296_496_789))
        );
        assert_eq!(
            parse_rfc3339("2024-03-01T12:34:56.7891234z"),
            Ok(UnixMillis(1_709_296_496_789))
        );
        assert_eq!(
            parse_rfc3339("2024-03-01T11:34:56.5-01:00"),
            Ok(UnixMillis(1_709_296_496_500))
        );
    }

    #[test]
    fn refuses_impossible_or_partial_times() {
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00+0200",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+24:00",
            "1709296496",
            "{{timenow}}",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), Err(TimeFormatError), "{bad}");
        }
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Ok(UnixMillis(1_709_164_800_000))
        );
    }

    #[test]
    fn formats_back_to_rfc3339() {
        let t = UnixMillis(1_709_296_496_789);
        assert_eq!(t.to_rfc3339(), "2024-03-01T12:34:56.789Z");
        assert_eq!(parse_rfc3339(&t.to_rfc3339()), Ok(t));
        assert_eq!(UnixMillis(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        assert_eq!(UnixMillis(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            UnixMillis(-62_135_596_800_000).to_rfc3339(),
            "0001-01-01T00:00:00.000Z"
        );
        // Outside years 0..=9999 the text is what `format!` makes of it.
        assert_eq!(
            UnixMillis(253_402_300_800_000).to_rfc3339(),
            "10000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            UnixMillis(-62_167_219_200_001).to_rfc3339(),
            "-001-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(UnixMillis(1000));
        assert_eq!(clock.now(), UnixMillis(1000));
        clock.advance(250);
        assert_eq!(clock.now(), UnixMillis(1250));
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_round_trips(ms in -62_135_596_800_000i64..253_402_300_799_999i64) {
            let t = UnixMillis(ms);
            proptest::prop_assert_eq!(parse_rfc3339(&t.to_rfc3339()), Ok(t));
        }
    }
}
