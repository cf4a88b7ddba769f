//! IPv4 options before translation (RFC 7915 §4.1): "they MUST be
//! ignored and the packet translated normally", except an unexpired
//! source route: not translated, answered with ICMPv4 source route
//! failed. Ignoring them is stripping them: the
//! 20-byte header moves up over the options, with its length, total
//! length and checksum fixed, and the packet goes back to `nat64_4to6`,
//! whose fast path then sees a plain header.

use network_types::{eth::EthHdr, ip::Ipv4Hdr};
use tunnel_common::{
    csum,
    jump::{JUMP_NAT64_4TO6, SOURCE_NAT64},
    stats::{Drop, Event},
};

use super::{icmp4::Icmp4Error, V4Header};
use crate::{
    packet::{Packet, BLOCK, ETH_LEN, IPV4_LEN},
    stats,
    step::Step,
};

/// Loose and strict source and record route (RFC 791).
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_LSRR: u8 = 131;
const OPT_SSRR: u8 = 137;
/// At most 40 bytes of options.
const OPTIONS_MAX: usize = 40;

/// The header, options included, copied out (the packet helper takes a
/// variable length; reading options in place at variable offsets loses
/// the verifier's bounds). 8-aligned: the copy writes whole words.
#[repr(C, align(8))]
struct Header([u8; BLOCK]);

impl Header {
    /// The one's-complement sum of its `hl` bytes (checksum field
    /// included: a valid header sums to 0xffff).
    #[inline(always)]
    fn sum(&self, hl: usize) -> u64 {
        let mut sum = 0u64;
        for i in 0..(IPV4_LEN + OPTIONS_MAX) / 2 {
            if i * 2 >= hl {
                break;
            }
            sum += u16::from_be_bytes([self.0[i * 2], self.0[i * 2 + 1]]) as u64;
        }
        sum
    }

    /// Whether the options hold a source route not yet used up (its
    /// pointer within the option). The walk visits every byte position
    /// in turn, written out position by position (`walk!`): indices stay
    /// constants, which the verifier checks once each, where a loop would
    /// index the stack with a variable it cannot bound.
    // The last position's `next` is never read: the walk ends there.
    #[allow(unused_assignments)]
    #[inline(always)]
    fn unexpired_source_route(&self, hl: usize) -> Result<bool, Drop> {
        let mut next = IPV4_LEN;
        macro_rules! walk {
            ($($i:literal)*) => {$(
                if $i < hl && next == $i {
                    match self.0[$i] {
                        OPT_EOL => return Ok(false),
                        OPT_NOP => next = $i + 1,
                        kind => {
                            let len = self.0[($i + 1) & (BLOCK - 1)] as usize;
                            let pointer = self.0[($i + 2) & (BLOCK - 1)] as usize;
                            if len < 2 || $i + len > hl {
                                return Err(Drop::Malformed);
                            }
                            if (kind == OPT_LSRR || kind == OPT_SSRR) && pointer <= len {
                                return Ok(true);
                            }
                            next = $i + len;
                        }
                    }
                }
            )*};
        }
        walk!(20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39
              40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59);
        Ok(false)
    }
}

/// Strips the options and hands the packet back to the translator.
#[inline(always)]
pub fn strip(pkt: Packet) -> Result<Step, Drop> {
    let h = pkt.view::<Ipv4Hdr>(ETH_LEN)?;
    let ihl = (h.vihl & 0xf) as usize;
    if h.vihl >> 4 != 4 || ihl <= 5 {
        return Err(Drop::Malformed);
    }
    let hl = ihl * 4;
    let tot_len = u16::from_be_bytes(h.tot_len) as usize;
    let (tos, id, frags, ttl, proto, src, dst) =
        (h.tos, h.id, h.frags, h.ttl, h.proto, h.src_addr, h.dst_addr);
    if tot_len < hl || ETH_LEN + tot_len > pkt.len() {
        return Err(Drop::Malformed);
    }
    let mut hdr = Header([0; BLOCK]);
    pkt.load_tail(ETH_LEN as u32, &mut hdr.0, hl as u32)?;
    if csum::fold(hdr.sum(hl)) != 0xffff {
        return Err(Drop::BadChecksum);
    }
    if hdr.unexpired_source_route(hl)? {
        // Not translated; its sender learns why, from the translator's
        // own source if the operator set one.
        if super::icmp_source_v4().is_none() {
            return Err(Drop::Nat64SourceRoute);
        }
        return Ok(Step::Icmp4 {
            kind: Icmp4Error::SOURCE_ROUTE_FAILED,
            tunnel: SOURCE_NAT64,
        });
    }
    let extra = hl - IPV4_LEN;
    let new_len = (tot_len - extra) as u16;
    let eth: EthHdr = pkt.read(0)?;
    // The head moves past the options first, so that every write below
    // is at a constant offset: the payload stays where it is, and the
    // Ethernet and IPv4 headers are written anew in front of it.
    pkt.adjust_head(extra as i32)?;
    pkt.write(0, &eth)?;
    V4Header {
        tos,
        tot_len: new_len,
        id: u16::from_be_bytes(id),
        frags: u16::from_be_bytes(frags),
        ttl,
        proto,
        src,
        dst,
    }
    .write(pkt, ETH_LEN)?;
    stats::event(Event::Nat64OptionsStripped);
    Ok(Step::Hand(JUMP_NAT64_4TO6))
}
