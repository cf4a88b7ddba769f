//! The pinger's echo request, built whole (IPv6 header included: the raw
//! socket sends it as it is, from the tunnel's `::1`, an address the host
//! does not have).

use std::net::Ipv6Addr;

use tunnel_common::pinger::{ECHO_ID, MAGIC, MESSAGE_LEN, TEXT};

const IPV6_LEN: usize = 40;
const NEXT_HEADER_ICMPV6: u8 = 58;
const TYPE_ECHO_REQUEST: u8 = 128;
const HOP_LIMIT: u8 = 64;

/// IPv6 + ICMPv6 echo request from `src` to `dst`, sequence `seq`, sent at
/// `sent_ns` (`CLOCK_BOOTTIME`, the clock the data path stamps replies
/// with).
pub fn echo_request(src: Ipv6Addr, dst: Ipv6Addr, seq: u16, sent_ns: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(IPV6_LEN + MESSAGE_LEN);
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(MESSAGE_LEN as u16).to_be_bytes());
    p.extend_from_slice(&[NEXT_HEADER_ICMPV6, HOP_LIMIT]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[TYPE_ECHO_REQUEST, 0, 0, 0]);
    p.extend_from_slice(&ECHO_ID.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&MAGIC);
    p.extend_from_slice(&sent_ns.to_be_bytes());
    p.extend_from_slice(TEXT);
    let sum = checksum(&src, &dst, &p[IPV6_LEN..]);
    p[IPV6_LEN + 2..IPV6_LEN + 4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The ICMPv6 checksum (RFC 4443 §2.3): over the pseudo-header (RFC 8200
/// §8.1) and the message.
fn checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(msg);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use etherparse::{Icmpv6Type, IpNumber, Ipv6Header};

    use super::*;

    /// etherparse reads it as the echo request it should be, and its own
    /// checksum over the same message agrees.
    #[test]
    fn a_valid_echo_request() {
        let (src, dst): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8:1::1".parse().unwrap(),
            "2001:db8:1::2".parse().unwrap(),
        );
        let p = echo_request(src, dst, 7, 0x0102_0304_0506_0708);
        let (ip, rest) = Ipv6Header::from_slice(&p).unwrap();
        assert_eq!((ip.source_addr(), ip.destination_addr()), (src, dst));
        assert_eq!((ip.next_header, ip.hop_limit), (IpNumber::IPV6_ICMP, 64));
        assert_eq!(ip.payload_length as usize, rest.len());
        let icmp = etherparse::Icmpv6Slice::from_slice(rest).unwrap();
        match icmp.icmp_type() {
            Icmpv6Type::EchoRequest(h) => assert_eq!((h.id, h.seq), (ECHO_ID, 7)),
            t => panic!("{t:?}"),
        }
        let want = icmp
            .header()
            .icmp_type
            .calc_checksum(src.octets(), dst.octets(), icmp.payload())
            .unwrap();
        assert_eq!(icmp.checksum(), want);
        assert_eq!(&icmp.payload()[..8], &MAGIC);
        assert_eq!(
            icmp.payload()[8..16],
            0x0102_0304_0506_0708u64.to_be_bytes()
        );
        assert_eq!(rest.len(), MESSAGE_LEN);
    }
}
