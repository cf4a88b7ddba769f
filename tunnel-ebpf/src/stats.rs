//! Counter updates. Per-CPU slots, so plain adds; the per-tunnel error
//! count, shared by the CPUs, is the one atomic add.

use aya_ebpf::bindings::{xdp_action, TC_ACT_OK};
use tunnel_common::stats::{Drop, Event};

use crate::{
    maps::{DROPS, EVENTS, TUN_ERRORS, TUN_STATS},
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
    let slot = TUN_ERRORS.get_ptr_mut(id);
    atomic_add(slot.map(|e| e as *mut u64), 1);
    // The last reason and its time: plain stores, the last writer wins.
    with_slot(slot, |e| {
        e.last_ns = boot_ns();
        e.last = reason as u32;
    });
}

/// A packet of `bytes` inner bytes received from the user of tunnel `id`.
#[inline(always)]
pub fn tunnel_rx(id: u32, bytes: usize) {
    with_slot(TUN_STATS.get_ptr_mut(id), |c| {
        c.rx_packets += 1;
        c.rx_bytes += bytes as u64;
    });
}

/// A packet of `bytes` inner bytes sent to the user of tunnel `id`.
#[inline(always)]
pub fn tunnel_tx(id: u32, bytes: usize) {
    with_slot(TUN_STATS.get_ptr_mut(id), |c| {
        c.tx_packets += 1;
        c.tx_bytes += bytes as u64;
    });
}
