//! Forwarding through the kernel's FIB: `bpf_fib_lookup`, then MAC rewrite
//! and XDP_TX (same interface) or a devmap redirect. When the kernel has no
//! neighbour entry yet, the packet goes up the stack so the kernel resolves
//! it (xdp-forward does the same); callers decide what state it goes up in.
//!
//! The TC program (packets the PoP's own kernel sends into tunnels) has no
//! "up" to go to: it redirects with `bpf_redirect`, and lets the kernel
//! resolve an unknown next hop with `bpf_redirect_neigh`.

use aya_ebpf::bindings::{
    bpf_fib_lookup as FibParams, xdp_action, BPF_FIB_LKUP_RET_NO_NEIGH, BPF_FIB_LKUP_RET_SUCCESS,
};
use network_types::{eth::EthHdr, ip::Ipv6Hdr};
use tunnel_common::{
    stats::{Drop, Event},
    tunnel::TunnelInfo,
};

use crate::{
    maps::TX_PORTS,
    packet::{fib_ipv4_dst, fib_lookup, Ctx, Packet, Tc, ETHERTYPE_IPV4, IPV4_LEN, IPV6_LEN},
    sixin4::PROTO_IPV6,
    stats,
};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Where a packet goes next.
pub struct NextHop {
    ifindex: u32,
    smac: [u8; 6],
    dmac: [u8; 6],
}

/// Result of a lookup: a next hop, or the XDP action to return (counted).
pub type Lookup = Result<NextHop, u32>;

#[inline(always)]
fn finish(rc: i64, p: &FibParams) -> Lookup {
    if rc == BPF_FIB_LKUP_RET_SUCCESS as i64 {
        return Ok(NextHop {
            ifindex: p.ifindex,
            smac: p.smac,
            dmac: p.dmac,
        });
    }
    if rc == BPF_FIB_LKUP_RET_NO_NEIGH as i64 {
        stats::event(Event::FibNoNeigh);
    } else {
        stats::event(Event::FibPass);
    }
    Err(xdp_action::XDP_PASS)
}

#[inline(always)]
fn params<C: Ctx>(pkt: Packet<C>, family: u8, proto: u8, tot_len: u16) -> FibParams {
    let mut p = zeroed_params();
    p.family = family;
    p.l4_protocol = proto;
    p.__bindgen_anon_1.tot_len = tot_len;
    p.ifindex = pkt.fib_ifindex();
    p
}

#[inline(always)]
fn zeroed_params() -> FibParams {
    // All-zero is a valid FibParams (integers, arrays and unions of them).
    FibParams {
        family: 0,
        l4_protocol: 0,
        sport: 0,
        dport: 0,
        __bindgen_anon_1: aya_ebpf::bindings::bpf_fib_lookup__bindgen_ty_1 { tot_len: 0 },
        ifindex: 0,
        __bindgen_anon_2: aya_ebpf::bindings::bpf_fib_lookup__bindgen_ty_2 { flowinfo: 0 },
        __bindgen_anon_3: aya_ebpf::bindings::bpf_fib_lookup__bindgen_ty_3 { ipv6_src: [0; 4] },
        __bindgen_anon_4: aya_ebpf::bindings::bpf_fib_lookup__bindgen_ty_4 { ipv6_dst: [0; 4] },
        __bindgen_anon_5: aya_ebpf::bindings::bpf_fib_lookup__bindgen_ty_5 {
            __bindgen_anon_1: aya_ebpf::bindings::bpf_fib_lookup__bindgen_ty_5__bindgen_ty_1 {
                h_vlan_proto: 0,
                h_vlan_TCI: 0,
            },
        },
        smac: [0; 6],
        dmac: [0; 6],
    }
}

/// Next hop for the 6in4 packet of tunnel `info` carrying `inner_len` bytes.
/// Not inlined: called from several paths, and its 64-byte parameter block
/// would otherwise be on the caller's stack once per call site.
#[inline(never)]
pub fn lookup_v4(pkt: Packet, info: &TunnelInfo, inner_len: u16) -> Lookup {
    let mut p = params(pkt, AF_INET, PROTO_IPV6, IPV4_LEN as u16 + inner_len);
    p.__bindgen_anon_3.ipv4_src = u32::from_ne_bytes(info.local_v4);
    p.__bindgen_anon_4.ipv4_dst = u32::from_ne_bytes(info.remote_v4);
    let rc = fib_lookup(pkt, &mut p);
    finish(rc, &p)
}

/// Next hop for the IPv6 packet with header `ip6`.
#[inline(never)]
pub fn lookup_v6(pkt: Packet, ip6: &Ipv6Hdr) -> Lookup {
    let len = IPV6_LEN as u16 + u16::from_be_bytes(ip6.payload_len);
    let mut p = params(pkt, AF_INET6, ip6.next_hdr, len);
    p.__bindgen_anon_3.ipv6_src = words(&ip6.src_addr);
    p.__bindgen_anon_4.ipv6_dst = words(&ip6.dst_addr);
    let rc = fib_lookup(pkt, &mut p);
    finish(rc, &p)
}

#[inline(always)]
fn words(a: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ]
}

/// Rewrites the Ethernet addresses for `hop` and sends the packet there.
#[inline(always)]
pub fn send(pkt: Packet, hop: &NextHop, ether_type: u16) -> Result<u32, Drop> {
    let eth = EthHdr {
        dst_addr: hop.dmac,
        src_addr: hop.smac,
        ether_type,
    };
    pkt.write(0, &eth)?;
    if hop.ifindex == pkt.ingress_ifindex() {
        return Ok(xdp_action::XDP_TX);
    }
    TX_PORTS
        .redirect(hop.ifindex, 0)
        .map_err(|_| Drop::NoTxPort)
}

/// Where a packet the PoP's kernel sent goes once encapsulated.
pub enum LocalHop {
    /// Next hop known: rewrite the addresses and redirect.
    Resolved(NextHop),
    /// Route found, next hop's MAC unknown: `ifindex` and the next hop's
    /// IPv4 address (network order) for `bpf_redirect_neigh`.
    Unresolved { ifindex: u32, gw: u32 },
}

/// Next hop for the 6in4 packet of tunnel `info`, `tot_len` bytes long
/// with its outer header, sent by the TC program. Any result but a route
/// is a counted drop: the packet is already on its way out of the tunnel
/// device, and the kernel has no other path for it.
#[inline(never)]
pub fn lookup_v4_local(pkt: Packet<Tc>, info: &TunnelInfo, tot_len: u16) -> Result<LocalHop, Drop> {
    let mut p = params(pkt, AF_INET, PROTO_IPV6, tot_len);
    p.__bindgen_anon_3.ipv4_src = u32::from_ne_bytes(info.local_v4);
    p.__bindgen_anon_4.ipv4_dst = u32::from_ne_bytes(info.remote_v4);
    let rc = fib_lookup(pkt, &mut p);
    if rc == BPF_FIB_LKUP_RET_SUCCESS as i64 {
        return Ok(LocalHop::Resolved(NextHop {
            ifindex: p.ifindex,
            smac: p.smac,
            dmac: p.dmac,
        }));
    }
    if rc == BPF_FIB_LKUP_RET_NO_NEIGH as i64 {
        stats::event(Event::FibNoNeigh);
        // On NO_NEIGH the helper has filled in the egress device and, for
        // a gatewayed route, replaced the destination by the gateway.
        return Ok(LocalHop::Unresolved {
            ifindex: p.ifindex,
            gw: fib_ipv4_dst(&p),
        });
    }
    Err(Drop::LocalFib)
}

/// Sends an encapsulated packet of the TC program to `hop`.
#[inline(always)]
pub fn send_local(pkt: Packet<Tc>, hop: &LocalHop) -> Result<u32, Drop> {
    match hop {
        LocalHop::Resolved(h) => {
            let eth = EthHdr {
                dst_addr: h.dmac,
                src_addr: h.smac,
                ether_type: ETHERTYPE_IPV4,
            };
            pkt.write(0, &eth)?;
            Ok(pkt.redirect(h.ifindex))
        }
        LocalHop::Unresolved { ifindex, gw } => Ok(pkt.redirect_neigh_v4(*ifindex, *gw)),
    }
}
