//! The daemon's configuration file (TOML). Every key has a default; unknown
//! keys are errors, so a typo is never silently ignored.

use std::{
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Interfaces the XDP program is attached to (the PoP's uplinks).
    pub uplinks: Vec<String>,
    /// `native` (driver XDP) or `skb` (generic XDP, slower; only when the
    /// driver has no native XDP).
    pub xdp_mode: XdpModeName,
    /// The PoP's IPv4 addresses. When not empty, a tunnel's `local` must be
    /// one of them.
    pub pop_ipv4: Vec<Ipv4Addr>,
    /// SQLite database holding the configured tunnels.
    pub state_path: PathBuf,
    /// The API socket `tunnelctl` talks to.
    pub socket_path: PathBuf,
    /// Group (name) allowed to use the API besides root; empty: root only.
    pub socket_group: String,
    /// Prometheus metrics listen address; empty string disables metrics.
    pub metrics_listen: String,
    /// Where the daemon takes SixXS heartbeats (UDP, IPv4 `ADDRESS:PORT`,
    /// usually `0.0.0.0:3740`): the signed beats that tell a heartbeat
    /// tunnel (or an AYIYA user switching to proto-41) where its user is.
    /// Empty: off, and heartbeat tunnels stay DOWN (`status` says so).
    pub heartbeat_listen: String,
    /// bpffs directory for pinned maps and links (ABI-versioned inside).
    pub pin_dir: PathBuf,
    /// Start even when the bpffs holding `pin_dir` dies with the daemon
    /// (a mount namespace of its own, as under `ip netns exec`): then every
    /// restart detaches the programs and drops traffic. For labs only.
    pub allow_ephemeral_pins: bool,
    /// Let the daemon turn on, at start, the sysctls the data path needs
    /// and finds off: IPv6 forwarding (host-wide and on the uplinks) and
    /// the BPF JIT (only visible in the host's network namespace). Off:
    /// it only says what is missing and what that costs (`status`).
    pub set_sysctls: bool,
    /// Tunnel id range 0..max_tunnels; fixed for the pinned maps' lifetime.
    pub max_tunnels: u32,
    /// Prefix trie capacity (each tunnel's /64 plus routed prefixes).
    pub max_prefixes: u32,
    /// NDP proxy table capacity: (target, uplink) pairs, manual and from
    /// tunnels with `proxy_ndp`.
    pub max_proxies: u32,
    /// ICMPv6 errors per second and CPU, and their burst.
    pub icmp_rate_per_sec: u32,
    pub icmp_burst: u32,
    /// Seconds without a packet or beat after which an AYIYA or heartbeat
    /// tunnel is DOWN: traffic toward it gets ICMPv6 unreachable (code 0).
    /// sixxsd's 120 by default (AICCU beats every 60 s); raise it for
    /// clients that beat less often (10..=3600).
    pub liveness_timeout: u32,
    /// Seconds between two latency pings of a tunnel (an ICMPv6 echo from
    /// its `::1` to its `::2`, spread over the interval); 0 turns the
    /// pinger off. sixxsd's 60 by default (10..=3600).
    pub ping_interval: u32,
    /// The tunnel device: a veth the daemon creates (peer: this name plus
    /// `p`), where kernel routes toward tunnel prefixes point and whose
    /// egress program encapsulates what the PoP itself sends. Empty: no
    /// device, no routes (the PoP's own traffic does not reach tunnels).
    pub local_device: String,
    /// Routing protocol number of the daemon's kernel routes (rtnetlink
    /// `rtm_protocol`, above 4 = RTPROT_STATIC): how it finds its own routes
    /// to reconcile, and how a routing daemon can select them.
    pub route_protocol: u8,
    /// HE-style endpoint updates (`/nic/update`) listen address, plain
    /// HTTP (TLS is a reverse proxy's job); empty string: off.
    pub update_listen: String,
    /// Take the client's address for `/nic/update` from `X-Real-IP` or
    /// `X-Forwarded-For` (the last entry), as a reverse proxy in front of
    /// `update_listen` sets them. Only for a listener nobody reaches but
    /// through that proxy: anyone else can write those headers.
    pub update_trust_forwarded: bool,
    /// TIC (AICCU's login, TCP 3874) listen address, e.g. "0.0.0.0:3874";
    /// empty: no TIC server. Plain text, as SixXS's was.
    pub tic_listen: String,
    /// TIC sessions open at once; more are refused ("400 too many
    /// connections").
    pub tic_max_connections: u32,
    /// Seconds a TIC client may take to send its next line.
    pub tic_line_timeout_s: u32,
    /// Seconds a TIC session may last, whatever it does.
    pub tic_session_timeout_s: u32,
    /// This PoP's name in TIC (`POP Id`); empty: the host name.
    pub pop_id: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum XdpModeName {
    Native,
    Skb,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            uplinks: Vec::new(),
            xdp_mode: XdpModeName::Native,
            pop_ipv4: Vec::new(),
            state_path: "/var/lib/tunnelctl/state.db".into(),
            socket_path: DEFAULT_SOCKET.into(),
            socket_group: String::new(),
            metrics_listen: "127.0.0.1:9641".into(),
            heartbeat_listen: String::new(),
            pin_dir: "/sys/fs/bpf/tunnel-pop".into(),
            allow_ephemeral_pins: false,
            set_sysctls: false,
            max_tunnels: tunnel_common::maps::DEFAULT_MAX_TUNNELS,
            max_prefixes: tunnel_common::maps::DEFAULT_MAX_PREFIXES,
            max_proxies: tunnel_common::maps::DEFAULT_MAX_PROXIES,
            icmp_rate_per_sec: 1000,
            icmp_burst: 50,
            liveness_timeout: tunnel_common::config::LIVENESS_S_DEFAULT,
            ping_interval: 60,
            local_device: "tnl0".into(),
            route_protocol: DEFAULT_ROUTE_PROTOCOL,
            update_listen: String::new(),
            update_trust_forwarded: false,
            tic_listen: String::new(),
            tic_max_connections: 64,
            tic_line_timeout_s: 30,
            tic_session_timeout_s: 300,
            pop_id: String::new(),
        }
    }
}

/// Unassigned in iproute2's rt_protos; shows as 116 in `ip -6 route`.
pub const DEFAULT_ROUTE_PROTOCOL: u8 = 116;

/// Name of the tunnel device's veth peer.
pub fn peer_name(device: &str) -> String {
    format!("{device}p")
}

pub const DEFAULT_SOCKET: &str = "/run/tunnelctl.sock";
pub const DEFAULT_CONFIG: &str = "/etc/tunnelctl/tunnelctl.toml";

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let c: Config = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<()> {
        if self.uplinks.is_empty() {
            bail!("uplinks: at least one interface is needed");
        }
        if self.max_proxies == 0 {
            bail!("max_proxies must be at least 1");
        }
        if self.max_tunnels == 0 || self.max_prefixes < self.max_tunnels {
            bail!("max_tunnels must be at least 1 and max_prefixes at least max_tunnels");
        }
        // IFNAMSIZ is 16 with the NUL, and the peer adds a character.
        let d = &self.local_device;
        if d.len() > 14 || d.contains(['/', ':']) || d.chars().any(char::is_whitespace) {
            bail!("local_device: '{d}' is not an interface name of at most 14 characters");
        }
        if self.uplinks.contains(d) {
            bail!("local_device: {d} is also an uplink; the daemon owns its tunnel device");
        }
        if !self.pin_dir.is_absolute() || self.pin_dir.parent().is_none() {
            bail!(
                "pin_dir: {} must be an absolute path below a bpffs mount point",
                self.pin_dir.display()
            );
        }
        if !(10..=3600).contains(&self.liveness_timeout) {
            bail!(
                "liveness_timeout: {} s is out of range 10..=3600",
                self.liveness_timeout
            );
        }
        if self.ping_interval != 0 && !(10..=3600).contains(&self.ping_interval) {
            bail!(
                "ping_interval: {} s is out of range 10..=3600 (0: off)",
                self.ping_interval
            );
        }
        if self.route_protocol <= 4 {
            bail!(
                "route_protocol: {} is reserved for the kernel (0-4); use 5..=255",
                self.route_protocol
            );
        }
        if !self.update_listen.is_empty() {
            self.update_listen.parse::<SocketAddr>().with_context(|| {
                format!(
                    "update_listen: '{}' is not ADDRESS:PORT",
                    self.update_listen
                )
            })?;
            if self.update_listen == self.metrics_listen {
                bail!(
                    "update_listen and metrics_listen are both {}",
                    self.update_listen
                );
            }
        }
        if self.update_trust_forwarded && self.update_listen.is_empty() {
            bail!("update_trust_forwarded is set but update_listen is not: nothing to trust");
        }
        if !self.tic_listen.is_empty() {
            self.tic_listen.parse::<SocketAddr>().with_context(|| {
                format!("tic_listen: '{}' is not ADDRESS:PORT", self.tic_listen)
            })?;
        }
        if self.tic_max_connections == 0
            || self.tic_line_timeout_s == 0
            || self.tic_session_timeout_s == 0
        {
            bail!("tic_max_connections, tic_line_timeout_s and tic_session_timeout_s must be at least 1");
        }
        if !self.pop_id.is_empty() {
            crate::daemon::validate::user_name(&self.pop_id).map_err(|_| {
                anyhow::anyhow!("pop_id: '{}': 1 to 32 of A-Z a-z 0-9 . _ -", self.pop_id)
            })?;
        }
        if !self.metrics_listen.is_empty() {
            self.metrics_listen.parse::<SocketAddr>().with_context(|| {
                format!(
                    "metrics_listen: '{}' is not ADDRESS:PORT",
                    self.metrics_listen
                )
            })?;
        }
        if !self.heartbeat_listen.is_empty() {
            self.heartbeat_listen
                .parse::<SocketAddrV4>()
                .with_context(|| {
                    format!(
                        "heartbeat_listen: '{}' is not IPV4-ADDRESS:PORT (beats teach IPv4 endpoints; SixXS used port 3740)",
                        self.heartbeat_listen
                    )
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse("uplinks = [\"eth0\"]").unwrap();
        assert_eq!(c.uplinks, ["eth0"]);
        assert_eq!(c.xdp_mode, XdpModeName::Native);
        assert_eq!(c.socket_path, PathBuf::from(DEFAULT_SOCKET));
        // Endpoint updates are off unless asked for.
        assert_eq!(
            (c.update_listen.as_str(), c.update_trust_forwarded),
            ("", false)
        );
        let c = Config::parse(
            "uplinks = [\"eth0\"]\nupdate_listen = \"[::]:8053\"\nupdate_trust_forwarded = true",
        )
        .unwrap();
        assert_eq!(c.update_listen, "[::]:8053");
        assert_eq!(
            c.heartbeat_listen, "",
            "heartbeats are off unless asked for"
        );
        let c = Config::parse("uplinks = [\"eth0\"]\nheartbeat_listen = \"0.0.0.0:3740\"").unwrap();
        assert_eq!(c.heartbeat_listen, "0.0.0.0:3740");
    }

    #[test]
    fn bad_configs_say_why() {
        let cases = [
            ("", "at least one interface"),
            (
                "uplinks = [\"eth0\"]\nxdp_mode = \"fast\"",
                "unknown variant",
            ),
            ("uplinks = [\"eth0\"]\nuplink = \"eth1\"", "unknown field"),
            (
                "uplinks = [\"eth0\"]\nmetrics_listen = \"9100\"",
                "not ADDRESS:PORT",
            ),
            (
                "uplinks = [\"eth0\"]\npop_ipv4 = [\"192.0.2.300\"]",
                "invalid",
            ),
            ("uplinks = [\"eth0\"]\nmax_tunnels = 0", "max_tunnels"),
            (
                "uplinks = [\"eth0\"]\nlocal_device = \"a-very-long-name\"",
                "local_device",
            ),
            ("uplinks = [\"eth0\"]\nroute_protocol = 4", "route_protocol"),
            (
                "uplinks = [\"eth0\"]\nliveness_timeout = 5",
                "liveness_timeout",
            ),
            (
                "uplinks = [\"eth0\"]\nheartbeat_listen = \"3740\"",
                "not IPV4-ADDRESS:PORT",
            ),
            (
                "uplinks = [\"eth0\"]\nheartbeat_listen = \"[::]:3740\"",
                "not IPV4-ADDRESS:PORT",
            ),
            (
                "uplinks = [\"eth0\"]\ntic_listen = \"3874\"",
                "tic_listen: '3874' is not ADDRESS:PORT",
            ),
            ("uplinks = [\"eth0\"]\ntic_line_timeout_s = 0", "at least 1"),
            ("uplinks = [\"eth0\"]\npop_id = \"my pop\"", "pop_id"),
            ("uplinks = [\"tnl0\"]", "also an uplink"),
            ("uplinks = [\"eth0\"]\npin_dir = \"/\"", "pin_dir"),
            ("uplinks = [\"eth0\"]\npin_dir = \"pins\"", "pin_dir"),
            (
                "uplinks = [\"eth0\"]\nallow_ephemeral_pins = 1",
                "invalid type",
            ),
            (
                "uplinks = [\"eth0\"]\nset_sysctls = \"yes\"",
                "invalid type",
            ),
            (
                "uplinks = [\"eth0\"]\nupdate_listen = \"8080\"",
                "update_listen: '8080' is not ADDRESS:PORT",
            ),
            (
                "uplinks = [\"eth0\"]\nupdate_listen = \"127.0.0.1:9641\"",
                "both 127.0.0.1:9641",
            ),
            (
                "uplinks = [\"eth0\"]\nupdate_trust_forwarded = true",
                "nothing to trust",
            ),
        ];
        for (text, msg) in cases {
            let e = format!("{:#}", Config::parse(text).unwrap_err());
            assert!(e.contains(msg), "{text:?}: {e}");
        }
    }
}

#[cfg(test)]
mod example {
    /// The example shipped in dist/ parses and documents every key.
    #[test]
    fn shipped_example_parses() {
        let text = include_str!("../../../dist/tunnelctl.toml");
        let c = super::Config::parse(text).unwrap();
        assert_eq!(
            c,
            super::Config {
                uplinks: vec!["eth0".into()],
                ..Default::default()
            }
        );
    }
}
