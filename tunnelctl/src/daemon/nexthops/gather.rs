//! Reads what the planner needs from the kernel over rtnetlink: routes of
//! both families (all tables), neighbours with a usable address, links
//! (with their IPv6 MTU), the policy rules, the IPv6 forwarding switch.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result};
use futures_util::TryStreamExt;
use rtnetlink::{
    packet_route::{
        link::{AfSpecInet6, AfSpecUnspec, LinkAttribute},
        neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState},
        route::{RouteAddress, RouteAttribute, RouteMessage, RouteMetric, RouteType},
        rule::RuleAttribute,
    },
    Handle, IpVersion, RouteMessageBuilder,
};

use super::plan::{KLink, KNeigh, KRoute, Kernel};

pub async fn kernel(h: &Handle) -> Result<Kernel> {
    let mut routes = Vec::new();
    let v4: Vec<RouteMessage> = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .context("dumping IPv4 routes")?;
    let v6: Vec<RouteMessage> = h
        .route()
        .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .context("dumping IPv6 routes")?;
    routes.extend(v4.iter().chain(v6.iter()).filter_map(route));
    let neighbours = h
        .neighbours()
        .get()
        .execute()
        .try_collect::<Vec<_>>()
        .await
        .context("dumping neighbours")?
        .iter()
        .filter_map(|n| {
            let usable = matches!(
                n.header.state,
                NeighbourState::Reachable
                    | NeighbourState::Stale
                    | NeighbourState::Delay
                    | NeighbourState::Probe
                    | NeighbourState::Permanent
                    | NeighbourState::Noarp
            );
            let mut addr = None;
            let mut mac = None;
            for a in &n.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => {
                        addr = Some(IpAddr::V4(*v))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(v)) => {
                        addr = Some(IpAddr::V6(*v))
                    }
                    NeighbourAttribute::LinkLayerAddress(m) if m.len() == 6 => {
                        mac = Some([m[0], m[1], m[2], m[3], m[4], m[5]])
                    }
                    _ => {}
                }
            }
            Some(KNeigh {
                ifindex: n.header.ifindex,
                addr: addr?,
                mac: mac.filter(|_| usable)?,
            })
        })
        .collect();
    let links = h
        .link()
        .get()
        .execute()
        .try_collect::<Vec<_>>()
        .await
        .context("dumping links")?
        .iter()
        .filter_map(|l| {
            let mut mac = None;
            let mut mtu = None;
            let mut mtu6 = None;
            for a in &l.attributes {
                match a {
                    LinkAttribute::Address(m) if m.len() == 6 => {
                        mac = Some([m[0], m[1], m[2], m[3], m[4], m[5]])
                    }
                    LinkAttribute::Mtu(v) => mtu = Some(*v),
                    LinkAttribute::AfSpecUnspec(specs) => mtu6 = ipv6_mtu(specs),
                    _ => {}
                }
            }
            Some(KLink {
                ifindex: l.header.index,
                mac: mac?,
                mtu: mtu?,
                mtu6,
            })
        })
        .collect();
    Ok(Kernel {
        routes,
        neighbours,
        links,
        default_rules_v4: default_rules(h, IpVersion::V4).await?,
        default_rules_v6: default_rules(h, IpVersion::V6).await?,
        forwarding_v6: std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding")
            .map(|s| s.trim() == "1")
            .unwrap_or(false),
    })
}

/// The device's IPv6 MTU (`net.ipv6.conf.<dev>.mtu`, in the link dump's
/// IPv6 configuration); `None` if IPv6 is off on it.
fn ipv6_mtu(specs: &[AfSpecUnspec]) -> Option<u32> {
    specs
        .iter()
        .filter_map(|s| match s {
            AfSpecUnspec::Inet6(v) => Some(v),
            _ => None,
        })
        .flatten()
        .find_map(|a| match a {
            AfSpecInet6::DevConf(c) if c.disable_ipv6 == 0 => u32::try_from(c.mtu6).ok(),
            _ => None,
        })
}

fn route(r: &RouteMessage) -> Option<KRoute> {
    let mut out = KRoute {
        dst: match r.header.address_family {
            rtnetlink::packet_route::AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            rtnetlink::packet_route::AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => return None,
        },
        len: r.header.destination_prefix_length,
        table: r.header.table as u32,
        unicast: r.header.kind == RouteType::Unicast,
        gateway: None,
        oif: None,
        mtu: 0,
        // Source-specific and TOS routes are not modelled: the kernel
        // answers for them (and for their prefixes).
        multipath: r.header.source_prefix_length != 0 || r.header.tos != 0,
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(d) => out.dst = addr(d)?,
            RouteAttribute::Gateway(g) => out.gateway = addr(g),
            RouteAttribute::Oif(i) => out.oif = Some(*i),
            RouteAttribute::Table(t) => out.table = *t,
            RouteAttribute::MultiPath(_) => out.multipath = true,
            // A gateway of the other family: not modelled.
            RouteAttribute::Via(_) => out.multipath = true,
            RouteAttribute::Metrics(ms) => {
                for m in ms {
                    if let RouteMetric::Mtu(v) = m {
                        out.mtu = *v;
                    }
                }
            }
            _ => {}
        }
    }
    Some(out)
}

fn addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

/// Whether the rules are the kernel's defaults: local (0), main (32766)
/// and, for IPv4, default (32767), each a plain lookup of its table.
async fn default_rules(h: &Handle, v: IpVersion) -> Result<bool> {
    let rules: Vec<_> = h
        .rule()
        .get(v)
        .execute()
        .try_collect()
        .await
        .context("dumping policy rules")?;
    Ok(rules.iter().all(|r| {
        let mut prio = 0;
        let mut table = r.header.table as u32;
        let mut plain = true;
        for a in &r.attributes {
            match a {
                RuleAttribute::Priority(p) => prio = *p,
                RuleAttribute::Table(t) => table = *t,
                // Selectors (iif, fwmark, sources...) make it policy.
                RuleAttribute::Protocol(_) | RuleAttribute::SuppressPrefixLen(_) => {}
                _ => plain = false,
            }
        }
        plain
            && r.header.src_len == 0
            && r.header.dst_len == 0
            && matches!((prio, table), (0, 255) | (32766, 254) | (32767, 253))
    }))
}
