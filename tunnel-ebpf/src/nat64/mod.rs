//! Stateless NAT64 (SIIT, RFC 7915, addresses per RFC 6052 and RFC 7757):
//! `to4` translates IPv6 toward pool6 (from the uplink, or out of a tunnel
//! in the same pass), `to6` translates IPv4 toward an EAM's IPv4 side and
//! hands the IPv6 packet to the router, which may put it into a tunnel.
//!
//! The fast path translates TCP, UDP, ICMP echo (and errors, options,
//! extension headers in their programs); DCCP and UDP-Lite get their
//! pseudo-header checksum fixed, every other transport crosses as it is
//! (RFC 7915 §4.5, §5.5). What it does not translate is a counted drop
//! (`nat64_unsupported`), never a silent loss.

pub mod err_to4;
pub mod err_to6;
pub mod ext6;
pub mod icmp4;
pub mod options;
pub mod slow;
pub mod to4;
pub mod to6;

use aya_ebpf::maps::lpm_trie::Key;
use network_types::ip::Ipv4Hdr;
use tunnel_common::{
    csum,
    nat64::{config::Nat64Config, eam::Eam},
    stats::Drop,
};

use crate::{
    maps::{EAM4, EAM6, NAT64},
    packet::{Key6, Packet},
};

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_DCCP: u8 = 33;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_UDPLITE: u8 = 136;

/// Offsets of the checksum field in each transport header.
const TCP_CHECK: usize = 16;
const UDP_CHECK: usize = 6;
const DCCP_CHECK: usize = 6;
pub const ICMP_CHECK: usize = 2;
/// The part of each transport header the translator touches.
const TCP_MIN: usize = 20;
const UDP_MIN: usize = 8;
/// DCCP's generic header without extended sequence numbers (RFC 4340 §5.1).
const DCCP_MIN: usize = 12;
pub const ICMP_MIN: usize = 8;

/// ICMP echo types (RFC 792) and their ICMPv6 twins (RFC 4443).
pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
pub const ICMPV6_ECHO_REPLY: u8 = 129;

/// The translator's settings.
#[inline(always)]
pub fn config() -> Option<&'static Nat64Config> {
    NAT64.get(0)
}

/// The translator's own IPv4 source (RFC 6791), if the operator set one.
#[inline(always)]
pub fn icmp_source_v4() -> Option<[u8; 4]> {
    config().map(|c| c.icmp_src4).filter(|a| *a != [0; 4])
}

/// The same seen from IPv6: that address under pool6, as if an IPv4
/// router had sent the error and the translator had translated it; as
/// big-endian halves (`packet::addr_from_halves`).
#[inline(always)]
pub fn icmp_source_v6() -> Option<(u64, u64)> {
    let c = config()?;
    if c.icmp_src4 == [0; 4] || c.pool6_len == 0 {
        return None;
    }
    Some(tunnel_common::nat64::rfc6052::embed_halves(
        &c.pool6,
        c.pool6_len,
        c.icmp_src4,
    ))
}

/// Whether the root program should hand this IPv6 destination to `to4`.
#[inline(always)]
pub fn is_translated_v6(dst: &[u8; 16]) -> bool {
    matches!(config(), Some(c) if c.in_pool6(dst))
}

/// Whether the root program should hand this IPv4 packet to `to6`: its
/// destination is the IPv4 side of an explicit address mapping.
#[inline(always)]
pub fn is_ours_v4(h: &Ipv4Hdr) -> bool {
    match config() {
        Some(c) if c.has_eams() => eam_v4(h.dst_addr).is_some(),
        _ => false,
    }
}

/// The mapping whose IPv6 side holds `addr`.
#[inline(always)]
pub fn eam_v6(addr: &[u8; 16]) -> Option<Eam> {
    EAM6.get(Key6::new(128, addr).key()).copied()
}

/// The mapping whose IPv4 side holds `addr`.
#[inline(always)]
pub fn eam_v4(addr: [u8; 4]) -> Option<Eam> {
    EAM4.get(Key::new(32, addr)).copied()
}

/// Two IPv4 addresses in one word, and back: how non-inlined functions
/// return them (a returned pair of byte arrays sits unaligned on the
/// caller's stack, which the verifier refuses).
#[inline(always)]
pub fn pair(a: [u8; 4], b: [u8; 4]) -> u64 {
    (u32::from_ne_bytes(a) as u64) << 32 | u32::from_ne_bytes(b) as u64
}

#[inline(always)]
pub fn unpair(w: u64) -> ([u8; 4], [u8; 4]) {
    (((w >> 32) as u32).to_ne_bytes(), (w as u32).to_ne_bytes())
}

/// An IPv4 header without options, written with its checksum computed
/// from the values (not read back from packet memory): every IPv4 header
/// the translator makes.
pub struct V4Header {
    pub tos: u8,
    pub tot_len: u16,
    pub id: u16,
    /// Flags and fragment offset, host order.
    pub frags: u16,
    pub ttl: u8,
    pub proto: u8,
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

impl V4Header {
    #[inline(always)]
    pub fn write(&self, pkt: Packet, at: usize) -> Result<(), Drop> {
        let sum = (0x4500 | self.tos as u64)
            + self.tot_len as u64
            + self.id as u64
            + self.frags as u64
            + ((self.ttl as u64) << 8 | self.proto as u64)
            + csum::addrs_v4(self.src, self.dst);
        let c = (!csum::fold(sum)).to_be_bytes();
        let t = self.tot_len.to_be_bytes();
        let i = self.id.to_be_bytes();
        let f = self.frags.to_be_bytes();
        pkt.write(at, &[0x45, self.tos, t[0], t[1], i[0], i[1], f[0], f[1]])?;
        pkt.write(at + 8, &[self.ttl, self.proto, c[0], c[1]])?;
        pkt.write(at + 12, &self.src)?;
        pkt.write(at + 16, &self.dst)
    }
}

/// An IPv6 address pair as big-endian halves (written straight into the
/// packet: no 16-byte arrays on the stack).
pub struct Addrs6 {
    pub src: (u64, u64),
    pub dst: (u64, u64),
}

impl Addrs6 {
    /// The pseudo-header's address sum.
    #[inline(always)]
    pub fn sum(&self) -> u64 {
        let s = csum::add_u64(csum::add_u64(0, self.src.0), self.src.1);
        csum::add_u64(csum::add_u64(s, self.dst.0), self.dst.1)
    }
}

/// An IPv6 header at `at` (flow label 0): every IPv6 header the
/// translator makes.
#[inline(always)]
pub fn write_v6(
    pkt: Packet,
    at: usize,
    tclass: u8,
    payload: usize,
    next_header: u8,
    hop_limit: u8,
    a: &Addrs6,
) -> Result<(), Drop> {
    let first: [u8; 8] = [
        0x60 | tclass >> 4,
        tclass << 4,
        0,
        0,
        (payload >> 8) as u8,
        payload as u8,
        next_header,
        hop_limit,
    ];
    pkt.write(at, &u64::from_ne_bytes(first))?;
    pkt.write_addr_halves(at + 8, a.src)?;
    pkt.write_addr_halves(at + 24, a.dst)
}

/// The transport checksum after the swap of one pseudo-header's address
/// sum (`old`) for another's (`new`); UDP's 0 means "no checksum", so a
/// computed 0 goes out as 0xffff (RFC 768).
#[inline(always)]
pub fn swapped(check: u16, old: u64, new: u64, udp: bool) -> u16 {
    let c = csum::replace(check, old, new);
    if udp && c == 0 {
        0xffff
    } else {
        c
    }
}

/// The transports whose checksum covers a pseudo-header of the IP
/// addresses (RFC 7915 §4.5, §5.5): where the checksum field is, how long
/// the header must be to hold it, and whether a computed 0 goes out as
/// 0xffff (0 meaning "no checksum" for UDP; UDP-Lite never sends one,
/// RFC 3828 §3.1). Every other transport crosses untouched.
#[inline(always)]
pub fn pseudo_checksum(proto: u8) -> Option<(usize, usize, bool)> {
    match proto {
        PROTO_TCP => Some((TCP_CHECK, TCP_MIN, false)),
        PROTO_UDP => Some((UDP_CHECK, UDP_MIN, true)),
        PROTO_DCCP => Some((DCCP_CHECK, DCCP_MIN, false)),
        PROTO_UDPLITE => Some((UDP_CHECK, UDP_MIN, true)),
        _ => None,
    }
}

/// IPv6 extension header numbers (RFC 8200 §4, IANA's list) other than
/// the ones that are transports in IPv4 as well (AH, ESP).
#[inline(always)]
fn is_extension_header(n: u8) -> bool {
    matches!(n, 0 | 43 | 44 | 60 | 135 | 139 | 140 | 253 | 254)
}

/// Whether an IPv4 packet of protocol `proto` crosses into IPv6 (RFC 7915
/// §4.5: translators MUST forward every transport). Not the numbers an
/// IPv6 host would take for an extension header (an IPv4 sender would
/// forge, say, a Fragment header), nor ICMPv6, whose pseudo-header an
/// IPv4 sender could fill in to forge errors or neighbour discovery.
#[inline(always)]
pub fn crosses_to6(proto: u8) -> bool {
    !is_extension_header(proto) && proto != PROTO_ICMPV6
}

/// Whether an IPv6 packet whose transport is `next` (behind any Fragment
/// header) crosses into IPv4 (RFC 7915 §5.5). Not an extension header
/// behind a Fragment header (stripping it would shift the offsets of the
/// later fragments), nor ICMPv4, which an IPv6 sender would forge.
#[inline(always)]
pub fn crosses_to4(next: u8) -> bool {
    !is_extension_header(next) && next != PROTO_ICMP
}
