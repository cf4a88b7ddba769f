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

pub const TYPE_DEST_UNREACHABLE: u8 = 1;
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
pub const TYPE_TIME_EXCEEDED: u8 = 3;
pub const TYPE_PARAMETER_PROBLEM: u8 = 4;
pub const TYPE_ECHO_REQUEST: u8 = 128;
pub const TYPE_ECHO_REPLY: u8 = 129;

/// The errors the PoP sends, packed in one word (type << 24 | code << 16 |
/// MTU) so it passes in a register to non-inlined functions.
#[derive(Clone, Copy)]
pub struct IcmpError(u32);

impl IcmpError {
    pub const TIME_EXCEEDED: IcmpError = IcmpError((TYPE_TIME_EXCEEDED as u32) << 24);
    /// Destination unreachable, port unreachable (RFC 4443 3.1 code 4).
    pub const PORT_UNREACHABLE: IcmpError =
        IcmpError((TYPE_DEST_UNREACHABLE as u32) << 24 | 4 << 16);
    /// Destination unreachable, administratively prohibited (code 1): the
    /// tunnel toward the destination is disabled.
    pub const ADMIN_PROHIBITED: IcmpError =
        IcmpError((TYPE_DEST_UNREACHABLE as u32) << 24 | 1 << 16);
    /// Destination unreachable, no route (code 0): the tunnel toward the
    /// destination is DOWN (its user has not been seen; spec §4.2).
    pub const NO_ROUTE: IcmpError = IcmpError((TYPE_DEST_UNREACHABLE as u32) << 24);

    /// As it crosses a jump (`JumpArgs::icmp`); never `ICMP_REPLY` (0),
    /// since every error's type is non-zero.
    #[inline(always)]
    pub fn raw(self) -> u32 {
        self.0
    }
    #[inline(always)]
    pub fn from_raw(raw: u32) -> Option<Self> {
        (raw != tunnel_common::jump::ICMP_REPLY).then_some(Self(raw))
    }
    #[inline(always)]
    pub fn packet_too_big(mtu: u16) -> Self {
        IcmpError((TYPE_PACKET_TOO_BIG as u32) << 24 | mtu as u32)
    }
    /// Parameter problem, erroneous header field (code 0), at byte
    /// `pointer` of the invoking packet (below 64 KiB: the parameter
    /// shares the word with type and code).
    #[inline(always)]
    pub fn parameter_problem(pointer: u32) -> Self {
        IcmpError((TYPE_PARAMETER_PROBLEM as u32) << 24 | pointer & 0xffff)
    }
    #[inline(always)]
    fn icmp_type(self) -> u8 {
        (self.0 >> 24) as u8
    }
    /// (type, code, parameter) on the wire.
    #[inline(always)]
    fn wire(self) -> (u8, u8, u32) {
        (self.icmp_type(), (self.0 >> 16) as u8, self.0 & 0xffff)
    }
    /// What is counted when the error may not be sent.
    #[inline(always)]
    fn suppressed(self) -> Drop {
        match self.icmp_type() {
            TYPE_PACKET_TOO_BIG => Drop::TooBig,
            TYPE_TIME_EXCEEDED => Drop::HopLimit,
            TYPE_PARAMETER_PROBLEM => Drop::Nat64SourceRoute,
            _ if self.0 == Self::ADMIN_PROHIBITED.0 => Drop::TunnelDisabled,
            _ if self.0 == Self::NO_ROUTE.0 => Drop::TunnelDown,
            _ => Drop::PopAddress,
        }
    }
    #[inline(always)]
    fn sent(self) -> Event {
        match self.icmp_type() {
            TYPE_PACKET_TOO_BIG => Event::IcmpPacketTooBig,
            TYPE_TIME_EXCEEDED => Event::IcmpTimeExceeded,
            TYPE_PARAMETER_PROBLEM => Event::IcmpParameterProblem,
            _ => Event::IcmpUnreachable,
        }
    }
}

/// Whether the packet (Ethernet + IPv6) is an ICMPv6 echo request.
#[inline(always)]
pub fn is_echo_request(pkt: Packet) -> bool {
    matches!(
        pkt.read::<[u8; 2]>(ETH_LEN + IPV6_LEN),
        Ok([TYPE_ECHO_REQUEST, 0])
    ) && matches!(pkt.view::<Ipv6Hdr>(ETH_LEN), Ok(h) if h.next_hdr == NEXT_HEADER_ICMPV6)
}

/// Turns an echo request to the PoP into its reply, in place: addresses
/// swapped, type 129, hop limit 64, checksum updated (RFC 1624).
#[inline(always)]
pub fn build_echo_reply(pkt: Packet) -> Result<(), Drop> {
    let ip6 = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    let src = ip6.src_addr;
    ip6.src_addr = ip6.dst_addr;
    ip6.dst_addr = src;
    ip6.hop_limit = HOP_LIMIT;
    let icmp = pkt.view::<[u8; 4]>(ETH_LEN + IPV6_LEN)?;
    icmp[0] = TYPE_ECHO_REPLY;
    let check = u16::from_be_bytes([icmp[2], icmp[3]]);
    let check = csum::update16(
        check,
        (TYPE_ECHO_REQUEST as u16) << 8,
        (TYPE_ECHO_REPLY as u16) << 8,
    );
    icmp[2..4].copy_from_slice(&check.to_be_bytes());
    stats::event(Event::EchoReply);
    Ok(())
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

/// Per-CPU token bucket (`CONFIG` rate and burst), shared by every error
/// the PoP originates (ICMPv6 here, the translator's ICMPv4).
#[inline(always)]
pub fn rate_allows() -> bool {
    let Some(cfg) = CONFIG.get(0) else {
        return false;
    };
    let mut ok = false;
    with_slot(ICMP_RATE.get_ptr_mut(0), |s| {
        ok = rate_limit_take(s, ktime_ns(), cfg)
    });
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
