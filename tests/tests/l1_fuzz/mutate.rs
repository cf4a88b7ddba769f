//! Mutations of a seed frame: blind ones (bit flips, bytes set to edge
//! values, truncations, extensions, bytes inserted or cut out) and ones
//! that know the headers (Ethernet type; IPv4 version/IHL, lengths,
//! fragment bits, TTL, protocol, addresses; IPv6 version, traffic class,
//! payload length, next header, hop limit, addresses; ICMPv6, NS, TCP and
//! UDP fields; extension headers; 6in4 wrapped or unwrapped; the other
//! uplink, or a GSO size for TC). Afterwards lengths and checksums are
//! often fixed up again, so that mutated frames get past the first checks
//! and reach the deeper ones.

use std::net::Ipv6Addr;

use tunnel_tests::prog::*;

use crate::{
    rng::Rng,
    seeds::{Prog, Seed},
    wire::*,
};

/// BPF_PROG_TEST_RUN's limits: an Ethernet header at least, and one page
/// of linear data (headroom and tailroom taken) at most.
pub const MIN_FRAME: usize = ETH;
pub const MAX_FRAME: usize = 2048;

const EDGE8: [u8; 4] = [0, 0xff, 0x7f, 0x80];
const EDGE16: [u16; 7] = [0, 1, 0xffff, 0x7fff, 0x8000, 0xff, 0x100];

pub struct Mutant {
    pub frame: Vec<u8>,
    pub on_x1: bool,
    pub gso: u32,
    /// What was done, for the failure message.
    pub ops: Vec<&'static str>,
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

/// Addresses the fuzz swaps in: the tunnels' users and `::1`s, the routed
/// prefixes and their edges, the upstream and the PoP, and every special
/// class the datapath treats apart.
fn v6_pool() -> Vec<[u8; 16]> {
    [
        "2001:db8:1::1",
        "2001:db8:1::2",
        "2001:db8:1::",
        "2001:db8:1::ffff:ffff:ffff:ffff",
        "2001:db8:0:ffff:ffff:ffff:ffff:ffff",
        "2001:db8:2::1",
        "2001:db8:2::2",
        "2001:db8:3::2",
        "2001:db8:100::",
        "2001:db8:100:7::9",
        "2001:db8:100:ffff:ffff:ffff:ffff:ffff",
        "2001:db8:101::1",
        "2001:db8:200:ff::1",
        "2001:db8:201::1",
        "2001:db8:2ff::1",
        "2001:db8:2ff::2",
        "2001:db8:300::ffff:ffff:ffff",
        "2001:db8:4ff:ffff::1",
        "2001:db8:50f::1",
        "2001:db8:600:f00::1",
        "2001:db8:700:f::1",
        "2001:db8:800::ffff:ffff",
        "2001:db8:900::ff",
        "2001:db8:900::100",
        "2001:db8:ffff::1",
        "2001:db8:ffff::2",
        "2001:db8::",
        "::",
        "::1",
        "::192.0.2.2",
        "::ffff:192.0.2.2",
        "ff02::1",
        "ff02::2",
        "ff02::1:ff00:2",
        "ff0e::1",
        "fe80::1",
        "fe80::2",
        "febf::1",
        "fec0::1",
    ]
    .iter()
    .map(|s| v6(s))
    .collect()
}

fn v4_pool() -> [[u8; 4]; 10] {
    [
        POP_V4.octets(),
        CLIENT_A.octets(),
        CLIENT_B.octets(),
        crate::model::CLIENT_UNRESOLVED.octets(),
        [192, 0, 2, 99],
        [192, 0, 2, 255],
        [0, 0, 0, 0],
        [255, 255, 255, 255],
        [224, 0, 0, 1],
        crate::model::CLIENT_UNROUTABLE.octets(),
    ]
}

/// A position, mostly inside the headers.
fn pos(rng: &mut Rng, len: usize) -> usize {
    if rng.chance(75) {
        rng.below(len.min(ETH + IP4 + IP6 + 64))
    } else {
        rng.below(len)
    }
}

pub fn mutate(rng: &mut Rng, seed: &Seed) -> Mutant {
    let mut m = Mutant {
        frame: seed.frame.clone(),
        on_x1: seed.on_x1,
        gso: seed.gso,
        ops: Vec::new(),
    };
    let n = match rng.below(100) {
        0..8 => 0,
        8..45 => 1,
        45..70 => 2,
        70..85 => 3,
        _ => rng.range(4, 8),
    };
    let (v6s, v4s) = (v6_pool(), v4_pool());
    for _ in 0..n {
        one(rng, &mut m, seed.prog, &v6s, &v4s);
        if m.frame.len() < MIN_FRAME {
            m.frame.resize(MIN_FRAME, 0);
        }
        m.frame.truncate(MAX_FRAME);
    }
    if n > 0 {
        fix_up(rng, &mut m);
    }
    m
}

fn one(rng: &mut Rng, m: &mut Mutant, prog: Prog, v6s: &[[u8; 16]], v4s: &[[u8; 4]]) {
    let f = &mut m.frame;
    let len = f.len();
    let l = layout(f);
    let op: &'static str = match rng.below(20) {
        0 | 1 => {
            let p = pos(rng, len);
            f[p] ^= 1 << rng.below(8);
            "bit flip"
        }
        2 => {
            let p = pos(rng, len);
            f[p] = rng.pick(&EDGE8);
            "byte to an edge value"
        }
        3 => {
            let p = pos(rng, len - 1);
            put16(f, p, rng.pick(&EDGE16));
            "word to an edge value"
        }
        4 => {
            let cut = if rng.chance(50) {
                len.saturating_sub(rng.range(1, 8))
            } else {
                rng.range(MIN_FRAME, len)
            };
            f.truncate(cut.max(MIN_FRAME));
            "truncated"
        }
        5 => {
            let k = rng.pick(&[1, 2, 7, 8, 20, 40, 64, 200, 1500]);
            let fill = rng.below(3);
            for i in 0..k {
                let b = match fill {
                    0 => 0,
                    1 => rng.byte(),
                    _ => f[i % len],
                };
                f.push(b);
            }
            "extended"
        }
        6 => {
            let p = pos(rng, len);
            let k = rng.range(1, 48);
            if rng.chance(50) {
                let bytes: Vec<u8> = (0..k).map(|_| rng.byte()).collect();
                f.splice(p..p, bytes);
                "bytes inserted"
            } else {
                let end = (p + k).min(len);
                f.drain(p..end);
                "bytes cut out"
            }
        }
        7 => {
            let t = rng.pick(&[
                ET_IPV4, ET_IPV6, 0x0806, 0x8100, 0x88a8, 0x86dc, 0x0000, 0xffff,
            ]);
            put16(f, 12, t);
            "ethernet type"
        }
        8 => {
            if prog == Prog::Xdp {
                m.on_x1 = !m.on_x1;
                "other uplink"
            } else {
                m.gso = rng.pick(&[0, 0, 1, 536, 1280, 1400, 1480, 65535]);
                "gso size"
            }
        }
        9 | 10 => match l.ip4 {
            Some(o) => ipv4_field(rng, f, o, v4s),
            None => "no ipv4 header",
        },
        11..=13 => match l.ip6 {
            Some(o) => ipv6_field(rng, f, o, v6s),
            None => "no ipv6 header",
        },
        14 | 15 => match l.l4 {
            Some((o, nh)) => l4_field(rng, f, o, nh, v6s),
            None => "no upper-layer header",
        },
        16 => match l.ip6 {
            Some(o) => extension_header(rng, f, o),
            None => "no ipv6 header",
        },
        17 => wrap(rng, m, v4s),
        _ => {
            let p = pos(rng, len);
            f[p] = rng.byte();
            "random byte"
        }
    };
    m.ops.push(op);
}

fn ipv4_field(rng: &mut Rng, f: &mut [u8], o: usize, v4s: &[[u8; 4]]) -> &'static str {
    let tot = (f.len() - o) as u16;
    match rng.below(9) {
        0 => {
            f[o] = rng.pick(&[0x45, 0x46, 0x4f, 0x44, 0x40, 0x55, 0x65, 0x05, 0x00, 0xff]);
            "ipv4 version/ihl"
        }
        1 => {
            f[o + 1] = rng.pick(&[0, 1, 2, 3, 0xfc, 0xff, 0xb8, 0xbb]);
            "ipv4 tos/ecn"
        }
        2 => {
            let v = rng.pick(&[
                0,
                1,
                19,
                20,
                59,
                60,
                tot.wrapping_sub(1),
                tot,
                tot + 1,
                0xffff,
            ]);
            put16(f, o + 2, v);
            "ipv4 total length"
        }
        3 => {
            let v = rng.pick(&[
                0x4000, 0x2000, 0x0001, 0x1fff, 0x8000, 0x6000, 0x3fff, 0xffff, 0,
            ]);
            put16(f, o + 6, v);
            "ipv4 fragment bits"
        }
        4 => {
            f[o + 8] = rng.pick(&[0, 1, 255]);
            "ipv4 ttl"
        }
        5 => {
            f[o + 9] = rng.pick(&[41, 41, 4, 6, 17, 58, 0, 255, 47]);
            "ipv4 protocol"
        }
        6 => {
            let at = o + rng.pick(&[12, 16]);
            f[at..at + 4].copy_from_slice(&rng.pick(v4s));
            "ipv4 address"
        }
        7 => {
            let (s, d) = (o + 12, o + 16);
            for i in 0..4 {
                f.swap(s + i, d + i);
            }
            "ipv4 addresses swapped"
        }
        _ => {
            let c = be16(f, o + 10);
            put16(f, o + 10, c.wrapping_add(1));
            "ipv4 checksum off by one"
        }
    }
}

fn ipv6_field(rng: &mut Rng, f: &mut [u8], o: usize, v6s: &[[u8; 16]]) -> &'static str {
    let plen = f.len().saturating_sub(o + IP6) as u16;
    match rng.below(10) {
        0 => {
            f[o] = (f[o] & 0x0f) | rng.pick(&[0x00, 0x40, 0x70, 0xf0, 0x60]);
            "ipv6 version"
        }
        1 => {
            // Traffic class: ECN bits and DSCP.
            let tc = rng.pick(&[0x00, 0x01, 0x02, 0x03, 0xb8, 0xff]);
            f[o] = (f[o] & 0xf0) | (tc >> 4);
            f[o + 1] = (f[o + 1] & 0x0f) | (tc << 4);
            "ipv6 traffic class"
        }
        2 | 3 => {
            let v = rng.pick(&[
                0,
                1,
                7,
                8,
                23,
                24,
                32,
                plen.wrapping_sub(1),
                plen,
                plen + 1,
                1240,
                1241,
                0xffff,
            ]);
            put16(f, o + 4, v);
            "ipv6 payload length"
        }
        4 => {
            f[o + 6] = rng.pick(&[0, 6, 17, 58, 43, 44, 59, 60, 41, 4, 135, 255]);
            "ipv6 next header"
        }
        5 => {
            f[o + 7] = rng.pick(&[0, 1, 2, 64, 254, 255]);
            "ipv6 hop limit"
        }
        6 | 7 => {
            let at = o + rng.pick(&[8, 24]);
            f[at..at + 16].copy_from_slice(&rng.pick(v6s));
            "ipv6 address"
        }
        8 => {
            // Same prefix, another interface id, or the other way round.
            let at = o + rng.pick(&[8, 24]) + rng.pick(&[0, 8]);
            for b in &mut f[at..at + 8] {
                *b = if rng.chance(50) { rng.byte() } else { 0 };
            }
            "ipv6 address half"
        }
        _ => {
            let (s, d) = (o + 8, o + 24);
            for i in 0..16 {
                f.swap(s + i, d + i);
            }
            "ipv6 addresses swapped"
        }
    }
}

fn l4_field(rng: &mut Rng, f: &mut Vec<u8>, o: usize, nh: u8, v6s: &[[u8; 16]]) -> &'static str {
    let have = f.len() - o;
    if nh == NH_ICMP6 {
        return match rng.below(6) {
            0 | 1 => {
                f[o] = rng.pick(&[
                    1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137, 143, 0, 127, 255,
                ]);
                "icmpv6 type"
            }
            2 => {
                f[o + 1.min(have - 1)] = rng.pick(&[0, 1, 4, 255]);
                "icmpv6 code"
            }
            3 if have >= 24 => {
                f[o + 8..o + 24].copy_from_slice(&rng.pick(v6s));
                "ns target"
            }
            4 => {
                // NS options: none, source link-layer, length 0, past the
                // end, a nonce, target link-layer, several.
                let opts: &[&[u8]] = &[
                    &[],
                    &[1, 1, 2, 0, 0, 0, 1, 2],
                    &[1, 0, 2, 0, 0, 0, 1, 2],
                    &[1, 2, 2, 0, 0, 0, 1, 2],
                    &[14, 1, 1, 2, 3, 4, 5, 6],
                    &[2, 1, 2, 0, 0, 0, 1, 2],
                    &[
                        14, 1, 1, 2, 3, 4, 5, 6, 1, 1, 2, 0, 0, 0, 1, 2, 1, 1, 2, 0, 0, 0, 1, 3,
                    ],
                    &[1, 1, 2, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0],
                    &[
                        3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        0, 0, 0, 0, 0, 0, 0,
                    ],
                ];
                if have >= 24 {
                    f.truncate(o + 24);
                    f.extend_from_slice(rng.pick(opts));
                    // The IPv6 payload length follows, most of the time.
                    if rng.chance(80) {
                        let ip6 = o - IP6;
                        let plen = (f.len() - o) as u16;
                        put16(f, ip6 + 4, plen);
                    }
                }
                "ns options"
            }
            _ => {
                let at = o + 2.min(have - 1);
                f[at] ^= 0xff;
                "icmpv6 checksum"
            }
        };
    }
    match rng.below(3) {
        0 if have >= 4 => {
            let at = o + rng.pick(&[0, 2]);
            put16(f, at, rng.pick(&[0, 7, 53, 179, 33434, 65535]));
            "port"
        }
        1 if nh == NH_UDP && have >= 6 => {
            let v = rng.pick(&[0, 7, 8, have as u16, have as u16 + 1, 0xffff]);
            put16(f, o + 4, v);
            "udp length"
        }
        _ => {
            let at = o + rng.below(have.min(20));
            f[at] = rng.byte();
            "upper-layer byte"
        }
    }
}

/// Inserts an extension header (hop-by-hop, routing, fragment, destination
/// options) right after the IPv6 header.
fn extension_header(rng: &mut Rng, f: &mut Vec<u8>, o: usize) -> &'static str {
    let old = f[o + 6];
    let (nh, ext): (u8, Vec<u8>) = match rng.below(4) {
        0 => (0, vec![old, 0, 1, 4, 0, 0, 0, 0]),
        1 => (43, vec![old, 0, 0, 0, 0, 0, 0, 0]),
        2 => (
            44,
            vec![old, 0, 0, rng.pick(&[0, 1, 8, 9]), 0, 0, 0x12, 0x34],
        ),
        _ => (60, vec![old, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    };
    f[o + 6] = nh;
    let n = ext.len() as u16;
    f.splice(o + IP6..o + IP6, ext);
    let plen = be16(f, o + 4);
    put16(f, o + 4, plen.wrapping_add(n));
    "extension header"
}

/// IPv6 frames go into 6in4 from a tunnel's client (or another address);
/// 6in4 frames lose their outer header.
fn wrap(rng: &mut Rng, m: &mut Mutant, v4s: &[[u8; 4]]) -> &'static str {
    let f = &mut m.frame;
    let l = layout(f);
    if f.len() >= ETH && ethertype(f) == ET_IPV6 {
        let inner_len = (f.len() - ETH) as u16;
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, PROTO_6IN4, 0, 0];
        let any = rng.pick(v4s);
        h.extend_from_slice(&rng.pick(&[CLIENT_A.octets(), CLIENT_B.octets(), any]));
        h.extend_from_slice(&POP_V4.octets());
        put16(&mut h, 2, IP4 as u16 + inner_len);
        set_ipv4_checksum(&mut h);
        f.splice(ETH..ETH, h);
        put16(f, 12, ET_IPV4);
        m.on_x1 = false;
        "wrapped in 6in4"
    } else if let (Some(o4), Some(o6)) = (l.ip4, l.ip6) {
        f.drain(o4..o6);
        put16(f, 12, ET_IPV6);
        m.on_x1 = rng.chance(80);
        "6in4 unwrapped"
    } else {
        "nothing to wrap"
    }
}

/// Lengths and checksums made right again, each often but not always.
fn fix_up(rng: &mut Rng, m: &mut Mutant) {
    let f = &mut m.frame;
    let l = layout(f);
    if let Some(o) = l.ip4 {
        if rng.chance(30) {
            let tot = (f.len() - o) as u16;
            put16(f, o + 2, tot);
        }
    }
    if let Some(o) = l.ip6 {
        if rng.chance(30) {
            let plen = (f.len() - o - IP6) as u16;
            put16(f, o + 4, plen);
        }
        if let Some((at, nh)) = l.l4 {
            if rng.chance(70) {
                let end = (at + be16(f, o + 4) as usize).min(f.len());
                let (head, body) = f.split_at_mut(at);
                set_l4_checksum(
                    &head[o + 8..o + 24],
                    &head[o + 24..o + 40],
                    nh,
                    &mut body[..end - at],
                );
            }
        }
    }
    if let Some(o) = l.ip4 {
        let ihl = (f[o] & 0xf) as usize * 4;
        if rng.chance(75) && ihl >= IP4 && o + ihl <= f.len() {
            set_ipv4_checksum(&mut f[o..o + ihl]);
        }
    }
}
