//! 6in4 (IP protocol 41, RFC 4213): decapsulation of what tunnel users send
//! (the `sixin4_decap` program), encapsulation of what goes to them (called
//! by the router through `kinds`). Decap ends at "decapsulated from tunnel
//! N"; the program's entry hands that to the router.

use aya_ebpf::bindings::xdp_action;
use network_types::{eth::EthHdr, ip::Ipv4Hdr, ip::Ipv6Hdr};
use tunnel_common::{
    csum, ecn,
    stats::{Drop, Event},
    tunnel::{DecapRef, TunnelInfo, TunnelV4Key},
};

use crate::{
    fib::{self, Wire},
    maps::TUN_BY_V4,
    packet::{
        hash_get, prandom_u32, Ctx, Packet, Tc, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_LEN, IPV4_LEN,
        IPV6_LEN,
    },
    stats,
    tunnel::{check_inner_source, Decap, Fault},
};

pub const PROTO_IPV6: u8 = 41;
const IPV4_MF: u8 = 0x20;
const IPV4_DF: u8 = 0x40;

/// Whether the root program should hand this IPv4 packet to `decap`.
#[inline(always)]
pub fn is_ours(outer: &Ipv4Hdr) -> bool {
    outer.proto == PROTO_IPV6
}

/// Proto 41 from the uplink, decapsulated if it comes from a configured
/// tunnel; the inner packet is left for the router.
#[inline(always)]
pub fn decap(pkt: Packet) -> Result<Decap, Fault> {
    let outer = match pkt.view::<Ipv4Hdr>(ETH_LEN) {
        Ok(h) if h.proto == PROTO_IPV6 => h,
        // Only reached through the root's classification; kept exact anyway.
        _ => return Ok(Decap::Action(stats::pass_not_ours())),
    };
    // Only 20-byte headers: options on proto 41 do not occur in practice and
    // would make the header length variable for the verifier.
    if outer.vihl != 0x45 {
        return Err(Drop::Malformed.into());
    }
    if outer.frags[0] & (IPV4_MF | 0x1f) != 0 || outer.frags[1] != 0 {
        // The kernel gets fragments (it reassembles; without a sit device
        // nothing more happens here, but they are not ours to drop).
        stats::event(Event::OuterFragment);
        return Ok(Decap::Action(xdp_action::XDP_PASS));
    }
    if csum::ipv4_header(pkt.view::<[u8; IPV4_LEN]>(ETH_LEN)?) != u16::from_be_bytes(outer.check) {
        return Err(Drop::BadChecksum.into());
    }
    let key = TunnelV4Key {
        local: outer.dst_addr,
        remote: outer.src_addr,
    };
    // Everything decap needs of the tunnel comes with this lookup (see
    // `DecapRef`): its `TUNNELS` slot stays untouched on this path.
    let tun: DecapRef = hash_get(&TUN_BY_V4, &key).ok_or(Drop::UnknownTunnel)?;
    let (outer_len, outer_ecn) = (u16::from_be_bytes(outer.tot_len) as usize, outer.tos & 0b11);
    // From here on, what goes wrong is the tunnel's.
    strip(pkt, &tun, outer_len, outer_ecn).map_err(|r| Fault::on(tun.id, r))
}

/// The inner packet of tunnel `tun`'s proto-41 packet (`outer_len` bytes of
/// IPv4 with ECN `outer_ecn`): checked, the outer header stripped.
#[inline(always)]
fn strip(pkt: Packet, tun: &DecapRef, outer_len: usize, outer_ecn: u8) -> Result<Decap, Drop> {
    let id = tun.id;
    if !tun.is_enabled() {
        return Err(Drop::TunnelDisabled);
    }

    let inner = pkt.view::<Ipv6Hdr>(ETH_LEN + IPV4_LEN)?;
    let inner_len = IPV6_LEN + u16::from_be_bytes(inner.payload_len) as usize;
    // The length comes from the IPv6 header (RFC 4213 §3.6: IPv4 may be padded).
    if inner.vcf[0] >> 4 != 6 || IPV4_LEN + inner_len > outer_len || ETH_LEN + outer_len > pkt.len()
    {
        return Err(Drop::Malformed);
    }
    check_inner_source(inner, tun)?;
    let inner_ecn = (inner.vcf[1] >> 4) & 0b11;
    let ecn = ecn::decap(inner_ecn, outer_ecn).ok_or(Drop::EcnCe)?;
    inner.vcf[1] = (inner.vcf[1] & 0xcf) | (ecn << 4);

    // Strip: the Ethernet header moves 20 bytes up, then the head follows.
    let mut eth: EthHdr = pkt.read(0)?;
    eth.ether_type = ETHERTYPE_IPV6;
    pkt.write(IPV4_LEN, &eth)?;
    pkt.adjust_head(IPV4_LEN as i32)?;
    pkt.truncate(ETH_LEN + inner_len)?;

    stats::tunnel_rx(id, inner_len);
    stats::event(Event::Decap);
    Ok(Decap::From(id))
}

/// Sends the IPv6 packet (Ethernet + IPv6 of `inner_len` bytes) into
/// tunnel `id`: outer next hop first (on a miss the kernel gets the packet
/// as it came), then the inner hop limit becomes `hop_limit`, the outer
/// header goes on and the packet leaves. Returns the XDP action.
#[inline(always)]
pub fn deliver(
    pkt: Packet,
    id: u32,
    info: &TunnelInfo,
    hop_limit: u8,
    tclass: u8,
    inner_len: usize,
) -> Result<u32, Drop> {
    let wire = (IPV4_LEN + inner_len) as u16;
    let hop = match fib::lookup_v4(
        pkt,
        info.local_v4,
        info.remote_v4,
        Wire::new(PROTO_IPV6, wire),
    ) {
        Ok(hop) => hop,
        Err(action) => return Ok(action),
    };
    pkt.view::<Ipv6Hdr>(ETH_LEN)?.hop_limit = hop_limit;
    pkt.truncate(ETH_LEN + inner_len)?;
    encap(pkt, info, hop_limit, tclass, inner_len)?;
    stats::tunnel_tx(id, inner_len);
    stats::event(Event::Encap);
    fib::send(pkt, &hop, ETHERTYPE_IPV4)
}

/// The TC program's `deliver`: what the PoP's kernel sent into tunnel `id`
/// (`len` bytes from the IPv6 header on, `wire` at most per segment). The
/// hop limit is the kernel's business and stays as it is.
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
    let hop = fib::lookup_v4_local(
        pkt,
        info.local_v4,
        info.remote_v4,
        Wire::new(PROTO_IPV6, (IPV4_LEN + wire) as u16),
    )?;
    encap(pkt, info, hop_limit, tclass, len)?;
    stats::tunnel_tx(id, len);
    stats::event(Event::Encap);
    stats::event(Event::LocalEncap);
    fib::send_local(pkt, &hop)
}

/// Pushes the outer IPv4 header of tunnel `info` in front of the IPv6 packet
/// (Ethernet + IPv6 of `inner_len` bytes). `hop_limit` is the inner hop
/// limit after the decrement (for `ttl inherit`), `tclass` the inner traffic
/// class. Ethernet addresses are left for `fib::send`. Not inlined: shared
/// by the forwarding and the ICMP error paths. Generic over the context: the
/// XDP and the TC program each get their own copy of the same code.
#[inline(never)]
fn encap<C: Ctx>(
    pkt: Packet<C>,
    info: &TunnelInfo,
    hop_limit: u8,
    tclass: u8,
    inner_len: usize,
) -> Result<(), Drop> {
    let eth: EthHdr = pkt.read(0)?;
    pkt.push_outer(IPV4_LEN as u32)?;
    pkt.write(
        0,
        &EthHdr {
            ether_type: ETHERTYPE_IPV4,
            ..eth
        },
    )?;

    let df = info.pmtudisc();
    let hdr = pkt.view::<Ipv4Hdr>(ETH_LEN)?;
    hdr.vihl = 0x45;
    // RFC 6040 normal mode: ECN copied, DSCP not (sit's default `tos 0`).
    hdr.tos = ecn::encap(tclass);
    hdr.tot_len = ((IPV4_LEN + inner_len) as u16).to_be_bytes();
    // RFC 6864: a DF packet needs no unique id; Linux sends 0 as well.
    hdr.id = if df {
        [0, 0]
    } else {
        (prandom_u32() as u16).to_be_bytes()
    };
    hdr.frags = [if df { IPV4_DF } else { 0 }, 0];
    hdr.ttl = if info.ttl == 0 { hop_limit } else { info.ttl };
    hdr.proto = PROTO_IPV6;
    hdr.check = [0, 0];
    hdr.src_addr = info.local_v4;
    hdr.dst_addr = info.remote_v4;
    let check = csum::ipv4_header(pkt.view::<[u8; IPV4_LEN]>(ETH_LEN)?);
    pkt.view::<Ipv4Hdr>(ETH_LEN)?.check = check.to_be_bytes();
    Ok(())
}
