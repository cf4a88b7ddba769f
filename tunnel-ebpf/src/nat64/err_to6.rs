//! ICMPv4 errors toward an EAM address, translated to ICMPv6 (RFC 7915
//! §4.2 and §4.3): the type and code by the RFC's table, the MTU of a
//! fragmentation needed plus 20 capped by the next hops' (`capped_mtu`),
//! a parameter problem's pointer mapped, and the IPv4 packet the error
//! quotes (what the IPv6 host sent, as the translator had made it)
//! translated back to the IPv6 packet it was.
//!
//! ```text
//! in:  Eth | IPv4 (20) | ICMP (8) | IPv4 (20) | rest of the quote
//! out: Eth | IPv6 (40) | ICMPv6 (8) | IPv6 (40) | rest of the quote
//! ```
//! The rest stays where it is from the packet's end: the head grows by
//! 40 bytes and the headers are written anew. The ICMPv6 checksum covers
//! the whole message, so it is summed, at most 1280 bytes of it.

use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use tunnel_common::{
    csum,
    nat64::{
        config::{Nat64Config, NAT64_F_WKP_STRICT},
        icmp::{self, Rest},
        rfc6052,
    },
    stats::{Drop, Event},
};

use super::{
    config, eam_v4, write_v6, Addrs6, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST, PROTO_ICMP, PROTO_ICMPV6,
};
use crate::{
    fib,
    packet::{addr_from_halves, Packet, ETHERTYPE_IPV6, ETH_LEN, IPV4_LEN, IPV6_LEN},
    route, stats,
    step::Step,
    tunnel::{owner, tunnel, Origin},
};

const ICMP_LEN: usize = 8;
/// Where the quoted IPv4 header starts, and where its payload does.
const INNER: usize = ETH_LEN + IPV4_LEN + ICMP_LEN;
const INNER_L4: usize = INNER + IPV4_LEN;
/// The IPv6 minimum MTU bounds the translated error (RFC 4443 §2.4(c)).
const MESSAGE_MAX: usize = 1280 - IPV6_LEN;
const GROWTH: usize = 2 * (IPV6_LEN - IPV4_LEN);

/// The fields of both IPv4 headers and the ICMP header, read before the
/// packet changes shape.
struct Error4 {
    ttl: u8,
    tos: u8,
    icmp: icmp::Translated,
    /// The 4 bytes after the ICMP checksum.
    rest: [u8; 4],
    inner_tos: u8,
    inner_ttl: u8,
    inner_proto: u8,
    /// The quoted packet's IPv4 total length (as it was sent, not as cut).
    inner_len: u16,
    inner_src: [u8; 4],
    inner_dst: [u8; 4],
}

#[inline(always)]
fn read(pkt: Packet) -> Result<Error4, Drop> {
    let outer = pkt.view::<Ipv4Hdr>(ETH_LEN)?;
    let (ttl, tos) = (outer.ttl, outer.tos);
    let head: [u8; 8] = pkt.read(ETH_LEN + IPV4_LEN)?;
    let t = icmp::v4_to_v6(head[0], head[1]).ok_or(Drop::Nat64IcmpDropped)?;
    let inner = pkt.view::<Ipv4Hdr>(INNER)?;
    if inner.vihl != 0x45 || inner.frags[0] & 0x3f != 0 || inner.frags[1] != 0 {
        // Options or a fragment quoted: not in the fast path yet.
        return Err(Drop::Nat64Unsupported);
    }
    if !super::crosses_to6(inner.proto) {
        // What no packet of ours carries across (see `crosses_to6`).
        return Err(Drop::Nat64Unsupported);
    }
    Ok(Error4 {
        ttl,
        tos,
        icmp: t,
        rest: [head[4], head[5], head[6], head[7]],
        inner_tos: inner.tos,
        inner_ttl: inner.ttl,
        inner_proto: inner.proto,
        inner_len: u16::from_be_bytes(inner.tot_len),
        inner_src: inner.src_addr,
        inner_dst: inner.dst_addr,
    })
}

/// The ICMPv6 header's last 4 bytes, per the table's rule; `outer`: the
/// translated error's addresses.
#[inline(always)]
fn rest_v6(pkt: Packet, e: &Error4, outer: &Addrs6) -> Result<u32, Drop> {
    let raw = u32::from_be_bytes(e.rest);
    match e.icmp.rest {
        Rest::Copy => Ok(raw),
        Rest::Zero => Ok(0),
        Rest::Fixed(p) => Ok(p),
        Rest::Mtu => Ok(capped_mtu(
            pkt,
            icmp::mtu_4to6(raw as u16, e.inner_len),
            outer,
        )),
        Rest::Pointer => icmp::pointer_4to6(e.rest[0])
            .map(|p| p as u32)
            .ok_or(Drop::Nat64IcmpDropped),
    }
}

/// RFC 7915 §4.2: a packet too big's MTU `mtu6` (`mtu_4to6`'s) capped by
/// the IPv6 next hop's (the tunnel's the error goes into, else the egress
/// device's) and by the IPv4 device's it came in on plus 20
/// (`icmp::cap_4to6`). Not inlined: the addresses and the lookups stay in
/// its frame and only the MTU comes back, so its branches do not multiply
/// the paths the verifier walks through the rest of the program.
#[inline(never)]
fn capped_mtu(pkt: Packet, mtu6: u32, outer: &Addrs6) -> u32 {
    let dst = addr_from_halves(outer.dst);
    let next6 = match owner(&dst) {
        Some(id) => tunnel(id).map(|t| t.mtu as u32).unwrap_or(0),
        None => fib::egress_mtu_v6(pkt, &addr_from_halves(outer.src), &dst),
    };
    icmp::cap_4to6(mtu6, next6, pkt.device_mtu(0).unwrap_or(0))
}

/// Translates the ICMPv4 error and hands the ICMPv6 one to the router.
#[inline(always)]
pub fn translate(pkt: Packet) -> Result<Step, Drop> {
    let conf = config().ok_or(Drop::Nat64NoMapping)?;
    let e = read(pkt)?;
    if e.ttl <= 1 {
        return Err(Drop::Nat64TtlExpired);
    }
    let outer4 = pkt.view::<Ipv4Hdr>(ETH_LEN)?;
    let (src4, dst4) = (outer4.src_addr, outer4.dst_addr);
    let outer = Addrs6 {
        src: pool6(conf, src4)?,
        dst: eam_v4(dst4).ok_or(Drop::Nat64NoMapping)?.to_v6_halves(dst4),
    };
    // The quoted packet went from the IPv6 host (an EAM) to an IPv4 host.
    let inner = Addrs6 {
        src: eam_v4(e.inner_src)
            .ok_or(Drop::Nat64IcmpDropped)?
            .to_v6_halves(e.inner_src),
        dst: pool6(conf, e.inner_dst)?,
    };
    let rest = rest_v6(pkt, &e, &outer)?;
    let tot_len = u16::from_be_bytes(outer4.tot_len) as usize;
    if ETH_LEN + tot_len > pkt.len() || tot_len < IPV4_LEN + ICMP_LEN + IPV4_LEN {
        return Err(Drop::Malformed);
    }
    pkt.truncate(ETH_LEN + tot_len)?;
    let inner_next = fix_inner_transport(pkt, &e, &inner)?;

    let eth: EthHdr = pkt.read(0)?;
    pkt.adjust_head(-(GROWTH as i32))?;
    // Cut to the IPv6 minimum MTU once grown.
    pkt.truncate(ETH_LEN + IPV6_LEN + MESSAGE_MAX)?;
    let message = pkt.len() - ETH_LEN - IPV6_LEN;
    pkt.write(
        0,
        &EthHdr {
            ether_type: ETHERTYPE_IPV6,
            ..eth
        },
    )?;
    write_v6(pkt, ETH_LEN, e.tos, message, PROTO_ICMPV6, e.ttl, &outer)?;
    let inner_payload = (e.inner_len as usize).saturating_sub(IPV4_LEN);
    let inner_at = ETH_LEN + IPV6_LEN + ICMP_LEN;
    write_v6(
        pkt,
        inner_at,
        e.inner_tos,
        inner_payload,
        inner_next,
        e.inner_ttl,
        &inner,
    )?;
    let icmp_at = ETH_LEN + IPV6_LEN;
    pkt.write(icmp_at, &[e.icmp.ty, e.icmp.code, 0, 0])?;
    pkt.write(icmp_at + 4, &rest.to_be_bytes())?;
    let pseudo = outer.sum() + message as u64 + PROTO_ICMPV6 as u64;
    let sum = pkt.sum_tail::<MESSAGE_MAX>(icmp_at, pseudo);
    pkt.write(icmp_at + 2, &(!csum::fold(sum)).to_be_bytes())?;
    stats::event(Event::Nat64ErrorTo6);
    match owner(&addr_from_halves(outer.dst)) {
        Some(id) => Ok(Step::ToTunnel {
            id,
            origin: Origin::uplink(),
        }),
        None => route::forward_v6(pkt, Origin::uplink()),
    }
}

/// An IPv4 address under pool6, or the WKP rule's refusal.
#[inline(always)]
fn pool6(conf: &Nat64Config, a: [u8; 4]) -> Result<(u64, u64), Drop> {
    if conf.pool6_len == 0 {
        return Err(Drop::Nat64NoMapping);
    }
    if conf.flags & NAT64_F_WKP_STRICT != 0 && conf.is_wkp() && !rfc6052::is_global_v4(a) {
        return Err(Drop::Nat64NonGlobal);
    }
    Ok(rfc6052::embed_halves(&conf.pool6, conf.pool6_len, a))
}

/// The quoted packet's transport checksum, where the quote holds it, for
/// its IPv6 addresses; returns its IPv6 next header. A quote too short to
/// hold the field is left as it is (the error is still worth passing on).
#[inline(never)]
fn fix_inner_transport(pkt: Packet, e: &Error4, inner: &Addrs6) -> Result<u8, Drop> {
    let old = csum::addrs_v4(e.inner_src, e.inner_dst);
    match e.inner_proto {
        PROTO_ICMP => {
            if let Ok(head) = pkt.read::<[u8; 4]>(INNER_L4) {
                let ty = match head[0] {
                    ICMP_ECHO_REQUEST => ICMPV6_ECHO_REQUEST,
                    ICMP_ECHO_REPLY => ICMPV6_ECHO_REPLY,
                    // An error about an error is never sent (RFC 1812).
                    _ => return Err(Drop::Nat64IcmpDropped),
                };
                let check = u16::from_be_bytes([head[2], head[3]]);
                let len = (e.inner_len as u64).saturating_sub(IPV4_LEN as u64);
                let new = inner.sum()
                    + len
                    + PROTO_ICMPV6 as u64
                    + u16::from_be_bytes([ty, head[1]]) as u64;
                let c = csum::replace(check, u16::from_be_bytes([head[0], head[1]]) as u64, new);
                pkt.write(INNER_L4, &ty)?;
                pkt.write(INNER_L4 + 2, &c.to_be_bytes())?;
            }
            Ok(PROTO_ICMPV6)
        }
        p => {
            // TCP, UDP, DCCP, UDP-Lite: the pseudo-header swapped (UDP's
            // "no checksum" left alone); any other transport as it is
            // (RFC 7915 §4.5).
            if let Some((at, _, udp)) = super::pseudo_checksum(p) {
                if let Ok(c) = pkt.read::<[u8; 2]>(INNER_L4 + at) {
                    let c = u16::from_be_bytes(c);
                    if !(udp && c == 0) {
                        let n = super::swapped(c, old, inner.sum(), udp);
                        pkt.write(INNER_L4 + at, &n.to_be_bytes())?;
                    }
                }
            }
            Ok(p)
        }
    }
}
