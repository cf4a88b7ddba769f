//! AYIYA toward the users: the IPv6 packet signed and sent in UDP to where
//! the user was last seen (`ENDPOINTS`), from the PoP's address and port
//! the user sent to, as AICCU's connected socket expects (spec §1.5).
//! Identity = the PoP's `::1`, op 1, next header 41, the epoch of now
//! (spec §1.8); the UDP checksum is set whatever the outer family.
//!
//! The uplink's router reaches `deliver` through a jump (`ayiya_encap`),
//! the tunnel device's TC program `deliver_local` through its own
//! (`ayiya_encap_local`). A tunnel whose
//! user has not been seen is DOWN: the sender gets an ICMPv6 unreachable
//! (code 0, as sixxsd), rate limited.

use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    udp::UdpHdr,
};
use tunnel_common::{
    ayiya::{
        AyiyaHdr, AUTH_SHARED_SECRET, BYTE_ID, BYTE_SIG, HEADER_LEN, NH_IPV6, OP_ECHO_RESPONSE,
        OP_FORWARD, PORT, SIGNATURE_LEN, SIGNATURE_OFFSET,
    },
    csum, ecn,
    jump::JumpArgs,
    stats::{Drop, Event},
    tunnel::{Endpoint, TunnelInfo, ENDPOINT_V6},
};

use super::{hash::hash, unix_now, MAX_DATAGRAM, OFF_V4, OFF_V6, PROTO_UDP, UDP_LEN};
use crate::{
    fib::{self, Wire},
    icmp6::{IcmpError, NEXT_HEADER_ICMPV6},
    maps::{SECRETS, SHA_WORK, TUNNELS},
    packet::{
        scratch, Ctx, Packet, Tc, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_LEN, IPV4_LEN, IPV6_LEN,
        NEXT_HEADER_FRAGMENT,
    },
    stats,
    step::Step,
    tunnel::{endpoint, Origin},
};

const IPV4_DF: u8 = 0x40;
/// Outer TTL / hop limit when the tunnel sets none: what sixxsd and a
/// client's kernel send (the inner hop limit is no guide for a UDP path
/// that crosses NATs).
const DEFAULT_TTL: u8 = 64;
/// The largest inner packet that fits the largest datagram hashed.
const MAX_INNER: usize = MAX_DATAGRAM - HEADER_LEN;

/// The `ayiya_encap` program's body: the IPv6 packet (Ethernet + IPv6 of
/// `a.data_len` bytes) into AYIYA tunnel `a.tunnel`, whose router checks
/// (MTU, hop limit) are done.
#[inline(always)]
pub fn deliver(pkt: Packet, a: &JumpArgs) -> Result<Step, Drop> {
    let (id, origin) = (a.tunnel, Origin::from_raw(a.origin));
    let Some(ep) = endpoint(id) else {
        return Ok(Step::Icmp {
            kind: IcmpError::NO_ROUTE,
            src_tunnel: origin.tunnel_id().unwrap_or(id),
            origin,
        });
    };
    let len = a.data_len as usize;
    if len > MAX_INNER {
        return Err(Drop::TooBig);
    }
    let v6 = ep.family == ENDPOINT_V6;
    let outer_len = (if v6 { IPV6_LEN } else { IPV4_LEN } + UDP_LEN + HEADER_LEN + len) as u16;
    // The next hop first: on a miss the kernel gets the packet as it came
    // (and its route to the tunnel device brings it to `deliver_local`).
    let hop = if v6 {
        fib::lookup_v6_between(pkt, &ep.local, &ep.remote, Wire::new(PROTO_UDP, outer_len))
    } else {
        fib::lookup_v4(
            pkt,
            v4(&ep.local),
            v4(&ep.remote),
            Wire::new(PROTO_UDP, outer_len),
        )
    };
    let hop = match hop {
        Ok(hop) => hop,
        Err(action) => return Ok(Step::Done(action)),
    };
    // An echo response carries its payload back untouched; what the
    // router sends leaves with its hop limit decremented.
    let inner = if a.ayiya_op == OP_ECHO_RESPONSE {
        Inner::new(0, len, OP_ECHO_RESPONSE, a.ayiya_next_header)
    } else {
        pkt.view::<Ipv6Hdr>(ETH_LEN)?.hop_limit = a.hop_limit;
        Inner::new(a.tclass, len, OP_FORWARD, NH_IPV6)
    };
    pkt.truncate(ETH_LEN + len)?;
    seal(pkt, id, &ep, inner)?;
    stats::tunnel_tx(id, len);
    stats::event(Event::Encap);
    if origin.tunnel_id().is_some() {
        stats::event(Event::TunnelToTunnel);
    }
    let ether_type = if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
    fib::send(pkt, &hop, ether_type).map(Step::Done)
}

/// The TC program's `deliver`: what the PoP's own kernel sent into AYIYA
/// tunnel `id` (`len` bytes from the IPv6 header on): forwarded packets
/// the uplink program left to the kernel (next hop unresolved) and the
/// PoP's own ICMPv6 (pings). A tunnel that is DOWN has nowhere to send
/// to: the kernel's route said "this tunnel", so the packet is dropped,
/// counted.
#[inline(always)]
pub fn deliver_local(pkt: Packet<Tc>, a: &JumpArgs) -> Result<u32, Drop> {
    let (id, tclass, len) = (a.tunnel, a.tclass, a.data_len as usize);
    if pkt.is_gso() || (pkt.is_own() && !is_complete(next_header(pkt)?)) {
        return Err(Drop::LocalUnsignable);
    }
    let ep = endpoint(id).ok_or(Drop::TunnelDown)?;
    if len > MAX_INNER {
        return Err(Drop::LocalTooBig);
    }
    if ep.family == ENDPOINT_V6 {
        // The TC path resolves IPv4 next hops only (`fib::lookup_v4_local`).
        return Err(Drop::LocalFib);
    }
    // Signed before the next hop is asked for: a miss drops the packet
    // anyway, and a next hop (one of two kinds) kept across the signature
    // would make the verifier walk the hash once per kind.
    seal(pkt, id, &ep, Inner::new(tclass, len, OP_FORWARD, NH_IPV6))?;
    let outer_len = (IPV4_LEN + UDP_LEN + HEADER_LEN + len) as u16;
    let wire = Wire::new(PROTO_UDP, outer_len);
    let hop = fib::lookup_v4_local(pkt, v4(&ep.local), v4(&ep.remote), wire)?;
    stats::tunnel_tx(id, len);
    stats::event(Event::Encap);
    stats::event(Event::LocalEncap);
    fib::send_local(pkt, &hop)
}

/// Whether the PoP's own packet of this first next header has its
/// checksum finished when it reaches the device: ICMPv6 (the stack
/// computes it), and fragments (the kernel finishes a checksum before it
/// cuts a packet, and the NAT64 slow path's fragments are cut from a
/// translated whole).
#[inline(always)]
fn is_complete(next_header: u8) -> bool {
    next_header == NEXT_HEADER_ICMPV6 || next_header == NEXT_HEADER_FRAGMENT
}

#[inline(always)]
fn next_header(pkt: Packet<Tc>) -> Result<u8, Drop> {
    Ok(pkt.view::<Ipv6Hdr>(ETH_LEN)?.next_hdr)
}

/// The tunnel's learned endpoint, if its user has been seen.
#[inline(always)]
fn v4(a: &[u8; 16]) -> [u8; 4] {
    [a[12], a[13], a[14], a[15]]
}

/// What is sent inside: its length, the traffic class whose ECN goes
/// outside, and the AYIYA opcode and next header that announce it, in one
/// word (BPF passes at most five arguments in registers).
#[derive(Clone, Copy)]
struct Inner(u64);

impl Inner {
    #[inline(always)]
    fn new(tclass: u8, len: usize, op: u8, next_header: u8) -> Self {
        Self(
            (len as u64 & 0xffff)
                | (tclass as u64) << 16
                | (op as u64) << 24
                | (next_header as u64) << 32,
        )
    }
    #[inline(always)]
    fn len(self) -> usize {
        (self.0 & 0xffff) as usize
    }
    #[inline(always)]
    fn tclass(self) -> u8 {
        (self.0 >> 16) as u8
    }
    #[inline(always)]
    fn op(self) -> u8 {
        (self.0 >> 24) as u8 & 0xf
    }
    #[inline(always)]
    fn next_header(self) -> u8 {
        (self.0 >> 32) as u8
    }
}

/// Puts the outer headers in front of the IPv6 packet (Ethernet + the
/// inner packet) and signs: IP and UDP toward `ep`, the AYIYA header, the
/// signature over the datagram, the UDP checksum. Ethernet addresses are
/// left for the sender.
///
/// Inlined, so that the hash is called from the program itself: the
/// frames of a call chain share 512 bytes of stack (6.1 rounds each up to
/// 32 bytes, the hash's own `memset` included), and the program → headers
/// → hash chain would not fit.
#[inline(always)]
fn seal<C: Ctx>(pkt: Packet<C>, id: u32, ep: &Endpoint, inner: Inner) -> Result<(), Drop> {
    let secret = SECRETS.get(id).ok_or(Drop::NoSecret)?;
    if secret.len as usize != SIGNATURE_LEN {
        return Err(Drop::NoSecret);
    }
    let work = scratch(SHA_WORK.get_ptr_mut(0)).ok_or(Drop::NoSecret)?;
    push_headers(pkt, id, ep, inner)?;
    // One path for both outer families from here: the hash is walked once.
    let udp = udp_offset(pkt)?;
    let datagram = (HEADER_LEN + inner.len()) as u32;
    hash(pkt, (udp + UDP_LEN) as u32, datagram, &secret.key, work)?;
    let signature = work.digest();
    finish(pkt, udp, &signature, work.udp_sum(&signature))
}

/// The outer headers toward `ep` and the AYIYA header (signature zero), in
/// front of the inner packet. Not inlined: its frame stays off the hash's
/// chain.
#[inline(never)]
fn push_headers<C: Ctx>(pkt: Packet<C>, id: u32, ep: &Endpoint, inner: Inner) -> Result<(), Drop> {
    // In place in its slot, not copied: stack is short (see `seal`).
    let info = TUNNELS.get(id).ok_or(Drop::UnknownTunnel)?;
    let epoch = unix_now()?;
    // Constant offsets per outer family (the verifier tracks packet bounds
    // on those).
    if ep.family == ENDPOINT_V6 {
        headers::<C, OFF_V6>(pkt, info, ep, inner, epoch)
    } else {
        headers::<C, OFF_V4>(pkt, info, ep, inner, epoch)
    }
}

/// The UDP header's offset, from the outer IP version just written (4 or
/// 6): arithmetic rather than a branch, so that what follows is one path
/// for the verifier, the offset a range it checks accesses against (the
/// UDP header's rather than the datagram's: accesses stay at non-negative
/// offsets from it).
#[inline(always)]
fn udp_offset<C: Ctx>(pkt: Packet<C>) -> Result<usize, Drop> {
    let version = pkt.read::<u8>(ETH_LEN)? >> 4;
    // 4 = 0b0100, 6 = 0b0110: bit 1 tells them apart.
    Ok(OFF_V4 - UDP_LEN + ((version & 2) as usize) * ((OFF_V6 - OFF_V4) / 2))
}

/// The outer headers, for an AYIYA header at `OFF`; the signature and the
/// UDP checksum zero. The pseudo-header's share of the checksum is left in
/// the checksum field for `finish`.
#[inline(always)]
fn headers<C: Ctx, const OFF: usize>(
    pkt: Packet<C>,
    info: &TunnelInfo,
    ep: &Endpoint,
    inner: Inner,
    epoch: u32,
) -> Result<(), Drop> {
    let (tclass, datagram) = (inner.tclass(), HEADER_LEN + inner.len());
    let v6 = OFF == OFF_V6;
    let ip_len = OFF - ETH_LEN - UDP_LEN;
    let eth: EthHdr = pkt.read(0)?;
    pkt.push_outer_udp((ip_len + UDP_LEN + HEADER_LEN) as u32, v6)?;
    let ether_type = if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
    pkt.write(0, &EthHdr { ether_type, ..eth })?;
    let udp_len = UDP_LEN + datagram;
    let ttl = if info.ttl == 0 { DEFAULT_TTL } else { info.ttl };
    let pseudo = if v6 {
        let ip = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
        // RFC 6040 normal mode: ECN copied, DSCP not; no flow label.
        ip.vcf = [
            0x60 | (ecn::encap(tclass) >> 4),
            ecn::encap(tclass) << 4,
            0,
            0,
        ];
        ip.payload_len = (udp_len as u16).to_be_bytes();
        ip.next_hdr = PROTO_UDP;
        ip.hop_limit = ttl;
        ip.src_addr = ep.local;
        ip.dst_addr = ep.remote;
        csum::pseudo_v6(&ep.local, &ep.remote, udp_len as u32, PROTO_UDP)
    } else {
        let ip = pkt.view::<Ipv4Hdr>(ETH_LEN)?;
        ip.vihl = 0x45;
        ip.tos = ecn::encap(tclass);
        ip.tot_len = ((IPV4_LEN + udp_len) as u16).to_be_bytes();
        // DF, so id 0 (RFC 6864), as sixxsd and Linux send.
        ip.id = [0, 0];
        ip.frags = [IPV4_DF, 0];
        ip.ttl = ttl;
        ip.proto = PROTO_UDP;
        ip.check = [0, 0];
        ip.src_addr = v4(&ep.local);
        ip.dst_addr = v4(&ep.remote);
        let check = csum::ipv4_header(pkt.view::<[u8; IPV4_LEN]>(ETH_LEN)?);
        pkt.view::<Ipv4Hdr>(ETH_LEN)?.check = check.to_be_bytes();
        let (s, d) = (v4(&ep.local), v4(&ep.remote));
        csum::add_bytes(csum::add_bytes(0, &s), &d) + PROTO_UDP as u64 + udp_len as u64
    };
    let udp = pkt.view::<UdpHdr>(OFF - UDP_LEN)?;
    udp.src = PORT.to_be_bytes();
    udp.dst = ep.remote_port;
    udp.len = (udp_len as u16).to_be_bytes();
    // Pseudo-header plus the UDP header's own words (its checksum field
    // zero), kept here until the datagram's sum is known.
    let partial = csum::fold(
        pseudo + PORT as u64 + u16::from_be_bytes(ep.remote_port) as u64 + udp_len as u64,
    );
    udp.check = partial.to_be_bytes();
    // The AYIYA header: the PoP's `::1` as identity, the opcode and next
    // header of what it carries, the signature field zero until signed.
    let h = pkt.view::<AyiyaHdr>(OFF)?;
    h.id = BYTE_ID;
    h.sig = BYTE_SIG;
    h.auth_op = AUTH_SHARED_SECRET << 4 | inner.op();
    h.next_header = inner.next_header();
    h.epoch = epoch.to_be_bytes();
    h.identity = info.pop_v6;
    let mut i = 0;
    while i < SIGNATURE_LEN {
        h.signature[i] = 0;
        i += 1;
    }
    Ok(())
}

/// The signature into its field and the UDP checksum completed, for the
/// UDP header at `udp_off`.
#[inline(always)]
fn finish<C: Ctx>(
    pkt: Packet<C>,
    udp_off: usize,
    signature: &[u8; SIGNATURE_LEN],
    datagram_sum: u64,
) -> Result<(), Drop> {
    pkt.write(udp_off + UDP_LEN + SIGNATURE_OFFSET, signature)?;
    let udp = pkt.view::<UdpHdr>(udp_off)?;
    let sum = csum::fold(datagram_sum + u16::from_be_bytes(udp.check) as u64);
    // RFC 768: a computed 0 goes out as all ones (0 means "none").
    let check = match !sum {
        0 => 0xffff,
        c => c,
    };
    udp.check = check.to_be_bytes();
    Ok(())
}
