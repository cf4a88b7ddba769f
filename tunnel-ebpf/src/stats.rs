//! Counter updates. The global counters are per-CPU slots, so plain adds;
//! a tunnel's counters are one slot shared by the CPUs (see
//! `TunnelCounters`), so atomic adds.

use aya_ebpf::bindings::{xdp_action, TC_ACT_OK};
use core::mem::offset_of;

use tunnel_common::stats::{Drop, Event, TunnelCounters};

use crate::{
    maps::{DROPS, EVENTS, TUN_STATS},
    packet::{atomic_add, boot_ns, with_slot},
};

#[inline(always)]
pub fn drop(reason: Drop) {
    with_slot(DROPS.get_ptr_mut(reason as u32), |c| *c += 1);
}

#[inline(always)]
pub fn event(e: Event) {
    with_slot(EVENTS.get_ptr_mut(e as u32), |c| *c += 1);
}

/// Adds `n` to event `e` (byte counts).
#[inline(always)]
pub fn event_add(e: Event, n: usize) {
    with_slot(EVENTS.get_ptr_mut(e as u32), |c| *c += n as u64);
}

#[inline(always)]
pub fn pass_not_ours() -> u32 {
    event(Event::NotOurs);
    xdp_action::XDP_PASS
}

/// The TC program's "not ours": the packet leaves the tunnel device as the
/// kernel sent it (neighbour discovery, MLD, anything not for a tunnel).
#[inline(always)]
pub fn pass_not_ours_tc() -> u32 {
    event(Event::NotOurs);
    TC_ACT_OK as u32
}

/// A packet of or toward tunnel `id` dropped for `reason`: counted by
/// reason and on the tunnel (its error count, the last one and when).
#[inline(always)]
pub fn tunnel_drop(id: u32, reason: Drop) {
    drop(reason);
    let slot = TUN_STATS.get_ptr_mut(id);
    atomic_add(slot, offset_of!(TunnelCounters, errors), 1);
    // The last reason and its time: plain stores, the last writer wins.
    with_slot(slot, |c| {
        c.last_error_ns = boot_ns();
        c.last_error = reason as u32;
    });
}

/// A packet of `bytes` inner bytes received from the user of tunnel `id`.
#[inline(always)]
pub fn tunnel_rx(id: u32, bytes: usize) {
    let slot = TUN_STATS.get_ptr_mut(id);
    atomic_add(slot, offset_of!(TunnelCounters, rx_packets), 1);
    atomic_add(slot, offset_of!(TunnelCounters, rx_bytes), bytes as u64);
}

/// A packet of `bytes` inner bytes sent to the user of tunnel `id`.
#[inline(always)]
pub fn tunnel_tx(id: u32, bytes: usize) {
    let slot = TUN_STATS.get_ptr_mut(id);
    atomic_add(slot, offset_of!(TunnelCounters, tx_packets), 1);
    atomic_add(slot, offset_of!(TunnelCounters, tx_bytes), bytes as u64);
}
