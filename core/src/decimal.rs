//! Exact decimals from text, and the money newtypes that cannot hold a zero, negative or rounded value.
//!
//! Every quantity and price enters the bridge as text (a JSON string, or a JSON number kept as its
//! exact text) and is parsed here without ever passing through a binary float. `rust_decimal`
//! holds 28 significant digits; anything that would need more is refused, never rounded.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

/// The most significant digits (and decimal places) a value may carry.
pub const MAX_DIGITS: u32 = 28;

/// Why a text is not an exact decimal the bridge accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not of the form `-?digits(.digits)?(e[+-]?digits)?`.
    #[error("not a decimal number (expected digits like 0.05, 95000 or 1e-5)")]
    Syntax,
    /// More than 28 significant digits: refused rather than rounded.
    #[error("more than 28 significant digits; refused rather than rounded")]
    TooPrecise,
    /// More than 28 digits before the decimal point.
    #[error("too large: more than 28 digits before the decimal point")]
    TooLarge,
    /// More than 28 digits after the decimal point.
    #[error("more than 28 decimal places; refused rather than rounded")]
    TooManyPlaces,
    /// Zero or negative where only a positive amount makes sense.
    #[error("must be greater than 0")]
    NotPositive,
}

/// Parses decimal text exactly: `0.05`, `95000`, `1e-5`, `2.5E+3`, `-1`.
///
/// The grammar is JSON's number grammar, except that leading zeros are tolerated (`007`). Trailing
/// zeros after the point carry no value and are dropped (`0.050` is `0.05`), so the result is
/// always normalized. Nothing is rounded: a value that `rust_decimal` cannot hold exactly is an
/// error.
pub fn parse_exact(text: &str) -> Result<Decimal, DecimalError> {
    let b = text.as_bytes();
    let mut i = 0;
    let negative = b.first() == Some(&b'-');
    if negative {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &b[int_start..i];
    if int_digits.is_empty() {
        return Err(DecimalError::Syntax);
    }
    let mut frac_digits: &[u8] = &[];
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &b[start..i];
        if frac_digits.is_empty() {
            return Err(DecimalError::Syntax);
        }
    }
    let mut exponent: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let exp_negative = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            // Saturate far beyond any representable exponent: the range checks below refuse it.
            exponent = (exponent * 10 + i64::from(b[i] - b'0')).min(1_000_000);
            i += 1;
        }
        if i == start {
            return Err(DecimalError::Syntax);
        }
        if exp_negative {
            exponent = -exponent;
        }
    }
    if i != b.len() {
        return Err(DecimalError::Syntax);
    }

    // The value is digits × 10^-scale, where digits = int ++ frac.
    let all = int_digits.iter().chain(frac_digits.iter()).copied();
    let leading_zeros = all.clone().take_while(|&d| d == b'0').count();
    let total = int_digits.len() + frac_digits.len();
    if leading_zeros == total {
        return Ok(Decimal::ZERO);
    }
    let trailing_zeros = all.clone().rev().take_while(|&d| d == b'0').count();
    let significant = total - leading_zeros - trailing_zeros;
    // scale after dropping the trailing zeros; negative means whole trailing zeros to add back.
    let scale = frac_digits.len() as i64 - exponent - trailing_zeros as i64;
    if significant as i64 > i64::from(MAX_DIGITS) {
        return Err(DecimalError::TooPrecise);
    }
    if scale > i64::from(MAX_DIGITS) {
        return Err(DecimalError::TooManyPlaces);
    }
    let integer_digits = significant as i64 - scale;
    if integer_digits > i64::from(MAX_DIGITS) {
        return Err(DecimalError::TooLarge);
    }
    let mut mantissa: i128 = all
        .skip(leading_zeros)
        .take(significant)
        .fold(0i128, |acc, d| acc * 10 + i128::from(d - b'0'));
    let mut scale = scale;
    while scale < 0 {
        mantissa *= 10;
        scale += 1;
    }
    if negative {
        mantissa = -mantissa;
    }
    // Cannot fail: at most 28 digits (< 2^96) and a scale of at most 28 were checked above.
    Decimal::try_from_i128_with_scale(mantissa, scale as u32).map_err(|_| DecimalError::TooLarge)
}

fn parse_positive(text: &str) -> Result<Decimal, DecimalError> {
    let value = parse_exact(text)?;
    if value <= Decimal::ZERO {
        return Err(DecimalError::NotPositive);
    }
    Ok(value)
}

macro_rules! positive_decimal {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Decimal);

        impl $name {
            /// Parses exact decimal text (see [`parse_exact`]) that must be greater than zero.
            pub fn parse(text: &str) -> Result<Self, DecimalError> {
                parse_positive(text).map(Self)
            }

            /// Accepts an already exact value if it is greater than zero; normalizes its scale.
            pub fn new(value: Decimal) -> Result<Self, DecimalError> {
                if value <= Decimal::ZERO {
                    return Err(DecimalError::NotPositive);
                }
                Ok(Self(value.normalize()))
            }

            /// Returns the exact value.
            pub fn value(self) -> Decimal {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = DecimalError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        /// Serialized as a decimal string (`"0.05"`), never as a JSON number.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }
    };
}

positive_decimal!(
    /// An order quantity: exact, normalized, greater than zero.
    Quantity
);
positive_decimal!(
    /// A limit or stop price: exact, normalized, greater than zero.
    Price
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> String {
        parse_exact(text).unwrap().to_string()
    }

    #[test]
    fn reads_plain_and_exponent_forms_exactly() {
        assert_eq!(d("0.05"), "0.05");
        assert_eq!(d("95000"), "95000");
        assert_eq!(d("1e-5"), "0.00001");
        assert_eq!(d("1E-5"), "0.00001");
        assert_eq!(d("2.5e+3"), "2500");
        assert_eq!(d("2.5e3"), "2500");
        assert_eq!(d("0.050"), "0.05");
        assert_eq!(d("007"), "7");
        assert_eq!(d("-1.5"), "-1.5");
        assert_eq!(d("0"), "0");
        assert_eq!(d("0.000e10"), "0");
        assert_eq!(d("1245.25"), "1245.25");
    }

    #[test]
    fn keeps_28_digits_and_refuses_the_29th() {
        assert_eq!(
            d("1234567890123456789012345678"),
            "1234567890123456789012345678"
        );
        assert_eq!(
            d("0.1234567890123456789012345678"),
            "0.1234567890123456789012345678"
        );
        assert_eq!(
            parse_exact("1.2345678901234567890123456789"),
            Err(DecimalError::TooPrecise)
        );
        // The f64 trap named in DEPENDENCIES.md: this must not become ...670000000.
        assert_eq!(
            parse_exact("123456789012345678901234"),
            Ok(Decimal::from_i128_with_scale(123456789012345678901234, 0))
        );
        assert_eq!(
            parse_exact("12345678901234567890123456789"),
            Err(DecimalError::TooPrecise)
        );
        assert_eq!(parse_exact("1e28"), Err(DecimalError::TooLarge));
        assert_eq!(d("1e27"), "1000000000000000000000000000");
        assert_eq!(parse_exact("1e-29"), Err(DecimalError::TooManyPlaces));
        assert_eq!(d("1e-28"), "0.0000000000000000000000000001");
        assert_eq!(parse_exact("1e999999999999"), Err(DecimalError::TooLarge));
        assert_eq!(
            parse_exact("1e-999999999999"),
            Err(DecimalError::TooManyPlaces)
        );
        // Trailing zeros are not significant, so a long but exact text is fine.
        assert_eq!(d("0.0500000000000000000000000000000000"), "0.05");
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        for bad in [
            "", "-", ".5", "5.", "+1", "1,000", " 1", "1 ", "0x10", "1e", "1e+", "NaN", "inf",
            "1.2.3", "１", "1_000", "--1", "1e5.5",
        ] {
            assert_eq!(parse_exact(bad), Err(DecimalError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn money_types_refuse_zero_and_negative() {
        assert_eq!(Quantity::parse("0"), Err(DecimalError::NotPositive));
        assert_eq!(Quantity::parse("-0.01"), Err(DecimalError::NotPositive));
        assert_eq!(Price::parse("0e5"), Err(DecimalError::NotPositive));
        assert_eq!(Quantity::parse("0.05").unwrap().to_string(), "0.05");
        assert_eq!(
            serde_json::to_string(&Price::parse("95000.10").unwrap()).unwrap(),
            "\"95000.1\""
        );
        assert_eq!(Quantity::new(Decimal::ZERO), Err(DecimalError::NotPositive));
    }

    proptest! {
        /// Any value rust_decimal can hold survives the trip through its own text unchanged.
        #[test]
        fn decimal_text_round_trips(mantissa in any::<i64>(), hi in any::<i32>(), scale in 0u32..=28) {
            let m = (i128::from(hi) << 64) | i128::from(mantissa as u64);
            let m = m % 10i128.pow(28);
            let value = Decimal::from_i128_with_scale(m, scale);
            let text = value.to_string();
            let parsed = parse_exact(&text).unwrap();
            prop_assert_eq!(parsed, value);
            prop_assert_eq!(parsed.to_string(), value.normalize().to_string());
        }

        /// The exponent form denotes the same value as the plain form.
        #[test]
        fn exponent_form_matches_plain_form(digits in "[1-9][0-9]{0,15}", exp in -12i32..12) {
            let plain = parse_exact(&digits).unwrap();
            let shifted = parse_exact(&format!("{digits}e{exp}")).unwrap();
            let factor = Decimal::from_i128_with_scale(1, exp.unsigned_abs());
            let expected = if exp >= 0 {
                plain * Decimal::from(10i64.pow(exp as u32))
            } else {
                plain * factor
            };
            prop_assert_eq!(shifted, expected);
        }

        /// Without an exponent, the parser reads exactly what rust_decimal's own exact reader
        /// reads, and refuses what it refuses or what has more than 28 significant digits.
        /// Trailing zeros after the point carry no value here (`0.050` is `0.05`), while
        /// rust_decimal keeps them as scale and may overflow on them (`80000000000.` and 18
        /// zeros), so it reads the text without them.
        #[test]
        fn plain_decimals_read_as_rust_decimal_reads_them(
            text in "-?[0-9]{1,30}(\\.[0-9]{1,30})?",
        ) {
            let value_digits = if text.contains('.') {
                text.trim_end_matches('0').trim_end_matches('.')
            } else {
                text.as_str()
            };
            let exact = Decimal::from_str_exact(value_digits);
            match parse_exact(&text) {
                Ok(value) => prop_assert_eq!(Ok(value), exact.map(|d| d.normalize())),
                // Refusing what rust_decimal holds is right only past the documented 28
                // significant digits (its 96 bits hold some 29-digit values).
                Err(_) => prop_assert!(
                    exact.as_ref().map_or(true, |v| {
                        v.normalize().mantissa().unsigned_abs().to_string().len() > 28
                    }),
                    "refused {} which rust_decimal reads as {:?}", text, exact
                ),
            }
        }

        /// Arbitrary text never panics the parser, and what it accepts is JSON number text.
        #[test]
        fn accepts_only_json_number_text(text in ".{0,64}") {
            if parse_exact(&text).is_ok() {
                let json: Result<serde_json::Number, _> = serde_json::from_str(&text);
                prop_assert!(json.is_ok(), "accepted {:?}", text);
            }
        }
    }
}
