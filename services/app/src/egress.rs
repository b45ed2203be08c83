//! Where Fleetledger may send requests on a tenant's behalf: webhook targets. A tenant names
//! the URL, so by default no target may reach inside: loopback, private, link-local (the
//! cloud metadata address among them), carrier-grade NAT, unspecified, multicast and IPv6
//! unique-local addresses are refused, when a channel is created and again at each delivery
//! after DNS resolution, through a resolver that hands the connection only addresses it
//! checked (so a name that re-resolves inward, DNS rebinding, gets nothing). An explicit
//! allowlist (`FLEET_WEBHOOK_ALLOWED_TARGETS`: host names, addresses or CIDR blocks) opens
//! chosen ones, for development and tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// An address block: the first address's bits and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    bits: u128,
    prefix: u8,
    v4: bool,
}

impl Block {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let ip: IpAddr = address.trim_matches(['[', ']']).parse().ok()?;
        let (bits, max, v4) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32, true),
            IpAddr::V6(v6) => (u128::from(v6), 128, false),
        };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { bits, prefix, v4 })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (bits, max, v4) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u8, true),
            IpAddr::V6(v6) => (u128::from(v6), 128u8, false),
        };
        if v4 != self.v4 {
            return false;
        }
        let shift = u32::from(max - self.prefix);
        self.prefix == 0 || (bits >> shift) == (self.bits >> shift)
    }
}

/// Whether an address is inside: not somewhere a tenant's webhook may be sent by default.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // Carrier-grade NAT, 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7 (AWS's metadata fd00:ec2::254 among them), link-local fe80::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    hosts: Vec<String>,
    blocks: Vec<Block>,
}

impl EgressPolicy {
    /// Reads the allowlist: host names, addresses and CIDR blocks.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut policy = Self::default();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            match Block::parse(entry) {
                Some(block) => policy.blocks.push(block),
                None if entry.contains('/') => {
                    return Err(format!("{entry} is not an address block"))
                }
                None => policy.hosts.push(entry.to_ascii_lowercase()),
            }
        }
        Ok(policy)
    }

    fn allows_name(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether a delivery may connect to `ip` (for a host not allowed by name).
    pub fn allows(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.blocks.iter().any(|b| b.contains(ip))
    }

    /// Why `url` may not be a target as written, or `Ok` when it may (a name is checked
    /// again, resolved, when a delivery is made).
    pub fn check_literal(&self, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
        let host = match parsed.host() {
            Some(url::Host::Domain(name)) => name.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => return self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => return self.check_ip(IpAddr::V6(ip)),
            None => return Err(format!("{url} names no host")),
        };
        if self.allows_name(&host) {
            return Ok(());
        }
        let inward = host == "localhost"
            || host.ends_with(".localhost")
            || host.ends_with(".internal")
            || host.ends_with(".local");
        if inward {
            return Err(format!(
                "{host} is an internal name: webhook targets must be reachable from outside"
            ));
        }
        Ok(())
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allows(ip) || self.allows_name(&ip.to_string()) {
            Ok(())
        } else {
            Err(format!(
                "{ip} is an internal address (loopback, private, link-local or metadata): \
                 webhook targets must be reachable from outside"
            ))
        }
    }

    /// The creation check: the URL as written, then what its name resolves to now.
    pub async fn check_target(&self, url: &str) -> Result<(), String> {
        self.check_literal(url)?;
        let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
        let Some(url::Host::Domain(name)) = parsed.host() else {
            return Ok(());
        };
        if self.allows_name(name) {
            return Ok(());
        }
        // A name that does not resolve yet is checked when a delivery is made.
        let Ok(addresses) = tokio::net::lookup_host((name, 0)).await else {
            return Ok(());
        };
        for address in addresses {
            self.check_ip(address.ip())
                .map_err(|why| format!("{name} resolves to {why}"))?;
        }
        Ok(())
    }
}

/// The deliveries' resolver: only addresses the policy allows reach the connection.
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Arc<EgressPolicy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if policy.allows_name(&host) {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let refused: Vec<String> = found
                .iter()
                .filter(|a| !policy.allows(a.ip()))
                .map(|a| a.ip().to_string())
                .collect();
            if !refused.is_empty() {
                return Err(format!(
                    "{host} resolves to internal addresses ({}): not delivered",
                    refused.join(", ")
                )
                .into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_refused_unless_allowed() {
        let none = EgressPolicy::default();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:192.168.0.1]/",
            "http://100.64.0.1/",
            "http://localhost:9000/",
            "http://metadata.google.internal/",
        ] {
            assert!(none.check_literal(url).is_err(), "{url}");
        }
        assert!(none.check_literal("https://hooks.example.com/x").is_ok());
        assert!(none.check_literal("http://8.8.8.8/").is_ok());
        let some = EgressPolicy::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        assert!(some.check_literal("http://127.0.0.1:8080/hook").is_ok());
        assert!(some.check_literal("http://10.200.0.1/").is_ok());
        assert!(some.check_literal("http://127.0.0.2/").is_err());
        assert!(some.check_literal("http://192.168.1.1/").is_err());
        assert!(EgressPolicy::parse(&["10.0.0.0/99".into()]).is_err());
    }
}
