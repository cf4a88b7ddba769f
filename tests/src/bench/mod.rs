//! The bench: packet rates of the PoP's XDP paths as ratios to baselines
//! measured in the same run on the same veth bed, and per-packet program
//! costs as differences to an XDP_DROP program. Method and reference
//! figures: docs/bench.md of the shared docs.
//!
//! - `topology`: the three namespaces, the datapath with N tunnels, NAPI
//!   threads pinned.
//! - `asm`, `sys`: the generator and redirect-baseline programs, assembled
//!   at run time, and the syscalls that load, attach and run them.
//! - `livegen`: the live-frame generator thread.
//! - `frames`: one frame template per path (AYIYA decap: 524,288, each
//!   signed by the host signer, rotated by a paced generator so that the
//!   replay guard has forgotten a signature before it comes back).
//! - `measure`: one rate measurement and its validity figures.
//! - `nat64`: the translator's settings and frames, and Tayga, its
//!   anchor, run on the dut without XDP.
//! - `cost`: BPF_PROG_TEST_RUN single-mode costs.
//! - `report`: tables.
//!
//! The scale part (`scale`, the goals at 100k–1M tunnels):
//! - `apply`: bulk add through the real daemon's API.
//! - `memory`: kernel-charged map memory per tunnel.
//! - `bigtable`: decap rate with 1M tunnels loaded relative to 10.
//! - `restart`: packets lost across a daemon restart under load.

pub mod apply;
pub mod asm;
pub mod bigtable;
pub mod cost;
pub mod frames;
pub mod livegen;
pub mod measure;
pub mod memory;
pub mod nat64;
pub mod report;
pub mod restart;
pub mod scale;
pub mod sys;
pub mod topology;

use std::{
    os::fd::{AsFd, AsRawFd},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use aya::maps::Map;
use tunnel_common::{
    ayiya::sign::unix_now,
    maps::{AYIYA_SEEN_SLOTS, TX_PORTS},
};
use tunnelctl::datapath::PROGRAM_UPLINK;

use frames::AYIYA_VARIED;
use livegen::Rotating;
use measure::{Measurement, Path, Setup};
use topology::{Bed, DUT_CPU, GEN_CPU};

#[derive(Clone, Debug)]
pub struct Options {
    /// Rounds; each measures every path once.
    pub runs: usize,
    /// Counted seconds per measurement.
    pub seconds: f64,
    /// Warm-up seconds per measurement (not counted).
    pub warmup: f64,
    /// Test-run calls per program for the costs.
    pub calls: usize,
    /// Tunnels loaded (the issue asks about 100,000).
    pub tunnels: u32,
    /// Which parts run.
    pub only: Option<Part>,
    pub scale: scale::ScaleOptions,
}

/// The bench's two parts, and the AYIYA share of the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Packet-rate ratios to baselines and program costs.
    Rates,
    /// Bulk apply, map memory, decap with 1M tunnels, restart under load.
    Scale,
    /// The rates part's AYIYA paths alone (with their baselines), and the
    /// costs they are read against.
    Ayiya,
    /// The rates part's NAT64 paths alone (translator and Tayga, with their
    /// XDP_TX baselines), and the costs they are read against.
    Nat64,
    /// The rates part's program costs alone (test runs, no live traffic):
    /// a quick look at what a change did to a path, not a rate figure.
    Costs,
}

/// Distinct signed datagrams per AYIYA decap generator, eight times what
/// the replay guard holds. The generator uses one per frame it offers,
/// and the dut takes only some of them (the rest find its ring full), so
/// the generator is paced at `AYIYA_PACE` times what the dut decapsulates,
/// followed every 50 ms (`Bed::wait`): a signature comes back after ~1/3
/// of 524,288 taken datagrams, 2.7 times the guard, which has evicted it
/// by then. Should the dut slow down by more than that margin within a
/// step, replays show (`ayiya_replay`) and the pair is not valid.
pub const AYIYA_VARIANTS: u32 = 8 * AYIYA_SEEN_SLOTS;
/// Offered over what the dut decapsulates (see `AYIYA_VARIANTS`).
pub const AYIYA_PACE: f64 = 3.0;

impl Options {
    /// Whether part `p` runs (`Part::Rates` also when only its AYIYA
    /// share does).
    pub fn runs_part(&self, p: Part) -> bool {
        match self.only {
            None => true,
            Some(Part::Ayiya) | Some(Part::Nat64) | Some(Part::Costs) => {
                p == Part::Rates || Some(p) == self.only
            }
            Some(o) => o == p,
        }
    }

    /// The rate paths this run measures, in round order.
    pub fn paths(&self) -> Vec<Path> {
        Path::ROUND
            .into_iter()
            .filter(|p| match self.only {
                Some(Part::Costs) => false,
                Some(Part::Ayiya) => p.is_ayiya_part(),
                Some(Part::Nat64) => p.is_nat64_part(),
                _ => true,
            })
            .collect()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            runs: 5,
            seconds: 2.0,
            warmup: 1.0,
            calls: 20_000,
            tunnels: 100_001,
            only: None,
            scale: scale::ScaleOptions::default(),
        }
    }
}

pub struct Results {
    pub measurements: Vec<Measurement>,
    pub costs: Vec<cost::Cost>,
    pub elapsed: Duration,
    pub options: Options,
    /// Busy share per CPU just before and just after the run, bench idle.
    pub busy_before: Vec<f64>,
    pub busy_after: Vec<f64>,
    pub scale: Option<scale::ScaleResults>,
}

fn log(msg: &str) {
    eprintln!("bench: {msg}");
}

fn prepare(bed: &mut Bed, paths: &[Path], ayiya_epoch: u32) -> Result<Setup> {
    let tx = bed.dp.program_fd("testbed_tx")?;
    let tunnel = bed.dp.program_fd(PROGRAM_UPLINK)?;
    let devmap = match bed.dp.ebpf_mut().map(TX_PORTS) {
        Some(Map::DevMapHash(m)) => m.fd().as_fd().as_raw_fd(),
        _ => bail!("{TX_PORTS} is not a devmap-hash"),
    };
    let redirect = sys::load_xdp(
        "bench_redirect",
        &asm::redirect(bed.sink_mac, bed.dut_out_mac, devmap, bed.dut_out_ifindex),
    )?;
    let mut gens = Vec::new();
    let mut rotating = Vec::new();
    for &p in paths {
        let frame = match p {
            Path::TxBase | Path::RedirectBase | Path::Kernel => bed.frame_plain(),
            Path::Decap => bed.frame_decap_tx(),
            Path::DecapRedirect => bed.frame_decap_redirect(),
            Path::Encap => bed.frame_to_tunnel(bed.tun_b()),
            Path::T2t => bed.frame_t2t(bed.tun_b()),
            Path::TxSized(inner) => bed.frame_plain_sized(inner),
            Path::Nat64To4(inner) | Path::TaygaTo4(inner) => bed.frame_nat64_to4(inner),
            Path::Nat64To6(inner) | Path::TaygaTo6(inner) => bed.frame_nat64_to6(inner),
            Path::Nat64FromTunnel => bed.frame_nat64_from_tunnel(),
            Path::AyiyaEncap(inner) => bed.frame_to_ayiya(inner),
            Path::AyiyaDecap(inner) => {
                let t0 = Instant::now();
                let (first, heads) =
                    bed.ayiya_decap_variants(inner, ayiya_epoch, 0..AYIYA_VARIANTS)?;
                let r = Rotating::new(first, &heads)?;
                drop(heads);
                log(&format!(
                    "{}: {AYIYA_VARIANTS} datagrams signed at epoch {ayiya_epoch} in {:.1} s \
                     (the generator rewrites their first {AYIYA_VARIED} bytes)",
                    p.name(),
                    t0.elapsed().as_secs_f64()
                ));
                gens.push((p, r.prog.try_clone()?, r.first.clone()));
                rotating.push((p, r));
                continue;
            }
        };
        // What the sized paths change of a frame is in its headers (the
        // kernel fills each live-frame page with the whole frame once).
        let head = if p.is_sized() { 128 } else { frame.len() };
        let prog = sys::load_xdp("bench_gen", &asm::generator_head(&frame, head))?;
        gens.push((p, prog, frame));
    }
    let tayga = if paths.iter().any(|p| p.is_tayga()) {
        let t = nat64::start_tayga(bed)?;
        log(&format!("tayga running (pid {}) on CPU {DUT_CPU}", t.pid()));
        Some(t)
    } else {
        None
    };
    Ok(Setup {
        tayga,
        tx,
        tunnel,
        redirect,
        gens,
        rotating,
        ayiya_epoch,
    })
}

pub fn run(o: &Options) -> Result<Results> {
    let start = Instant::now();
    if o.runs == 0 || o.seconds <= 0.0 || o.warmup < 0.0 {
        bail!("--runs must be ≥ 1 and --seconds > 0");
    }
    let ncpu = std::thread::available_parallelism()?.get();
    if ncpu <= DUT_CPU {
        bail!("the bench needs at least {} CPUs", DUT_CPU + 1);
    }
    let busy_before = measure::machine_busy(ncpu, Duration::from_millis(500))?;
    if busy_before.iter().any(|b| *b > 0.10) {
        log(&format!(
            "warning: the machine is busy before the bench starts ({}); figures will be skewed",
            fmt_busy(&busy_before)
        ));
    }
    // This thread and every command it starts stay off the measured CPU.
    sys::pin_to_cpu(0, GEN_CPU).context("pinning the bench to CPU0")?;

    let (warmup, window) = (
        Duration::from_secs_f64(o.warmup),
        Duration::from_secs_f64(o.seconds),
    );
    let (measurements, costs) = if o.runs_part(Part::Rates) {
        rates(o, warmup, window)?
    } else {
        (Vec::new(), Vec::new())
    };
    let scale = if o.runs_part(Part::Scale) {
        Some(scale::run(&o.scale, o.runs, warmup, window, &mut |m| {
            log(m)
        })?)
    } else {
        None
    };
    let busy_after = measure::machine_busy(ncpu, Duration::from_millis(500))?;
    Ok(Results {
        measurements,
        costs,
        elapsed: start.elapsed(),
        options: o.clone(),
        busy_before,
        busy_after,
        scale,
    })
}

/// The rate part: ratios over rounds, program costs.
fn rates(
    o: &Options,
    warmup: Duration,
    window: Duration,
) -> Result<(Vec<Measurement>, Vec<cost::Cost>)> {
    // One slot more than the 6in4 tunnels: the AYIYA tunnel's.
    let mut bed = Bed::with_slots(o.tunnels, o.tunnels + 1, &mut |m| log(m))?;
    bed.add_ayiya()?;
    bed.setup_nat64()?;
    let paths = o.paths();
    let ayiya_epoch = unix_now();
    let setup = prepare(&mut bed, &paths, ayiya_epoch)?;

    log(&format!("program costs: {} test runs per case", o.calls));
    let cases = cost::cases(
        &mut bed,
        o.calls.min(20_000),
        &cost::AyiyaCases {
            epoch: ayiya_epoch,
            // Past the generators' variants: signatures not seen yet.
            variants: AYIYA_VARIANTS..AYIYA_VARIANTS + o.calls as u32,
            only: o.only == Some(Part::Ayiya),
        },
        o.only == Some(Part::Nat64),
    )?;
    let costs = cost::measure(&mut bed, &setup, &cases, o.calls)?;
    if let Some(c) = costs.iter().find(|c| c.wrong > 0) {
        bail!(
            "{}: {} test runs returned an unexpected action; the bed is misconfigured",
            c.name,
            c.wrong
        );
    }

    // What the AYIYA decap takes per second, first from its test-run cost
    // (no other overhead: an overestimate), then as last measured: the
    // pace each measurement starts from (`Bed::wait` then follows).
    let mut capacity: Vec<(Path, f64)> = setup
        .rotating
        .iter()
        .map(|(p, _)| {
            let Path::AyiyaDecap(inner) = *p else {
                unreachable!("only AYIYA decap rotates")
            };
            let name = cost::ayiya_name(true, inner);
            let ns = costs.iter().find(|c| c.name == name).map_or(1e3, |c| c.ns);
            (*p, 1e9 / ns.max(1.0))
        })
        .collect();
    let mut ms = Vec::new();
    for round in 0..o.runs {
        for &p in &paths {
            let pace = capacity.iter_mut().find(|(q, _)| *q == p);
            if let Some((_, pps)) = &pace {
                let (_, gen) = setup
                    .rotating
                    .iter()
                    .find(|(q, _)| *q == p)
                    .expect("a rotating generator per AYIYA decap");
                gen.set_pace(Some(AYIYA_PACE * *pps))?;
            }
            let m = bed
                .measure(&setup, p, round, warmup, window)
                .with_context(|| format!("measuring {}", p.name()))?;
            if let Some((_, pps)) = pace {
                if m.accepted_pps > 0.0 {
                    *pps = m.accepted_pps;
                }
            }
            log(&format!(
                "round {}/{} {:<34} {:<30} delivered {:.3} Mpps, dut idle {:.1}%, dut napi on CPU {:.1}%",
                round + 1,
                o.runs,
                p.name(),
                p.egress(),
                m.pps / 1e6,
                100.0 * m.dut_idle,
                100.0 * m.dut_busy
            ));
            ms.push(m);
        }
    }
    bed.set_dut(topology::DutProgram::Kernel)?;
    drop(setup);
    drop(bed);
    Ok((ms, costs))
}

fn fmt_busy(b: &[f64]) -> String {
    b.iter()
        .enumerate()
        .map(|(i, b)| format!("CPU{i} {:.0} %", 100.0 * b))
        .collect::<Vec<_>>()
        .join(", ")
}

fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    // Not available_parallelism: this thread is pinned to one CPU.
    let n = std::fs::read_to_string("/proc/cpuinfo").map_or(0, |s| {
        s.lines().filter(|l| l.starts_with("processor")).count()
    });
    format!("kernel {}, {n} × {cpu}", kernel.trim())
}

impl Results {
    /// The printed summary: ratios, validity, costs, then the scale
    /// section (each part only when it ran).
    pub fn summary(&self) -> String {
        let o = &self.options;
        let mut s = String::new();
        if !o.runs_part(Part::Rates) {
            s += &format!(
                "tunnel-pop bench, scale part only: {}; {:.0} s total\n",
                machine(),
                self.elapsed.as_secs_f64()
            );
            s += &format!(
                "Other load, bench idle: before {}; after {} (must be ~0: any other task skews the rates)\n",
                fmt_busy(&self.busy_before),
                fmt_busy(&self.busy_after)
            );
            if let Some(sc) = &self.scale {
                s += &report::scale_section(sc);
            }
            return s;
        }
        s += &format!(
            "tunnel-pop bench: {}; {} 6in4 tunnels and 1 AYIYA loaded; {} rounds × {} paths, {:.1} s counted after {:.1} s warm-up each; {:.0} s total\n",
            machine(),
            o.tunnels,
            o.runs,
            o.paths().len(),
            o.seconds,
            o.warmup,
            self.elapsed.as_secs_f64()
        );
        if o.only == Some(Part::Costs) {
            s += "costs only: no live traffic, no rate figure.\n";
        } else {
            s += &self.rate_tables();
        }
        s += &format!(
            "\nProgram cost, BPF_PROG_TEST_RUN single mode ({} calls each, 10 % trimmed mean, on bdut0's netns, CPU1, {} tunnels):\n",
            o.calls, o.tunnels
        );
        s += &report::cost_table(&self.costs);
        s += &report::ayiya_section(&self.measurements, &self.costs);
        s += &report::nat64_section(&self.measurements, &self.costs);
        if let Some(sc) = &self.scale {
            s += &report::scale_section(sc);
        }
        s
    }

    /// The live part of the summary: ratios, other load, validity.
    fn rate_tables(&self) -> String {
        let mut s = String::new();
        s += "bed: gen (live frames, CPU0) → veth → dut (bdut0 threaded NAPI on CPU1) → veth → sink. Receivers drop in XDP and\n";
        s += "     count (rx_queue_0_xdp_packets): bgen0 for TX paths, bsink0 for redirect/kernel paths; their NAPI runs as softirq\n";
        s += "     on CPU1 after the dut's poll, so every rate includes one receiver XDP_DROP per packet (ratios lean toward 1).\n\n";
        s += "Packet rate ratios, median [min–max] n=rounds; 'valid pairs' keeps rounds where both sides saturated the dut\n";
        s += "(see Validity), 'all pairs' every round:\n";
        s += &report::ratio_table(&self.measurements);
        s += &format!(
            "\nOther load, bench idle: before {}; after {} (must be ~0: any other task skews the rates)\n",
            fmt_busy(&self.busy_before),
            fmt_busy(&self.busy_after)
        );
        s += "Validity: saturated = dut CPU ≤ 5 % idle, dut NAPI thread ≥ 95 % on CPU, and frames refused at the dut's ring\n";
        s += "(else the ratio is not a CPU-cost ratio), and for AYIYA decap replays ≤ 0.1 % of delivered (else the ratio\n";
        s += "counts the replay guard's drops); the success counter must equal what the receiver got:\n";
        s += &report::validity_table(&self.measurements);
        s
    }

    /// Summary plus every raw figure (for the file).
    pub fn full(&self) -> String {
        let mut s = self.summary();
        if self.options.runs_part(Part::Rates) {
            s += "\nRaw figures (Mpps per measurement; compare only with the same round's baseline):\n";
            s += &report::raw_table(&self.measurements);
            s += "\nEgress per path:\n";
            for p in self.options.paths() {
                s += &format!(
                    "  {:<34} {:<32} {}\n",
                    p.name(),
                    p.egress(),
                    p.frame_sizes()
                );
            }
        }
        if let Some(sc) = &self.scale {
            s += &report::scale_raw(sc);
        }
        s
    }

    /// Whether a scale piece failed to measure (the binary then exits 1
    /// after writing the report).
    pub fn failed(&self) -> bool {
        self.scale.as_ref().is_some_and(scale::ScaleResults::failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--only ayiya` runs the AYIYA paths alone, each subject after the
    /// XDP_TX baseline of its inner size; the default runs every path.
    #[test]
    fn ayiya_only_paths() {
        let mut o = Options::default();
        assert_eq!(o.paths(), Path::ROUND);
        o.only = Some(Part::Ayiya);
        let p = o.paths();
        assert_eq!(p.len(), 6);
        for (i, x) in p.iter().enumerate() {
            if let Path::AyiyaDecap(inner) | Path::AyiyaEncap(inner) = x {
                let base = p[..i].iter().rposition(|b| matches!(b, Path::TxSized(_)));
                assert_eq!(base.map(|b| p[b]), Some(Path::TxSized(*inner)), "{x:?}");
            }
        }
        assert!(o.runs_part(Part::Rates) && !o.runs_part(Part::Scale));
        o.only = Some(Part::Scale);
        assert!(!o.runs_part(Part::Rates) && !o.runs_part(Part::Ayiya));
        // Costs alone: the rates part's set-up and test runs, no live path.
        // NAT64 alone: each subject after the XDP_TX baseline of its size.
        o.only = Some(Part::Nat64);
        let p = o.paths();
        assert_eq!(p.len(), 12);
        for (i, x) in p.iter().enumerate() {
            let want = match x {
                Path::Nat64To4(s) | Path::Nat64To6(s) | Path::TaygaTo4(s) | Path::TaygaTo6(s) => {
                    Path::TxSized(*s)
                }
                Path::Nat64FromTunnel => Path::TxBase,
                _ => continue,
            };
            let base = p[..i]
                .iter()
                .rposition(|b| matches!(b, Path::TxSized(_) | Path::TxBase));
            assert_eq!(base.map(|b| p[b]), Some(want), "{x:?}");
        }
        assert!(o.runs_part(Part::Rates) && !o.runs_part(Part::Scale));
        o.only = Some(Part::Costs);
        assert!(o.paths().is_empty());
        assert!(o.runs_part(Part::Rates) && !o.runs_part(Part::Scale) && !o.runs_part(Part::Ayiya));
    }
}
