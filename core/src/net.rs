//! Addresses and networks for the allowlist and trusted proxies: `52.89.214.238`, `10.0.0.0/8`,
//! `::1`, `2001:db8::/32`.

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};

/// An IP network (an address is a network of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses an address or `address/prefix`. Host bits set under the prefix are refused, as
    /// they usually mean a typo.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not an IP address or network (e.g. 52.89.214.238, 10.0.0.0/8, ::1)"
            )
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(bad)?,
        };
        let net = Self { addr, prefix };
        if net.network_bits(addr) != Self::bits(addr) {
            return Err(format!(
                "{text:?} has host bits set below its prefix /{prefix}"
            ));
        }
        Ok(net)
    }

    fn bits(addr: IpAddr) -> u128 {
        match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn network_bits(&self, addr: IpAddr) -> u128 {
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let host_bits = u32::from(width - self.prefix);
        let bits = Self::bits(addr);
        if host_bits >= 128 {
            0
        } else {
            bits >> host_bits << host_bits
        }
    }

    /// True when `addr` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// count as their IPv4 address.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        addr.is_ipv4() == self.addr.is_ipv4() && self.network_bits(addr) == Self::bits(self.addr)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl Serialize for IpNet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn single_addresses_and_networks() {
        let one = IpNet::parse("52.89.214.238").unwrap();
        assert!(one.contains(ip("52.89.214.238")));
        assert!(!one.contains(ip("52.89.214.239")));
        assert!(one.contains(ip("::ffff:52.89.214.238")));
        let ten = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(ip("10.255.1.2")));
        assert!(!ten.contains(ip("11.0.0.1")));
        let v6 = IpNet::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        assert_eq!(all.to_string(), "0.0.0.0/0");
        assert_eq!(one.to_string(), "52.89.214.238");
    }

    #[test]
    fn refuses_typos() {
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "1.2.3",
            "localhost",
            "::1/129",
            "",
        ] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
    }
}
