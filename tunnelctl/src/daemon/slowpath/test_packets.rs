//! What the slow path's unit tests build their packets from: the
//! addresses of a translation (an IPv4 host under pool6, a mapped user)
//! and ICMP messages as etherparse makes them, independent of the code
//! under test.

use etherparse::{Icmpv4Type, Icmpv6Type, PacketBuilder};

/// The IPv4 host, and the user's mapped address.
pub const HOST4: [u8; 4] = [192, 0, 2, 2];
pub const USER4: [u8; 4] = [198, 51, 100, 1];
/// 192.0.2.2 under pool6 2001:db8:64::/96, and the user 2001:db8:1::2.
pub const HOST6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2];
pub const USER6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// An ICMPv4 message (host → user) of type `t`, its checksum etherparse's.
pub fn icmp4(t: Icmpv4Type, d: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(HOST4, USER4, 64)
        .icmpv4(t)
        .write(&mut v, d)
        .unwrap();
    v[20..].to_vec()
}

/// An ICMPv6 message of type `t` from `src` to `dst`.
pub fn icmp6(src: [u8; 16], dst: [u8; 16], t: Icmpv6Type, d: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .icmpv6(t)
        .write(&mut v, d)
        .unwrap();
    v[40..].to_vec()
}
