//! `application/x-www-form-urlencoded` bodies and query strings: Slack's slash commands, and
//! the admin page's forms and filters. One parser for both.

use crate::Rejection;

/// The most fields a form may carry.
const MAX_FIELDS: usize = 64;

/// A decoded form body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// Returns the first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes a form body (`key=value&...`, `+` for a space): at most 64 fields, each name and
/// value percent-decoded by the `percent-encoding` crate and required to be UTF-8 (an escape that
/// is not one, such as `%zz`, is kept as written, as the WHATWG URL standard reads forms).
pub fn parse_form(body: &[u8]) -> Result<Form, Rejection> {
    let mut fields = Vec::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if fields.len() == MAX_FIELDS {
            return Err(Rejection::invalid("body", "more than 64 form fields"));
        }
        let mut parts = pair.splitn(2, |&b| b == b'=');
        let key = decode(parts.next().unwrap_or_default())?;
        let value = decode(parts.next().unwrap_or_default())?;
        fields.push((key, value));
    }
    Ok(Form { fields })
}

fn decode(raw: &[u8]) -> Result<String, Rejection> {
    // `+` is a space in forms; a literal plus arrives as `%2B`, which decoding leaves alone.
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| Rejection::invalid("body", "not a valid url-encoded form: not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        let f = parse_form(b"command=%2Fbuy&text=BTC+0.5&empty=&bare").unwrap();
        assert_eq!(f.get("command"), Some("/buy"));
        assert_eq!(f.get("text"), Some("BTC 0.5"));
        assert_eq!(f.get("empty"), Some(""));
        assert_eq!(f.get("bare"), Some(""));
        assert_eq!(f.get("missing"), None);
    }

    #[test]
    fn refuses_broken_forms() {
        // Bytes that are not UTF-8, escaped or not.
        for bad in [&b"a=%ff"[..], b"a=\xff", b"%c3=1"] {
            assert!(parse_form(bad).is_err(), "{bad:?}");
        }
        // Escapes that are not escapes stay as written; a plus escaped is a plus.
        let f = parse_form(b"a=%2&b=%zz&c=1%2B1").unwrap();
        assert_eq!(
            (f.get("a"), f.get("b"), f.get("c")),
            (Some("%2"), Some("%zz"), Some("1+1"))
        );
        let many = vec!["a=1"; 65].join("&");
        assert!(parse_form(many.as_bytes()).is_err());
    }
}
