//! Small programs for test beds and benchmarks, shipped in the same object
//! so tests and the bench need nothing else: veth peers need an XDP program
//! for redirected frames to be delivered (xdp-tutorial#167), sinks count and
//! drop, and the XDP_TX baseline swaps MACs.

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use network_types::eth::EthHdr;

use crate::packet::Packet;

#[xdp]
pub fn testbed_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[xdp]
pub fn testbed_drop(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_DROP
}

/// Baseline for TX paths: swap the Ethernet addresses and send back.
#[xdp]
pub fn testbed_tx(ctx: XdpContext) -> u32 {
    let pkt = Packet::new(&ctx);
    let Ok(eth) = pkt.read::<EthHdr>(0) else {
        return xdp_action::XDP_DROP;
    };
    let swapped = EthHdr {
        dst_addr: eth.src_addr,
        src_addr: eth.dst_addr,
        ether_type: eth.ether_type,
    };
    match pkt.write(0, &swapped) {
        Ok(()) => xdp_action::XDP_TX,
        Err(_) => xdp_action::XDP_DROP,
    }
}
