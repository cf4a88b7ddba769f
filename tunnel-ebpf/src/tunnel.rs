//! The kind-neutral core: a tunnel by id, the owner of an IPv6 address,
//! where a packet came from. Imports no protocol module.

use aya_ebpf::maps::lpm_trie::Key;
use network_types::ip::Ipv6Hdr;
use tunnel_common::{
    addr,
    jump::ORIGIN_UPLINK,
    nets::{net_key, FAST_LENGTHS, POOLS_F_TRIE},
    stats::Drop,
    tunnel::{DecapRef, Endpoint, TunnelInfo},
};

use crate::{
    maps::{CONFIG, ENDPOINTS, NETS, POOLS, PREFIXES, TUNNELS},
    packet::{boot_ns, hash_get},
};

/// Where the packet being handled came from: a tunnel id, or the uplink.
#[derive(Clone, Copy)]
pub struct Origin(u32);

impl Origin {
    #[inline(always)]
    pub fn tunnel(id: u32) -> Self {
        Self(id)
    }
    #[inline(always)]
    pub fn uplink() -> Self {
        Self(ORIGIN_UPLINK)
    }
    /// As it crosses a jump (`JumpArgs::origin`).
    #[inline(always)]
    pub fn from_raw(raw: u32) -> Self {
        Self(raw)
    }
    #[inline(always)]
    pub fn raw(self) -> u32 {
        self.0
    }
    /// The tunnel it came out of, if any.
    #[inline(always)]
    pub fn tunnel_id(self) -> Option<u32> {
        (self.0 != ORIGIN_UPLINK).then_some(self.0)
    }
}

/// The tunnel's entry, copied out of `TUNNELS`.
#[inline(always)]
pub fn tunnel(id: u32) -> Result<TunnelInfo, Drop> {
    TUNNELS.get(id).copied().ok_or(Drop::UnknownTunnel)
}

/// Where tunnel `id`'s user is, when it was seen within the liveness time
/// (`RuntimeConfig::liveness_s`); `None`: the tunnel is DOWN (a kind that
/// learns its endpoint; see `tunnel_common::tunnel::learns_endpoint`).
#[inline(always)]
pub fn endpoint(id: u32) -> Option<Endpoint> {
    let ep = *ENDPOINTS.get(id)?;
    let liveness = CONFIG.get(0)?.liveness_ns();
    ep.is_fresh(boot_ns(), liveness).then_some(ep)
}

/// The tunnel whose prefix (its /64 or a routed one) holds `addr`. Cheap
/// for addresses outside every tunnel pool: one pass over a few aggregates
/// in an array slot, no hash or trie access (see `tunnel_common::nets`).
#[inline(always)]
pub fn owner(addr: &[u8; 16]) -> Option<u32> {
    let pools = POOLS.get(0)?;
    if !pools.covers(addr) {
        return None;
    }
    let mut i = 0;
    while i < FAST_LENGTHS {
        if i as u32 >= pools.n_lengths {
            break;
        }
        let key = net_key(addr, pools.lengths[i] as u32);
        if let Some(id) = hash_get(&NETS, &key) {
            return Some(id);
        }
        i += 1;
    }
    if pools.flags & POOLS_F_TRIE == 0 {
        return None;
    }
    PREFIXES.get(Key::new(128, addr::words32(addr))).copied()
}

/// RFC 4213 §3.6 plus the broker's rule, for every kind: the inner source
/// must belong to the tunnel it came from.
#[inline(always)]
pub fn check_inner_source(inner: &Ipv6Hdr, tun: &DecapRef) -> Result<(), Drop> {
    if addr::is_invalid_tunnel_source(&inner.src_addr) {
        return Err(Drop::InvalidSource);
    }
    if addr::is_link_local(&inner.src_addr)
        || addr::is_link_local(&inner.dst_addr)
        || addr::is_multicast(&inner.dst_addr)
    {
        return Err(Drop::LinkScope);
    }
    // Fast path: the tunnel's own /64 (where ::2 lives) is the tunnel's by
    // construction (prefixes never overlap across tunnels), so no trie walk.
    if addr::in_net64(&inner.src_addr, &tun.net64) {
        return Ok(());
    }
    match owner(&inner.src_addr) {
        Some(owner) if owner == tun.id => Ok(()),
        _ => Err(Drop::SpoofedSource),
    }
}

/// What a protocol's decapsulation hands back to its program's entry.
pub enum Decap {
    /// Done with the packet: the action to return (not ours, to the kernel).
    Action(u32),
    /// Decapsulated from tunnel N: the inner IPv6 packet now follows the
    /// Ethernet header, for the router.
    From(u32),
}

/// A drop and the tunnel it concerns, when the path knew it by then: the
/// entry counts it by reason and on that tunnel (`stats::tunnel_drop`).
/// Paths return it where a tunnel becomes known halfway (decapsulation);
/// `?` on a plain `Drop` gives one with no tunnel.
pub struct Fault {
    pub reason: Drop,
    pub tunnel: Option<u32>,
}

impl Fault {
    #[inline(always)]
    pub fn on(id: u32, reason: Drop) -> Self {
        Self {
            reason,
            tunnel: Some(id),
        }
    }
}

impl From<Drop> for Fault {
    #[inline(always)]
    fn from(reason: Drop) -> Self {
        Self {
            reason,
            tunnel: None,
        }
    }
}
