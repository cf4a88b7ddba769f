//! An AYIYA PoP with `tunnelctl client` behind a masquerading NAT, for the
//! L2 tests (tests/tests/l2_client.rs) and the demo:
//!
//! ```text
//!  client c0 ──── n0 nat n1 ──── p0 pop p1 ──── u0 upstream
//!
//!  client    c0 198.51.100.2/24, default via 198.51.100.1;
//!            `tunnelctl client` on cl-ayiya0: 2001:db8:1::2/64, ::/0 via it
//!  nat       n0 198.51.100.1/24, n1 203.0.113.2/24; IPv4 forwarding;
//!            nftables masquerade out of n1, UDP to ports 20000-20999
//!  pop       p0 203.0.113.1/24, p1 2001:db8:ffff::1/64; IPv6 forwarding;
//!            the daemon, tunnel 1: ayiya, local 203.0.113.1, 2001:db8:1::/64
//!  upstream  u0 2001:db8:ffff::2/64, 2001:db8:1::/64 via the PoP
//! ```
//! No static neighbours: every kernel resolves its own. The daemon runs
//! as `daemon.rs` starts it (`nsenter --net`, driven by the real CLI); the
//! client is the real binary too, started the same way, beating every
//! 2 s. The veths that receive what XDP sends back (n1 for XDP_TX toward
//! the user, u0 for redirects upstream) run `testbed_pass`; offloads are
//! off on every veth (`netns::veth`). `AyiyaBed::new_v6` drops the NAT: the
//! client on the PoP's first uplink, over IPv6. `AyiyaBed::new_heartbeat`
//! is the same drawing with tunnel 1 of kind heartbeat, the daemon taking
//! beats on UDP 3740 (`heartbeat_listen`) and the client run with `--kind
//! heartbeat` (proto-41 through the NAT: its masquerade rule for what is
//! not UDP, generic conntrack).

use std::{
    net::{SocketAddr, SocketAddrV4},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    daemon::{signal, sigterm, tunnelctl_bin, Daemon},
    netns::{veth, Netns},
};

pub const PASSWORD: &str = "f3d47c2de40fb698e1ab15d757a09bfc";
pub const CLIENT_V4: &str = "198.51.100.2";
pub const NAT_INSIDE_V4: &str = "198.51.100.1";
pub const NAT_PUBLIC_V4: &str = "203.0.113.2";
pub const POP_V4: &str = "203.0.113.1";
pub const POP_UPLINK_V6: &str = "2001:db8:ffff::1";
pub const UPSTREAM_V6: &str = "2001:db8:ffff::2";
pub const TUNNEL_PREFIX: &str = "2001:db8:1::/64";
pub const USER_V6: &str = "2001:db8:1::2";
pub const POP_INNER_V6: &str = "2001:db8:1::1";
pub const TUN: &str = "cl-ayiya0";
/// The IPv6 outer addresses (`over_ipv6`): the client and the PoP's p0.
pub const CLIENT_OUTER_V6: &str = "2001:db8:fffe::2";
pub const POP_OUTER_V6: &str = "2001:db8:fffe::1";
/// The NAT's UDP port ranges: before and after a rebinding.
pub const PORTS_A: (u16, u16) = (20000, 20999);
pub const PORTS_B: (u16, u16) = (30000, 30999);
/// Where the heartbeat bed's daemon takes beats.
pub const HEARTBEAT_PORT: u16 = 3740;
/// The NAT's public address after `renumber_nat` (heartbeat bed).
pub const NAT_PUBLIC_V4_B: &str = "203.0.113.3";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// `tunnelctl client` running in the client namespace; SIGTERM then
/// SIGKILL on drop, so a failing test leaves no process behind.
pub struct ClientProc {
    child: Option<Child>,
    log: PathBuf,
}

impl ClientProc {
    pub fn start(ns: &Netns, pop: &str, extra: &[&str]) -> Result<Self> {
        let mut args = vec!["--pop", pop, "--prefix", TUNNEL_PREFIX];
        args.extend_from_slice(extra);
        Self::start_args(ns, &args)
    }

    /// `tunnelctl client` with `args` (its tunnel's, e.g. `--tic …`)
    /// plus this bed's tun device, beat and probe settings.
    pub fn start_args(ns: &Netns, args: &[&str]) -> Result<Self> {
        let log = std::env::temp_dir().join(format!(
            "cl-client-{}-{}.log",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let f = std::fs::File::create(&log)?;
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", ns.name()))
            .arg(tunnelctl_bin()?)
            .arg("client")
            .args(args)
            .args([
                "--tun",
                TUN,
                "--beat-interval",
                "2",
                "--probe-timeout",
                "3",
                "--default-route",
            ])
            .stdout(Stdio::from(f.try_clone()?))
            .stderr(Stdio::from(f));
        let child = c.spawn().context("starting tunnelctl client")?;
        let mut p = Self {
            child: Some(child),
            log,
        };
        // Up once its tun device has the address.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = ns.output(&["ip", "-6", "addr", "show", "dev", TUN])?;
            if String::from_utf8_lossy(&out.stdout).contains(USER_V6) {
                return Ok(p);
            }
            if let Some(st) = p.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("the client exited with {st}:\n{}", p.log());
            }
            if Instant::now() > deadline {
                bail!(
                    "the client's tun device has no {USER_V6} after 10 s:\n{}",
                    p.log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the client is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM; returns the exit status's success and the log.
    pub fn stop(&mut self) -> Result<(bool, String)> {
        self.stop_with(libc::SIGTERM)
    }

    /// Signal `sig` (SIGTERM, SIGINT), then wait for the exit.
    pub fn stop_with(&mut self, sig: i32) -> Result<(bool, String)> {
        let Some(mut c) = self.child.take() else {
            bail!("not running")
        };
        signal(&c, sig);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(st) = c.try_wait()? {
                return Ok((st.success(), self.log()));
            }
            thread::sleep(Duration::from_millis(50));
        }
        c.kill()?;
        c.wait()?;
        bail!("the client ignored signal {sig} for 10 s:\n{}", self.log())
    }
}

impl Drop for ClientProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            sigterm(&c);
            thread::sleep(Duration::from_millis(200));
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The namespaces, the daemon with tunnel 1, and (after `start_client`)
/// the client. Field order is drop order: the client first, then the
/// daemon, the namespaces (which take the peers' programs along).
pub struct AyiyaBed {
    pub client_proc: Option<ClientProc>,
    pub daemon: Daemon,
    pub client: Netns,
    /// The NAT (IPv4); none when the client reaches the PoP over IPv6.
    pub nat: Option<Netns>,
    pub pop: Netns,
    pub upstream: Netns,
    /// The client's `--pop`.
    pub pop_arg: String,
}

impl AyiyaBed {
    /// The bed of the module's drawing: IPv4 through the NAT.
    pub fn new() -> Result<Self> {
        let client = Netns::new("cl-client")?;
        let nat = Netns::new("cl-nat")?;
        let pop = Netns::new("cl-pop")?;
        let upstream = Netns::new("cl-up")?;
        veth(&client, "c0", &nat, "n0")?;
        veth(&nat, "n1", &pop, "p0")?;
        client.ip(&format!("addr add {CLIENT_V4}/24 dev c0"))?;
        client.ip(&format!("route add default via {NAT_INSIDE_V4}"))?;
        nat.ip(&format!("addr add {NAT_INSIDE_V4}/24 dev n0"))?;
        nat.ip(&format!("addr add {NAT_PUBLIC_V4}/24 dev n1"))?;
        nat.sysctl("net.ipv4.ip_forward", "1")?;
        pop.ip(&format!("addr add {POP_V4}/24 dev p0"))?;
        set_masquerade(&nat, PORTS_A)?;
        Self::finish(client, Some(nat), pop, upstream, POP_V4.into(), "ayiya")
    }

    /// The bed of the module's drawing with a heartbeat tunnel (see the
    /// module's docs).
    pub fn new_heartbeat() -> Result<Self> {
        let client = Netns::new("hb-client")?;
        let nat = Netns::new("hb-nat")?;
        let pop = Netns::new("hb-pop")?;
        let upstream = Netns::new("hb-up")?;
        veth(&client, "c0", &nat, "n0")?;
        veth(&nat, "n1", &pop, "p0")?;
        client.ip(&format!("addr add {CLIENT_V4}/24 dev c0"))?;
        client.ip(&format!("route add default via {NAT_INSIDE_V4}"))?;
        nat.ip(&format!("addr add {NAT_INSIDE_V4}/24 dev n0"))?;
        nat.ip(&format!("addr add {NAT_PUBLIC_V4}/24 dev n1"))?;
        nat.sysctl("net.ipv4.ip_forward", "1")?;
        pop.ip(&format!("addr add {POP_V4}/24 dev p0"))?;
        set_masquerade(&nat, PORTS_A)?;
        Self::finish(client, Some(nat), pop, upstream, POP_V4.into(), "heartbeat")
    }

    /// The client straight on the PoP's first uplink, over IPv6 (the
    /// PoP keeps its IPv4 address there for the tunnel's `--local`).
    pub fn new_v6() -> Result<Self> {
        let client = Netns::new("cl-client6")?;
        let pop = Netns::new("cl-pop")?;
        let upstream = Netns::new("cl-up")?;
        veth(&client, "c0", &pop, "p0")?;
        client.ip(&format!("-6 addr add {CLIENT_OUTER_V6}/64 dev c0 nodad"))?;
        pop.ip(&format!("-6 addr add {POP_OUTER_V6}/64 dev p0 nodad"))?;
        pop.ip(&format!("addr add {POP_V4}/24 dev p0"))?;
        Self::finish(
            client,
            None,
            pop,
            upstream,
            format!("[{POP_OUTER_V6}]:5072"),
            "ayiya",
        )
    }

    /// The upstream side, XDP on the peers, the daemon and tunnel 1 of
    /// `kind` (a heartbeat tunnel: the daemon takes beats on 3740).
    fn finish(
        client: Netns,
        nat: Option<Netns>,
        pop: Netns,
        upstream: Netns,
        pop_arg: String,
        kind: &str,
    ) -> Result<Self> {
        veth(&pop, "p1", &upstream, "u0")?;
        pop.ip(&format!("-6 addr add {POP_UPLINK_V6}/64 dev p1 nodad"))?;
        pop.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        upstream.ip(&format!("-6 addr add {UPSTREAM_V6}/64 dev u0 nodad"))?;
        upstream.ip(&format!("-6 route add {TUNNEL_PREFIX} via {POP_UPLINK_V6}"))?;

        // What the PoP sends back out of p0 (XDP_TX) reaches the NAT, or
        // the client itself.
        match &nat {
            Some(nat) => crate::pass::attach(nat, "n1")?,
            None => crate::pass::attach(&client, "c0")?,
        }
        crate::pass::attach(&upstream, "u0")?;

        let mut daemon = Daemon::new(&pop, &["p0", "p1"], 64, 256)?;
        if kind == "heartbeat" {
            daemon.config_with(
                "tunnelctl.toml",
                &[("heartbeat_listen", &format!("\"0.0.0.0:{HEARTBEAT_PORT}\""))],
            )?;
        }
        daemon.start()?;
        daemon.ok(&[
            "tunnel",
            "add",
            "1",
            "--kind",
            kind,
            "--local",
            POP_V4,
            "--password",
            PASSWORD,
            "--prefix",
            TUNNEL_PREFIX,
        ])?;
        Ok(Self {
            client_proc: None,
            daemon,
            client,
            nat,
            pop,
            upstream,
            pop_arg,
        })
    }

    pub fn nat(&self) -> &Netns {
        self.nat.as_ref().expect("a bed with a NAT")
    }

    /// Starts the client with `extra` arguments (the password among them).
    pub fn start_client(&mut self, extra: &[&str]) -> Result<()> {
        self.client_proc = Some(ClientProc::start(&self.client, &self.pop_arg, extra)?);
        Ok(())
    }

    pub fn client_log(&self) -> String {
        self.client_proc
            .as_ref()
            .map(ClientProc::log)
            .unwrap_or_default()
    }

    /// Tunnel 1's learned endpoint (`addr:port`), if any.
    pub fn endpoint(&self) -> Result<Option<String>> {
        let v: serde_json::Value =
            serde_json::from_str(&self.daemon.ok(&["tunnel", "show", "1", "--json"])?)?;
        Ok(v["endpoint"]["remote"].as_str().map(str::to_owned))
    }

    /// Tunnel 1's state as `tunnel show` says it (`up`, `down`).
    pub fn state(&self) -> Result<String> {
        let v: serde_json::Value =
            serde_json::from_str(&self.daemon.ok(&["tunnel", "show", "1", "--json"])?)?;
        Ok(v["state"].as_str().unwrap_or("?").to_owned())
    }

    /// A drop counter of the PoP's data path, 0 when absent.
    pub fn drops(&self, reason: &str) -> Result<u64> {
        let v: serde_json::Value = serde_json::from_str(&self.daemon.ok(&["stats", "--json"])?)?;
        Ok(v["drops"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d[0] == reason)
            .and_then(|d| d[1].as_u64())
            .unwrap_or(0))
    }

    /// Waits until the endpoint is the NAT's public address on a port of
    /// `range`; returns it.
    pub fn wait_endpoint(&self, range: (u16, u16)) -> Result<SocketAddrV4> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = None;
        while Instant::now() < deadline {
            last = self.endpoint()?;
            if let Some(a) = last.as_deref().and_then(|s| s.parse::<SocketAddrV4>().ok()) {
                if a.ip().to_string() == NAT_PUBLIC_V4 && (range.0..=range.1).contains(&a.port()) {
                    return Ok(a);
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "endpoint {last:?}, want {NAT_PUBLIC_V4}:{}-{}\nclient:\n{}\ndaemon:\n{}",
            range.0,
            range.1,
            self.client_log(),
            self.daemon.log()
        )
    }

    /// Waits until the endpoint's address is `ip` (with any port, or none:
    /// a heartbeat endpoint has none); returns the endpoint as `tunnel
    /// show` has it.
    pub fn wait_endpoint_ip(&self, ip: &str) -> Result<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = serde_json::Value::Null;
        while Instant::now() < deadline {
            let v: serde_json::Value =
                serde_json::from_str(&self.daemon.ok(&["tunnel", "show", "1", "--json"])?)?;
            last = v["endpoint"].clone();
            let remote = last["remote"].as_str().unwrap_or("");
            let addr = remote
                .parse::<SocketAddr>()
                .map(|a| a.ip())
                .or_else(|_| remote.parse::<std::net::IpAddr>());
            if addr.is_ok_and(|a| a.to_string() == ip) {
                return Ok(last);
            }
            thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "endpoint {last}, want {ip}\nclient:\n{}\ndaemon:\n{}",
            self.client_log(),
            self.daemon.log()
        )
    }

    /// Gives the NAT a new public address (its old one gone, as after a
    /// new DHCP lease upstream): what it masquerades leaves from the new
    /// one. Masquerade drops the old address's mappings with it.
    pub fn renumber_nat(&self, to: &str) -> Result<()> {
        let nat = self.nat();
        // Deleted first: a primary address takes its secondaries with it.
        nat.ip(&format!("addr del {NAT_PUBLIC_V4}/24 dev n1"))?;
        nat.ip(&format!("addr add {to}/24 dev n1"))?;
        Ok(())
    }

    /// Waits for the client to say the PoP answers its probe.
    pub fn wait_tunnel_up(&self) -> Result<()> {
        wait_log(self, "the PoP answers: tunnel up")
    }
}

/// Waits up to 20 s for `needle` in the client's log.
pub fn wait_log(b: &AyiyaBed, needle: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if b.client_log().contains(needle) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(100));
    }
    bail!("the client never logged {needle:?}:\n{}", b.client_log())
}

/// The NAT's rule: masquerade what leaves n1, UDP onto `ports`.
pub fn set_masquerade(nat: &Netns, ports: (u16, u16)) -> Result<()> {
    let rules = format!(
        "table ip cl_nat {{}}\n\
         flush table ip cl_nat\n\
         table ip cl_nat {{\n\
           chain post {{\n\
             type nat hook postrouting priority srcnat; policy accept;\n\
             oifname \"n1\" meta l4proto udp masquerade to :{}-{}\n\
             oifname \"n1\" masquerade\n\
           }}\n\
         }}\n",
        ports.0, ports.1
    );
    let path = std::env::temp_dir().join(format!(
        "cl-nat-{}-{}.nft",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, rules)?;
    let r = nat.run(&["nft", "-f", &path.to_string_lossy()]);
    let _ = std::fs::remove_file(&path);
    r.map(|_| ())
        .context("nft (is nftables installed? scripts/setup.sh)")
}

/// Deletes the NAT's UDP mappings (`conntrack -D`, which exits 1 when it
/// deleted nothing): there must have been at least one, the client's.
pub fn forget_mappings(nat: &Netns) {
    let out = nat.output(&["conntrack", "-D", "-p", "udp"]).unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    let n: u32 = said
        .split(": ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("conntrack -D said {said:?}"));
    assert!(n >= 1, "conntrack -D deleted nothing: {said}");
}

/// The client's own UDP port, from its start line (`from 0.0.0.0:PORT`).
pub fn client_port(log: &str) -> Option<u16> {
    let at = log.find("(from ")? + "(from ".len();
    let rest = &log[at..];
    let end = rest.find(')')?;
    rest[..end].parse::<SocketAddr>().ok().map(|a| a.port())
}
