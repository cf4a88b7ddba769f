//! Where an IPv6 packet goes: into a tunnel (its destination in a tunnel
//! prefix), or, if it came out of a tunnel, to the next hop. Router duties
//! (hop limit, MTU, the PoP's `::1`) live here; the checks return a pending
//! ICMPv6 error as a `Step`, which the program's entry turns into a jump to
//! `tunnel_icmp`, so one program builds and sends every error.
//!
//! Kind-neutral: encapsulation goes through `kinds`, tunnels and owners
//! through `tunnel`; no tunnel protocol's module is imported here (the
//! NAT64 pool test is a destination like a tunnel prefix).
//!
//! `from_local_v6` is the TC program's path: IPv6 the PoP's own kernel
//! routed into the tunnel device. The kernel has been the router there
//! (hop limit, ICMPv6 errors, the MTU from the route), so it only
//! encapsulates and sends.

use network_types::ip::Ipv6Hdr;
use tunnel_common::stats::{Drop, Event};

use crate::step::Step;
use crate::{
    fib,
    icmp6::{self, IcmpError},
    kinds, nat64,
    packet::{addr_from_halves, Packet, Tc, ETHERTYPE_IPV6, ETH_LEN, IPV4_LEN, IPV6_LEN},
    pinger, stats,
    tunnel::{owner, tunnel, Origin},
};

/// IPv6 from the uplink, as the root program classifies it: into the
/// tunnel that owns its destination, or `None` (not for a tunnel).
#[inline(always)]
pub fn tunnel_of_uplink_v6(pkt: Packet) -> Option<Step> {
    let id = pkt
        .view::<Ipv6Hdr>(ETH_LEN)
        .ok()
        .and_then(|h| owner(&h.dst_addr))?;
    Some(Step::ToTunnel {
        id,
        origin: Origin::uplink(),
    })
}

/// A decapsulated packet: into another tunnel, to the NAT64 translator
/// (toward pool6), or out through the FIB.
#[inline(always)]
pub fn from_tunnel_v6(pkt: Packet, origin: Origin) -> Result<Step, Drop> {
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    match owner(&ip6.dst_addr) {
        Some(id) => Ok(Step::ToTunnel { id, origin }),
        None if nat64::is_translated_v6(&ip6.dst_addr) => Ok(Step::Translate { origin }),
        None => to_fib(pkt, origin),
    }
}

/// An IPv6 packet for no tunnel (a translated one): out through the FIB.
#[inline(always)]
pub fn forward_v6(pkt: Packet, origin: Origin) -> Result<Step, Drop> {
    to_fib(pkt, origin)
}

/// IPv6 leaving the tunnel device (TC egress): encapsulated into its tunnel
/// and redirected to the uplink, or, when it is for no tunnel, passed on
/// as it is. Returns the TC verdict.
#[inline(always)]
pub fn from_local_v6(pkt: Packet<Tc>) -> Result<u32, Drop> {
    // Locally built packets have their headers in the linear part; pull
    // them there anyway if a sender left them in pages.
    pkt.pull(ETH_LEN + IPV6_LEN)?;
    let Ok(ip6) = pkt.view::<Ipv6Hdr>(ETH_LEN) else {
        return Ok(stats::pass_not_ours_tc());
    };
    let Some(id) = owner(&ip6.dst_addr) else {
        return Ok(stats::pass_not_ours_tc());
    };
    let info = tunnel(id)?;
    if !info.is_enabled() {
        return Err(Drop::TunnelDisabled);
    }
    // The skb's length, not the IPv6 header's: a GSO packet's payload
    // length need not describe it, and the tail may be in pages.
    let len = pkt.skb_len().saturating_sub(ETH_LEN);
    // A GSO packet is cut to the route's MTU (the tunnel's) after this.
    if len > info.mtu as usize && !pkt.is_gso() {
        return Err(Drop::LocalTooBig);
    }
    let (hop_limit, tclass) = (ip6.hop_limit, ip6.vcf[0] << 4 | ip6.vcf[1] >> 4);
    // What each packet on the wire is at most, segments included; a GSO
    // packet's outer total length is rewritten per segment, the clamp only
    // keeps the field from wrapping.
    let wire = len.min(info.mtu as usize);
    let len = len.min(0xffff - IPV4_LEN);
    kinds::deliver_local(pkt, id, &info, hop_limit, tclass, len, wire)
}

/// Length of the IPv6 packet after the Ethernet header, from its header.
#[inline(always)]
fn inner_len(pkt: Packet, ip6: &Ipv6Hdr) -> Result<usize, Drop> {
    let len = IPV6_LEN + u16::from_be_bytes(ip6.payload_len) as usize;
    if ETH_LEN + len > pkt.len() {
        return Err(Drop::Malformed);
    }
    Ok(len)
}

/// The router into tunnel `id` (the `tunnel_route` program's body).
#[inline(always)]
pub fn to_tunnel(pkt: Packet, id: u32, origin: Origin) -> Result<Step, Drop> {
    let info = tunnel(id)?;
    // The PoP's address facing the sender is the error's source.
    let src_tunnel = origin.tunnel_id().unwrap_or(id);
    if !info.is_enabled() {
        // As sixxsd: the sender learns the tunnel is administratively down.
        return Ok(Step::Icmp {
            kind: IcmpError::ADMIN_PROHIBITED,
            src_tunnel,
            origin,
        });
    }
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    let len = inner_len(pkt, ip6)?;
    let to_pop = tunnel_common::addr::same_addr(&ip6.dst_addr, &info.pop_v6);
    if !to_pop && kinds::is_down(id, &info) {
        // As sixxsd: no beat or packet from the user for 120 s.
        return Ok(Step::Icmp {
            kind: IcmpError::NO_ROUTE,
            src_tunnel,
            origin,
        });
    }
    if to_pop {
        // The PoP's own end of the tunnel: users ping it first.
        pkt.truncate(ETH_LEN + len)?;
        if icmp6::is_echo_request(pkt) {
            icmp6::build_echo_reply(pkt)?;
            return Ok(Step::Reply { origin });
        }
        if origin.tunnel_id() == Some(id) && pinger::take_reply(pkt, id) {
            return Ok(Step::Done(aya_ebpf::bindings::xdp_action::XDP_DROP));
        }
        return Ok(Step::Icmp {
            kind: IcmpError::PORT_UNREACHABLE,
            src_tunnel: id,
            origin,
        });
    }
    if ip6.hop_limit <= 1 {
        return Ok(Step::Icmp {
            kind: IcmpError::TIME_EXCEEDED,
            src_tunnel,
            origin,
        });
    }
    if len > info.mtu as usize {
        return Ok(Step::Icmp {
            kind: IcmpError::packet_too_big(info.mtu),
            src_tunnel,
            origin,
        });
    }
    let (hop_limit, tclass) = (ip6.hop_limit - 1, ip6.vcf[0] << 4 | ip6.vcf[1] >> 4);
    let action = kinds::deliver(pkt, id, &info, origin, hop_limit, tclass, len)?;
    if origin.tunnel_id().is_some() {
        stats::event(Event::TunnelToTunnel);
    }
    Ok(Step::Done(action))
}

#[inline(always)]
fn to_fib(pkt: Packet, origin: Origin) -> Result<Step, Drop> {
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    inner_len(pkt, ip6)?;
    if ip6.hop_limit <= 1 {
        return Ok(Step::Icmp {
            kind: IcmpError::TIME_EXCEEDED,
            src_tunnel: origin.raw(),
            origin,
        });
    }
    let hop = match fib::lookup_v6(pkt, ip6) {
        Ok(hop) => hop,
        // Hop limit untouched: the kernel forwards and decrements it.
        Err(action) => return Ok(Step::Done(action)),
    };
    // fib::lookup_v6 does not move the packet, so the view is still valid;
    // re-taken anyway to keep the rule simple.
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    ip6.hop_limit -= 1;
    stats::event(Event::Forwarded);
    fib::send(pkt, &hop, ETHERTYPE_IPV6).map(Step::Done)
}

/// The `tunnel_icmp` program's body: builds the pending ICMPv6 error (or
/// takes the reply already built) and sends it back. Returns a plain action
/// and counts its own drops.
#[inline(always)]
pub fn answer(pkt: Packet, error: Option<IcmpError>, src_tunnel: u32, origin: Origin) -> u32 {
    let sent = match error {
        Some(kind) => error_source(src_tunnel)
            .and_then(|src| icmp6::build_error(pkt, kind, &addr_from_halves(src)))
            .and_then(|_| send_back(pkt, origin)),
        None => send_back(pkt, origin),
    };
    match sent {
        Ok(action) => action,
        Err(reason) => {
            stats::drop(reason);
            aya_ebpf::bindings::xdp_action::XDP_DROP
        }
    }
}

/// The source of an ICMPv6 error, as big-endian halves (a returned
/// 16-byte array would sit unaligned on the stack): the `::1` of tunnel
/// `src_tunnel`, or the NAT64 translator's own (`SOURCE_NAT64`).
#[inline(always)]
fn error_source(src_tunnel: u32) -> Result<(u64, u64), Drop> {
    if src_tunnel == tunnel_common::jump::SOURCE_NAT64 {
        return nat64::icmp_source_v6().ok_or(Drop::Nat64TtlExpired);
    }
    let (hi, lo) = tunnel_common::addr::words(&tunnel(src_tunnel)?.pop_v6);
    Ok((u64::from_be(hi), u64::from_be(lo)))
}

/// Sends a packet the PoP made (an error or a reply) to where the packet it
/// answers came from: into that tunnel, or through the FIB.
#[inline(always)]
fn send_back(pkt: Packet, origin: Origin) -> Result<u32, Drop> {
    let len = pkt.len() - ETH_LEN;
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    if let Some(id) = origin.tunnel_id() {
        let info = tunnel(id)?;
        // An echo reply keeps the request's traffic class: the outer
        // header copies its ECN field (RFC 6040), as for any packet.
        let tclass = ip6.vcf[0] << 4 | ip6.vcf[1] >> 4;
        return kinds::deliver(pkt, id, &info, origin, icmp6::HOP_LIMIT, tclass, len);
    }
    match fib::lookup_v6(pkt, ip6) {
        Ok(hop) => fib::send(pkt, &hop, ETHERTYPE_IPV6),
        Err(action) => Ok(action),
    }
}
