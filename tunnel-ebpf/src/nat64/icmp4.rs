//! ICMPv4 errors the translator sends to IPv4 senders (RFC 792, RFC 1812
//! §4.3.2): built in place on the invoking IPv4 packet, which is cut to
//! keep the error within 576 bytes, and sent back the way it came (MAC
//! addresses swapped, XDP_TX): its sender is behind the neighbour that
//! handed it over.
//!
//! Three errors: Fragmentation Needed (type 3 code 4) when a translated
//! packet with DF would not fit the tunnel it is for, with the tunnel's
//! MTU less the 20 bytes translation adds (RFC 7915 §4; the case of
//! Jool's issue #442), from the tunnel's local address; Time Exceeded
//! when the TTL runs out in the translator, and Source Route Failed (type
//! 3 code 5) for a source route not used up (RFC 7915 §4.1), both from
//! its RFC 6791 source.

use aya_ebpf::bindings::xdp_action;
use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use tunnel_common::{
    csum,
    stats::{Drop, Event},
};

use super::{V4Header, PROTO_ICMP};
use crate::{
    icmp6::rate_allows,
    packet::{Packet, ETH_LEN, IPV4_LEN},
    stats,
};

const ICMP_HDR_LEN: usize = 8;
/// Bytes of the invoking packet quoted: the error is at most 576 bytes
/// (RFC 1812 §4.3.2.3).
const QUOTE_MAX: usize = 576 - IPV4_LEN - ICMP_HDR_LEN;
const TTL: u8 = 64;
const IPV4_DF: u8 = 0x40;

pub const TYPE_DEST_UNREACHABLE: u8 = 3;
pub const CODE_FRAG_NEEDED: u8 = 4;
pub const CODE_SOURCE_ROUTE_FAILED: u8 = 5;
pub const TYPE_TIME_EXCEEDED: u8 = 11;

/// The error, packed as `icmp6::IcmpError` is (type << 24 | code << 16 |
/// parameter) so it crosses a jump in one word.
#[derive(Clone, Copy)]
pub struct Icmp4Error(u32);

impl Icmp4Error {
    /// Fragmentation needed and DF set, next-hop MTU `mtu` (RFC 1191).
    #[inline(always)]
    pub fn frag_needed(mtu: u16) -> Self {
        Self((TYPE_DEST_UNREACHABLE as u32) << 24 | (CODE_FRAG_NEEDED as u32) << 16 | mtu as u32)
    }
    /// Time exceeded in transit (TTL 0).
    pub const TIME_EXCEEDED: Icmp4Error = Icmp4Error((TYPE_TIME_EXCEEDED as u32) << 24);
    /// Source route failed: a source route not used up, which the
    /// translator does not follow (RFC 7915 §4.1).
    pub const SOURCE_ROUTE_FAILED: Icmp4Error =
        Icmp4Error((TYPE_DEST_UNREACHABLE as u32) << 24 | (CODE_SOURCE_ROUTE_FAILED as u32) << 16);

    #[inline(always)]
    pub fn raw(self) -> u32 {
        self.0
    }
    #[inline(always)]
    pub fn from_raw(raw: u32) -> Self {
        Self(raw)
    }
    /// What is counted when the error may not be sent.
    #[inline(always)]
    pub fn suppressed(self) -> Drop {
        if self.0 >> 24 == TYPE_TIME_EXCEEDED as u32 {
            Drop::Nat64TtlExpired
        } else if self.0 == Self::SOURCE_ROUTE_FAILED.0 {
            Drop::Nat64SourceRoute
        } else {
            Drop::Nat64TooBig
        }
    }
}

/// RFC 1812 §4.3.2.7: no error about an ICMP error, a later fragment, or
/// a packet from an address that is not one host's.
#[inline(always)]
fn may_answer(pkt: Packet, h: &Ipv4Hdr, hl: usize) -> bool {
    let src = h.src_addr;
    if matches!(src, [0, ..] | [127, ..] | [224..=255, ..]) {
        return false;
    }
    if h.frags[0] & 0x1f != 0 || h.frags[1] != 0 {
        return false;
    }
    if h.proto == PROTO_ICMP {
        // Echo (0, 8) and the other queries may be answered; errors not.
        match pkt.read::<u8>(ETH_LEN + hl) {
            Ok(0 | 8 | 13 | 14 | 15 | 16 | 17 | 18) => {}
            _ => return false,
        }
    }
    true
}

/// Turns the packet (Ethernet + invoking IPv4 packet with a 20-byte
/// header) into error `kind` from `src`, and returns the action that sends
/// it back. On `Err` the packet is dropped, the reason counted.
#[inline(never)]
pub fn send(pkt: Packet, kind: Icmp4Error, src: [u8; 4]) -> Result<u32, Drop> {
    let eth: EthHdr = pkt.read(0)?;
    let inv = pkt.view::<Ipv4Hdr>(ETH_LEN)?;
    // Options are quoted as they came (source route failed answers a
    // packet that has some).
    let hl = (inv.vihl & 0xf) as usize * 4;
    if inv.vihl >> 4 != 4 || hl < IPV4_LEN || !may_answer(pkt, inv, hl) || !rate_allows() {
        return Err(kind.suppressed());
    }
    let dst = inv.src_addr;
    let tot_len = u16::from_be_bytes(inv.tot_len) as usize;
    pkt.truncate(ETH_LEN + tot_len.min(QUOTE_MAX))?;
    let quote = pkt.len() - ETH_LEN;
    pkt.adjust_head(-((IPV4_LEN + ICMP_HDR_LEN) as i32))?;
    pkt.write(
        0,
        &EthHdr {
            dst_addr: eth.src_addr,
            src_addr: eth.dst_addr,
            ether_type: eth.ether_type,
        },
    )?;

    // Atomic (RFC 6864): DF, id 0. The error is far below any MTU.
    V4Header {
        tos: 0,
        tot_len: (IPV4_LEN + ICMP_HDR_LEN + quote) as u16,
        id: 0,
        frags: (IPV4_DF as u16) << 8,
        ttl: TTL,
        proto: PROTO_ICMP,
        src,
        dst,
    }
    .write(pkt, ETH_LEN)?;

    let (ty, code, param) = ((kind.0 >> 24) as u8, (kind.0 >> 16) as u8, kind.0 as u16);
    let icmp = ETH_LEN + IPV4_LEN;
    pkt.write(icmp, &[ty, code, 0, 0, 0, 0])?;
    pkt.write(icmp + 6, &param.to_be_bytes())?;
    let sum = pkt.sum_tail::<{ ICMP_HDR_LEN + QUOTE_MAX }>(icmp, 0);
    pkt.write(icmp + 2, &(!csum::fold(sum)).to_be_bytes())?;
    stats::event(Event::Nat64IcmpSent);
    Ok(xdp_action::XDP_TX)
}
