//! The hand-over to the daemon's slow path (`tunnel_common::slowpath`):
//! a translated packet that XDP cannot send as one frame goes, whole, into
//! this CPU's ring of `SLOWPATH`, and the frame is dropped here. The ring's
//! size bounds what is handed over; what does not fit (or finds no
//! reader) is the counted drop `nat64_slow_path_lost`.

use aya_ebpf::bindings::xdp_action;
use tunnel_common::{
    slowpath::SlowMeta,
    stats::{Drop, Event},
};

use crate::{
    maps::SLOWPATH,
    packet::{Packet, ETH_LEN},
    stats,
    step::Step,
};

/// Hands the IP packet behind the Ethernet header to the daemon, for
/// tunnel `tunnel` of MTU `mtu`, with `reason` (`slowpath::REASON_*`) and
/// `addr_sum` (`SlowMeta::addr_sum`).
#[inline(always)]
pub fn punt(pkt: Packet, reason: u32, tunnel: u32, mtu: u16, addr_sum: u64) -> Result<Step, Drop> {
    // The daemon sends from the IP header on: the Ethernet header is no
    // part of the sample.
    pkt.adjust_head(ETH_LEN as i32)?;
    let len = pkt.len() as u32;
    let meta = SlowMeta {
        reason,
        tunnel,
        mtu: mtu as u32,
        len,
        addr_sum,
    };
    pkt.perf_output(&SLOWPATH, &meta, len)
        .map_err(|()| Drop::Nat64SlowPathLost)?;
    stats::event(Event::Nat64SlowPath);
    Ok(Step::Done(xdp_action::XDP_DROP))
}
