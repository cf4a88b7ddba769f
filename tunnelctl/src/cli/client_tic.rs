//! `tunnelctl client --tic`: the tunnel's parameters from a TIC server,
//! as AICCU gets them (log in, pick the tunnel, `tunnel show`), turned
//! into what the AYIYA or the heartbeat client runs.

use std::{
    net::{SocketAddr, TcpStream, ToSocketAddrs},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tracing::info;

use super::client::{common, ClientArgs, ClientKind, Common};
use crate::{
    ayiya_client::{params, RunOptions, TunnelParams},
    error::Error,
    heartbeat_client::{self, HeartbeatParams},
    prefix::Ipv6Prefix,
    tic::client::{fetch, TicError, TicTunnel},
};

/// What the TIC server's tunnel turns into.
#[derive(Debug)]
pub enum Tunnel {
    Ayiya(TunnelParams, RunOptions),
    Heartbeat(HeartbeatParams, RunOptions),
}

/// TIC's port (IANA "tic").
pub const TIC_PORT: u16 = 3874;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

pub fn params(a: &ClientArgs, server: &str) -> Result<Tunnel, Error> {
    let user = a.user.as_deref().unwrap_or_default();
    // The user's password; the tunnel's comes from the server.
    let password = common(a, ClientKind::Ayiya)?.password;
    let want = match &a.tunnel {
        Some(t) => Some(
            crate::daemon::tic::command::tunnel_id(t)
                .ok_or_else(|| Error::Invalid(format!("--tunnel {t:?}: T<id>, e.g. T12")))?,
        ),
        None => None,
    };
    let addr = parse_server(server)?;
    let t = login(addr, user, &password, want).map_err(|e| match e {
        TicError::Login { .. } => Error::PermissionDenied(e.to_string()),
        TicError::Clock(_) => Error::Invalid(e.to_string()),
        TicError::Tunnel(_) => Error::NotFound(e.to_string()),
        TicError::Io(_) | TicError::Protocol(_) => Error::Internal(anyhow::anyhow!("{e} ({addr})")),
    })?;
    info!(
        server = %addr, user, tunnel = %format!("T{}", t.id), kind = %t.kind,
        pop = %t.ipv4_pop, mtu = t.mtu, "TIC: logged in, tunnel read"
    );
    tunnel(a, &t)
}

/// `HOST[:PORT]`, the port 3874 unless given.
fn parse_server(s: &str) -> Result<SocketAddr, Error> {
    let with_port = if s.parse::<std::net::IpAddr>().is_ok() || !s.contains(':') {
        // A bare address or host name (an IPv6 address has colons).
        match s.parse::<std::net::IpAddr>() {
            Ok(ip) => return Ok(SocketAddr::new(ip, TIC_PORT)),
            Err(_) => format!("{s}:{TIC_PORT}"),
        }
    } else {
        s.to_owned()
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .filter(|a| a.port() != 0)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "--tic {s}: not an address, address:port or host name that resolves"
            ))
        })
}

fn login(
    addr: SocketAddr,
    user: &str,
    password: &[u8],
    want: Option<u32>,
) -> Result<TicTunnel, TicError> {
    let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut w = s.try_clone()?;
    let mut r = std::io::BufReader::new(s);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    fetch(&mut r, &mut w, user, password, want, now)
}

/// The client's parameters from what `tunnel show` said.
fn tunnel(a: &ClientArgs, t: &TicTunnel) -> Result<Tunnel, Error> {
    let id = t.id;
    if !t.enabled {
        return Err(Error::Conflict(format!(
            "tunnel T{id} is disabled on the PoP (UserState/AdminState)"
        )));
    }
    let kind = match t.kind.as_str() {
        "ayiya" => ClientKind::Ayiya,
        "6in4-heartbeat" => ClientKind::Heartbeat,
        "6in4" => {
            return Err(Error::Invalid(format!(
                "tunnel T{id} is static 6in4: it needs no client, only the host's own 6in4 (sit) tunnel to {}",
                t.ipv4_pop
            )))
        }
        other => {
            return Err(Error::Invalid(format!(
                "tunnel T{id} is of type {other:?}, which this client does not run"
            )))
        }
    };
    let bad = |m: String| Error::Internal(anyhow::anyhow!("TIC server: tunnel T{id}: {m}"));
    let len = t.prefix_len;
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    let prefix = Ipv6Prefix::new((u128::from(t.ipv6_endpoint) & mask).into(), len)
        .map_err(|e| bad(format!("prefix length {len}: {e}")))?;
    // This client is `::2` of a /64 with the PoP at `::1`, as SixXS's.
    if len != 64 || t.ipv6_endpoint != prefix.host(2) || t.ipv6_pop != prefix.host(1) {
        return Err(bad(format!(
            "endpoint {}/{len} with the PoP at {}: this client takes ::2 of a /64, the PoP ::1",
            t.ipv6_endpoint, t.ipv6_pop
        )));
    }
    let password = t
        .password
        .as_deref()
        .ok_or_else(|| bad("no Password".into()))?;
    let Common {
        beat_interval,
        beat_given,
        opts,
        ..
    } = common(a, kind)?;
    let beat = match (beat_given, t.heartbeat_interval) {
        (true, _) => beat_interval,
        (false, 1..=3600) => Duration::from_secs(t.heartbeat_interval.into()),
        (false, n) => return Err(bad(format!("Heartbeat_Interval {n}"))),
    };
    Ok(match kind {
        ClientKind::Ayiya => {
            let pop = params::parse_pop(&t.ipv4_pop).map_err(|e| bad(e.to_string()))?;
            let p = TunnelParams::new(pop, prefix, password.as_bytes(), t.mtu, beat)
                .map_err(|e| bad(e.to_string()))?;
            Tunnel::Ayiya(p, opts)
        }
        ClientKind::Heartbeat => {
            let pop =
                heartbeat_client::params::parse_pop(&t.ipv4_pop).map_err(|e| bad(e.to_string()))?;
            let p = HeartbeatParams::new(pop, prefix, password.as_bytes(), t.mtu, beat)
                .map_err(|e| bad(e.to_string()))?;
            Tunnel::Heartbeat(p, opts)
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: ClientArgs,
    }

    fn args() -> ClientArgs {
        Cli::try_parse_from([
            "client",
            "--tic",
            "192.0.2.1",
            "--user",
            "U",
            "--password",
            "p",
        ])
        .unwrap()
        .a
    }

    fn shown() -> TicTunnel {
        TicTunnel {
            id: 1,
            kind: "ayiya".into(),
            ipv6_endpoint: "2001:db8:1::2".parse().unwrap(),
            ipv6_pop: "2001:db8:1::1".parse().unwrap(),
            prefix_len: 64,
            mtu: 1280,
            ipv4_pop: "192.0.2.1".into(),
            password: Some("tunnelpw".into()),
            heartbeat_interval: 60,
            enabled: true,
        }
    }

    #[test]
    fn servers() {
        assert_eq!(
            parse_server("192.0.2.1").unwrap().to_string(),
            "192.0.2.1:3874"
        );
        assert_eq!(
            parse_server("192.0.2.1:99").unwrap().to_string(),
            "192.0.2.1:99"
        );
        assert_eq!(
            parse_server("2001:db8::1").unwrap().to_string(),
            "[2001:db8::1]:3874"
        );
        assert_eq!(
            parse_server("[2001:db8::1]:99").unwrap().to_string(),
            "[2001:db8::1]:99"
        );
        for bad in ["", "192.0.2.1:0", "a b", "192.0.2.300"] {
            assert!(parse_server(bad).is_err(), "{bad:?}");
        }
    }

    /// What `tunnel show` said becomes the AYIYA client's tunnel; what
    /// this client cannot run is refused with why.
    #[test]
    fn shown_tunnels() {
        let Tunnel::Ayiya(p, o) = tunnel(&args(), &shown()).unwrap() else {
            panic!("not ayiya")
        };
        assert_eq!(o.tun_name, "ayiya0");
        assert_eq!(p.pop.to_string(), "192.0.2.1:5072");
        assert_eq!(p.prefix.to_string(), "2001:db8:1::/64");
        assert_eq!((p.mtu, p.beat_interval.as_secs()), (1280, 60));
        assert_eq!(
            p.key,
            tunnel_common::ayiya::sign::Key::from_password(b"tunnelpw")
        );
        type Change = fn(&mut TicTunnel);
        let cases: [(Change, &str); 7] = [
            (|t| t.kind = "gre".into(), "of type \"gre\""),
            (|t| t.kind = "6in4".into(), "needs no client"),
            (|t| t.enabled = false, "disabled"),
            (
                |t| t.ipv6_pop = "2001:db8:1::9".parse().unwrap(),
                "the PoP ::1",
            ),
            (|t| t.prefix_len = 48, "a /64"),
            (|t| t.password = None, "no Password"),
            (|t| t.heartbeat_interval = 0, "Heartbeat_Interval 0"),
        ];
        for (change, msg) in cases {
            let mut t = shown();
            change(&mut t);
            let e = tunnel(&args(), &t).unwrap_err().to_string();
            assert!(e.contains(msg), "{msg}: {e}");
            assert!(!e.contains("tunnelpw"), "{e}");
        }
        // A heartbeat tunnel: the heartbeat client, beats to port 3740.
        let mut hb = shown();
        hb.kind = "6in4-heartbeat".into();
        let Tunnel::Heartbeat(p, o) = tunnel(&args(), &hb).unwrap() else {
            panic!("not heartbeat")
        };
        assert_eq!(p.pop.to_string(), "192.0.2.1:3740");
        assert_eq!(
            (p.mtu, p.beat_interval.as_secs(), o.tun_name.as_str()),
            (1280, 60, "heartbeat0")
        );
        assert_eq!(p.password(), b"tunnelpw");
    }
}
