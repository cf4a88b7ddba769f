//! `tunnelctl client`: parses the tunnel's parameters (from the command
//! line, or from a TIC server with `--tic`, as AICCU gets them) and runs
//! the AYIYA client (`crate::ayiya_client`) or, for heartbeat tunnels, the
//! heartbeat client (`crate::heartbeat_client`) until SIGTERM or SIGINT.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgGroup, Args};

use crate::{
    ayiya_client::{self, params, RunOptions, TunnelParams},
    error::Error,
    heartbeat_client::{self, HeartbeatParams},
    prefix::Ipv6Prefix,
};

/// What the client speaks to the PoP.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientKind {
    /// IPv6 in signed UDP (5072): crosses any NAT.
    #[default]
    Ayiya,
    /// 6in4 (IP protocol 41) to where signed beats (UDP 3740) come from:
    /// crosses a NAT that passes protocol 41.
    Heartbeat,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("secret").required(true).args(["password", "password_file"])))]
pub struct ClientArgs {
    /// Log in to this TIC server (TCP, port 3874 unless given) as AICCU
    /// does, and take the tunnel's kind, PoP, prefix, MTU and password
    /// from it.
    #[arg(long, value_name = "HOST[:PORT]", requires = "user", conflicts_with_all = ["pop", "prefix", "mtu", "kind"])]
    pub tic: Option<String>,
    /// --tic: the user to log in as; --password(-file) is then the user's.
    #[arg(long, requires = "tic")]
    pub user: Option<String>,
    /// --tic: the tunnel (T<id>); needed only when the user has several.
    #[arg(long, requires = "tic", value_name = "T<ID>")]
    pub tunnel: Option<String>,
    /// The tunnel's kind, as the PoP has it.
    #[arg(long, value_enum, default_value_t = ClientKind::Ayiya)]
    pub kind: ClientKind,
    /// The PoP's address: IPv4 or IPv6 (AYIYA only), optionally with a
    /// port (AYIYA's, default 5072; the beats', default 3740; `[v6]:port`),
    /// or a host name.
    #[arg(long, value_name = "ADDR[:PORT]", required_unless_present = "tic")]
    pub pop: Option<String>,
    /// The tunnel's /64: this client takes `::2`, the PoP is `::1`.
    #[arg(long, value_name = "PREFIX/64", required_unless_present = "tic")]
    pub prefix: Option<Ipv6Prefix>,
    /// The tunnel's password (visible in the process list: prefer
    /// --password-file). Only its SHA-1 is kept, and it is never logged.
    #[arg(long)]
    pub password: Option<String>,
    /// A file whose first line is the tunnel's password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// The tunnel MTU, set on the tun device (as the PoP's tunnel; 1280 to
    /// 1428 for AYIYA, to 1480 for heartbeat) [default: 1280].
    #[arg(long)]
    pub mtu: Option<u16>,
    /// Name of the tun device [default: ayiya0, or heartbeat0].
    #[arg(long)]
    pub tun: Option<String>,
    /// Time between beats: seconds, or with a suffix s or m [default: 30
    /// for AYIYA; 60 for heartbeat, AICCU's].
    #[arg(long, value_name = "SECS")]
    pub beat_interval: Option<String>,
    /// Route all IPv6 (`::/0`) through the tunnel.
    #[arg(long)]
    pub default_route: bool,
    /// How long the liveness probe waits for the PoP's answer, seconds.
    #[arg(long, default_value_t = 5, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub probe_timeout: u64,
    /// Tests only: added to the epoch of everything sent and to the clock
    /// received datagrams are checked against (a skewed clock).
    #[arg(long, hide = true, default_value_t = 0, allow_hyphen_values = true)]
    pub clock_offset: i64,
}

/// The parameters the arguments give, checked; bad input is `invalid`
/// (exit status 2), said in one line without the password.
/// What the arguments give for either kind: the beat interval, the
/// password and the host's options, checked.
pub(super) struct Common {
    /// `--beat-interval`, or the kind's default.
    pub beat_interval: std::time::Duration,
    /// Whether `--beat-interval` was given (TIC's interval is used if not).
    pub beat_given: bool,
    pub password: Vec<u8>,
    pub opts: RunOptions,
}

fn invalid(e: impl ToString) -> Error {
    Error::Invalid(e.to_string())
}

/// What every run takes from the arguments, for a tunnel of `kind`.
pub(super) fn common(a: &ClientArgs, kind: ClientKind) -> Result<Common, Error> {
    let (interval, tun) = match kind {
        ClientKind::Ayiya => ("30", "ayiya0"),
        ClientKind::Heartbeat => ("60", "heartbeat0"),
    };
    let beat_interval =
        params::parse_interval(a.beat_interval.as_deref().unwrap_or(interval)).map_err(invalid)?;
    let password = match (&a.password, &a.password_file) {
        (Some(p), _) => p.as_bytes().to_vec(),
        (None, Some(f)) => params::read_password_file(f).map_err(invalid)?,
        (None, None) => return Err(Error::Invalid("--password or --password-file".into())),
    };
    let tun = a.tun.as_deref().unwrap_or(tun);
    if tun.is_empty() || tun.len() > 15 || tun.contains(['/', ' ', '\0']) {
        return Err(Error::Invalid(format!(
            "--tun {tun:?}: an interface name is 1 to 15 characters, no '/' or space"
        )));
    }
    let opts = RunOptions {
        tun_name: tun.to_owned(),
        default_route: a.default_route,
        clock_offset: a.clock_offset,
        probe_timeout: std::time::Duration::from_secs(a.probe_timeout),
    };
    Ok(Common {
        beat_interval,
        beat_given: a.beat_interval.is_some(),
        password,
        opts,
    })
}

/// The parameters of an AYIYA client, checked; bad input is `invalid`
/// (exit status 2), said in one line without the password.
pub fn params(a: &ClientArgs) -> Result<(TunnelParams, RunOptions), Error> {
    let (pop, prefix) = pop_prefix(a)?;
    let pop = params::parse_pop(pop).map_err(invalid)?;
    let c = common(a, ClientKind::Ayiya)?;
    let t =
        TunnelParams::new(pop, prefix, &c.password, mtu(a), c.beat_interval).map_err(invalid)?;
    Ok((t, c.opts))
}

/// --pop and --prefix, which the command line must give without --tic.
fn pop_prefix(a: &ClientArgs) -> Result<(&str, Ipv6Prefix), Error> {
    if a.user.is_some() || a.tunnel.is_some() {
        return Err(Error::Invalid("--user and --tunnel go with --tic".into()));
    }
    match (&a.pop, a.prefix) {
        (Some(pop), Some(prefix)) => Ok((pop, prefix)),
        _ => Err(Error::Invalid("--pop and --prefix (or --tic)".into())),
    }
}

fn mtu(a: &ClientArgs) -> u16 {
    a.mtu.unwrap_or(1280)
}

/// The parameters of a heartbeat client, checked, as [`params`].
pub fn heartbeat_params(a: &ClientArgs) -> Result<(HeartbeatParams, RunOptions), Error> {
    let (pop, prefix) = pop_prefix(a)?;
    let pop = heartbeat_client::params::parse_pop(pop).map_err(invalid)?;
    let c = common(a, ClientKind::Heartbeat)?;
    let t =
        HeartbeatParams::new(pop, prefix, &c.password, mtu(a), c.beat_interval).map_err(invalid)?;
    Ok((t, c.opts))
}

pub fn run(a: &ClientArgs) -> Result<()> {
    if let Some(server) = &a.tic {
        ayiya_client::init_logging();
        match super::client_tic::params(a, server)? {
            super::client_tic::Tunnel::Ayiya(t, o) => {
                ayiya_client::run(t, o)?;
            }
            super::client_tic::Tunnel::Heartbeat(t, o) => {
                heartbeat_client::run(t, o)?;
            }
        }
        return Ok(());
    }
    match a.kind {
        ClientKind::Ayiya => {
            let (t, o) = params(a)?;
            ayiya_client::init_logging();
            ayiya_client::run(t, o)?;
        }
        ClientKind::Heartbeat => {
            let (t, o) = heartbeat_params(a)?;
            ayiya_client::init_logging();
            heartbeat_client::run(t, o)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::api::ErrorCode;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: ClientArgs,
    }

    const PW: &str = "not-to-be-seen";

    fn parse(extra: &[&str]) -> Result<ClientArgs, clap::Error> {
        let mut argv = vec![
            "client",
            "--pop",
            "192.0.2.1",
            "--prefix",
            "2001:db8:1::/64",
        ];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).map(|c| c.a)
    }

    #[test]
    fn defaults() {
        let a = parse(&["--password", PW]).unwrap();
        let (t, o) = params(&a).unwrap();
        assert_eq!(t.pop.to_string(), "192.0.2.1:5072");
        assert_eq!(t.mtu, 1280);
        assert_eq!(t.beat_interval.as_secs(), 30);
        assert_eq!(o.tun_name, "ayiya0");
        assert!(!o.default_route);
        assert_eq!(o.clock_offset, 0);
        let a = parse(&["--password", PW, "--clock-offset", "-300"]).unwrap();
        assert_eq!(params(&a).unwrap().1.clock_offset, -300);
    }

    /// A heartbeat client's arguments: the base ones, each unless `extra`
    /// gives it.
    fn parse_hb(extra: &[&str]) -> Result<ClientArgs, clap::Error> {
        let mut argv = vec!["client", "--kind", "heartbeat"];
        for (k, v) in [
            ("--pop", "192.0.2.1"),
            ("--prefix", "2001:db8:1::/64"),
            ("--password", PW),
        ] {
            if !extra.contains(&k) {
                argv.extend([k, v]);
            }
        }
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).map(|c| c.a)
    }

    #[test]
    fn heartbeat_defaults() {
        let (t, o) = heartbeat_params(&parse_hb(&[]).unwrap()).unwrap();
        assert_eq!(t.pop.to_string(), "192.0.2.1:3740");
        assert_eq!(t.mtu, 1280);
        assert_eq!(t.beat_interval.as_secs(), 60, "AICCU's interval");
        assert_eq!(o.tun_name, "heartbeat0");
        assert_eq!(t.password(), PW.as_bytes());
        let a = parse_hb(&[
            "--mtu",
            "1480",
            "--tun",
            "hb1",
            "--beat-interval",
            "2",
            "--pop",
            "192.0.2.1:4000",
        ])
        .unwrap();
        let (t, o) = heartbeat_params(&a).unwrap();
        assert_eq!(
            (t.pop.port(), t.mtu, t.beat_interval.as_secs()),
            (4000, 1480, 2)
        );
        assert_eq!(o.tun_name, "hb1");
        assert!(parse(&["--kind", "sit", "--password", PW]).is_err());
        // AYIYA's defaults stay.
        let (t, o) = params(&parse(&["--password", PW]).unwrap()).unwrap();
        assert_eq!(
            (t.beat_interval.as_secs(), o.tun_name.as_str()),
            (30, "ayiya0")
        );
    }

    /// The heartbeat kind's own refusals: an IPv6 PoP, its MTU range.
    #[test]
    fn heartbeat_bad_values_are_invalid() {
        for extra in [
            &["--pop", "2001:db8::1"][..],
            &["--mtu", "1481"],
            &["--mtu", "1279"],
            &["--password", ""],
            &["--tun", "a/b"],
            &["--beat-interval", "0"],
        ] {
            let a = parse_hb(extra).unwrap_or_else(|e| panic!("{extra:?}: {e}"));
            let e = heartbeat_params(&a).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Invalid, "{extra:?}");
            let m = e.to_string();
            assert!(!m.contains(PW) && !m.contains('\n'), "{extra:?}: {m}");
        }
        // What AYIYA refuses, heartbeat takes.
        assert!(heartbeat_params(&parse_hb(&["--mtu", "1480"]).unwrap()).is_ok());
    }

    /// --tic replaces --pop, --prefix, --mtu and --kind, and needs --user.
    #[test]
    fn tic_arguments() {
        let tic = |extra: &[&str]| {
            let mut argv = vec!["client", "--tic", "192.0.2.1", "--password", PW];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv).map(|c| c.a)
        };
        let a = tic(&["--user", "U", "--tunnel", "T1"]).unwrap();
        assert_eq!((a.pop, a.prefix), (None, None));
        assert!(tic(&[]).is_err(), "--user is needed");
        for clash in [
            &["--pop", "192.0.2.1"][..],
            &["--prefix", "2001:db8:1::/64"],
            &["--mtu", "1280"],
            &["--kind", "heartbeat"],
        ] {
            let mut e = vec!["--user", "U"];
            e.extend_from_slice(clash);
            assert!(tic(&e).is_err(), "{clash:?}");
        }
        for without_tic in [["--user", "U"], ["--tunnel", "T1"]] {
            let refused = parse(&[without_tic[0], without_tic[1], "--password", PW])
                .map_err(|e| e.to_string())
                .and_then(|a| params(&a).map(|_| ()).map_err(|e| e.to_string()));
            assert!(refused.is_err(), "{without_tic:?}");
        }
        assert!(Cli::try_parse_from(["client", "--password", PW]).is_err());
    }

    #[test]
    fn one_password_source() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--password", PW, "--password-file", "/x"]).is_err());
        assert!(parse(&["--password", PW, "--prefix", "nonsense"]).is_err());
    }

    /// Bad values are `invalid` (exit 2), in one line, never with the
    /// password in it.
    #[test]
    fn bad_values_are_invalid() {
        let cases: &[&[&str]] = &[
            &["--pop", "192.0.2.300"],
            &["--pop", "192.0.2.1:0"],
            &["--prefix", "2001:db8::/48"],
            &["--mtu", "1279"],
            &["--mtu", "1429"],
            &["--mtu", "9000"],
            &["--beat-interval", "0"],
            &["--beat-interval", "soon"],
            &["--tun", "a-name-far-too-long"],
            &["--tun", "a/b"],
            &["--password", ""],
        ];
        for extra in cases {
            // The base arguments, with the case's one replaced.
            let mut argv = vec!["client"];
            for (k, v) in [
                ("--pop", "192.0.2.1"),
                ("--prefix", "2001:db8:1::/64"),
                ("--password", PW),
            ] {
                if !extra.contains(&k) {
                    argv.extend([k, v]);
                }
            }
            argv.extend_from_slice(extra);
            let a = Cli::try_parse_from(argv)
                .map(|c| c.a)
                .unwrap_or_else(|e| panic!("{extra:?}: {e}"));
            let e = params(&a).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Invalid, "{extra:?}");
            let m = e.to_string();
            assert!(!m.contains(PW) && !m.contains('\n'), "{extra:?}: {m}");
        }
    }
}
