//! Addresses and networks for the allowlist and trusted proxies: `52.89.214.238`, `10.0.0.0/8`,
//! `::1`, `2001:db8::/32`. The network arithmetic is the `ipnet` crate's; this type adds the
//! bridge's two rules: a bare address is a network of one, and host bits under the prefix are a
//! typo, not a network.

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};

/// An IP network (an address is a network of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet(ipnet::IpNet);

impl IpNet {
    /// Parses an address or `address/prefix`. Host bits set under the prefix are refused, as
    /// they usually mean a typo.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not an IP address or network (e.g. 52.89.214.238, 10.0.0.0/8, ::1)"
            )
        };
        let net = match text.parse::<IpAddr>() {
            Ok(addr) => ipnet::IpNet::from(addr),
            Err(_) => text.parse::<ipnet::IpNet>().map_err(|_| bad())?,
        };
        if net.trunc() != net {
            return Err(format!(
                "{text:?} has host bits set below its prefix /{}",
                net.prefix_len()
            ));
        }
        Ok(Self(net))
    }

    /// True when `addr` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// count as their IPv4 address.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&addr)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
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
