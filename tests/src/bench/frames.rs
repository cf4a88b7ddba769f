//! The frames the generator sends, one template per path: the smallest
//! realistic ones (UDP, no payload): 62 B IPv6, 82 B 6in4.

use std::net::Ipv6Addr;

use etherparse::{EtherType, IpNumber, Ipv6Header, UdpHeader};
use tunnelctl::Tunnel;

use super::topology::{tunnel, Bed, INTERNET_V6, SINK_V6, TUN_A};
use crate::packets::{eth, ipv6, sixin4, V4};

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
