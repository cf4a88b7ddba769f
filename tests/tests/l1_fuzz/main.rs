//! L1 fuzz: mutated frames of every path through BPF_PROG_TEST_RUN of
//! `tunnel_xdp` (and the programs behind its tail calls) and `tunnel_tc`,
//! with invariants checked on every run (see `check`). Frames start from
//! valid seeds of each path (`seeds`) and are mutated blindly and by
//! header field (`mutate`); the bed cycles through configurations of the
//! tunnels (`model`). Needs root.
//!
//! Deterministic: frame `i` of seed `S` is always the same frame in the
//! same configuration, so a failure is replayed on its own with
//! `TUNNEL_FUZZ_SEED=S TUNNEL_FUZZ_FRAME=i`. `TUNNEL_FUZZ_FRAMES` sets the
//! run's length (20,000 by default: seconds); `cargo xtask fuzz`
//! runs the long one.

mod check;
// A raw bpf(2) call: aya has no batch lookup.
#[allow(unsafe_code)]
mod counters;
mod model;
mod mutate;
mod rng;
mod seeds;
mod wire;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use tunnel_common::stats::{Drop, Event};
use tunnel_tests::prog::*;

use crate::{
    check::{Finding, Notes, Outcome},
    counters::{Counters, Snapshot},
    model::Variant,
    mutate::Mutant,
    rng::Rng,
    seeds::{Prog, Seed},
    wire::hex,
};

/// The short run's seed, so that the test command is reproducible.
const DEFAULT_SEED: u64 = 0x6e_3c_0f_fe_e1_20_26;
const DEFAULT_FRAMES: u64 = 20_000;
/// Frames per configuration before the bed moves to the next one.
const EPOCH: u64 = 500;
/// Examples kept per kind of finding.
const EXAMPLES: usize = 2;

fn env_u64(name: &str) -> Option<u64> {
    let s = std::env::var(name).ok()?;
    let s = s.trim().replace('_', "");
    let v = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    Some(v.unwrap_or_else(|_| panic!("{name}={s}: not a number")))
}

/// Events and drops the run must have produced, so that a seed that stops
/// reaching its path does not go unnoticed.
const MUST_SEE_EVENTS: &[Event] = &[
    Event::Decap,
    Event::Encap,
    Event::TunnelToTunnel,
    Event::Forwarded,
    Event::FibNoNeigh,
    Event::FibPass,
    Event::OuterFragment,
    Event::IcmpTimeExceeded,
    Event::IcmpPacketTooBig,
    Event::NotOurs,
    Event::EchoReply,
    Event::IcmpUnreachable,
    Event::NdpAdvertised,
    Event::LocalEncap,
    Event::NexthopCached,
];
const MUST_SEE_DROPS: &[Drop] = &[
    Drop::Malformed,
    Drop::UnknownTunnel,
    Drop::TunnelDisabled,
    Drop::SpoofedSource,
    Drop::InvalidSource,
    Drop::LinkScope,
    Drop::HopLimit,
    Drop::TooBig,
    Drop::EcnCe,
    Drop::BadChecksum,
    Drop::PopAddress,
    Drop::NdpInvalid,
    Drop::LocalTooBig,
    Drop::LocalFib,
    Drop::AdjustFailed,
];

#[derive(Default)]
struct Report {
    frames: u64,
    elapsed: Duration,
    verdicts: BTreeMap<(&'static str, &'static str), u64>,
    /// Every run's counters, summed.
    totals: Snapshot,
    /// Per kind: how many frames, and the first few in full.
    findings: BTreeMap<&'static str, (u64, Vec<String>)>,
    notes: Notes,
}

struct Fuzz {
    bed: ProgBed,
    counters: Counters,
    variants: Vec<Variant>,
    seeds: Vec<Seed>,
    current: Option<usize>,
    before: Snapshot,
    seed: u64,
    verbose: bool,
    report: Report,
}

impl Fuzz {
    fn new(seed: u64, verbose: bool) -> Self {
        let mut bed = ProgBed::new().expect("prog bed");
        let mut counters = Counters::new(&mut bed).expect("counter maps");
        let before = counters.snapshot().expect("counters");
        let variants = Variant::all();
        let seeds = seeds::all();
        let mut f = Fuzz {
            bed,
            counters,
            variants,
            seeds,
            current: None,
            before,
            seed,
            verbose,
            report: Report::default(),
        };
        f.check_counter_reader();
        f
    }

    /// The batch reader agrees with the loader's own, slot by slot.
    fn check_counter_reader(&mut self) {
        self.use_variant(0);
        for s in 0..self.seeds.len() {
            let m = Mutant {
                frame: self.seeds[s].frame.clone(),
                on_x1: self.seeds[s].on_x1,
                gso: self.seeds[s].gso,
                ops: vec![],
            };
            self.run_one(u64::MAX, s, &m);
        }
        let mine = self.counters.snapshot().unwrap();
        let theirs = self.bed.counters();
        for (d, n) in &theirs.drops {
            assert_eq!(mine.drop(*d), *n, "batch read of drop {}", d.name());
        }
        for (e, n) in &theirs.events {
            assert_eq!(mine.event(*e), *n, "batch read of event {}", e.name());
        }
    }

    fn use_variant(&mut self, v: usize) {
        if self.current == Some(v) {
            return;
        }
        self.variants[v]
            .apply(&mut self.bed)
            .expect("bed configuration");
        self.current = Some(v);
        self.before = self.counters.snapshot().expect("counters");
    }

    /// Frame `i`: its configuration, seed and mutations, then the run.
    fn frame(&mut self, i: u64) {
        self.use_variant((i / EPOCH % self.variants.len() as u64) as usize);
        let mut rng = Rng::for_frame(self.seed, i);
        let s = rng.below(self.seeds.len());
        let m = mutate::mutate(&mut rng, &self.seeds[s]);
        self.run_one(i, s, &m);
        self.report.frames += 1;
    }

    fn run_one(&mut self, i: u64, s: usize, m: &Mutant) {
        let seed = &self.seeds[s];
        let ifindex = if m.on_x1 { self.bed.x1 } else { self.bed.x0 };
        let run = match seed.prog {
            Prog::Xdp => self.bed.run(&m.frame, ifindex),
            Prog::Tc => self.bed.run_tc(&m.frame, self.bed.x1, m.gso),
        };
        let after = self.counters.snapshot().expect("counters");
        let delta = after.since(&self.before);
        self.before = after;
        self.report.totals.add(&delta);
        let v = &self.variants[self.current.unwrap()];
        let run = match run {
            Ok(r) => r,
            Err(_) if seed.prog == Prog::Tc && short_of_l3(&m.frame) => {
                // The kernel builds no skb without the network header its
                // Ethernet type announces (and never sends one).
                *self
                    .report
                    .notes
                    .entry("tc: test run refused, network header incomplete")
                    .or_default() += 1;
                return;
            }
            Err(e) => {
                let f = Finding {
                    kind: "test run refused",
                    detail: format!("{e:#}"),
                };
                let text = describe(self.seed, i, v, seed, m, None, &delta, &f);
                record(&mut self.report, f.kind, text);
                return;
            }
        };
        let verdict = match seed.prog {
            Prog::Xdp => ("xdp", action_name(run.action)),
            Prog::Tc => ("tc", tc_action_name(run.action)),
        };
        *self.report.verdicts.entry(verdict).or_default() += 1;
        let r = Outcome {
            v,
            prog: seed.prog,
            on_x1: m.on_x1,
            gso: m.gso,
            input: &m.frame,
            action: run.action,
            output: &run.output,
            delta: &delta,
        };
        let result = check::check(&r, &mut self.report.notes);
        if let Err(f) = &result {
            let text = describe(self.seed, i, v, seed, m, Some(&run), &delta, f);
            record(&mut self.report, f.kind, text);
        } else if self.verbose {
            let f = Finding {
                kind: "ok",
                detail: "every invariant holds".into(),
            };
            println!(
                "{}",
                describe(self.seed, i, v, seed, m, Some(&run), &delta, &f)
            );
        }
    }

    fn finish(mut self, check_coverage: bool) -> Report {
        let totals = &self.report.totals;
        if check_coverage {
            let missing: Vec<&str> = MUST_SEE_EVENTS
                .iter()
                .filter(|e| totals.event(**e) == 0)
                .map(|e| e.name())
                .chain(
                    MUST_SEE_DROPS
                        .iter()
                        .filter(|d| totals.drop(**d) == 0)
                        .map(|d| d.name()),
                )
                .collect();
            if !missing.is_empty() {
                let text = format!("never counted in this run: {}", missing.join(", "));
                record(&mut self.report, "coverage", text);
            }
        }
        self.report
    }
}

fn short_of_l3(f: &[u8]) -> bool {
    match wire::ethertype(f) {
        wire::ET_IPV4 => f.len() < wire::ETH + wire::IP4,
        wire::ET_IPV6 => f.len() < wire::ETH + wire::IP6,
        _ => false,
    }
}

fn record(report: &mut Report, kind: &'static str, text: String) {
    let e = report.findings.entry(kind).or_default();
    e.0 += 1;
    if e.1.len() < EXAMPLES {
        e.1.push(text);
    }
}

#[allow(clippy::too_many_arguments)]
fn describe(
    seed: u64,
    i: u64,
    v: &Variant,
    s: &Seed,
    m: &Mutant,
    run: Option<&Run>,
    delta: &Snapshot,
    f: &Finding,
) -> String {
    let place = match s.prog {
        Prog::Xdp => format!("tunnel_xdp on {}", if m.on_x1 { "x1" } else { "x0" }),
        Prog::Tc => format!("tunnel_tc, gso_size {}", m.gso),
    };
    let replay = if i == u64::MAX {
        "unmutated seed".to_string()
    } else {
        format!("frame {i}, replay with TUNNEL_FUZZ_SEED={seed:#x} TUNNEL_FUZZ_FRAME={i}")
    };
    let mut t = format!(
        "{}: {}\n  {replay}\n  configuration \"{}\", seed \"{}\", {place}, mutations {:?}\n  counters: {}\n  input  ({} bytes): {}",
        f.kind,
        f.detail,
        v.name,
        s.name,
        m.ops,
        delta.describe(),
        m.frame.len(),
        hex(&m.frame)
    );
    if let Some(r) = run {
        let verdict = match s.prog {
            Prog::Xdp => action_name(r.action),
            Prog::Tc => tc_action_name(r.action),
        };
        let shown = &r.output[..r.output.len().min(256)];
        let more = if shown.len() < r.output.len() {
            "…"
        } else {
            ""
        };
        t += &format!(
            "\n  {verdict}, output ({} bytes): {}{more}",
            r.output.len(),
            hex(shown)
        );
    }
    t
}

fn print(report: &Report, seed: u64) {
    let secs = report.elapsed.as_secs_f64();
    println!(
        "l1 fuzz: seed {seed:#x}: {} frames in {secs:.1} s ({:.0} frames/s)",
        report.frames,
        report.frames as f64 / secs.max(1e-9)
    );
    let verdicts: Vec<String> = report
        .verdicts
        .iter()
        .map(|((p, a), n)| format!("{p} {a} {n}"))
        .collect();
    println!("  verdicts: {}", verdicts.join(", "));
    {
        let t = &report.totals;
        let drops: Vec<String> = Drop::ALL
            .iter()
            .filter(|d| t.drop(**d) > 0)
            .map(|d| format!("{} {}", d.name(), t.drop(*d)))
            .collect();
        let events: Vec<String> = Event::ALL
            .iter()
            .filter(|e| t.event(**e) > 0)
            .map(|e| format!("{} {}", e.name(), t.event(*e)))
            .collect();
        println!("  drops: {}", drops.join(", "));
        println!("  events: {}", events.join(", "));
    }
    for (note, n) in &report.notes {
        println!("  noted: {note}: {n}");
    }
    if report.findings.is_empty() {
        println!("  findings: none");
    }
    for (kind, (n, examples)) in &report.findings {
        println!("  finding \"{kind}\": {n} frames");
        for e in examples {
            println!("{e}");
        }
    }
}

#[test]
fn mutated_frames_keep_the_invariants() {
    let frames = env_u64("TUNNEL_FUZZ_FRAMES").unwrap_or(DEFAULT_FRAMES);
    let seed = env_u64("TUNNEL_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let only = env_u64("TUNNEL_FUZZ_FRAME");
    let mut fuzz = Fuzz::new(seed, only.is_some());
    let start = Instant::now();
    let progress = frames / 20;
    match only {
        Some(i) => fuzz.frame(i),
        None => {
            for i in 0..frames {
                fuzz.frame(i);
                if progress >= 100_000 && i > 0 && i % progress == 0 {
                    let secs = start.elapsed().as_secs_f64();
                    let found: u64 = fuzz.report.findings.values().map(|f| f.0).sum();
                    eprintln!(
                        "l1 fuzz: {i} of {frames} frames, {secs:.0} s, {:.0} frames/s, {found} findings",
                        i as f64 / secs
                    );
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let mut report = fuzz.finish(only.is_none() && frames >= DEFAULT_FRAMES);
    report.elapsed = elapsed;
    print(&report, seed);
    assert!(
        report.findings.is_empty(),
        "l1 fuzz: {} kinds of findings (seed {seed:#x}), see above",
        report.findings.len()
    );
}
