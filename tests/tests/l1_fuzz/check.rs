//! The invariants every run must keep, judged from the input frame, the
//! verdict, the output frame, the counters' change over the run and the
//! model of the maps (never from the maps or the datapath's own code):
//!
//! - no XDP_ABORTED, no TC verdict but OK, SHOT and REDIRECT;
//! - drops counted exactly once: one counted drop for XDP_DROP/TC_ACT_SHOT,
//!   none otherwise; the tail calls never fail;
//! - what is not ours, and what the program passes on, is untouched;
//! - a frame is decapsulated if and only if it is acceptable 6in4 from an
//!   enabled tunnel, inner source in that tunnel's prefixes (RFC 4213
//!   §3.6, RFC 6040); an NS for a proxied target is answered if and only if
//!   it is valid (RFC 4861 §7.1.1);
//! - emitted frames (XDP_TX/REDIRECT, TC redirect, and XDP_PASS when the
//!   frame changed) are well-formed: the Ethernet type matches the payload;
//!   an outer IPv4 header is 20 bytes, its checksum and total length right,
//!   from and to a configured, enabled tunnel's endpoints, DF, TTL and ECN
//!   as the tunnel says, MACs of the neighbour; the IPv6 payload length
//!   matches the frame;
//! - what the PoP forwards is the packet it got (hop limit one less, ECN
//!   per RFC 6040 after decapsulation), into the tunnel that owns the
//!   destination, and a decapsulated packet's source is its tunnel's;
//! - what the PoP builds (ICMPv6 errors, echo replies, neighbour
//!   advertisements) has a right checksum, the right addresses, a reason
//!   in the model, and goes back where the packet came from.

use std::collections::BTreeMap;

use tunnel_common::stats::{Drop, Event};
use tunnel_tests::prog::*;

use crate::{
    counters::Snapshot,
    model::{TunnelModel, Variant},
    seeds::Prog,
    wire::*,
};

pub struct Finding {
    pub kind: &'static str,
    pub detail: String,
}

/// Things seen that break no invariant but are worth a line in the report.
pub type Notes = BTreeMap<&'static str, u64>;

macro_rules! ensure {
    ($cond:expr, $kind:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Finding { kind: $kind, detail: format!($($fmt)+) });
        }
    };
}

macro_rules! fail {
    ($kind:expr, $($fmt:tt)+) => {
        return Err(Finding { kind: $kind, detail: format!($($fmt)+) })
    };
}

pub struct Outcome<'a> {
    pub v: &'a Variant,
    pub prog: Prog,
    pub on_x1: bool,
    pub gso: u32,
    pub input: &'a [u8],
    pub action: u32,
    pub output: &'a [u8],
    pub delta: &'a Snapshot,
}

pub fn check(r: &Outcome, notes: &mut Notes) -> Result<(), Finding> {
    match r.prog {
        Prog::Xdp => check_xdp(r, notes),
        Prog::Tc => check_tc(r, notes),
    }
}

const MAC_ALL_NODES: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ALL_NODES: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

fn check_xdp(r: &Outcome, notes: &mut Notes) -> Result<(), Finding> {
    let drops = r.delta.total_drops();
    match r.action {
        XDP_DROP => ensure!(
            drops == 1,
            "drop not counted once",
            "XDP_DROP, {drops} drops counted"
        ),
        XDP_PASS | XDP_TX | XDP_REDIRECT => ensure!(
            drops == 0,
            "drop counted without XDP_DROP",
            "{}, {drops} drops counted",
            action_name(r.action)
        ),
        XDP_ABORTED => fail!("XDP_ABORTED", "the program aborted"),
        a => fail!("unknown XDP action", "action {a}"),
    }
    ensure!(
        r.delta.drop(Drop::JumpFailed) == 0,
        "tail call failed",
        "a tail call failed in a complete datapath"
    );
    let changed = r.output != r.input;
    if r.delta.event(Event::NotOurs) > 0 {
        ensure!(
            r.action == XDP_PASS && !changed,
            "not ours, yet touched",
            "counted not_ours, {}, frame changed: {changed}",
            action_name(r.action)
        );
    }
    if !xdp_may_take(r) {
        ensure!(
            r.action == XDP_PASS && !changed,
            "not ours, yet touched",
            "nothing in the model makes this frame ours; {}, frame changed: {changed}",
            action_name(r.action)
        );
    }
    decap_oracle(r)?;
    ns_oracle(r)?;
    route_oracle(r)?;
    match r.action {
        XDP_TX | XDP_REDIRECT => emitted(r, notes),
        XDP_PASS if changed => emitted(r, notes),
        _ => Ok(()),
    }
}

/// Whether the model gives the uplink program any business with the frame.
fn xdp_may_take(r: &Outcome) -> bool {
    let f = r.input;
    match ethertype(f) {
        ET_IPV4 => f.len() >= ETH + IP4 && f[ETH + 9] == PROTO_6IN4,
        // RFC 8200 §3: anything but version 6 is no IPv6 packet.
        ET_IPV6 if f.len() <= ETH || f[ETH] >> 4 != 6 => false,
        ET_IPV6 if is_ns(f) => proxied_ns(r),
        ET_IPV6 => f.len() >= ETH + IP6 && r.v.owner(&f[38..54]).is_some(),
        _ => false,
    }
}

/// An NS for a target proxied on the interface it came in on.
fn proxied_ns(r: &Outcome) -> bool {
    let f = r.input;
    ethertype(f) == ET_IPV6
        && is_ns(f)
        && f[ETH] >> 4 == 6
        && r.on_x1
        && f.len() >= 78
        && r.v.proxied.iter().any(|p| p[..] == f[62..78])
}

/// The root's test for the NDP proxy: ICMPv6 type 135 right after the
/// IPv6 header.
fn is_ns(f: &[u8]) -> bool {
    f.len() > ETH + IP6 && f[ETH + 6] == NH_ICMP6 && f[ETH + IP6] == 135
}

/// RFC 6040 Figure 4: the inner ECN field after decapsulation, or None
/// for a drop.
fn rfc6040(inner: u8, outer: u8) -> Option<u8> {
    match (inner, outer) {
        (_, 0) => Some(inner),
        (0, 3) => None,
        (0, _) => Some(0),
        (_, 3) => Some(3),
        (2, 1) => Some(1),
        _ => Some(inner),
    }
}

fn ecn6(p: &[u8]) -> u8 {
    (p[1] >> 4) & 3
}

/// The tunnel a frame is acceptable 6in4 from, if it is.
fn acceptable_6in4<'v>(v: &'v Variant, f: &[u8]) -> Option<&'v TunnelModel> {
    if f.len() < ETH + IP4 + IP6 || ethertype(f) != ET_IPV4 {
        return None;
    }
    let h = &f[ETH..ETH + IP4];
    // 20-byte header, protocol 41, no fragment (DF and the reserved bit
    // do not matter), checksum right.
    if h[0] != 0x45 || h[9] != PROTO_6IN4 || h[6] & 0x3f != 0 || h[7] != 0 || !ipv4_header_ok(h) {
        return None;
    }
    let t = v.by_outer(&h[16..20], &h[12..16]).filter(|t| t.enabled)?;
    let tot = be16(h, 2) as usize;
    let p = &f[ETH + IP4..];
    let plen = be16(p, 4) as usize;
    if p[0] >> 4 != 6 || IP4 + IP6 + plen > tot || ETH + tot > f.len() {
        return None;
    }
    let (src, dst) = (&p[8..24], &p[24..40]);
    if invalid_source(src) || link_local(src) || link_local(dst) || multicast(dst) {
        return None;
    }
    if !t.owns(src) {
        return None;
    }
    rfc6040(ecn6(p), h[1] & 3)?;
    Some(t)
}

fn decap_oracle(r: &Outcome) -> Result<(), Finding> {
    let want = acceptable_6in4(r.v, r.input);
    let decapped = r.delta.event(Event::Decap);
    match (want, decapped) {
        (Some(_), 1) | (None, 0) => Ok(()),
        (Some(t), 0) => fail!(
            "acceptable 6in4 not decapsulated",
            "from tunnel {}: {} ({})",
            t.id,
            action_name(r.action),
            r.delta.describe()
        ),
        (None, 1) => fail!(
            "decapsulated what is not acceptable",
            "{} ({})",
            action_name(r.action),
            r.delta.describe()
        ),
        (_, n) => fail!("decapsulated more than once", "{n} decaps"),
    }
}

/// Whether an NS (payload `body`, IPv6 header at `ip`) is one a proxy
/// answers (RFC 4861 §7.1.1), and whether it is a DAD probe.
fn ns_valid(ip: &[u8], body: &[u8]) -> Option<bool> {
    let (src, dst) = (&ip[8..24], &ip[24..40]);
    if ip[7] != 255 || body.len() < 24 || body[0] != 135 || body[1] != 0 {
        return None;
    }
    if !l4_ok(src, dst, NH_ICMP6, body) {
        return None;
    }
    let target = &body[8..24];
    let group = solicited_node(target);
    if multicast(target) || (dst != target && dst != group) {
        return None;
    }
    let dad = src.iter().all(|b| *b == 0);
    if dad && dst != group {
        return None;
    }
    let mut at = 24;
    let mut source_ll = false;
    while at < body.len() {
        if body.len() - at < 2 {
            return None;
        }
        let len = body[at + 1] as usize * 8;
        if len == 0 || at + len > body.len() {
            return None;
        }
        source_ll |= body[at] == 1;
        at += len;
    }
    if dad && source_ll {
        return None;
    }
    Some(dad)
}

fn ns_oracle(r: &Outcome) -> Result<(), Finding> {
    let f = r.input;
    if !proxied_ns(r) {
        ensure!(
            r.delta.event(Event::NdpAdvertised) == 0,
            "neighbour advertisement for no proxied target",
            "ndp_advertised counted"
        );
        return Ok(());
    }
    let plen = be16(f, ETH + 4) as usize;
    let end = ETH + IP6 + plen;
    let answered = r.action == XDP_TX && r.delta.event(Event::NdpAdvertised) == 1;
    if end > f.len() {
        ensure!(
            r.action == XDP_DROP,
            "ns oracle",
            "NS longer than its frame: {}",
            action_name(r.action)
        );
    } else if plen > 64 {
        ensure!(
            r.action == XDP_PASS && r.output == r.input,
            "ns oracle",
            "NS over 64 bytes must go to the kernel: {}",
            action_name(r.action)
        );
    } else if ns_valid(&f[ETH..ETH + IP6], &f[ETH + IP6..end]).is_some() {
        ensure!(
            answered,
            "valid ns not answered",
            "{} ({})",
            action_name(r.action),
            r.delta.describe()
        );
    } else {
        ensure!(
            r.action == XDP_DROP,
            "invalid ns not dropped",
            "{} ({})",
            action_name(r.action),
            r.delta.describe()
        );
    }
    Ok(())
}

/// What the router must do with an IPv6 packet, by the model.
#[derive(Debug)]
enum Want {
    /// Answer with ICMPv6 (type, code), or count the drop if RFC 4443
    /// §2.4 or the rate limit forbids it.
    Error(u8, u8, Drop),
    /// Answer an echo request.
    Reply,
    /// Into the owning tunnel, or (after decapsulation) to the next hop;
    /// a pass when the next hop is not known.
    Deliver,
    Drop(Drop),
}

/// The router's decision for IPv6 packets from the uplink toward a
/// tunnel, and for decapsulated ones.
fn route_oracle(r: &Outcome) -> Result<(), Finding> {
    let f = r.input;
    let (p, full, from_tunnel) = if r.delta.event(Event::Decap) == 1 {
        let p = ip6_packet(f, ETH + IP4);
        (p, p, true)
    } else if ethertype(f) == ET_IPV6
        && f.len() >= ETH + IP6
        && f[ETH] >> 4 == 6
        && !is_ns(f)
        && r.v.owner(&f[38..54]).is_some()
    {
        (ip6_packet(f, ETH), &f[ETH..], false)
    } else {
        return Ok(());
    };
    let plen = be16(p, 4) as usize;
    let dst = &p[24..40];
    let want = match r.v.owner(dst) {
        Some(t) if !t.enabled => Want::Error(1, 1, Drop::TunnelDisabled),
        Some(_) if IP6 + plen > full.len() => Want::Drop(Drop::Malformed),
        Some(t) if t.pop == dst => match (is_echo_request(p), plen) {
            (true, 0..4) => Want::Drop(Drop::Malformed),
            (true, _) => Want::Reply,
            (false, _) => Want::Error(1, 4, Drop::PopAddress),
        },
        Some(_) if p[7] <= 1 => Want::Error(3, 0, Drop::HopLimit),
        Some(t) if p.len() > t.mtu as usize => Want::Error(2, 0, Drop::TooBig),
        Some(_) => Want::Deliver,
        None if p[7] <= 1 => Want::Error(3, 0, Drop::HopLimit),
        None => Want::Deliver,
    };
    let ev = |e| r.delta.event(e);
    let out = matches!(r.action, XDP_TX | XDP_REDIRECT | XDP_PASS);
    let ok = match want {
        Want::Error(ty, code, suppressed) => {
            // What the program judges by (see `error_ok`).
            let judged = if from_tunnel || (ty, code) == (1, 4) {
                p
            } else {
                full
            };
            let about_error = p[6] == NH_ICMP6 && !(judged.len() > IP6 && judged[IP6] >= 128);
            let may = !invalid_source(&p[8..24]) && !about_error && r.v.icmp.icmp_burst > 0;
            let event = match ty {
                1 => Event::IcmpUnreachable,
                2 => Event::IcmpPacketTooBig,
                _ => Event::IcmpTimeExceeded,
            };
            if may {
                out && ev(event) == 1
            } else {
                r.action == XDP_DROP && r.delta.drop(suppressed) == 1
            }
        }
        Want::Reply => out && ev(Event::EchoReply) == 1,
        Want::Deliver => match r.action {
            XDP_TX | XDP_REDIRECT => ev(Event::Encap) + ev(Event::Forwarded) == 1,
            XDP_PASS => ev(Event::FibNoNeigh) + ev(Event::FibPass) == 1,
            _ => false,
        },
        Want::Drop(d) => r.action == XDP_DROP && r.delta.drop(d) == 1,
    };
    ensure!(
        ok,
        "router oracle",
        "expected {want:?}, got {} ({})",
        action_name(r.action),
        r.delta.describe()
    );
    Ok(())
}

/// Checks a 6in4 frame leaving toward a tunnel's client; returns the
/// tunnel and the inner IPv6 packet.
fn outer_ok<'a, 'v>(
    r: &Outcome<'v>,
    out: &'a [u8],
    check_macs: bool,
) -> Result<(&'v TunnelModel, &'a [u8]), Finding> {
    ensure!(
        out.len() >= ETH + IP4 + IP6,
        "emitted frame too short",
        "{} bytes of 6in4",
        out.len()
    );
    let h = &out[ETH..ETH + IP4];
    ensure!(
        h[0] == 0x45,
        "outer ipv4 header",
        "version/ihl {:#04x}",
        h[0]
    );
    ensure!(
        ipv4_header_ok(h),
        "outer ipv4 checksum",
        "header {}",
        hex(h)
    );
    ensure!(
        be16(h, 2) as usize == out.len() - ETH,
        "outer ipv4 total length",
        "total length {} in a frame of {}",
        be16(h, 2),
        out.len()
    );
    ensure!(h[9] == PROTO_6IN4, "outer ipv4 header", "protocol {}", h[9]);
    let Some(t) = r.v.by_outer(&h[12..16], &h[16..20]) else {
        fail!(
            "outer header to no tunnel",
            "{} -> {}",
            hex(&h[12..16]),
            hex(&h[16..20])
        );
    };
    ensure!(
        t.enabled,
        "encapsulated into a disabled tunnel",
        "tunnel {}",
        t.id
    );
    let inner = &out[ETH + IP4..];
    let df = if t.pmtudisc { 0x4000 } else { 0 };
    ensure!(
        be16(h, 6) == df,
        "outer fragment bits",
        "{:#06x}, tunnel {} pmtudisc {}",
        be16(h, 6),
        t.id,
        t.pmtudisc
    );
    if t.pmtudisc {
        ensure!(be16(h, 4) == 0, "outer id", "id {} with DF", be16(h, 4));
    }
    ensure!(
        h[1] == ecn6(inner),
        "outer tos",
        "tos {:#04x}, inner ECN {}",
        h[1],
        ecn6(inner)
    );
    let ttl = if t.ttl == 0 { inner[7] } else { t.ttl };
    ensure!(
        h[8] == ttl,
        "outer ttl",
        "ttl {}, tunnel {} ttl {}, inner hop limit {}",
        h[8],
        t.id,
        t.ttl,
        inner[7]
    );
    if check_macs {
        let macs = (mac(&out[6..12]), mac(&out[0..6]));
        ensure!(
            r.v.macs_v4(&t.remote).contains(&macs),
            "ethernet addresses",
            "{} -> {} toward {}",
            hex(&macs.0),
            hex(&macs.1),
            hex(&t.remote)
        );
    }
    Ok((t, inner))
}

fn mac(b: &[u8]) -> [u8; 6] {
    b[..6].try_into().unwrap()
}

/// The IPv6 packet itself: version and payload length against the frame.
fn ipv6_ok(p: &[u8]) -> Result<(), Finding> {
    ensure!(
        p.len() >= IP6,
        "emitted frame too short",
        "{} bytes of IPv6",
        p.len()
    );
    ensure!(
        p[0] >> 4 == 6,
        "emitted ipv6 version",
        "version {}",
        p[0] >> 4
    );
    ensure!(
        IP6 + be16(p, 4) as usize == p.len(),
        "ipv6 payload length",
        "payload length {} with {} bytes after the header",
        be16(p, 4),
        p.len() - IP6
    );
    Ok(())
}

/// What the frame emitted by an XDP run must be.
fn emitted(r: &Outcome, notes: &mut Notes) -> Result<(), Finding> {
    let out = r.output;
    let sent = r.action != XDP_PASS;
    ensure!(
        out.len() >= ETH,
        "emitted frame too short",
        "{} bytes",
        out.len()
    );
    let (into, inner) = match ethertype(out) {
        ET_IPV4 => {
            let (t, inner) = outer_ok(r, out, sent)?;
            (Some(t), inner)
        }
        ET_IPV6 => (None, &out[ETH..]),
        t => fail!("ethernet type", "emitted with type {t:#06x}"),
    };
    ipv6_ok(inner)?;

    let ev = |e| r.delta.event(e);
    let errors =
        ev(Event::IcmpTimeExceeded) + ev(Event::IcmpPacketTooBig) + ev(Event::IcmpUnreachable);
    let (reply, na) = (ev(Event::EchoReply), ev(Event::NdpAdvertised));
    ensure!(
        errors + reply + na <= 1,
        "more than one answer",
        "{}",
        r.delta.describe()
    );
    if na == 1 {
        return advert_ok(r, into, inner);
    }
    // The IPv6 packet the frame carried: decapsulated, or as received.
    let f = r.input;
    let origin = if ev(Event::Decap) == 1 {
        // The decap oracle has checked that it is acceptable.
        r.v.by_outer(&f[ETH + 16..ETH + 20], &f[ETH + 12..ETH + 16])
    } else {
        None
    };
    let at = match (origin, ethertype(f)) {
        (Some(_), _) => ETH + IP4,
        (None, ET_IPV6) if f.len() >= ETH + IP6 => ETH,
        _ => fail!(
            "emitted from nothing",
            "no IPv6 packet in the input, yet {}",
            action_name(r.action)
        ),
    };
    let seen = Seen {
        full: &f[at..],
        pkt: ip6_packet(f, at),
        origin,
        outer_ecn: f[ETH + 1] & 3,
    };
    // Where it went: back into the tunnel it came from, or to the uplink.
    // A pass leaves the routing to the kernel.
    if errors + reply == 1 && sent {
        ensure!(
            into.map(|t| t.id) == origin.map(|t| t.id),
            "answer sent elsewhere",
            "into tunnel {:?}, came from tunnel {:?}",
            into.map(|t| t.id),
            origin.map(|t| t.id)
        );
    }
    if sent && into.is_none() {
        let macs = (mac(&out[6..12]), mac(&out[0..6]));
        ensure!(
            r.v.macs_v6().contains(&macs),
            "ethernet addresses",
            "{} -> {} toward the upstream",
            hex(&macs.0),
            hex(&macs.1)
        );
    }
    if errors == 1 {
        error_ok(r, &seen, inner, notes)
    } else if reply == 1 {
        reply_ok(&seen, inner, r.v)
    } else {
        forwarded_ok(r, &seen, into, inner)
    }
}

/// The IPv6 packet the program worked on.
struct Seen<'a, 'v> {
    /// From its header to the frame's end.
    full: &'a [u8],
    /// Cut to its payload length.
    pkt: &'a [u8],
    /// The tunnel it was decapsulated from.
    origin: Option<&'v TunnelModel>,
    outer_ecn: u8,
}

fn is_echo_request(p: &[u8]) -> bool {
    p[6] == NH_ICMP6 && p.len() >= IP6 + 2 && p[IP6] == 128 && p[IP6 + 1] == 0
}

fn error_ok(r: &Outcome, s: &Seen, out: &[u8], notes: &mut Notes) -> Result<(), Finding> {
    let (src, dst, body) = (&out[8..24], &out[24..40], &out[IP6..]);
    ensure!(
        out[6] == NH_ICMP6 && body.len() >= 8,
        "icmpv6 error",
        "next header {}, {} bytes",
        out[6],
        body.len()
    );
    ensure!(
        l4_ok(src, dst, NH_ICMP6, body),
        "icmpv6 error checksum",
        "{}",
        hex(out)
    );
    ensure!(
        out.len() <= 1280,
        "icmpv6 error too long",
        "{} bytes",
        out.len()
    );
    ensure!(out[7] == 64, "icmpv6 error", "hop limit {}", out[7]);
    let p = s.pkt;
    ensure!(
        dst == &p[8..24],
        "icmpv6 error",
        "to {} about a packet from {}",
        hex(dst),
        hex(&p[8..24])
    );
    // The quote: the invoking packet from its start, as long as fits.
    let quote = &body[8..];
    // RFC 4443 §2.4: no error about an error, or to a source that cannot
    // take one.
    ensure!(
        !invalid_source(&p[8..24]),
        "icmpv6 error to an invalid source",
        "{}",
        hex(&p[8..24])
    );
    // What the program judged by: the packet as it came from the uplink
    // (to its frame's end), cut to its length after decapsulation or on
    // the way to the PoP's `::1`.
    let (ty, code) = (body[0], body[1]);
    let judged = if s.origin.is_some() || (ty, code) == (1, 4) {
        s.pkt
    } else {
        s.full
    };
    ensure!(
        p[6] != NH_ICMP6 || (judged.len() > IP6 && judged[IP6] >= 128),
        "icmpv6 error about an error",
        "invoking type {:?}",
        judged.get(IP6)
    );
    if judged.len() > s.pkt.len() && quote.len() > s.pkt.len() {
        *notes
            .entry("icmpv6 error about an uplink packet quotes bytes past its payload length")
            .or_default() += 1;
    }
    let fits = |n: usize| quote.len() == n.min(1280 - IP6 - 8);
    ensure!(
        fits(s.pkt.len()) || fits(s.full.len()),
        "icmpv6 error quote",
        "{} bytes quoted of a {}-byte packet",
        quote.len(),
        s.pkt.len()
    );
    let same = quote
        .iter()
        .zip(s.full)
        .enumerate()
        .all(|(i, (a, b))| a == b || (i == 1 && (a ^ b) & !0x30 == 0));
    ensure!(
        same,
        "icmpv6 error quote",
        "the quote is not the invoking packet"
    );

    // Why: the model must give a reason for this error, and its source.
    let dst_t = r.v.owner(&p[24..40]);
    let facing = |t: &TunnelModel| s.origin.unwrap_or(t).pop;
    let ev = |e| r.delta.event(e);
    match (ty, code) {
        (1, 1) => {
            ensure!(
                ev(Event::IcmpUnreachable) == 1,
                "icmpv6 error type",
                "type 1 without icmp_unreachable"
            );
            let Some(t) = dst_t.filter(|t| !t.enabled) else {
                fail!(
                    "unfounded icmpv6 error",
                    "administratively prohibited, destination in no disabled tunnel"
                );
            };
            ensure!(src == facing(t), "icmpv6 error source", "{}", hex(src));
        }
        (1, 4) => {
            ensure!(
                ev(Event::IcmpUnreachable) == 1,
                "icmpv6 error type",
                "type 1 without icmp_unreachable"
            );
            let Some(t) = dst_t.filter(|t| t.enabled && t.pop == p[24..40]) else {
                fail!(
                    "unfounded icmpv6 error",
                    "port unreachable, not to an enabled tunnel's ::1"
                );
            };
            ensure!(
                !is_echo_request(p),
                "unfounded icmpv6 error",
                "port unreachable for an echo request"
            );
            ensure!(src == t.pop, "icmpv6 error source", "{}", hex(src));
        }
        (3, 0) => {
            ensure!(
                ev(Event::IcmpTimeExceeded) == 1,
                "icmpv6 error type",
                "type 3 without icmp_time_exceeded"
            );
            ensure!(
                p[7] <= 1,
                "unfounded icmpv6 error",
                "time exceeded at hop limit {}",
                p[7]
            );
            match dst_t {
                Some(t) => {
                    ensure!(
                        t.enabled && t.pop != p[24..40],
                        "unfounded icmpv6 error",
                        "time exceeded toward tunnel {}",
                        t.id
                    );
                    ensure!(src == facing(t), "icmpv6 error source", "{}", hex(src));
                }
                None => {
                    let Some(o) = s.origin else {
                        fail!(
                            "unfounded icmpv6 error",
                            "time exceeded for an uplink packet to no tunnel"
                        );
                    };
                    ensure!(src == o.pop, "icmpv6 error source", "{}", hex(src));
                }
            }
        }
        (2, 0) => {
            ensure!(
                ev(Event::IcmpPacketTooBig) == 1,
                "icmpv6 error type",
                "type 2 without icmp_packet_too_big"
            );
            let Some(t) = dst_t.filter(|t| t.enabled && t.pop != p[24..40]) else {
                fail!(
                    "unfounded icmpv6 error",
                    "packet too big toward no enabled tunnel"
                );
            };
            let mtu = u32::from_be_bytes(body[4..8].try_into().unwrap());
            ensure!(
                p[7] >= 2 && s.pkt.len() > t.mtu as usize && mtu == t.mtu as u32,
                "unfounded icmpv6 error",
                "packet too big, MTU {mtu}, for {} bytes at hop limit {} into tunnel {} (MTU {})",
                s.pkt.len(),
                p[7],
                t.id,
                t.mtu
            );
            ensure!(src == facing(t), "icmpv6 error source", "{}", hex(src));
        }
        _ => fail!("icmpv6 error type", "type {ty} code {code}"),
    }
    Ok(())
}

fn reply_ok(s: &Seen, out: &[u8], v: &Variant) -> Result<(), Finding> {
    let p = s.pkt;
    let Some(t) = v
        .owner(&p[24..40])
        .filter(|t| t.enabled && t.pop == p[24..40])
    else {
        fail!(
            "unfounded echo reply",
            "the request was not to an enabled tunnel's ::1"
        );
    };
    ensure!(
        is_echo_request(p),
        "unfounded echo reply",
        "not an echo request"
    );
    let body = &out[IP6..];
    ensure!(
        out[6] == NH_ICMP6 && body.len() >= 4 && body[0] == 129 && body[1] == 0,
        "echo reply",
        "{}",
        hex(&out[..out.len().min(48)])
    );
    ensure!(
        out[8..24] == t.pop && out[24..40] == p[8..24] && out[7] == 64,
        "echo reply",
        "addresses or hop limit: {}",
        hex(&out[..40])
    );
    ensure!(
        out.len() == p.len() && body[4..] == p[IP6 + 4..],
        "echo reply",
        "not the request's identifier, sequence and data"
    );
    let was = l4_ok(&p[8..24], &p[24..40], NH_ICMP6, &p[IP6..]);
    let is = l4_ok(&out[8..24], &out[24..40], NH_ICMP6, body);
    ensure!(
        was == is,
        "echo reply checksum",
        "request's checksum right: {was}, reply's: {is}"
    );
    Ok(())
}

fn forwarded_ok(
    r: &Outcome,
    s: &Seen,
    into: Option<&TunnelModel>,
    out: &[u8],
) -> Result<(), Finding> {
    let p = s.pkt;
    let sent = r.action != XDP_PASS;
    ensure!(
        out.len() == p.len(),
        "forwarded packet changed",
        "{} bytes out of {}",
        out.len(),
        p.len()
    );
    let hop = if sent { p[7].wrapping_sub(1) } else { p[7] };
    ensure!(
        !sent || p[7] >= 2,
        "forwarded at hop limit 0",
        "hop limit {}",
        p[7]
    );
    ensure!(
        out[7] == hop,
        "forwarded hop limit",
        "{} from {}",
        out[7],
        p[7]
    );
    let ecn = match s.origin {
        Some(_) => rfc6040(ecn6(p), s.outer_ecn).unwrap_or(255),
        None => ecn6(p),
    };
    ensure!(
        ecn6(out) == ecn,
        "forwarded ecn",
        "{} from inner {}, outer {}",
        ecn6(out),
        ecn6(p),
        s.outer_ecn
    );
    let same = out
        .iter()
        .zip(p)
        .enumerate()
        .all(|(i, (a, b))| a == b || i == 7 || (i == 1 && (a ^ b) & !0x30 == 0));
    ensure!(
        same,
        "forwarded packet changed",
        "bytes other than hop limit and ECN differ"
    );
    if let Some(o) = s.origin {
        ensure!(
            o.owns(&out[8..24]),
            "decapsulated source not its tunnel's",
            "{} from tunnel {}",
            hex(&out[8..24]),
            o.id
        );
    }
    let dst_t = r.v.owner(&p[24..40]);
    match into {
        Some(t) => {
            ensure!(
                dst_t.map(|d| d.id) == Some(t.id),
                "encapsulated into the wrong tunnel",
                "into {} for {}",
                t.id,
                hex(&p[24..40])
            );
            ensure!(
                t.pop != p[24..40],
                "forwarded the pop's own address",
                "tunnel {}",
                t.id
            );
            ensure!(
                p.len() <= t.mtu as usize,
                "encapsulated over the tunnel mtu",
                "{} > {}",
                p.len(),
                t.mtu
            );
        }
        None => {
            ensure!(
                s.origin.is_some(),
                "uplink packet forwarded natively",
                "{}",
                action_name(r.action)
            );
            if sent {
                ensure!(
                    dst_t.is_none(),
                    "tunnel packet forwarded natively",
                    "destination in tunnel {:?}",
                    dst_t.map(|t| t.id)
                );
            }
        }
    }
    Ok(())
}

fn advert_ok(r: &Outcome, into: Option<&TunnelModel>, out: &[u8]) -> Result<(), Finding> {
    let f = r.input;
    ensure!(
        into.is_none() && r.on_x1 && r.action == XDP_TX,
        "neighbour advertisement",
        "sent by {}",
        action_name(r.action)
    );
    let target = &f[62..78];
    let dad = f[22..38].iter().all(|b| *b == 0);
    let (dst, eth_dst) = if dad {
        (&ALL_NODES[..], MAC_ALL_NODES)
    } else {
        (&f[22..38], mac(&f[6..12]))
    };
    let r_out = r.output;
    ensure!(
        r_out[0..6] == eth_dst && r_out[6..12] == X1_MAC,
        "neighbour advertisement",
        "ethernet {} -> {}",
        hex(&r_out[6..12]),
        hex(&r_out[0..6])
    );
    let body = &out[IP6..];
    ensure!(
        out[6] == NH_ICMP6 && out[7] == 255 && body.len() == 32,
        "neighbour advertisement",
        "{}",
        hex(out)
    );
    ensure!(
        &out[8..24] == target && &out[24..40] == dst,
        "neighbour advertisement",
        "addresses {}",
        hex(&out[8..40])
    );
    ensure!(
        l4_ok(&out[8..24], &out[24..40], NH_ICMP6, body),
        "neighbour advertisement checksum",
        "{}",
        hex(out)
    );
    let flags = if dad { 0 } else { 0x40 };
    let mut want = vec![136, 0];
    want.extend_from_slice(&body[2..4]);
    want.extend_from_slice(&[flags, 0, 0, 0]);
    want.extend_from_slice(target);
    want.extend_from_slice(&[2, 1]);
    want.extend_from_slice(&X1_MAC);
    ensure!(
        body == want,
        "neighbour advertisement",
        "{} instead of {}",
        hex(body),
        hex(&want)
    );
    Ok(())
}

fn check_tc(r: &Outcome, notes: &mut Notes) -> Result<(), Finding> {
    let drops = r.delta.total_drops();
    match r.action {
        TC_ACT_SHOT => ensure!(
            drops == 1,
            "drop not counted once",
            "TC_ACT_SHOT, {drops} drops counted"
        ),
        TC_ACT_OK | TC_ACT_REDIRECT => ensure!(
            drops == 0,
            "drop counted without TC_ACT_SHOT",
            "{}, {drops} drops counted",
            tc_action_name(r.action)
        ),
        a => fail!("unexpected TC verdict", "verdict {a} ({:#x})", a),
    }
    let f = r.input;
    let changed = r.output != f;
    // Which verdicts the model allows.
    let dst_t = (ethertype(f) == ET_IPV6 && f.len() >= ETH + IP6)
        .then(|| r.v.owner(&f[38..54]))
        .flatten();
    let allowed: &[u32] = match dst_t {
        None => &[TC_ACT_OK],
        Some(t) if !t.enabled => &[TC_ACT_SHOT],
        Some(t) if f.len() - ETH > t.mtu as usize && r.gso == 0 => &[TC_ACT_SHOT],
        Some(_) => &[TC_ACT_REDIRECT, TC_ACT_SHOT],
    };
    ensure!(
        allowed.contains(&r.action),
        "tc verdict",
        "{} where the model allows {:?} ({})",
        tc_action_name(r.action),
        allowed
            .iter()
            .map(|a| tc_action_name(*a))
            .collect::<Vec<_>>(),
        r.delta.describe()
    );
    if r.action == TC_ACT_OK {
        ensure!(
            !changed,
            "not ours, yet touched",
            "TC_ACT_OK with a changed frame"
        );
    }
    if r.action != TC_ACT_REDIRECT {
        return Ok(());
    }
    ensure!(
        ethertype(r.output) == ET_IPV4,
        "ethernet type",
        "redirected with type {:#06x}",
        ethertype(r.output)
    );
    let resolved = r.delta.event(Event::FibNoNeigh) == 0;
    let (t, inner) = outer_ok(r, r.output, resolved)?;
    ensure!(
        inner == &f[ETH..],
        "forwarded packet changed",
        "the tunnel device's packet differs once encapsulated"
    );
    ensure!(
        dst_t.map(|d| d.id) == Some(t.id),
        "encapsulated into the wrong tunnel",
        "into {}",
        t.id
    );
    ensure!(
        r.delta.event(Event::LocalEncap) == 1,
        "tc counters",
        "local_encap not counted"
    );
    if ipv6_ok(inner).is_err() {
        // The kernel never sends such a packet; a raw socket on the tunnel
        // device could. It goes out as it came.
        let note = "tc: redirected an IPv6 packet with a bad version or payload length, as given";
        *notes.entry(note).or_default() += 1;
    }
    Ok(())
}
