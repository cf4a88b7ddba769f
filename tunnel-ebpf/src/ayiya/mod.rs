//! AYIYA (IPv6 in UDP 5072, SixXS; ../shared/docs/ayiya-spec.md): what
//! users send is authenticated and decapsulated (`decap`), what goes to
//! them is signed and encapsulated (`encap`); both hash whole datagrams
//! out of the packet (`hash`).

pub mod decap;
pub mod encap;
mod hash;

use network_types::{
    ip::{Ipv4Hdr, Ipv6Hdr},
    udp::UdpHdr,
};
use tunnel_common::{ayiya::PORT, stats::Drop};

use crate::{
    maps::CLOCK,
    packet::{boot_ns, Packet, ETH_LEN, IPV4_LEN, IPV6_LEN},
};

const PROTO_UDP: u8 = 17;
const UDP_LEN: usize = 8;
/// The largest datagram hashed: a 1500-byte outer IPv4 packet's UDP payload.
const MAX_DATAGRAM: usize = 1500 - IPV4_LEN - UDP_LEN;
/// Offsets of the AYIYA header behind each outer family.
const OFF_V4: usize = ETH_LEN + IPV4_LEN + UDP_LEN;
const OFF_V6: usize = ETH_LEN + IPV6_LEN + UDP_LEN;

/// Whether the root program should hand this IPv4 packet to `decap`: UDP
/// to port 5072, a 20-byte header, not a fragment (the kernel reassembles
/// those and has no AYIYA socket: they go there, counted).
#[inline(always)]
pub fn is_ours_v4(pkt: Packet, outer: &Ipv4Hdr) -> bool {
    outer.proto == PROTO_UDP
        && outer.vihl == 0x45
        && matches!(pkt.view::<UdpHdr>(ETH_LEN + IPV4_LEN), Ok(u) if u.dst == PORT.to_be_bytes())
}

/// The same for IPv6 (no extension headers: AYIYA senders use none).
#[inline(always)]
pub fn is_ours_v6(pkt: Packet) -> bool {
    matches!(pkt.view::<Ipv6Hdr>(ETH_LEN), Ok(h) if h.next_hdr == PROTO_UDP)
        && matches!(pkt.view::<UdpHdr>(ETH_LEN + IPV6_LEN), Ok(u) if u.dst == PORT.to_be_bytes())
}

/// The time of day in Unix seconds, from the boot clock and the daemon's
/// offset (`CLOCK`): the epoch AYIYA checks and signs. Until the daemon
/// has set the offset there is no time, and no datagram is valid.
#[inline(always)]
fn unix_now() -> Result<u32, Drop> {
    let offset = CLOCK.get(0).copied().unwrap_or(0);
    if offset == 0 {
        return Err(Drop::AyiyaClockOff);
    }
    Ok(((boot_ns() + offset) / 1_000_000_000) as u32)
}
