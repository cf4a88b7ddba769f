//! `tunnelctl client`: parses the tunnel's parameters and runs the AYIYA
//! client (`crate::ayiya_client`) until SIGTERM or SIGINT.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgGroup, Args};

use crate::{
    ayiya_client::{self, params, RunOptions, TunnelParams},
    error::Error,
    prefix::Ipv6Prefix,
};

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("secret").required(true).args(["password", "password_file"])))]
pub struct ClientArgs {
    /// The PoP's AYIYA address: IPv4 or IPv6, optionally with a port
    /// (default 5072; `[v6]:port`), or a host name.
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub pop: String,
    /// The tunnel's /64: this client takes `::2`, the PoP is `::1`.
    #[arg(long, value_name = "PREFIX/64")]
    pub prefix: Ipv6Prefix,
    /// The tunnel's password (visible in the process list: prefer
    /// --password-file). Only its SHA-1 is kept, and it is never logged.
    #[arg(long)]
    pub password: Option<String>,
    /// A file whose first line is the tunnel's password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// The tunnel MTU, set on the tun device (as the PoP's tunnel; 1280 to
    /// 1428).
    #[arg(long, default_value_t = 1280)]
    pub mtu: u16,
    /// Name of the tun device.
    #[arg(long, default_value = "ayiya0")]
    pub tun: String,
    /// Time between beats: seconds, or with a suffix s or m.
    #[arg(long, default_value = "30", value_name = "SECS")]
    pub beat_interval: String,
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
pub fn params(a: &ClientArgs) -> Result<(TunnelParams, RunOptions), Error> {
    let invalid = |e: params::ParamError| Error::Invalid(e.to_string());
    let pop = params::parse_pop(&a.pop).map_err(invalid)?;
    let beat_interval = params::parse_interval(&a.beat_interval).map_err(invalid)?;
    let password = match (&a.password, &a.password_file) {
        (Some(p), _) => p.as_bytes().to_vec(),
        (None, Some(f)) => params::read_password_file(f).map_err(invalid)?,
        (None, None) => return Err(Error::Invalid("--password or --password-file".into())),
    };
    let t = TunnelParams::new(pop, a.prefix, &password, a.mtu, beat_interval).map_err(invalid)?;
    if a.tun.is_empty() || a.tun.len() > 15 || a.tun.contains(['/', ' ', '\0']) {
        return Err(Error::Invalid(format!(
            "--tun {:?}: an interface name is 1 to 15 characters, no '/' or space",
            a.tun
        )));
    }
    let o = RunOptions {
        tun_name: a.tun.clone(),
        default_route: a.default_route,
        clock_offset: a.clock_offset,
        probe_timeout: std::time::Duration::from_secs(a.probe_timeout),
    };
    Ok((t, o))
}

pub fn run(a: &ClientArgs) -> Result<()> {
    let (t, o) = params(a)?;
    ayiya_client::init_logging();
    ayiya_client::run(t, o)?;
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
