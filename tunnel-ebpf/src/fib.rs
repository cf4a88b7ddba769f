//! Forwarding through the kernel's FIB: `bpf_fib_lookup`, then MAC rewrite
//! and XDP_TX (same interface) or a devmap redirect. When the kernel has no
//! neighbour entry yet, the packet goes up the stack so the kernel resolves
//! it (xdp-forward does the same); callers decide what state it goes up in.
//!
//! The TC program (packets the PoP's own kernel sends into tunnels) has no
//! "up" to go to: it redirects with `bpf_redirect`, and lets the kernel
//! resolve an unknown next hop with `bpf_redirect_neigh`.

use aya_ebpf::{
    bindings::{
        bpf_fib_lookup as FibParams, xdp_action, BPF_FIB_LKUP_RET_NO_NEIGH,
        BPF_FIB_LKUP_RET_SUCCESS,
    },
    maps::lpm_trie::Key,
};
use network_types::{eth::EthHdr, ip::Ipv6Hdr};
use tunnel_common::{
    addr,
    nexthop::NEXTHOP_KERNEL,
    stats::{Drop, Event},
};

use crate::{
    maps::{NEXTHOPS, ROUTES4, ROUTES6, TX_PORTS},
    packet::{
        fib_ipv4_dst, fib_lookup, zeroed_fib_params, Ctx, Packet, Tc, ETHERTYPE_IPV4, IPV6_LEN,
    },
    stats,
};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Where a packet goes next. Laid out as the Ethernet header's first 12
/// bytes, then the egress, 8-aligned: LLVM copies the two addresses with
/// merged 8- and 4-byte accesses, which the verifier takes on the stack
/// only at offsets aligned to their size (at alignment 4 with `ifindex`
/// first, a caller's frame could put the merged 8-byte access at a
/// 4-aligned offset).
#[repr(C, align(8))]
pub struct NextHop {
    dmac: [u8; 6],
    smac: [u8; 6],
    ifindex: u32,
}

/// Result of a lookup: a next hop, or the XDP action to return (counted).
pub type Lookup = Result<NextHop, u32>;

/// What a lookup asks besides the addresses: the packet's protocol (IPv4)
/// or next header (IPv6) and its length from the network header on. One
/// word, so the lookups stay within BPF's five register arguments (their
/// result takes one more).
#[derive(Clone, Copy)]
pub struct Wire(u32);

impl Wire {
    #[inline(always)]
    pub fn new(proto: u8, len: u16) -> Self {
        Self((proto as u32) << 16 | len as u32)
    }
    #[inline(always)]
    fn proto(self) -> u8 {
        (self.0 >> 16) as u8
    }
    #[inline(always)]
    fn len(self) -> u16 {
        self.0 as u16
    }
}

/// The next-hop cache's answer for route slot `slot`, if it can be used for
/// a packet of `len` bytes (network header and up).
#[inline(always)]
fn cached(slot: Option<&u32>, len: u16) -> Option<NextHop> {
    let slot = *slot?;
    if slot == NEXTHOP_KERNEL {
        return None;
    }
    let nh = NEXTHOPS.get(slot)?;
    if !nh.usable_for(len) {
        return None;
    }
    Some(NextHop {
        ifindex: nh.ifindex,
        smac: nh.smac,
        dmac: nh.dmac,
    })
}

/// The cache's next hop toward IPv4 `dst` (network order).
#[inline(always)]
fn cached_v4(dst: [u8; 4], len: u16) -> Option<NextHop> {
    let hop = cached(ROUTES4.get(Key::new(32, dst)), len);
    if hop.is_some() {
        stats::event(Event::NexthopCached);
    }
    hop
}

#[inline(always)]
fn cached_v6(dst: &[u8; 16], len: u16) -> Option<NextHop> {
    let hop = cached(ROUTES6.get(Key::new(128, addr::words32(dst))), len);
    if hop.is_some() {
        stats::event(Event::NexthopCached);
    }
    hop
}

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
    let mut p = zeroed_fib_params();
    p.family = family;
    p.l4_protocol = proto;
    p.__bindgen_anon_1.tot_len = tot_len;
    p.ifindex = pkt.fib_ifindex();
    p
}

/// Next hop for an IPv4 packet from `src` to `dst` (network order), its
/// protocol and length in `wire`: the cache, else the kernel's FIB. Not inlined: called from several paths, and the helper's 64-byte
/// parameter block would otherwise be on the caller's stack once per call
/// site.
#[inline(never)]
pub fn lookup_v4(pkt: Packet, src: [u8; 4], dst: [u8; 4], wire: Wire) -> Lookup {
    if let Some(hop) = cached_v4(dst, wire.len()) {
        return Ok(hop);
    }
    stats::event(Event::NexthopKernel);
    let mut p = params(pkt, AF_INET, wire.proto(), wire.len());
    p.__bindgen_anon_3.ipv4_src = u32::from_ne_bytes(src);
    p.__bindgen_anon_4.ipv4_dst = u32::from_ne_bytes(dst);
    let rc = fib_lookup(pkt, &mut p);
    finish(rc, &p)
}

/// Next hop for the IPv6 packet with header `ip6`.
#[inline(always)]
pub fn lookup_v6(pkt: Packet, ip6: &Ipv6Hdr) -> Lookup {
    let len = IPV6_LEN as u16 + u16::from_be_bytes(ip6.payload_len);
    lookup_v6_between(
        pkt,
        &ip6.src_addr,
        &ip6.dst_addr,
        Wire::new(ip6.next_hdr, len),
    )
}

/// Next hop for an IPv6 packet from `src` to `dst`, its next header and
/// length (header included) in `wire`.
#[inline(never)]
pub fn lookup_v6_between(pkt: Packet, src: &[u8; 16], dst: &[u8; 16], wire: Wire) -> Lookup {
    if let Some(hop) = cached_v6(dst, wire.len()) {
        return Ok(hop);
    }
    stats::event(Event::NexthopKernel);
    let mut p = params(pkt, AF_INET6, wire.proto(), wire.len());
    p.__bindgen_anon_3.ipv6_src = addr::words32(src);
    p.__bindgen_anon_4.ipv6_dst = addr::words32(dst);
    let rc = fib_lookup(pkt, &mut p);
    finish(rc, &p)
}

/// The MTU of the device the kernel's FIB routes IPv4 from `src` to `dst`
/// through (network order), 0 when it has no route: what caps a
/// translated error's MTU (RFC 7915 §5.2). The kernel's FIB alone, not the
/// next-hop cache, and no counters: the packet is looked up again, as any,
/// when it is sent. Inlined into its one caller, itself not inlined: one
/// frame less in the call chain (Linux 6.1 counts 512 bytes for all).
#[inline(always)]
pub fn egress_mtu_v4(pkt: Packet, src: [u8; 4], dst: [u8; 4]) -> u32 {
    let mut p = params(pkt, AF_INET, 0, 0);
    p.__bindgen_anon_3.ipv4_src = u32::from_ne_bytes(src);
    p.__bindgen_anon_4.ipv4_dst = u32::from_ne_bytes(dst);
    egress_mtu(pkt, &mut p)
}

/// The same for IPv6 (RFC 7915 §4.2).
#[inline(always)]
pub fn egress_mtu_v6(pkt: Packet, src: &[u8; 16], dst: &[u8; 16]) -> u32 {
    let mut p = params(pkt, AF_INET6, 0, 0);
    p.__bindgen_anon_3.ipv6_src = addr::words32(src);
    p.__bindgen_anon_4.ipv6_dst = addr::words32(dst);
    egress_mtu(pkt, &mut p)
}

/// The lookup's egress device and its MTU. The length asked is 0: never
/// above the route's MTU, where the helper would answer FRAG_NEEDED before
/// naming the device. An unresolved neighbour still names it.
#[inline(always)]
fn egress_mtu(pkt: Packet, p: &mut FibParams) -> u32 {
    let rc = fib_lookup(pkt, p);
    if rc == BPF_FIB_LKUP_RET_SUCCESS as i64 || rc == BPF_FIB_LKUP_RET_NO_NEIGH as i64 {
        pkt.device_mtu(p.ifindex).unwrap_or(0)
    } else {
        0
    }
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

/// Where a packet the PoP's kernel sent goes once encapsulated. A C
/// layout (tag, then the payload at offset 8) for the reason `NextHop` is
/// 8-aligned: every merged copy of it stays aligned.
#[repr(C, u32)]
pub enum LocalHop {
    /// Next hop known: rewrite the addresses and redirect.
    Resolved(NextHop),
    /// Route found, next hop's MAC unknown: `ifindex` and the next hop's
    /// IPv4 address (network order) for `bpf_redirect_neigh`.
    Unresolved { ifindex: u32, gw: u32 },
}

/// Next hop for an IPv4 packet from `src` to `dst` of protocol `proto`,
/// `tot_len` bytes long, sent by the TC program: the cache, else the
/// kernel's FIB. Any result but a route is a counted drop: the packet is
/// already on its way out of the tunnel device, and the kernel has no
/// other path for it.
#[inline(never)]
pub fn lookup_v4_local(
    pkt: Packet<Tc>,
    src: [u8; 4],
    dst: [u8; 4],
    wire: Wire,
) -> Result<LocalHop, Drop> {
    if let Some(hop) = cached_v4(dst, wire.len()) {
        return Ok(LocalHop::Resolved(hop));
    }
    stats::event(Event::NexthopKernel);
    let mut p = params(pkt, AF_INET, wire.proto(), wire.len());
    p.__bindgen_anon_3.ipv4_src = u32::from_ne_bytes(src);
    p.__bindgen_anon_4.ipv4_dst = u32::from_ne_bytes(dst);
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
