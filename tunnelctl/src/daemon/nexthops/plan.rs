//! From the kernel's routes, neighbours and links to the next-hop cache's
//! tables: a pure function, tested on the host.
//!
//! The cache must answer exactly as `bpf_fib_lookup` would, or not at all.
//! So it mirrors the main and local tables (what the kernel consults with
//! the default rules), and every route it cannot answer for itself points
//! at slot 0 ("ask the kernel"): local and broadcast addresses, on-link
//! destinations (their neighbour is per address), blackholes and other
//! non-unicast types, multipath routes, gateways whose MAC is not known.
//! With policy rules beyond the defaults, or more routes than the tries
//! hold, a family is not cached at all.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::IpAddr,
};

use tunnel_common::nexthop::{NextHopEntry, MAX_ROUTES, NEXTHOP_KERNEL, NEXTHOP_SLOTS, NH_F_VALID};

/// One route of the kernel's, as the planner needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KRoute {
    pub dst: IpAddr,
    pub len: u8,
    pub table: u32,
    /// Unicast (RTN_UNICAST): the only type the cache may answer for.
    pub unicast: bool,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    /// Route MTU (0: the device's).
    pub mtu: u32,
    pub multipath: bool,
}

/// A neighbour entry with a usable link-layer address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KNeigh {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub mac: [u8; 6],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KLink {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub mtu: u32,
    /// The device's IPv6 MTU (`net.ipv6.conf.<dev>.mtu`), which the kernel
    /// takes for IPv6 routes without an MTU of their own and which may be
    /// below `mtu`; `None`: IPv6 is off on the device.
    pub mtu6: Option<u32>,
}

/// What the kernel holds, for one planning round.
#[derive(Clone, Debug, Default)]
pub struct Kernel {
    pub routes: Vec<KRoute>,
    pub neighbours: Vec<KNeigh>,
    pub links: Vec<KLink>,
    /// Only the default rules for IPv4 / IPv6.
    pub default_rules_v4: bool,
    pub default_rules_v6: bool,
    /// IPv6 forwarding on: without it `bpf_fib_lookup` refuses IPv6 and so
    /// must the cache. IPv4 is only ever originated (the outer header of an
    /// encapsulated packet), which needs no forwarding.
    pub forwarding_v6: bool,
}

pub const TABLE_MAIN: u32 = 254;
pub const TABLE_LOCAL: u32 = 255;

/// The cache's tables: routes of each family → slot, slot → next hop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    pub routes4: BTreeMap<([u8; 4], u8), u32>,
    pub routes6: BTreeMap<([u8; 16], u8), u32>,
    pub nexthops: BTreeMap<u32, NextHopEntry>,
    /// Families left uncached, and why (for the log and `status`).
    pub uncached: Vec<String>,
    /// The (interface, gateway) neighbours the cached slots were made
    /// from. The data path sends to them without the kernel ever using
    /// the entries, so the keeper marks them in use: the kernel's
    /// neighbour unreachability detection then re-validates them as it
    /// would if it forwarded through them itself.
    pub gateways: BTreeSet<(u32, IpAddr)>,
}

/// Keeps each (interface, gateway) on the same slot from round to round,
/// so a changed MAC rewrites one slot in place.
#[derive(Debug, Default)]
pub struct Slots {
    by_hop: HashMap<(u32, IpAddr), u32>,
}

impl Slots {
    fn slot(&mut self, oif: u32, gw: IpAddr, live: &BTreeMap<u32, NextHopEntry>) -> Option<u32> {
        if let Some(s) = self.by_hop.get(&(oif, gw)) {
            return Some(*s);
        }
        let used: std::collections::HashSet<u32> = self.by_hop.values().copied().collect();
        let free = (1..NEXTHOP_SLOTS).find(|s| !used.contains(s) && !live.contains_key(s))?;
        self.by_hop.insert((oif, gw), free);
        Some(free)
    }
    /// Forgets hops no route uses any more.
    fn keep_only(&mut self, used: &std::collections::HashSet<(u32, IpAddr)>) {
        self.by_hop.retain(|k, _| used.contains(k));
    }
}

pub fn plan(k: &Kernel, slots: &mut Slots) -> Tables {
    let mut t = Tables::default();
    let links: HashMap<u32, &KLink> = k.links.iter().map(|l| (l.ifindex, l)).collect();
    let neigh: HashMap<(u32, IpAddr), [u8; 6]> = k
        .neighbours
        .iter()
        .map(|n| ((n.ifindex, n.addr), n.mac))
        .collect();
    let v4_ok = family_ok(k, true, &mut t.uncached);
    let v6_ok = family_ok(k, false, &mut t.uncached);
    let mut used = std::collections::HashSet::new();
    // Local first: where the local table and main hold the same prefix,
    // the local table is consulted first by the kernel.
    let mut routes: Vec<&KRoute> = k
        .routes
        .iter()
        .filter(|r| r.table == TABLE_MAIN || r.table == TABLE_LOCAL)
        .collect();
    routes.sort_by_key(|r| r.table != TABLE_LOCAL);
    for r in routes {
        let v4 = r.dst.is_ipv4();
        if (v4 && !v4_ok) || (!v4 && !v6_ok) {
            continue;
        }
        let slot = hop_of(r, &links, &neigh, slots, &mut t.nexthops, &mut used);
        match r.dst {
            IpAddr::V4(a) => {
                t.routes4.entry((a.octets(), r.len)).or_insert(slot);
            }
            IpAddr::V6(a) => {
                t.routes6.entry((a.octets(), r.len)).or_insert(slot);
            }
        }
    }
    slots.keep_only(&used);
    t.gateways = used.into_iter().collect();
    t
}

fn family_ok(k: &Kernel, v4: bool, why: &mut Vec<String>) -> bool {
    let (name, rules, count) = if v4 {
        (
            "ipv4",
            k.default_rules_v4,
            k.routes.iter().filter(|r| r.dst.is_ipv4()).count(),
        )
    } else {
        (
            "ipv6",
            k.default_rules_v6,
            k.routes.iter().filter(|r| r.dst.is_ipv6()).count(),
        )
    };
    if !rules {
        why.push(format!("{name}: policy rules beyond the defaults"));
        return false;
    }
    if count > MAX_ROUTES as usize {
        why.push(format!(
            "{name}: {count} routes, the cache holds {MAX_ROUTES}"
        ));
        return false;
    }
    if !v4 && !k.forwarding_v6 {
        why.push("ipv6: forwarding is off".into());
        return false;
    }
    true
}

/// The slot a route points at: a cached gateway, or the kernel.
fn hop_of(
    r: &KRoute,
    links: &HashMap<u32, &KLink>,
    neigh: &HashMap<(u32, IpAddr), [u8; 6]>,
    slots: &mut Slots,
    nexthops: &mut BTreeMap<u32, NextHopEntry>,
    used: &mut std::collections::HashSet<(u32, IpAddr)>,
) -> u32 {
    if r.table != TABLE_MAIN || !r.unicast || r.multipath {
        return NEXTHOP_KERNEL;
    }
    let (Some(gw), Some(oif)) = (r.gateway, r.oif) else {
        // On-link: the neighbour is the destination itself.
        return NEXTHOP_KERNEL;
    };
    let (Some(link), Some(mac)) = (links.get(&oif), neigh.get(&(oif, gw))) else {
        // Unresolved: the kernel resolves it when asked.
        return NEXTHOP_KERNEL;
    };
    let mtu = hop_mtu(r, link);
    let Some(slot) = slots.slot(oif, gw, nexthops) else {
        return NEXTHOP_KERNEL;
    };
    used.insert((oif, gw));
    nexthops.insert(
        slot,
        NextHopEntry {
            ifindex: oif,
            mtu: mtu.min(u16::MAX as u32) as u16,
            flags: NH_F_VALID,
            smac: link.mac,
            dmac: *mac,
        },
    );
    slot
}

/// The largest packet a cached hop takes: the route's MTU if it has one,
/// never above the device's; for IPv6 never above the device's IPv6 MTU
/// (`net.ipv6.conf.<dev>.mtu`, what `bpf_fib_lookup` checks against),
/// which can be lower than the link's.
fn hop_mtu(r: &KRoute, link: &KLink) -> u32 {
    let dev = match (r.dst, link.mtu6) {
        (IpAddr::V6(_), Some(m6)) => link.mtu.min(m6),
        _ => link.mtu,
    };
    if r.mtu != 0 {
        r.mtu.min(dev)
    } else {
        dev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: u32 = 2;
    const UP_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
    const GW_MAC: [u8; 6] = [2, 0, 0, 0, 1, 2];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn route(dst: &str, len: u8, gw: Option<&str>) -> KRoute {
        KRoute {
            dst: ip(dst),
            len,
            table: TABLE_MAIN,
            unicast: true,
            gateway: gw.map(ip),
            oif: Some(UP),
            mtu: 0,
            multipath: false,
        }
    }

    fn pop() -> Kernel {
        Kernel {
            routes: vec![
                route("::", 0, Some("fe80::1")),
                route("2001:db8:ffff::", 64, None),
                route("0.0.0.0", 0, Some("192.0.2.254")),
                KRoute {
                    table: TABLE_LOCAL,
                    unicast: false,
                    ..route("2001:db8:ffff::1", 128, None)
                },
            ],
            neighbours: vec![
                KNeigh {
                    ifindex: UP,
                    addr: ip("fe80::1"),
                    mac: GW_MAC,
                },
                KNeigh {
                    ifindex: UP,
                    addr: ip("192.0.2.254"),
                    mac: GW_MAC,
                },
            ],
            links: vec![KLink {
                ifindex: UP,
                mac: UP_MAC,
                mtu: 1500,
                mtu6: Some(1500),
            }],
            default_rules_v4: true,
            default_rules_v6: true,
            forwarding_v6: true,
        }
    }

    #[test]
    fn gateways_are_cached_the_rest_asks_the_kernel() {
        let mut slots = Slots::default();
        let t = plan(&pop(), &mut slots);
        let default6 = t.routes6[&([0; 16], 0)];
        assert_ne!(default6, NEXTHOP_KERNEL);
        let nh = t.nexthops[&default6];
        assert_eq!(
            (nh.ifindex, nh.mtu, nh.smac, nh.dmac),
            (UP, 1500, UP_MAC, GW_MAC)
        );
        let onlink: [u8; 16] = "2001:db8:ffff::"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        assert_eq!(t.routes6[&(onlink, 64)], NEXTHOP_KERNEL, "on-link");
        let local: [u8; 16] = "2001:db8:ffff::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        assert_eq!(t.routes6[&(local, 128)], NEXTHOP_KERNEL, "local address");
        assert_ne!(t.routes4[&([0; 4], 0)], NEXTHOP_KERNEL);
        assert!(t.uncached.is_empty());
    }

    #[test]
    fn a_new_mac_rewrites_the_same_slot() {
        let mut slots = Slots::default();
        let k = pop();
        let before = plan(&k, &mut slots);
        let mut k2 = k.clone();
        k2.neighbours[0].mac = [2, 0, 0, 0, 1, 9];
        let after = plan(&k2, &mut slots);
        let s = before.routes6[&([0; 16], 0)];
        assert_eq!(after.routes6[&([0; 16], 0)], s);
        assert_eq!(after.nexthops[&s].dmac, [2, 0, 0, 0, 1, 9]);
    }

    #[test]
    fn the_gateways_of_cached_slots_are_listed_to_keep_in_use() {
        let mut slots = Slots::default();
        let t = plan(&pop(), &mut slots);
        let want: BTreeSet<(u32, IpAddr)> = [(UP, ip("fe80::1")), (UP, ip("192.0.2.254"))].into();
        assert_eq!(t.gateways, want);
        // An unresolved gateway is the kernel's to resolve: not listed.
        let mut k = pop();
        k.neighbours.retain(|n| n.addr.is_ipv4());
        let t = plan(&k, &mut slots);
        assert_eq!(t.gateways, [(UP, ip("192.0.2.254"))].into());
    }

    #[test]
    fn unresolved_gateway_multipath_and_rules_fall_back() {
        let mut slots = Slots::default();
        let mut k = pop();
        k.neighbours.clear();
        let t = plan(&k, &mut slots);
        assert_eq!(t.routes6[&([0; 16], 0)], NEXTHOP_KERNEL);
        assert!(t.nexthops.is_empty());

        let mut k = pop();
        k.routes[0].multipath = true;
        assert_eq!(plan(&k, &mut slots).routes6[&([0; 16], 0)], NEXTHOP_KERNEL);

        let mut k = pop();
        k.default_rules_v6 = false;
        k.forwarding_v6 = true;
        let t = plan(&k, &mut slots);
        assert!(t.routes6.is_empty() && !t.routes4.is_empty());
        assert_eq!(t.uncached.len(), 1);

        let mut k = pop();
        k.forwarding_v6 = false;
        assert!(plan(&k, &mut slots).routes6.is_empty());
    }

    /// The device's IPv6 MTU below its link MTU bounds the IPv6 hops (not
    /// the IPv4 ones); a route MTU lower still wins.
    #[test]
    fn the_ipv6_mtu_of_the_device_bounds_ipv6_hops() {
        let cases: [(Option<u32>, u32, u16, u16); 5] = [
            // (device IPv6 MTU, IPv6 route MTU, IPv6 hop, IPv4 hop)
            (Some(1500), 0, 1500, 1500),
            (Some(1400), 0, 1400, 1500),
            (Some(1400), 1300, 1300, 1500),
            (Some(1400), 1450, 1400, 1500),
            // IPv6 off on the device: no IPv6 MTU to heed.
            (None, 0, 1500, 1500),
        ];
        for (mtu6, route, want6, want4) in cases {
            let mut k = pop();
            k.links[0].mtu6 = mtu6;
            k.routes[0].mtu = route;
            let t = plan(&k, &mut Slots::default());
            let hop6 = t.nexthops[&t.routes6[&([0; 16], 0)]];
            let hop4 = t.nexthops[&t.routes4[&([0; 4], 0)]];
            assert_eq!(
                (hop6.mtu, hop4.mtu),
                (want6, want4),
                "mtu6 {mtu6:?}, route {route}"
            );
        }
    }

    #[test]
    fn route_mtu_below_the_device_wins() {
        let mut slots = Slots::default();
        let mut k = pop();
        k.routes[0].mtu = 1400;
        let t = plan(&k, &mut slots);
        assert_eq!(t.nexthops[&t.routes6[&([0; 16], 0)]].mtu, 1400);
    }
}
