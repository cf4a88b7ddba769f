//! A userspace 6in4 tunnel client (what `ip tunnel add … mode sit` would
//! be, for a host kernel without sit): a tun device carries the IPv6 side,
//! a raw IPv4 socket of protocol 41 the tunnel side.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use anyhow::{bail, Context, Result};

use crate::netns::Netns;

/// Counters of the peer, readable while it runs.
#[derive(Default)]
pub struct PeerStats {
    /// IPv6 packets sent into the tunnel.
    pub encapsulated: AtomicU64,
    /// IPv6 packets received from the tunnel.
    pub decapsulated: AtomicU64,
}

pub struct Peer6in4 {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
    pub stats: Arc<PeerStats>,
}

pub struct PeerConfig<'a> {
    pub ifname: &'a str,
    pub local: Ipv4Addr,
    pub remote: Ipv4Addr,
    /// Address with prefix length, e.g. `2001:db8:1::2/64`.
    pub address: &'a str,
    pub mtu: u16,
}

impl Peer6in4 {
    /// Creates the tun device in `ns`, gives it `address` and a default
    /// route, and starts relaying.
    pub fn start(ns: &Netns, cfg: &PeerConfig) -> Result<Self> {
        let (tun, sock) = {
            let _in = ns.enter()?;
            (open_tun(cfg.ifname)?, raw_socket(cfg.local, cfg.remote)?)
        };
        ns.ip(&format!("link set {} up mtu {}", cfg.ifname, cfg.mtu))?;
        ns.ip(&format!(
            "-6 addr add {} dev {} nodad",
            cfg.address, cfg.ifname
        ))?;
        ns.ip(&format!("-6 route add default dev {}", cfg.ifname))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(PeerStats::default());
        let (s, st) = (stop.clone(), stats.clone());
        let thread = std::thread::spawn(move || relay(tun, sock, &s, &st));
        Ok(Self {
            stop,
            thread: Some(thread),
            stats,
        })
    }

    /// Stops relaying; returns the relay's error, if it had one.
    pub fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map_or(Ok(()), |t| t.join().expect("peer thread panicked"))
    }
}

impl Drop for Peer6in4 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn relay(mut tun: File, sock: OwnedFd, stop: &AtomicBool, stats: &PeerStats) -> Result<()> {
    let mut buf = vec![0u8; 65536];
    let mut fds = [
        libc::pollfd {
            fd: tun.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `fds` is a valid array of two pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 50) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            bail!("poll: {e}");
        }
        if fds[0].revents & libc::POLLIN != 0 {
            let len = tun.read(&mut buf).context("reading tun")?;
            // SAFETY: valid fd and buffer; the kernel adds the IPv4 header.
            let sent = unsafe { libc::send(sock.as_raw_fd(), buf.as_ptr().cast(), len, 0) };
            if sent >= 0 {
                stats.encapsulated.fetch_add(1, Ordering::Relaxed);
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            // SAFETY: valid fd and buffer.
            let len =
                unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if len < 20 {
                continue;
            }
            // Raw IPv4 sockets deliver the IPv4 header too.
            let ihl = (buf[0] & 0x0f) as usize * 4;
            if (len as usize) > ihl && tun.write(&buf[ihl..len as usize]).is_ok() {
                stats.decapsulated.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

fn open_tun(name: &str) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .context("/dev/net/tun")?;
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    if name.len() >= libc::IFNAMSIZ {
        bail!("interface name {name} too long");
    }
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF takes a struct ifreq, which IfReq lays out.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
        bail!("TUNSETIFF {name}: {}", std::io::Error::last_os_error());
    }
    Ok(f)
}

fn raw_socket(local: Ipv4Addr, remote: Ipv4Addr) -> Result<OwnedFd> {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 41) };
    if fd < 0 {
        bail!("raw socket: {}", std::io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    for (addr, connect) in [(local, false), (remote, true)] {
        let sa = sockaddr(SocketAddrV4::new(addr, 0));
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        // SAFETY: valid sockaddr_in of the given length.
        let rc = unsafe {
            if connect {
                libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), len)
            } else {
                libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), len)
            }
        };
        if rc < 0 {
            bail!(
                "{} {addr}: {}",
                if connect { "connect" } else { "bind" },
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(sock)
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}
