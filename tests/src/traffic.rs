//! Traffic for the L2 tests and the demo: the client's 6in4 peer, ping6
//! runs, and a TCP bulk transfer checked end to end by a hash. Shared so the
//! demo shows exactly what the tests assert.

use std::{
    io::{ErrorKind, Read, Write},
    net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    netns::Netns,
    peer6in4::{Peer6in4, PeerConfig},
    topology::{Testbed, CLIENT_V4, POP_V4},
};

/// Interface name of the client's tunnel device.
pub const TUN: &str = "tun6in4";
/// Bound on every blocking step of a transfer, so a broken data path fails
/// the test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts the client's 6in4 peer with the tunnel's `::2/64` on a tun device
/// of MTU `tun_mtu` (normally the tunnel MTU; tests vary it on purpose).
pub fn start_client_peer(tb: &Testbed, tun_mtu: u16) -> Result<Peer6in4> {
    let addr = format!("{}/64", tb.user_address());
    let cfg = PeerConfig {
        ifname: TUN,
        local: CLIENT_V4,
        remote: POP_V4,
        address: &addr,
        mtu: tun_mtu,
    };
    Peer6in4::start(&tb.client, &cfg).context("starting the 6in4 peer")
}

/// What one `ping` run printed.
pub struct Ping {
    /// Exit status 0: at least one reply.
    pub ok: bool,
    pub stdout: String,
}

impl Ping {
    /// The "packets transmitted" and "rtt" lines.
    pub fn summary(&self) -> String {
        let lines = self
            .stdout
            .lines()
            .filter(|l| l.contains("packets transmitted") || l.starts_with("rtt"));
        lines.collect::<Vec<_>>().join("\n")
    }

    /// Replies received, from the summary line.
    pub fn received(&self) -> u32 {
        let line = self
            .stdout
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or("");
        let field = line
            .split(", ")
            .find(|f| f.ends_with(" received"))
            .unwrap_or("0 received");
        field
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// `ping -6 -n -W 2 <args>` in `ns`. A failed ping is a result, not an
/// error: tests assert on both.
pub fn ping(ns: &Netns, args: &[&str]) -> Result<Ping> {
    let mut argv = vec!["ping", "-6", "-n", "-W", "2"];
    argv.extend_from_slice(args);
    let out = ns.output(&argv)?;
    let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(Ping {
        ok: out.status.success(),
        stdout,
    })
}

/// Outcome of `tcp_transfer`.
#[derive(Debug)]
pub struct TransferReport {
    pub sent: usize,
    pub received: usize,
    pub sent_hash: u64,
    pub received_hash: u64,
    /// From connect to the receiver seeing EOF.
    pub elapsed: Duration,
}

impl TransferReport {
    pub fn ok(&self) -> bool {
        self.sent == self.received && self.sent_hash == self.received_hash
    }
    pub fn mib_per_sec(&self) -> f64 {
        self.received as f64 / (1 << 20) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `bytes` pseudo-random bytes over TCP from a socket in `from_ns` to
/// a listener on `to_addr` in `to_ns`, and hashes both ends.
pub fn tcp_transfer(
    from_ns: &Netns,
    to_ns: &Netns,
    to_addr: Ipv6Addr,
    bytes: usize,
) -> Result<TransferReport> {
    tcp_transfer_via(from_ns, to_ns, to_addr.into(), to_addr.into(), bytes)
}

/// `tcp_transfer` where the sender reaches the listener (bound to `listen`
/// in `to_ns`) at another address, `connect`, of the same port: through a
/// translator, a different family.
pub fn tcp_transfer_via(
    from_ns: &Netns,
    to_ns: &Netns,
    listen: IpAddr,
    connect: IpAddr,
    bytes: usize,
) -> Result<TransferReport> {
    // Sockets stay in the namespace they were created in, so only creation
    // needs the guard.
    let listener = {
        let _in = to_ns.enter()?;
        TcpListener::bind(SocketAddr::from((listen, 0)))
            .with_context(|| format!("bind {listen}"))?
    };
    let dst = SocketAddr::from((connect, listener.local_addr()?.port()));
    let (tx, rx) = mpsc::channel();
    let receiver = thread::spawn(move || -> Result<(usize, u64, Instant)> {
        let mut s = accept(&listener)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        let mut buf = vec![0u8; 1 << 16];
        let (mut n, mut h) = (0, FNV_OFFSET);
        loop {
            match s.read(&mut buf).context("receiving")? {
                0 => break,
                k => {
                    h = fnv1a(h, &buf[..k]);
                    n += k;
                }
            }
        }
        let _ = tx.send(());
        Ok((n, h, Instant::now()))
    });

    let data = pseudo_random(bytes, 0x2001_0db8);
    let start = Instant::now();
    let send = || -> Result<()> {
        let mut s = {
            let _in = from_ns.enter()?;
            TcpStream::connect_timeout(&dst, IO_TIMEOUT)
                .with_context(|| format!("connect {dst}"))?
        };
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.write_all(&data).context("sending")?;
        s.shutdown(std::net::Shutdown::Write)?;
        // Keep the socket until the receiver has everything, then close.
        let _ = rx.recv_timeout(IO_TIMEOUT);
        Ok(())
    };
    let sent = send();
    let got = receiver.join().expect("receiver thread panicked");
    sent?;
    let (received, received_hash, end) = got?;
    Ok(TransferReport {
        sent: bytes,
        received,
        sent_hash: fnv1a(FNV_OFFSET, &data),
        received_hash,
        elapsed: end - start,
    })
}

/// accept(2) with the transfer's deadline: a listener never reached must not
/// hang the test.
fn accept(l: &TcpListener) -> Result<TcpStream> {
    l.set_nonblocking(true)?;
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                bail!("no connection within {IO_TIMEOUT:?}")
            }
            Err(e) => return Err(e).context("accept"),
        }
    }
}

/// xorshift64*: incompressible enough that nothing along the way could
/// make a corrupted stream look right.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len);
    v
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64: streaming, order-sensitive, dependency-free; enough to catch
/// lost, duplicated, reordered or altered bytes.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A UDP socket bound to `addr` in `ns` (it stays in `ns` once made),
/// reads bounded by [`IO_TIMEOUT`].
pub fn udp_socket(ns: &Netns, addr: SocketAddr) -> Result<std::net::UdpSocket> {
    let s = {
        let _in = ns.enter()?;
        std::net::UdpSocket::bind(addr).with_context(|| format!("binding UDP {addr}"))?
    };
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Clears DF on what an IPv4 UDP socket sends (IP_PMTUDISC_DONT): a
/// datagram bigger than a link is fragmented, and a translator in the way
/// may fragment it too (RFC 7915 §4).
pub fn without_df(s: &std::net::UdpSocket) -> Result<()> {
    use std::os::fd::AsRawFd;
    let v: libc::c_int = libc::IP_PMTUDISC_DONT;
    // SAFETY: setsockopt(2) on a socket this process owns, with a pointer
    // to a live c_int and its size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("IP_MTU_DISCOVER");
    }
    Ok(())
}
