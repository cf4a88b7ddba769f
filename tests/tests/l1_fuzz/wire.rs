//! Frame layout and checksums, written here independently of the
//! datapath's own code (`tunnel_common::csum`, `addr`), for the mutator
//! (fixing checksums so mutated frames get past the first checks) and the
//! checker (judging what comes out).

pub const ET_IPV4: u16 = 0x0800;
pub const ET_IPV6: u16 = 0x86dd;
pub const ETH: usize = 14;
pub const IP4: usize = 20;
pub const IP6: usize = 40;
pub const PROTO_6IN4: u8 = 41;
pub const NH_TCP: u8 = 6;
pub const NH_UDP: u8 = 17;
pub const NH_ICMP6: u8 = 58;

pub fn be16(f: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([f[off], f[off + 1]])
}

pub fn put16(f: &mut [u8], off: usize, v: u16) {
    f[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

pub fn ethertype(f: &[u8]) -> u16 {
    be16(f, 12)
}

/// RFC 1071 sum of 16-bit big-endian words (an odd last byte padded).
pub fn sum(data: &[u8]) -> u64 {
    let mut s = 0u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        s += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [b] = chunks.remainder() {
        s += (*b as u64) << 8;
    }
    s
}

pub fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Whether an IPv4 header (all of it, checksum included) sums right.
pub fn ipv4_header_ok(h: &[u8]) -> bool {
    fold(sum(h)) == 0xffff
}

/// Sets the checksum of the IPv4 header `h`.
pub fn set_ipv4_checksum(h: &mut [u8]) {
    put16(h, 10, 0);
    let c = !fold(sum(h));
    put16(h, 10, c);
}

fn pseudo(src: &[u8], dst: &[u8], nh: u8, len: usize) -> u64 {
    sum(&src[..16]) + sum(&dst[..16]) + len as u64 + nh as u64
}

/// Whether an upper-layer message `body` (checksum included) from `src`
/// to `dst` sums right (RFC 8200 §8.1).
pub fn l4_ok(src: &[u8], dst: &[u8], nh: u8, body: &[u8]) -> bool {
    fold(pseudo(src, dst, nh, body.len()) + sum(body)) == 0xffff
}

/// Offset of the checksum in an upper-layer header, for the protocols the
/// fuzz fixes and checks.
pub fn l4_checksum_at(nh: u8) -> Option<usize> {
    match nh {
        NH_ICMP6 => Some(2),
        NH_UDP => Some(6),
        NH_TCP => Some(16),
        _ => None,
    }
}

/// Sets the checksum of `body` (an upper-layer message of protocol `nh`).
pub fn set_l4_checksum(src: &[u8], dst: &[u8], nh: u8, body: &mut [u8]) {
    let Some(at) = l4_checksum_at(nh) else { return };
    if body.len() < at + 2 {
        return;
    }
    put16(body, at, 0);
    let mut c = !fold(pseudo(src, dst, nh, body.len()) + sum(body));
    if nh == NH_UDP && c == 0 {
        c = 0xffff;
    }
    put16(body, at, c);
}

/// Where the headers of a frame are, as far as they can be told.
#[derive(Clone, Copy, Default, Debug)]
pub struct Layout {
    /// IPv4 header (Ethernet type IPv4, 20 bytes present).
    pub ip4: Option<usize>,
    /// IPv6 header (Ethernet type IPv6, or after an IPv4 header of
    /// protocol 41), 40 bytes present.
    pub ip6: Option<usize>,
    /// Upper-layer header right after the IPv6 header, and its protocol.
    pub l4: Option<(usize, u8)>,
}

pub fn layout(f: &[u8]) -> Layout {
    let mut l = Layout::default();
    if f.len() < ETH {
        return l;
    }
    match ethertype(f) {
        ET_IPV4 if f.len() >= ETH + IP4 => {
            l.ip4 = Some(ETH);
            let ihl = (f[ETH] & 0xf) as usize * 4;
            if f[ETH + 9] == PROTO_6IN4 && ihl >= IP4 && f.len() >= ETH + ihl + IP6 {
                l.ip6 = Some(ETH + ihl);
            }
        }
        ET_IPV6 if f.len() >= ETH + IP6 => l.ip6 = Some(ETH),
        _ => {}
    }
    if let Some(o) = l.ip6 {
        let nh = f[o + 6];
        if f.len() > o + IP6 {
            l.l4 = Some((o + IP6, nh));
        }
    }
    l
}

/// The IPv6 packet at `o` cut to its payload length (or to the frame's
/// end if the frame is shorter).
pub fn ip6_packet(f: &[u8], o: usize) -> &[u8] {
    let end = (o + IP6 + be16(f, o + 4) as usize).min(f.len());
    &f[o..end]
}

/// RFC 4213 §3.6 sources (multicast, ::/96, ::ffff:0:0/96).
pub fn invalid_source(a: &[u8]) -> bool {
    a[0] == 0xff
        || (a[..10].iter().all(|b| *b == 0)
            && ((a[10] == 0 && a[11] == 0) || (a[10] == 0xff && a[11] == 0xff)))
}

pub fn link_local(a: &[u8]) -> bool {
    a[0] == 0xfe && a[1] & 0xc0 == 0x80
}

pub fn multicast(a: &[u8]) -> bool {
    a[0] == 0xff
}

pub fn solicited_node(a: &[u8]) -> [u8; 16] {
    [
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, a[13], a[14], a[15],
    ]
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
