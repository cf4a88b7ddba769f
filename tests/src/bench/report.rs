//! Ratios (median [min–max] over rounds, each from a subject and its
//! baseline measured in the same round), validity checks, program costs,
//! and the raw figures behind them, as text; the scale section with
//! each figure beside its goal.

use std::fmt::Write;

use super::{
    bigtable::{self, TableResults, Variant},
    cost::{self, Cost},
    frames::{per_block, Inner},
    measure::{Measurement, Path},
    memory::Memory,
    restart,
    scale::{ScaleResults, GOAL_APPLY_S, GOAL_BYTES, GOAL_RATIO, GOAL_RATIO_SPREAD},
};
use tunnel_common::maps::DEFAULT_MAX_TUNNELS;

pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

pub fn spread(mut v: Vec<f64>) -> Option<Spread> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Spread {
        median,
        min: v[0],
        max: v[n - 1],
        n,
    })
}

fn fmt_ratio(s: &Option<Spread>) -> String {
    match s {
        Some(s) => format!("{:.2} [{:.2}–{:.2}] n={}", s.median, s.min, s.max, s.n),
        None => "none".into(),
    }
}

/// subject / baseline, one value per round that has both; with
/// `valid_only`, only rounds where both saturated the dut (a pair where
/// either lost CPU to other tasks or waited for work is no cost ratio)
/// and no AYIYA replays were dropped.
fn ratios(ms: &[Measurement], subject: Path, baseline: Path, valid_only: bool) -> Vec<f64> {
    let rounds = ms.iter().map(|m| m.round).max().map_or(0, |r| r + 1);
    (0..rounds)
        .filter_map(|r| {
            let find = |p: Path| ms.iter().find(|m| m.round == r && m.path == p);
            let (a, b) = (find(subject)?, find(baseline)?);
            let ok = |m: &Measurement| m.saturated() && m.replay_free();
            if valid_only && !(ok(a) && ok(b)) {
                return None;
            }
            Some(a.pps / b.pps)
        })
        .collect()
}

/// (subject, baseline, why this baseline)
const RATIOS: &[(Path, Path, &str)] = &[
    (Path::Decap, Path::TxBase, "same egress (XDP_TX)"),
    (Path::Encap, Path::TxBase, "same egress (XDP_TX)"),
    (Path::T2t, Path::TxBase, "same egress (XDP_TX)"),
    (
        Path::DecapRedirect,
        Path::RedirectBase,
        "same egress (redirect)",
    ),
    (
        Path::RedirectBase,
        Path::TxBase,
        "bed check (bench.md: 1.10)",
    ),
    (
        Path::Kernel,
        Path::TxBase,
        "bed check (bench.md: 0.32–0.34)",
    ),
    (Path::DecapRedirect, Path::Kernel, "both out bdut1"),
    (Path::Decap, Path::Kernel, ""),
    (Path::Encap, Path::Kernel, ""),
    (Path::T2t, Path::Kernel, ""),
    (
        Path::AyiyaDecap(Inner::B64),
        Path::TxSized(Inner::B64),
        "same egress (XDP_TX), 64 B inner",
    ),
    (
        Path::AyiyaEncap(Inner::B64),
        Path::TxSized(Inner::B64),
        "same egress (XDP_TX), 64 B inner",
    ),
    (
        Path::AyiyaDecap(Inner::B1280),
        Path::TxSized(Inner::B1280),
        "same egress (XDP_TX), 1280 B inner",
    ),
    (
        Path::AyiyaEncap(Inner::B1280),
        Path::TxSized(Inner::B1280),
        "same egress (XDP_TX), 1280 B inner",
    ),
    (
        Path::TxSized(Inner::B1280),
        Path::TxSized(Inner::B64),
        "bed check: frame size alone",
    ),
    (
        Path::Nat64FromTunnel,
        Path::TxBase,
        "same egress (XDP_TX), decap + 6→4",
    ),
    (
        Path::Nat64To4(Inner::B64),
        Path::TxSized(Inner::B64),
        "same egress (XDP_TX), 64 B IPv6",
    ),
    (
        Path::Nat64To6(Inner::B64),
        Path::TxSized(Inner::B64),
        "same egress (XDP_TX), 64 B IPv6",
    ),
    (
        Path::TaygaTo4(Inner::B64),
        Path::TxSized(Inner::B64),
        "anchor (bench.md: 0.052)",
    ),
    (
        Path::TaygaTo6(Inner::B64),
        Path::TxSized(Inner::B64),
        "anchor",
    ),
    (
        Path::Nat64To4(Inner::B64),
        Path::TaygaTo4(Inner::B64),
        "same translation, same round",
    ),
    (
        Path::Nat64To6(Inner::B64),
        Path::TaygaTo6(Inner::B64),
        "same translation, same round",
    ),
    (
        Path::Nat64To4(Inner::B1280),
        Path::TxSized(Inner::B1280),
        "same egress (XDP_TX), 1280 B IPv6",
    ),
    (
        Path::Nat64To6(Inner::B1280),
        Path::TxSized(Inner::B1280),
        "same egress (XDP_TX), 1280 B IPv6",
    ),
    (
        Path::TaygaTo4(Inner::B1280),
        Path::TxSized(Inner::B1280),
        "anchor",
    ),
    (
        Path::TaygaTo6(Inner::B1280),
        Path::TxSized(Inner::B1280),
        "anchor",
    ),
    (
        Path::Nat64To4(Inner::B1280),
        Path::TaygaTo4(Inner::B1280),
        "same translation, same round",
    ),
    (
        Path::Nat64To6(Inner::B1280),
        Path::TaygaTo6(Inner::B1280),
        "same translation, same round",
    ),
];

/// The NAT64 goals, as ratios to XDP_TX: both ways at both sizes
/// ≥ 0.9 (about 17× Tayga's 0.052 in docs/bench.md), a tunnel user's
/// packet decapsulated and translated ≥ 0.8.
pub const NAT64_GOAL: f64 = 0.9;
pub const NAT64_FROM_TUNNEL_GOAL: f64 = 0.8;

/// (subject, XDP_TX baseline, Tayga of the same translation, goal, JSON name)
const NAT64_SUBJECTS: [(Path, Path, Option<Path>, f64, &str); 5] = [
    (
        Path::Nat64To4(Inner::B64),
        Path::TxSized(Inner::B64),
        Some(Path::TaygaTo4(Inner::B64)),
        NAT64_GOAL,
        "nat64_6to4_64",
    ),
    (
        Path::Nat64To6(Inner::B64),
        Path::TxSized(Inner::B64),
        Some(Path::TaygaTo6(Inner::B64)),
        NAT64_GOAL,
        "nat64_4to6_64",
    ),
    (
        Path::Nat64To4(Inner::B1280),
        Path::TxSized(Inner::B1280),
        Some(Path::TaygaTo4(Inner::B1280)),
        NAT64_GOAL,
        "nat64_6to4_1280",
    ),
    (
        Path::Nat64To6(Inner::B1280),
        Path::TxSized(Inner::B1280),
        Some(Path::TaygaTo6(Inner::B1280)),
        NAT64_GOAL,
        "nat64_4to6_1280",
    ),
    (
        Path::Nat64FromTunnel,
        Path::TxBase,
        None,
        NAT64_FROM_TUNNEL_GOAL,
        "nat64_from_tunnel",
    ),
];

/// The AYIYA goals, as ratios to XDP_TX: at 64 B inner ≥ 0.4
/// (which implies ≥ 0.22, twice sixxsd), at 1280 B ≥ 0.125 (twice
/// sixxsd).
pub const AYIYA_GOAL_64: f64 = 0.4;
pub const AYIYA_GOAL_1280: f64 = 0.125;

pub fn ayiya_goal(inner: Inner) -> f64 {
    match inner {
        Inner::B64 => AYIYA_GOAL_64,
        Inner::B1280 => AYIYA_GOAL_1280,
    }
}

/// The anchor: sixxsd 4.0 on one core, measured on this machine
/// kind outside this bench (never in this run): kpps and the ratio to
/// XDP_TX given with them.
pub fn sixxsd_anchor(p: Path) -> Option<(f64, f64)> {
    match p {
        Path::AyiyaDecap(Inner::B64) => Some((447.0, 0.11)),
        Path::AyiyaDecap(Inner::B1280) => Some((256.0, 0.06)),
        Path::AyiyaEncap(Inner::B64) => Some((435.0, 0.11)),
        Path::AyiyaEncap(Inner::B1280) => Some((253.0, 0.06)),
        _ => None,
    }
}

const AYIYA_SUBJECTS: [(Path, Path, &str); 4] = [
    (
        Path::AyiyaDecap(Inner::B64),
        Path::TxSized(Inner::B64),
        "ayiya_decap_64_vs_xdp_tx",
    ),
    (
        Path::AyiyaDecap(Inner::B1280),
        Path::TxSized(Inner::B1280),
        "ayiya_decap_1280_vs_xdp_tx",
    ),
    (
        Path::AyiyaEncap(Inner::B64),
        Path::TxSized(Inner::B64),
        "ayiya_encap_64_vs_xdp_tx",
    ),
    (
        Path::AyiyaEncap(Inner::B1280),
        Path::TxSized(Inner::B1280),
        "ayiya_encap_1280_vs_xdp_tx",
    ),
];

fn inner_of(p: Path) -> Option<Inner> {
    match p {
        Path::TxSized(i) | Path::AyiyaDecap(i) | Path::AyiyaEncap(i) => Some(i),
        Path::Nat64To4(i) | Path::Nat64To6(i) | Path::TaygaTo4(i) | Path::TaygaTo6(i) => Some(i),
        _ => None,
    }
}

fn measured(ms: &[Measurement], p: Path) -> bool {
    ms.iter().any(|m| m.path == p)
}

fn label(p: Path) -> String {
    format!("{} ({})", p.name(), short_egress(p))
}

fn short_egress(p: Path) -> &'static str {
    match p {
        Path::TxBase
        | Path::Decap
        | Path::Encap
        | Path::T2t
        | Path::TxSized(_)
        | Path::AyiyaDecap(_)
        | Path::AyiyaEncap(_)
        | Path::Nat64To4(_)
        | Path::Nat64To6(_)
        | Path::Nat64FromTunnel => "TX",
        Path::TaygaTo4(_) | Path::TaygaTo6(_) => "tun",
        Path::RedirectBase | Path::DecapRedirect => "redirect",
        Path::Kernel => "kernel",
    }
}

pub fn ratio_table(ms: &[Measurement]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<44} {:<44} {:<24} {:<24} note",
        "subject", "baseline (same round)", "valid pairs", "all pairs"
    );
    for (subj, base, note) in RATIOS {
        if !measured(ms, *subj) {
            continue;
        }
        let valid = spread(ratios(ms, *subj, *base, true));
        let all = spread(ratios(ms, *subj, *base, false));
        let _ = writeln!(
            s,
            "{:<44} {:<44} {:<24} {:<24} {note}",
            label(*subj),
            label(*base),
            fmt_ratio(&valid),
            fmt_ratio(&all)
        );
    }
    s
}

pub fn validity_table(ms: &[Measurement]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<44} {:<12} {:>9} {:>9} {:>10} {:>10} {:>9}  {:<30} {:>12}",
        "path",
        "frames",
        "dut idle",
        "dut napi",
        "offered/",
        "refused/",
        "saturated",
        "success counter",
        "success −"
    );
    let _ = writeln!(
        s,
        "{:<44} {:<12} {:>9} {:>9} {:>10} {:>10} {:>9}  {:<30} {:>12}",
        "", "", "(median)", "on CPU", "delivered", "delivered", "(runs)", "", "delivered"
    );
    for p in Path::ROUND {
        let v: Vec<&Measurement> = ms.iter().filter(|m| m.path == p).collect();
        if v.is_empty() {
            continue;
        }
        let med = |f: &dyn Fn(&Measurement) -> f64| {
            spread(v.iter().map(|m| f(m)).collect()).map_or(0.0, |s| s.median)
        };
        let sat = v.iter().filter(|m| m.saturated()).count();
        let diff: i64 = v
            .iter()
            .map(|m| m.success as i64 - m.delivered as i64)
            .sum();
        let _ = writeln!(
            s,
            "{:<44} {:<12} {:>8.1}% {:>8.1}% {:>10.2} {:>10.2} {:>6}/{:<2}  {:<30} {:>12}",
            label(p),
            p.frame_sizes(),
            100.0 * med(&|m| m.dut_idle),
            100.0 * med(&|m| m.dut_busy),
            med(&|m| m.offered_pps / m.pps),
            med(&|m| m.ring_full_pps / m.pps),
            sat,
            v.len(),
            p.success_counter(),
            diff
        );
    }
    let drops: u64 = ms.iter().map(|m| m.xdp_drops).sum();
    let passes: u64 = ms.iter().map(|m| m.xdp_passes).sum();
    let _ = writeln!(s, "tunnel_xdp drops during the runs: {drops}; passed to the kernel: {passes} (both must be 0)");
    for inner in Inner::ALL {
        let v: Vec<&Measurement> = ms
            .iter()
            .filter(|m| m.path == Path::AyiyaDecap(inner))
            .collect();
        if v.is_empty() {
            continue;
        }
        let auth: i64 = v
            .iter()
            .map(|m| m.ayiya_authenticated as i64 - m.delivered as i64)
            .sum();
        let replay: u64 = v.iter().map(|m| m.ayiya_replay).sum();
        let _ = writeln!(
            s,
            "{}: event ayiya_authenticated − delivered {auth} (must be 0), drop ayiya_replay {replay} (must be ~0)",
            Path::AyiyaDecap(inner).name()
        );
    }
    s
}

pub fn cost_table(costs: &[Cost]) -> String {
    let mut s = String::new();
    let drop = costs.first().map_or(0.0, |c| c.ns);
    let _ = writeln!(
        s,
        "{:<44} {:>11} {:>11} {:>13} {:>6}",
        "program, packet", "ns/call", "median", "Δ vs DROP ns", "wrong"
    );
    for c in costs {
        let _ = writeln!(
            s,
            "{:<44} {:>11.1} {:>11.0} {:>+13.1} {:>6}",
            c.name,
            c.ns,
            c.median,
            c.ns - drop,
            c.wrong
        );
    }
    s
}

/// Every measurement, with its round's baseline beside it (absolute rates
/// alone mean little on this bed).
pub fn raw_table(ms: &[Measurement]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>5} {:<44} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>12} {:>12}",
        "round",
        "path",
        "Mpps",
        "baseline",
        "offered",
        "accepted",
        "refused",
        "idle",
        "napi",
        "delivered",
        "success"
    );
    for m in ms {
        let base = match m.path {
            Path::Decap | Path::Encap | Path::T2t | Path::Kernel | Path::RedirectBase => {
                Some(Path::TxBase)
            }
            Path::DecapRedirect => Some(Path::RedirectBase),
            Path::Nat64FromTunnel => Some(Path::TxBase),
            Path::AyiyaDecap(i)
            | Path::AyiyaEncap(i)
            | Path::Nat64To4(i)
            | Path::Nat64To6(i)
            | Path::TaygaTo4(i)
            | Path::TaygaTo6(i) => Some(Path::TxSized(i)),
            Path::TxBase | Path::TxSized(_) => None,
        };
        let b = base.and_then(|b| ms.iter().find(|x| x.round == m.round && x.path == b));
        let _ = writeln!(
            s,
            "{:>5} {:<44} {:>9.3} {:>9} {:>9.3} {:>9.3} {:>9.3} {:>6.1}% {:>6.1}% {:>12} {:>12}",
            m.round + 1,
            label(m.path),
            m.pps / 1e6,
            b.map_or("-".into(), |b| format!("{:.3}", b.pps / 1e6)),
            m.offered_pps / 1e6,
            m.accepted_pps / 1e6,
            m.ring_full_pps / 1e6,
            100.0 * m.dut_idle,
            100.0 * m.dut_busy,
            m.delivered,
            m.success
        );
    }
    s
}

/// Program cost over XDP_DROP of the case named `name`.
fn cost_over_drop(costs: &[Cost], name: &str) -> Option<f64> {
    let drop = costs.iter().find(|c| c.name.starts_with("XDP_DROP"))?.ns;
    costs.iter().find(|c| c.name == name).map(|c| c.ns - drop)
}

/// (64 B cost, 1280 B cost, per block) over XDP_DROP of AYIYA decap
/// (`decap`) or encap.
fn sha1_costs(costs: &[Cost], decap: bool) -> Option<(f64, f64, f64)> {
    let small = cost_over_drop(costs, &cost::ayiya_name(decap, Inner::B64))?;
    let big = cost_over_drop(costs, &cost::ayiya_name(decap, Inner::B1280))?;
    Some((small, big, per_block(small, big)))
}

/// The AYIYA section: each rate ratio beside its goal and sixxsd's
/// anchor, then the SHA-1's cost per packet and per block.
pub fn ayiya_section(ms: &[Measurement], costs: &[Cost]) -> String {
    let mut s = String::new();
    if AYIYA_SUBJECTS.iter().any(|(p, _, _)| measured(ms, *p)) {
        s += "\nAYIYA (IPv6 in UDP 5072, SHA-1 signed), as ratios to the same round's XDP_TX baseline of the same inner size:\n";
        let _ = writeln!(
            s,
            "  {:<28} {:<24} {:<24} {:<24} sixxsd 4.0, one core*",
            "path", "valid pairs", "all pairs", "goal"
        );
        for (subj, base, _) in AYIYA_SUBJECTS {
            if !measured(ms, subj) {
                continue;
            }
            let valid = spread(ratios(ms, subj, base, true));
            let goal = ayiya_goal(inner_of(subj).expect("sized"));
            let verdict = match &valid {
                Some(v) => met(v.median >= goal),
                None => "no valid pair",
            };
            let (kpps, ratio) = sixxsd_anchor(subj).expect("anchored");
            let _ = writeln!(
                s,
                "  {:<28} {:<24} {:<24} {:<24} {kpps:.0} kpps ≈ {ratio:.2}×",
                subj.name(),
                fmt_ratio(&valid),
                fmt_ratio(&spread(ratios(ms, subj, base, false))),
                format!("≥ {goal}: {verdict}"),
            );
        }
        s += "  * the issue's anchor, measured on this machine kind outside this bench, not in this run. Goal: at least\n";
        s += "    2× sixxsd per core at both sizes (≥ 0.22× XDP_TX at 64 B, ≥ 0.125× at 1280 B) and ≥ 0.4× XDP_TX at 64 B.\n";
        s += "  Decap: AYIYA over IPv4 from the user (203.0.113.200:51680 → 192.0.2.1:5072), the inner packet routed to\n";
        s += &format!(
            "  2001:db8:eeee::2, back out bdut0 (XDP_TX); {} distinct signed datagrams per size in turn, offered at\n",
            super::AYIYA_VARIANTS
        );
        s += &format!(
            "  {}× the decap rate, followed every 50 ms (the replay guard holds {}: see ayiya_replay above), the data path's\n",
            super::AYIYA_PACE,
            tunnel_common::maps::AYIYA_SEEN_SLOTS
        );
        s += "  clock set to their epoch before each measurement. Encap: IPv6 from 2001:db8:eeee::2 to the user, signed\n";
        s += "  and sent to the endpoint installed as learned, back out bdut0 (XDP_TX).\n";
    }
    if let (Some(d), Some(e)) = (sha1_costs(costs, true), sha1_costs(costs, false)) {
        let blocks = (Inner::B64.blocks(), Inner::B1280.blocks());
        s += "\nAYIYA's SHA-1 from the test-run costs (over XDP_DROP; per block = (1280 B − 64 B) / the blocks between):\n";
        if let Some(x) = cost_over_drop(costs, cost::DECAP_6IN4) {
            let _ = writeln!(
                s,
                "  6in4 decap → XDP_TX, one tunnel (no hash)          {x:>+9.1} ns"
            );
        }
        for (what, (small, big, per)) in [("decap", d), ("encap", e)] {
            let _ = writeln!(
                s,
                "  AYIYA {what}: 64 B inner ({} blocks) {small:>+9.1} ns, 1280 B inner ({} blocks) {big:>+9.1} ns, per 64-byte block {per:.1} ns",
                blocks.0, blocks.1
            );
        }
    }
    s
}

fn median(v: Vec<f64>) -> Option<f64> {
    spread(v).map(|s| s.median)
}

/// The NAT64 section: each path's ratio to the same round's XDP_TX
/// baseline beside its goal, its ratio to Tayga's same translation in the
/// same round, Tayga's own ratio to XDP_TX, and the translators' costs.
pub fn nat64_section(ms: &[Measurement], costs: &[Cost]) -> String {
    let mut s = String::new();
    if NAT64_SUBJECTS.iter().any(|(p, ..)| measured(ms, *p)) {
        s += "\nNAT64 (stateless, RFC 7915), as ratios to the same round's XDP_TX baseline (plain IPv6 of the same size;\n";
        s += "tunnel user → IPv4: the 62 B one) and to Tayga's same translation in the same round (valid pairs, medians):\n";
        let _ = writeln!(
            s,
            "  {:<36} {:<24} {:<24} {:<20} {:<24} Tayga vs XDP_TX",
            "path", "vs XDP_TX, valid pairs", "all pairs", "goal", "vs Tayga, valid pairs"
        );
        for (subj, base, tayga, goal, _) in NAT64_SUBJECTS {
            if !measured(ms, subj) {
                continue;
            }
            let valid = spread(ratios(ms, subj, base, true));
            let verdict = match &valid {
                Some(v) => met(v.median >= goal),
                None => "no valid pair",
            };
            let (vs_tayga, tayga_ratio) = match tayga.filter(|t| measured(ms, *t)) {
                Some(t) => (
                    fmt_ratio(&spread(ratios(ms, subj, t, true))),
                    fmt_ratio(&spread(ratios(ms, t, base, true))),
                ),
                None => ("-".into(), "-".into()),
            };
            let _ = writeln!(
                s,
                "  {:<36} {:<24} {:<24} {:<20} {:<24} {}",
                subj.name(),
                fmt_ratio(&valid),
                fmt_ratio(&spread(ratios(ms, subj, base, false))),
                format!("≥ {goal}: {verdict}"),
                vs_tayga,
                tayga_ratio
            );
        }
        // What the goal means in Tayga terms on this bed, this run.
        let t64 = median(ratios(
            ms,
            Path::TaygaTo4(Inner::B64),
            Path::TxSized(Inner::B64),
            true,
        ));
        if let Some(t) = t64.filter(|t| *t > 0.0) {
            let _ = writeln!(
                s,
                "  Tayga 6→4 at 64 B ran at {t:.3}× XDP_TX here: the goal {NAT64_GOAL}× XDP_TX is {:.1}× Tayga in this run (the issue: about 17×).",
                NAT64_GOAL / t
            );
        }
        s += "  6→4: IPv6 2001:db8:eeee::2 (mapped to 198.18.0.2) → 2001:db8:64::198.19.0.2 (pool6 /96), out as IPv4 to 198.19.0.2,\n";
        s += "  back out bdut0 (XDP_TX); 4→6 the reverse, the IPv4 packet 20 B shorter. Tunnel user → IPv4: 6in4 from tunnel A's\n";
        s += "  user (mapped to 198.18.0.3) to 2001:db8:64::198.19.0.2. Tayga 0.9.2: no XDP on bdut0, the kernel routes pool6 and\n";
        s += "  198.18.0.0/16 into its tun device, Tayga (pinned to the dut's CPU; its time counts as 'dut napi') translates and\n";
        s += "  the kernel forwards the result out bdut0; the same generator, receiver and validity rules.\n";
    }
    let rows: Vec<(String, f64)> = Inner::ALL
        .iter()
        .flat_map(|i| [cost::nat64_name(true, *i), cost::nat64_name(false, *i)])
        .chain([cost::NAT64_FROM_TUNNEL.to_string()])
        .filter_map(|n| cost_over_drop(costs, &n).map(|c| (n, c)))
        .collect();
    if !rows.is_empty() {
        s += "\nNAT64 program cost over XDP_DROP (test run, one packet per call):\n";
        if let Some(x) = cost_over_drop(costs, cost::DECAP_6IN4) {
            let _ = writeln!(s, "  {:<44} {x:>+9.1} ns", cost::DECAP_6IN4);
        }
        for (n, c) in rows {
            let _ = writeln!(s, "  {n:<44} {c:>+9.1} ns");
        }
    }
    s
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn err_line(s: &mut String, what: &str, e: &anyhow::Error) {
    let _ = writeln!(s, "  {what}: failed to measure: {e:#}");
}

fn memory_lines(s: &mut String, m: &Memory) {
    let _ = writeln!(
        s,
        "  map memory per tunnel, {}: {:.0} B per slot ({} slots), {:.0} B per loaded tunnel ({} loaded)   goal ≤ {GOAL_BYTES:.0} B per slot: {}",
        m.what,
        m.per_slot(),
        m.slots,
        m.per_loaded(),
        m.loaded,
        met(m.per_slot() <= GOAL_BYTES)
    );
    // Other maps charged nothing (empty, not preallocated) are left out.
    let list = |v: &[super::memory::MapMemory], all: bool| -> String {
        v.iter()
            .filter(|x| all || x.bytes > 0)
            .map(|x| format!("{} {} B ({} entries)", x.name, x.bytes, x.max_entries))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        s,
        "      memlock: {}; sum {} B",
        list(&m.per_tunnel, true),
        m.per_tunnel_bytes()
    );
    let _ = writeln!(
        s,
        "      other maps, not per tunnel: {}; sum {} B (all maps together: {:.0} B per slot)",
        list(&m.others, false),
        m.other_bytes(),
        (m.per_tunnel_bytes() + m.other_bytes()) as f64 / f64::from(m.slots.max(1))
    );
}

/// subject/baseline per round where both exist (`valid_only`: both
/// saturated the dut).
fn table_ratios(t: &TableResults, subject: Variant, valid_only: bool) -> Vec<f64> {
    let base = subject.baseline().expect("a subject");
    let rounds = t
        .measurements
        .iter()
        .map(|m| m.m.round)
        .max()
        .map_or(0, |r| r + 1);
    (0..rounds)
        .filter_map(|r| {
            let find = |v: Variant| {
                t.measurements
                    .iter()
                    .find(|m| m.m.round == r && m.variant == v)
            };
            let (a, b) = (find(subject)?, find(base)?);
            if valid_only && !(a.m.saturated() && b.m.saturated()) {
                return None;
            }
            Some(a.m.pps / b.m.pps)
        })
        .collect()
}

fn fmt_spread(v: Vec<f64>) -> String {
    match spread(v) {
        Some(s) => format!("{:.2} [{:.2}–{:.2}] n={}", s.median, s.min, s.max, s.n),
        None => "none".into(),
    }
}

fn table_lines(s: &mut String, t: &TableResults) {
    let sp = &t.spread;
    for v in [Variant::BigOne, Variant::BigMany] {
        let valid = table_ratios(t, v, true);
        let med = spread(valid.clone()).map(|x| x.median);
        let goal = table_goal(v);
        let _ = writeln!(
            s,
            "  decap pps, {} / {}: valid pairs {}, all pairs {}   goal ≥ {goal}: {}",
            bigtable::label(v, sp),
            bigtable::label(v.baseline().expect("subject"), sp),
            fmt_spread(valid),
            fmt_spread(table_ratios(t, v, false)),
            match med {
                Some(m) => met(m >= goal),
                None => "no valid pair",
            }
        );
    }
    let _ = writeln!(
        s,
        "      (big table loaded in {:.1} s by raw map writes; both datapaths' maps sized for {} tunnels)",
        t.load_seconds, sp.tunnels
    );
}

/// The "Scale" section of the summary: each figure with its goal.
pub fn scale_section(r: &ScaleResults) -> String {
    let mut s = String::new();
    let o = &r.options;
    s += "\nScale (each figure with its goal):\n";
    match &r.daemon {
        Err(e) => err_line(&mut s, "daemon bed", e),
        Ok(d) => {
            match &d.apply {
                Ok(a) => {
                    let _ = writeln!(
                            s,
                            "  add {} tunnels via `tunnelctl apply -f` ({:.1} MB JSON) to a daemon with {} slots: {:.2} s = {:.0} tunnels/s   goal < {GOAL_APPLY_S:.0} s: {}",
                            a.tunnels,
                            a.file_bytes as f64 / 1e6,
                            DEFAULT_MAX_TUNNELS,
                            a.elapsed.as_secs_f64(),
                            a.per_second(),
                            met(a.elapsed.as_secs_f64() < GOAL_APPLY_S)
                        );
                }
                Err(e) => err_line(&mut s, "apply", e),
            }
            match &d.memory {
                Ok(m) => memory_lines(&mut s, m),
                Err(e) => err_line(&mut s, "daemon map memory", e),
            }
            match &d.restart {
                Ok(r) => {
                    let _ = writeln!(
                            s,
                            "  packets lost across a daemon restart (SIGTERM, start; {} tunnels loaded; {:.0} pps 6in4 for {:.1} s): {} of {} sent   goal 0: {}",
                            r.tunnels,
                            restart::RATE,
                            r.stream.as_secs_f64(),
                            r.lost,
                            r.sent,
                            met(r.lost == 0)
                        );
                    let _ = writeln!(
                            s,
                            "      received {}, decapsulated by the PoP {}, refused by the sender's kernel {}, longest loss run {} packets; \
                             restart at {:.2} s: old daemon exited in {:.2} s, new one answered in {:.2} s (pins reused: {})",
                            r.received,
                            r.decapsulated,
                            r.send_errors,
                            r.longest_gap,
                            r.restart_at.as_secs_f64(),
                            r.stop.as_secs_f64(),
                            r.start.as_secs_f64(),
                            r.reused_pins
                        );
                }
                Err(e) => err_line(&mut s, "restart under load", e),
            }
        }
    }
    match &r.table {
        Ok(t) => {
            table_lines(&mut s, t);
            memory_lines(&mut s, &t.memory);
        }
        Err(e) => err_line(
            &mut s,
            &format!("decap with {} tunnels", o.table_tunnels),
            e,
        ),
    }
    if let Ok(t) = &r.table {
        s += "  decap bed validity per stream (median; saturated = dut ≤ 5 % idle, NAPI ≥ 95 % on CPU, ring full):\n";
        for v in Variant::ROUND {
            let ms: Vec<_> = t.measurements.iter().filter(|m| m.variant == v).collect();
            let med = |f: &dyn Fn(&Measurement) -> f64| {
                spread(ms.iter().map(|m| f(&m.m)).collect()).map_or(0.0, |x| x.median)
            };
            let sat = ms.iter().filter(|m| m.m.saturated()).count();
            let diff: i64 = ms
                .iter()
                .map(|m| m.m.success as i64 - m.m.delivered as i64)
                .sum();
            let drops: u64 = ms.iter().map(|m| m.m.xdp_drops + m.m.xdp_passes).sum();
            let _ = writeln!(
                    s,
                    "      {:<44} {:>7.3} Mpps, idle {:>4.1}%, saturated {}/{}, decap − delivered {}, drops+passes {}",
                    bigtable::label(v, &t.spread),
                    med(&|m| m.pps) / 1e6,
                    100.0 * med(&|m| m.dut_idle),
                    sat,
                    ms.len(),
                    diff,
                    drops
                );
        }
    }
    s
}

/// Every measurement of the scale decap pairs (for the file).
pub fn scale_raw(r: &ScaleResults) -> String {
    let mut s = String::new();
    if let Ok(t) = &r.table {
        s += "\nScale, raw decap figures (Mpps; compare only within a round):\n";
        for m in &t.measurements {
            let _ = writeln!(
                    s,
                    "{:>5} {:<44} {:>9.3} offered {:>7.3} refused {:>7.3} idle {:>5.1}% napi {:>5.1}% delivered {:>10} decap {:>10}",
                    m.m.round + 1,
                    bigtable::label(m.variant, &t.spread),
                    m.m.pps / 1e6,
                    m.m.offered_pps / 1e6,
                    m.m.ring_full_pps / 1e6,
                    100.0 * m.m.dut_idle,
                    100.0 * m.m.dut_busy,
                    m.m.delivered,
                    m.m.success
                );
        }
    }
    s
}

fn table_goal(v: Variant) -> f64 {
    match v {
        Variant::BigMany => GOAL_RATIO_SPREAD,
        _ => GOAL_RATIO,
    }
}

/// Rate goals of Core v2, as ratios to the same round's baseline.
const RATE_GOALS: &[(Path, Path, &str, f64)] = &[
    (Path::Decap, Path::TxBase, "decap_vs_xdp_tx", 0.9),
    (Path::Encap, Path::TxBase, "encap_vs_xdp_tx", 0.9),
    (Path::T2t, Path::TxBase, "tunnel_to_tunnel_vs_xdp_tx", 0.8),
    (
        Path::DecapRedirect,
        Path::RedirectBase,
        "decap_redirect_vs_redirect",
        f64::NAN,
    ),
    (
        Path::Decap,
        Path::Kernel,
        "decap_vs_kernel_forwarding",
        f64::NAN,
    ),
    (
        Path::Encap,
        Path::Kernel,
        "encap_vs_kernel_forwarding",
        f64::NAN,
    ),
    (
        Path::T2t,
        Path::Kernel,
        "tunnel_to_tunnel_vs_kernel_forwarding",
        f64::NAN,
    ),
];

/// One figure for `--json`: name, value, goal (a comparison, or none),
/// whether it is met (null when there is no goal or no value).
fn figure(name: &str, value: Option<f64>, goal: Option<(&str, f64)>) -> serde_json::Value {
    let met = match (value, goal) {
        (Some(v), Some((">=", g))) => Some(v >= g),
        (Some(v), Some(("<=", g))) => Some(v <= g),
        (Some(v), Some(("<", g))) => Some(v < g),
        (Some(v), Some(("==", g))) => Some(v == g),
        _ => None,
    };
    serde_json::json!({
        "name": name,
        "value": value,
        "goal": goal.map(|(op, g)| format!("{op} {g}")),
        "met": met,
    })
}

/// Every figure of the run with its goal, one object each.
pub fn json_figures(
    ms: &[Measurement],
    costs: &[Cost],
    scale: Option<&ScaleResults>,
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for (subj, base, name, goal) in RATE_GOALS {
        let v = spread(ratios(ms, *subj, *base, true)).map(|s| s.median);
        let g = (!goal.is_nan()).then_some((">=", *goal));
        if measured(ms, *subj) {
            out.push(figure(&format!("rate.{name}"), v, g));
        }
    }
    for (subj, base, name) in AYIYA_SUBJECTS {
        if !measured(ms, subj) {
            continue;
        }
        let v = spread(ratios(ms, subj, base, true)).map(|s| s.median);
        let goal = ayiya_goal(inner_of(subj).expect("sized"));
        let mut f = figure(&format!("rate.{name}"), v, Some((">=", goal)));
        // Beside the figure (which counts valid pairs only): every round's.
        f["all_pairs"] = spread(ratios(ms, subj, base, false))
            .map(|s| s.median)
            .into();
        if let Some((kpps, ratio)) = sixxsd_anchor(subj) {
            f["reference"] = serde_json::json!({
                "what": "sixxsd 4.0 on one core, measured on this machine kind outside this bench (not in this run)",
                "kpps": kpps,
                "ratio_to_xdp_tx": ratio,
            });
        }
        out.push(f);
    }
    for (subj, base, tayga, goal, name) in NAT64_SUBJECTS {
        if !measured(ms, subj) {
            continue;
        }
        let v = median(ratios(ms, subj, base, true));
        let mut f = figure(&format!("rate.{name}_vs_xdp_tx"), v, Some((">=", goal)));
        f["all_pairs"] = median(ratios(ms, subj, base, false)).into();
        out.push(f);
        if let Some(t) = tayga.filter(|t| measured(ms, *t)) {
            let mut f = figure(
                &format!("rate.{name}_vs_tayga"),
                median(ratios(ms, subj, t, true)),
                None,
            );
            f["all_pairs"] = median(ratios(ms, subj, t, false)).into();
            f["note"] =
                "the goal is the XDP_TX one (≥ 0.9, about 17× Tayga on this machine kind)".into();
            out.push(f);
            let tname = name.replace("nat64", "tayga");
            let mut f = figure(
                &format!("rate.{tname}_vs_xdp_tx"),
                median(ratios(ms, t, base, true)),
                None,
            );
            f["all_pairs"] = median(ratios(ms, t, base, false)).into();
            out.push(f);
        }
    }
    for (decap, what) in [(true, "decap"), (false, "encap")] {
        if let Some((_, _, per)) = sha1_costs(costs, decap) {
            out.push(figure(
                &format!("cost_ns_per_sha1_block.ayiya_{what}"),
                Some(per),
                None,
            ));
        }
    }
    let drop = costs
        .iter()
        .find(|c| c.name.starts_with("XDP_DROP"))
        .map(|c| c.ns);
    for c in costs {
        let over = drop.map(|d| c.ns - d);
        out.push(figure(
            &format!("cost_ns_over_xdp_drop.{}", c.name),
            over,
            None,
        ));
    }
    let Some(r) = scale else { return out };
    if let Ok(d) = &r.daemon {
        if let Ok(a) = &d.apply {
            out.push(figure(
                &format!("scale.apply_seconds.{}_tunnels", a.tunnels),
                Some(a.elapsed.as_secs_f64()),
                Some(("<", GOAL_APPLY_S)),
            ));
        }
        if let Ok(m) = &d.memory {
            out.push(figure(
                "scale.map_bytes_per_slot.daemon_defaults",
                Some(m.per_slot()),
                Some(("<=", GOAL_BYTES)),
            ));
        }
        if let Ok(rs) = &d.restart {
            out.push(figure(
                "scale.packets_lost_across_restart",
                Some(rs.lost as f64),
                Some(("==", 0.0)),
            ));
        }
    }
    if let Ok(t) = &r.table {
        out.push(figure(
            &format!("scale.map_bytes_per_slot.{}_tunnels", t.spread.tunnels),
            Some(t.memory.per_slot()),
            Some(("<=", GOAL_BYTES)),
        ));
        for (v, name) in [
            (Variant::BigOne, "one_flow"),
            (Variant::BigMany, "spread_flows"),
        ] {
            let med = spread(table_ratios(t, v, true)).map(|x| x.median);
            out.push(figure(
                &format!("scale.decap_big_over_small.{name}"),
                med,
                Some((">=", table_goal(v))),
            ));
        }
    }
    out
}
