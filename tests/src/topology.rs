//! The 6in4 test bed: three namespaces on two veth pairs.
//!
//! ```text
//!  client                    pop                          upstream
//!  c0 192.0.2.2/24  ──────  p0 192.0.2.1/24
//!  (6in4 peer: tun6in4,     p1 2001:db8:ffff::1/64 ──────  u0 2001:db8:ffff::2/64
//!   2001:db8:1::2/64)       XDP tunnel_xdp on p0, p1       route 2001:db8:1::/64, 2001:db8:100::/48 via pop
//! ```
//! Tunnel 1: local 192.0.2.1, remote 192.0.2.2, /64 2001:db8:1::/64, routed
//! /48 2001:db8:100::/48. The peers' veths run `testbed_pass` so that XDP
//! redirects into them are delivered. Neighbours are static: XDP forwards
//! only to resolved next hops (fib NO_NEIGH goes to the kernel).

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result};
use aya::programs::XdpMode;
use tunnelctl::{Datapath, DatapathOptions, Ipv6Prefix, Tunnel};

use crate::netns::{veth, Netns};

pub const POP_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const POP_UPLINK_V6: &str = "2001:db8:ffff::1";
pub const UPSTREAM_V6: &str = "2001:db8:ffff::2";
pub const TUNNEL_ID: u32 = 1;
pub const TUNNEL_PREFIX: &str = "2001:db8:1::/64";
pub const ROUTED_PREFIX: &str = "2001:db8:100::/48";
/// The PoP's tunnel device (its veth peer: `tnl0p`), where the kernel's
/// routes toward tunnel prefixes point.
pub const LOCAL_DEV: &str = "tnl0";

/// The three namespaces, linked, addressed, with static neighbours, and
/// nothing attached.
pub struct Namespaces {
    pub client: Netns,
    pub pop: Netns,
    pub upstream: Netns,
}

impl Namespaces {
    pub fn new() -> Result<Self> {
        Self::build(
            Netns::new("client")?,
            Netns::new("pop")?,
            Netns::new("upstream")?,
        )
    }

    /// Like `new`, with the namespaces named `<prefix>-<role>-<pid>` (a
    /// test's own prefix).
    pub fn with_prefix(prefix: &str) -> Result<Self> {
        let pid = std::process::id();
        let named = |role: &str| Netns::named(&format!("{prefix}-{role}-{pid}"));
        Self::build(named("client")?, named("pop")?, named("upstream")?)
    }

    fn build(client: Netns, pop: Netns, upstream: Netns) -> Result<Self> {
        veth(&client, "c0", &pop, "p0")?;
        veth(&pop, "p1", &upstream, "u0")?;
        client.ip("addr add 192.0.2.2/24 dev c0")?;
        pop.ip("addr add 192.0.2.1/24 dev p0")?;
        pop.ip(&format!("-6 addr add {POP_UPLINK_V6}/64 dev p1 nodad"))?;
        upstream.ip(&format!("-6 addr add {UPSTREAM_V6}/64 dev u0 nodad"))?;
        upstream.ip(&format!("-6 route add {TUNNEL_PREFIX} via {POP_UPLINK_V6}"))?;
        upstream.ip(&format!("-6 route add {ROUTED_PREFIX} via {POP_UPLINK_V6}"))?;
        pop.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        pop.sysctl("net.ipv4.ip_forward", "1")?;

        // Static neighbours both ways on both links.
        let (c0, p0, p1, u0) = (
            client.mac("c0")?,
            pop.mac("p0")?,
            pop.mac("p1")?,
            upstream.mac("u0")?,
        );
        pop.ip(&format!(
            "neigh replace {CLIENT_V4} lladdr {c0} dev p0 nud permanent"
        ))?;
        client.ip(&format!(
            "neigh replace {POP_V4} lladdr {p0} dev c0 nud permanent"
        ))?;
        pop.ip(&format!(
            "-6 neigh replace {UPSTREAM_V6} lladdr {u0} dev p1 nud permanent"
        ))?;
        upstream.ip(&format!(
            "-6 neigh replace {POP_UPLINK_V6} lladdr {p1} dev u0 nud permanent"
        ))?;
        Ok(Self {
            client,
            pop,
            upstream,
        })
    }

    /// Attaches `testbed_pass` (from `dp`) to the peers' veths, so XDP
    /// redirects from the PoP are delivered to them.
    pub fn attach_peers(&self, dp: &mut Datapath) -> Result<()> {
        {
            let _in = self.client.enter()?;
            dp.attach_program("testbed_pass", "c0", XdpMode::Driver)?;
        }
        let _in = self.upstream.enter()?;
        dp.attach_program("testbed_pass", "u0", XdpMode::Driver)?;
        Ok(())
    }
}

pub struct Testbed {
    pub client: Netns,
    pub pop: Netns,
    pub upstream: Netns,
    /// Loaded in, and attached inside, the pop namespace.
    pub dp: Datapath,
    pub tunnel: Tunnel,
}

impl Testbed {
    /// Builds the namespaces and attaches the programs. `mtu` is the tunnel
    /// MTU. The calling thread ends up back in its own namespace.
    pub fn new(mtu: u16) -> Result<Self> {
        let Namespaces {
            client,
            pop,
            upstream,
        } = Namespaces::new()?;
        let prefix: Ipv6Prefix = TUNNEL_PREFIX.parse()?;
        let mut tunnel = Tunnel::new(POP_V4, CLIENT_V4, prefix);
        tunnel.mtu = mtu;

        let mut dp = {
            let _in_pop = pop.enter()?;
            let opts = DatapathOptions {
                max_tunnels: 64,
                max_prefixes: 256,
                ..Default::default()
            };
            let mut dp = Datapath::load(opts)?;
            dp.attach("p0", XdpMode::Driver).context("attach p0")?;
            dp.attach("p1", XdpMode::Driver).context("attach p1")?;
            dp.add_tunnel(TUNNEL_ID, &tunnel)?;
            dp.add_prefix(TUNNEL_ID, &ROUTED_PREFIX.parse()?)?;
            dp
        };
        let ns = Namespaces {
            client,
            pop,
            upstream,
        };
        ns.attach_peers(&mut dp)?;
        let Namespaces {
            client,
            pop,
            upstream,
        } = ns;
        Ok(Self {
            client,
            pop,
            upstream,
            dp,
            tunnel,
        })
    }

    pub fn user_address(&self) -> Ipv6Addr {
        self.tunnel.user_address()
    }

    /// Gives the PoP what the daemon sets up for its own traffic, here with
    /// iproute2: a veth `tnl0` without ARP/ND (its neighbours need no
    /// resolution), `tunnel_tc` on its egress, and routes for the tunnel's
    /// prefixes with the tunnel MTU. Offloads stay as veth has them (TSO,
    /// GSO, checksum offload on), so TCP hands the program GSO packets.
    pub fn add_local_device(&mut self) -> Result<()> {
        let p = &self.pop;
        p.ip(&format!(
            "link add {LOCAL_DEV} type veth peer name {LOCAL_DEV}p"
        ))?;
        p.ip(&format!("link set {LOCAL_DEV} arp off up"))?;
        p.ip(&format!("link set {LOCAL_DEV}p up"))?;
        {
            let _in = p.enter()?;
            self.dp.attach_local(LOCAL_DEV)?;
        }
        let mtu = self.tunnel.mtu;
        for prefix in [TUNNEL_PREFIX, ROUTED_PREFIX] {
            p.ip(&format!("-6 route add {prefix} dev {LOCAL_DEV} mtu {mtu}"))?;
        }
        Ok(())
    }

    pub fn pop_address(&self) -> Ipv6Addr {
        self.tunnel.pop_address()
    }
}
