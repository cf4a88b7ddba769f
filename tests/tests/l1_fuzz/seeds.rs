//! Valid frames of every path, the fuzz's starting points: 6in4 from
//! tunnel users (to the upstream, tunnel to tunnel, to a PoP's `::1`, hop
//! limit and size edges, ECN, fragments, unknown and spoofing senders),
//! IPv6 from the upstream toward tunnels, Neighbor Solicitations for the
//! NDP proxy, frames that are not ours, and what the PoP's kernel sends
//! into the tunnel device (TC).

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{EtherType, IpNumber};
use tunnel_tests::{packets::*, prog::*};

use crate::wire::{set_l4_checksum, NH_TCP, NH_UDP};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prog {
    /// `tunnel_xdp` on an uplink.
    Xdp,
    /// `tunnel_tc` on the tunnel device's egress.
    Tc,
}

pub struct Seed {
    pub name: &'static str,
    pub prog: Prog,
    /// XDP: received on x1 (upstream side) rather than x0 (clients).
    pub on_x1: bool,
    /// TC: the skb's gso_size.
    pub gso: u32,
    pub frame: Vec<u8>,
}

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The tunnel device's MAC (see l1_tc).
const TNL_MAC: Mac = [2, 0, 0, 0, 2, 1];
pub const USER_A: &str = "2001:db8:1::2";
pub const USER_B: &str = "2001:db8:2::2";
pub const POP_A: &str = "2001:db8:1::1";
pub const POP_B: &str = "2001:db8:2::1";
pub const IN_ROUTED_A: &str = "2001:db8:100:7::9";
pub const POP_LOCAL: &str = "2001:db8:ffff::1";

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + 5) as u8).collect()
}

pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, dport: u16, n: usize) -> Vec<u8> {
    let mut body = vec![0x9c, 0x40];
    body.extend_from_slice(&dport.to_be_bytes());
    body.extend_from_slice(&((8 + n) as u16).to_be_bytes());
    body.extend_from_slice(&[0, 0]);
    body.extend(payload(n));
    set_l4_checksum(&src.octets(), &dst.octets(), NH_UDP, &mut body);
    ipv6(src, dst, hop, IpNumber::UDP, &body)
}

pub fn tcp6(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, dport: u16, n: usize) -> Vec<u8> {
    let mut body = vec![0xc3, 0x50];
    body.extend_from_slice(&dport.to_be_bytes());
    body.extend_from_slice(&[
        0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x50, 0x18, 0xfa, 0xf0, 0, 0, 0, 0,
    ]);
    body.extend(payload(n));
    set_l4_checksum(&src.octets(), &dst.octets(), NH_TCP, &mut body);
    ipv6(src, dst, hop, IpNumber::TCP, &body)
}

/// `inner` in 6in4 from `client` (its MAC on x0) to the PoP.
fn from_client(client: Ipv4Addr, o: impl FnOnce(&mut V4), inner: &[u8]) -> Vec<u8> {
    let mac = if client == CLIENT_B {
        CLIENT_B_MAC
    } else {
        CLIENT_A_MAC
    };
    let mut v4 = V4::new(client, POP_V4);
    o(&mut v4);
    eth(mac, X0_MAC, EtherType::IPV4, &sixin4(v4, inner))
}

fn from_upstream(inner: &[u8]) -> Vec<u8> {
    eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, inner)
}

fn local(inner: &[u8]) -> Vec<u8> {
    eth(TNL_MAC, TNL_MAC, EtherType::IPV6, inner)
}

/// A bare IPv4 packet (20-byte header) of protocol `proto`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, body: &[u8]) -> Vec<u8> {
    let mut h = etherparse::Ipv4Header::new(
        body.len() as u16,
        64,
        IpNumber(proto),
        src.octets(),
        dst.octets(),
    )
    .unwrap();
    h.header_checksum = h.calc_header_checksum();
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

pub fn all() -> Vec<Seed> {
    let (ua, ub, pa, pb) = (a6(USER_A), a6(USER_B), a6(POP_A), a6(POP_B));
    let routed = a6(IN_ROUTED_A);
    let same = |_: &mut V4| {};
    let xdp0 = |name, frame| Seed {
        name,
        prog: Prog::Xdp,
        on_x1: false,
        gso: 0,
        frame,
    };
    let xdp1 = |name, frame| Seed {
        name,
        prog: Prog::Xdp,
        on_x1: true,
        gso: 0,
        frame,
    };
    let tc = |name, gso, frame| Seed {
        name,
        prog: Prog::Tc,
        on_x1: true,
        gso,
        frame,
    };
    // Solicitations for user A's proxied address.
    let group = solicited_node(PROXIED_A);
    let ns = |src: Ipv6Addr, dst: Ipv6Addr, opts: &[u8]| {
        let mac = if dst.is_multicast() {
            multicast_mac(dst)
        } else {
            X1_MAC
        };
        eth(
            UPSTREAM_MAC,
            mac,
            EtherType::IPV6,
            &neighbor_solicitation(src, dst, 255, PROXIED_A, opts),
        )
    };
    let slla = [&[1u8, 1][..], &UPSTREAM_MAC].concat();
    let arp = {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
        a.extend_from_slice(&CLIENT_A_MAC);
        a.extend_from_slice(&CLIENT_A.octets());
        a.extend_from_slice(&[0; 6]);
        a.extend_from_slice(&POP_V4.octets());
        eth(CLIENT_A_MAC, [0xff; 6], EtherType::ARP, &a)
    };
    let vlan = {
        let mut v = vec![0, 7, 8, 0];
        v.extend(sixin4(
            V4::new(CLIENT_A, POP_V4),
            &ipv6_echo(ua, UPSTREAM, 64, 16),
        ));
        eth(CLIENT_A_MAC, X0_MAC, EtherType(0x8100), &v)
    };
    let other = |p| a6(&format!("2001:db8:{p}::5"));
    vec![
        // 6in4 from the users.
        xdp0(
            "decap: echo to the upstream",
            from_client(CLIENT_A, same, &ipv6_echo(ua, UPSTREAM, 64, 32)),
        ),
        xdp0(
            "decap: udp from the routed /48",
            from_client(CLIENT_A, same, &udp6(routed, UPSTREAM, 64, 53, 40)),
        ),
        xdp0(
            "decap: tcp to the upstream",
            from_client(CLIENT_A, same, &tcp6(ua, UPSTREAM, 17, 443, 100)),
        ),
        xdp0(
            "decap: from b",
            from_client(CLIENT_B, same, &udp6(ub, UPSTREAM, 64, 123, 48)),
        ),
        xdp0(
            "decap: largest",
            from_client(CLIENT_A, same, &udp6(ua, UPSTREAM, 64, 9, 1480 - 48)),
        ),
        xdp0(
            "decap: hop limit 1",
            from_client(CLIENT_B, same, &ipv6_echo(ub, UPSTREAM, 1, 24)),
        ),
        xdp0(
            "decap: ecn ce outside, ect(0) inside",
            from_client(
                CLIENT_A,
                |v| v.ecn = 3,
                &with_ipv6_ecn(ipv6_echo(ua, UPSTREAM, 64, 8), 2),
            ),
        ),
        xdp0(
            "decap: outer fragment",
            from_client(
                CLIENT_A,
                |v| v.more_fragments = true,
                &ipv6_echo(ua, UPSTREAM, 64, 8),
            ),
        ),
        xdp0(
            "decap: unknown tunnel",
            from_client(
                Ipv4Addr::new(192, 0, 2, 99),
                same,
                &ipv6_echo(ua, UPSTREAM, 64, 8),
            ),
        ),
        xdp0(
            "decap: spoofed source",
            from_client(CLIENT_A, same, &ipv6_echo(ub, UPSTREAM, 64, 8)),
        ),
        xdp0(
            "tunnel to tunnel",
            from_client(CLIENT_A, same, &ipv6_echo(ua, ub, 64, 32)),
        ),
        xdp0(
            "tunnel to tunnel: b to a's routed /48",
            from_client(CLIENT_B, same, &tcp6(ub, routed, 64, 22, 20)),
        ),
        xdp0(
            "tunnel to tunnel: hop limit 1",
            from_client(CLIENT_A, same, &udp6(ua, ub, 1, 7, 8)),
        ),
        xdp0(
            "tunnel to tunnel: 1400 bytes",
            from_client(CLIENT_A, same, &udp6(ua, ub, 64, 9, 1400 - 48)),
        ),
        xdp0(
            "tunnel to tunnel: b's other prefixes",
            from_client(CLIENT_A, same, &udp6(ua, other("2ff"), 64, 9, 8)),
        ),
        xdp0(
            "tunnel to itself",
            from_client(CLIENT_A, same, &ipv6_echo(ua, routed, 64, 8)),
        ),
        xdp0(
            "decap: echo to a's ::1",
            from_client(CLIENT_A, same, &ipv6_echo(ua, pa, 64, 56)),
        ),
        xdp0(
            "decap: echo to b's ::1",
            from_client(CLIENT_A, same, &ipv6_echo(ua, pb, 64, 8)),
        ),
        xdp0(
            "decap: udp to a's ::1",
            from_client(CLIENT_A, same, &udp6(ua, pa, 64, 33434, 12)),
        ),
        // IPv6 from the upstream.
        xdp1(
            "encap: echo to a",
            from_upstream(&ipv6_echo(UPSTREAM, ua, 64, 32)),
        ),
        xdp1(
            "encap: udp to a's routed /48",
            from_upstream(&udp6(UPSTREAM, routed, 64, 5353, 64)),
        ),
        xdp1(
            "encap: tcp to b",
            from_upstream(&tcp6(UPSTREAM, ub, 2, 80, 200)),
        ),
        xdp1(
            "encap: to b's other prefixes",
            from_upstream(&tcp6(UPSTREAM, other("900"), 2, 80, 20)),
        ),
        xdp1(
            "encap: 1280 bytes to a",
            from_upstream(&udp6(UPSTREAM, ua, 64, 9, 1280 - 48)),
        ),
        xdp1(
            "encap: 1400 bytes to b",
            from_upstream(&udp6(UPSTREAM, ub, 64, 9, 1400 - 48)),
        ),
        xdp1(
            "encap: 1481 bytes to a",
            from_upstream(&udp6(UPSTREAM, ua, 64, 9, 1481 - 48)),
        ),
        xdp1(
            "encap: hop limit 1",
            from_upstream(&ipv6_echo(UPSTREAM, ua, 1, 8)),
        ),
        xdp1(
            "echo to a's ::1 from the upstream",
            from_upstream(&ipv6_echo(UPSTREAM, pa, 64, 40)),
        ),
        xdp1(
            "tcp to b's ::1 from the upstream",
            from_upstream(&tcp6(UPSTREAM, pb, 64, 179, 0)),
        ),
        xdp1(
            "native ipv6 on the clients' side to a",
            eth(
                CLIENT_A_MAC,
                X0_MAC,
                EtherType::IPV6,
                &ipv6_echo(UPSTREAM, ua, 64, 8),
            ),
        ),
        // The NDP proxy.
        xdp1(
            "ns: multicast, source link-layer option",
            ns(UPSTREAM, group, &slla),
        ),
        xdp1("ns: unicast", ns(UPSTREAM, PROXIED_A, &[])),
        xdp1("ns: dad", ns(Ipv6Addr::UNSPECIFIED, group, &[])),
        xdp1(
            "ns: nonce and source link-layer options",
            ns(
                UPSTREAM,
                group,
                &[&slla[..], &[14, 1, 1, 2, 3, 4, 5, 6]].concat(),
            ),
        ),
        xdp1(
            "ns: not proxied",
            eth(
                UPSTREAM_MAC,
                X1_MAC,
                EtherType::IPV6,
                &neighbor_solicitation(
                    UPSTREAM,
                    a6("2001:db8:1::3"),
                    255,
                    a6("2001:db8:1::3"),
                    &slla,
                ),
            ),
        ),
        xdp1(
            "na from the upstream",
            eth(
                UPSTREAM_MAC,
                X1_MAC,
                EtherType::IPV6,
                &neighbor_advertisement(UPSTREAM, a6(POP_LOCAL), 0x60, UPSTREAM_MAC),
            ),
        ),
        // Not ours.
        xdp0(
            "ipv4 udp to the pop",
            eth(
                CLIENT_A_MAC,
                X0_MAC,
                EtherType::IPV4,
                &ipv4(
                    CLIENT_A,
                    POP_V4,
                    17,
                    &[0x30, 0x39, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4],
                ),
            ),
        ),
        xdp0(
            "ipv4 ip-in-ip",
            eth(
                CLIENT_A_MAC,
                X0_MAC,
                EtherType::IPV4,
                &ipv4(
                    CLIENT_A,
                    POP_V4,
                    4,
                    &ipv4(
                        CLIENT_A,
                        Ipv4Addr::new(198, 51, 100, 7),
                        1,
                        &[8, 0, 0xf7, 0xff, 0, 0, 0, 0],
                    ),
                ),
            ),
        ),
        xdp1(
            "ipv6 to the pop itself",
            from_upstream(&ipv6_echo(UPSTREAM, a6(POP_LOCAL), 64, 8)),
        ),
        xdp1(
            "ipv6 to no tunnel",
            from_upstream(&udp6(UPSTREAM, a6("2001:db8:3::2"), 64, 9, 8)),
        ),
        xdp0("arp", arp),
        xdp0("vlan-tagged 6in4", vlan),
        xdp1(
            "lldp",
            eth(
                UPSTREAM_MAC,
                [0x01, 0x80, 0xc2, 0, 0, 0x0e],
                EtherType(0x88cc),
                &[2, 7, 4, 2, 0, 0, 0, 1, 2, 0, 0, 0],
            ),
        ),
        // The PoP's own traffic through the tunnel device.
        tc(
            "local: echo to a",
            0,
            local(&ipv6_echo(a6(POP_LOCAL), ua, 64, 32)),
        ),
        tc(
            "local: udp to a's routed /48",
            0,
            local(&udp6(a6(POP_LOCAL), routed, 63, 53, 100)),
        ),
        tc(
            "local: tcp to b",
            0,
            local(&tcp6(a6(POP_LOCAL), ub, 64, 179, 60)),
        ),
        tc(
            "local: 1480 bytes to a",
            0,
            local(&udp6(a6(POP_LOCAL), ua, 64, 9, 1480 - 48)),
        ),
        tc(
            "local: 1481 bytes to a",
            0,
            local(&udp6(a6(POP_LOCAL), ua, 64, 9, 1481 - 48)),
        ),
        tc(
            "local: gso toward b",
            1400,
            local(&tcp6(a6(POP_LOCAL), ub, 64, 179, 1500)),
        ),
        tc(
            "local: to the upstream",
            0,
            local(&ipv6_echo(a6(POP_LOCAL), UPSTREAM, 64, 8)),
        ),
        tc(
            "local: ns",
            0,
            local(&neighbor_solicitation(
                a6(POP_LOCAL),
                solicited_node(ua),
                255,
                ua,
                &[],
            )),
        ),
        tc(
            "local: ipv4",
            0,
            eth(
                TNL_MAC,
                TNL_MAC,
                EtherType::IPV4,
                &ipv4(POP_V4, CLIENT_A, 17, &[0, 9, 0, 9, 0, 8, 0, 0]),
            ),
        ),
    ]
}
