//! ICMPv6 errors the PoP originates as a router (RFC 4443): time exceeded
//! when the hop limit runs out, packet too big above a tunnel's MTU. Built in
//! place: the invoking packet is cut to fit the IPv6 minimum MTU and new
//! IPv6 + ICMPv6 headers are pushed in front of it.

use network_types::{eth::EthHdr, ip::Ipv6Hdr};
use tunnel_common::{
    addr,
    config::rate_limit_take,
    csum,
    stats::{Drop, Event},
};

use crate::{
    maps::{CONFIG, ICMP_RATE},
    packet::{ktime_ns, with_slot, Packet, ETH_LEN, IPV6_LEN},
    stats,
};

pub const NEXT_HEADER_ICMPV6: u8 = 58;
const ICMP_HDR_LEN: usize = 8;
/// Bytes of the invoking packet quoted: the error must fit in 1280 bytes.
const QUOTE_MAX: usize = 1280 - IPV6_LEN - ICMP_HDR_LEN;
pub const HOP_LIMIT: u8 = 64;

pub const TYPE_PACKET_TOO_BIG: u8 = 2;
pub const TYPE_TIME_EXCEEDED: u8 = 3;

/// The errors the PoP sends, packed in one word so it passes in a register
/// to non-inlined functions: 0 is time exceeded, anything else is packet
/// too big with that MTU.
#[derive(Clone, Copy)]
pub struct IcmpError(u32);

impl IcmpError {
    pub const TIME_EXCEEDED: IcmpError = IcmpError(0);

    #[inline(always)]
    pub fn packet_too_big(mtu: u16) -> Self {
        // Tunnel MTUs are at least 1280, never 0.
        IcmpError(mtu as u32)
    }
    #[inline(always)]
    fn is_too_big(self) -> bool {
        self.0 != 0
    }
    /// (type, code, parameter) on the wire.
    #[inline(always)]
    fn wire(self) -> (u8, u8, u32) {
        if self.is_too_big() {
            (TYPE_PACKET_TOO_BIG, 0, self.0)
        } else {
            (TYPE_TIME_EXCEEDED, 0, 0)
        }
    }
    /// What is counted when the error may not be sent.
    #[inline(always)]
    fn suppressed(self) -> Drop {
        if self.is_too_big() { Drop::TooBig } else { Drop::HopLimit }
    }
    #[inline(always)]
    fn sent(self) -> Event {
        if self.is_too_big() { Event::IcmpPacketTooBig } else { Event::IcmpTimeExceeded }
    }
}

/// Whether RFC 4443 §2.4 allows an error about this packet at all: not about
/// an ICMPv6 error, not to a multicast/unspecified/invalid source.
#[inline(always)]
fn may_answer(pkt: Packet, inv: &Ipv6Hdr) -> bool {
    if addr::is_invalid_tunnel_source(&inv.src_addr) {
        return false;
    }
    if inv.next_hdr == NEXT_HEADER_ICMPV6 {
        // Types below 128 are errors.
        match pkt.read::<u8>(ETH_LEN + IPV6_LEN) {
            Ok(t) if t >= 128 => {}
            _ => return false,
        }
    }
    true
}

/// Per-CPU token bucket (`CONFIG` rate and burst).
#[inline(always)]
fn rate_allows() -> bool {
    let Some(cfg) = CONFIG.get(0) else { return false };
    let mut ok = false;
    with_slot(ICMP_RATE.get_ptr_mut(0), |s| ok = rate_limit_take(s, ktime_ns(), cfg));
    ok
}

/// Replaces the packet (Ethernet + invoking IPv6 packet) by an ICMPv6 error
/// from `src` to the invoking packet's source. On `Err`, the packet is to be
/// dropped (the reason says why). Not inlined: it is the largest code block.
#[inline(never)]
pub fn build_error(pkt: Packet, kind: IcmpError, src: &[u8; 16]) -> Result<(), Drop> {
    let eth: EthHdr = pkt.read(0)?;
    let inv = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    if !may_answer(pkt, inv) || !rate_allows() {
        return Err(kind.suppressed());
    }
    let dst = inv.src_addr;
    pkt.truncate(ETH_LEN + QUOTE_MAX)?;
    let quote_len = pkt.len() - ETH_LEN;
    pkt.adjust_head(-((IPV6_LEN + ICMP_HDR_LEN) as i32))?;

    pkt.write(0, &eth)?;
    let plen = (ICMP_HDR_LEN + quote_len) as u16;
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    ip6.vcf = [0x60, 0, 0, 0];
    ip6.payload_len = plen.to_be_bytes();
    ip6.next_hdr = NEXT_HEADER_ICMPV6;
    ip6.hop_limit = HOP_LIMIT;
    ip6.src_addr = *src;
    ip6.dst_addr = dst;
    let (icmp_type, code, param) = kind.wire();
    let icmp = pkt.view::<[u8; ICMP_HDR_LEN]>(ETH_LEN + IPV6_LEN)?;
    icmp[0] = icmp_type;
    icmp[1] = code;
    icmp[2] = 0;
    icmp[3] = 0;
    icmp[4..8].copy_from_slice(&param.to_be_bytes());

    let sum = csum::pseudo_v6(src, &dst, plen as u32, NEXT_HEADER_ICMPV6);
    let sum = pkt.sum_tail::<{ ICMP_HDR_LEN + QUOTE_MAX }>(ETH_LEN + IPV6_LEN, sum);
    pkt.write(ETH_LEN + IPV6_LEN + 2, &(!csum::fold(sum)).to_be_bytes())?;
    stats::event(kind.sent());
    Ok(())
}
