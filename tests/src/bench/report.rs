//! Ratios (median [min–max] over rounds, each from a subject and its
//! baseline measured in the same round), validity checks, program costs,
//! and the raw figures behind them, as text.

use std::fmt::Write;

use super::{
    cost::Cost,
    measure::{Measurement, Path},
};

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
/// either lost CPU to other tasks or waited for work is no cost ratio).
fn ratios(ms: &[Measurement], subject: Path, baseline: Path, valid_only: bool) -> Vec<f64> {
    let rounds = ms.iter().map(|m| m.round).max().map_or(0, |r| r + 1);
    (0..rounds)
        .filter_map(|r| {
            let find = |p: Path| ms.iter().find(|m| m.round == r && m.path == p);
            let (a, b) = (find(subject)?, find(baseline)?);
            if valid_only && !(a.saturated() && b.saturated()) {
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
];

fn label(p: Path) -> String {
    format!("{} ({})", p.name(), short_egress(p))
}

fn short_egress(p: Path) -> &'static str {
    match p {
        Path::TxBase | Path::Decap | Path::Encap | Path::T2t => "TX",
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
            Path::TxBase => None,
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
