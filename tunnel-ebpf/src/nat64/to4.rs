//! IPv6 → IPv4 (RFC 7915 §5): the destination is an IPv4 host under pool6
//! (RFC 6052), the source an IPv6 host with an explicit mapping (RFC
//! 7757). The IPv4 packet leaves through the FIB in the same pass.

use aya_ebpf::bindings::xdp_action;
use network_types::{eth::EthHdr, ip::Ipv6Hdr};
use tunnel_common::{
    csum,
    jump::{JUMP_NAT64_4TO6, JUMP_NAT64_ERR_TO4, JUMP_NAT64_EXT6, SOURCE_NAT64},
    nat64::{config::NAT64_F_WKP_STRICT, icmp, rfc6052},
    slowpath::{NO_TUNNEL, REASON_ICMP6_FRAGMENT},
    stats::{Drop, Event},
};

use super::{
    config, eam_v6, pair, pseudo_checksum, slow, swapped, unpair, V4Header, ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST, ICMP_CHECK, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_MIN, PROTO_ICMP,
    PROTO_ICMPV6, PROTO_UDP,
};
use crate::{
    fib::{self, Wire},
    icmp6::IcmpError,
    packet::{Packet, ETHERTYPE_IPV4, ETH_LEN, FRAG_LEN, IPV4_LEN, IPV6_LEN, NEXT_HEADER_FRAGMENT},
    stats,
    step::Step,
    tunnel::Origin,
};

/// RFC 7915 §5.1: DF is set on translated packets bigger than this (they
/// could not cross an IPv6 hop of the minimum MTU once back in IPv6).
const DF_ABOVE: usize = 1260;
const IPV4_DF: u8 = 0x40;
const IPV4_MF: u16 = 0x2000;

/// What the translation keeps of the IPv6 header once the addresses are
/// mapped: few enough values to stay in registers across the helper calls.
struct V6 {
    /// One's-complement sum of both addresses (the pseudo-header's).
    addr_sum: u64,
    src4: [u8; 4],
    dst4: [u8; 4],
    /// Transport bytes (after the Fragment header, if any).
    payload: usize,
    /// The transport protocol (after the Fragment header, if any).
    next_header: u8,
    hop_limit: u8,
    tclass: u8,
    /// A fragment (RFC 7915 §5.1): its header's offset-and-M word and
    /// identification become the IPv4 ones.
    fragment: bool,
    frag: u16,
    frag_id: u32,
}

impl V6 {
    #[inline(always)]
    fn frag_len(&self) -> usize {
        if self.fragment {
            FRAG_LEN
        } else {
            0
        }
    }

    /// A later fragment: no transport header in it.
    #[inline(always)]
    fn is_later_fragment(&self) -> bool {
        self.fragment && self.frag >> 3 != 0
    }
}

/// Translates the IPv6 packet from `origin` and sends it on; a pending
/// ICMPv6 error (hop limit) comes back as a `Step` for the router's
/// error program. Not inlined: its frame (two IPv6 addresses, the
/// mapping) stays off the entry's, which holds the jump's arguments.
#[inline(never)]
pub fn translate(pkt: Packet, origin: Origin) -> Result<Step, Drop> {
    // ICMPv6 errors carry a packet of their own to translate, and often
    // come from routers with no mapping: their program (origin kept in
    // the jump's arguments).
    if is_icmpv6_error(pkt) {
        return Ok(Step::Hand(JUMP_NAT64_ERR_TO4));
    }
    // Hop-by-Hop, Destination Options, Routing: their program strips
    // them (or answers a live Routing header) and hands the packet back.
    if super::ext6::is_skipped(pkt.read::<u8>(ETH_LEN + 6)?) {
        return Ok(Step::Hand(JUMP_NAT64_EXT6));
    }
    let v6 = map_v6(pkt)?;
    if v6.hop_limit <= 1 {
        let src_tunnel = error_source(origin).ok_or(Drop::Nat64TtlExpired)?;
        return Ok(Step::Icmp {
            kind: IcmpError::TIME_EXCEEDED,
            src_tunnel,
            origin,
        });
    }
    // A fragment of an ICMPv6 message: its checksum can only be checked,
    // and the ICMPv4 one made, over the whole message (RFC 7915 §5.2), so
    // every fragment goes to the daemon translated but for the ICMP type
    // and checksum (`REASON_ICMP6_FRAGMENT`), which puts the message back
    // together and sends it as IPv4 fragments.
    let icmp_fragment = v6.fragment && v6.next_header == PROTO_ICMPV6;
    let proto = if v6.next_header == PROTO_ICMPV6 {
        PROTO_ICMP
    } else {
        v6.next_header
    };
    let tot_len = IPV4_LEN + v6.payload;
    // Hairpinning (RFC 7757 §4.2): an IPv4 destination that is itself
    // an IPv6 host's mapping goes straight back through the other
    // direction, one translator hop more (its TTL is decremented here and
    // its hop limit again by the router).
    let hairpin = super::eam_v4(v6.dst4).is_some();
    if hairpin && icmp_fragment {
        // Back into IPv6 it would be ICMPv6 again, which the daemon's
        // IPv4 sending does not do: not yet.
        return Err(Drop::Nat64Unsupported);
    }
    // Next hop first: on a miss the kernel gets the translated packet and
    // forwards it (decrementing the TTL itself).
    let (src4, dst4) = (v6.src4, v6.dst4);
    // The slow path's packet is sent by the PoP's own kernel, which
    // routes it without decrementing: it leaves decremented here, as the
    // router would have sent it (the hop limit is above 1).
    let hop = if hairpin || icmp_fragment {
        None
    } else {
        fib::lookup_v4(pkt, src4, dst4, Wire::new(proto, tot_len as u16)).ok()
    };
    let ttl = if hop.is_some() || hairpin || icmp_fragment {
        v6.hop_limit - 1
    } else {
        v6.hop_limit
    };
    pkt.truncate(ETH_LEN + IPV6_LEN + v6.frag_len() + v6.payload)?;
    let check = fix_transport(pkt, &v6)?;

    let eth: EthHdr = pkt.read(0)?;
    pkt.adjust_head((IPV6_LEN - IPV4_LEN + v6.frag_len()) as i32)?;
    pkt.write(
        0,
        &EthHdr {
            ether_type: ETHERTYPE_IPV4,
            ..eth
        },
    )?;
    write_v4(pkt, &v6, tot_len, ttl, proto, check)?;
    stats::event(Event::Nat64To4);
    stats::event_add(Event::Nat64To4Bytes, IPV6_LEN + v6.frag_len() + v6.payload);
    if icmp_fragment {
        // No MTU: the daemon cuts the message as its IPv4 fragments came.
        let tunnel = origin.tunnel_id().unwrap_or(NO_TUNNEL);
        return slow::punt(pkt, REASON_ICMP6_FRAGMENT, tunnel, 0, v6.addr_sum);
    }
    if hairpin {
        stats::event(Event::Nat64Hairpin);
        return Ok(Step::Hand(JUMP_NAT64_4TO6));
    }
    match hop {
        Some(hop) => fib::send(pkt, &hop, ETHERTYPE_IPV4).map(Step::Done),
        None => Ok(Step::Done(xdp_action::XDP_PASS)),
    }
}

/// Where the translator's own ICMPv6 errors come from (`Step::Icmp`'s
/// `src_tunnel`): out of a tunnel, they go back in from its `::1`; from the
/// uplink, from the translator's own source under pool6 if the operator
/// set one (a traceroute then shows the PoP); else none can be sent.
#[inline(always)]
pub fn error_source(origin: Origin) -> Option<u32> {
    match origin.tunnel_id() {
        Some(id) => Some(id),
        None if super::icmp_source_v6().is_some() => Some(SOURCE_NAT64),
        None => None,
    }
}

/// Whether the packet is an ICMPv6 error (next header 58, type < 128).
#[inline(always)]
fn is_icmpv6_error(pkt: Packet) -> bool {
    matches!(pkt.read::<u8>(ETH_LEN + 6), Ok(PROTO_ICMPV6))
        && matches!(pkt.read::<u8>(ETH_LEN + IPV6_LEN), Ok(t) if icmp::is_error_v6(t))
}

/// Reads the IPv6 header and maps its addresses: the destination out of
/// pool6 (RFC 6052), the source through its explicit mapping (RFC 7757).
#[inline(always)]
fn map_v6(pkt: Packet) -> Result<V6, Drop> {
    // The whole header's bounds first: the verifier must see each read
    // inside them (a later length test lets LLVM drop their own checks).
    let h = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    let (mut payload, mut next_header, hop_limit) = (
        u16::from_be_bytes(h.payload_len) as usize,
        h.next_hdr,
        h.hop_limit,
    );
    let tclass = h.vcf[0] << 4 | h.vcf[1] >> 4;
    // The Fragment header is read before the length test, for the same
    // reason as the header itself.
    let (mut fragment, mut frag, mut frag_id) = (false, 0, 0);
    if next_header == NEXT_HEADER_FRAGMENT {
        let f: [u8; FRAG_LEN] = pkt.read(ETH_LEN + IPV6_LEN)?;
        fragment = true;
        next_header = f[0];
        frag = u16::from_be_bytes([f[2], f[3]]);
        frag_id = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
    }
    if ETH_LEN + IPV6_LEN + payload > pkt.len() {
        return Err(Drop::Malformed);
    }
    if !super::crosses_to4(next_header) {
        // Extension headers behind a Fragment header (in the
        // fragmentable part), ICMPv4: not translated.
        return Err(Drop::Nat64Unsupported);
    }
    if fragment {
        if payload < FRAG_LEN {
            return Err(Drop::Malformed);
        }
        payload -= FRAG_LEN;
    }
    let [addrs, addr_sum] = map_addrs(pkt)?;
    let (src4, dst4) = unpair(addrs);
    Ok(V6 {
        addr_sum,
        src4,
        dst4,
        payload,
        next_header,
        hop_limit,
        tclass,
        fragment,
        frag,
        frag_id,
    })
}

/// The addresses: the destination out of pool6, the source through its
/// mapping; both IPv4 addresses packed in one word (`pair`), and the sum
/// of the IPv6 ones. One function per address, each not inlined: an IPv6
/// address and a lookup key live in its frame only, and the two frames
/// are never on the stack together (Linux 6.1 refuses a call chain whose
/// frames add up to more than 512 bytes).
#[inline(always)]
fn map_addrs(pkt: Packet) -> Result<[u64; 2], Drop> {
    let [dst4, dst_sum] = map_dst(pkt)?;
    // Read here, not in `map_src`: given only the packet, LLVM passes it
    // the context's two 32-bit packet offsets, which it then joins with a
    // shift the verifier refuses on packet pointers.
    let src = pkt.read_addr(ETH_LEN + 8)?;
    let [src4, src_sum] = map_src(&src)?;
    let (src4, dst4) = ((src4 as u32).to_ne_bytes(), (dst4 as u32).to_ne_bytes());
    Ok([pair(src4, dst4), src_sum + dst_sum])
}

/// The destination out of pool6 (RFC 6052), as a native-order word, and
/// the sum of its IPv6 address.
#[inline(never)]
fn map_dst(pkt: Packet) -> Result<[u64; 2], Drop> {
    let conf = config().ok_or(Drop::Nat64NoMapping)?;
    let dst = pkt.read_addr(ETH_LEN + 24)?;
    if !conf.in_pool6(&dst) {
        return Err(Drop::Nat64NoMapping);
    }
    let dst4 = rfc6052::extract(&dst, conf.pool6_len);
    if conf.flags & NAT64_F_WKP_STRICT != 0 && conf.is_wkp() && !rfc6052::is_global_v4(dst4) {
        return Err(Drop::Nat64NonGlobal);
    }
    Ok([u32::from_ne_bytes(dst4) as u64, csum::add_bytes(0, &dst)])
}

/// The source through its explicit mapping (RFC 7757), as a native-order
/// word, and the sum of its IPv6 address.
#[inline(never)]
fn map_src(src: &[u8; 16]) -> Result<[u64; 2], Drop> {
    let eam = eam_v6(src).ok_or(Drop::Nat64NoMapping)?;
    Ok([
        u32::from_ne_bytes(eam.to_v4(src)) as u64,
        csum::add_bytes(0, src),
    ])
}

/// The transport checksum, still at its IPv6 offset: TCP and UDP swap the
/// pseudo-header's addresses; ICMPv6 echo becomes ICMP echo, whose
/// checksum has no pseudo-header at all. Returns the new checksum.
#[inline(always)]
fn fix_transport(pkt: Packet, v6: &V6) -> Result<u16, Drop> {
    let l4 = ETH_LEN + IPV6_LEN + v6.frag_len();
    if v6.is_later_fragment() || v6.fragment && v6.next_header == PROTO_ICMPV6 {
        // No transport header here: the first fragment carried it. Or a
        // fragment of ICMPv6, whose pseudo-header holds the whole
        // message's length, which a fragment does not tell: its type and
        // checksum are the daemon's (`REASON_ICMP6_FRAGMENT`).
        return Ok(0);
    }
    if v6.next_header == PROTO_ICMPV6 {
        if v6.payload < ICMP_MIN {
            return Err(Drop::Malformed);
        }
        let head: [u8; 2] = pkt.read(l4)?;
        let ty = match head[0] {
            ICMPV6_ECHO_REQUEST => ICMP_ECHO_REQUEST,
            ICMPV6_ECHO_REPLY => ICMP_ECHO_REPLY,
            // Errors are not translated this way yet; other informational
            // types (MLD, ND, ...) are dropped (RFC 7915 §5.2).
            t if icmp::is_error_v6(t) => return Err(Drop::Nat64Unsupported),
            _ => return Err(Drop::Nat64IcmpDropped),
        };
        let check = u16::from_be_bytes(pkt.read(l4 + ICMP_CHECK)?);
        // The pseudo-header (RFC 8200 §8.1) goes: addresses, length, 58.
        let old =
            v6.addr_sum + v6.payload as u64 + PROTO_ICMPV6 as u64 + u16::from_be_bytes(head) as u64;
        let new = u16::from_be_bytes([ty, head[1]]) as u64;
        pkt.write(l4, &ty)?;
        let c = csum::replace(check, old, new);
        pkt.write(l4 + ICMP_CHECK, &c.to_be_bytes())?;
        return Ok(c);
    }
    let Some((at, min, udp)) = pseudo_checksum(v6.next_header) else {
        // Another transport crosses as it is (RFC 7915 §5.5); its first
        // 8 bytes stand in for the checksum in the id (`write_v4`).
        return Ok(match pkt.read::<[u8; 8]>(l4) {
            Ok(b) if v6.payload >= 8 => csum::fold(
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64
                    + u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as u64,
            ),
            _ => 0,
        });
    };
    if v6.payload < min {
        return Err(Drop::Malformed);
    }
    let check = u16::from_be_bytes(pkt.read(l4 + at)?);
    if v6.next_header == PROTO_UDP && check == 0 {
        // IPv6 UDP must carry a checksum (RFC 8200 §8.1).
        return Err(Drop::Malformed);
    }
    let c = swapped(check, v6.addr_sum, csum::addrs_v4(v6.src4, v6.dst4), udp);
    pkt.write(l4 + at, &c.to_be_bytes())?;
    Ok(c)
}

/// The IPv4 header of RFC 7915 §5.1 behind the Ethernet header.
/// `check` is the translated transport checksum.
#[inline(always)]
fn write_v4(
    pkt: Packet,
    v6: &V6,
    tot_len: usize,
    ttl: u8,
    proto: u8,
    check: u16,
) -> Result<(), Drop> {
    let (src, dst) = (v6.src4, v6.dst4);
    let df = tot_len > DF_ABOVE;
    // RFC 6864: an atomic datagram (DF) needs no unique id. Otherwise the
    // id tells one datagram's fragments from another's (same addresses
    // and protocol) if an IPv4 router fragments it: the transport
    // checksum with the length differs between datagrams as a random id
    // would, and identical datagrams, whose fragments are interchangeable,
    // get identical ids, so the translator stays deterministic.
    let id: u16 = if df { 0 } else { check ^ tot_len as u16 };
    let frags = if df { (IPV4_DF as u16) << 8 } else { 0 };
    // A fragment keeps its identification's low half, offset and M (RFC
    // 7915 §5.1.1), without DF.
    let (id, frags) = if v6.fragment {
        let more = if v6.frag & 1 != 0 { IPV4_MF } else { 0 };
        (v6.frag_id as u16, more | v6.frag >> 3)
    } else {
        (id, frags)
    };
    V4Header {
        tos: v6.tclass,
        tot_len: tot_len as u16,
        id,
        frags,
        ttl,
        proto,
        src,
        dst,
    }
    .write(pkt, ETH_LEN)
}
