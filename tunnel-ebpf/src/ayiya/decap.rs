//! AYIYA from the users: authentication and decapsulation (the
//! `ayiya_decap` and `ayiya_auth` programs). Cheap checks first (header constants, identity, tunnel,
//! lengths, clock), the SHA-1 over the whole datagram last. Every
//! authenticated datagram teaches the tunnel where its user is
//! (`ENDPOINTS`), so a NAT rebinding moves the tunnel at once. Decap ends
//! at "decapsulated from tunnel N"; the program's entry hands that to the
//! router, as for 6in4.

use aya_ebpf::bindings::{xdp_action, BPF_NOEXIST};
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    udp::UdpHdr,
};
use tunnel_common::{
    addr::same_addr,
    ayiya::{
        epoch_ok, header_ok, AyiyaHdr, HEADER_LEN, NH_IPV6, NH_NONE, OP_ECHO_REQUEST,
        OP_ECHO_REQUEST_FORWARD, OP_FORWARD, OP_NOOP, SIGNATURE_LEN, SIGNATURE_OFFSET,
    },
    csum,
    stats::{Drop, Event},
    tunnel::{learns_endpoint, DecapRef, ENDPOINT_V4, ENDPOINT_V6, ENDPOINT_VIA_AYIYA},
};

use super::{hash::hash, unix_now, MAX_DATAGRAM, OFF_V4, OFF_V6, UDP_LEN};
use crate::{
    jump,
    maps::{AYIYA_SEEN, ENDPOINTS, SECRETS, SHA_WORK, TUN_BY_ID6},
    packet::{
        boot_ns, hash_get, scratch, Packet, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_LEN, IPV4_LEN,
        IPV6_LEN,
    },
    stats,
    tunnel::{check_inner_source, tunnel, Decap, Fault},
};

/// Where the datagram sits, from the outer headers.
#[derive(Clone, Copy)]
struct Outer {
    /// Offset of the AYIYA header.
    off: usize,
    /// UDP payload length (the AYIYA datagram).
    len: usize,
}

/// What the first stage (`check`) decides.
pub enum Checked {
    /// Done with the packet: the action (a fragment for the kernel).
    Done(u32),
    /// To the signature check (`ayiya_auth`): tunnel `id`'s datagram of
    /// `len` bytes at `off`.
    Auth { id: u32, off: u32, len: u32 },
}

/// The first stage (the `ayiya_decap` program): the cheap checks of the
/// receive path (spec §1.7) in order: header, identity, tunnel, payload,
/// clock. What passes goes to `ayiya_auth` by a tail call, on one path
/// whatever the outer family or opcode, so the verifier walks the hash
/// there once.
#[inline(always)]
pub fn check(pkt: Packet) -> Result<Checked, Fault> {
    let eth: EthHdr = pkt.read(0)?;
    let outer = match eth.ether_type {
        ETHERTYPE_IPV4 => outer_v4(pkt)?,
        ETHERTYPE_IPV6 => outer_v6(pkt)?,
        _ => return Ok(Checked::Done(stats::pass_not_ours())),
    };
    let Some(outer) = outer else {
        // A fragment: the kernel's.
        stats::event(Event::OuterFragment);
        return Ok(Checked::Done(xdp_action::XDP_PASS));
    };
    if outer.len < HEADER_LEN || outer.len > MAX_DATAGRAM {
        return Err(Drop::AyiyaShort.into());
    }
    let hdr = pkt.view::<AyiyaHdr>(outer.off)?;
    if !header_ok(hdr) {
        return Err(Drop::AyiyaBadHeader.into());
    }
    let (op, nh, epoch) = (hdr.opcode(), hdr.next_header, hdr.epoch());
    // Identity → tunnel: the user's `::2`, exactly (stricter than sixxsd,
    // which takes any address of the tunnel's /64).
    let identity = hdr.identity;
    let tun: DecapRef = hash_get(&TUN_BY_ID6, &identity).ok_or(Drop::AyiyaUnknownIdentity)?;
    // From here on, what goes wrong is the tunnel's.
    check_tunnel(pkt, &outer, &tun, op, nh, epoch).map_err(|r| Fault::on(tun.id, r))
}

/// The rest of `check` once the identity named tunnel `tun`.
#[inline(always)]
fn check_tunnel(
    pkt: Packet,
    outer: &Outer,
    tun: &DecapRef,
    op: u8,
    nh: u8,
    epoch: u32,
) -> Result<Checked, Drop> {
    // A heartbeat tunnel's user may switch to AYIYA (and back): the
    // tunnel follows its last valid packet.
    if !learns_endpoint(tun.kind) {
        return Err(Drop::AyiyaNotAyiya);
    }
    if !tun.is_enabled() {
        return Err(Drop::TunnelDisabled);
    }
    if op == OP_FORWARD && nh == NH_IPV6 {
        check_payload(pkt, outer)?;
    } else if !(op == OP_NOOP && nh == NH_NONE || is_echo_request(op)) {
        // Forwarding IPv4 (next header 4) or nothing is not a PoP's job.
        return Err(Drop::AyiyaInvalidForward);
    }
    if !epoch_ok(unix_now()?, epoch) {
        return Err(Drop::AyiyaClockOff);
    }
    Ok(Checked::Auth {
        id: tun.id,
        off: outer.off as u32,
        len: outer.len as u32,
    })
}

/// The second stage (the `ayiya_auth` program): the signature of tunnel
/// `id`'s datagram (`len` bytes at `off`, checked by `check`), then the
/// endpoint learned; a beat ends there, an echo request goes back as a
/// response, op 1 is decapsulated for the router.
#[inline(always)]
pub fn authenticate(pkt: Packet, id: u32, off: u32, len: u32) -> Result<Decap, Drop> {
    // Bounds the verifier can use (what `check` established).
    let (off, len) = (off & 0x7f, len & 0x7ff);
    verify(pkt, off, len, id)?;
    stats::event(Event::AyiyaAuthenticated);
    first_seen(pkt, off)?;
    let now_ns = boot_ns();
    let eth: EthHdr = pkt.read(0)?;
    let v6 = eth.ether_type == ETHERTYPE_IPV6;
    // Constant offsets per outer family from here on: the verifier tracks
    // packet bounds on those.
    let op = if v6 {
        learn::<OFF_V6>(pkt, id, now_ns)?
    } else {
        learn::<OFF_V4>(pkt, id, now_ns)?
    };
    if is_echo_request(op) {
        return Ok(Decap::Action(if v6 {
            echo::<OFF_V6>(pkt, id, len)?
        } else {
            echo::<OFF_V4>(pkt, id, len)?
        }));
    }
    if op != OP_FORWARD {
        stats::event(Event::AyiyaBeat);
        return Ok(Decap::Action(xdp_action::XDP_DROP));
    }
    // The decap record from the tunnel's array slot: the identity's hash
    // lookup was the first stage's, and is not worth a second one.
    let tun = DecapRef::new(id, &tunnel(id)?);
    if v6 {
        strip::<OFF_V6>(pkt, &tun)
    } else {
        strip::<OFF_V4>(pkt, &tun)
    }
}

/// The inner packet of an authenticated op 1, whose AYIYA header is at
/// `OFF`: its source checked, the outer headers stripped.
#[inline(always)]
fn strip<const OFF: usize>(pkt: Packet, tun: &DecapRef) -> Result<Decap, Drop> {
    let inner = pkt.view::<Ipv6Hdr>(OFF + HEADER_LEN)?;
    check_inner_source(inner, tun)?;
    let inner_len = IPV6_LEN + u16::from_be_bytes(inner.payload_len) as usize;
    // The Ethernet header moves up to the inner packet, then the head
    // follows.
    let strip = OFF + HEADER_LEN - ETH_LEN;
    let mut eth: EthHdr = pkt.read(0)?;
    eth.ether_type = ETHERTYPE_IPV6;
    pkt.write(strip, &eth)?;
    pkt.adjust_head(strip as i32)?;
    pkt.truncate(ETH_LEN + inner_len)?;
    stats::tunnel_rx(tun.id, inner_len);
    stats::event(Event::Decap);
    Ok(Decap::From(tun.id))
}

/// Ops 2 (echo request) and 3 (echo request and forward): answered with
/// op 4 and the same payload. Op 3's payload is not forwarded as well: one
/// packet in, one out (XDP cannot copy a packet), and the answer is what
/// the sender asked to see.
#[inline(always)]
fn is_echo_request(op: u8) -> bool {
    op == OP_ECHO_REQUEST || op == OP_ECHO_REQUEST_FORWARD
}

/// An authenticated echo request of tunnel `id` (a datagram of `len`
/// bytes whose AYIYA header is at `OFF`): the outer headers stripped down
/// to the payload, which goes to `ayiya_encap` to be signed back as the
/// response. Returns the action only when that jump failed.
#[inline(always)]
fn echo<const OFF: usize>(pkt: Packet, id: u32, len: u32) -> Result<u32, Drop> {
    let nh = pkt.view::<AyiyaHdr>(OFF)?.next_header;
    let payload = (len as usize).saturating_sub(HEADER_LEN);
    let strip = OFF + HEADER_LEN - ETH_LEN;
    let eth: EthHdr = pkt.read(0)?;
    pkt.write(strip, &eth)?;
    pkt.adjust_head(strip as i32)?;
    pkt.truncate(ETH_LEN + payload)?;
    stats::event(Event::AyiyaEchoAnswered);
    Ok(jump::to_ayiya_echo(pkt, id, nh, payload))
}

/// IPv4 and UDP headers: `None` for a fragment.
#[inline(always)]
fn outer_v4(pkt: Packet) -> Result<Option<Outer>, Drop> {
    let ip = pkt.view::<Ipv4Hdr>(ETH_LEN)?;
    if ip.vihl != 0x45 {
        return Err(Drop::Malformed);
    }
    if ip.frags[0] & 0x3f != 0 || ip.frags[1] != 0 {
        return Ok(None);
    }
    if csum::ipv4_header(pkt.view::<[u8; IPV4_LEN]>(ETH_LEN)?) != u16::from_be_bytes(ip.check) {
        return Err(Drop::BadChecksum);
    }
    let tot = u16::from_be_bytes(ip.tot_len) as usize;
    let udp = pkt.view::<UdpHdr>(ETH_LEN + IPV4_LEN)?;
    let udp_len = u16::from_be_bytes(udp.len) as usize;
    // The UDP checksum is not checked: the signature covers every payload
    // byte, and the IPv4 header checksum the addresses learned from it.
    if udp_len < UDP_LEN || IPV4_LEN + udp_len != tot || ETH_LEN + tot > pkt.len() {
        return Err(Drop::Malformed);
    }
    Ok(Some(Outer {
        off: OFF_V4,
        len: udp_len - UDP_LEN,
    }))
}

/// IPv6 and UDP headers (no extension headers, see `is_ours_v6`).
#[inline(always)]
fn outer_v6(pkt: Packet) -> Result<Option<Outer>, Drop> {
    let ip = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
    let plen = u16::from_be_bytes(ip.payload_len) as usize;
    let udp = pkt.view::<UdpHdr>(ETH_LEN + IPV6_LEN)?;
    let udp_len = u16::from_be_bytes(udp.len) as usize;
    if udp_len < UDP_LEN || udp_len != plen || ETH_LEN + IPV6_LEN + plen > pkt.len() {
        return Err(Drop::Malformed);
    }
    Ok(Some(Outer {
        off: OFF_V6,
        len: udp_len - UDP_LEN,
    }))
}

/// Op 1, next header 41: an IPv6 packet that fills the datagram exactly
/// (spec §1.3: `44 + 40 + plen == UDP payload`).
#[inline(always)]
fn check_payload(pkt: Packet, outer: &Outer) -> Result<(), Drop> {
    let inner = pkt.view::<Ipv6Hdr>(outer.off + HEADER_LEN)?;
    if inner.vcf[0] >> 4 != 6 {
        return Err(Drop::AyiyaNotIpv6Payload);
    }
    if HEADER_LEN + IPV6_LEN + u16::from_be_bytes(inner.payload_len) as usize != outer.len {
        return Err(Drop::AyiyaLengthMismatch);
    }
    Ok(())
}

/// The signature of the datagram (`len` bytes at `off`) under the
/// tunnel's K, compared with the one received.
#[inline(always)]
fn verify(pkt: Packet, off: u32, len: u32, id: u32) -> Result<(), Drop> {
    let secret = SECRETS.get(id).ok_or(Drop::AyiyaHashFail)?;
    if secret.len as usize != SIGNATURE_LEN {
        return Err(Drop::AyiyaHashFail);
    }
    let work = scratch(SHA_WORK.get_ptr_mut(0)).ok_or(Drop::AyiyaHashFail)?;
    hash(pkt, off, len, &secret.key, work)?;
    let digest = work.digest();
    let received = pkt.view::<[u8; SIGNATURE_LEN]>(off as usize + SIGNATURE_OFFSET)?;
    let mut diff = 0u8;
    let mut i = 0;
    while i < SIGNATURE_LEN {
        diff |= digest[i] ^ received[i];
        i += 1;
    }
    if diff != 0 {
        return Err(Drop::AyiyaHashFail);
    }
    Ok(())
}

/// `::ffff:a.b.c.d`, as `Endpoint` stores IPv4 addresses.
#[inline(always)]
fn v4_mapped(a: [u8; 4]) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[10] = 0xff;
    m[11] = 0xff;
    m[12..].copy_from_slice(&a);
    m
}

/// The replay guard: the datagram at `off` (authenticated) is dropped if
/// its signature was seen before (`AYIYA_SEEN`), so that a captured
/// datagram sent again from elsewhere within the clock window can neither
/// move the tunnel's endpoint nor deliver its payload twice. One map
/// update, refused when the signature is there already.
#[inline(always)]
fn first_seen(pkt: Packet, off: u32) -> Result<(), Drop> {
    const EEXIST: i32 = 17;
    let hdr = pkt.view::<AyiyaHdr>(off as usize)?;
    let (epoch, sig) = (hdr.epoch(), hdr.signature);
    let mut first = [0u8; 16];
    first.copy_from_slice(&sig[..16]);
    match AYIYA_SEEN.insert(&first, &epoch, BPF_NOEXIST as u64) {
        Err(e) if e == -EEXIST => Err(Drop::AyiyaReplay),
        // Any other failure of the guard's map lets the datagram pass:
        // its signature is valid, and a full LRU evicts rather than fails.
        _ => Ok(()),
    }
}

/// Records where the user is, from the outer headers of an authenticated
/// datagram whose AYIYA header is at `OFF`, in place in the tunnel's
/// `ENDPOINTS` slot. The address fields are rewritten only when they
/// moved, the time always. Returns the datagram's opcode.
#[inline(always)]
fn learn<const OFF: usize>(pkt: Packet, id: u32, now_ns: u64) -> Result<u8, Drop> {
    let op = pkt.view::<AyiyaHdr>(OFF)?.opcode();
    let v6 = OFF == OFF_V6;
    let Some(e) = scratch(ENDPOINTS.get_ptr_mut(id)) else {
        return Ok(op);
    };
    let udp = pkt.view::<UdpHdr>(OFF - UDP_LEN)?;
    let (sport, dport) = (udp.src, udp.dst);
    // Where the datagram came from and went to, as the slot stores them.
    let (remote, local, family) = if v6 {
        let ip = pkt.view::<Ipv6Hdr>(ETH_LEN)?;
        (ip.src_addr, ip.dst_addr, ENDPOINT_V6)
    } else {
        let ip = pkt.view::<Ipv4Hdr>(ETH_LEN)?;
        (v4_mapped(ip.src_addr), v4_mapped(ip.dst_addr), ENDPOINT_V4)
    };
    // Compared as words; written only when something moved (a user stays
    // put for millions of datagrams).
    let moved = e.family != family
        || e.remote_port != sport
        || e.local_port != dport
        || !same_addr(&e.remote, &remote)
        || !same_addr(&e.local, &local);
    if moved {
        e.remote = remote;
        e.local = local;
        e.remote_port = sport;
        e.local_port = dport;
        e.family = family;
        stats::event(Event::AyiyaEndpointMoved);
    }
    e.via = ENDPOINT_VIA_AYIYA;
    e.last_seen_ns = now_ns;
    Ok(op)
}
