//! IPv4 → IPv6 (RFC 7915 §4): the destination is the IPv4 side of an
//! explicit mapping (RFC 7757), the source an IPv4 host, seen under pool6
//! (RFC 6052). The IPv6 packet goes to the router: into the tunnel that
//! owns its destination, or out through the FIB.

use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use tunnel_common::{
    csum,
    jump::{JUMP_NAT64_ERR_TO6, JUMP_NAT64_OPTIONS, SOURCE_NAT64},
    nat64::{
        config::{NAT64_F_UDP0_COMPUTE, NAT64_F_WKP_STRICT},
        icmp, rfc6052,
    },
    slowpath::{LOWEST_IPV6_MTU, NO_TUNNEL, REASON_ICMP_FRAGMENT, REASON_TOO_BIG},
    stats::{Drop, Event},
};

use super::{
    config, eam_v4, icmp4::Icmp4Error, pseudo_checksum, slow, swapped, write_v6, Addrs6,
    ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMP_CHECK, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST,
    ICMP_MIN, PROTO_ICMP, PROTO_ICMPV6, PROTO_UDP,
};
use crate::{
    packet::{
        addr_from_halves, Packet, ETHERTYPE_IPV6, ETH_LEN, FRAG_LEN, IPV4_LEN, IPV6_LEN,
        NEXT_HEADER_FRAGMENT,
    },
    route, stats,
    step::Step,
    tunnel::{owner, tunnel, Origin},
};

const IPV4_DF: u8 = 0x40;
/// The flags-and-offset word: more fragments, and the offset (8-byte units).
const IPV4_MF_BIT: u16 = 0x2000;
const IPV4_OFFSET: u16 = 0x1fff;
/// The largest UDP datagram whose zero checksum the translator computes
/// (an IPv4 MTU of 1500); longer ones are counted drops.
const UDP0_MAX: usize = 1480;

/// The IPv4 header fields the translation needs.
struct V4 {
    src: [u8; 4],
    dst: [u8; 4],
    payload: usize,
    proto: u8,
    ttl: u8,
    tos: u8,
    /// Don't Fragment set.
    df: bool,
    /// A fragment (MF or an offset): the IPv6 packet gets a Fragment
    /// header (RFC 7915 §4.1) made of `frag` (MF and offset, host order)
    /// and `id`.
    fragment: bool,
    frag: u16,
    id: u16,
}

impl V4 {
    /// Bytes the IPv6 packet has beyond the IPv6 header's payload of
    /// transport data: the Fragment header, if any.
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
        self.frag & IPV4_OFFSET != 0
    }
}

/// The header's fields, or `None` for a header with options.
#[inline(always)]
fn read_v4(pkt: Packet) -> Result<Option<V4>, Drop> {
    let h = pkt.view::<Ipv4Hdr>(ETH_LEN)?;
    if h.vihl >> 4 != 4 || h.vihl & 0xf < 5 {
        return Err(Drop::Malformed);
    }
    if h.vihl != 0x45 {
        // Options: RFC 7915 §4.1 ignores them; their program strips them
        // and hands the packet back.
        return Ok(None);
    }
    let tot_len = u16::from_be_bytes(h.tot_len) as usize;
    if tot_len < IPV4_LEN || ETH_LEN + tot_len > pkt.len() {
        return Err(Drop::Malformed);
    }
    if !super::crosses_to6(h.proto) {
        return Err(Drop::Nat64Unsupported);
    }
    let frags = u16::from_be_bytes(h.frags);
    let v4 = V4 {
        src: h.src_addr,
        dst: h.dst_addr,
        payload: tot_len - IPV4_LEN,
        proto: h.proto,
        ttl: h.ttl,
        tos: h.tos,
        df: h.frags[0] & IPV4_DF != 0,
        fragment: frags & (IPV4_MF_BIT | IPV4_OFFSET) != 0,
        frag: frags,
        id: u16::from_be_bytes(h.id),
    };
    if csum::ipv4_header(pkt.view::<[u8; IPV4_LEN]>(ETH_LEN)?) != u16::from_be_bytes(h.check) {
        return Err(Drop::BadChecksum);
    }
    Ok(Some(v4))
}

/// Translates the IPv4 packet from the uplink and hands it to the router.
#[inline(always)]
pub fn translate(pkt: Packet) -> Result<Step, Drop> {
    let conf = config().ok_or(Drop::Nat64NoMapping)?;
    let Some(v4) = read_v4(pkt)? else {
        return Ok(Step::Hand(JUMP_NAT64_OPTIONS));
    };
    let eam = eam_v4(v4.dst).ok_or(Drop::Nat64NoMapping)?;
    if conf.pool6_len == 0 {
        return Err(Drop::Nat64NoMapping);
    }
    if conf.flags & NAT64_F_WKP_STRICT != 0 && conf.is_wkp() && !rfc6052::is_global_v4(v4.src) {
        return Err(Drop::Nat64NonGlobal);
    }
    if v4.ttl <= 1 {
        // From the translator's own source, if the operator set one.
        if super::icmp_source_v4().is_none() {
            return Err(Drop::Nat64TtlExpired);
        }
        return Ok(Step::Icmp4 {
            kind: Icmp4Error::TIME_EXCEEDED,
            tunnel: SOURCE_NAT64,
        });
    }
    // ICMP errors carry a packet of their own to translate: their program.
    // A later fragment has no ICMP header: its first byte is data.
    if v4.proto == PROTO_ICMP
        && !v4.is_later_fragment()
        && icmp::is_error_v4(pkt.read::<u8>(ETH_LEN + IPV4_LEN)?)
    {
        return Ok(Step::Hand(JUMP_NAT64_ERR_TO6));
    }
    // A fragment of an ICMP message: its ICMPv6 checksum needs the whole
    // message (RFC 7915 §4.2), so every fragment goes to the daemon, which
    // puts the message back together (`REASON_ICMP_FRAGMENT`).
    let icmp_fragment = v4.fragment && v4.proto == PROTO_ICMP;
    let addrs = Addrs6 {
        src: rfc6052::embed_halves(&conf.pool6, conf.pool6_len, v4.src),
        dst: eam.to_v6_halves(v4.dst),
    };
    // Into a tunnel: its state and MTU are checked here, while the packet
    // is still the IPv4 sender's. The router's ICMPv6 answers would go to
    // a pool6 address, which is no way back to an IPv4 sender.
    let into = owner(&addr_from_halves(addrs.dst));
    // Tunnel MTU when the packet is too big for it and has no DF: it goes
    // to the slow path, which sends it as IPv6 fragments (RFC 7915 §4).
    let mut slow_mtu = 0u16;
    if let Some(id) = into {
        let info = tunnel(id)?;
        if !info.is_enabled() {
            return Err(Drop::TunnelDisabled);
        }
        if IPV6_LEN + v4.frag_len() + v4.payload > info.mtu as usize {
            if v4.df {
                // RFC 7915 §4: the IPv4 sender learns the MTU less what
                // translation adds.
                let mtu = info.mtu.saturating_sub((IPV6_LEN - IPV4_LEN) as u16);
                return Ok(Step::Icmp4 {
                    kind: Icmp4Error::frag_needed(mtu),
                    tunnel: id,
                });
            }
            slow_mtu = info.mtu;
        }
        if icmp_fragment {
            // The daemon keeps tunnel MTUs at 1280 or more; the floor
            // only guards the cut against a map written otherwise.
            return punt_icmp_fragment(pkt, &v4, &addrs, id, info.mtu.max(LOWEST_IPV6_MTU));
        }
    } else if icmp_fragment {
        // Toward the uplink: cut to the IPv6 minimum MTU, as below.
        return punt_icmp_fragment(pkt, &v4, &addrs, NO_TUNNEL, LOWEST_IPV6_MTU);
    } else if !v4.df && IPV6_LEN + v4.frag_len() + v4.payload > LOWEST_IPV6_MTU as usize {
        // Toward the uplink: IPv6 fragments of the minimum MTU (RFC 7915
        // §4), as for a tunnel.
        slow_mtu = LOWEST_IPV6_MTU;
    }
    let flags = conf.flags;
    pkt.truncate(ETH_LEN + IPV4_LEN + v4.payload)?;
    // The transport as for the datagram it is: a whole one keeps the
    // checksum work a whole one gets (UDP's zero checksum computed).
    let next_header = fix_transport(pkt, &v4, addrs.sum(), flags)?;
    let mut v4 = v4;
    if slow_mtu != 0 {
        // Translated as a fragment (offset 0, M 0 for a whole datagram),
        // so the daemon only has to cut it: every piece carries the
        // Fragment header's identification (RFC 7915 §4.1).
        v4.fragment = true;
    }

    let eth: EthHdr = pkt.read(0)?;
    pkt.adjust_head(-((IPV6_LEN - IPV4_LEN + v4.frag_len()) as i32))?;
    pkt.write(
        0,
        &EthHdr {
            ether_type: ETHERTYPE_IPV6,
            ..eth
        },
    )?;
    // RFC 7915 §4.1: traffic class from the TOS, flow label 0, hop limit
    // the TTL; a fragment's transport follows its Fragment header.
    let first_header = if v4.fragment {
        NEXT_HEADER_FRAGMENT
    } else {
        next_header
    };
    let payload = v4.payload + v4.frag_len();
    // The hop limit is the TTL as it came: the router decrements it. The
    // slow path's packet skips the router, so it leaves decremented, as
    // the router would have sent it (the TTL is above 1 here).
    let hop_limit = if slow_mtu != 0 { v4.ttl - 1 } else { v4.ttl };
    write_v6(
        pkt,
        ETH_LEN,
        v4.tos,
        payload,
        first_header,
        hop_limit,
        &addrs,
    )?;
    if v4.fragment {
        write_fragment_header(pkt, &v4, next_header)?;
    }
    stats::event(Event::Nat64To6);
    stats::event_add(Event::Nat64To6Bytes, IPV4_LEN + v4.payload);
    match into {
        Some(id) => {
            stats::event(Event::Nat64IntoTunnel);
            if slow_mtu != 0 {
                return slow::punt(pkt, REASON_TOO_BIG, id, slow_mtu, 0);
            }
            Ok(Step::ToTunnel {
                id,
                origin: Origin::uplink(),
            })
        }
        None if slow_mtu != 0 => slow::punt(pkt, REASON_TOO_BIG, NO_TUNNEL, slow_mtu, 0),
        None => route::forward_v6(pkt, Origin::uplink()),
    }
}

/// The transport checksum, still at its IPv4 offset (`addr_sum`: the IPv6
/// addresses' sum); returns the IPv6 next header. Not inlined: the
/// zero-checksum loop is verified once per call site, not once per path
/// that leads to it.
#[inline(never)]
fn fix_transport(pkt: Packet, v4: &V4, addr_sum: u64, flags: u8) -> Result<u8, Drop> {
    let l4 = ETH_LEN + IPV4_LEN;
    // Fragments of ICMP do not come here: `punt_icmp_fragment` took them.
    if v4.is_later_fragment() {
        // No transport header here: its checksum was fixed in the first
        // fragment (it covers the whole datagram).
        return Ok(v4.proto);
    }
    if v4.proto == PROTO_ICMP {
        if v4.payload < ICMP_MIN {
            return Err(Drop::Malformed);
        }
        let head: [u8; 2] = pkt.read(l4)?;
        let ty = match head[0] {
            ICMP_ECHO_REQUEST => ICMPV6_ECHO_REQUEST,
            ICMP_ECHO_REPLY => ICMPV6_ECHO_REPLY,
            // Errors went to their own program; every other ICMPv4 type
            // is dropped in translation (RFC 7915 §4.2).
            _ => return Err(Drop::Nat64IcmpDropped),
        };
        let check = u16::from_be_bytes(pkt.read(l4 + ICMP_CHECK)?);
        let old = u16::from_be_bytes(head) as u64;
        // ICMPv6 adds the pseudo-header (RFC 4443 §2.3): addresses,
        // length, 58.
        let new = addr_sum
            + v4.payload as u64
            + PROTO_ICMPV6 as u64
            + u16::from_be_bytes([ty, head[1]]) as u64;
        pkt.write(l4, &ty)?;
        pkt.write(
            l4 + ICMP_CHECK,
            &csum::replace(check, old, new).to_be_bytes(),
        )?;
        return Ok(PROTO_ICMPV6);
    }
    let Some((at, min, udp_like)) = pseudo_checksum(v4.proto) else {
        // Another transport crosses as it is (RFC 7915 §4.5).
        return Ok(v4.proto);
    };
    if v4.payload < min {
        return Err(Drop::Malformed);
    }
    let check = u16::from_be_bytes(pkt.read(l4 + at)?);
    let udp = v4.proto == PROTO_UDP;
    let c = if udp && check == 0 {
        // RFC 7915 §4.5: IPv6 needs the checksum IPv4 left out (which a
        // fragment cannot give: the datagram is not all here).
        if flags & NAT64_F_UDP0_COMPUTE == 0 || v4.payload > UDP0_MAX || v4.fragment {
            return Err(Drop::Nat64UdpZeroChecksum);
        }
        let pseudo = addr_sum + v4.payload as u64 + PROTO_UDP as u64;
        let c = !csum::fold(pkt.sum_tail::<UDP0_MAX>(l4, pseudo));
        if c == 0 {
            0xffff
        } else {
            c
        }
    } else {
        swapped(check, csum::addrs_v4(v4.src, v4.dst), addr_sum, udp_like)
    };
    pkt.write(l4 + at, &c.to_be_bytes())?;
    Ok(v4.proto)
}

/// A fragment of an ICMP message, into tunnel `tunnel` (or `NO_TUNNEL`)
/// of MTU `mtu`: its ICMPv6 checksum covers the whole message's length,
/// which a fragment does not tell (RFC 7915 §4.2), so its IP header is
/// translated as any fragment's (hop limit decremented, as for the other
/// slow path), its ICMP bytes left as they came, and the daemon puts the
/// message back together (`REASON_ICMP_FRAGMENT`). A path of its own, not
/// a flag through the translation: the states the verifier walks there
/// stay as they were.
#[inline(always)]
fn punt_icmp_fragment(
    pkt: Packet,
    v4: &V4,
    addrs: &Addrs6,
    tunnel: u32,
    mtu: u16,
) -> Result<Step, Drop> {
    pkt.truncate(ETH_LEN + IPV4_LEN + v4.payload)?;
    let eth: EthHdr = pkt.read(0)?;
    pkt.adjust_head(-((IPV6_LEN - IPV4_LEN + FRAG_LEN) as i32))?;
    pkt.write(
        0,
        &EthHdr {
            ether_type: ETHERTYPE_IPV6,
            ..eth
        },
    )?;
    write_v6(
        pkt,
        ETH_LEN,
        v4.tos,
        v4.payload + FRAG_LEN,
        NEXT_HEADER_FRAGMENT,
        v4.ttl - 1,
        addrs,
    )?;
    write_fragment_header(pkt, v4, PROTO_ICMPV6)?;
    stats::event(Event::Nat64To6);
    stats::event_add(Event::Nat64To6Bytes, IPV4_LEN + v4.payload);
    if tunnel != NO_TUNNEL {
        stats::event(Event::Nat64IntoTunnel);
    }
    slow::punt(pkt, REASON_ICMP_FRAGMENT, tunnel, mtu, 0)
}

/// The Fragment header of a translated IPv4 fragment (RFC 7915 §4.1):
/// next header the transport, offset and M as IPv4 had them, the
/// identification's low 16 bits IPv4's, its high ones zero.
#[inline(always)]
fn write_fragment_header(pkt: Packet, v4: &V4, next_header: u8) -> Result<(), Drop> {
    let more = (v4.frag & IPV4_MF_BIT != 0) as u16;
    let off = ((v4.frag & IPV4_OFFSET) << 3 | more).to_be_bytes();
    let id = (v4.id as u32).to_be_bytes();
    pkt.write(
        ETH_LEN + IPV6_LEN,
        &[next_header, 0, off[0], off[1], id[0], id[1], id[2], id[3]],
    )
}
