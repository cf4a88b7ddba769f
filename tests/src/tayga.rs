//! Tayga (the Debian package, 0.9.2), the userspace stateless NAT64 the
//! translator is compared with: its config file, its process in a
//! namespace, and a packet socket on its tun device to feed it packets and
//! read what it writes back. Used by the bench (`bench::nat64`) and the
//! differential test (`tests/tests/diff_tayga/`).
//!
//! Tayga creates its tun device when it starts and removes it when it
//! exits; it reads every packet the kernel sends into the device and
//! writes its translations (and its own ICMP errors) back into it.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::netns::Netns;

/// A Tayga configuration: the directives of tayga.conf(5) this project
/// uses.
#[derive(Clone, Debug)]
pub struct Config {
    /// `tun-device`: created by Tayga, gone when it exits.
    pub tun_device: String,
    /// `ipv4-addr`: the source of Tayga's own ICMPv4 errors.
    pub ipv4_addr: Ipv4Addr,
    /// `ipv6-addr`: the source of its own ICMPv6 errors; without it,
    /// `ipv4_addr` under `prefix` (not allowed for a non-global address
    /// under 64:ff9b::/96).
    pub ipv6_addr: Option<Ipv6Addr>,
    /// `prefix`: pool6 (RFC 6052: /32, /40, /48, /56, /64 or /96).
    pub prefix: (Ipv6Addr, u8),
    /// `map` lines: (IPv4 host, IPv6 host), the same as an EAM of /32 ↔
    /// /128.
    pub maps: Vec<(Ipv4Addr, Ipv6Addr)>,
}

impl Config {
    /// The file's text, with `data-dir` `data_dir`.
    pub fn render(&self, data_dir: &Path) -> String {
        let (prefix, len) = self.prefix;
        let mut c = format!(
            "tun-device {}\nipv4-addr {}\nprefix {prefix}/{len}\ndata-dir {}\n",
            self.tun_device,
            self.ipv4_addr,
            data_dir.display()
        );
        if let Some(a) = self.ipv6_addr {
            c += &format!("ipv6-addr {a}\n");
        }
        for (v4, v6) in &self.maps {
            c += &format!("map {v4} {v6}\n");
        }
        c
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A running Tayga; stopped (SIGTERM, then waited for) and its directory
/// removed on drop, which takes its tun device with it.
pub struct Tayga {
    child: Child,
    dir: PathBuf,
}

impl Tayga {
    /// Starts `tayga --nodetach` in `ns` with `config` (its file, data dir
    /// and log in a directory of its own) and waits, at most 5 s, for its
    /// tun device. The device is left down and unrouted: the caller sets
    /// it up.
    pub fn start(ns: &Netns, config: &Config) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "tunnel-tayga-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let conf = dir.join("tayga.conf");
        std::fs::write(&conf, config.render(&dir.join("data")))?;
        let log = std::fs::File::create(dir.join("tayga.log"))?;
        // `ip netns exec` execs the command: the child is Tayga itself.
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "tayga", "--nodetach", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting tayga (Debian package tayga; scripts/setup.sh installs it)")?;
        let mut t = Tayga { child, dir };
        let t0 = Instant::now();
        let dev = &config.tun_device;
        loop {
            if let Some(st) = t.child.try_wait()? {
                bail!("tayga exited ({st}): {}", t.log().trim());
            }
            if ns.output(&["ip", "link", "show", dev])?.status.success() {
                return Ok(t);
            }
            if t0.elapsed() > Duration::from_secs(5) {
                bail!("tayga made no {dev} within 5 s: {}", t.log().trim());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What Tayga logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tayga.log")).unwrap_or_default()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Tayga {
    fn drop(&mut self) {
        // SAFETY: a signal to the child this struct started and still owns
        // (not yet waited for, so its pid is not reused).
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `AF_PACKET` packet types (linux/if_packet.h).
const PACKET_OUTGOING: u8 = 4;

/// A packet socket on a tun device: what it sends goes to the program
/// that owns the device (Tayga reads it as if the kernel had routed it
/// there); what it receives is what that program wrote (and, skipped
/// here, other sockets' sends). No routes, addresses or kernel forwarding
/// are involved, so the packets are exactly the bytes given and taken.
pub struct TunTap {
    fd: OwnedFd,
    ifindex: i32,
}

impl TunTap {
    /// Opens the socket on `dev` in `ns` (the socket keeps that
    /// namespace; the calling thread goes back to its own).
    pub fn open(ns: &Netns, dev: &str) -> Result<Self> {
        let _in_ns = ns.enter()?;
        let ifindex = tunnelctl::datapath::ifindex(dev)? as i32;
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: socket(2) with constant arguments; the fd is owned below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, proto as i32) };
        if raw < 0 {
            bail!("packet socket: {}", std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut sll = sockaddr_ll(ifindex, proto);
        // SAFETY: bind(2) with a sockaddr_ll of its own size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw mut sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r != 0 {
            bail!("binding to {dev}: {}", std::io::Error::last_os_error());
        }
        Ok(Self { fd, ifindex })
    }

    /// Hands the IP packet `p` to the device's owner.
    pub fn send(&self, p: &[u8]) -> Result<()> {
        let ether_type: u16 = match p.first().map(|b| b >> 4) {
            Some(4) => 0x0800,
            Some(6) => 0x86dd,
            _ => bail!("not an IP packet: {:02x?}", &p[..p.len().min(8)]),
        };
        let sll = sockaddr_ll(self.ifindex, ether_type.to_be());
        // SAFETY: sendto(2) of a live buffer to a sockaddr_ll of its size.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                p.as_ptr().cast(),
                p.len(),
                0,
                (&raw const sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n != p.len() as isize {
            bail!(
                "sending {} bytes: {}",
                p.len(),
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// The next packet the device's owner wrote, waiting until `deadline`
    /// at most; `None` when the deadline passed first.
    pub fn recv(&self, deadline: Instant) -> Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll(2) on one pollfd that lives across the call.
            let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                bail!("poll: {e}");
            }
            if r == 0 {
                continue;
            }
            let mut from = sockaddr_ll(0, 0);
            let mut from_len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: recvfrom(2) into a buffer and a sockaddr_ll we own,
            // their sizes given.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&raw mut from).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    continue;
                }
                bail!("recvfrom: {e}");
            }
            // What the kernel sent into the device (another socket's
            // sends) is not the owner's output.
            if from.sll_pkttype == PACKET_OUTGOING {
                continue;
            }
            return Ok(Some(buf[..n as usize].to_vec()));
        }
    }
}

fn sockaddr_ll(ifindex: i32, proto_be: u16) -> libc::sockaddr_ll {
    libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: proto_be,
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_every_directive() {
        let c = Config {
            tun_device: "t0".into(),
            ipv4_addr: "192.0.2.1".parse().unwrap(),
            ipv6_addr: Some("2001:db8::1".parse().unwrap()),
            prefix: ("2001:db8:64::".parse().unwrap(), 96),
            maps: vec![(
                "198.51.100.2".parse().unwrap(),
                "2001:db8:ffff::2".parse().unwrap(),
            )],
        }
        .render(Path::new("/tmp/x/data"));
        for line in [
            "tun-device t0\n",
            "ipv4-addr 192.0.2.1\n",
            "ipv6-addr 2001:db8::1\n",
            "prefix 2001:db8:64::/96\n",
            "data-dir /tmp/x/data\n",
            "map 198.51.100.2 2001:db8:ffff::2\n",
        ] {
            assert!(c.contains(line), "{line:?} missing from {c}");
        }
    }
}
