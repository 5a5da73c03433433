//! Validated text newtypes: identifiers, keys and free text that cannot hold what the schema forbids.

use std::fmt;

use serde::{Serialize, Serializer};

/// Why a text is not a valid value of its type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Empty where at least one character is required.
    #[error("must not be empty")]
    Empty,
    /// Longer than the type allows.
    #[error("longer than {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// Holds a character outside the allowed set.
    #[error("character {found:?} is not allowed (allowed: {allowed})")]
    BadCharacter {
        /// The first offending character.
        found: char,
        /// The allowed set, as written in the schema.
        allowed: &'static str,
    },
}

/// The character rules of one text type. Generic over its character test so that the test is
/// inlined into the scan (through a `fn` pointer it was an indirect call per character).
struct Rule<F> {
    max: usize,
    allowed: &'static str,
    ok: F,
}

impl<F: Fn(char) -> bool> Rule<F> {
    /// A rule; the bound here lets a closure's argument type be inferred.
    const fn new(max: usize, allowed: &'static str, ok: F) -> Self {
        Self { max, allowed, ok }
    }

    fn check(&self, text: &str) -> Result<(), TextError> {
        if text.is_empty() {
            return Err(TextError::Empty);
        }
        if let Some(found) = text.chars().find(|&c| !(self.ok)(c)) {
            return Err(TextError::BadCharacter {
                found,
                allowed: self.allowed,
            });
        }
        // Characters are counted only when the bytes could be too many.
        if text.len() > self.max && text.chars().count() > self.max {
            return Err(TextError::TooLong { max: self.max });
        }
        Ok(())
    }
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, max = $max:expr, allowed = $allowed:expr, ok = $ok:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Box<str>);

        impl $name {
            /// The longest value, in characters.
            pub const MAX_CHARS: usize = $max;
            /// The allowed characters, as the schema documents them.
            pub const ALLOWED: &'static str = $allowed;

            /// Validates `text` and wraps it.
            pub fn parse(text: &str) -> Result<Self, TextError> {
                Rule::new($max, $allowed, $ok).check(text)?;
                Ok(Self(text.into()))
            }

            /// Returns the text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

text_type!(
    /// A fund, as configured: 1–64 characters of `[A-Za-z0-9_.-]`.
    FundId, max = 64, allowed = "A-Z a-z 0-9 _ . -", ok = id_char
);
text_type!(
    /// A strategy: 1–64 characters of `[A-Za-z0-9_.:-]`.
    StrategyId, max = 64, allowed = "A-Z a-z 0-9 _ . : -", ok = |c| id_char(c) || c == ':'
);
text_type!(
    /// The sender's key for one alert: 1–128 printable ASCII characters (space included).
    IdempotencyKey, max = 128, allowed = "printable ASCII", ok = |c| matches!(c, ' '..='~')
);
text_type!(
    /// Who or what placed the order (`tradingview` by default): 1–64 characters, no control characters.
    Actor, max = 64, allowed = "any character but control characters", ok = |c| !c.is_control()
);
text_type!(
    /// Why the order exists, for the audit trail: up to 1024 characters; line breaks and tabs allowed.
    Thesis, max = 1024, allowed = "any character but control characters other than tab and line breaks",
    ok = |c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')
);
text_type!(
    /// A canonical MTS1B instrument (`BTC-USD`, `AAPL`, `EUR-USD`): 1–32 of `[A-Z0-9.-]`, starting
    /// with a letter or digit.
    CanonicalSymbol, max = 32, allowed = "A-Z 0-9 . -",
    ok = |c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '.' | '-')
);
text_type!(
    /// The symbol as TradingView sent it (`BINANCE:BTCUSDT.P`), carried to the OMS beside the
    /// canonical one: 1–64 characters, no control characters. Not an exchange API symbol.
    TradingViewSymbol, max = 64, allowed = "any character but control characters",
    ok = |c| !c.is_control()
);
text_type!(
    /// An id a chat platform assigns (a Slack team `T0123ABCD` or user `U0456EFGH`, a Discord
    /// guild, user or role snowflake): 1–32 ASCII letters and digits.
    PlatformId, max = 32, allowed = "A-Z a-z 0-9", ok = |c| c.is_ascii_alphanumeric()
);
text_type!(
    /// A routing hint for the OMS (`binance`, `coinbase`, `oanda`): 1–32 of `[a-z0-9_-]`.
    VenueHint, max = 32, allowed = "a-z 0-9 _ -",
    ok = |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')
);

impl CanonicalSymbol {
    /// Joins a base and a quote currency into a pair symbol (`BTC` + `USD` → `BTC-USD`).
    pub fn pair(base: &str, quote: &str) -> Result<Self, TextError> {
        Self::parse(&format!("{base}-{quote}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_their_character_sets() {
        assert!(FundId::parse("paper-tv-test").is_ok());
        assert_eq!(
            FundId::parse("paper tv"),
            Err(TextError::BadCharacter {
                found: ' ',
                allowed: FundId::ALLOWED
            })
        );
        assert!(FundId::parse("a:b").is_err());
        assert!(StrategyId::parse("tv:breakout_v1.2-x").is_ok());
        assert_eq!(FundId::parse(""), Err(TextError::Empty));
        assert_eq!(
            FundId::parse(&"a".repeat(65)),
            Err(TextError::TooLong { max: 64 })
        );
        assert!(FundId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn keys_are_printable_ascii() {
        assert!(IdempotencyKey::parse("tv_breakout_v1-Long 1-2024-03-01T12:34:56Z").is_ok());
        assert!(IdempotencyKey::parse("tab\there").is_err());
        assert!(IdempotencyKey::parse("café").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
    }

    #[test]
    fn free_text_counts_characters_not_bytes() {
        assert!(Thesis::parse(&"é".repeat(1024)).is_ok());
        assert!(Thesis::parse(&"é".repeat(1025)).is_err());
        assert!(Thesis::parse("line one\nline two").is_ok());
        assert!(Thesis::parse("bell\u{7}").is_err());
        assert!(Actor::parse("new\nline").is_err());
    }

    #[test]
    fn canonical_symbols_are_upper_case() {
        assert!(CanonicalSymbol::parse("BTC-USD").is_ok());
        assert!(CanonicalSymbol::parse("BRK.B").is_ok());
        assert!(CanonicalSymbol::parse("btc-usd").is_err());
        assert_eq!(
            CanonicalSymbol::pair("EUR", "USD").unwrap().as_str(),
            "EUR-USD"
        );
        assert!(VenueHint::parse("binance").is_ok());
        assert!(VenueHint::parse("Binance").is_err());
    }
}
