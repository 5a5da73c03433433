//! The source-address gate: who is calling, and are they allowed to.
//!
//! The caller is the socket peer, unless the peer is a trusted proxy: then `X-Forwarded-For` is
//! read from the right, skipping trusted proxies, and the first address that is not one is the
//! caller (SPEC §6). Anything unreadable in the part of the header that matters is refused: a
//! proxy we trust wrote it, so garbage there means something is wrong.

use std::net::IpAddr;

use mts1b_inbound_core::IpNet;

/// The allowlist and the trusted proxies.
#[derive(Clone, Debug, Default)]
pub struct SourcePolicy {
    allowlist: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
}

impl SourcePolicy {
    /// A policy admitting `allowlist`, believing `X-Forwarded-For` from `trusted_proxies`.
    pub fn new(allowlist: Vec<IpNet>, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            allowlist,
            trusted_proxies,
        }
    }

    /// The same trusted proxies with another allowlist (an adapter's own, SPEC §12).
    pub fn with_allowlist(&self, allowlist: Vec<IpNet>) -> Self {
        Self {
            allowlist,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    fn trusted(&self, addr: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(addr))
    }

    /// True when `peer` is a trusted proxy (it carries many callers: per-peer caps do not
    /// apply to it, the caller it forwards is judged instead).
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted(peer)
    }

    /// True when a connection from `peer` may be kept at all: it is an allowed caller or a
    /// trusted proxy. Anything else can only ever be answered 403, so it is closed at accept,
    /// before it holds a connection slot.
    pub fn may_connect(&self, peer: IpAddr) -> bool {
        self.admits(peer) || self.trusted(peer)
    }

    /// Returns the caller's address, or `None` when a trusted proxy forwarded an unreadable
    /// chain. `forwarded_for` holds the `X-Forwarded-For` header values in arrival order, as
    /// raw bytes: a hop that is not UTF-8 is unreadable like any other garbage, never skipped
    /// (skipping it would judge the proxy, or an address left of it, instead of the caller).
    pub fn caller<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a [u8]>,
    ) -> Option<IpAddr> {
        if !self.trusted(peer) {
            return Some(peer);
        }
        let hops = forwarded_for
            .rev()
            .flat_map(|value| value.rsplit(|&b| b == b','));
        for hop in hops {
            let hop = std::str::from_utf8(hop).ok()?.trim();
            if hop.is_empty() {
                continue;
            }
            let addr: IpAddr = parse_hop(hop)?;
            if !self.trusted(addr) {
                return Some(addr);
            }
        }
        // Every hop was a trusted proxy (or there was no header): the request started inside.
        Some(peer)
    }

    /// True when `caller` may call the public listener.
    pub fn admits(&self, caller: IpAddr) -> bool {
        self.allowlist.iter().any(|net| net.contains(caller))
    }
}

/// Reads one hop: a bare address, or `[v6]:port` / `v4:port` as some proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(addr) = hop.parse() {
        return Some(addr);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    hop.rsplit_once(':')?
        .0
        .parse::<std::net::Ipv4Addr>()
        .ok()
        .map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| IpNet::parse(s).unwrap()).collect()
    }

    /// The caller for header values given as text.
    fn caller(p: &SourcePolicy, peer: &str, values: &[&str]) -> Option<IpAddr> {
        p.caller(ip(peer), values.iter().map(|v| v.as_bytes()))
    }

    fn policy() -> SourcePolicy {
        SourcePolicy::new(
            nets(&["52.89.214.238", "2001:db8::/32"]),
            nets(&["10.0.0.0/8", "::1"]),
        )
    }

    #[test]
    fn an_untrusted_peer_is_the_caller_whatever_it_claims() {
        let p = policy();
        let claimed = ["52.89.214.238"];
        assert_eq!(caller(&p, "203.0.113.9", &claimed), Some(ip("203.0.113.9")));
        assert!(!p.admits(ip("203.0.113.9")));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_caller() {
        let p = policy();
        let chain = ["1.2.3.4, 52.89.214.238, 10.0.0.7"];
        assert_eq!(caller(&p, "10.0.0.1", &chain), Some(ip("52.89.214.238")));
        // Several header lines are one list, in order.
        let lines = ["1.2.3.4", "52.89.214.238", "10.1.1.1"];
        assert_eq!(caller(&p, "::1", &lines), Some(ip("52.89.214.238")));
        // A spoofed leftmost entry does not matter.
        let spoofed = ["52.89.214.238, 198.51.100.1"];
        assert_eq!(caller(&p, "10.0.0.1", &spoofed), Some(ip("198.51.100.1")));
    }

    #[test]
    fn ports_and_v6_hops_are_read() {
        let p = policy();
        assert_eq!(
            caller(&p, "10.0.0.1", &["52.89.214.238:443"]),
            Some(ip("52.89.214.238"))
        );
        assert_eq!(
            caller(&p, "10.0.0.1", &["[2001:db8::5]:443"]),
            Some(ip("2001:db8::5"))
        );
        assert!(p.admits(ip("2001:db8::5")));
    }

    #[test]
    fn garbage_from_a_trusted_proxy_is_refused() {
        let p = policy();
        assert_eq!(caller(&p, "10.0.0.1", &["not-an-ip"]), None);
        // Only the part read matters: garbage left of the caller is ignored.
        assert_eq!(
            caller(&p, "10.0.0.1", &["junk, 52.89.214.238"]),
            Some(ip("52.89.214.238"))
        );
    }

    #[test]
    fn a_hop_that_is_not_utf8_is_refused_not_skipped() {
        let p = policy();
        let peer = ip("10.0.0.1");
        // One bad byte in the caller's hop: refused, not the proxy judged instead.
        assert_eq!(p.caller(peer, [&b"6.6.6.6\xff"[..]].into_iter()), None);
        // On its own header line, right of an allowed address: still the part that matters.
        let lines = [&b"52.89.214.238"[..], b"\xff"];
        assert_eq!(p.caller(peer, lines.into_iter()), None);
        // Left of the caller it is never read.
        assert_eq!(
            p.caller(peer, [&b"\xff, 52.89.214.238"[..]].into_iter()),
            Some(ip("52.89.214.238"))
        );
    }

    #[test]
    fn only_allowed_callers_and_trusted_proxies_may_connect() {
        let p = policy();
        assert!(p.may_connect(ip("52.89.214.238")));
        assert!(p.may_connect(ip("10.9.9.9")), "a trusted proxy");
        assert!(p.may_connect(ip("2001:db8::1")));
        assert!(!p.may_connect(ip("203.0.113.9")));
        assert!(p.is_trusted_proxy(ip("::1")) && !p.is_trusted_proxy(ip("52.89.214.238")));
    }

    #[test]
    fn no_header_behind_a_proxy_means_the_proxy_itself() {
        let p = policy();
        assert_eq!(caller(&p, "10.0.0.1", &[]), Some(ip("10.0.0.1")));
        assert!(!p.admits(ip("10.0.0.1")));
    }
}
