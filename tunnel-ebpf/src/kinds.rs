//! The tunnel kinds: the one place that maps a tunnel's `kind` to the code
//! that encapsulates for it. The router calls `deliver`; a new kind adds
//! its module and one arm here (kinds whose encap is a program of its own
//! jump to `JUMP_ENCAP_BASE + kind` instead), and the router stays as it is.

use tunnel_common::{
    stats::Drop,
    tunnel::{TunnelInfo, TUNNEL_KIND_6IN4},
};

use crate::{
    packet::{Packet, Tc},
    sixin4,
};

/// Sends the IPv6 packet (Ethernet + `len` bytes of IPv6) into tunnel `id`
/// with the inner hop limit `hop_limit` and traffic class `tclass`.
/// Returns the XDP action.
#[inline(always)]
pub fn deliver(
    pkt: Packet,
    id: u32,
    info: &TunnelInfo,
    hop_limit: u8,
    tclass: u8,
    len: usize,
) -> Result<u32, Drop> {
    match info.kind {
        TUNNEL_KIND_6IN4 => sixin4::deliver(pkt, id, info, hop_limit, tclass, len),
        _ => Err(Drop::UnknownKind),
    }
}

/// The TC program's `deliver`: `len` bytes from the IPv6 header on, at most
/// `wire` per segment once the packet is cut (GSO). Returns the TC verdict.
#[inline(always)]
pub fn deliver_local(
    pkt: Packet<Tc>,
    id: u32,
    info: &TunnelInfo,
    hop_limit: u8,
    tclass: u8,
    len: usize,
    wire: usize,
) -> Result<u32, Drop> {
    match info.kind {
        TUNNEL_KIND_6IN4 => sixin4::deliver_local(pkt, id, info, hop_limit, tclass, len, wire),
        _ => Err(Drop::UnknownKind),
    }
}
