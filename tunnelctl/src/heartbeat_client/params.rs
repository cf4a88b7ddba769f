//! A heartbeat tunnel from the client's side. How the host runs it
//! (device name, default route, probe timeout) is the AYIYA client's
//! [`RunOptions`](crate::ayiya_client::RunOptions).

use std::{
    fmt,
    net::{Ipv6Addr, SocketAddr, SocketAddrV4},
    time::Duration,
};

use thiserror::Error;
use tunnel_common::tunnel::{MTU_MAX, MTU_MIN};

use crate::{ayiya_client::params::parse_pop_port, heartbeat::codec::PORT, prefix::Ipv6Prefix};

/// A refused parameter: one line, never the password.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeartbeatParamError {
    #[error("--pop {0}: a heartbeat tunnel is 6in4 over IPv4; give the PoP's IPv4 address")]
    PopNotV4(String),
    #[error("--prefix {0}: the tunnel's prefix is a /64 (the client is ::2, the PoP ::1)")]
    PrefixLen(String),
    #[error("--mtu {0}: out of range {MTU_MIN}..={MTU_MAX} (6in4's 20 bytes of IPv4 must fit a 1500-byte path)")]
    Mtu(u16),
    #[error("the password is empty")]
    EmptyPassword,
}

/// One heartbeat tunnel, from the client's side.
#[derive(Clone)]
pub struct HeartbeatParams {
    /// Where beats go (UDP, port 3740 unless told otherwise); proto-41 goes
    /// to its address.
    pub pop: SocketAddrV4,
    /// The tunnel's /64: the PoP is `::1`, this client `::2`.
    pub prefix: Ipv6Prefix,
    /// Kept: every beat hashes it.
    password: Vec<u8>,
    /// The tunnel MTU, set on the tun device (1280 to 1480).
    pub mtu: u16,
    /// Seconds between beats (TIC's `Heartbeat_Interval`; AICCU's 60).
    pub beat_interval: Duration,
}

/// Never shows the password.
impl fmt::Debug for HeartbeatParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatParams")
            .field("pop", &self.pop)
            .field("prefix", &self.prefix)
            .field("mtu", &self.mtu)
            .field("beat_interval", &self.beat_interval)
            .finish_non_exhaustive()
    }
}

impl HeartbeatParams {
    pub fn new(
        pop: SocketAddr,
        prefix: Ipv6Prefix,
        password: &[u8],
        mtu: u16,
        beat_interval: Duration,
    ) -> Result<Self, HeartbeatParamError> {
        let SocketAddr::V4(pop) = pop else {
            return Err(HeartbeatParamError::PopNotV4(pop.to_string()));
        };
        if prefix.len() != 64 {
            return Err(HeartbeatParamError::PrefixLen(prefix.to_string()));
        }
        if !(MTU_MIN..=MTU_MAX).contains(&mtu) {
            return Err(HeartbeatParamError::Mtu(mtu));
        }
        if password.is_empty() {
            return Err(HeartbeatParamError::EmptyPassword);
        }
        Ok(Self {
            pop,
            prefix,
            password: password.to_vec(),
            mtu,
            beat_interval,
        })
    }

    pub fn password(&self) -> &[u8] {
        &self.password
    }

    /// This client's tunnel address, `::2`: the beats' identity.
    pub fn local(&self) -> Ipv6Addr {
        self.prefix.host(2)
    }

    /// The PoP's tunnel address, `::1`: where the probe goes.
    pub fn pop_inner(&self) -> Ipv6Addr {
        self.prefix.host(1)
    }
}

/// `--pop` for a heartbeat tunnel: as the AYIYA client's, with port 3740.
pub fn parse_pop(s: &str) -> Result<SocketAddr, crate::ayiya_client::params::ParamError> {
    parse_pop_port(s, PORT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_checked() {
        let pop = parse_pop("192.0.2.1").unwrap();
        assert_eq!(pop.to_string(), "192.0.2.1:3740");
        let p64: Ipv6Prefix = "2001:db8:1::/64".parse().unwrap();
        let d = Duration::from_secs(60);
        let t = HeartbeatParams::new(pop, p64, b"secret-pw", 1480, d).unwrap();
        assert_eq!(t.local(), "2001:db8:1::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(t.pop_inner(), "2001:db8:1::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(t.password(), b"secret-pw");
        assert!(!format!("{t:?}").contains("secret-pw"));
        let v6 = parse_pop("[2001:db8::1]:3740").unwrap();
        assert!(matches!(
            HeartbeatParams::new(v6, p64, b"pw", 1280, d),
            Err(HeartbeatParamError::PopNotV4(_))
        ));
        let p48: Ipv6Prefix = "2001:db8::/48".parse().unwrap();
        assert!(matches!(
            HeartbeatParams::new(pop, p48, b"pw", 1280, d),
            Err(HeartbeatParamError::PrefixLen(_))
        ));
        for mtu in [1280, 1480] {
            assert!(HeartbeatParams::new(pop, p64, b"pw", mtu, d).is_ok());
        }
        for mtu in [0, 1279, 1481] {
            assert_eq!(
                HeartbeatParams::new(pop, p64, b"pw", mtu, d).unwrap_err(),
                HeartbeatParamError::Mtu(mtu)
            );
        }
        assert_eq!(
            HeartbeatParams::new(pop, p64, b"", 1280, d).unwrap_err(),
            HeartbeatParamError::EmptyPassword
        );
    }
}
