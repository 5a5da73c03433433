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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_becomes_one_valid_token_and_distinct_ids_stay_distinct() {
        assert_eq!(token("paper-tv-test"), "paper-tv-test");
        assert_eq!(token("BRK.B"), "BRK=2EB");
        assert_eq!(token("2024-03-01T12:35:00Z"), "2024-03-01T12=3A35=3A00Z");
        assert_eq!(token("a=b"), "a=3Db");
        assert_eq!(token("é"), "=C3=A9");
        // `=` is escaped, so no two texts meet: "a.b" and "a=2Eb" differ.
        assert_ne!(token("a.b"), token("a=2Eb"));
        for text in ["a b", "x*y", "x>y", "a.b.c", "k/1", "{{timenow}}"] {
            let t = token(text);
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-=".contains(&b)),
                "{t}"
            );
        }
    }
}
