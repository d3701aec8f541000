//! Who is asking: the key the public link server counts a client under (failed guesses, download
//! sessions).
//!
//! - The client's address is the TCP peer's, unless the peer is a **trusted proxy** (`[link]
//!   trusted_proxies`): then it is the address `X-Forwarded-For` names, read from the right and
//!   skipping the trusted proxies in the chain (each proxy appends the address it got the
//!   request from, so everything left of the first untrusted address could be forged by the
//!   client). A peer that is not trusted cannot set its address with the header.
//! - IPv4 addresses are keyed as they are; IPv6 addresses by their **/64** (one subscriber or LAN
//!   gets a /64 and picks addresses in it at will). An IPv4-mapped IPv6 address is its IPv4
//!   address.
//!
//! Pure rules, unit-tested here; the HTTP adapter hands in the peer and the header values.

use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The key a client is counted under: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of the client at `ip`.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let net = u128::from(v6) & !(u128::from(u64::MAX));
                ClientKey(IpAddr::V6(Ipv6Addr::from(net)))
            }
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed (`[link] trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// An entry of `[link] trusted_proxies` that is neither an IP address nor a CIDR network.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an IP address or a network such as 10.0.0.0/8")]
pub struct BadProxy(String);

impl TrustedProxies {
    /// Parse addresses (`10.0.0.5`, `::1`) and networks (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, BadProxy> {
        entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(e.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// No proxy is trusted (the default).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: `peer`, or when `peer` is trusted, the rightmost address of the
    /// `X-Forwarded-For` values (`forwarded_for`, in the order the header lines came) that is not
    /// a trusted proxy. When every address in the chain is trusted, the leftmost one; an entry
    /// that does not parse ends the walk at the address to its right.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.contains(peer) {
            return peer.to_canonical();
        }
        let chain: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let mut client = peer.to_canonical();
        for entry in chain.iter().rev() {
            let Some(ip) = parse_forwarded(entry) else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }

    /// The key of the client of a request from `peer` with these `X-Forwarded-For` values.
    pub fn client_key<'a>(
        &self,
        peer: SocketAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> ClientKey {
        ClientKey::of(self.client_ip(peer.ip(), forwarded_for))
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_is_keyed_by_its_64_and_ipv4_as_is() {
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2:aaaa::1")),
            ClientKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_ne!(ClientKey::of(ip("10.0.0.1")), ClientKey::of(ip("10.0.0.2")));
        assert_eq!(
            ClientKey::of(ip("::ffff:10.0.0.1")),
            ClientKey::of(ip("10.0.0.1"))
        );
        assert_eq!(ClientKey::of(ip("10.0.0.1")).to_string(), "10.0.0.1");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("10.0.0.1"), ["203.0.113.9"]),
            ip("10.0.0.1")
        );
        let t = TrustedProxies::parse(&["10.0.0.0/8", "::1"]).unwrap();
        // The peer is not trusted: its header is ignored.
        assert_eq!(
            t.client_ip(ip("198.51.100.1"), ["203.0.113.9"]),
            ip("198.51.100.1")
        );
        // Trusted peer: the rightmost untrusted address; a forged left part is skipped.
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), ["1.1.1.1, 203.0.113.9, 10.0.0.7"]),
            ip("203.0.113.9")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            t.client_ip(ip("::1"), ["1.1.1.1", "203.0.113.9"]),
            ip("203.0.113.9")
        );
        // No header: the proxy itself.
        assert_eq!(t.client_ip(ip("10.0.0.1"), []), ip("10.0.0.1"));
        // Ports and brackets.
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), ["[2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
        // Garbage stops the walk at the hop to its right.
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), ["203.0.113.9, unknown, 10.0.0.3"]),
            ip("10.0.0.3")
        );
        // IPv4-mapped peers match IPv4 networks.
        assert_eq!(
            t.client_ip(ip("::ffff:10.0.0.1"), ["203.0.113.9"]),
            ip("203.0.113.9")
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local"]).is_err());
    }
}
