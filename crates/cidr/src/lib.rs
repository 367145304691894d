//! IP networks in CIDR notation, for SBC and peer addresses and for network
//! lists. IPv4 is held as IPv4-mapped IPv6 so one `u128` range covers both.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// A network: `192.0.2.0/24`, `2001:db8::/32`, or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// The first and last address, as `u128` (IPv4 mapped into IPv6).
    pub fn range(self) -> (u128, u128) {
        let (base, bits) = match self.addr {
            IpAddr::V4(a) => (u128::from(a.to_ipv6_mapped()), 96 + u32::from(self.len)),
            IpAddr::V6(a) => (u128::from(a), u32::from(self.len)),
        };
        let host = if bits >= 128 { 0 } else { u128::MAX >> bits };
        (base & !host, base | host)
    }

    pub fn contains(self, ip: IpAddr) -> bool {
        let (lo, hi) = self.range();
        (lo..=hi).contains(&ip_key(ip))
    }

    pub fn prefix_len(self) -> u8 {
        self.len
    }

    pub fn is_ipv4(self) -> bool {
        self.addr.is_ipv4()
    }

    /// How many addresses it holds (saturating at `u128::MAX`).
    pub fn size(self) -> u128 {
        let (lo, hi) = self.range();
        (hi - lo).saturating_add(1)
    }

    /// Every address in it, in order (meant for small networks: see `size`).
    pub fn hosts(self) -> impl Iterator<Item = IpAddr> {
        let (lo, hi) = self.range();
        let v4 = self.addr.is_ipv4();
        (lo..=hi).map(move |k| {
            let a = Ipv6Addr::from(k);
            match (v4, a.to_ipv4_mapped()) {
                (true, Some(b)) => IpAddr::V4(b),
                _ => IpAddr::V6(a),
            }
        })
    }
}

/// An address as the `u128` that [`Cidr::range`] uses.
pub fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(a),
        },
    }
}

/// Why a string is not a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrError(pub String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| {
            CidrError(format!(
                "{s:?} is not an IP network; write ADDRESS/PREFIX-LENGTH, e.g. 192.0.2.0/24 or 2001:db8::/32"
            ))
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    return Err(CidrError(format!(
                        "{s:?}: the prefix length must be a number from 0 to {max}"
                    )));
                }
            },
        };
        Ok(Cidr { addr, len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Address of a `u128` key, for messages.
pub fn key_to_ip(k: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(k);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_network_lists_its_addresses() {
        let n: Cidr = "127.0.0.8/30".parse().expect("a network");
        let hosts: Vec<String> = n.hosts().map(|h| h.to_string()).collect();
        assert_eq!(
            hosts,
            ["127.0.0.8", "127.0.0.9", "127.0.0.10", "127.0.0.11"]
        );
        assert_eq!(n.size(), 4);
        let one: Cidr = "2001:db8::1".parse().expect("an address");
        assert_eq!(one.size(), 1);
        assert_eq!(
            one.hosts().next().map(|h| h.to_string()).as_deref(),
            Some("2001:db8::1")
        );
        assert!(!one.is_ipv4());
        let all: Cidr = "::/0".parse().expect("everything");
        assert_eq!(all.size(), u128::MAX);
    }

    #[test]
    fn parses_and_contains() {
        let c: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(c.contains("192.0.2.77".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(c.contains("::ffff:192.0.2.1".parse().unwrap()));
        let h: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(h.prefix_len(), 32);
        assert!(h.contains("127.0.0.1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("192.0.2.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert_eq!(
            key_to_ip(ip_key("10.1.2.3".parse().unwrap())).to_string(),
            "10.1.2.3"
        );
    }

    #[test]
    fn refuses_bad_networks() {
        assert!("10.0.0/8".parse::<Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("::/129".parse::<Cidr>().is_err());
        assert!("10.0.0.0/x".parse::<Cidr>().is_err());
    }
}
