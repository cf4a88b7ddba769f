//! The heartbeat socket: UDP on IPv4, with `IP_PKTINFO` so that each beat
//! comes with the PoP address it was sent to (a PoP listening on
//! `0.0.0.0:3740` has several; a beat counts only for the tunnel whose
//! `local` it reached). Through `nix`'s safe `recvmsg`, driven by tokio's
//! readiness.

use std::{
    io::IoSliceMut,
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::AsRawFd,
};

use anyhow::{Context, Result};
use nix::sys::socket::{
    recvmsg, setsockopt, sockopt::Ipv4PacketInfo, ControlMessageOwned, MsgFlags, SockaddrIn,
};
use tokio::{io::Interest, net::UdpSocket};

/// Binds `addr` (`heartbeat_listen`), before the daemon changes anything,
/// so that a port in use stops a start early. Turned into a tokio socket
/// with [`into_tokio`] once the runtime runs.
pub fn bind(addr: &str) -> Result<std::net::UdpSocket> {
    let a: SocketAddrV4 = addr
        .parse()
        .with_context(|| format!("heartbeat_listen {addr}"))?;
    let s = std::net::UdpSocket::bind(a).with_context(|| format!("heartbeat_listen {addr}"))?;
    s.set_nonblocking(true)?;
    setsockopt(&s, Ipv4PacketInfo, &true).context("IP_PKTINFO on the heartbeat socket")?;
    Ok(s)
}

pub fn into_tokio(s: std::net::UdpSocket) -> Result<UdpSocket> {
    Ok(UdpSocket::from_std(s)?)
}

/// One datagram: its length in `buf` (cut to `buf`'s size), its source,
/// and the address it was sent to (`None` if the kernel gave none).
pub struct Received {
    pub len: usize,
    pub source: SocketAddrV4,
    pub dest: Option<Ipv4Addr>,
}

pub async fn recv(sock: &UdpSocket, buf: &mut [u8]) -> std::io::Result<Received> {
    sock.async_io(Interest::READABLE, || {
        let fd = sock.as_raw_fd();
        let mut iov = [IoSliceMut::new(buf)];
        let mut cmsg = nix::cmsg_space!(nix::libc::in_pktinfo);
        let msg = recvmsg::<SockaddrIn>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)
            .map_err(std::io::Error::from)?;
        let mut dest = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::Ipv4PacketInfo(pi) = c {
                    // The header's destination, network order.
                    dest = Some(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr)));
                }
            }
        }
        let source = msg
            .address
            .map(|a| SocketAddrV4::new(a.ip(), a.port()))
            .ok_or_else(|| std::io::Error::other("a datagram without a source address"))?;
        Ok(Received {
            len: msg.bytes,
            source,
            dest,
        })
    })
    .await
}
