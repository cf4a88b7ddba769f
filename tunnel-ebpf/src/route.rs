//! Where an IPv6 packet goes: into a tunnel (dst in PREFIXES), or, if it
//! came out of a tunnel, to the kernel's FIB. Router duties (hop limit, MTU)
//! live here; the checks return a pending ICMPv6 error as a `Step` so the
//! error is built and sent by one copy of the code (`finish`).
//!
//! `from_local_v6` is the TC program's path: IPv6 the PoP's own kernel
//! routed into the tunnel device. The kernel has been the router there
//! (hop limit, ICMPv6 errors, the MTU from the route), so it only
//! encapsulates and sends.

use aya_ebpf::maps::lpm_trie::Key;
use network_types::ip::Ipv6Hdr;
use tunnel_common::stats::{Drop, Event};

use crate::{
    fib,
    icmp6::{self, IcmpError},
    maps::PREFIXES,
    packet::{Packet, Tc, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_LEN, IPV4_LEN, IPV6_LEN},
    sixin4, stats,
};

/// Where the packet being handled came from: a tunnel id, or the uplink.
#[derive(Clone, Copy)]
pub struct Origin(u32);

const UPLINK: u32 = u32::MAX;

impl Origin {
    #[inline(always)]
    pub fn tunnel(id: u32) -> Self {
        Self(id)
    }
    #[inline(always)]
    fn uplink() -> Self {
        Self(UPLINK)
    }
    #[inline(always)]
    fn is_tunnel(self) -> bool {
        self.0 != UPLINK
    }
}

/// The outcome of a path: an XDP action, or an ICMPv6 error still to send
/// back to where the packet came from. `src_tunnel` is the tunnel whose PoP
/// address (`::1`) becomes the error's source.
pub enum Step {
    Done(u32),
    Icmp {
        kind: IcmpError,
        src_tunnel: u32,
        origin: Origin,
    },
    /// The packet has been turned into a reply; send it back.
    Reply {
        origin: Origin,
    },
}

/// The tunnel whose prefix (its /64 or a routed one) holds `addr`.
#[inline(always)]
pub fn owner(addr: &[u8; 16]) -> Option<u32> {
    PREFIXES.get(Key::new(128, *addr)).copied()
}

/// IPv6 from the uplink: encapsulated if it is for a tunnel, else not ours.
#[inline(always)]
pub fn from_uplink_v6(pkt: Packet) -> Result<Step, Drop> {
    let Ok(ip6) = pkt.view::<Ipv6Hdr>(ETH_LEN) else {
        return Ok(Step::Done(stats::pass_not_ours()));
    };
    match owner(&ip6.dst_addr) {
        Some(id) => to_tunnel(pkt, id, Origin::uplink()),
        None => Ok(Step::Done(stats::pass_not_ours())),
    }
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
    let info = sixin4::tunnel(id)?;
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
    let (hop_limit, tclass_hi) = (ip6.hop_limit, ip6.vcf[0] << 4 | ip6.vcf[1] >> 4);
    // What each packet on the wire is at most, segments included.
    let wire = IPV4_LEN + len.min(info.mtu as usize);
    let hop = fib::lookup_v4_local(pkt, &info, wire as u16)?;
    // A GSO packet's outer total length is rewritten per segment; the
    // clamp only keeps the field from wrapping.
    sixin4::encap(pkt, &info, hop_limit, tclass_hi, len.min(0xffff - IPV4_LEN))?;
    stats::tunnel_tx(id, len);
    stats::event(Event::Encap);
    stats::event(Event::LocalEncap);
    fib::send_local(pkt, &hop)
}

/// A decapsulated packet: into another tunnel, or out through the FIB.
#[inline(always)]
pub fn from_tunnel_v6(pkt: Packet, origin: Origin) -> Result<Step, Drop> {
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    match owner(&ip6.dst_addr) {
        Some(id) => to_tunnel(pkt, id, origin),
        None => to_fib(pkt, origin),
    }
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

#[inline(always)]
fn to_tunnel(pkt: Packet, id: u32, origin: Origin) -> Result<Step, Drop> {
    let info = sixin4::tunnel(id)?;
    // The PoP's address facing the sender is the error's source.
    let src_tunnel = if origin.is_tunnel() { origin.0 } else { id };
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
    if ip6.dst_addr == info.pop_v6 {
        // The PoP's own end of the tunnel: users ping it first.
        pkt.truncate(ETH_LEN + len)?;
        if icmp6::is_echo_request(pkt) {
            icmp6::build_echo_reply(pkt)?;
            return Ok(Step::Reply { origin });
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
    let hop = match fib::lookup_v4(pkt, &info, len as u16) {
        Ok(hop) => hop,
        // Not modified yet: the kernel gets the packet as it came.
        Err(action) => return Ok(Step::Done(action)),
    };
    ip6.hop_limit -= 1;
    let (hop_limit, tclass_hi) = (ip6.hop_limit, ip6.vcf[0] << 4 | ip6.vcf[1] >> 4);
    pkt.truncate(ETH_LEN + len)?;
    sixin4::encap(pkt, &info, hop_limit, tclass_hi, len)?;
    stats::tunnel_tx(id, len);
    stats::event(Event::Encap);
    if origin.is_tunnel() {
        stats::event(Event::TunnelToTunnel);
    }
    fib::send(pkt, &hop, ETHERTYPE_IPV4).map(Step::Done)
}

#[inline(always)]
fn to_fib(pkt: Packet, origin: Origin) -> Result<Step, Drop> {
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    inner_len(pkt, ip6)?;
    if ip6.hop_limit <= 1 {
        return Ok(Step::Icmp {
            kind: IcmpError::TIME_EXCEEDED,
            src_tunnel: origin.0,
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

/// Turns a `Step` into the XDP action.
#[inline(always)]
pub fn finish(pkt: Packet, step: Step) -> Result<u32, Drop> {
    match step {
        Step::Done(action) => Ok(action),
        Step::Icmp {
            kind,
            src_tunnel,
            origin,
        } => Ok(send_icmp_error(pkt, kind, src_tunnel, origin)),
        Step::Reply { origin } => send_back(pkt, origin),
    }
}

/// Builds the pending ICMPv6 error and sends it: into the tunnel it
/// answers, or through the FIB. Returns a plain action and counts its own
/// drops. Inlined: as a call of its own, tunnel_xdp → send_icmp_error →
/// build_error needed 544 bytes of stack by Linux 6.1's count (each frame
/// rounded up to 32), over the 512 limit, and 6.1 rejected the program.
#[inline(always)]
fn send_icmp_error(pkt: Packet, kind: IcmpError, src_tunnel: u32, origin: Origin) -> u32 {
    match try_send_icmp_error(pkt, kind, src_tunnel, origin) {
        Ok(action) => action,
        Err(reason) => {
            stats::drop(reason);
            aya_ebpf::bindings::xdp_action::XDP_DROP
        }
    }
}

#[inline(always)]
fn try_send_icmp_error(
    pkt: Packet,
    kind: IcmpError,
    src_tunnel: u32,
    origin: Origin,
) -> Result<u32, Drop> {
    let src = sixin4::tunnel(src_tunnel)?.pop_v6;
    icmp6::build_error(pkt, kind, &src)?;
    send_back(pkt, origin)
}

/// Sends a packet the PoP made (an error or a reply) to where the packet it
/// answers came from: into that tunnel, or through the FIB.
#[inline(always)]
fn send_back(pkt: Packet, origin: Origin) -> Result<u32, Drop> {
    let len = pkt.len() - ETH_LEN;
    if origin.is_tunnel() {
        let info = sixin4::tunnel(origin.0)?;
        let hop = match fib::lookup_v4(pkt, &info, len as u16) {
            Ok(hop) => hop,
            Err(action) => return Ok(action),
        };
        sixin4::encap(pkt, &info, icmp6::HOP_LIMIT, 0, len)?;
        stats::tunnel_tx(origin.0, len);
        stats::event(Event::Encap);
        return fib::send(pkt, &hop, ETHERTYPE_IPV4);
    }
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    match fib::lookup_v6(pkt, ip6) {
        Ok(hop) => fib::send(pkt, &hop, ETHERTYPE_IPV6),
        Err(action) => Ok(action),
    }
}
