//! `tunnelctl tunnel add|remove|list|show|set`.

use std::{net::Ipv4Addr, path::PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use super::{output, ApiClient};
use crate::{
    api::{Request, Response, TunnelChanges, TunnelKind, TunnelSpec, TunnelView},
    error::Error,
    prefix::Ipv6Prefix,
};

#[derive(Subcommand)]
pub enum TunnelCmd {
    /// Add a tunnel (6in4 to a configured remote: the only kind yet).
    Add(AddArgs),
    /// Remove a tunnel and its routed prefixes.
    Remove { id: u32 },
    /// List tunnels with their counters.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one tunnel.
    Show {
        id: u32,
        #[arg(long)]
        json: bool,
    },
    /// Change a tunnel: enable/disable, MTU, TTL, PMTU discovery, remote.
    Set(SetArgs),
}

#[derive(Args)]
pub struct AddArgs {
    /// Tunnel id (0..max_tunnels).
    pub id: u32,
    /// sixin4, heartbeat (6in4 to where signed beats come from) or ayiya.
    #[arg(long, default_value_t = TunnelKind::Sixin4)]
    pub kind: TunnelKind,
    /// heartbeat, ayiya: the tunnel's password (`sha1:<hex>` gives AYIYA's
    /// key directly, for AYIYA only: heartbeat and TIC need the password).
    #[arg(long)]
    pub password: Option<String>,
    /// The PoP's IPv4 address for the tunnel.
    #[arg(long)]
    pub local: Ipv4Addr,
    /// The user's IPv4 address (sixin4: required).
    #[arg(long)]
    pub remote: Option<Ipv4Addr>,
    /// The tunnel's /64 (::1 is the PoP, ::2 the user).
    #[arg(long)]
    pub prefix: Ipv6Prefix,
    /// Routed prefixes (repeatable).
    #[arg(long = "routed")]
    pub routed: Vec<Ipv6Prefix>,
    /// Tunnel MTU, 1280..=1480 (ayiya: ..=1428). Default: 1480, ayiya 1280.
    #[arg(long)]
    pub mtu: Option<u16>,
    /// Outer TTL; 0 inherits the inner hop limit.
    #[arg(long, default_value_t = tunnel_common::tunnel::TTL_DEFAULT)]
    pub ttl: u8,
    /// Static MTU: no DF on the outer header (RFC 4213 3.2.1).
    #[arg(long)]
    pub no_pmtudisc: bool,
    /// Create it disabled.
    #[arg(long)]
    pub disabled: bool,
    /// Answer Neighbor Solicitations for the user's address (::2) on the
    /// uplinks (when the tunnel /64s are on-link upstream).
    #[arg(long)]
    pub proxy_ndp: bool,
    /// The user (tunnelctl user add) who owns it: TIC lists it to them.
    #[arg(long)]
    pub owner: Option<String>,
}

#[derive(Args)]
pub struct SetArgs {
    pub id: u32,
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    #[arg(long)]
    pub disable: bool,
    #[arg(long)]
    pub mtu: Option<u16>,
    #[arg(long)]
    pub ttl: Option<u8>,
    #[arg(long)]
    pub pmtudisc: Option<bool>,
    #[arg(long)]
    pub remote: Option<Ipv4Addr>,
    /// Proxy NDP for the user's address: true or false.
    #[arg(long)]
    pub proxy_ndp: Option<bool>,
    /// Give the tunnel to this user.
    #[arg(long, conflicts_with = "no_owner")]
    pub owner: Option<String>,
    /// Take the tunnel from its owner (TIC lists it to no one).
    #[arg(long)]
    pub no_owner: bool,
    /// heartbeat, ayiya: a new tunnel password, the first line of this
    /// file (what TIC hands out; a store from before TIC that kept only
    /// AYIYA's key needs it).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// sixin4: the user's key for HE-style updates (/nic/update), read
    /// from this file (its first line; 16 to 128 printable characters, or
    /// `sha256:<hex>`). The daemon keeps only its SHA-256.
    #[arg(long, value_name = "FILE", conflicts_with = "generate_update_key")]
    pub update_key_file: Option<PathBuf>,
    /// sixin4: make a new update key, set it and print it (once: the
    /// daemon keeps only its SHA-256).
    #[arg(long)]
    pub generate_update_key: bool,
}

pub fn run(c: &mut ApiClient, cmd: TunnelCmd) -> Result<()> {
    match cmd {
        TunnelCmd::Add(a) => {
            let tunnel = TunnelSpec {
                id: a.id,
                kind: a.kind,
                local: a.local,
                remote: a.remote,
                prefix: a.prefix,
                mtu: a.mtu.unwrap_or(a.kind.default_mtu()),
                ttl: a.ttl,
                pmtudisc: !a.no_pmtudisc,
                enabled: !a.disabled,
                routed: a.routed,
                proxy_ndp: a.proxy_ndp,
                secret: a.password,
                owner: a.owner,
                update_key: None,
            };
            c.simple(Request::TunnelAdd { tunnel })?;
            println!("tunnel {} added", a.id);
        }
        TunnelCmd::Remove { id } => {
            c.simple(Request::TunnelRemove { id })?;
            println!("tunnel {id} removed");
        }
        TunnelCmd::List { json } => {
            let Response::Tunnels { tunnels } = c.simple(Request::TunnelList)? else {
                bail!("unexpected response")
            };
            if json {
                return output::json(&tunnels);
            }
            let rows: Vec<Vec<String>> = tunnels.iter().map(row).collect();
            output::table(
                &[
                    "ID", "KIND", "STATE", "LOCAL", "REMOTE", "PREFIX", "MTU", "OWNER", "RTT MS",
                    "LOSS", "RX PKTS", "TX PKTS", "ROUTED",
                ],
                &rows,
            );
        }
        TunnelCmd::Show { id, json } => {
            let Response::Tunnel { tunnel } = c.simple(Request::TunnelShow { id })? else {
                bail!("unexpected response")
            };
            if json {
                return output::json(&tunnel);
            }
            show(&tunnel);
        }
        TunnelCmd::Set(s) => {
            if !(s.enable || s.disable)
                && s.mtu.is_none()
                && s.ttl.is_none()
                && s.pmtudisc.is_none()
                && s.remote.is_none()
                && s.proxy_ndp.is_none()
                && s.owner.is_none()
                && !s.no_owner
                && s.update_key_file.is_none()
                && !s.generate_update_key
                && s.password_file.is_none()
            {
                return Err(Error::Invalid("nothing to change: give --enable, --disable, --mtu, --ttl, --pmtudisc, --remote, --proxy-ndp, --owner, --no-owner, --password-file, --update-key-file or --generate-update-key".into()).into());
            }
            let secret = match &s.password_file {
                Some(f) => Some(super::password::read(Some(f), "")?),
                None => None,
            };
            if s.owner.as_deref() == Some("") {
                return Err(Error::Invalid(
                    "--owner: a user name (--no-owner takes the owner away)".into(),
                )
                .into());
            }
            let update_key = update_key(&s)?;
            let enabled = if s.enable {
                Some(true)
            } else if s.disable {
                Some(false)
            } else {
                None
            };
            let changes = TunnelChanges {
                enabled,
                mtu: s.mtu,
                ttl: s.ttl,
                pmtudisc: s.pmtudisc,
                remote: s.remote,
                proxy_ndp: s.proxy_ndp,
                // "" on the wire: no owner any more.
                owner: if s.no_owner {
                    Some(String::new())
                } else {
                    s.owner
                },
                update_key: update_key.clone(),
                secret,
            };
            let Response::Tunnel { tunnel } = c.simple(Request::TunnelSet { id: s.id, changes })?
            else {
                bail!("unexpected response")
            };
            show(&tunnel);
            // Only once the daemon has it: a key it refused was never a key.
            if let (true, Some(k)) = (s.generate_update_key, update_key) {
                println!("update key: {k}");
                println!("  (shown once: the daemon keeps only its SHA-256)");
            }
        }
    }
    Ok(())
}

/// The update key `tunnel set` sends: the file's first line, or a new one.
fn update_key(s: &SetArgs) -> Result<Option<String>> {
    if s.generate_update_key {
        return Ok(Some(crate::daemon::update::key::generate()?));
    }
    let Some(path) = &s.update_key_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(Error::invalid)?;
    // The line as an editor or `echo` leaves it; the daemon checks the rest.
    let key = text.lines().next().unwrap_or("").trim_end_matches('\r');
    Ok(Some(key.to_owned()))
}

fn row(t: &TunnelView) -> Vec<String> {
    let s = &t.spec;
    vec![
        s.id.to_string(),
        s.kind.to_string(),
        t.state.name().into(),
        s.local.to_string(),
        remote(s),
        s.prefix.to_string(),
        s.mtu.to_string(),
        s.owner.clone().unwrap_or_else(|| "-".into()),
        t.latency
            .as_ref()
            .and_then(|l| l.rtt_avg_us)
            .map_or_else(|| "-".into(), ms),
        t.latency
            .as_ref()
            .map_or_else(|| "-".into(), |l| format!("{}%", l.loss_pct)),
        output::human(t.stats.rx_packets),
        output::human(t.stats.tx_packets),
        s.routed
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(","),
    ]
}

/// Microseconds as milliseconds, one decimal.
fn ms(us: u32) -> String {
    format!("{:.1}", f64::from(us) / 1000.0)
}

fn show(t: &TunnelView) {
    let s = &t.spec;
    println!("tunnel {} ({}): {}", s.id, s.kind, t.state.name());
    println!(
        "  outer     {} -> {}  ttl {}  {}",
        s.local,
        remote(s),
        s.ttl,
        if s.pmtudisc {
            "pmtudisc (DF)"
        } else {
            "static MTU (no DF)"
        }
    );
    println!(
        "  prefix    {}  (PoP {}, user {})",
        s.prefix,
        s.prefix.host(1),
        s.prefix.host(2)
    );
    println!("  mtu       {}", s.mtu);
    if let Some(o) = &s.owner {
        println!("  owner     {o}");
    }
    if s.proxy_ndp {
        println!("  ndp proxy {} on the uplinks", s.prefix.host(2));
    }
    if t.has_update_key {
        println!("  update    by key (/nic/update)");
    }
    for p in &s.routed {
        println!("  routed    {p}");
    }
    if let Some(l) = &t.latency {
        let rtt = |v: Option<u32>| v.map_or_else(|| "-".into(), ms);
        println!(
            "  latency   rtt min/avg/max {}/{}/{} ms, loss {}% (last pings), {} of {} answered",
            rtt(l.rtt_min_us),
            rtt(l.rtt_avg_us),
            rtt(l.rtt_max_us),
            l.loss_pct,
            l.received,
            l.sent
        );
    }
    match &t.endpoint {
        Some(e) => println!(
            "  learned   {} -> {} via {}, last seen {} s ago",
            e.remote, e.local, e.via, e.seen_s_ago
        ),
        None if s.kind.learns_remote() => {
            println!("  learned   nothing yet: the user has not sent a valid packet or beat")
        }
        None => {}
    }
    println!(
        "  rx        {} packets, {} bytes",
        t.stats.rx_packets, t.stats.rx_bytes
    );
    println!(
        "  tx        {} packets, {} bytes",
        t.stats.tx_packets, t.stats.tx_bytes
    );
    match (&t.stats.last_error, t.stats.last_error_s_ago) {
        (Some(reason), Some(ago)) => println!(
            "  errors    {} dropped, the last {ago} s ago: {reason}",
            t.stats.errors
        ),
        _ => println!("  errors    none"),
    }
}

/// The remote, or that it is learned (kinds whose user's address changes).
fn remote(s: &TunnelSpec) -> String {
    s.remote.map_or_else(|| "learned".into(), |r| r.to_string())
}
