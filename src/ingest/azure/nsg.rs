//! Network security group evaluation, the way Azure does it: inbound rules by priority
//! ascending, the first rule that matches a packet decides, a deny stops the flow; a NIC
//! behind both a subnet NSG and a NIC NSG is reachable only where both allow.
//!
//! Evaluation works on port sets rather than single packets: walking the rules in order,
//! each matching rule decides the ports that no earlier rule decided.

use crate::ingest::PortRange;
use std::net::Ipv4Addr;

/// Where traffic comes from, as NSG rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Internet,
    /// Another address in the same (or a peered) virtual network; `None` when the export
    /// does not give it, in which case every private prefix is taken to match (reach is
    /// over-approximated rather than missed).
    VirtualNetwork(Option<Ipv4Addr>),
}

/// One inbound or outbound security rule, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub priority: u32,
    pub allow: bool,
    pub inbound: bool,
    /// Lowercase: `tcp`, `udp`, `icmp`, `*` (or `all`).
    pub protocol: String,
    pub sources: Vec<String>,
    pub ports: Vec<PortRange>,
}

/// Does an address prefix admit traffic from `src`?
pub fn prefix_matches(prefix: &str, src: Source) -> bool {
    let p = prefix.trim();
    let any = ["*", "any", "0.0.0.0/0", "::/0", "0.0.0.0"]
        .iter()
        .any(|x| p.eq_ignore_ascii_case(x));
    if any {
        return true;
    }
    match src {
        Source::Internet => p.eq_ignore_ascii_case("internet"),
        Source::VirtualNetwork(None) => p.eq_ignore_ascii_case("virtualnetwork") || is_private(p),
        Source::VirtualNetwork(Some(ip)) => {
            p.eq_ignore_ascii_case("virtualnetwork") || cidr_contains(p, ip)
        }
    }
}

/// `10.1.0.0/16` (or a bare address) contains `ip`?
pub fn cidr_contains(prefix: &str, ip: Ipv4Addr) -> bool {
    let (addr, len) = prefix.split_once('/').unwrap_or((prefix, "32"));
    let (Ok(net), Ok(len)) = (addr.trim().parse::<Ipv4Addr>(), len.trim().parse::<u32>()) else {
        return false;
    };
    if len > 32 {
        return false;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(net) & mask == u32::from(ip) & mask
}

/// The address of a NIC or the network address of a subnet prefix (`10.0.1.4`,
/// `10.0.1.0/24`, `172.20.2.16/28`).
pub fn address(s: &str) -> Option<Ipv4Addr> {
    s.split('/').next()?.trim().parse().ok()
}

/// RFC 1918 prefixes (and sub-prefixes of them), which stand for traffic inside the network.
fn is_private(p: &str) -> bool {
    let addr = p.split('/').next().unwrap_or("");
    let octets: Vec<u8> = addr.split('.').filter_map(|o| o.parse().ok()).collect();
    match octets.as_slice() {
        [10, ..] => true,
        [172, b, ..] => (16..=31).contains(b),
        [192, 168, ..] => true,
        _ => false,
    }
}

/// Parses `"80"`, `"80-443"`, `"*"` or `"0-65535"`.
pub fn parse_ports(s: &str) -> Option<PortRange> {
    crate::ingest::native::parse_port_range(s)
}

/// The TCP ports a rule set lets in from `src`, as sorted disjoint ranges.
pub fn allowed(rules: &[Rule], src: Source) -> Vec<PortRange> {
    let mut inbound: Vec<&Rule> = rules.iter().filter(|r| r.inbound).collect();
    inbound.sort_by_key(|r| r.priority);
    let mut undecided = vec![PortRange::ALL];
    let mut allowed = Vec::new();
    for r in inbound {
        let tcp = matches!(r.protocol.as_str(), "tcp" | "*" | "all" | "any");
        if !tcp || !r.sources.iter().any(|p| prefix_matches(p, src)) {
            continue;
        }
        let mut rest = Vec::new();
        for u in undecided {
            let mut pieces = vec![u];
            for rp in &r.ports {
                let mut next = Vec::new();
                for piece in pieces {
                    let (lo, hi) = (piece.lo.max(rp.lo), piece.hi.min(rp.hi));
                    if lo > hi {
                        next.push(piece);
                        continue;
                    }
                    if r.allow {
                        allowed.push(PortRange { lo, hi });
                    }
                    if piece.lo < lo {
                        next.push(PortRange {
                            lo: piece.lo,
                            hi: lo - 1,
                        });
                    }
                    if hi < piece.hi {
                        next.push(PortRange {
                            lo: hi + 1,
                            hi: piece.hi,
                        });
                    }
                }
                pieces = next;
            }
            rest.extend(pieces);
        }
        undecided = rest;
        if undecided.is_empty() {
            break;
        }
    }
    normalise(allowed)
}

/// Sorted, merged ranges.
pub fn normalise(mut v: Vec<PortRange>) -> Vec<PortRange> {
    v.sort();
    let mut out: Vec<PortRange> = Vec::new();
    for r in v {
        match out.last_mut() {
            Some(last) if r.lo as u32 <= last.hi as u32 + 1 => last.hi = last.hi.max(r.hi),
            _ => out.push(r),
        }
    }
    out
}

/// Ports in both sets: traffic must pass the subnet NSG and the NIC NSG.
pub fn intersect(a: &[PortRange], b: &[PortRange]) -> Vec<PortRange> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            let (lo, hi) = (x.lo.max(y.lo), x.hi.min(y.hi));
            if lo <= hi {
                out.push(PortRange { lo, hi });
            }
        }
    }
    normalise(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: u32, allow: bool, src: &str, ports: &[(u16, u16)]) -> Rule {
        Rule {
            name: format!("r{priority}"),
            priority,
            allow,
            inbound: true,
            protocol: "tcp".into(),
            sources: vec![src.into()],
            ports: ports.iter().map(|&(lo, hi)| PortRange { lo, hi }).collect(),
        }
    }

    fn defaults() -> Vec<Rule> {
        vec![
            rule(65000, true, "VirtualNetwork", &[(0, 65535)]),
            rule(65001, true, "AzureLoadBalancer", &[(0, 65535)]),
            rule(65500, false, "*", &[(0, 65535)]),
        ]
    }

    #[test]
    fn first_match_by_priority_wins() {
        let mut rules = defaults();
        rules.push(rule(100, false, "Internet", &[(22, 22)]));
        rules.push(rule(200, true, "*", &[(0, 1024)]));
        let ports = allowed(&rules, Source::Internet);
        assert_eq!(
            ports,
            vec![PortRange { lo: 0, hi: 21 }, PortRange { lo: 23, hi: 1024 }]
        );
        // Inside the network the default VirtualNetwork rule lets everything in.
        assert_eq!(
            allowed(&rules, Source::VirtualNetwork(None)),
            vec![PortRange::ALL]
        );
    }

    #[test]
    fn default_rules_keep_the_internet_out() {
        assert!(allowed(&defaults(), Source::Internet).is_empty());
        let mut rules = defaults();
        rules.push(rule(130, true, "*", &[(80, 80)]));
        assert_eq!(
            allowed(&rules, Source::Internet),
            vec![PortRange { lo: 80, hi: 80 }]
        );
    }

    #[test]
    fn both_nsgs_must_allow() {
        let a = vec![PortRange { lo: 80, hi: 443 }];
        let b = vec![PortRange { lo: 443, hi: 8080 }];
        assert_eq!(intersect(&a, &b), vec![PortRange { lo: 443, hi: 443 }]);
    }

    #[test]
    fn private_sources_are_the_network() {
        assert!(prefix_matches("10.1.0.0/16", Source::VirtualNetwork(None)));
        let ip = "10.1.2.3".parse().unwrap();
        assert!(prefix_matches(
            "10.1.0.0/16",
            Source::VirtualNetwork(Some(ip))
        ));
        assert!(!prefix_matches(
            "10.2.0.0/16",
            Source::VirtualNetwork(Some(ip))
        ));
        assert!(prefix_matches("10.1.2.3", Source::VirtualNetwork(Some(ip))));
        assert!(!prefix_matches("10.1.0.0/16", Source::Internet));
        assert!(prefix_matches("Internet", Source::Internet));
        assert!(!prefix_matches("203.0.113.0/24", Source::Internet));
    }
}
