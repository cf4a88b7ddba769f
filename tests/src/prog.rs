//! L1 harness: the programs loaded in a namespace of their own, with two
//! veths whose neighbours are static, so that `bpf_fib_lookup` inside
//! BPF_PROG_TEST_RUN resolves next hops deterministically.
//!
//! ```text
//! x0 192.0.2.1/24, mac 02:00:00:00:00:01    neighbours 192.0.2.2 (client A), 192.0.2.3 (client B)
//! x1 2001:db8:ffff::1/64, 02:00:00:00:01:01  neighbour 2001:db8:ffff::2 (upstream)
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::Result;
use aya::programs::{TestRun, TestRunOptions};
use tunnel_common::{config::RuntimeConfig, stats::TunnelCounters};
use tunnelctl::{
    datapath::Counters, datapath::ProxyEntry, datapath::PROGRAM_UPLINK, Datapath, DatapathOptions,
    Tunnel,
};

use crate::{
    netns::{Netns, NetnsGuard},
    packets::Mac,
};

pub const X0_MAC: Mac = [2, 0, 0, 0, 0, 1];
pub const X1_MAC: Mac = [2, 0, 0, 0, 1, 1];
pub const CLIENT_A_MAC: Mac = [2, 0, 0, 0, 0, 0xa];
pub const CLIENT_B_MAC: Mac = [2, 0, 0, 0, 0, 0xb];
pub const UPSTREAM_MAC: Mac = [2, 0, 0, 0, 1, 2];
pub const POP_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const CLIENT_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const CLIENT_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);
pub const UPSTREAM: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 2);
/// User A's address, proxied on x1 after `reset`.
pub const PROXIED_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
pub const TUNNEL_A: u32 = 1;
pub const TUNNEL_B: u32 = 2;
/// An AYIYA tunnel, installed by the cases that want it (`add_ayiya_c`):
/// the spec's worked examples' T5072 (ayiya-spec.md §1.10).
pub const TUNNEL_C: u32 = 3;
pub const PREFIX_C: &str = "2001:db8:2ff:1::/64";
pub const PASSWORD_C: &str = "f3d47c2de40fb698e1ab15d757a09bfc";
pub const PREFIX_A: &str = "2001:db8:1::/64";
pub const PREFIX_B: &str = "2001:db8:2::/64";
pub const ROUTED_A: &str = "2001:db8:100::/48";

pub const XDP_ABORTED: u32 = 0;
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;
pub const XDP_REDIRECT: u32 = 4;

pub const TC_ACT_OK: u32 = 0;
pub const TC_ACT_SHOT: u32 = 2;
pub const TC_ACT_REDIRECT: u32 = 7;

/// Byte offsets in `struct __sk_buff` (uapi/linux/bpf.h) of the fields a
/// test run may set, and its size.
const SKB_IFINDEX: usize = 40;
const SKB_GSO_SEGS: usize = 164;
const SKB_GSO_SIZE: usize = 176;
const SKB_SIZE: usize = 192;

pub struct ProgBed {
    pub dp: Datapath,
    pub x0: u32,
    pub x1: u32,
    /// Devices whose MTU a case changed (`set_mtu`): `reset` puts them
    /// back to 1500.
    mtu_changed: Vec<&'static str>,
    // Field order: leave the namespace before deleting it.
    _guard: NetnsGuard,
    ns: Netns,
}

/// What one test run returned.
#[derive(Debug)]
pub struct Run {
    pub action: u32,
    pub output: Vec<u8>,
}

impl ProgBed {
    pub fn new() -> Result<Self> {
        let ns = Netns::new("l1")?;
        ns.ip("link add x0 address 02:00:00:00:00:01 type veth peer name y0")?;
        ns.ip("link add x1 address 02:00:00:00:01:01 type veth peer name y1")?;
        for d in ["x0", "y0", "x1", "y1"] {
            ns.ip(&format!("link set {d} up"))?;
        }
        ns.ip("addr add 192.0.2.1/24 dev x0")?;
        ns.ip("-6 addr add 2001:db8:ffff::1/64 dev x1 nodad")?;
        ns.ip("neigh replace 192.0.2.2 lladdr 02:00:00:00:00:0a dev x0 nud permanent")?;
        ns.ip("neigh replace 192.0.2.3 lladdr 02:00:00:00:00:0b dev x0 nud permanent")?;
        ns.ip("-6 neigh replace 2001:db8:ffff::2 lladdr 02:00:00:00:01:02 dev x1 nud permanent")?;
        ns.sysctl("net.ipv4.ip_forward", "1")?;
        ns.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        let guard = ns.enter()?;
        let opts = DatapathOptions {
            max_tunnels: 16,
            max_prefixes: 64,
            ..Default::default()
        };
        let mut dp = Datapath::load(opts)?;
        let (x0, x1) = (
            tunnelctl::datapath::ifindex("x0")?,
            tunnelctl::datapath::ifindex("x1")?,
        );
        dp.allow_tx(x0)?;
        dp.allow_tx(x1)?;
        dp.set_uplink_mac(x0, X0_MAC)?;
        dp.set_uplink_mac(x1, X1_MAC)?;
        let mut bed = Self {
            dp,
            x0,
            x1,
            mtu_changed: Vec::new(),
            _guard: guard,
            ns,
        };
        bed.reset()?;
        Ok(bed)
    }

    pub fn tunnel_a() -> Tunnel {
        Tunnel::new(POP_V4, CLIENT_A, PREFIX_A.parse().unwrap())
    }
    pub fn tunnel_b() -> Tunnel {
        Tunnel::new(POP_V4, CLIENT_B, PREFIX_B.parse().unwrap())
    }

    /// Tunnel A or B changed from its default (as `reset` installs it) by
    /// `f`. Panics on failure (a case's set-up reports it).
    pub fn change_tunnel(&mut self, id: u32, f: impl FnOnce(&mut Tunnel)) {
        let mut t = match id {
            TUNNEL_A => Self::tunnel_a(),
            TUNNEL_B => Self::tunnel_b(),
            _ => panic!("the bed has tunnels {TUNNEL_A} and {TUNNEL_B}, not {id}"),
        };
        f(&mut t);
        self.dp.update_tunnel(id, &t).unwrap();
    }

    /// Installs AYIYA tunnel C (the spec's examples' prefix and password).
    pub fn add_ayiya_c(&mut self) {
        let key = tunnel_common::ayiya::sign::Key::from_password(PASSWORD_C).0;
        self.dp
            .add_tunnel(TUNNEL_C, &Tunnel::ayiya(PREFIX_C.parse().unwrap(), key))
            .unwrap();
    }

    /// Installs tunnel C as a heartbeat tunnel (the same prefix and
    /// password): its user is found by identity for AYIYA and by a learned
    /// outer pair for proto 41.
    pub fn add_heartbeat_c(&mut self) {
        let key = tunnel_common::ayiya::sign::Key::from_password(PASSWORD_C).0;
        self.dp
            .add_tunnel(TUNNEL_C, &Tunnel::heartbeat(PREFIX_C.parse().unwrap(), key))
            .unwrap();
    }

    /// Sets the MTU of the bed's device `dev` (x0 or x1, 1500 as built)
    /// until the next `reset`. Panics on failure (a case's set-up reports
    /// it).
    pub fn set_mtu(&mut self, dev: &'static str, mtu: u32) {
        assert!(
            matches!(dev, "x0" | "x1"),
            "the bed's devices are x0 and x1"
        );
        self.ns
            .ip(&format!("link set dev {dev} mtu {mtu}"))
            .unwrap();
        self.mtu_changed.push(dev);
    }

    /// Sets the data path's clock so that it reads Unix time `unix_s` now.
    pub fn set_unix_time(&mut self, unix_s: u64) {
        let boot = tunnelctl::datapath::clock::boot_ns().unwrap();
        self.dp.set_clock(unix_s * 1_000_000_000 - boot).unwrap();
    }

    /// No ICMP error budget: every error the datapath would send is a
    /// counted drop instead.
    pub fn no_icmp_budget(&mut self) {
        self.dp
            .set_config(&RuntimeConfig {
                icmp_rate_per_sec: 0,
                icmp_burst: 0,
                ..RuntimeConfig::default()
            })
            .unwrap();
    }

    /// Back to the default state: x0 and x1 at MTU 1500, tunnels A (with
    /// routed /48) and B and no other prefix, user A's address proxied on
    /// x1, default config, no next-hop cache, zero counters.
    pub fn reset(&mut self) -> Result<()> {
        for dev in std::mem::take(&mut self.mtu_changed) {
            self.ns.ip(&format!("link set dev {dev} mtu 1500"))?;
        }
        for e in self.dp.proxies()? {
            self.dp.remove_proxy(e.ifindex, e.target)?;
        }
        self.dp.put_proxy(&ProxyEntry {
            ifindex: self.x1,
            target: PROXIED_A,
            router: false,
        })?;
        // Every routed prefix, whoever added it, then the tunnels.
        for (p, _) in self.dp.snapshot()?.prefixes {
            self.dp.remove_prefix_if_present(&p)?;
        }
        let _ = self.dp.remove_tunnel(TUNNEL_A);
        let _ = self.dp.remove_tunnel(TUNNEL_B);
        let _ = self.dp.remove_tunnel(TUNNEL_C);
        self.dp.add_tunnel(TUNNEL_A, &Self::tunnel_a())?;
        self.dp.add_prefix(TUNNEL_A, &ROUTED_A.parse()?)?;
        self.dp.add_tunnel(TUNNEL_B, &Self::tunnel_b())?;
        self.dp.set_config(&RuntimeConfig::default())?;
        // No translator: NAT64 cases turn it on in `setup` (EAMs left by
        // earlier cases are unreachable without pool6 and the EAM flag).
        self.dp.set_nat64(
            &tunnelctl::datapath::Nat64Settings {
                pool6: None,
                flags: 0,
                icmp_source: None,
            },
            false,
        )?;
        // No clock: AYIYA cases set the time they need; and no signature
        // seen yet, so cases may send the same datagram.
        self.dp.set_clock(0)?;
        self.dp.clear_replay_guard()?;
        // No next-hop cache: cases that want one install it in `setup`.
        self.dp
            .sync_nexthops(&tunnelctl::daemon::nexthops::plan::Tables::default())?;
        self.dp.reset_counters()?;
        self.dp.reset_rate_limits()?;
        for id in [TUNNEL_A, TUNNEL_B] {
            self.dp.reset_tunnel_counters(id)?;
        }
        Ok(())
    }

    /// Runs `tunnel_xdp` once on `frame` as received on `ifindex`.
    pub fn run(&mut self, frame: &[u8], ifindex: u32) -> Result<Run> {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex,
        // rx_queue_index, egress_ifindex (the kernel wants data_end = len).
        let md: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
        let ctx: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
        run_once(self.dp.program_mut(PROGRAM_UPLINK)?, frame, &ctx)
    }

    /// Runs `tunnel_tc` once on `frame` as leaving through `ifindex`;
    /// `gso_size` > 0 makes it a GSO packet of that segment size.
    pub fn run_tc(&mut self, frame: &[u8], ifindex: u32, gso_size: u32) -> Result<Run> {
        // The kernel builds the skb on the device given by ifindex; the
        // program's FIB lookups start from it, as from the tunnel device.
        let mut ctx = vec![0u8; SKB_SIZE];
        ctx[SKB_IFINDEX..SKB_IFINDEX + 4].copy_from_slice(&ifindex.to_ne_bytes());
        if gso_size > 0 {
            let segs = (frame.len() as u32).div_ceil(gso_size);
            ctx[SKB_GSO_SEGS..SKB_GSO_SEGS + 4].copy_from_slice(&segs.to_ne_bytes());
            ctx[SKB_GSO_SIZE..SKB_GSO_SIZE + 4].copy_from_slice(&gso_size.to_ne_bytes());
        }
        run_once(self.dp.classifier_mut()?, frame, &ctx)
    }

    pub fn counters(&mut self) -> Counters {
        self.dp.counters().unwrap()
    }

    pub fn tunnel(&mut self, id: u32) -> TunnelCounters {
        self.dp.tunnel_counters(id).unwrap()
    }
}

/// Name of a TC verdict, for messages.
pub fn tc_action_name(a: u32) -> &'static str {
    match a {
        TC_ACT_OK => "TC_ACT_OK",
        TC_ACT_SHOT => "TC_ACT_SHOT",
        TC_ACT_REDIRECT => "TC_ACT_REDIRECT",
        _ => "?",
    }
}

/// One BPF_PROG_TEST_RUN of `prog` on `frame` with context `ctx`; room
/// for the packet to grow by 512 bytes (encapsulation, ICMP errors).
fn run_once<P>(prog: &mut P, frame: &[u8], ctx: &[u8]) -> Result<Run>
where
    P: for<'a> TestRun<Opts<'a> = TestRunOptions<'a>, Result = aya::programs::TestRunResult>,
{
    let mut out = vec![0u8; frame.len() + 512];
    let r = prog.test_run(TestRunOptions {
        data_in: Some(frame),
        data_out: Some(&mut out),
        ctx_in: Some(ctx),
        repeat: 1,
        ..Default::default()
    })?;
    out.truncate(r.data_size_out as usize);
    Ok(Run {
        action: r.return_value,
        output: out,
    })
}

/// Name of an XDP action, for messages.
pub fn action_name(a: u32) -> &'static str {
    [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ]
    .get(a as usize)
    .copied()
    .unwrap_or("?")
}
