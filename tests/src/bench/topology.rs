//! The bench bed: gen → veth → dut → veth → sink, one namespace each.
//!
//! ```text
//!  gen                     dut                                    sink
//!  bgen0  ───────────────  bdut0 192.0.2.1/24, 2001:db8:fffe::1/64
//!  (live-frame generator;  bdut1 2001:db8:ffff::1/64  ──────────  bsink0
//!   XDP_DROP for frames    routes: 198.51.100.0/24, 203.0.113.0/24 via 192.0.2.2 (bdut0)
//!   the dut sends back)            2001:db8:eeee::/48 via 2001:db8:fffe::2 (bdut0)
//!                          neighbours static: 192.0.2.2, 2001:db8:fffe::2 → bgen0,
//!                                             2001:db8:ffff::2 → bsink0
//! ```
//! So traffic for tunnel remotes and for 2001:db8:eeee::/48 ("the
//! Internet") leaves the dut where it came in (XDP_TX), traffic for
//! 2001:db8:ffff::2 leaves toward the sink (redirect, or kernel forwarding).
//! gen and sink have no addresses: they only send and drop in XDP.
//!
//! CPUs: the generator alone on CPU0; the dut's ingress NAPI thread on
//! CPU1 (the measured CPU), where the receivers' XDP_DROP also runs (see
//! `pin_napi`), for baselines and subjects alike.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::{AsFd, OwnedFd},
    time::Instant,
};

use anyhow::{bail, Context, Result};
use aya::programs::XdpMode;
use tunnelctl::{datapath::ifindex, Datapath, DatapathOptions, Ipv6Prefix, Tunnel};

use super::sys;
use crate::{
    netns::{veth, Netns},
    packets::Mac,
};

pub const GEN_IF: &str = "bgen0";
pub const DUT_IN: &str = "bdut0";
pub const DUT_OUT: &str = "bdut1";
pub const SINK_IF: &str = "bsink0";
pub const GEN_CPU: usize = 0;
pub const DUT_CPU: usize = 1;

pub const POP_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Behind the uplink (gen side): reached by XDP_TX out of bdut0.
pub const INTERNET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xeeee, 0, 0, 0, 0, 2);
/// On the sink link: reached by redirect to bdut1 (or the kernel).
pub const SINK_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 2);

/// Tunnel whose traffic is decapsulated (and the t2t source).
pub const TUN_A: u32 = 0;

/// Tunnel `id` of the bench's table. Every pair (local, remote) must be
/// distinct and stay in documentation space: locals are 192.0.2.1 and
/// 192.0.2.16–212, remotes 198.51.100.1–254 and 203.0.113.1–254, which gives
/// 254 × 508 = 129,032 tunnels. Each has its own /64 in 2001:db8:1000::/39.
pub fn tunnel(id: u32) -> Tunnel {
    let (block, k) = (id / 508, id % 508);
    let local = if block == 0 {
        POP_V4
    } else {
        Ipv4Addr::new(192, 0, 2, 15 + block as u8)
    };
    let remote = if k < 254 {
        Ipv4Addr::new(198, 51, 100, k as u8 + 1)
    } else {
        Ipv4Addr::new(203, 0, 113, (k - 254) as u8 + 1)
    };
    let prefix = Ipv6Addr::new(
        0x2001,
        0xdb8,
        0x1000 + (id >> 16) as u16,
        id as u16,
        0,
        0,
        0,
        0,
    );
    Tunnel::new(
        local,
        remote,
        Ipv6Prefix::new(prefix, 64).expect("a /64 without host bits"),
    )
}
pub const MAX_TUNNELS: u32 = 254 * 508;

/// What runs on the dut's ingress.
pub enum DutProgram<'a> {
    /// No XDP: the kernel forwards.
    Kernel,
    Xdp(std::os::fd::BorrowedFd<'a>),
}

pub struct Bed {
    /// Detached first (field order).
    dut_link: Option<OwnedFd>,
    /// A process whose CPU time counts with the dut's NAPI thread's
    /// (Tayga, while a Tayga path is measured).
    pub busy_extra: Option<i32>,
    pub dp: Datapath,
    pub tunnels: u32,
    pub gen_mac: Mac,
    pub dut_in_mac: Mac,
    pub dut_out_mac: Mac,
    pub sink_mac: Mac,
    pub gen_ifindex: u32,
    pub dut_in_ifindex: u32,
    pub dut_out_ifindex: u32,
    // Namespaces last: deleted after everything attached in them.
    pub gen: Netns,
    pub dut: Netns,
    pub sink: Netns,
}

fn parse_mac(s: &str) -> Result<Mac> {
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<Result<_, _>>()?;
    v.try_into().map_err(|_| anyhow::anyhow!("bad MAC {s}"))
}

fn fmt_mac(m: &Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn in_ns<T>(ns: &Netns, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let _in = ns.enter()?;
    f()
}

impl Bed {
    /// Builds the namespaces and loads the datapath with `tunnels` tunnels,
    /// its maps sized for `slots` tunnels (≥ `tunnels`): the scale bench
    /// compares tables that differ only in what they hold, the rates part
    /// keeps a slot for its AYIYA tunnel.
    pub fn with_slots(tunnels: u32, slots: u32, log: &mut dyn FnMut(&str)) -> Result<Self> {
        if !(2..=MAX_TUNNELS).contains(&tunnels) {
            bail!("--tunnels must be in 2..={MAX_TUNNELS}");
        }
        if slots < tunnels {
            bail!("{slots} slots cannot hold {tunnels} tunnels");
        }
        let gen = Netns::new("bgen")?;
        let dut = Netns::new("bdut")?;
        let sink = Netns::new("bsink")?;
        veth(&gen, GEN_IF, &dut, DUT_IN)?;
        veth(&dut, DUT_OUT, &sink, SINK_IF)?;
        for (ns, dev) in [
            (&gen, GEN_IF),
            (&dut, DUT_IN),
            (&dut, DUT_OUT),
            (&sink, SINK_IF),
        ] {
            // No router solicitations, DAD or MLD from the bed itself.
            ns.sysctl(&format!("net.ipv6.conf.{dev}.accept_ra"), "0")?;
            ns.sysctl(&format!("net.ipv6.conf.{dev}.dad_transmits"), "0")?;
        }
        // GRO on the dut ingress: veth then keeps NAPI (and the XDP receive
        // ring the generator sends into) even with no XDP program attached,
        // which the kernel-forwarding baseline needs (bench.md: "GRO on").
        dut.run(&["ethtool", "-K", DUT_IN, "gro", "on"])?;
        dut.ip(&format!("addr add {POP_V4}/24 dev {DUT_IN}"))?;
        dut.ip(&format!(
            "-6 addr add 2001:db8:fffe::1/64 dev {DUT_IN} nodad"
        ))?;
        dut.ip(&format!(
            "-6 addr add 2001:db8:ffff::1/64 dev {DUT_OUT} nodad"
        ))?;
        dut.sysctl("net.ipv4.ip_forward", "1")?;
        dut.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        let (gen_mac, dut_in_mac) = (parse_mac(&gen.mac(GEN_IF)?)?, parse_mac(&dut.mac(DUT_IN)?)?);
        let (dut_out_mac, sink_mac) = (
            parse_mac(&dut.mac(DUT_OUT)?)?,
            parse_mac(&sink.mac(SINK_IF)?)?,
        );
        let (gm, sm) = (fmt_mac(&gen_mac), fmt_mac(&sink_mac));
        dut.ip(&format!(
            "neigh replace 192.0.2.2 lladdr {gm} dev {DUT_IN} nud permanent"
        ))?;
        dut.ip(&format!(
            "-6 neigh replace 2001:db8:fffe::2 lladdr {gm} dev {DUT_IN} nud permanent"
        ))?;
        dut.ip(&format!(
            "-6 neigh replace {SINK_V6} lladdr {sm} dev {DUT_OUT} nud permanent"
        ))?;
        dut.ip(&format!(
            "route add 198.51.100.0/24 via 192.0.2.2 dev {DUT_IN}"
        ))?;
        dut.ip(&format!(
            "route add 203.0.113.0/24 via 192.0.2.2 dev {DUT_IN}"
        ))?;
        dut.ip(&format!(
            "-6 route add 2001:db8:eeee::/48 via 2001:db8:fffe::2 dev {DUT_IN}"
        ))?;

        let t0 = Instant::now();
        let (mut dp, dut_in_ifindex, dut_out_ifindex) = in_ns(&dut, || {
            let opts = DatapathOptions {
                max_tunnels: slots,
                max_prefixes: slots + 1024,
                ..Default::default()
            };
            let mut dp = Datapath::load(opts)?;
            // What the daemon keeps current: the routes' next hops, so the
            // paths skip bpf_fib_lookup as they do in production.
            tunnelctl::daemon::nexthops::fill_once(&mut dp)?;
            let (i, o) = (ifindex(DUT_IN)?, ifindex(DUT_OUT)?);
            // tunnel_xdp redirects only to devices in TX_PORTS.
            dp.allow_tx(i)?;
            dp.allow_tx(o)?;
            Ok((dp, i, o))
        })?;
        for id in 0..tunnels {
            dp.add_tunnel(id, &tunnel(id))
                .with_context(|| format!("adding tunnel {id}"))?;
        }
        log(&format!(
            "loaded {tunnels} tunnels in {:.1} s",
            t0.elapsed().as_secs_f64()
        ));

        // Receivers drop in XDP (and veth needs an XDP program on the peer
        // for XDP_TX/redirect into it to be delivered at all).
        let gen_ifindex = in_ns(&gen, || {
            dp.attach_program("testbed_drop", GEN_IF, XdpMode::Driver)?;
            ifindex(GEN_IF)
        })?;
        in_ns(&sink, || {
            dp.attach_program("testbed_drop", SINK_IF, XdpMode::Driver)
        })?;

        let bed = Self {
            dut_link: None,
            busy_extra: None,
            dp,
            tunnels,
            gen_mac,
            dut_in_mac,
            dut_out_mac,
            sink_mac,
            gen_ifindex,
            dut_in_ifindex,
            dut_out_ifindex,
            gen,
            dut,
            sink,
        };
        bed.pin_napi()?;
        Ok(bed)
    }

    /// Swaps what runs on the dut ingress, then re-pins the NAPI threads
    /// (veth may create a new one on attach).
    pub fn set_dut(&mut self, prog: DutProgram) -> Result<()> {
        self.dut_link = None;
        if let DutProgram::Xdp(fd) = prog {
            let idx = self.dut_in_ifindex;
            self.dut_link = Some(in_ns(&self.dut, || sys::attach_xdp(fd.as_fd(), idx))?);
        }
        self.pin_napi()
    }

    /// Threaded NAPI on the dut ingress, its thread pinned to DUT_CPU. The
    /// receivers (bgen0, bsink0) stay unthreaded: their NAPI is scheduled
    /// by the dut's sends, so it runs as softirq on DUT_CPU right after the
    /// dut's poll (bench.md's set-up). Threaded on CPU0 they lost up to
    /// half of what the dut sent: a 256-frame veth ring fills faster than a
    /// sleeping thread on the generator's CPU wakes up.
    pub fn pin_napi(&self) -> Result<()> {
        for (ns, dev, threaded) in [
            (&self.dut, DUT_IN, 1),
            (&self.gen, GEN_IF, 0),
            (&self.sink, SINK_IF, 0),
        ] {
            ns.run(&[
                "sh",
                "-c",
                &format!("echo {threaded} > /sys/class/net/{dev}/threaded"),
            ])
            .with_context(|| format!("threaded NAPI on {dev}"))?;
        }
        let tids = napi_threads(DUT_IN)?;
        if tids.is_empty() {
            bail!("no NAPI thread for {DUT_IN}");
        }
        for tid in tids {
            // Not SCHED_FIFO: RT throttling would idle the CPU 5 % of every
            // second even on a quiet machine. Other load shows up instead
            // as this thread's share of the window (`Measurement::dut_busy`).
            sys::pin_to_cpu(tid, DUT_CPU)
                .with_context(|| format!("pinning napi/{DUT_IN} ({tid})"))?;
        }
        Ok(())
    }
}

impl Bed {
    /// Adds the bench's AYIYA tunnel in the slot after the 6in4 tunnels
    /// (the bed must have one spare) and installs its user's endpoint, as
    /// a first datagram would: encapsulation has somewhere to send.
    pub fn add_ayiya(&mut self) -> Result<()> {
        let id = self.ayiya_id();
        self.dp
            .add_tunnel(id, &super::frames::ayiya_tunnel())
            .context("adding the AYIYA tunnel")?;
        let ep = tunnel_common::tunnel::Endpoint {
            last_seen_ns: tunnelctl::datapath::clock::boot_ns()?,
            ..super::frames::ayiya_endpoint()
        };
        self.dp.learn_endpoint(id, &ep)
    }

    /// Sets the data path's clock so that it reads Unix time `unix_s` now.
    pub fn set_unix_time(&mut self, unix_s: u32) -> Result<()> {
        let boot = tunnelctl::datapath::clock::boot_ns()?;
        self.dp.set_clock(u64::from(unix_s) * 1_000_000_000 - boot)
    }

    /// Time the dut's NAPI thread(s) have been on a CPU, in ns
    /// (/proc/TID/schedstat; the receivers' softirq runs inside it), and
    /// `busy_extra`'s.
    pub fn dut_napi_runtime_ns(&self) -> Result<u64> {
        let mut sum = 0;
        for tid in napi_threads(DUT_IN)?.into_iter().chain(self.busy_extra) {
            let s = std::fs::read_to_string(format!("/proc/{tid}/schedstat"))?;
            sum += s
                .split_whitespace()
                .next()
                .context("schedstat")?
                .parse::<u64>()?;
        }
        Ok(sum)
    }
}

/// Kernel threads named `napi/<dev>-<id>` (names are cut at 15 bytes,
/// hence the prefix match; the bench's device names are unusual enough).
fn napi_threads(dev: &str) -> Result<Vec<i32>> {
    let prefix = format!("napi/{dev}-");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc")? {
        let e = e?;
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) {
            if comm.trim_end().starts_with(&prefix) {
                out.push(pid);
            }
        }
    }
    Ok(out)
}
