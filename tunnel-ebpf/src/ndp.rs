//! NDP proxy: Neighbor Solicitations on an uplink for a target in
//! `PROXIES` are answered in place with a Neighbor Advertisement (XDP_TX),
//! as `ip -6 neigh add proxy` makes the kernel do. The uplink program hands
//! NS packets here with a tail call, so this program is verified on its own.
//! The wire rules are in `tunnel_common::ndp` (tested on the host).

use aya_ebpf::bindings::xdp_action;
use network_types::ip::Ipv6Hdr;
use tunnel_common::{
    ndp::{self, NsError, NsIp, ProxyKey, NA_LEN, NS_MAX},
    stats::{Drop, Event},
};

use crate::{
    icmp6::NEXT_HEADER_ICMPV6,
    maps::{JUMPS, PROXIES, UPLINKS},
    packet::{hash_get, Packet, ETHERTYPE_IPV6, ETH_LEN, IPV6_LEN},
    stats,
};

/// Whether the uplink program should hand this IPv6 packet to the proxy:
/// ICMPv6 type 135 directly after the IPv6 header.
#[inline(always)]
pub fn is_solicitation(pkt: Packet) -> bool {
    matches!(pkt.read::<Ipv6Hdr>(ETH_LEN), Ok(h) if h.next_hdr == NEXT_HEADER_ICMPV6)
        && matches!(
            pkt.read::<u8>(ETH_LEN + IPV6_LEN),
            Ok(ndp::TYPE_NEIGHBOR_SOLICITATION)
        )
}

/// Tail-calls the proxy program; returns if it is not loaded.
#[inline(always)]
pub fn hand_over(pkt: Packet) {
    pkt.tail_call(&JUMPS, tunnel_common::maps::JUMP_NDP);
}

/// The proxy program's body: an NS for a proxied target is answered, a
/// malformed one for a proxied target is dropped (counted), anything else
/// goes to the kernel untouched.
#[inline(always)]
pub fn answer(pkt: Packet) -> Result<u32, Drop> {
    let ip6 = match pkt.read::<Ipv6Hdr>(ETH_LEN) {
        Ok(h) if h.next_hdr == NEXT_HEADER_ICMPV6 => h,
        _ => return Ok(stats::pass_not_ours()),
    };
    let target: [u8; 16] = match pkt.read(ETH_LEN + IPV6_LEN + 8) {
        Ok(t) => t,
        Err(_) => return Ok(stats::pass_not_ours()),
    };
    let key = ProxyKey {
        ifindex: pkt.ingress_ifindex(),
        target,
    };
    let (Some(flags), Some(uplink)) = (
        hash_get(&PROXIES, &key),
        hash_get(&UPLINKS, &pkt.ingress_ifindex()),
    ) else {
        return Ok(stats::pass_not_ours());
    };
    let payload_len = u16::from_be_bytes(ip6.payload_len) as usize;
    if ETH_LEN + IPV6_LEN + payload_len > pkt.len() {
        return Err(Drop::Malformed);
    }
    let mut body = [0u8; NS_MAX];
    pkt.copy_out(ETH_LEN + IPV6_LEN, &mut body);
    // The copy reads whole words: bytes past the payload (Ethernet padding)
    // must not enter the checksum.
    body.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = if i < payload_len { *b } else { 0 });
    let ip = NsIp {
        src: &ip6.src_addr,
        dst: &ip6.dst_addr,
        hop_limit: ip6.hop_limit,
        payload_len,
    };
    let ns = match ndp::check_solicitation(ip, &body) {
        Ok(ns) => ns,
        Err(NsError::TooLong) => return Ok(stats::pass_not_ours()),
        Err(NsError::Invalid) => return Err(Drop::NdpInvalid),
    };
    let adv = ndp::advert_for(&ns, &ip6.src_addr, flags);
    let eth_dst = if ns.dad {
        ndp::multicast_mac(&adv.dst)
    } else {
        // The solicitor's MAC: the frame came from it.
        pkt.read::<[u8; 6]>(6)?
    };
    let na = ndp::advertisement(&ns.target, &adv, &uplink.mac);

    let want = ETH_LEN + IPV6_LEN + NA_LEN;
    pkt.adjust_tail(want as i32 - pkt.len() as i32)?;
    let mut eth = [0u8; ETH_LEN];
    eth[0..6].copy_from_slice(&eth_dst);
    eth[6..12].copy_from_slice(&uplink.mac);
    eth[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_ne_bytes());
    pkt.write(0, &eth)?;
    let out = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    out.vcf = [0x60, 0, 0, 0];
    out.payload_len = (NA_LEN as u16).to_be_bytes();
    out.next_hdr = NEXT_HEADER_ICMPV6;
    out.hop_limit = ndp::ND_HOP_LIMIT;
    out.src_addr = ns.target;
    out.dst_addr = adv.dst;
    pkt.write(ETH_LEN + IPV6_LEN, &na)?;
    stats::event(Event::NdpAdvertised);
    Ok(xdp_action::XDP_TX)
}
