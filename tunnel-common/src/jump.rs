//! Tail calls of the uplink program: the slots of `JUMPS` and the
//! arguments that cross a jump (`JUMP_ARGS`, one per-CPU slot).
//!
//! The uplink's entry program (`tunnel_xdp`) only classifies and jumps;
//! each packet path is a program of its own, verified on its own. A program
//! run on one CPU is never interrupted by another packet on that CPU, so a
//! per-CPU slot written just before a tail call is what the next program
//! reads.

/// NDP proxy (`ndp_proxy`): ICMPv6 Neighbor Solicitations.
pub const JUMP_NDP: u32 = 0;
/// 6in4 decapsulation (`sixin4_decap`): IPv4 protocol 41.
pub const JUMP_SIXIN4_DECAP: u32 = 1;
/// The router into a tunnel (`tunnel_route`): IPv6 whose destination is in
/// a tunnel prefix, from the uplink or out of another tunnel. Encapsulation
/// is chosen there by the tunnel's kind.
pub const JUMP_ROUTE: u32 = 2;
/// ICMPv6 errors and echo replies the PoP sends (`tunnel_icmp`).
pub const JUMP_ICMP: u32 = 3;
/// Reserved for the protocols to come, so that adding one changes no
/// pinned layout: AYIYA decap, heartbeat, NAT64 both ways.
pub const JUMP_AYIYA_DECAP: u32 = 4;
pub const JUMP_HEARTBEAT: u32 = 5;
pub const JUMP_NAT64_6TO4: u32 = 6;
pub const JUMP_NAT64_4TO6: u32 = 7;
/// AYIYA's signature check and what follows it (`ayiya_auth`): a program
/// of its own, entered on one path whatever the outer family or opcode, so
/// the verifier walks the hash once.
pub const JUMP_AYIYA_AUTH: u32 = 8;
/// ICMPv4 errors the NAT64 translator sends back to IPv4 senders
/// (`nat64_icmp4`): `JumpArgs::icmp` says which, `JumpArgs::tunnel` is the
/// tunnel whose local IPv4 address is the error's source.
pub const JUMP_NAT64_ICMP4: u32 = 9;
/// ICMPv4 errors toward an EAM address (`nat64_err_to6`): translated to
/// ICMPv6 with the packet they quote (RFC 7915 §4.2, §4.3); a program of
/// its own, since the new checksum sums the whole message. No arguments.
pub const JUMP_NAT64_ERR_TO6: u32 = 10;
/// ICMPv6 errors toward pool6 (`nat64_err_to4`): translated to ICMPv4
/// with the packet they quote (RFC 7915 §5.2, §5.3). `JumpArgs::origin`
/// is kept from the jump into `nat64_6to4`.
pub const JUMP_NAT64_ERR_TO4: u32 = 11;
/// IPv4 with options toward an EAM (`nat64_options`): RFC 7915 §4.1
/// ignores options, so they are stripped (an unexpired source route is
/// refused) and the packet goes back to `nat64_4to6`. No arguments.
pub const JUMP_NAT64_OPTIONS: u32 = 12;
/// NAT64: IPv6 toward pool6 with Hop-by-Hop, Destination Options or
/// Routing headers, stripped (RFC 7915 §5.1) before `JUMP_NAT64_6TO4`
/// again (`JumpArgs::origin` kept).
pub const JUMP_NAT64_EXT6: u32 = 13;
/// Per-kind encapsulation programs for kinds not built into the router
/// start here (`JUMP_ENCAP_BASE + kind`).
pub const JUMP_ENCAP_BASE: u32 = 16;
/// AYIYA's encapsulation (`ayiya_encap`): signing costs the verifier too
/// much to live in the router's program (or in `tunnel_icmp`, which sends
/// replies and errors into tunnels too).
pub const JUMP_AYIYA_ENCAP: u32 = JUMP_ENCAP_BASE + crate::tunnel::TUNNEL_KIND_AYIYA as u32;
/// Slots of `JUMPS`.
pub const MAX_JUMPS: u32 = 32;

/// `JUMPS_LOCAL` (the TC program's): AYIYA's encapsulation of what the
/// PoP's kernel sends (`ayiya_encap_local`); slots are tunnel kinds.
pub const JUMP_LOCAL_AYIYA_ENCAP: u32 = crate::tunnel::TUNNEL_KIND_AYIYA as u32;
/// Slots of `JUMPS_LOCAL`.
pub const MAX_JUMPS_LOCAL: u32 = 8;

/// `origin` value of a packet that came from the uplink (not a tunnel).
pub const ORIGIN_UPLINK: u32 = u32::MAX;

/// `src_tunnel` (`JUMP_ICMP`) and `tunnel` (`JUMP_NAT64_ICMP4`) value
/// meaning "no tunnel: the NAT64 translator's own source", its RFC 6791
/// IPv4 address (`Nat64Config::icmp_src4`), or that address under pool6
/// for ICMPv6.
pub const SOURCE_NAT64: u32 = u32::MAX - 1;

/// `icmp` value meaning "the packet is already a reply: just send it back".
pub const ICMP_REPLY: u32 = 0;

/// What crosses a jump.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JumpArgs {
    /// The tunnel the packet goes to (`JUMP_ROUTE`).
    pub tunnel: u32,
    /// Where the packet came from: a tunnel id or `ORIGIN_UPLINK`.
    pub origin: u32,
    /// `JUMP_ICMP`: the error to build (type << 24 | code << 16 | MTU), or
    /// `ICMP_REPLY`.
    pub icmp: u32,
    /// `JUMP_ICMP`: the tunnel whose `::1` is the error's source.
    pub src_tunnel: u32,
    /// `JUMP_AYIYA_AUTH`: offset and length of the AYIYA datagram.
    /// `JUMP_ENCAP_BASE + kind`: `data_len` is the IPv6 packet's length.
    pub data_off: u32,
    pub data_len: u32,
    /// `JUMP_ENCAP_BASE + kind` (and `JUMPS_LOCAL`, where only the
    /// traffic class counts): the inner hop limit once decremented (set
    /// when the packet leaves: on a next-hop miss the kernel gets it as it
    /// came) and the inner traffic class (its ECN goes outside).
    pub hop_limit: u8,
    pub tclass: u8,
    /// `JUMP_AYIYA_ENCAP`: the opcode and next header of the AYIYA header
    /// to send; 0 for a packet from the router (op 1, next header 41).
    /// An echo response (op 4) carries the request's payload back as it
    /// came, whatever it is.
    pub ayiya_op: u8,
    pub ayiya_next_header: u8,
}
const _: () = assert!(core::mem::size_of::<JumpArgs>() == 28);
