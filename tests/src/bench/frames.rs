//! The frames the generator sends, one template per path: the smallest
//! realistic ones (UDP, no payload): 62 B IPv6, 82 B 6in4. AYIYA at the
//! issue's two inner sizes (64 and 1280 B), each decap datagram signed
//! with the host-side signer in many variants (`Inner`, `Bed::frame_ayiya_decap`).

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{EtherType, IpNumber, Ipv6Header, UdpHeader};
use tunnel_common::{
    ayiya::{
        self,
        sign::{encode, Key},
        AyiyaHdr,
    },
    tunnel::{Endpoint, ENDPOINT_V4, ENDPOINT_VIA_AYIYA},
};
use tunnelctl::{Ipv6Prefix, Tunnel};

use super::topology::{tunnel, Bed, INTERNET_V6, POP_V4, SINK_V6, TUN_A};
use crate::packets::{eth, ipv6, sixin4, udp4, udp6 as udp6_addr, V4};

/// IPv6 + empty UDP, hop limit 64, checksum set.
fn udp6(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let h = Ipv6Header {
        payload_length: 8,
        next_header: IpNumber::UDP,
        hop_limit: 64,
        source: src.octets(),
        destination: dst.octets(),
        ..Default::default()
    };
    let udp = UdpHeader::with_ipv6_checksum(40000, 9, &h, &[]).expect("8-byte UDP");
    ipv6(src, dst, 64, IpNumber::UDP, &udp.to_bytes())
}

impl Bed {
    fn to_dut(&self, ether_type: EtherType, payload: &[u8]) -> Vec<u8> {
        eth(self.gen_mac, self.dut_in_mac, ether_type, payload)
    }

    /// Plain IPv6 from the Internet side to the sink (baselines).
    pub fn frame_plain(&self) -> Vec<u8> {
        self.to_dut(EtherType::IPV6, &udp6(INTERNET_V6, SINK_V6))
    }

    /// 6in4 from tunnel `id`'s user, inner packet to `inner_dst`.
    pub fn frame_from_tunnel(&self, id: u32, inner_dst: Ipv6Addr) -> Vec<u8> {
        self.frame_from(&tunnel(id), inner_dst)
    }

    /// 6in4 from the user of `t` (any table's tunnel), inner packet to
    /// `inner_dst`.
    pub fn frame_from(&self, t: &Tunnel, inner_dst: Ipv6Addr) -> Vec<u8> {
        let inner = udp6(t.user_address(), inner_dst);
        self.to_dut(EtherType::IPV4, &sixin4(V4::new(t.remote, t.local), &inner))
    }

    /// Decap, the inner packet routed back out of the uplink (XDP_TX).
    pub fn frame_decap_tx(&self) -> Vec<u8> {
        self.frame_from_tunnel(TUN_A, INTERNET_V6)
    }

    /// Decap, the inner packet routed to the sink link (redirect).
    pub fn frame_decap_redirect(&self) -> Vec<u8> {
        self.frame_from_tunnel(TUN_A, SINK_V6)
    }

    /// IPv6 from the Internet to tunnel `id`'s user.
    pub fn frame_to_tunnel(&self, id: u32) -> Vec<u8> {
        self.to_dut(
            EtherType::IPV6,
            &udp6(INTERNET_V6, tunnel(id).user_address()),
        )
    }

    /// Tunnel A's user to tunnel `id`'s user.
    pub fn frame_t2t(&self, id: u32) -> Vec<u8> {
        self.frame_from_tunnel(TUN_A, tunnel(id).user_address())
    }

    /// 6in4 from a remote that is no tunnel's (203.0.113.255, never used).
    pub fn frame_unknown_tunnel(&self) -> Vec<u8> {
        let t = tunnel(TUN_A);
        let inner = udp6(t.user_address(), INTERNET_V6);
        let remote = std::net::Ipv4Addr::new(203, 0, 113, 255);
        self.to_dut(EtherType::IPV4, &sixin4(V4::new(remote, t.local), &inner))
    }

    /// The far tunnel: the last one loaded (encap and t2t target).
    pub fn tun_b(&self) -> u32 {
        self.tunnels - 1
    }
}

/// The inner packet sizes the AYIYA paths are measured at (the issue's:
/// sixxsd's figures are for 64- and 1280-byte inner packets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inner {
    B64,
    B1280,
}

impl Inner {
    pub const ALL: [Inner; 2] = [Inner::B64, Inner::B1280];

    /// The inner IPv6 packet's length, header included.
    pub const fn bytes(self) -> usize {
        match self {
            Inner::B64 => 64,
            Inner::B1280 => 1280,
        }
    }

    /// SHA-1 blocks one AYIYA datagram of this inner packet hashes.
    pub const fn blocks(self) -> usize {
        sha1_blocks(ayiya::HEADER_LEN + self.bytes())
    }
}

/// 64-byte blocks SHA-1 runs over `len` bytes: the message, the 0x80
/// byte and the 8-byte length, padded to a block (ayiya-spec.md §1.3).
pub const fn sha1_blocks(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

/// (cost at 1280 B − cost at 64 B) / the blocks between them: what one
/// more 64-byte SHA-1 block costs (the rest of the path is the same at
/// both sizes, apart from copying bytes around).
pub fn per_block(ns_64: f64, ns_1280: f64) -> f64 {
    (ns_1280 - ns_64) / (Inner::B1280.blocks() - Inner::B64.blocks()) as f64
}

/// The bench's AYIYA tunnel: its own /64 (outside the 6in4 tunnels'
/// 2001:db8:1000::/39), a password of its own.
pub const AYIYA_PREFIX: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x2ff, 1, 0, 0, 0, 0);
const AYIYA_PASSWORD: &str = "tunnel-pop bench ayiya";
/// Where its user sends from (a NAT's address and port); routed back out
/// of the uplink, so encapsulated packets leave by XDP_TX.
pub const AYIYA_CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 200);
pub const AYIYA_CLIENT_PORT: u16 = 51680;
/// Bytes of a decap frame that differ between variants: Ethernet, outer
/// IPv4 and UDP (checksum), the AYIYA header (signature), inner IPv6 and
/// UDP (checksum), the variant's 4 payload bytes. The rest is the same in
/// every variant of a size (`decap_variants` checks it).
pub const AYIYA_VARIED: usize = 14 + 20 + 8 + ayiya::HEADER_LEN + 40 + 8 + 4;

pub fn ayiya_key() -> Key {
    Key::from_password(AYIYA_PASSWORD)
}

pub fn ayiya_tunnel() -> Tunnel {
    Tunnel::ayiya(
        Ipv6Prefix::new(AYIYA_PREFIX, 64).expect("a /64 without host bits"),
        ayiya_key().0,
    )
}

/// What the data path learns from the user's datagrams (and the bench
/// installs before any encap): the client's address and port, the PoP's.
pub fn ayiya_endpoint() -> Endpoint {
    let mapped = |a: Ipv4Addr| a.to_ipv6_mapped().octets();
    Endpoint {
        remote: mapped(AYIYA_CLIENT),
        local: mapped(POP_V4),
        remote_port: AYIYA_CLIENT_PORT.to_be_bytes(),
        local_port: ayiya::PORT.to_be_bytes(),
        family: ENDPOINT_V4,
        via: ENDPOINT_VIA_AYIYA,
        ..Endpoint::default()
    }
}

/// IPv6 + UDP of `size` bytes in all, `variant` in the first 4 payload
/// bytes, the rest a fixed pattern; checksums set.
pub fn udp6_sized(src: Ipv6Addr, dst: Ipv6Addr, size: usize, variant: u32) -> Vec<u8> {
    assert!(size >= 48 + 4, "room for the variant");
    let mut payload: Vec<u8> = (0..size - 48).map(|i| (i * 7 + 3) as u8).collect();
    payload[..4].copy_from_slice(&variant.to_be_bytes());
    udp6_addr((src, 40000), (dst, 9), &payload)
}

/// An op-1 datagram from the AYIYA tunnel's user over IPv4 to the PoP,
/// signed at `epoch`: inner UDP to the Internet side (decapsulated and sent
/// back out of the uplink, XDP_TX), `variant` in its payload so that every
/// variant has a signature of its own (the replay guard drops repeats).
pub fn ayiya_decap_packet(inner: Inner, epoch: u32, variant: u32) -> Vec<u8> {
    let user = ayiya_tunnel().user_address();
    let packet = udp6_sized(user, INTERNET_V6, inner.bytes(), variant);
    let h = AyiyaHdr::new(ayiya::OP_FORWARD, ayiya::NH_IPV6, epoch, user.octets());
    let datagram = encode(&h, &packet, &ayiya_key());
    udp4(
        (AYIYA_CLIENT, AYIYA_CLIENT_PORT),
        (POP_V4, ayiya::PORT),
        &datagram,
    )
}

impl Bed {
    /// The AYIYA tunnel's slot: the one after the 6in4 tunnels.
    pub fn ayiya_id(&self) -> u32 {
        self.tunnels
    }

    /// [`ayiya_decap_packet`] from the generator to the dut.
    pub fn frame_ayiya_decap(&self, inner: Inner, epoch: u32, variant: u32) -> Vec<u8> {
        self.to_dut(EtherType::IPV4, &ayiya_decap_packet(inner, epoch, variant))
    }

    /// `variants` decap frames of one size, each with a signature of its
    /// own: the first whole (what a test run starts from) and the first
    /// [`AYIYA_VARIED`] bytes of every one (what the rotating generator
    /// writes over the previous frame). Fails if any two differed after
    /// those bytes.
    pub fn ayiya_decap_variants(
        &self,
        inner: Inner,
        epoch: u32,
        variants: std::ops::Range<u32>,
    ) -> anyhow::Result<(Vec<u8>, Vec<Vec<u8>>)> {
        let first = self.frame_ayiya_decap(inner, epoch, variants.start);
        let mut heads = Vec::with_capacity(variants.len());
        for v in variants {
            let f = self.frame_ayiya_decap(inner, epoch, v);
            if f.len() != first.len() || f[AYIYA_VARIED..] != first[AYIYA_VARIED..] {
                anyhow::bail!("AYIYA variant {v} differs after byte {AYIYA_VARIED}");
            }
            heads.push(f[..AYIYA_VARIED].to_vec());
        }
        Ok((first, heads))
    }

    /// IPv6 of `inner` bytes from the Internet to the AYIYA tunnel's user.
    pub fn frame_to_ayiya(&self, inner: Inner) -> Vec<u8> {
        let user = ayiya_tunnel().user_address();
        self.to_dut(
            EtherType::IPV6,
            &udp6_sized(INTERNET_V6, user, inner.bytes(), 0),
        )
    }

    /// Plain IPv6 of `inner` bytes (the sized XDP_TX baseline).
    pub fn frame_plain_sized(&self, inner: Inner) -> Vec<u8> {
        self.to_dut(
            EtherType::IPV6,
            &udp6_sized(INTERNET_V6, SINK_V6, inner.bytes(), 0),
        )
    }
}

#[cfg(test)]
mod tests {
    use tunnel_common::ayiya::sign::verify;

    use super::*;

    const EPOCH: u32 = 1_700_000_000;

    /// ayiya-spec.md §1.3: "21 blocks for a 1280-byte inner packet and 24
    /// for 1428"; a 64-byte one fits 108 bytes into two.
    #[test]
    fn sha1_blocks_as_the_spec_counts() {
        assert_eq!(Inner::B1280.blocks(), 21);
        assert_eq!(sha1_blocks(ayiya::HEADER_LEN + 1428), 24);
        assert_eq!(Inner::B64.blocks(), 2);
        // 55 bytes still fit one block with the padding, 56 do not.
        assert_eq!((sha1_blocks(55), sha1_blocks(56)), (1, 2));
        assert_eq!(per_block(1000.0, 2900.0), 100.0);
    }

    /// What the generator sends: the host signer's verify takes every
    /// variant at the epoch, the signatures differ, the inner packet is as
    /// long as asked, and the variants differ only in their first
    /// `AYIYA_VARIED` bytes.
    #[test]
    fn decap_datagrams_verify_and_differ_only_in_the_head() {
        for inner in Inner::ALL {
            let a = ayiya_decap_packet(inner, EPOCH, 0);
            let b = ayiya_decap_packet(inner, EPOCH, 1);
            let mut sigs = Vec::new();
            for p in [&a, &b] {
                // IPv4 (20) + UDP (8), then the datagram.
                assert_eq!(p.len(), 28 + ayiya::HEADER_LEN + inner.bytes());
                assert_eq!(u16::from_be_bytes([p[22], p[23]]), ayiya::PORT);
                let d = verify(&p[28..], &ayiya_key(), EPOCH).expect("signed right");
                assert_eq!(d.payload().len(), inner.bytes());
                assert_eq!(
                    d.identity(),
                    &ayiya_tunnel().user_address().octets(),
                    "the user's ::2"
                );
                sigs.push(d.header().signature);
            }
            assert_ne!(sigs[0], sigs[1], "{inner:?}: one signature per variant");
            assert!(verify(&a[28..], &Key::from_password("other"), EPOCH).is_err());
            // The frame adds 14 bytes of Ethernet in front.
            assert_eq!(a[AYIYA_VARIED - 14..], b[AYIYA_VARIED - 14..]);
            assert_ne!(a[AYIYA_VARIED - 18..], b[AYIYA_VARIED - 18..]);
        }
    }

    #[test]
    fn sized_packets() {
        let (s, d) = (INTERNET_V6, AYIYA_PREFIX);
        for n in [52, 64, 1280] {
            let p = udp6_sized(s, d, n, 7);
            assert_eq!(p.len(), n);
            assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), n - 40);
            assert_eq!(p[48..52], 7u32.to_be_bytes());
        }
    }
}
