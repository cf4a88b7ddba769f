//! The corpus: groups of cases, each group one configuration of both
//! translators (pool6, the mapping, and ours' flags), each case one input
//! packet and the fields whose difference is deliberate, with why.
//!
//! Addresses (the L1 bed's, `tunnel_tests::prog`):
//! ```text
//! IPv6 host  2001:db8:ffff::2 (UPSTREAM) ↔ 198.51.100.2 (map / EAM)
//! IPv4 host  192.0.2.2 (CLIENT_A), seen under pool6 from the IPv6 side
//! IPv4 router 192.0.2.3 (CLIENT_B); IPv6 router 2001:db8:ffff::99 (no mapping)
//! translator 192.0.2.1: Tayga's ipv4-addr, ours' RFC 6791 source
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::IpNumber;
use tunnel_common::nat64::config::{NAT64_F_UDP0_COMPUTE, NAT64_F_WKP_STRICT};
use tunnel_tests::prog::{CLIENT_A, CLIENT_B, UPSTREAM};

use crate::packets::*;

/// The fields of the outputs that may differ, and why (one line).
/// `packets`: the number of packets (one side sends nothing, or more);
/// when both send as many, they are still compared. `output`: the
/// outputs are not compared at all (each is something else entirely).
#[derive(Clone, Copy, Debug)]
pub struct Allowed {
    pub fields: &'static [&'static str],
    pub why: &'static str,
}

pub const SAME: Allowed = Allowed {
    fields: &[],
    why: "",
};

/// IPv6 → IPv4, DF and identification.
const DF_RULE: Allowed = Allowed {
    fields: &["ip.df", "ip.id", "ip.checksum"],
    why: "RFC 7915 §5.1: DF only above 1260 bytes, the id ours (checksum XOR length); \
          Tayga 0.9.2 follows RFC 6145: DF and id 0 always",
};

/// ICMPv6 errors → ICMPv4: the same rule for the error and its quote.
const DF_RULE_ERROR: Allowed = Allowed {
    fields: &[
        "ip.df",
        "ip.id",
        "ip.checksum",
        "quoted.ip.df",
        "quoted.ip.checksum",
        "icmp.checksum",
    ],
    why: "DF rule (RFC 7915 §5.1 vs RFC 6145) for the error and for the IPv4 header it quotes, \
          whose DF the IPv6 packet does not carry; the checksums follow",
};

/// The translator's own ICMPv4 error (not a translation).
const OWN_ICMP4: Allowed = Allowed {
    fields: &["ip.df", "ip.checksum"],
    why: "the translator's own error (RFC 792, RFC 1812 §4.3.2): ours sets DF, Tayga does not",
};

const SOURCE_ROUTE_6: Allowed = Allowed {
    fields: &["output"],
    why: "RFC 7915 §5.1: a routing header with segments left is not translated; ours answers \
          parameter problem (pointer at Segments Left), Tayga 0.9.2 translates it",
};

const TAYGA_UNREACHABLE: Allowed = Allowed {
    fields: &["packets"],
    why: "an address it cannot map: Tayga answers ICMP unreachable, ours counts a drop",
};

const TAYGA_NO_ERROR_FOR_ICMP: Allowed = Allowed {
    fields: &["packets"],
    why: "TTL or hop limit out on an echo reply: Tayga answers only echo requests among \
          ICMP, ours answers any non-error (RFC 1812 §4.3.2.7, RFC 4443 §2.4(e))",
};

const FRAGMENT_TO_1280: Allowed = Allowed {
    fields: &["packets"],
    why: "RFC 7915 §4.1: no DF and over 1280 translated is fragmented to 1280; Tayga sends two \
          fragments, ours hands it to the daemon's slow path, which this bed has not \
          (l2_nat64_slow checks the fragments)",
};

const SOURCE_ROUTE_4: Allowed = Allowed {
    fields: &["output"],
    why: "RFC 7915 §4.1: an unexpired source route is not translated; ours answers source \
          route failed, Tayga 0.9.2 translates the packet",
};

const TAYGA_NO_PARAMETER_PROBLEM: Allowed = Allowed {
    fields: &["packets"],
    why: "RFC 7915 §4.2/§5.2 translate parameter problems (pointer mapped); Tayga 0.9.2 \
          drops them (unimplemented in its source)",
};

const RFC6791: Allowed = Allowed {
    fields: &["packets"],
    why: "an error from an IPv6 router without a mapping: ours takes its RFC 6791 pool's \
          address for every type; Tayga its own only for unreachable and packet too big",
};

const TAYGA_NO_ADDRESS_UNREACHABLE: Allowed = Allowed {
    fields: &["packets"],
    why: "RFC 7915 §5.2: unreachable code 3 (address) → host unreachable; Tayga 0.9.2 drops it",
};

const UDP_ZERO_COMPUTED: Allowed = Allowed {
    fields: &["packets"],
    why: "RFC 7915 §4.5: a zero UDP checksum is computed or dropped by configuration; ours \
          computes (udp-zero-checksum compute), Tayga 0.9.2 always drops",
};

const RFC6052_SUFFIX: Allowed = Allowed {
    fields: &["output"],
    why: "RFC 6052 §2.2: the u-octet and suffix are zero when made; ours ignores them when \
          read, Tayga refuses the address (ICMPv6 unreachable)",
};

const QUOTED_UNMAPPED: Allowed = Allowed {
    fields: &["packets"],
    why: "an error quoting a packet whose IPv4 source has no mapping: ours drops it (no such \
          packet left through it), Tayga embeds that source under pool6 like any IPv4 address",
};

const CUT_TO_576: Allowed = Allowed {
    fields: &[
        "bytes",
        "ip.total_len",
        "ip.df",
        "ip.id",
        "ip.checksum",
        "icmp.checksum",
        "quoted.length",
        "quoted.ip.df",
        "quoted.ip.checksum",
        "quoted.udp.checksum_ok",
        "quoted.payload",
    ],
    why: "Tayga cuts translated ICMPv4 errors to 576 bytes (RFC 1812 §4.3.2.3 for a router's \
          own); ours keeps the whole translated quote (RFC 7915 §5.3 sets no limit); DF rule",
};

const HAIRPIN: Allowed = Allowed {
    fields: &["output"],
    why: "RFC 7757 §4.2 hairpinning: ours translates back to IPv6 at once; Tayga refuses a \
          pool6 address whose IPv4 is mapped (ICMPv6 no route)",
};

const TAYGA_NO_MTU: Allowed = Allowed {
    fields: &["packets"],
    why: "packet too big with an MTU below 68: Tayga drops it, ours passes MTU − 20 on \
          (saturating at 0, which an IPv4 host reads as a pre-RFC 1191 router's)",
};

const TAYGA_GEN_IDENT: Allowed = Allowed {
    fields: &["ip.id", "ip.checksum"],
    why: "after an MTU below 1280 to a host, Tayga numbers its datagrams to it (RFC 6145's \
          id generation); ours keeps its id rule (RFC 7915 §5.1)",
};

pub struct Case {
    pub name: String,
    pub input: Vec<u8>,
    pub allowed: Allowed,
}

/// One configuration of both translators and its cases, run in order.
pub struct Group {
    pub name: &'static str,
    pub pool6: (Ipv6Addr, u8),
    /// Ours' flags (`NAT64_F_*`); Tayga has no such settings.
    pub flags: u8,
    /// Tayga's `ipv6-addr`, where it cannot derive one under pool6.
    pub tayga_ipv6_addr: Option<Ipv6Addr>,
    pub cases: Vec<Case>,
}

fn c(name: &str, input: Vec<u8>, allowed: Allowed) -> Case {
    Case {
        name: name.to_string(),
        input,
        allowed,
    }
}

const PAYLOAD: &[u8] = b"stateless translation, byte for byte";
const UP4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const HOST: Ipv4Addr = CLIENT_A;
const ROUTER4: Ipv4Addr = CLIENT_B;
const ROUTER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x99);
const NSP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x64, 0, 0, 0, 0, 0);

/// `v4` under the /96 `prefix`: its last 32 bits.
fn p96(prefix: Ipv6Addr, v4: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(prefix) | u32::from(v4) as u128)
}

fn p6(v4: Ipv4Addr) -> Ipv6Addr {
    p96(NSP, v4)
}

/// The groups, in the order they run.
pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "pool6 2001:db8:64::/96",
            pool6: (NSP, 96),
            flags: NAT64_F_WKP_STRICT,
            tayga_ipv6_addr: None,
            cases: [to_ipv4(), to_ipv6(), errors_to_ipv6(), errors_to_ipv4()]
                .into_iter()
                .flatten()
                .collect(),
        },
        Group {
            name: "pool6 2001:db8:122::/48",
            pool6: ("2001:db8:122::".parse().unwrap(), 48),
            flags: NAT64_F_WKP_STRICT,
            tayga_ipv6_addr: None,
            cases: pool6_48(),
        },
        Group {
            name: "pool6 64:ff9b::/96 (well-known)",
            pool6: ("64:ff9b::".parse().unwrap(), 96),
            flags: NAT64_F_WKP_STRICT,
            // 192.0.2.1 may not be under the WKP (RFC 6052 §3.1).
            tayga_ipv6_addr: Some("2001:db8:ffff::64".parse().unwrap()),
            cases: well_known(),
        },
        Group {
            name: "udp zero checksum computed",
            pool6: (NSP, 96),
            flags: NAT64_F_WKP_STRICT | NAT64_F_UDP0_COMPUTE,
            tayga_ipv6_addr: None,
            cases: vec![{
                let mut p = v4(HOST, UP4, 64, 0, true, 0, L4::Udp(PAYLOAD));
                p[26..28].copy_from_slice(&[0, 0]);
                c("udp checksum 0, ours computing", p, UDP_ZERO_COMPUTED)
            }],
        },
        Group {
            // Its own Tayga: a packet too big below 1280 changes how Tayga
            // numbers later datagrams to that host.
            name: "path MTU below 1280",
            pool6: (NSP, 96),
            flags: NAT64_F_WKP_STRICT,
            tayga_ipv6_addr: None,
            cases: mtu_below_1280(),
        },
    ]
}

/// IPv6 host → IPv4 host (RFC 7915 §5.1).
#[rustfmt::skip] // a table: one line per case
fn to_ipv4() -> Vec<Case> {
    let to = |hl: u8, tc: u8, l4: L4| v6(UPSTREAM, p6(HOST), hl, tc, l4);
    let big = [0x5au8; 1300];
    let data = [0x42u8; 64];
    let udp6 = l4_of(&to(64, 0, L4::Udp(&data)));
    let frag = |offset: u16, more: bool, d: &[u8]| {
        v6_fragment(UPSTREAM, p6(HOST), 64, 17, 0xabcd_1234, offset, more, d)
    };
    let icmp6 = l4_of(&to(64, 0, L4::EchoRequest(&data)));
    let icmp_frag = v6_fragment(UPSTREAM, p6(HOST), 64, 58, 9, 0, true, &icmp6[..24]);
    let mut no_check = to(64, 0, L4::Udp(PAYLOAD));
    no_check[46..48].copy_from_slice(&[0, 0]);
    let mut info = to(64, 0, L4::EchoRequest(PAYLOAD));
    info[40] = 139; // node information query
    let udp = to(64, 0, L4::Udp(PAYLOAD));
    let mut flow = udp.clone();
    flow[1] |= 0x01;
    flow[2..4].copy_from_slice(&[0x23, 0x45]);
    let mut gre = to(64, 0, L4::Udp(PAYLOAD));
    gre[6] = 47;
    let pad = [0u8; 6];
    let mut srh = vec![0u8, 1]; // routing type 0, segments left 1
    srh.extend_from_slice(&[0; 4]);
    srh.extend_from_slice(&UPSTREAM.octets());
    let mut srh0 = srh.clone();
    srh0[1] = 0;
    vec![
        c("6→4 udp", to(64, 0, L4::Udp(PAYLOAD)), DF_RULE),
        c("6→4 tcp", to(64, 0, L4::Tcp(PAYLOAD)), DF_RULE),
        c("6→4 echo request", to(64, 0, L4::EchoRequest(PAYLOAD)), DF_RULE),
        c("6→4 echo reply", to(64, 0, L4::EchoReply(PAYLOAD)), DF_RULE),
        c("6→4 traffic class 0xb8 → tos", to(64, 0xb8, L4::Udp(PAYLOAD)), DF_RULE),
        c("6→4 flow label 0x12345: not carried", flow, DF_RULE),
        c("6→4 hop limit 2 → ttl 1", to(2, 0, L4::Udp(PAYLOAD)), DF_RULE),
        c("6→4 hop limit 1: time exceeded", to(1, 0, L4::Udp(PAYLOAD)), SAME),
        c("6→4 hop limit 1 on an echo reply", to(1, 0, L4::EchoReply(PAYLOAD)), TAYGA_NO_ERROR_FOR_ICMP),
        c("6→4 1260 bytes: no DF", to(64, 0, L4::Udp(&big[..1260 - 28])), DF_RULE),
        c("6→4 1261 bytes: DF", to(64, 0, L4::Udp(&big[..1261 - 28])), SAME),
        c("6→4 1328 bytes: DF", to(64, 0, L4::Udp(&big)), SAME),
        c("6→4 udp without a checksum", no_check, SAME),
        c("6→4 first fragment", frag(0, true, &udp6[..24]), SAME),
        c("6→4 middle fragment", frag(24, true, &udp6[24..48]), SAME),
        c("6→4 last fragment", frag(48, false, &udp6[48..]), SAME),
        // Neither sends anything: Tayga 0.9.2 drops fragmented ICMP; ours hands every
        // fragment to the daemon's slow path (not in this bed), which puts the message
        // back together (l1_nat64 icmp_fragments_hand_over, l2_nat64_slow).
        c("6→4 fragment of icmpv6: tayga drops it, ours to the slow path", icmp_frag, SAME),
        c("6→4 icmpv6 informational 139", info, SAME),
        c("6→4 source without a mapping", v6(ROUTER6, p6(HOST), 64, 0, L4::Udp(PAYLOAD)), TAYGA_UNREACHABLE),
        c("6→4 hop-by-hop options", with_v6_ext(udp.clone(), 0, &pad), DF_RULE),
        c("6→4 destination options", with_v6_ext(udp.clone(), 60, &pad), DF_RULE),
        c("6→4 routing header, segments left 0", with_v6_ext(udp.clone(), 43, &srh0), DF_RULE),
        c("6→4 hop-by-hop options, then a first fragment", with_v6_ext(frag(0, true, &udp6[..24]), 0, &pad), SAME),
        c("6→4 routing header, segments left 1", with_v6_ext(udp, 43, &srh), SOURCE_ROUTE_6),
        c("6→4 gre: forwarded as it is", gre, DF_RULE),
        c("6→4 hairpin: to its own mapping under pool6", v6(UPSTREAM, p6(UP4), 64, 0, L4::Udp(PAYLOAD)), HAIRPIN),
    ]
}

/// IPv4 host → IPv6 host (RFC 7915 §4.1).
#[rustfmt::skip] // a table: one line per case
fn to_ipv6() -> Vec<Case> {
    let to = |ttl: u8, tos: u8, df: bool, l4: L4| v4(HOST, UP4, ttl, tos, df, 0x1d2c, l4);
    let big = [0x5au8; 1400];
    let data = [0x42u8; 64];
    let udp4 = l4_of(&to(64, 0, true, L4::Udp(&data)));
    let icmp4 = l4_of(&to(64, 0, true, L4::EchoRequest(&data)));
    let icmp_frag = v4_fragment(HOST, UP4, 64, IpNumber::ICMP, 7, 0, true, &icmp4[..24]);
    let frag = |offset: u16, more: bool, d: &[u8]| {
        v4_fragment(HOST, UP4, 64, IpNumber::UDP, 0x1234, offset, more, d)
    };
    let udp = to(64, 0, true, L4::Udp(PAYLOAD));
    let mut zero = udp.clone();
    zero[26..28].copy_from_slice(&[0, 0]);
    let mut bad = udp.clone();
    bad[10] ^= 0xff;
    let mut quench = to(64, 0, true, L4::EchoRequest(PAYLOAD));
    quench[20] = 4;
    let quench = icmp_resealed(quench);
    let mut gre = udp.clone();
    gre[9] = 47;
    let gre = reseal_v4(gre);
    let mut rr = vec![7u8, 39, 4];
    rr.extend_from_slice(&[0; 36]);
    rr.push(0);
    // Loose source route (131), length 7: pointer 4 has a hop to go, 8
    // is past the end (used up).
    let lsrr = [131, 7, 4, 203, 0, 113, 1, 0];
    let lsrr_done = [131, 7, 8, 203, 0, 113, 1, 0];
    vec![
        c("4→6 udp", udp.clone(), SAME),
        c("4→6 tcp", to(64, 0, true, L4::Tcp(PAYLOAD)), SAME),
        c("4→6 echo request", to(64, 0, true, L4::EchoRequest(PAYLOAD)), SAME),
        c("4→6 echo reply", to(64, 0, true, L4::EchoReply(PAYLOAD)), SAME),
        c("4→6 tos 0x2e → traffic class", to(64, 0x2e, true, L4::Tcp(PAYLOAD)), SAME),
        c("4→6 ttl 2 → hop limit 1", to(2, 0, true, L4::Udp(PAYLOAD)), SAME),
        c("4→6 ttl 1: time exceeded", to(1, 0, true, L4::Udp(PAYLOAD)), OWN_ICMP4),
        c("4→6 ttl 1 on an echo reply", to(1, 0, true, L4::EchoReply(PAYLOAD)), TAYGA_NO_ERROR_FOR_ICMP),
        c("4→6 no DF, small: no fragment header", to(64, 0, false, L4::Udp(PAYLOAD)), SAME),
        c("4→6 no DF, 1260 bytes: 1280 translated", to(64, 0, false, L4::Udp(&big[..1232])), SAME),
        c("4→6 no DF, 1428 bytes", to(64, 0, false, L4::Udp(&big)), FRAGMENT_TO_1280),
        c("4→6 DF, 1428 bytes", to(64, 0, true, L4::Udp(&big)), SAME),
        c("4→6 udp checksum 0: dropped", zero, SAME),
        c("4→6 first fragment", frag(0, true, &udp4[..24]), SAME),
        c("4→6 middle fragment", frag(24, true, &udp4[24..48]), SAME),
        c("4→6 last fragment", frag(48, false, &udp4[48..]), SAME),
        // As 6→4: Tayga drops it, ours hands it to the slow path (not in this bed).
        c("4→6 fragment of icmp: tayga drops it, ours to the slow path", icmp_frag, SAME),
        c("4→6 options nop nop nop eol", with_v4_options(udp.clone(), &[1, 1, 1, 0]), SAME),
        c("4→6 option record route, 60-byte header", with_v4_options(udp.clone(), &rr), SAME),
        c("4→6 option loose source route, used up", with_v4_options(udp.clone(), &lsrr_done), SAME),
        c("4→6 option loose source route, unexpired", with_v4_options(udp, &lsrr), SOURCE_ROUTE_4),
        c("4→6 bad header checksum", bad, SAME),
        c("4→6 source quench", quench, SAME),
        c("4→6 gre: forwarded as it is", gre, SAME),
    ]
}

/// The ICMPv4 checksum of an IPv4 packet carrying ICMP, after an edit.
fn icmp_resealed(mut v: Vec<u8>) -> Vec<u8> {
    let (ty, code) = (v[20], v[21]);
    let rest: [u8; 4] = v[24..28].try_into().unwrap();
    let body = v[28..].to_vec();
    let src: [u8; 4] = v[12..16].try_into().unwrap();
    let dst: [u8; 4] = v[16..20].try_into().unwrap();
    let e = icmp4(src.into(), dst.into(), ty, code, rest, &body);
    v[20..].copy_from_slice(&e[20..]);
    v
}

/// ICMPv4 errors from an IPv4 router about what the IPv6 host sent
/// (RFC 7915 §4.2, §4.3).
#[rustfmt::skip] // a table: one line per case
fn errors_to_ipv6() -> Vec<Case> {
    let l4 = L4::Udp(PAYLOAD);
    // What the router saw: the IPv6 host's datagram translated, one hop on.
    let seen = v4(UP4, HOST, 62, 0, false, 0x7a11, l4);
    let ping = v4(UP4, HOST, 1, 0, false, 0x7a12, L4::EchoRequest(PAYLOAD));
    let big = v4(UP4, HOST, 62, 0, false, 0x7a13, L4::Udp(&[9u8; 1300]));
    let stranger = v4(Ipv4Addr::new(198, 51, 100, 99), HOST, 62, 0, false, 1, l4);
    let e = |ty: u8, code: u8, rest: [u8; 4], quote: &[u8]| icmp4(ROUTER4, UP4, ty, code, rest, quote);
    let unreach = |code: u8| e(3, code, [0; 4], &seen);
    vec![
        c("icmp→6 time exceeded", e(11, 0, [0; 4], &seen), SAME),
        c("icmp→6 time exceeded quoting an echo request", e(11, 0, [0; 4], &ping), SAME),
        c("icmp→6 net unreachable", unreach(0), SAME),
        c("icmp→6 host unreachable", unreach(1), SAME),
        c("icmp→6 protocol unreachable → parameter problem", unreach(2), SAME),
        c("icmp→6 port unreachable", unreach(3), SAME),
        c("icmp→6 source route failed", unreach(5), SAME),
        c("icmp→6 network prohibited (9)", unreach(9), SAME),
        c("icmp→6 communication prohibited (13)", unreach(13), SAME),
        c("icmp→6 host precedence violation (14): dropped", unreach(14), SAME),
        c("icmp→6 fragmentation needed, MTU 1400", e(3, 4, [0, 0, 0x05, 0x78], &seen), SAME),
        c("icmp→6 fragmentation needed, MTU 1600: capped at the next hop's 1500", e(3, 4, [0, 0, 0x06, 0x40], &seen), SAME),
        c("icmp→6 parameter problem at the ttl", e(12, 0, [8, 0, 0, 0], &seen), TAYGA_NO_PARAMETER_PROBLEM),
        c("icmp→6 quote of header + 8 bytes", e(3, 3, [0; 4], &seen[..28]), SAME),
        c("icmp→6 quote of 1328 bytes: cut to 1280", e(11, 0, [0; 4], &big), SAME),
        c("icmp→6 about an unmapped source", e(3, 3, [0; 4], &stranger), QUOTED_UNMAPPED),
        c("icmp→6 redirect: dropped", e(5, 1, [192, 0, 2, 9], &seen), SAME),
    ]
}

/// ICMPv6 errors about what the IPv4 host sent (RFC 7915 §5.2, §5.3),
/// from the IPv6 host itself (mapped) or a router without a mapping.
#[rustfmt::skip] // a table: one line per case
fn errors_to_ipv4() -> Vec<Case> {
    let seen = v6(p6(HOST), UPSTREAM, 62, 0, L4::Udp(PAYLOAD));
    let ping = v6(p6(HOST), UPSTREAM, 1, 0, L4::EchoRequest(PAYLOAD));
    let big = v6(p6(HOST), UPSTREAM, 62, 0, L4::Udp(&[9u8; 1184]));
    let e = |src: Ipv6Addr, ty: u8, code: u8, rest: u32, quote: &[u8]| {
        icmp6(src, p6(HOST), ty, code, rest, quote)
    };
    vec![
        c("icmpv6→4 port unreachable from the host", e(UPSTREAM, 1, 4, 0, &seen), DF_RULE_ERROR),
        c("icmpv6→4 prohibited from the host", e(UPSTREAM, 1, 1, 0, &seen), DF_RULE_ERROR),
        c("icmpv6→4 prohibited from a router", e(ROUTER6, 1, 1, 0, &seen), RFC6791),
        c("icmpv6→4 no route from a router", e(ROUTER6, 1, 0, 0, &seen), DF_RULE_ERROR),
        c("icmpv6→4 beyond scope from a router", e(ROUTER6, 1, 2, 0, &seen), DF_RULE_ERROR),
        c("icmpv6→4 address unreachable from a router", e(ROUTER6, 1, 3, 0, &seen), TAYGA_NO_ADDRESS_UNREACHABLE),
        c("icmpv6→4 failed policy: dropped", e(ROUTER6, 1, 5, 0, &seen), SAME),
        c("icmpv6→4 packet too big 1400 from a router", e(ROUTER6, 2, 0, 1400, &seen), DF_RULE_ERROR),
        c("icmpv6→4 packet too big 1600 from a router: capped at the next hop's 1500 − 20", e(ROUTER6, 2, 0, 1600, &seen), DF_RULE_ERROR),
        c("icmpv6→4 packet too big 1200 from a router", e(ROUTER6, 2, 0, 1200, &seen), DF_RULE_ERROR),
        c("icmpv6→4 packet too big 0 from a router", e(ROUTER6, 2, 0, 0, &seen), TAYGA_NO_MTU),
        c("icmpv6→4 time exceeded from a router", e(ROUTER6, 3, 0, 0, &ping), RFC6791),
        c("icmpv6→4 reassembly time exceeded from the host", e(UPSTREAM, 3, 1, 0, &seen), DF_RULE_ERROR),
        c("icmpv6→4 parameter problem at the hop limit", e(UPSTREAM, 4, 0, 7, &seen), TAYGA_NO_PARAMETER_PROBLEM),
        c("icmpv6→4 unrecognized next header → protocol unreachable", e(UPSTREAM, 4, 1, 6, &seen), DF_RULE_ERROR),
        c("icmpv6→4 quote of 1232 bytes", e(UPSTREAM, 1, 4, 0, &big), CUT_TO_576),
    ]
}

/// pool6 of another RFC 6052 length: the IPv4 address is split around
/// the u-octet (bits 64–71).
#[rustfmt::skip] // a table: one line per case
fn pool6_48() -> Vec<Case> {
    // 2001:db8:122::/48 + 192.0.2.2: c0 00 | u 00 | 02 02 (RFC 6052 §2.2).
    let host6: Ipv6Addr = "2001:db8:122:c000:2:200::".parse().unwrap();
    let suffix: Ipv6Addr = "2001:db8:122:c000:2:200:0:1".parse().unwrap();
    let u_octet: Ipv6Addr = "2001:db8:122:c000:ff02:200::".parse().unwrap();
    let l4 = L4::Udp(PAYLOAD);
    let seen = v4(UP4, HOST, 62, 0, false, 0x7a11, l4);
    vec![
        c("/48 6→4 udp", v6(UPSTREAM, host6, 64, 0, l4), DF_RULE),
        c("/48 4→6 udp", v4(HOST, UP4, 64, 0, true, 0x1d2c, l4), SAME),
        c("/48 icmp→6 port unreachable", icmp4(ROUTER4, UP4, 3, 3, [0; 4], &seen), SAME),
        c("/48 6→4 suffix bits set", v6(UPSTREAM, suffix, 64, 0, l4), RFC6052_SUFFIX),
        c("/48 6→4 u-octet set", v6(UPSTREAM, u_octet, 64, 0, l4), RFC6052_SUFFIX),
    ]
}

/// The well-known prefix with this project's documentation addresses:
/// every one of them is non-global (RFC 6052 §3.1), so both refuse.
#[rustfmt::skip] // a table: one line per case
fn well_known() -> Vec<Case> {
    let wkp: Ipv6Addr = "64:ff9b::".parse().unwrap();
    let l4 = L4::Udp(PAYLOAD);
    vec![
        c("wkp 6→4 to a non-global IPv4", v6(UPSTREAM, p96(wkp, HOST), 64, 0, l4), TAYGA_UNREACHABLE),
        c("wkp 4→6 from a non-global IPv4", v4(HOST, UP4, 64, 0, true, 1, l4), TAYGA_UNREACHABLE),
    ]
}

/// Fragmentation needed below 1280 (RFC 7915 §4.2: the MTU is never set
/// below 1280), then what Tayga does differently afterwards.
#[rustfmt::skip] // a table: one line per case
fn mtu_below_1280() -> Vec<Case> {
    let seen = v4(UP4, HOST, 62, 0, false, 0x7a11, L4::Udp(PAYLOAD));
    let big = v4(UP4, HOST, 62, 0, false, 0x7a13, L4::Udp(&[9u8; 1300]));
    vec![
        c("icmp→6 fragmentation needed, MTU 1000 → 1280", icmp4(ROUTER4, UP4, 3, 4, [0, 0, 0x03, 0xe8], &seen), SAME),
        c("icmp→6 fragmentation needed, MTU 0: plateau, 1280", icmp4(ROUTER4, UP4, 3, 4, [0; 4], &big), SAME),
        c("6→4 udp to that host afterwards", v6(UPSTREAM, p6(HOST), 64, 0, L4::Udp(PAYLOAD)), TAYGA_GEN_IDENT),
    ]
}
