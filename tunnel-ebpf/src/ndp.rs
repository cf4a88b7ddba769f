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
    maps::{PROXIES, SCRATCH, UPLINKS},
    packet::{hash_get, scratch, Packet, ETHERTYPE_IPV6, ETH_LEN, IPV6_LEN},
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

/// The proxy program's body: an NS for a proxied target is answered, a
/// malformed one for a proxied target is dropped (counted), anything else
/// goes to the kernel untouched. Checking and answering are separate,
/// non-inlined functions so that their locals do not share one stack frame.
#[inline(always)]
pub fn answer(pkt: Packet) -> Result<u32, Drop> {
    let target = match pkt.read_addr(ETH_LEN + IPV6_LEN + 8) {
        Ok(t) => t,
        Err(_) => return Ok(stats::pass_not_ours()),
    };
    let key = ProxyKey {
        ifindex: pkt.ingress_ifindex(),
        _pad: 0,
        target,
    };
    let (Some(flags), Some(uplink)) = (
        hash_get(&PROXIES, &key),
        hash_get(&UPLINKS, &pkt.ingress_ifindex()),
    ) else {
        return Ok(stats::pass_not_ours());
    };
    match check(pkt) {
        Verdict::VALID => advertise(pkt, flags, false, uplink.mac)?,
        Verdict::VALID_DAD => advertise(pkt, flags, true, uplink.mac)?,
        Verdict::TOO_LONG => return Ok(stats::pass_not_ours()),
        Verdict::MALFORMED => return Err(Drop::Malformed),
        _ => return Err(Drop::NdpInvalid),
    }
    stats::event(Event::NdpAdvertised);
    Ok(xdp_action::XDP_TX)
}

/// What `check` found, as a plain word (it crosses a function boundary).
struct Verdict;
impl Verdict {
    const VALID: u32 = 0;
    const VALID_DAD: u32 = 1;
    const TOO_LONG: u32 = 2;
    const MALFORMED: u32 = 3;
    const INVALID: u32 = 4;
}

/// RFC 4861 §7.1.1 on the NS in the packet (see `ndp::check_solicitation`).
#[inline(never)]
fn check(pkt: Packet) -> u32 {
    let Ok(ip6) = pkt.read::<Ipv6Hdr>(ETH_LEN) else {
        return Verdict::MALFORMED;
    };
    let payload_len = u16::from_be_bytes(ip6.payload_len) as usize;
    if ETH_LEN + IPV6_LEN + payload_len > pkt.len() {
        return Verdict::MALFORMED;
    }
    // The kernel's, untouched: decided before the cut below.
    if payload_len > NS_MAX {
        return Verdict::TOO_LONG;
    }
    // Cut Ethernet padding first: the copy takes whole words up to the
    // packet's end, and bytes past the payload must not enter the checksum.
    if pkt.truncate(ETH_LEN + IPV6_LEN + payload_len).is_err() {
        return Verdict::MALFORMED;
    }
    let Some(body) = scratch(SCRATCH.get_ptr_mut(0)) else {
        return Verdict::TOO_LONG;
    };
    body.fill(0);
    pkt.copy_out(ETH_LEN + IPV6_LEN, body);
    let ip = NsIp {
        src: &ip6.src_addr,
        dst: &ip6.dst_addr,
        hop_limit: ip6.hop_limit,
        payload_len,
    };
    match ndp::check_solicitation(ip, body) {
        Ok(ns) if ns.dad => Verdict::VALID_DAD,
        Ok(_) => Verdict::VALID,
        Err(NsError::TooLong) => Verdict::TOO_LONG,
        Err(NsError::Invalid) => Verdict::INVALID,
    }
}

/// Rewrites the (checked) NS into the NA, in place.
#[inline(never)]
fn advertise(pkt: Packet, flags: u32, dad: bool, mac: [u8; 6]) -> Result<(), Drop> {
    let src: [u8; 16] = pkt.read(ETH_LEN + 8)?;
    let target = pkt.read_addr(ETH_LEN + IPV6_LEN + 8)?;
    let ns = ndp::Solicitation { target, dad };
    let adv = ndp::advert_for(&ns, &src, flags);
    let eth_dst = if dad {
        ndp::multicast_mac(&adv.dst)
    } else {
        // The solicitor's MAC: the frame came from it.
        pkt.read::<[u8; 6]>(6)?
    };
    let want = ETH_LEN + IPV6_LEN + NA_LEN;
    pkt.adjust_tail(want as i32 - pkt.len() as i32)?;
    let mut eth = [0u8; ETH_LEN];
    eth[0..6].copy_from_slice(&eth_dst);
    eth[6..12].copy_from_slice(&mac);
    eth[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_ne_bytes());
    pkt.write(0, &eth)?;
    let out = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    out.vcf = [0x60, 0, 0, 0];
    out.payload_len = (NA_LEN as u16).to_be_bytes();
    out.next_hdr = NEXT_HEADER_ICMPV6;
    out.hop_limit = ndp::ND_HOP_LIMIT;
    out.src_addr = target;
    out.dst_addr = adv.dst;
    pkt.write(ETH_LEN + IPV6_LEN, &ndp::advertisement(&target, &adv, &mac))?;
    Ok(())
}
