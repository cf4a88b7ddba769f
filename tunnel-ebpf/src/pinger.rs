//! Replies to the daemon's latency pinger (`tunnel_common::pinger`): an
//! echo reply to a tunnel's `::1` from that tunnel's own user, carrying
//! the pinger's identifier and magic, has its round trip stamped into
//! `PINGS` and goes no further. The daemon matches the sequence number to
//! what it sent; a reply to an older request is simply stale there.

use network_types::ip::Ipv6Hdr;
use tunnel_common::{
    pinger::{PingReply, ECHO_ID, MAGIC, OFF_ID, OFF_MAGIC, OFF_SENT, OFF_SEQ},
    stats::Event,
};

use crate::{
    icmp6::{NEXT_HEADER_ICMPV6, TYPE_ECHO_REPLY},
    maps::PINGS,
    packet::{boot_ns, with_slot, Packet, ETH_LEN, IPV6_LEN},
    stats,
};

/// Whether the packet (Ethernet + IPv6, to tunnel `id`'s `::1` from its
/// user) was a pinger reply, now taken.
#[inline(always)]
pub fn take_reply(pkt: Packet, id: u32) -> bool {
    let Ok(ip6) = pkt.view::<Ipv6Hdr>(ETH_LEN) else {
        return false;
    };
    if ip6.next_hdr != NEXT_HEADER_ICMPV6 {
        return false;
    }
    let Ok(m) = pkt.read::<[u8; OFF_SENT + 8]>(ETH_LEN + IPV6_LEN) else {
        return false;
    };
    if m[0] != TYPE_ECHO_REPLY
        || m[1] != 0
        || u16::from_be_bytes([m[OFF_ID], m[OFF_ID + 1]]) != ECHO_ID
        || !magic_at(&m)
    {
        return false;
    }
    let mut sent = [0u8; 8];
    sent.copy_from_slice(&m[OFF_SENT..OFF_SENT + 8]);
    let reply = PingReply {
        seq: u16::from_be_bytes([m[OFF_SEQ], m[OFF_SEQ + 1]]),
        _pad: [0; 6],
        rtt_ns: boot_ns().saturating_sub(u64::from_be_bytes(sent)),
    };
    // A plain store: the last reply wins (the daemon reads the slot once
    // per request it sent).
    with_slot(PINGS.get_ptr_mut(id), |s| *s = reply);
    stats::event(Event::PingReply);
    true
}

#[inline(always)]
fn magic_at(m: &[u8; OFF_SENT + 8]) -> bool {
    let mut i = 0;
    while i < MAGIC.len() {
        if m[OFF_MAGIC + i] != MAGIC[i] {
            return false;
        }
        i += 1;
    }
    true
}
