//! What a path decides: an action, or where the packet goes next. Its own
//! module so that `jump` (which turns a `Step` into a tail call) and the
//! router (which makes them) do not import each other.

use crate::{icmp6::IcmpError, nat64::icmp4::Icmp4Error, tunnel::Origin};

/// The outcome of a path: an action, or where the packet goes next (the
/// entry turns those into tail calls).
pub enum Step {
    Done(u32),
    /// Into tunnel `id`: the router program (`tunnel_route`).
    ToTunnel {
        id: u32,
        origin: Origin,
    },
    /// An ICMPv6 error still to build and send back to where the packet
    /// came from. `src_tunnel` is the tunnel whose `::1` is its source.
    Icmp {
        kind: IcmpError,
        src_tunnel: u32,
        origin: Origin,
    },
    /// The packet has been turned into a reply; send it back.
    Reply {
        origin: Origin,
    },
    /// IPv6 toward pool6: the NAT64 translator's program (`nat64_6to4`).
    Translate {
        origin: Origin,
    },
    /// To program `slot` of `JUMPS`, which re-parses what it needs.
    Hand(u32),
    /// An ICMPv4 error the translator sends back to the IPv4 packet's
    /// sender, from tunnel `tunnel`'s local address (`nat64_icmp4`).
    Icmp4 {
        kind: Icmp4Error,
        tunnel: u32,
    },
}
