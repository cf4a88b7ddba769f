//! The tunnel kinds: the one place that maps a tunnel's `kind` to the code
//! that encapsulates for it. The router calls `deliver`; a new kind adds
//! its module and one arm here (kinds whose encap is a program of its own
//! jump to `JUMP_ENCAP_BASE + kind` instead), and the router stays as it is.
//!
//! Kinds that learn their endpoint (AYIYA, heartbeat) send with the
//! protocol their user last spoke (`Endpoint::via`), as sixxsd does: a
//! heartbeat user is reached by 6in4 at the address its beats came from,
//! an AYIYA user by AYIYA. Such a tunnel whose user has not been seen for
//! the liveness time (`RuntimeConfig::liveness_s`) is DOWN: the router answers for it (`is_down`).

use tunnel_common::{
    jump::{JUMP_AYIYA_ENCAP, JUMP_LOCAL_AYIYA_ENCAP},
    stats::Drop,
    tunnel::{
        learns_endpoint, Endpoint, TunnelInfo, ENDPOINT_V4, ENDPOINT_VIA_HEARTBEAT,
        TUNNEL_KIND_6IN4,
    },
};

use aya_ebpf::bindings::TC_ACT_SHOT;

use crate::{
    jump,
    packet::{Packet, Tc},
    sixin4, stats,
    tunnel::{endpoint, Origin},
};

/// Whether the tunnel cannot be reached now: it learns its endpoint and
/// its user has not been seen for the liveness time (or ever).
#[inline(always)]
pub fn is_down(id: u32, info: &TunnelInfo) -> bool {
    learns_endpoint(info.kind) && endpoint(id).is_none()
}

/// How a learned endpoint is reached.
enum Via {
    /// 6in4 to the learned address: the tunnel's entry with the learned
    /// outer pair in place of the configured one.
    Sixin4(TunnelInfo),
    /// The AYIYA encap program (it reads the endpoint itself).
    Ayiya,
}

#[inline(always)]
fn via(id: u32, info: &TunnelInfo) -> Result<Via, Drop> {
    let ep = endpoint(id).ok_or(Drop::TunnelDown)?;
    if ep.via != ENDPOINT_VIA_HEARTBEAT {
        return Ok(Via::Ayiya);
    }
    if ep.family != ENDPOINT_V4 {
        // Beats are IPv4 only (proto 41 over IPv4): a slot the daemon
        // never writes.
        return Err(Drop::TunnelDown);
    }
    Ok(Via::Sixin4(learned(info, &ep)))
}

#[inline(always)]
fn learned(info: &TunnelInfo, ep: &Endpoint) -> TunnelInfo {
    let mut t = *info;
    t.local_v4 = [ep.local[12], ep.local[13], ep.local[14], ep.local[15]];
    t.remote_v4 = [ep.remote[12], ep.remote[13], ep.remote[14], ep.remote[15]];
    t
}

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
        kind if learns_endpoint(kind) => match via(id, info)? {
            Via::Sixin4(t) => sixin4::deliver(pkt, id, &t, hop_limit, tclass, len),
            Via::Ayiya => Ok(jump::to_encap(
                pkt,
                JUMP_AYIYA_ENCAP,
                id,
                origin,
                hop_limit,
                tclass,
                len,
            )),
        },
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
        kind if learns_endpoint(kind) => match via(id, info) {
            Ok(Via::Sixin4(t)) => sixin4::deliver_local(pkt, id, &t, hop_limit, tclass, len, wire),
            Ok(Via::Ayiya) => Err(jump::to_encap_local(
                pkt,
                JUMP_LOCAL_AYIYA_ENCAP,
                id,
                tclass,
                len,
            )),
            // The kernel routed it to this tunnel and has no other way:
            // the tunnel's loss, as the encap programs count theirs.
            Err(reason) => {
                stats::tunnel_drop(id, reason);
                Ok(TC_ACT_SHOT as u32)
            }
        },
        _ => Err(Drop::UnknownKind),
    }
}
