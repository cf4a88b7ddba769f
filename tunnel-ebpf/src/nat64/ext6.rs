//! IPv6 extension headers before translation (RFC 7915 §5.1): a Hop-by-Hop
//! Options header, Destination Options headers and a Routing header whose
//! Segments Left is 0 "MUST be ignored", with the length and protocol
//! adjusted to skip them. Ignoring them is stripping them: the IPv6 header
//! moves up over them, its payload length and next header fixed, and the
//! packet goes back to `nat64_6to4`, whose fast path then sees the
//! transport (or a Fragment header) right behind the IPv6 header. The
//! transport checksum needs no change: its pseudo-header counts the
//! upper-layer length, not the extension headers.
//!
//! A Routing header with segments left is a source route not used up: the
//! packet is not translated and its sender gets ICMPv6 Parameter Problem,
//! erroneous header field, pointing at Segments Left (§5.1), from where
//! the translator's Time Exceeded comes from (`to4::error_source`).
//!
//! Only the headers in front of a Fragment header are stripped: those
//! behind it are in the fragmentable part, present in the first fragment
//! only, and stripping them would shift every later fragment's offset.
//! Those stay a counted `nat64_unsupported`.

use network_types::{eth::EthHdr, ip::Ipv6Hdr};
use tunnel_common::{
    jump::JUMP_NAT64_6TO4,
    stats::{Drop, Event},
};

use crate::{
    icmp6::IcmpError,
    packet::{Packet, ETH_LEN, IPV6_LEN},
    stats,
    step::Step,
    tunnel::Origin,
};

pub const NEXT_HEADER_HOP_BY_HOP: u8 = 0;
pub const NEXT_HEADER_ROUTING: u8 = 43;
pub const NEXT_HEADER_DEST_OPTIONS: u8 = 60;
/// Headers walked at most: Hop-by-Hop, Destination Options, Routing,
/// and one more Destination Options (RFC 8200 §4.1's order before the
/// Fragment header has three; one spare for senders that repeat one).
const HEADERS_MAX: usize = 4;
/// Bytes of extension headers stripped at most. Real ones are 8 (a router
/// alert) to a few hundred (a segment list); more is a counted drop.
const BYTES_MAX: usize = 512;

/// Whether next header `nh` is one this program strips.
#[inline(always)]
pub fn is_skipped(nh: u8) -> bool {
    matches!(
        nh,
        NEXT_HEADER_HOP_BY_HOP | NEXT_HEADER_ROUTING | NEXT_HEADER_DEST_OPTIONS
    )
}

/// Strips the extension headers and hands the packet back to the
/// translator; a live Routing header gets its Parameter Problem.
#[inline(always)]
pub fn strip(pkt: Packet, origin: Origin) -> Result<Step, Drop> {
    let h = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    let (first_word, payload, hop_limit) = (
        pkt.read::<[u8; 4]>(ETH_LEN)?,
        u16::from_be_bytes(h.payload_len) as usize,
        h.hop_limit,
    );
    let mut next = h.next_hdr;
    if ETH_LEN + IPV6_LEN + payload > pkt.len() {
        return Err(Drop::Malformed);
    }
    let mut skipped = 0usize;
    for i in 0..HEADERS_MAX {
        if !is_skipped(next) {
            break;
        }
        if next == NEXT_HEADER_HOP_BY_HOP && i != 0 {
            // Only right after the IPv6 header (RFC 8200 §4.3).
            return Err(Drop::Malformed);
        }
        // Next header, length in 8-byte units after the first 8, and for
        // a Routing header its type and Segments Left.
        let e: [u8; 4] = pkt.read(ETH_LEN + IPV6_LEN + (skipped & (2 * BYTES_MAX - 1)))?;
        if next == NEXT_HEADER_ROUTING && e[3] != 0 {
            let pointer = (IPV6_LEN + skipped + 3) as u32;
            let src_tunnel = super::to4::error_source(origin).ok_or(Drop::Nat64SourceRoute)?;
            return Ok(Step::Icmp {
                kind: IcmpError::parameter_problem(pointer),
                src_tunnel,
                origin,
            });
        }
        next = e[0];
        skipped += (e[1] as usize + 1) * 8;
        if skipped > payload {
            return Err(Drop::Malformed);
        }
        if skipped > BYTES_MAX {
            return Err(Drop::Nat64Unsupported);
        }
    }
    if is_skipped(next) {
        return Err(Drop::Nat64Unsupported);
    }
    // The addresses in four words, read before the header moves.
    let addrs: [u64; 4] = [
        pkt.read(ETH_LEN + 8)?,
        pkt.read(ETH_LEN + 16)?,
        pkt.read(ETH_LEN + 24)?,
        pkt.read(ETH_LEN + 32)?,
    ];
    let eth: EthHdr = pkt.read(0)?;
    // The head moves past the extension headers: the transport stays
    // where it is, and the Ethernet and IPv6 headers are written anew in
    // front of it, at constant offsets.
    pkt.adjust_head(skipped as i32)?;
    pkt.write(0, &eth)?;
    let len = ((payload - skipped) as u16).to_be_bytes();
    let word = [
        first_word[0],
        first_word[1],
        first_word[2],
        first_word[3],
        len[0],
        len[1],
        next,
        hop_limit,
    ];
    pkt.write(ETH_LEN, &u64::from_ne_bytes(word))?;
    for (i, w) in addrs.iter().enumerate() {
        pkt.write(ETH_LEN + 8 + i * 8, w)?;
    }
    stats::event(Event::Nat64ExtStripped);
    Ok(Step::Hand(JUMP_NAT64_6TO4))
}
