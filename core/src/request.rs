//! The raw inbound request as adapters see it: headers, body bytes and the time it arrived.

use crate::time::UnixMillis;

/// An inbound request, already bounded by the runtime's body cap, free of any HTTP library type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawRequest {
    /// Header names in lower case, with their raw values, in arrival order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, exactly as received (signatures are computed over these bytes).
    pub body: Vec<u8>,
    /// When the bridge received the request.
    pub received_at: UnixMillis,
}

impl RawRequest {
    /// Returns a request with only a body, received at `received_at`.
    pub fn with_body(body: impl Into<Vec<u8>>, received_at: UnixMillis) -> Self {
        Self {
            headers: Vec::new(),
            body: body.into(),
            received_at,
        }
    }

    /// Adds a header (the name is lower-cased).
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Returns the first value of header `name` (case-insensitive) if it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_case_insensitive_and_utf8_only() {
        let req = RawRequest::with_body("x", UnixMillis(1))
            .header("X-Signature-Ed25519", "abc")
            .header("x-bin", vec![0xff, 0xfe]);
        assert_eq!(req.header_str("x-signature-ed25519"), Some("abc"));
        assert_eq!(req.header_str("X-SIGNATURE-ED25519"), Some("abc"));
        assert_eq!(req.header_str("x-bin"), None);
        assert_eq!(req.header_str("missing"), None);
    }
}
