//! The tunnel's outer side: a raw IPv4 socket of protocol 41. Sending, the
//! kernel writes the IPv4 header (source from its routes, protocol 41);
//! receiving, it hands over whole IPv4 packets of protocol 41 (reassembled),
//! from anyone: [`inner`] keeps only the PoP's and strips their header.
//! Non-blocking, driven by tokio's readiness.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// IP protocol 41: IPv6 in IPv4 (RFC 4213).
pub const PROTO_IPV6: i32 = 41;

pub struct Raw {
    /// The raw socket, driven through tokio's datagram socket type: its
    /// `sendto`/`recvfrom` are the calls a raw socket takes too (the port
    /// is ignored), and tokio registers it without unsafe code of ours.
    sock: UdpSocket,
    pop: SocketAddr,
}

impl Raw {
    /// Opens the socket (root or CAP_NET_RAW) toward `pop`. Must run inside
    /// a tokio runtime.
    pub fn open(pop: Ipv4Addr) -> Result<Self> {
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(PROTO_IPV6)))
            .context("a raw IPv4 socket of protocol 41 (root or CAP_NET_RAW needed)")?;
        s.set_nonblocking(true)?;
        s.set_cloexec(true)?;
        Ok(Self {
            sock: UdpSocket::from_std(std::net::UdpSocket::from(s))?,
            pop: SocketAddr::V4(SocketAddrV4::new(pop, 0)),
        })
    }

    /// Sends one IPv6 packet to the PoP.
    pub async fn send(&self, packet: &[u8]) -> std::io::Result<()> {
        self.sock.send_to(packet, self.pop).await.map(|_| ())
    }

    /// Receives one IPv4 packet (header included) into `buf`; its length.
    pub async fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.sock.recv(buf).await
    }
}

/// Why a received packet did not go to the tun device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotInner {
    /// Not from the PoP's address: anyone can send proto-41 to a host.
    NotFromPop,
    /// Not an IPv4 header followed by an IPv6 packet of the length it
    /// says.
    Malformed,
}

/// The IPv6 packet inside `packet` (IPv4, protocol 41), if it comes from
/// `pop`.
pub fn inner(packet: &[u8], pop: Ipv4Addr) -> Result<&[u8], NotInner> {
    let v = packet.first().ok_or(NotInner::Malformed)?;
    let ihl = usize::from(v & 0x0f) * 4;
    if v >> 4 != 4 || ihl < 20 || packet.len() < ihl {
        return Err(NotInner::Malformed);
    }
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if packet[12..16] != pop.octets() {
        return Err(NotInner::NotFromPop);
    }
    let end = total.min(packet.len());
    let ip6 = packet.get(ihl..end).ok_or(NotInner::Malformed)?;
    // The IPv6 header's own length: what follows it in the IPv4 payload
    // is padding (RFC 4213 §3.6).
    if ip6.len() < 40 || ip6[0] >> 4 != 6 {
        return Err(NotInner::Malformed);
    }
    let len = 40 + usize::from(u16::from_be_bytes([ip6[4], ip6[5]]));
    ip6.get(..len).ok_or(NotInner::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn packet(src: Ipv4Addr, inner: &[u8], pad: usize) -> Vec<u8> {
        let total = 20 + inner.len() + pad;
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 41, 0, 0];
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&[198, 51, 100, 2]);
        p.extend_from_slice(inner);
        p.resize(total, 0xee);
        p
    }

    fn ipv6(payload: usize) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(payload as u16).to_be_bytes());
        p.extend_from_slice(&[59, 64]);
        p.resize(40 + payload, 0xab);
        p
    }

    #[test]
    fn the_pops_packets_are_stripped_others_refused() {
        let six = ipv6(8);
        assert_eq!(inner(&packet(POP, &six, 0), POP), Ok(&six[..]));
        // Padding after the IPv6 packet is not passed on.
        assert_eq!(inner(&packet(POP, &six, 6), POP), Ok(&six[..]));
        let other = Ipv4Addr::new(203, 0, 113, 9);
        assert_eq!(
            inner(&packet(other, &six, 0), POP),
            Err(NotInner::NotFromPop)
        );
        let mut v4in = packet(POP, &six, 0);
        v4in[20] = 0x45;
        assert_eq!(inner(&v4in, POP), Err(NotInner::Malformed));
        // Every truncation is refused, never a panic.
        let full = packet(POP, &six, 0);
        for n in 0..full.len() {
            assert!(inner(&full[..n], POP).is_err(), "{n}");
        }
        // An IPv6 length past the end.
        let mut long = packet(POP, &six, 0);
        long[24..26].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(inner(&long, POP), Err(NotInner::Malformed));
        // Options in the IPv4 header.
        let mut opts = packet(POP, &six, 0);
        opts[0] = 0x46;
        opts.splice(20..20, [1, 1, 1, 0]);
        let total = (opts.len() as u16).to_be_bytes();
        opts[2..4].copy_from_slice(&total);
        assert_eq!(inner(&opts, POP), Ok(&six[..]));
    }
}
