//! ICMPv6 errors toward pool6, translated to ICMPv4 (RFC 7915 §5.2 and
//! §5.3): the type and code by the RFC's table, a packet too big's MTU
//! less 20 capped by the next hops' (`capped_mtu`), a parameter problem's
//! pointer mapped, and the IPv6 packet the error quotes (what the IPv4
//! host's packet became) translated back. An error from a router with no
//! mapping gets an address of the configured RFC 6791 pool
//! (`Nat64Config::pool_source_v4`).
//!
//! ```text
//! in:  Eth | IPv6 (40) | ICMPv6 (8) | IPv6 (40) | rest of the quote
//! out: Eth | IPv4 (20) | ICMP (8) | IPv4 (20) | rest of the quote
//! ```

use aya_ebpf::bindings::xdp_action;
use network_types::{eth::EthHdr, ip::Ipv6Hdr};
use tunnel_common::{
    csum,
    jump::JUMP_NAT64_4TO6,
    nat64::{
        config::{Nat64Config, NAT64_F_WKP_STRICT},
        icmp::{self, Rest},
        rfc6052,
    },
    stats::{Drop, Event},
};

use super::{
    config, eam_v6, pair, pseudo_checksum, swapped, unpair, V4Header, ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, PROTO_ICMP, PROTO_ICMPV6,
};
use crate::{
    fib::{self, Wire},
    packet::{Packet, ETHERTYPE_IPV4, ETH_LEN, IPV4_LEN, IPV6_LEN},
    stats,
    step::Step,
    tunnel::{tunnel, Origin},
};

const ICMP_LEN: usize = 8;
const INNER: usize = ETH_LEN + IPV6_LEN + ICMP_LEN;
const INNER_L4: usize = INNER + IPV6_LEN;
const SHRINK: usize = 2 * (IPV6_LEN - IPV4_LEN);
/// The largest message summed: an ICMPv6 error is at most 1280 bytes, 40
/// of them its IPv6 header and 20 more the quoted header's growth.
const MESSAGE_MAX: usize = 1280 - IPV6_LEN - (IPV6_LEN - IPV4_LEN);
const DF_ABOVE: usize = 1260;
const IPV4_DF: u16 = 0x4000;

/// What the translation keeps of the headers.
struct Error6 {
    hop_limit: u8,
    tclass: u8,
    icmp: icmp::Translated,
    rest: [u8; 4],
    src4: [u8; 4],
    dst4: [u8; 4],
    inner_tclass: u8,
    inner_hop_limit: u8,
    inner_next: u8,
    inner_payload: u16,
    inner_src4: [u8; 4],
    inner_dst4: [u8; 4],
    /// Sum of the quoted packet's IPv6 addresses.
    inner_sum6: u64,
}

/// The IPv4 address an IPv6 source stands for: its mapping, else an
/// address of the RFC 6791 pool, if one is set.
#[inline(always)]
fn source_v4(conf: &Nat64Config, a: &[u8; 16]) -> Result<[u8; 4], Drop> {
    if let Some(e) = eam_v6(a) {
        return Ok(e.to_v4(a));
    }
    if conf.icmp_src4 != [0; 4] {
        return Ok(conf.pool_source_v4(a));
    }
    Err(Drop::Nat64IcmpDropped)
}

/// An IPv4 host under pool6, or the reason it is none.
#[inline(always)]
fn pool6_v4(conf: &Nat64Config, a: &[u8; 16]) -> Result<[u8; 4], Drop> {
    if !conf.in_pool6(a) {
        return Err(Drop::Nat64IcmpDropped);
    }
    let v4 = rfc6052::extract(a, conf.pool6_len);
    if conf.flags & NAT64_F_WKP_STRICT != 0 && conf.is_wkp() && !rfc6052::is_global_v4(v4) {
        return Err(Drop::Nat64NonGlobal);
    }
    Ok(v4)
}

/// The outer addresses: the error's source (a mapping, or the RFC 6791
/// source) and the IPv4 host it goes to. Not inlined, as `inner_v4`:
/// each holds two IPv6 addresses in its own frame, one after the other.
/// Both come back packed in one word (`pair`): a returned tuple of byte
/// arrays sits unaligned on the caller's stack.
#[inline(never)]
fn outer_v4(pkt: Packet) -> Result<u64, Drop> {
    let conf = config().ok_or(Drop::Nat64NoMapping)?;
    let src = pkt.read_addr(ETH_LEN + 8)?;
    let src4 = source_v4(conf, &src)?;
    let dst = pkt.read_addr(ETH_LEN + 24)?;
    Ok(pair(src4, pool6_v4(conf, &dst)?))
}

/// The quoted packet's addresses: it went from the IPv4 host (under
/// pool6) to the IPv6 host (a mapping) the error reports about. Returns
/// them and the sum of the IPv6 ones.
#[inline(never)]
fn inner_v4(pkt: Packet) -> Result<[u64; 2], Drop> {
    let conf = config().ok_or(Drop::Nat64NoMapping)?;
    let src = pkt.read_addr(INNER + 8)?;
    let dst = pkt.read_addr(INNER + 24)?;
    let dst4 = match eam_v6(&dst) {
        Some(e) => e.to_v4(&dst),
        None => return Err(Drop::Nat64IcmpDropped),
    };
    Ok([
        pair(pool6_v4(conf, &src)?, dst4),
        csum::addrs_v6(&src, &dst),
    ])
}

#[inline(always)]
fn read(pkt: Packet) -> Result<Error6, Drop> {
    let outer = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    let (hop_limit, tclass) = (outer.hop_limit, outer.vcf[0] << 4 | outer.vcf[1] >> 4);
    let head: [u8; 8] = pkt.read(ETH_LEN + IPV6_LEN)?;
    let t = icmp::v6_to_v4(head[0], head[1]).ok_or(Drop::Nat64IcmpDropped)?;
    let inner = pkt.view::<Ipv6Hdr>(INNER)?;
    let (inner_tclass, inner_hop_limit, inner_next, inner_payload) = (
        inner.vcf[0] << 4 | inner.vcf[1] >> 4,
        inner.hop_limit,
        inner.next_hdr,
        u16::from_be_bytes(inner.payload_len),
    );
    if !super::crosses_to4(inner_next) {
        // Extension headers (a fragment) in the quote: not yet.
        return Err(Drop::Nat64Unsupported);
    }
    let (src4, dst4) = unpair(outer_v4(pkt)?);
    let [inner, inner_sum6] = inner_v4(pkt)?;
    let (inner_src4, inner_dst4) = unpair(inner);
    Ok(Error6 {
        hop_limit,
        tclass,
        icmp: t,
        rest: [head[4], head[5], head[6], head[7]],
        src4,
        dst4,
        inner_tclass,
        inner_hop_limit,
        inner_next,
        inner_payload,
        inner_src4,
        inner_dst4,
        inner_sum6,
    })
}

/// The ICMPv4 header's last 4 bytes, per the table's rule; `origin`:
/// where the error came from.
#[inline(always)]
fn rest_v4(pkt: Packet, e: &Error6, origin: Origin) -> Result<u32, Drop> {
    let raw = u32::from_be_bytes(e.rest);
    match e.icmp.rest {
        Rest::Copy => Ok(raw),
        Rest::Zero => Ok(0),
        Rest::Fixed(p) => Ok(p),
        Rest::Mtu => Ok(capped_mtu(
            pkt,
            icmp::mtu_6to4(raw) as u32,
            pair(e.src4, e.dst4),
            origin.raw(),
        )),
        Rest::Pointer if raw <= 0xff => icmp::pointer_6to4(raw as u8)
            .map(|p| (p as u32) << 24)
            .ok_or(Drop::Nat64IcmpDropped),
        Rest::Pointer => Err(Drop::Nat64IcmpDropped),
    }
}

/// RFC 7915 §5.2: a fragmentation needed's MTU `mtu4` (`mtu_6to4`'s)
/// capped by the IPv4 egress device's toward the error's destination
/// (`addrs`: its source and destination, `pair`ed) and by the MTU of the
/// IPv6 side it came from (`origin`, raw) less 20: the tunnel's it came out
/// of, else the device's it came in on (`icmp::cap_6to4`). A hairpinned
/// error (its destination mapped) crosses no IPv4 hop: `nat64_err_to6`
/// caps it again on its way back. Not inlined: the lookups stay in its
/// frame and only the MTU comes back, so its branches do not multiply the
/// paths the verifier walks after it.
#[inline(never)]
fn capped_mtu(pkt: Packet, mtu4: u32, addrs: u64, origin: u32) -> u32 {
    let (src4, dst4) = unpair(addrs);
    let in6 = match Origin::from_raw(origin).tunnel_id() {
        Some(id) => tunnel(id).map(|t| t.mtu as u32).unwrap_or(0),
        None => pkt.device_mtu(0).unwrap_or(0),
    };
    let out4 = match super::eam_v4(dst4) {
        Some(_) => 0,
        None => fib::egress_mtu_v4(pkt, src4, dst4),
    };
    icmp::cap_6to4(mtu4 as u16, out4, in6) as u32
}

/// Translates the ICMPv6 error from `origin` (the uplink, or the tunnel it
/// came out of) and sends the ICMPv4 one on.
#[inline(always)]
pub fn translate(pkt: Packet, origin: Origin) -> Result<Step, Drop> {
    let e = read(pkt)?;
    if e.hop_limit <= 1 {
        return Err(Drop::Nat64TtlExpired);
    }
    let rest = rest_v4(pkt, &e, origin)?;
    let payload = u16::from_be_bytes(pkt.view::<Ipv6Hdr>(ETH_LEN)?.payload_len) as usize;
    if ETH_LEN + IPV6_LEN + payload > pkt.len() {
        return Err(Drop::Malformed);
    }
    pkt.truncate(ETH_LEN + IPV6_LEN + payload)?;
    let inner_proto = fix_inner_transport(pkt, &e)?;
    let message = payload - (IPV6_LEN - IPV4_LEN);
    let tot_len = IPV4_LEN + message;

    let eth: EthHdr = pkt.read(0)?;
    pkt.adjust_head(SHRINK as i32)?;
    pkt.write(
        0,
        &EthHdr {
            ether_type: ETHERTYPE_IPV4,
            ..eth
        },
    )?;
    let inner_len = e.inner_payload as usize + IPV4_LEN;
    let inner_frags = if inner_len > DF_ABOVE { IPV4_DF } else { 0 };
    let inner = V4Header {
        tos: e.inner_tclass,
        tot_len: inner_len as u16,
        id: 0,
        frags: inner_frags,
        ttl: e.inner_hop_limit,
        proto: inner_proto,
        src: e.inner_src4,
        dst: e.inner_dst4,
    };
    inner.write(pkt, ETH_LEN + IPV4_LEN + ICMP_LEN)?;
    let c = write_icmp(pkt, e.icmp.ty, e.icmp.code, rest)?;
    // The next hop only now, with little left to keep across the call.
    let (src4, dst4) = (e.src4, e.dst4);
    // Hairpinning (RFC 7757 §4.2), as in `to4`: an error toward the IPv4
    // address of another IPv6 host (about a packet that host sent through
    // its mapping) goes straight back into the other direction.
    let hairpin = super::eam_v4(dst4).is_some();
    let hop = if hairpin {
        None
    } else {
        fib::lookup_v4(pkt, src4, dst4, Wire::new(PROTO_ICMP, tot_len as u16)).ok()
    };
    let ttl = if hop.is_some() || hairpin {
        e.hop_limit - 1
    } else {
        e.hop_limit
    };
    // RFC 7915 §5.1, as for any translated packet: DF above 1260 bytes,
    // else an id from the checksum and the length (see `to4`).
    let df = tot_len > DF_ABOVE;
    let outer = V4Header {
        tos: e.tclass,
        tot_len: tot_len as u16,
        id: if df { 0 } else { c ^ tot_len as u16 },
        frags: if df { IPV4_DF } else { 0 },
        ttl,
        proto: PROTO_ICMP,
        src: src4,
        dst: dst4,
    };
    outer.write(pkt, ETH_LEN)?;
    stats::event(Event::Nat64ErrorTo4);
    if hairpin {
        stats::event(Event::Nat64Hairpin);
        return Ok(Step::Hand(JUMP_NAT64_4TO6));
    }
    match hop {
        Some(hop) => fib::send(pkt, &hop, ETHERTYPE_IPV4).map(Step::Done),
        None => Ok(Step::Done(xdp_action::XDP_PASS)),
    }
}

/// The ICMP header and its checksum over the whole message (no
/// pseudo-header in ICMPv4); returns the checksum. Not inlined: the sum's
/// loop is verified once, with nothing else live.
#[inline(never)]
fn write_icmp(pkt: Packet, ty: u8, code: u8, rest: u32) -> Result<u16, Drop> {
    let at = ETH_LEN + IPV4_LEN;
    pkt.write(at, &[ty, code, 0, 0])?;
    pkt.write(at + 4, &rest.to_be_bytes())?;
    let c = !csum::fold(pkt.sum_tail::<MESSAGE_MAX>(at, 0));
    pkt.write(at + 2, &c.to_be_bytes())?;
    Ok(c)
}

/// The quoted packet's transport checksum, where the quote holds it, for
/// its IPv4 addresses; returns its IPv4 protocol.
#[inline(never)]
fn fix_inner_transport(pkt: Packet, e: &Error6) -> Result<u8, Drop> {
    let new = csum::addrs_v4(e.inner_src4, e.inner_dst4);
    if e.inner_next == PROTO_ICMPV6 {
        if let Ok(head) = pkt.read::<[u8; 4]>(INNER_L4) {
            let ty = match head[0] {
                ICMPV6_ECHO_REQUEST => ICMP_ECHO_REQUEST,
                ICMPV6_ECHO_REPLY => ICMP_ECHO_REPLY,
                // An error about an error is never sent (RFC 4443).
                _ => return Err(Drop::Nat64IcmpDropped),
            };
            let check = u16::from_be_bytes([head[2], head[3]]);
            let old = e.inner_sum6
                + e.inner_payload as u64
                + PROTO_ICMPV6 as u64
                + u16::from_be_bytes([head[0], head[1]]) as u64;
            let c = csum::replace(check, old, u16::from_be_bytes([ty, head[1]]) as u64);
            pkt.write(INNER_L4, &ty)?;
            pkt.write(INNER_L4 + 2, &c.to_be_bytes())?;
        }
        return Ok(PROTO_ICMP);
    }
    // TCP, UDP, DCCP, UDP-Lite: the pseudo-header swapped; any other
    // transport as it is (RFC 7915 §5.5).
    if let Some((at, _, udp)) = pseudo_checksum(e.inner_next) {
        if let Ok(c) = pkt.read::<[u8; 2]>(INNER_L4 + at) {
            let n = swapped(u16::from_be_bytes(c), e.inner_sum6, new, udp);
            pkt.write(INNER_L4 + at, &n.to_be_bytes())?;
        }
    }
    Ok(e.inner_next)
}
