//! Human durations: `250ms`, `2s`, `5m`, `1h30m`.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// A duration written for humans, printed back the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl HumanDuration {
    /// Parses one or more `<integer><unit>` parts, units `ms`, `s`, `m`, `h`, `d`. A bare number
    /// is refused: its unit would be a guess.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("{text:?} is not a duration (write e.g. \"250ms\", \"2s\", \"5m\", \"1h30m\")")
        };
        let mut rest = text;
        let mut millis: u64 = 0;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let unit_len = rest[digits..]
                .bytes()
                .take_while(u8::is_ascii_alphabetic)
                .count();
            if digits == 0 || unit_len == 0 || digits > 12 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit = &rest[digits..digits + unit_len];
            let scale = UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, s)| *s)
                .ok_or_else(bad)?;
            millis = n
                .checked_mul(scale)
                .and_then(|m| millis.checked_add(m))
                .ok_or_else(bad)?;
            rest = &rest[digits + unit_len..];
        }
        Ok(Self(Duration::from_millis(millis)))
    }

    /// Returns the duration in whole milliseconds.
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut left = self.as_millis();
        if left == 0 {
            return f.write_str("0s");
        }
        for (unit, scale) in UNITS {
            if left >= scale {
                write!(f, "{}{unit}", left / scale)?;
                left %= scale;
            }
        }
        Ok(())
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
    fn parses_units_and_compounds() {
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
            "5 m",
            "m",
            "5min",
            "-5s",
            "1.5s",
            "5mm",
            "99999999999999999s",
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
