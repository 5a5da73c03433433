//! Ids as key-value keys and subject tokens. Keys take only `[-/_=.A-Za-z0-9]` and subjects split
//! at `.`, while fund and strategy ids, keys (`{{timenow}}` renders a `:`) and symbols (`BRK.B`)
//! hold more: every byte outside `[A-Za-z0-9_-]` is written `=XX` (its hex), `=` itself
//! included, so the encoding is one to one and its output is both a valid key and one token.

/// `text` as one key or subject token.
pub fn token(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push('=');
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

/// The text [`token`] wrote, or `None` for what it never writes (a key written by hand).
pub fn untoken(token: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(token.len());
    let mut rest = token.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'=' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            if hex.bytes().any(|h| h.is_ascii_lowercase()) {
                return None;
            }
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            bytes.push(b);
            rest = tail;
        } else {
            return None;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_token_never_writes_is_not_read() {
        for written_by_hand in ["a.b", "=2", "=zz", "=2e", "=FF", "a b"] {
            assert_eq!(untoken(written_by_hand), None, "{written_by_hand}");
        }
    }

    #[test]
    fn every_id_becomes_one_valid_token_and_distinct_ids_stay_distinct() {
        assert_eq!(token("paper-tv-test"), "paper-tv-test");
        assert_eq!(token("BRK.B"), "BRK=2EB");
        assert_eq!(token("2024-03-01T12:35:00Z"), "2024-03-01T12=3A35=3A00Z");
        assert_eq!(token("a=b"), "a=3Db");
        assert_eq!(token("é"), "=C3=A9");
        // `=` is escaped, so no two texts meet: "a.b" and "a=2Eb" differ.
        assert_ne!(token("a.b"), token("a=2Eb"));
        for text in [
            "a b",
            "x*y",
            "x>y",
            "a.b.c",
            "k/1",
            "{{timenow}}",
            "é",
            "a=b",
            "",
        ] {
            let t = token(text);
            assert_eq!(untoken(&t).as_deref(), Some(text), "read back");
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-=".contains(&b)),
                "{t}"
            );
        }
    }
}
