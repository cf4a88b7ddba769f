//! The PoP's kernel programs. On the uplinks, a root program that only
//! classifies and jumps (`tunnel_xdp`), and one program per packet path
//! behind the `JUMPS` program array, each verified on its own:
//!
//! ```text
//! tunnel_xdp ─┬─ proto 41 ────────────▶ sixin4_decap ─┬─▶ next hop (FIB)
//!             ├─ UDP 5072 ──▶ ayiya_decap ▶ ayiya_auth ┤
//!             ├─ IPv6 to a tunnel ──┐                  │
//!             │                     └──▶ tunnel_route ◀┘ (into a tunnel: encap by kind,
//!             │                              └──▶ ayiya_encap   AYIYA in its own program)
//!             ├─ IPv6 to pool6 ─────▶ nat64_6to4 ──▶ next hop (FIB)
//!             ├─ IPv4 to an EAM ────▶ nat64_4to6 ──▶ tunnel_route or FIB
//!             ├─ NS ────────────────▶ ndp_proxy
//!             └─ not ours: XDP_PASS     errors, replies ─▶ tunnel_icmp
//! ```
//!
//! On the egress of the tunnel device, `tunnel_tc` encapsulates what the
//! PoP's own kernel sends toward tunnels. Entries are thin: each path lives
//! in the module of its protocol (`sixin4`, `ndp`), routing in `route` (kind
//! neutral: `tunnel`, `kinds`, `fib`, `icmp6`), jumps in `jump`; all raw
//! packet access is in `packet`.
//! On the host (clippy, `cargo build --workspace`) this is an empty binary.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]
// The BPF target has no atomic read-modify-write in `core::sync`; the
// intrinsic becomes BPF's atomic add (`packet::atomic_add`).
#![cfg_attr(
    target_arch = "bpf",
    allow(internal_features),
    feature(core_intrinsics)
)]

#[cfg(target_arch = "bpf")]
mod ayiya;
#[cfg(target_arch = "bpf")]
mod classify;
#[cfg(target_arch = "bpf")]
mod fib;
#[cfg(target_arch = "bpf")]
mod icmp6;
#[cfg(target_arch = "bpf")]
mod jump;
#[cfg(target_arch = "bpf")]
mod kinds;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod nat64;
#[cfg(target_arch = "bpf")]
mod ndp;
#[cfg(target_arch = "bpf")]
#[allow(unsafe_code)] // the packet-access layer: the only unsafe blocks
mod packet;
#[cfg(target_arch = "bpf")]
mod pinger;
#[cfg(target_arch = "bpf")]
mod route;
#[cfg(target_arch = "bpf")]
mod sixin4;
#[cfg(target_arch = "bpf")]
mod stats;
#[cfg(target_arch = "bpf")]
mod step;
#[cfg(target_arch = "bpf")]
mod testbed;
#[cfg(target_arch = "bpf")]
mod tunnel;

#[cfg(target_arch = "bpf")]
// Program sections, the license and the panic handler need unsafe
// attributes (link_section, no_mangle); no unsafe block lives here.
#[allow(unsafe_code)]
mod entry {
    use aya_ebpf::{
        bindings::{xdp_action, TC_ACT_SHOT},
        macros::{classifier, xdp},
        programs::{TcContext, XdpContext},
    };
    use network_types::eth::EthHdr;
    use tunnel_common::stats::Drop;

    use crate::{
        ayiya,
        classify::{self, Path},
        icmp6::IcmpError,
        jump, nat64, ndp,
        packet::{Packet, Tc, ETHERTYPE_IPV6},
        route, sixin4, stats,
        step::Step,
        tunnel::{Decap, Fault, Origin},
    };

    /// The uplink's entry: classifies and jumps.
    #[xdp]
    pub fn tunnel_xdp(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        match classify::uplink(pkt) {
            Path::Jump(slot) => {
                jump::hand_over(pkt, slot);
                // The program is not loaded: the packet is untouched, the
                // kernel gets it.
                stats::pass_not_ours()
            }
            Path::Route(step) => jump::follow(pkt, step),
        }
    }

    /// IPv4 protocol 41 from the uplink.
    #[xdp]
    pub fn sixin4_decap(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        let step = sixin4::decap(pkt).and_then(|d| match d {
            Decap::Action(action) => Ok(Step::Done(action)),
            Decap::From(id) => {
                route::from_tunnel_v6(pkt, Origin::tunnel(id)).map_err(|r| Fault::on(id, r))
            }
        });
        match step {
            Ok(step) => jump::follow(pkt, step),
            Err(fault) => faulted(fault),
        }
    }

    /// AYIYA (UDP 5072) from the uplink, over IPv4 or IPv6: the cheap
    /// checks, then the signature's program.
    #[xdp]
    pub fn ayiya_decap(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        match ayiya::decap::check(pkt) {
            Ok(ayiya::decap::Checked::Done(action)) => action,
            Ok(ayiya::decap::Checked::Auth { id, off, len }) => {
                jump::to_ayiya_auth(pkt, id, off, len)
            }
            Err(fault) => faulted(fault),
        }
    }

    /// AYIYA's signature, the endpoint learned, op 1 decapsulated and
    /// routed (`JumpArgs::tunnel`, `data_off`, `data_len`).
    #[xdp]
    pub fn ayiya_auth(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        let a = jump::args();
        let step = ayiya::decap::authenticate(pkt, a.tunnel, a.data_off, a.data_len).and_then(
            |d| match d {
                Decap::Action(action) => Ok(Step::Done(action)),
                Decap::From(id) => route::from_tunnel_v6(pkt, Origin::tunnel(id)),
            },
        );
        settle_on(pkt, a.tunnel, step)
    }

    /// IPv6 into an AYIYA tunnel (`JumpArgs::tunnel`, `data_len`,
    /// `hop_limit`, `tclass`), once the router has checked it: signed and
    /// sent to where its user was last seen.
    #[xdp]
    pub fn ayiya_encap(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        let a = jump::args();
        settle_on(pkt, a.tunnel, ayiya::encap::deliver(pkt, &a))
    }

    /// What the PoP's kernel sends into an AYIYA tunnel (`JumpArgs::tunnel`,
    /// `data_len`, `tclass`), from `tunnel_tc`.
    #[classifier]
    pub fn ayiya_encap_local(ctx: TcContext) -> i32 {
        let pkt = Packet::tc(&ctx);
        let a = jump::args();
        match ayiya::encap::deliver_local(pkt, &a) {
            Ok(action) => action as i32,
            Err(reason) => {
                stats::tunnel_drop(a.tunnel, reason);
                TC_ACT_SHOT as i32
            }
        }
    }

    /// IPv6 into a tunnel (`JumpArgs::tunnel`), from the uplink or from
    /// another tunnel (`JumpArgs::origin`).
    #[xdp]
    pub fn tunnel_route(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        let a = jump::args();
        settle_on(
            pkt,
            a.tunnel,
            route::to_tunnel(pkt, a.tunnel, Origin::from_raw(a.origin)),
        )
    }

    /// ICMPv6 errors and echo replies the PoP sends.
    #[xdp]
    pub fn tunnel_icmp(ctx: XdpContext) -> u32 {
        let a = jump::args();
        route::answer(
            Packet::new(&ctx),
            IcmpError::from_raw(a.icmp),
            a.src_tunnel,
            Origin::from_raw(a.origin),
        )
    }

    /// NAT64, IPv6 toward pool6 (`JumpArgs::origin`: the uplink, or the
    /// tunnel it came out of): translated to IPv4 and forwarded.
    #[xdp]
    pub fn nat64_6to4(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        let origin = Origin::from_raw(jump::args().origin);
        match nat64::to4::translate(pkt, origin) {
            Ok(step) => jump::follow(pkt, step),
            Err(reason) => faulted(Fault {
                reason,
                tunnel: origin.tunnel_id(),
            }),
        }
    }

    /// NAT64, IPv4 toward an EAM's IPv4 side: translated to IPv6 and
    /// routed (into a tunnel, or through the FIB).
    #[xdp]
    pub fn nat64_4to6(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        match nat64::to6::translate(pkt) {
            Ok(step) => jump::follow(pkt, step),
            Err(reason) => dropped(reason),
        }
    }

    /// NAT64, ICMPv6 errors toward pool6 (from the uplink, or out of a
    /// tunnel: `JumpArgs::origin`): translated to ICMPv4 with the packet
    /// they quote, and forwarded.
    #[xdp]
    pub fn nat64_err_to4(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        let origin = Origin::from_raw(jump::args().origin);
        match nat64::err_to4::translate(pkt, origin) {
            Ok(step) => jump::follow(pkt, step),
            Err(reason) => faulted(Fault {
                reason,
                tunnel: origin.tunnel_id(),
            }),
        }
    }

    /// NAT64, ICMPv4 errors toward an EAM's IPv4 side: translated to
    /// ICMPv6 with the packet they quote, and routed.
    #[xdp]
    pub fn nat64_err_to6(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        match nat64::err_to6::translate(pkt) {
            Ok(step) => jump::follow(pkt, step),
            Err(reason) => dropped(reason),
        }
    }

    /// NAT64, IPv4 with options: stripped (RFC 7915 §4.1), then back to
    /// `nat64_4to6`.
    #[xdp]
    pub fn nat64_options(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        match nat64::options::strip(pkt) {
            Ok(step) => jump::follow(pkt, step),
            Err(reason) => dropped(reason),
        }
    }

    /// NAT64, IPv6 with extension headers (`JumpArgs::origin`): stripped
    /// (RFC 7915 §5.1), then back to `nat64_6to4`.
    #[xdp]
    pub fn nat64_ext6(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        let origin = Origin::from_raw(jump::args().origin);
        match nat64::ext6::strip(pkt, origin) {
            Ok(step) => jump::follow(pkt, step),
            Err(reason) => faulted(Fault {
                reason,
                tunnel: origin.tunnel_id(),
            }),
        }
    }

    /// ICMPv4 errors of the translator (`JumpArgs::icmp`), from the local
    /// IPv4 address of tunnel `JumpArgs::tunnel`.
    #[xdp]
    pub fn nat64_icmp4(ctx: XdpContext) -> u32 {
        let pkt = Packet::new(&ctx);
        let a = jump::args();
        let kind = nat64::icmp4::Icmp4Error::from_raw(a.icmp);
        let src = if a.tunnel == tunnel_common::jump::SOURCE_NAT64 {
            nat64::icmp_source_v4().ok_or(kind.suppressed())
        } else {
            crate::tunnel::tunnel(a.tunnel).map(|t| t.local_v4)
        };
        match src.and_then(|src| nat64::icmp4::send(pkt, kind, src)) {
            Ok(action) => action,
            Err(reason) => dropped(reason),
        }
    }

    /// The NDP proxy.
    #[xdp]
    pub fn ndp_proxy(ctx: XdpContext) -> u32 {
        match ndp::answer(Packet::new(&ctx)) {
            Ok(action) => action,
            Err(reason) => dropped(reason),
        }
    }

    /// A path's result, for a path that concerns tunnel `id` throughout:
    /// errors are named, counted drops (on the tunnel too), never
    /// XDP_ABORTED.
    #[inline(always)]
    fn settle_on(pkt: Packet, id: u32, step: Result<Step, Drop>) -> u32 {
        match step {
            Ok(step) => jump::follow(pkt, step),
            Err(reason) => faulted(Fault::on(id, reason)),
        }
    }

    #[inline(always)]
    fn dropped(reason: Drop) -> u32 {
        stats::drop(reason);
        xdp_action::XDP_DROP
    }

    /// A drop, counted on its tunnel when the path knew it.
    #[inline(always)]
    fn faulted(f: Fault) -> u32 {
        match f.tunnel {
            Some(id) => stats::tunnel_drop(id, f.reason),
            None => stats::drop(f.reason),
        }
        xdp_action::XDP_DROP
    }

    /// Egress of the tunnel device: what the PoP's own kernel sends toward
    /// tunnel prefixes (its pings, a routing daemon, forwarded traffic) is
    /// encapsulated with the uplink programs' code and redirected to the
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
