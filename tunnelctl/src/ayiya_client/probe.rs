//! The liveness probe: an ICMPv6 echo request from our `::2` to the PoP's
//! `::1`, sent straight into the tunnel (not through the tun device), and
//! the matching reply picked out of what comes back. The PoP answers
//! echoes to `::1` itself (sixxsd does, §1.8; so does this project's data
//! path), so a reply proves the whole loop: our signature, our clock, the
//! PoP's address, the way back through any NAT.

use std::net::Ipv6Addr;

use tunnel_common::csum;

/// Our echo identifier: replies with another one are someone else's
/// (a ping the user runs) and go to the tun device as usual.
pub const ECHO_ID: u16 = 0xa1a1;
/// The echo's data, so a reply is recognisably ours.
const MAGIC: &[u8; 16] = b"tunnelctl client";

const ICMPV6: u8 = 58;
const ECHO_REQUEST: u8 = 128;
const ECHO_REPLY: u8 = 129;

/// The echo request, a complete IPv6 packet, sequence number `seq`.
pub fn request(src: Ipv6Addr, dst: Ipv6Addr, seq: u16) -> Vec<u8> {
    let mut icmp = vec![ECHO_REQUEST, 0, 0, 0];
    icmp.extend_from_slice(&ECHO_ID.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(MAGIC);
    let sum = csum::add_bytes(
        csum::pseudo_v6(&src.octets(), &dst.octets(), icmp.len() as u32, ICMPV6),
        &icmp,
    );
    icmp[2..4].copy_from_slice(&(!csum::fold(sum)).to_be_bytes());

    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    p.extend_from_slice(&[ICMPV6, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&icmp);
    p
}

/// The sequence number, if `packet` is the reply to one of our probes:
/// from `pop` to `local`, echo reply, our identifier and data.
pub fn reply_seq(packet: &[u8], pop: Ipv6Addr, local: Ipv6Addr) -> Option<u16> {
    let (ip, icmp) = packet.split_at_checked(40)?;
    if ip[6] != ICMPV6 || ip[8..24] != pop.octets() || ip[24..40] != local.octets() {
        return None;
    }
    if icmp.len() != 8 + MAGIC.len()
        || icmp[0] != ECHO_REPLY
        || icmp[1] != 0
        || icmp[4..6] != ECHO_ID.to_be_bytes()
        || &icmp[8..] != MAGIC
    {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

#[cfg(test)]
mod tests {
    use etherparse::{IcmpEchoHeader, Icmpv6Type, PacketBuilder, SlicedPacket, TransportSlice};

    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// The request parses (etherparse) with a valid checksum, and the
    /// reply etherparse builds for it is recognised; others are not.
    #[test]
    fn request_and_reply() {
        let (us, pop) = (a("2001:db8:1::2"), a("2001:db8:1::1"));
        let req = request(us, pop, 7);
        let s = SlicedPacket::from_ip(&req).unwrap();
        let Some(TransportSlice::Icmpv6(icmp)) = s.transport else {
            panic!("not icmpv6")
        };
        assert_eq!(
            icmp.icmp_type(),
            Icmpv6Type::EchoRequest(IcmpEchoHeader {
                id: ECHO_ID,
                seq: 7
            })
        );
        let want = icmp
            .header()
            .icmp_type
            .calc_checksum(us.octets(), pop.octets(), icmp.payload())
            .unwrap();
        assert_eq!(icmp.checksum(), want);

        let reply = |src: Ipv6Addr, id: u16, data: &[u8]| {
            let b = PacketBuilder::ipv6(src.octets(), us.octets(), 64).icmpv6_echo_reply(id, 7);
            let mut v = Vec::new();
            b.write(&mut v, data).unwrap();
            v
        };
        assert_eq!(reply_seq(&reply(pop, ECHO_ID, MAGIC), pop, us), Some(7));
        assert_eq!(reply_seq(&reply(pop, 1, MAGIC), pop, us), None);
        assert_eq!(
            reply_seq(&reply(a("2001:db8::9"), ECHO_ID, MAGIC), pop, us),
            None
        );
        assert_eq!(
            reply_seq(&reply(pop, ECHO_ID, b"someone else"), pop, us),
            None
        );
        // Our own request is not a reply.
        assert_eq!(reply_seq(&req, us, pop), None);
        for len in 0..req.len() {
            assert_eq!(reply_seq(&reply(pop, ECHO_ID, MAGIC)[..len], pop, us), None);
        }
    }
}
