//! The shape nearly every alert has, read without serde: one flat object whose keys are known
//! fields, each once, and whose values are strings holding no escape and no control character.
//!
//! Anything else (a number, an escape, an unknown or repeated key, a syntax error anywhere)
//! gets `None`, and serde_json reads the body instead and decides the answer. So this reader
//! never has to produce an error, and what it accepts serde_json reads to the same fields (debug
//! and fuzz builds check that on every body). Under callgrind serde_json spent ~4,100
//! instructions on a typical alert's ~200 bytes; most of it per string, not per byte.

use std::borrow::Cow;

use mts1b_inbound_core::json_text::first_special;

use super::{Raw, RawFields};
use crate::tradingview::schema::index_of;

/// The fields of `text` if it has the plain shape, else `None`.
pub(super) fn read_plain(text: &str) -> Option<RawFields<'_>> {
    let bytes = text.as_bytes();
    let mut fields = RawFields::empty();
    let mut at = skip_space(bytes, 0);
    if *bytes.get(at)? != b'{' {
        return None;
    }
    at = skip_space(bytes, at + 1);
    if *bytes.get(at)? == b'}' {
        return (skip_space(bytes, at + 1) == bytes.len()).then_some(fields);
    }
    loop {
        let (key, after) = plain_string(text, at)?;
        let i = index_of(key)?;
        at = skip_space(bytes, after);
        if fields.values[i].is_some() || *bytes.get(at)? != b':' {
            return None;
        }
        let (value, after) = plain_string(text, skip_space(bytes, at + 1))?;
        fields.values[i] = Some(Raw::Text(Cow::Borrowed(value)));
        at = skip_space(bytes, after);
        match *bytes.get(at)? {
            b',' => at = skip_space(bytes, at + 1),
            b'}' => return (skip_space(bytes, at + 1) == bytes.len()).then_some(fields),
            _ => return None,
        }
    }
}

/// The index of the first byte at or after `at` that is not JSON whitespace.
fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// The string whose opening quote is at `at`, if it holds no escape and no control character:
/// its text and the index after its closing quote.
fn plain_string(text: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    if *bytes.get(at)? != b'"' {
        return None;
    }
    let start = at + 1;
    let end = start + first_special(bytes.get(start..)?)?;
    // `"` is ASCII, so both ends are character boundaries of `text`.
    (bytes[end] == b'"').then(|| (&text[start..end], end + 1))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_typical_alert_is_read_plainly_and_anything_odd_is_left_to_serde() {
        let alert = r#" {"secret":"s","fund_id":"f-1" , "symbol":"BINANCE:BTCUSDT"}
"#;
        let fields = read_plain(alert).expect("plain");
        assert_eq!(
            fields.values[crate::tradingview::schema::at::FUND_ID],
            Some(Raw::Text(Cow::Borrowed("f-1")))
        );
        assert!(read_plain("{}").is_some());
        for odd in [
            r#"{"secret":"a\"b"}"#,
            r#"{"quantity":1}"#,
            r#"{"nope":"x"}"#,
            r#"{"secret":"a","secret":"b"}"#,
            "{\"secret\":\"a\u{1}\"}",
            r#"{"secret":"a",}"#,
            r#"{"secret":"a"} x"#,
            r#"{"secret":"a""#,
            r#"["secret"]"#,
            "",
        ] {
            assert!(read_plain(odd).is_none(), "{odd:?}");
        }
    }

    /// Pieces of bodies: known keys (so the plain reader gets far), and the things it must hand
    /// to serde_json (escapes, controls, numbers, unknown keys, broken syntax).
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#""secret""#.to_owned()),
            Just(r#""fund_id""#.to_owned()),
            Just(r#""symbol""#.to_owned()),
            Just(r#""quantity""#.to_owned()),
            Just(r#""nope""#.to_owned()),
            Just(r#""""#.to_owned()),
            Just(r#""a\"b""#.to_owned()),
            Just(r#""\u0041""#.to_owned()),
            Just("\"tab\there\"".to_owned()),
            Just(r#""é ✓ 𝄞""#.to_owned()),
            Just(r#""{{close}}""#.to_owned()),
            Just("12.5".to_owned()),
            Just("true".to_owned()),
            Just("[]".to_owned()),
            Just(":".to_owned()),
            Just(",".to_owned()),
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just(" ".to_owned()),
            Just("\n".to_owned()),
            Just("\u{feff}".to_owned()),
            "[ -~]{0,6}".prop_map(|s| format!("\"{s}\"")),
        ]
    }

    /// Bodies shaped like alerts (`{"k":"v",...}`) with pieces swapped in here and there.
    fn body() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec((piece(), piece(), any::<bool>()), 0..6),
            any::<bool>(),
            piece(),
        )
            .prop_map(|(members, close, tail)| {
                let mut body = String::from("{");
                for (i, (key, value, sep)) in members.iter().enumerate() {
                    if i > 0 {
                        body.push_str(if *sep { "," } else { " , " });
                    }
                    body.push_str(key);
                    body.push(':');
                    body.push_str(value);
                }
                if close {
                    body.push('}');
                }
                if tail.trim().is_empty() {
                    body.push_str(&tail);
                }
                body
            })
    }

    proptest! {
        #[test]
        fn what_the_plain_reader_accepts_serde_json_reads_the_same(text in body()) {
            if let Some(plain) = read_plain(&text) {
                let serde = super::super::read_fields(serde_json::Deserializer::from_str(&text));
                let serde = serde.map_err(|e| e.to_string());
                prop_assert!(serde.is_ok(), "{text:?}: serde_json refused it: {serde:?}");
                let serde = serde.unwrap_or_else(|_| unreachable!());
                prop_assert!(serde.violation.is_none(), "{text:?}");
                prop_assert_eq!(&serde.values, &plain.values, "{:?}", text);
            }
        }

    }
}
