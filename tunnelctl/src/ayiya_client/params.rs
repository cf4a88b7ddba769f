//! What the client needs to know about its tunnel, and how it runs.
//!
//! [`TunnelParams`] is the tunnel as the PoP defines it (today from the
//! command line; a later `--tic` login fills the same struct from the TIC
//! server's `tunnel show` reply, `ayiya-spec.md` §2.2). [`RunOptions`] is
//! the operator's choice on this host.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs},
    path::Path,
    time::Duration,
};

use thiserror::Error;
use tunnel_common::{
    ayiya::{sign::Key, PORT},
    tunnel::MTU_MIN,
};

use crate::{api::TunnelKind, prefix::Ipv6Prefix};

/// A refused parameter: said in one line, never with the password in it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("--pop {0}: not an address, address:port or host name that resolves")]
    Pop(String),
    #[error("--pop {0}: port 0")]
    PopPort(String),
    #[error("--prefix {0}: the tunnel's prefix is a /64 (the client is ::2, the PoP ::1)")]
    PrefixLen(String),
    #[error("--mtu {0}: out of range {MTU_MIN}..={1} (AYIYA's 72 bytes of headers must fit a 1500-byte path)")]
    Mtu(u16, u16),
    #[error("--beat-interval {0}: a number of seconds from 1 to 3600 (a suffix s or m is fine)")]
    BeatInterval(String),
    #[error("the password is empty")]
    EmptyPassword,
    #[error("--password-file {0}: {1}")]
    PasswordFile(String, String),
}

/// One AYIYA tunnel, from the client's side.
#[derive(Clone, Debug)]
pub struct TunnelParams {
    /// The PoP's AYIYA socket (UDP, port 5072 unless told otherwise).
    pub pop: SocketAddr,
    /// The tunnel's /64: the PoP is `::1`, this client `::2`.
    pub prefix: Ipv6Prefix,
    /// K, SHA-1 of the password; the password itself is not kept.
    pub key: Key,
    /// The tunnel MTU, set on the tun device: 1280 to 1428, as the PoP's
    /// AYIYA tunnels.
    pub mtu: u16,
    /// Seconds between beats (TIC's `Heartbeat_Interval`).
    pub beat_interval: Duration,
}

impl TunnelParams {
    /// Checks every field; the password becomes K at once.
    pub fn new(
        pop: SocketAddr,
        prefix: Ipv6Prefix,
        password: &[u8],
        mtu: u16,
        beat_interval: Duration,
    ) -> Result<Self, ParamError> {
        if prefix.len() != 64 {
            return Err(ParamError::PrefixLen(prefix.to_string()));
        }
        let max = TunnelKind::Ayiya.max_mtu();
        if !(MTU_MIN..=max).contains(&mtu) {
            return Err(ParamError::Mtu(mtu, max));
        }
        if password.is_empty() {
            return Err(ParamError::EmptyPassword);
        }
        Ok(Self {
            pop,
            prefix,
            key: Key::from_password(password),
            mtu,
            beat_interval,
        })
    }

    /// This client's tunnel address, `::2`: its AYIYA identity (§1.2).
    pub fn local(&self) -> Ipv6Addr {
        self.prefix.host(2)
    }

    /// The PoP's tunnel address, `::1`: the identity its datagrams must
    /// carry, and where the liveness probe goes.
    pub fn pop_inner(&self) -> Ipv6Addr {
        self.prefix.host(1)
    }
}

/// How this host runs the tunnel.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Name of the tun device.
    pub tun_name: String,
    /// Install `::/0` via the tun device.
    pub default_route: bool,
    /// Added to every epoch sent (tests: a skewed clock).
    pub clock_offset: i64,
    /// How long the liveness probe waits for its answer.
    pub probe_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            tun_name: "ayiya0".into(),
            default_route: false,
            clock_offset: 0,
            probe_timeout: Duration::from_secs(5),
        }
    }
}

/// `--pop`: an IPv4 or IPv6 address, with or without a port
/// (`192.0.2.1`, `192.0.2.1:5072`, `2001:db8::1`, `[2001:db8::1]:5072`),
/// or a host name (with or without `:port`), resolved once here. The port
/// defaults to 5072.
pub fn parse_pop(s: &str) -> Result<SocketAddr, ParamError> {
    parse_pop_port(s, PORT)
}

/// `--pop` with `port` as the default (the heartbeat client's 3740).
pub fn parse_pop_port(s: &str, port: u16) -> Result<SocketAddr, ParamError> {
    let addr = if let Ok(a) = s.parse::<SocketAddr>() {
        a
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        SocketAddr::new(ip, port)
    } else {
        let with_port = if s.contains(':') {
            s.to_owned()
        } else {
            format!("{s}:{port}")
        };
        with_port
            .to_socket_addrs()
            .ok()
            .and_then(|mut it| it.next())
            .ok_or_else(|| ParamError::Pop(s.to_owned()))?
    };
    if addr.port() == 0 {
        return Err(ParamError::PopPort(s.to_owned()));
    }
    Ok(addr)
}

/// `--beat-interval`: seconds, `30`, `30s` or `2m`; 1 s to 1 h.
pub fn parse_interval(s: &str) -> Result<Duration, ParamError> {
    let bad = || ParamError::BeatInterval(s.to_owned());
    let (digits, unit) = match s.strip_suffix('m') {
        Some(d) => (d, 60),
        None => (s.strip_suffix('s').unwrap_or(s), 1),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = n.checked_mul(unit).ok_or_else(bad)?;
    if !(1..=3600).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

/// The password in `path`: its first line, without the line end (as
/// `echo secret > file` leaves it). The error names the file, never what
/// is in it.
pub fn read_password_file(path: &Path) -> Result<Vec<u8>, ParamError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ParamError::PasswordFile(path.display().to_string(), e.to_string()))?;
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(ParamError::EmptyPassword);
    }
    Ok(line.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_forms() {
        let ok = [
            ("192.0.2.1", "192.0.2.1:5072"),
            ("192.0.2.1:6000", "192.0.2.1:6000"),
            ("2001:db8::1", "[2001:db8::1]:5072"),
            ("[2001:db8::1]:6000", "[2001:db8::1]:6000"),
            ("localhost:7000", "127.0.0.1:7000"),
        ];
        for (input, want) in ok {
            let got = parse_pop(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            // localhost may resolve to ::1 first.
            if input.starts_with("localhost") {
                assert_eq!(got.port(), 7000);
                assert!(got.ip().is_loopback());
            } else {
                assert_eq!(got.to_string(), want, "{input}");
            }
        }
        for bad in ["", "192.0.2.1:", "192.0.2.300", "[2001:db8::1]", "a b"] {
            assert!(parse_pop(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_pop("192.0.2.1:0"),
            Err(ParamError::PopPort("192.0.2.1:0".into()))
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_interval("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_interval("2m").unwrap(), Duration::from_secs(120));
        for bad in ["0", "3601", "-1", "x", "", "1h", "99999999999999999999m"] {
            assert!(parse_interval(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn params_checked() {
        let pop = parse_pop("192.0.2.1").unwrap();
        let p64: Ipv6Prefix = "2001:db8:1::/64".parse().unwrap();
        let t = TunnelParams::new(pop, p64, b"pw", 1280, Duration::from_secs(30)).unwrap();
        assert_eq!(t.local(), "2001:db8:1::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(t.pop_inner(), "2001:db8:1::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(t.key, Key::from_password("pw"));
        // Debug never shows K, let alone the password.
        assert!(!format!("{t:?}").contains(&format!("{:?}", t.key.0)));

        let p48: Ipv6Prefix = "2001:db8::/48".parse().unwrap();
        let d = Duration::from_secs(30);
        assert!(matches!(
            TunnelParams::new(pop, p48, b"pw", 1280, d),
            Err(ParamError::PrefixLen(_))
        ));
        for mtu in [1280, 1428] {
            assert_eq!(TunnelParams::new(pop, p64, b"pw", mtu, d).unwrap().mtu, mtu);
        }
        for mtu in [0, 1279, 1429, 1480, u16::MAX] {
            assert_eq!(
                TunnelParams::new(pop, p64, b"pw", mtu, d).unwrap_err(),
                ParamError::Mtu(mtu, 1428)
            );
        }
        assert_eq!(
            TunnelParams::new(pop, p64, b"", 1280, d).unwrap_err(),
            ParamError::EmptyPassword
        );
    }

    #[test]
    fn password_file_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        for (content, want) in [
            (&b"secret\n"[..], &b"secret"[..]),
            (b"secret\r\nmore\n", b"secret"),
            (b"no newline", b"no newline"),
        ] {
            std::fs::write(&f, content).unwrap();
            assert_eq!(read_password_file(&f).unwrap(), want);
        }
        std::fs::write(&f, "\n").unwrap();
        assert_eq!(read_password_file(&f), Err(ParamError::EmptyPassword));
        let missing = dir.path().join("none");
        let e = read_password_file(&missing).unwrap_err().to_string();
        assert!(e.contains("none"), "{e}");
    }
}
