//! Human durations: `250ms`, `2s`, `5m`, `1h30m`, read and written by the `humantime` crate.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// A duration written for humans, printed back the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parses a duration in humantime's grammar: one or more `<integer><unit>` parts (`ms`, `s`,
    /// `m`, `h`, `d` and their long spellings: `5min`, `2 hours`, `1.5s`). A bare number is
    /// refused: its unit would be a guess; so are signs. Whole milliseconds: a finer duration is
    /// refused rather than rounded.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("{text:?} is not a duration (write e.g. \"250ms\", \"2s\", \"5m\", \"1h30m\")")
        };
        let duration = humantime::parse_duration(text).map_err(|_| bad())?;
        if duration.subsec_nanos() % 1_000_000 != 0 {
            return Err(format!("{text:?} is finer than a millisecond"));
        }
        Ok(Self(duration))
    }

    /// Returns the duration in whole milliseconds.
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        // humantime writes `1h 30m`; the configuration's own spelling has no spaces.
        let text = humantime::format_duration(self.0).to_string();
        f.write_str(&text.replace(' ', ""))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Result<u64, String> {
        HumanDuration::parse(text).map(HumanDuration::as_millis)
    }

    #[test]
    fn parses_units_compounds_and_long_spellings() {
        assert_eq!(ms("5min"), Ok(300_000));
        assert_eq!(ms("1.5s"), Ok(1500));
        assert_eq!(ms("2 hours"), Ok(7_200_000));
        assert_eq!(ms("250ms"), Ok(250));
        assert_eq!(ms("2s"), Ok(2000));
        assert_eq!(ms("5m"), Ok(300_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("1d"), Ok(86_400_000));
        assert_eq!(ms("0s"), Ok(0));
    }

    #[test]
    fn refuses_bare_numbers_and_unknown_units() {
        for bad in [
            "",
            "5",
            "m",
            "-5s",
            "+5s",
            "1.0005s",
            "5mm",
            "1us",
            "99999999999999999999999s",
        ] {
            assert!(ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prints_back_in_largest_units() {
        for text in ["250ms", "2s", "5m", "1h30m", "1m500ms", "0s"] {
            assert_eq!(HumanDuration::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(HumanDuration::parse("90s").unwrap().to_string(), "1m30s");
    }
}
