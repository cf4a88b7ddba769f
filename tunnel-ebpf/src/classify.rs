//! The root program's work: parse Ethernet and the network header once,
//! decide the packet's path, and name the program that takes it. Cheap by
//! design: what is not ours leaves after a few loads and one pool test.

use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use tunnel_common::jump::{JUMP_AYIYA_DECAP, JUMP_NAT64_4TO6, JUMP_NDP, JUMP_SIXIN4_DECAP};

use crate::{
    ayiya, nat64, ndp,
    packet::{Packet, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_LEN},
    route, sixin4, stats,
    step::Step,
    tunnel::Origin,
};

/// Where the root sends a packet.
pub enum Path {
    /// A program that re-parses what it needs (no arguments).
    Jump(u32),
    /// A step of the router (into a tunnel, or done).
    Route(Step),
}

#[inline(always)]
pub fn uplink(pkt: Packet) -> Path {
    let eth: EthHdr = match pkt.read(0) {
        Ok(eth) => eth,
        // Not even an Ethernet header: not ours to judge.
        Err(_) => return Path::Route(Step::Done(stats::pass_not_ours())),
    };
    match eth.ether_type {
        ETHERTYPE_IPV4 => match pkt.view::<Ipv4Hdr>(ETH_LEN) {
            Ok(h) if sixin4::is_ours(h) => Path::Jump(JUMP_SIXIN4_DECAP),
            Ok(h) if ayiya::is_ours_v4(pkt, h) => Path::Jump(JUMP_AYIYA_DECAP),
            Ok(h) if nat64::is_ours_v4(h) => Path::Jump(JUMP_NAT64_4TO6),
            // Other protocols, and IPv4 too short to tell, are the kernel's.
            _ => Path::Route(Step::Done(stats::pass_not_ours())),
        },
        // A version other than 6 is no IPv6 packet: the kernel drops it.
        ETHERTYPE_IPV6 if !is_ipv6(pkt) => Path::Route(Step::Done(stats::pass_not_ours())),
        ETHERTYPE_IPV6 if ndp::is_solicitation(pkt) => Path::Jump(JUMP_NDP),
        ETHERTYPE_IPV6 => match route::tunnel_of_uplink_v6(pkt) {
            Some(step) => Path::Route(step),
            // Not for a tunnel: AYIYA over IPv6 to the PoP, or the kernel's.
            None if ayiya::is_ours_v6(pkt) => Path::Jump(JUMP_AYIYA_DECAP),
            None if is_nat64_v6(pkt) => Path::Route(Step::Translate {
                origin: Origin::uplink(),
            }),
            None => Path::Route(Step::Done(stats::pass_not_ours())),
        },
        _ => Path::Route(Step::Done(stats::pass_not_ours())),
    }
}

/// Whether the network header says version 6 (RFC 8200 §3).
#[inline(always)]
fn is_ipv6(pkt: Packet) -> bool {
    matches!(pkt.read::<u8>(ETH_LEN), Ok(b) if b >> 4 == 6)
}

/// Whether the IPv6 destination is under pool6 (the translator's).
#[inline(always)]
fn is_nat64_v6(pkt: Packet) -> bool {
    matches!(pkt.read_addr(ETH_LEN + 24), Ok(dst) if nat64::is_translated_v6(&dst))
}
