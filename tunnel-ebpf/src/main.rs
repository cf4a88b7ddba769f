//! The PoP's kernel programs: `tunnel_xdp` on the uplinks, `tunnel_tc` on
//! the egress of the tunnel device. Entry points are thin: each packet path lives
//! in the module of its protocol (`sixin4`, `ndp`), forwarding in `route`/`fib`,
//! ICMPv6 errors in `icmp6`; all raw packet access is in `packet`.
//! On the host (clippy, `cargo build --workspace`) this is an empty binary.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(target_arch = "bpf")]
mod fib;
#[cfg(target_arch = "bpf")]
mod icmp6;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod ndp;
#[cfg(target_arch = "bpf")]
mod packet;
#[cfg(target_arch = "bpf")]
mod route;
#[cfg(target_arch = "bpf")]
mod sixin4;
#[cfg(target_arch = "bpf")]
mod stats;
#[cfg(target_arch = "bpf")]
mod testbed;

#[cfg(target_arch = "bpf")]
mod entry {
    use aya_ebpf::{
        bindings::{xdp_action, TC_ACT_SHOT},
        macros::{classifier, xdp},
        programs::{TcContext, XdpContext},
    };
    use network_types::eth::EthHdr;
    use tunnel_common::stats::Drop;

    use crate::{
        ndp,
        packet::{Packet, Tc, ETHERTYPE_IPV4, ETHERTYPE_IPV6},
        route, sixin4, stats,
    };

    /// The uplink program: 6in4 decap, encap toward tunnels, forwarding.
    /// Errors are named, counted drops, never XDP_ABORTED.
    #[xdp]
    pub fn tunnel_xdp(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        match dispatch(pkt) {
            Ok(action) => action,
            Err(reason) => {
                stats::drop(reason);
                xdp_action::XDP_DROP
            }
        }
    }

    /// The NDP proxy, entered from `tunnel_xdp` by a tail call (JUMPS).
    #[xdp]
    pub fn ndp_proxy(ctx: XdpContext) -> u32 {
        match ndp::answer(Packet::new(&ctx)) {
            Ok(action) => action,
            Err(reason) => {
                stats::drop(reason);
                xdp_action::XDP_DROP
            }
        }
    }

    #[inline(always)]
    fn dispatch(pkt: Packet) -> Result<u32, Drop> {
        let eth: EthHdr = match pkt.read(0) {
            Ok(eth) => eth,
            // Not even an Ethernet header: not ours to judge.
            Err(_) => return Ok(xdp_action::XDP_PASS),
        };
        match eth.ether_type {
            ETHERTYPE_IPV4 => route::finish(pkt, sixin4::from_uplink_v4(pkt)?),
            ETHERTYPE_IPV6 => {
                if ndp::is_solicitation(pkt) {
                    ndp::hand_over(pkt);
                    // No proxy program loaded: the kernel answers, if at all.
                    return Ok(stats::pass_not_ours());
                }
                route::finish(pkt, route::from_uplink_v6(pkt)?)
            }
            _ => Ok(stats::pass_not_ours()),
        }
    }

    /// Egress of the tunnel device: what the PoP's own kernel sends toward
    /// tunnel prefixes (its pings, a routing daemon, forwarded traffic) is
    /// encapsulated with the uplink program's code and redirected to the
    /// uplink. Errors are named, counted drops.
    #[classifier]
    pub fn tunnel_tc(ctx: TcContext) -> i32 {
        let pkt = Packet::tc(&ctx);
        match dispatch_tc(pkt) {
            Ok(action) => action as i32,
            Err(reason) => {
                stats::drop(reason);
                TC_ACT_SHOT as i32
            }
        }
    }

    #[inline(always)]
    fn dispatch_tc(pkt: Packet<Tc>) -> Result<u32, Drop> {
        match pkt.read::<EthHdr>(0) {
            Ok(eth) if eth.ether_type == ETHERTYPE_IPV6 => route::from_local_v6(pkt),
            _ => Ok(stats::pass_not_ours_tc()),
        }
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }

    #[unsafe(link_section = "license")]
    #[unsafe(no_mangle)]
    static LICENSE: [u8; 4] = *b"GPL\0";
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
