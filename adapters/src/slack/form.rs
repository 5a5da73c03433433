//! `application/x-www-form-urlencoded` bodies, as Slack sends slash commands.

use mts1b_inbound_core::Rejection;

/// The most fields a command body may carry.
const MAX_FIELDS: usize = 64;

/// A decoded slash-command form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackCommand {
    fields: Vec<(String, String)>,
}

impl SlackCommand {
    /// Returns the first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes a form body strictly: valid percent escapes, UTF-8, at most 64 fields.
pub fn parse_form(body: &[u8]) -> Result<SlackCommand, Rejection> {
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
    Ok(SlackCommand { fields })
}

fn decode(raw: &[u8]) -> Result<String, Rejection> {
    let bad = || Rejection::invalid("body", "not a valid url-encoded form");
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(crate::signed::decode::<1>(hex).ok_or_else(bad)?[0]);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
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
        for bad in [&b"a=%2"[..], b"a=%zz", b"a=%ff", b"a=\xff"] {
            assert!(parse_form(bad).is_err(), "{bad:?}");
        }
        let many = vec!["a=1"; 65].join("&");
        assert!(parse_form(many.as_bytes()).is_err());
    }
}
