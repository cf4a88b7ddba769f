//! One packet-rate measurement: put a program on the dut, run the
//! generator, count at the receiver over a window after a warm-up, and
//! collect what tells whether the figure means anything (dut CPU idle,
//! offered vs accepted, success counter vs delivered).

use std::{
    collections::HashMap,
    os::fd::{AsFd, OwnedFd},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use tunnel_common::stats::{Drop, Event};
use tunnelctl::{datapath::Counters, Datapath};

use super::{
    frames::Inner,
    livegen::{LiveGen, Rotating},
    topology::{Bed, DutProgram, DUT_CPU, DUT_IN, DUT_OUT, GEN_CPU, GEN_IF, SINK_IF},
};
use crate::netns::Netns;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Baseline: `testbed_tx` (MAC swap, XDP_TX).
    TxBase,
    Decap,
    Encap,
    T2t,
    /// Baseline: MAC rewrite + bpf_redirect_map into TX_PORTS.
    RedirectBase,
    DecapRedirect,
    /// Baseline: no XDP on the dut ingress, the kernel routes to the sink.
    Kernel,
    /// Baseline: `testbed_tx` on a plain IPv6 packet of the AYIYA paths'
    /// inner size.
    TxSized(Inner),
    /// AYIYA over IPv4 from the tunnel's user: signature checked, replay
    /// guard, endpoint learned, the inner packet routed back out of the
    /// uplink (XDP_TX), as `Decap`.
    AyiyaDecap(Inner),
    /// IPv6 from the Internet side to the AYIYA tunnel's user: signed and
    /// sent to the learned endpoint, back out of the uplink (XDP_TX).
    AyiyaEncap(Inner),
    /// NAT64, IPv6 of the given size from the Internet side to an IPv4
    /// host under pool6, translated and sent back out of the uplink.
    Nat64To4(Inner),
    /// NAT64, IPv4 20 bytes shorter to the Internet host's mapping:
    /// translated to IPv6 of the given size, back out of the uplink.
    Nat64To6(Inner),
    /// 6in4 from tunnel A's user to an IPv4 host under pool6: decapsulated
    /// and translated in one pass, back out of the uplink.
    Nat64FromTunnel,
    /// Tayga on the dut (no XDP on its ingress), as `Nat64To4`.
    TaygaTo4(Inner),
    /// Tayga on the dut, as `Nat64To6`.
    TaygaTo6(Inner),
}

impl Path {
    /// One round, in measurement order: each subject right after its own
    /// baseline; kernel forwarding closes the 6in4 part, then AYIYA at
    /// each inner size after an XDP_TX baseline of that size.
    /// NAT64 (translator and Tayga) follows AYIYA at each size.
    pub const ROUND: [Path; 22] = [
        Path::TxBase,
        Path::Decap,
        Path::Encap,
        Path::T2t,
        Path::Nat64FromTunnel,
        Path::RedirectBase,
        Path::DecapRedirect,
        Path::Kernel,
        Path::TxSized(Inner::B64),
        Path::AyiyaDecap(Inner::B64),
        Path::AyiyaEncap(Inner::B64),
        Path::Nat64To4(Inner::B64),
        Path::Nat64To6(Inner::B64),
        Path::TaygaTo4(Inner::B64),
        Path::TaygaTo6(Inner::B64),
        Path::TxSized(Inner::B1280),
        Path::AyiyaDecap(Inner::B1280),
        Path::AyiyaEncap(Inner::B1280),
        Path::Nat64To4(Inner::B1280),
        Path::Nat64To6(Inner::B1280),
        Path::TaygaTo4(Inner::B1280),
        Path::TaygaTo6(Inner::B1280),
    ];

    /// Whether the path belongs to the AYIYA part (`--only ayiya`).
    pub fn is_ayiya_part(self) -> bool {
        matches!(
            self,
            Path::TxSized(_) | Path::AyiyaDecap(_) | Path::AyiyaEncap(_)
        )
    }

    /// Whether the path belongs to the NAT64 part (`--only nat64`): the
    /// translator, Tayga and their XDP_TX baselines.
    pub fn is_nat64_part(self) -> bool {
        matches!(
            self,
            Path::TxBase
                | Path::TxSized(_)
                | Path::Nat64To4(_)
                | Path::Nat64To6(_)
                | Path::Nat64FromTunnel
                | Path::TaygaTo4(_)
                | Path::TaygaTo6(_)
        )
    }

    /// Whether Tayga translates (no XDP on the dut's ingress).
    pub fn is_tayga(self) -> bool {
        matches!(self, Path::TaygaTo4(_) | Path::TaygaTo6(_))
    }

    /// Whether the generator rewrites only the first 128 bytes of each
    /// frame (the sized paths: what the dut changes is in the headers).
    pub fn is_sized(self) -> bool {
        matches!(
            self,
            Path::TxSized(_)
                | Path::AyiyaDecap(_)
                | Path::AyiyaEncap(_)
                | Path::Nat64To4(_)
                | Path::Nat64To6(_)
                | Path::TaygaTo4(_)
                | Path::TaygaTo6(_)
        )
    }

    /// Whether the data path's clock must read the signing epoch.
    pub fn is_ayiya(self) -> bool {
        matches!(self, Path::AyiyaDecap(_) | Path::AyiyaEncap(_))
    }

    pub fn name(self) -> &'static str {
        match self {
            Path::TxBase => "XDP_TX baseline (testbed_tx)",
            Path::Decap => "6in4 decap",
            Path::Encap => "6in4 encap",
            Path::T2t => "tunnel to tunnel",
            Path::RedirectBase => "redirect baseline (redirect_map)",
            Path::DecapRedirect => "6in4 decap",
            Path::Kernel => "kernel IPv6 forwarding",
            Path::TxSized(Inner::B64) => "XDP_TX baseline, 64 B IPv6",
            Path::TxSized(Inner::B1280) => "XDP_TX baseline, 1280 B IPv6",
            Path::AyiyaDecap(Inner::B64) => "AYIYA decap, 64 B inner",
            Path::AyiyaDecap(Inner::B1280) => "AYIYA decap, 1280 B inner",
            Path::AyiyaEncap(Inner::B64) => "AYIYA encap, 64 B inner",
            Path::AyiyaEncap(Inner::B1280) => "AYIYA encap, 1280 B inner",
            Path::Nat64To4(Inner::B64) => "NAT64 6→4, 64 B IPv6",
            Path::Nat64To4(Inner::B1280) => "NAT64 6→4, 1280 B IPv6",
            Path::Nat64To6(Inner::B64) => "NAT64 4→6, 64 B IPv6",
            Path::Nat64To6(Inner::B1280) => "NAT64 4→6, 1280 B IPv6",
            Path::Nat64FromTunnel => "tunnel user → IPv4 (decap + 6→4)",
            Path::TaygaTo4(Inner::B64) => "Tayga 6→4, 64 B IPv6",
            Path::TaygaTo4(Inner::B1280) => "Tayga 6→4, 1280 B IPv6",
            Path::TaygaTo6(Inner::B64) => "Tayga 4→6, 64 B IPv6",
            Path::TaygaTo6(Inner::B1280) => "Tayga 4→6, 1280 B IPv6",
        }
    }

    /// How the dut sends the packet on.
    pub fn egress(self) -> &'static str {
        match self {
            Path::TxBase
            | Path::Decap
            | Path::Encap
            | Path::T2t
            | Path::TxSized(_)
            | Path::AyiyaDecap(_)
            | Path::AyiyaEncap(_)
            | Path::Nat64To4(_)
            | Path::Nat64To6(_)
            | Path::Nat64FromTunnel => "XDP_TX, back out bdut0",
            Path::TaygaTo4(_) | Path::TaygaTo6(_) => "tun → Tayga → kernel, out bdut0",
            Path::RedirectBase | Path::DecapRedirect => "redirect to bdut1 (TX_PORTS)",
            Path::Kernel => "kernel, out bdut1",
        }
    }

    /// Frames in → frames out on the wire.
    pub fn frame_sizes(self) -> &'static str {
        match self {
            Path::Decap | Path::DecapRedirect => "82 → 62 B",
            Path::Encap => "62 → 82 B",
            Path::T2t => "82 → 82 B",
            // Ethernet + the inner packet; AYIYA over IPv4 adds 72 B.
            Path::TxSized(Inner::B64) => "78 → 78 B",
            Path::TxSized(Inner::B1280) => "1294 → 1294 B",
            Path::AyiyaDecap(Inner::B64) => "150 → 78 B",
            Path::AyiyaDecap(Inner::B1280) => "1366 → 1294 B",
            Path::AyiyaEncap(Inner::B64) => "78 → 150 B",
            Path::AyiyaEncap(Inner::B1280) => "1294 → 1366 B",
            Path::TxBase | Path::RedirectBase | Path::Kernel => "62 → 62 B",
            // IPv4 is 20 bytes shorter than the IPv6 packet.
            Path::Nat64To4(Inner::B64) | Path::TaygaTo4(Inner::B64) => "78 → 58 B",
            Path::Nat64To4(Inner::B1280) | Path::TaygaTo4(Inner::B1280) => "1294 → 1274 B",
            Path::Nat64To6(Inner::B64) | Path::TaygaTo6(Inner::B64) => "58 → 78 B",
            Path::Nat64To6(Inner::B1280) | Path::TaygaTo6(Inner::B1280) => "1274 → 1294 B",
            Path::Nat64FromTunnel => "82 → 42 B",
        }
    }

    fn receiver_is_sink(self) -> bool {
        matches!(
            self,
            Path::RedirectBase | Path::DecapRedirect | Path::Kernel
        )
    }

    fn is_tunnel_xdp(self) -> bool {
        matches!(
            self,
            Path::Decap
                | Path::Encap
                | Path::T2t
                | Path::DecapRedirect
                | Path::AyiyaDecap(_)
                | Path::AyiyaEncap(_)
                | Path::Nat64To4(_)
                | Path::Nat64To6(_)
                | Path::Nat64FromTunnel
        )
    }

    /// The counter that must equal the packets delivered.
    pub fn success_counter(self) -> &'static str {
        match self {
            Path::TxBase | Path::TxSized(_) => "bdut0 rx_queue_0_xdp_tx",
            Path::RedirectBase => "bdut0 rx_queue_0_xdp_redirect",
            Path::Kernel => "bdut1 tx_packets",
            Path::Decap | Path::DecapRedirect | Path::AyiyaDecap(_) => "event decap",
            Path::Encap | Path::AyiyaEncap(_) => "event encap",
            Path::T2t => "event tunnel_to_tunnel",
            Path::Nat64To4(_) | Path::Nat64FromTunnel => "event nat64_6to4",
            Path::Nat64To6(_) => "event nat64_4to6",
            Path::TaygaTo4(_) | Path::TaygaTo6(_) => "btayga0 rx_packets (Tayga's out)",
        }
    }
}

/// Programs and frames for every path, prepared once.
pub struct Setup {
    pub tx: OwnedFd,
    pub tunnel: OwnedFd,
    pub redirect: OwnedFd,
    /// (generator program, frame) per path, in `Path::ROUND` order.
    pub gens: Vec<(Path, OwnedFd, Vec<u8>)>,
    /// The AYIYA decap generators' maps (their programs are in `gens`).
    pub rotating: Vec<(Path, Rotating)>,
    /// The epoch the AYIYA datagrams are signed at: the data path's clock
    /// is set to it before every AYIYA measurement.
    pub ayiya_epoch: u32,
    /// Tayga, when a Tayga path runs (dropped before the bed).
    pub tayga: Option<crate::tayga::Tayga>,
}

/// One measurement of programs prepared elsewhere (the scale bench's
/// two tables): what runs on the dut, the generator and the frame it is
/// given, and the datapath whose counters hold the success count (`None`:
/// the bed's own).
pub struct Run<'a> {
    pub path: Path,
    pub round: usize,
    pub dut: DutProgram<'a>,
    pub gen: &'a OwnedFd,
    pub frame: &'a [u8],
    pub counters: Option<&'a mut Datapath>,
    /// A rotating generator to keep paced at `AYIYA_PACE` times what the
    /// bed's datapath decapsulates (`gen` is its program).
    pub pacer: Option<&'a Rotating>,
}

/// How often the pace follows the decap rate.
const PACE_STEP: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub struct Measurement {
    pub path: Path,
    pub round: usize,
    /// Delivered at the receiver, per second of the counted window.
    pub pps: f64,
    /// Frames the generator sent / frames that entered the dut's receive
    /// ring / frames refused because that ring was full, per second.
    pub offered_pps: f64,
    pub accepted_pps: f64,
    pub ring_full_pps: f64,
    /// Idle share of the dut CPU in the window (0..1).
    pub dut_idle: f64,
    /// Share of the window the dut's NAPI thread was on a CPU (0..1):
    /// below 1 it waited for work or other tasks took its CPU.
    pub dut_busy: f64,
    /// Over the whole measurement (warm-up and drain included).
    pub delivered: u64,
    pub success: u64,
    /// tunnel_xdp drops and passes to the kernel (both should be 0).
    pub xdp_drops: u64,
    pub xdp_passes: u64,
    /// AYIYA datagrams whose signature checked out, and those dropped as
    /// replays (must stay ~0: the generator sends each signature once per
    /// twice the guard's size), over the whole measurement.
    pub ayiya_authenticated: u64,
    pub ayiya_replay: u64,
}

impl Measurement {
    /// Valid per bench.md (dut CPU ≤ 5 % idle, offered above what it
    /// took), made stricter: the dut's own NAPI thread had ≥ 95 % of the
    /// window, so nothing else on the machine took its CPU.
    pub fn saturated(&self) -> bool {
        self.dut_idle <= 0.05 && self.dut_busy >= 0.95 && self.ring_full_pps > 0.0
    }

    /// Replays at most 0.1 % of what was delivered: above that, part of
    /// an AYIYA decap rate would be the guard's cheap drop, not a decap.
    pub fn replay_free(&self) -> bool {
        self.ayiya_replay.saturating_mul(1000) <= self.delivered
    }
}

/// Packet counters of a veth (`ethtool -S`), read inside its namespace;
/// the time is the middle of the read.
fn ethtool(ns: &Netns, dev: &str) -> Result<(Instant, HashMap<String, u64>)> {
    let t0 = Instant::now();
    let out = ns.run(&["ethtool", "-S", dev])?;
    let t = t0 + (Instant::now() - t0) / 2;
    let mut m = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = line.trim().split_once(':') {
            if let Ok(v) = v.trim().parse() {
                m.insert(k.trim().to_owned(), v);
            }
        }
    }
    Ok((t, m))
}

fn stat(m: &HashMap<String, u64>, k: &str) -> Result<u64> {
    m.get(k)
        .copied()
        .with_context(|| format!("ethtool counter {k} missing"))
}

/// (busy + idle, idle) jiffies of one CPU from /proc/stat.
fn cpu_times(cpu: usize) -> Result<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat")?;
    let tag = format!("cpu{cpu} ");
    let line = s
        .lines()
        .find(|l| l.starts_with(&tag))
        .context("cpu line in /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total = v.iter().take(8).sum();
    Ok((total, v[3] + v[4]))
}

/// Busy share (0..1) of every CPU over `d`, with nothing of the bench
/// running: other load on the machine skews every figure.
pub fn machine_busy(cpus: usize, d: Duration) -> Result<Vec<f64>> {
    let a: Vec<_> = (0..cpus).map(cpu_times).collect::<Result<_>>()?;
    std::thread::sleep(d);
    let b: Vec<_> = (0..cpus).map(cpu_times).collect::<Result<_>>()?;
    Ok(a.iter()
        .zip(&b)
        .map(|(a, b)| {
            let total = (b.0 - a.0).max(1) as f64;
            1.0 - (b.1 - a.1) as f64 / total
        })
        .collect())
}

/// Counters at one instant.
struct Sample {
    t: Instant,
    delivered: u64,
    xmit: u64,
    xmit_err: u64,
    cpu: (u64, u64),
    napi_ns: u64,
}

fn dut_out_tx(bed: &Bed) -> Result<u64> {
    let out = bed.dut.run(&[
        "cat",
        &format!("/sys/class/net/{DUT_OUT}/statistics/tx_packets"),
    ])?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

impl Bed {
    fn receiver(&self, path: Path) -> (&Netns, &'static str) {
        if path.receiver_is_sink() {
            (&self.sink, SINK_IF)
        } else {
            (&self.gen, GEN_IF)
        }
    }

    fn sample(&self, path: Path) -> Result<Sample> {
        let (ns, dev) = self.receiver(path);
        let (t, rx) = ethtool(ns, dev)?;
        let cpu = cpu_times(DUT_CPU)?;
        let napi_ns = self.dut_napi_runtime_ns()?;
        // tx_queue_* of bgen0 count what the generator put into bdut0's
        // ring, and what did not fit: together, all it sent.
        let (_, g) = ethtool(&self.gen, GEN_IF)?;
        Ok(Sample {
            t,
            delivered: stat(&rx, "rx_queue_0_xdp_packets")?,
            xmit: stat(&g, "tx_queue_0_xdp_xmit")?,
            xmit_err: stat(&g, "tx_queue_0_xdp_xmit_errors")?,
            cpu,
            napi_ns,
        })
    }

    fn success(&mut self, path: Path, c: &Counters) -> Result<u64> {
        Ok(match path {
            Path::TxBase | Path::TxSized(_) => {
                stat(&ethtool(&self.dut, DUT_IN)?.1, "rx_queue_0_xdp_tx")?
            }
            Path::RedirectBase => stat(&ethtool(&self.dut, DUT_IN)?.1, "rx_queue_0_xdp_redirect")?,
            Path::Kernel => dut_out_tx(self)?,
            Path::Decap | Path::DecapRedirect | Path::AyiyaDecap(_) => c.event(Event::Decap),
            Path::Encap | Path::AyiyaEncap(_) => c.event(Event::Encap),
            Path::T2t => c.event(Event::TunnelToTunnel),
            Path::Nat64To4(_) | Path::Nat64FromTunnel => c.event(Event::Nat64To4),
            Path::Nat64To6(_) => c.event(Event::Nat64To6),
            Path::TaygaTo4(_) | Path::TaygaTo6(_) => super::nat64::tayga_translated(self)?,
        })
    }

    fn delivered_now(&self, path: Path) -> Result<u64> {
        let (ns, dev) = self.receiver(path);
        stat(&ethtool(ns, dev)?.1, "rx_queue_0_xdp_packets")
    }

    /// Runs `path` for `warmup` + `window`.
    pub fn measure(
        &mut self,
        setup: &Setup,
        path: Path,
        round: usize,
        warmup: Duration,
        window: Duration,
    ) -> Result<Measurement> {
        let dut = match path {
            Path::TxBase | Path::TxSized(_) => DutProgram::Xdp(setup.tx.as_fd()),
            Path::RedirectBase => DutProgram::Xdp(setup.redirect.as_fd()),
            Path::Kernel | Path::TaygaTo4(_) | Path::TaygaTo6(_) => DutProgram::Kernel,
            _ => DutProgram::Xdp(setup.tunnel.as_fd()),
        };
        let (_, gen, frame) = setup
            .gens
            .iter()
            .find(|(p, _, _)| *p == path)
            .context("no generator")?;
        let pacer = setup
            .rotating
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, r)| r);
        if path.is_ayiya() {
            // The datagrams carry one epoch; ±120 s of it is valid.
            self.set_unix_time(setup.ayiya_epoch)?;
        }
        // Tayga shares the dut's CPU with the NAPI thread: its time counts
        // as the dut's (`Measurement::dut_busy`).
        self.busy_extra = match (&setup.tayga, path.is_tayga()) {
            (Some(t), true) => Some(t.pid()),
            (None, true) => bail!("{}: Tayga is not running", path.name()),
            _ => None,
        };
        self.measure_run(
            Run {
                path,
                round,
                dut,
                gen,
                frame,
                counters: None,
                pacer,
            },
            warmup,
            window,
        )
    }

    /// Sleeps `d`; with a paced generator, every `PACE_STEP` sets its pace
    /// to `AYIYA_PACE` times what the dut decapsulated over the step, so
    /// that the ring stays full and the offered datagrams stay within a
    /// few times what the dut takes, whatever else takes its CPU. `last`:
    /// the previous step's (time, decap count).
    fn wait(
        &mut self,
        d: Duration,
        pacer: Option<&Rotating>,
        last: &mut Option<(Instant, u64)>,
    ) -> Result<()> {
        let Some(r) = pacer else {
            std::thread::sleep(d);
            return Ok(());
        };
        let end = Instant::now() + d;
        loop {
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(PACE_STEP));
            let t = Instant::now();
            let n = self.dp.counters()?.event(Event::Decap);
            if let Some((t0, n0)) = *last {
                let rate = n.saturating_sub(n0) as f64 / (t - t0).as_secs_f64();
                if rate > 0.0 {
                    r.set_pace(Some(super::AYIYA_PACE * rate))?;
                }
            }
            *last = Some((t, n));
        }
    }

    /// Runs what `run` says for `warmup` + `window`.
    pub fn measure_run(
        &mut self,
        run: Run,
        warmup: Duration,
        window: Duration,
    ) -> Result<Measurement> {
        let Run {
            path,
            round,
            dut,
            gen: gen_fd,
            frame,
            mut counters,
            pacer,
        } = run;
        if pacer.is_some() && counters.is_some() {
            bail!("a paced generator follows the bed's own datapath only");
        }
        self.set_dut(dut)?;
        let mut read_counters = |bed: &mut Bed| match counters.as_deref_mut() {
            Some(dp) => dp.counters(),
            None => bed.dp.counters(),
        };

        let c0 = read_counters(self)?;
        let (d0, s0) = (self.delivered_now(path)?, self.success(path, &c0)?);
        let gen = LiveGen::start(&self.gen, self.gen_ifindex, GEN_CPU, gen_fd, frame)?;
        let mut last = None;
        self.wait(warmup, pacer, &mut last)?;
        let a = self.sample(path)?;
        self.wait(window, pacer, &mut last)?;
        let b = self.sample(path)?;
        gen.stop()?;
        // Let the rings drain before the totals.
        std::thread::sleep(Duration::from_millis(100));
        let c1 = read_counters(self)?;
        let (d1, s1) = (self.delivered_now(path)?, self.success(path, &c1)?);

        let secs = (b.t - a.t).as_secs_f64();
        let rate = |x: u64, y: u64| (y - x) as f64 / secs;
        let (total, idle) = (b.cpu.0 - a.cpu.0, b.cpu.1 - a.cpu.1);
        if b.delivered == a.delivered {
            bail!(
                "{}: nothing delivered; the bed is broken (drops {:?})",
                path.name(),
                c1.drops
            );
        }
        let (xdp_drops, xdp_passes) = if path.is_tunnel_xdp() {
            (
                c1.total_drops() - c0.total_drops(),
                [Event::FibNoNeigh, Event::FibPass, Event::NotOurs]
                    .iter()
                    .map(|e| c1.event(*e) - c0.event(*e))
                    .sum(),
            )
        } else {
            (0, 0)
        };
        Ok(Measurement {
            path,
            round,
            pps: rate(a.delivered, b.delivered),
            offered_pps: rate(a.xmit + a.xmit_err, b.xmit + b.xmit_err),
            accepted_pps: rate(a.xmit, b.xmit),
            ring_full_pps: rate(a.xmit_err, b.xmit_err),
            dut_idle: if total == 0 {
                0.0
            } else {
                idle as f64 / total as f64
            },
            dut_busy: (b.napi_ns - a.napi_ns) as f64 / 1e9 / secs,
            delivered: d1 - d0,
            success: s1 - s0,
            xdp_drops,
            xdp_passes,
            ayiya_authenticated: c1.event(Event::AyiyaAuthenticated)
                - c0.event(Event::AyiyaAuthenticated),
            ayiya_replay: c1.drop(Drop::AyiyaReplay) - c0.drop(Drop::AyiyaReplay),
        })
    }
}
