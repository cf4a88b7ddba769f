//! The tunnel kinds: the one place that maps a tunnel's `kind` to the code
//! that encapsulates for it. The router calls `deliver`; a new kind adds
//! its module and one arm here (kinds whose encap is a program of its own
//! jump to `JUMP_ENCAP_BASE + kind` instead), and the router stays as it is.

use tunnel_common::{
    jump::{JUMP_AYIYA_ENCAP, JUMP_LOCAL_AYIYA_ENCAP},
    stats::Drop,
    tunnel::{TunnelInfo, TUNNEL_KIND_6IN4, TUNNEL_KIND_AYIYA},
};

use crate::{
    jump,
    packet::{Packet, Tc},
    sixin4,
    tunnel::Origin,
};

/// Sends the IPv6 packet (Ethernet + `len` bytes of IPv6) from `origin`
/// into tunnel `id` with the inner hop limit `hop_limit` and traffic class
/// `tclass`. Returns the XDP action (a kind with a program of its own
/// returns only when the jump failed).
#[inline(always)]
pub fn deliver(
    pkt: Packet,
    id: u32,
    info: &TunnelInfo,
    origin: Origin,
    hop_limit: u8,
    tclass: u8,
    len: usize,
) -> Result<u32, Drop> {
    match info.kind {
        TUNNEL_KIND_6IN4 => sixin4::deliver(pkt, id, info, hop_limit, tclass, len),
        TUNNEL_KIND_AYIYA => Ok(jump::to_encap(
            pkt,
            JUMP_AYIYA_ENCAP,
            id,
            origin,
            hop_limit,
            tclass,
            len,
        )),
        _ => Err(Drop::UnknownKind),
    }
}

/// The TC program's `deliver`: `len` bytes from the IPv6 header on, at most
/// `wire` per segment once the packet is cut (GSO). Returns the TC verdict
/// (a kind with a program of its own returns only when the jump failed).
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
        TUNNEL_KIND_AYIYA => Err(jump::to_encap_local(
            pkt,
            JUMP_LOCAL_AYIYA_ENCAP,
            id,
            tclass,
            len,
        )),
        _ => Err(Drop::UnknownKind),
    }
}
