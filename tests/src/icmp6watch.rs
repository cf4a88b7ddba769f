//! What ICMPv6 errors reach a host, seen through a raw ICMPv6 socket in
//! its namespace: the kernel hands every raw ICMPv6 socket a copy of each
//! ICMPv6 message it receives (without the IPv6 header), so a test sees
//! what a translator or router sent, independently of what the host's
//! kernel then makes of it (it may discard a message, RFC 8201 §4).

use std::{
    fs::File,
    io::{ErrorKind, Read},
    net::Ipv6Addr,
    os::fd::{FromRawFd, OwnedFd},
};

use anyhow::{bail, Result};

use crate::netns::Netns;

/// A Packet Too Big as it reached the host.
#[derive(Debug, PartialEq, Eq)]
pub struct Ptb {
    pub mtu: u32,
    /// The quoted packet's source, destination and next header.
    pub quoted: (Ipv6Addr, Ipv6Addr, u8),
}

/// The raw socket, non-blocking: messages wait in its buffer until taken.
pub struct Icmp6Watch(File);

impl Icmp6Watch {
    pub fn open(ns: &Netns) -> Result<Self> {
        let _in = ns.enter()?;
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_ICMPV6,
            )
        };
        if fd < 0 {
            bail!("raw ICMPv6 socket: {}", std::io::Error::last_os_error());
        }
        // SAFETY: fd was just created and nothing else owns it.
        Ok(Self(File::from(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// The Packet Too Big messages received since the last call (other
    /// ICMPv6 messages are passed over).
    pub fn take_ptbs(&mut self) -> Result<Vec<Ptb>> {
        let mut found = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            let n = match self.0.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(found),
                Err(e) => bail!("reading the raw ICMPv6 socket: {e}"),
            };
            // RFC 4443 §3.2: type 2, code 0, the MTU, then the invoking
            // packet; its IPv6 header is at byte 8 (next header at 8 + 6,
            // source at 8 + 8, destination at 8 + 24).
            let m = &buf[..n];
            if n >= 48 && m[0] == 2 && m[1] == 0 {
                let addr = |at: usize| {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&m[at..at + 16]);
                    Ipv6Addr::from(a)
                };
                found.push(Ptb {
                    mtu: u32::from_be_bytes([m[4], m[5], m[6], m[7]]),
                    quoted: (addr(16), addr(32), m[14]),
                });
            }
        }
    }
}
