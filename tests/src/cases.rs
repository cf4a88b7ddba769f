//! The L1 case tables' shape, one for `tunnel_xdp` and `tunnel_tc`: a
//! `Case` is a packet (the program it runs through, the input frame, the
//! interface, a set-up of the bed) and what must come out: the verdict, the
//! exact bytes of whatever goes on (to the kernel, back out, redirected),
//! the drop and event counters and per-tunnel counters.
//!
//! ```ignore
//! Case::xdp("valid decap", from_client(&good))
//!     .on(x0)
//!     .redirect(forwarded_upstream(&good))
//!     .events(&[(Event::Decap, 1)])
//!     .tunnel(TUNNEL_A, 1, 0)
//! ```
//!
//! A verdict that lets the packet go on takes its output, so a case cannot
//! leave the bytes unchecked: `tx`, `redirect` and `pass` take the expected
//! frame, `pass_unchanged` says the input goes on as it came. `check` runs a
//! whole table and panics once at the end with every failing case and what
//! differed in each.

use std::panic::{catch_unwind, AssertUnwindSafe};

use tunnel_common::stats::{Drop, Event};
use tunnelctl::datapath::Counters;

use crate::prog::{
    action_name, tc_action_name, ProgBed, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_ABORTED,
    XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX,
};

/// The program a case runs through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prog {
    /// `tunnel_xdp` on an uplink (with the programs behind its tail calls).
    Xdp,
    /// `tunnel_tc` on the tunnel device's egress.
    Tc,
}

impl Prog {
    pub fn name(self) -> &'static str {
        match self {
            Prog::Xdp => "tunnel_xdp",
            Prog::Tc => "tunnel_tc",
        }
    }
}

/// What happens to the packet, with the frame that goes on when one does.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// XDP_DROP, TC_ACT_SHOT: nothing leaves.
    Drop,
    /// XDP_PASS, TC_ACT_OK: on to the kernel.
    Pass(Output),
    /// XDP_TX: back out of the interface it came in on (XDP only).
    Tx(Vec<u8>),
    /// XDP_REDIRECT, TC_ACT_REDIRECT: out of another interface.
    Redirect(Vec<u8>),
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Drop => "a drop",
            Verdict::Pass(_) => "a pass",
            Verdict::Tx(_) => "a TX",
            Verdict::Redirect(_) => "a redirect",
        }
    }
}

/// The frame a passed packet goes on with.
#[derive(Clone, Debug)]
pub enum Output {
    /// The input, byte for byte.
    Unchanged,
    Bytes(Vec<u8>),
}

type Setup = Box<dyn Fn(&mut ProgBed)>;

/// A case before its verdict: program, input, interface, set-up.
pub struct Packet {
    name: String,
    prog: Prog,
    input: Vec<u8>,
    ifindex: Option<fn(&ProgBed) -> u32>,
    gso_size: u32,
    setup: Setup,
}

/// One row of a table.
pub struct Case {
    packet: Packet,
    verdict: Verdict,
    drops: Vec<(Drop, u64)>,
    events: Vec<(Event, u64)>,
    /// (tunnel, rx packets, tx packets)
    tunnels: Vec<(u32, u64, u64)>,
    /// The tunnel the case's one drop must be charged to (its error count
    /// 1, its last error the drop's reason).
    charged: Option<u32>,
}

impl Case {
    /// `input` received by `tunnel_xdp`; say on which uplink with `on`.
    pub fn xdp(name: impl Into<String>, input: Vec<u8>) -> Packet {
        Packet::new(name, Prog::Xdp, input)
    }

    /// `input` leaving through the tunnel device, run by `tunnel_tc`. The
    /// device is x1 unless `on` says otherwise: any device of the bed's
    /// namespace does for the FIB lookup (forwarding is on everywhere).
    pub fn tc(name: impl Into<String>, input: Vec<u8>) -> Packet {
        Packet::new(name, Prog::Tc, input)
    }

    pub fn name(&self) -> &str {
        &self.packet.name
    }

    /// Events counted as given (others are not checked).
    pub fn events(mut self, events: &[(Event, u64)]) -> Self {
        self.events.extend_from_slice(events);
        self
    }

    /// Runs on the bed after its reset, before the packet (as
    /// `Packet::setup`, for helpers that return a whole case).
    pub fn setup(mut self, f: impl Fn(&mut ProgBed) + 'static) -> Self {
        self.packet.setup = Box::new(f);
        self
    }

    /// Tunnel `id`'s packet counters after the run.
    pub fn tunnel(mut self, id: u32, rx: u64, tx: u64) -> Self {
        self.tunnels.push((id, rx, tx));
        self
    }

    /// The drop (`dropped`) is charged to tunnel `id` as well: one error,
    /// with the drop's reason as its last.
    pub fn charged_to(mut self, id: u32) -> Self {
        self.charged = Some(id);
        self
    }
}

impl Packet {
    fn new(name: impl Into<String>, prog: Prog, input: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            prog,
            input,
            ifindex: None,
            gso_size: 0,
            setup: Box::new(|_| {}),
        }
    }

    /// The interface: where an XDP case arrives, the device a TC case
    /// leaves by (`x0`, `x1`).
    pub fn on(mut self, ifindex: fn(&ProgBed) -> u32) -> Self {
        self.ifindex = Some(ifindex);
        self
    }

    /// Runs on the bed after its reset, before the packet.
    pub fn setup(mut self, f: impl Fn(&mut ProgBed) + 'static) -> Self {
        self.setup = Box::new(f);
        self
    }

    /// A GSO packet of segments of `size` bytes (TC).
    pub fn gso(mut self, size: u32) -> Self {
        self.gso_size = size;
        self
    }

    /// Dropped, `reason` counted once, no other drop.
    pub fn dropped(self, reason: Drop) -> Case {
        let mut c = self.verdict(Verdict::Drop);
        c.drops.push((reason, 1));
        c
    }

    /// Consumed without a loss: XDP_DROP, and no drop counted (an AYIYA
    /// beat, whose work is done once it is authenticated).
    pub fn consumed(self) -> Case {
        self.verdict(Verdict::Drop)
    }

    /// Passed on untouched: the output is the input.
    pub fn pass_unchanged(self) -> Case {
        self.verdict(Verdict::Pass(Output::Unchanged))
    }

    /// Passed on as `output`.
    pub fn pass(self, output: Vec<u8>) -> Case {
        self.verdict(Verdict::Pass(Output::Bytes(output)))
    }

    /// Sent back out of its interface as `output`.
    pub fn tx(self, output: Vec<u8>) -> Case {
        self.verdict(Verdict::Tx(output))
    }

    /// Redirected as `output`.
    pub fn redirect(self, output: Vec<u8>) -> Case {
        self.verdict(Verdict::Redirect(output))
    }

    fn verdict(self, verdict: Verdict) -> Case {
        Case {
            packet: self,
            verdict,
            drops: Vec::new(),
            events: Vec::new(),
            tunnels: Vec::new(),
            charged: None,
        }
    }
}

pub fn x0(b: &ProgBed) -> u32 {
    b.x0
}
pub fn x1(b: &ProgBed) -> u32 {
    b.x1
}

/// Runs every case of a table, each on the freshly reset bed; panics once
/// at the end, listing every failing case with what differed.
pub fn check(bed: &mut ProgBed, cases: Vec<Case>) {
    let total = cases.len();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let diffs = run_case(bed, c);
            (!diffs.is_empty()).then(|| {
                let lines: Vec<String> = diffs.iter().map(|d| indent(d, "    ")).collect();
                format!("case \"{}\":\n{}", c.name(), lines.join("\n"))
            })
        })
        .collect();
    if !failures.is_empty() {
        panic!(
            "{} of {total} cases failed:\n\n{}\n",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

/// Runs one case; what differed from its expectation, nothing if it passed.
fn run_case(bed: &mut ProgBed, c: &Case) -> Vec<String> {
    let p = &c.packet;
    if let Err(e) = bed.reset() {
        return vec![format!("resetting the bed: {e:#}")];
    }
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (p.setup)(bed))) {
        return vec![format!("set-up panicked: {}", panic_message(&panic))];
    }
    let ifindex = match (p.ifindex, p.prog) {
        (Some(f), _) => f(bed),
        (None, Prog::Tc) => bed.x1,
        (None, Prog::Xdp) => return vec!["no ingress interface: say .on(x0) or .on(x1)".into()],
    };
    let run = match p.prog {
        Prog::Xdp => bed.run(&p.input, ifindex),
        Prog::Tc => bed.run_tc(&p.input, ifindex, p.gso_size),
    };
    let run = match run {
        Ok(r) => r,
        Err(e) => return vec![format!("the test run failed: {e:#}")],
    };
    let counters = match bed.dp.counters() {
        Ok(c) => c,
        Err(e) => return vec![format!("reading the counters: {e:#}")],
    };
    let mut diffs = Vec::new();

    let (want_action, want_output) = expected(p, &c.verdict);
    let name = |a: u32| match p.prog {
        Prog::Xdp => action_name(a),
        Prog::Tc => tc_action_name(a),
    };
    match want_action {
        Some(a) if a == run.action => {}
        Some(a) => diffs.push(format!(
            "verdict {}, expected {} (drops {}; events {})",
            name(run.action),
            name(a),
            nonzero(&counters.drops, |d| d.name()),
            nonzero(&counters.events, |e| e.name()),
        )),
        None => diffs.push(format!(
            "expected {}, which {} cannot return (it returned {})",
            c.verdict.name(),
            p.prog.name(),
            name(run.action)
        )),
    }
    // The bytes of anything that went on, whether the verdict was right or
    // not (what went out instead helps).
    let went_on = match p.prog {
        Prog::Xdp => !matches!(run.action, XDP_ABORTED | XDP_DROP),
        Prog::Tc => run.action != TC_ACT_SHOT,
    };
    match want_output {
        Some(want) if went_on && run.output != want => {
            diffs.push(format!("output bytes:\n{}", hex_diff(want, &run.output)));
        }
        None if went_on => diffs.push(format!("output:\n{}", hex(&run.output))),
        _ => {}
    }
    diffs.extend(counter_diffs(&counters, &c.drops, &c.events));
    for &(id, rx, tx) in &c.tunnels {
        match bed.dp.tunnel_counters(id) {
            Ok(t) if (t.rx_packets, t.tx_packets) == (rx, tx) => {}
            Ok(t) => diffs.push(format!(
                "tunnel {id}: rx {} tx {} packets, expected rx {rx} tx {tx}",
                t.rx_packets, t.tx_packets
            )),
            Err(e) => diffs.push(format!("tunnel {id}: reading its counters: {e:#}")),
        }
    }
    if let Some(id) = c.charged {
        let want = c.drops.first().map(|(d, _)| *d);
        match bed.dp.tunnel_errors(id) {
            Ok(t) if t.errors == 1 && t.last_error() == want => {}
            Ok(t) => diffs.push(format!(
                "tunnel {id}: {} errors, last {:?}; expected 1, {want:?}",
                t.errors,
                t.last_error()
            )),
            Err(e) => diffs.push(format!("tunnel {id}: reading its counters: {e:#}")),
        }
    }
    diffs
}

fn drop_action(prog: Prog) -> u32 {
    match prog {
        Prog::Xdp => XDP_DROP,
        Prog::Tc => TC_ACT_SHOT,
    }
}

/// The program's return value for `v` (none: TC has no TX) and the frame
/// that must go on.
fn expected<'a>(p: &'a Packet, v: &'a Verdict) -> (Option<u32>, Option<&'a [u8]>) {
    let action = match (p.prog, v) {
        (prog, Verdict::Drop) => Some(drop_action(prog)),
        (Prog::Xdp, Verdict::Pass(_)) => Some(XDP_PASS),
        (Prog::Xdp, Verdict::Tx(_)) => Some(XDP_TX),
        (Prog::Xdp, Verdict::Redirect(_)) => Some(XDP_REDIRECT),
        (Prog::Tc, Verdict::Pass(_)) => Some(TC_ACT_OK),
        (Prog::Tc, Verdict::Tx(_)) => None,
        (Prog::Tc, Verdict::Redirect(_)) => Some(TC_ACT_REDIRECT),
    };
    let output = match v {
        Verdict::Drop => None,
        Verdict::Pass(Output::Unchanged) => Some(p.input.as_slice()),
        Verdict::Pass(Output::Bytes(b)) | Verdict::Tx(b) | Verdict::Redirect(b) => {
            Some(b.as_slice())
        }
    };
    (action, output)
}

/// Every drop reason in `drops` counted as given and no other drop at
/// all; the events in `events` counted as given.
fn counter_diffs(
    counters: &Counters,
    drops: &[(Drop, u64)],
    events: &[(Event, u64)],
) -> Vec<String> {
    let mut diffs = Vec::new();
    for (d, n) in drops {
        let got = counters.drop(*d);
        if got != *n {
            diffs.push(format!("drop {}: {got}, expected {n}", d.name()));
        }
    }
    let unexpected: Vec<(Drop, u64)> = counters
        .drops
        .iter()
        .filter(|(d, n)| *n > 0 && !drops.iter().any(|(e, _)| e == d))
        .copied()
        .collect();
    if !unexpected.is_empty() {
        diffs.push(format!(
            "drops counted that the case does not expect: {}",
            nonzero(&unexpected, |d| d.name())
        ));
    }
    for (e, n) in events {
        let got = counters.event(*e);
        if got != *n {
            diffs.push(format!("event {}: {got}, expected {n}", e.name()));
        }
    }
    diffs
}

/// `name=count` of the counters that are not zero.
fn nonzero<K: Copy>(counters: &[(K, u64)], name: impl Fn(K) -> &'static str) -> String {
    let v: Vec<String> = counters
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{}={n}", name(*k)))
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(" ")
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

fn indent(s: &str, by: &str) -> String {
    s.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bytes as hex, 16 a line.
pub fn hex(b: &[u8]) -> String {
    b.chunks(16).map(hex_row).collect::<Vec<_>>().join("\n")
}

fn hex_row(row: &[u8]) -> String {
    row.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The 16-byte rows where `want` and `got` differ: offset, expected (`-`),
/// actual (`+`), and `^^` under each differing byte; at most 24 rows.
pub fn hex_diff(want: &[u8], got: &[u8]) -> String {
    const MAX_ROWS: usize = 24;
    let first = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let mut out = vec![format!(
        "expected {} bytes, got {}; first difference at byte {first} (0x{first:x})",
        want.len(),
        got.len()
    )];
    let rows = want.len().max(got.len()).div_ceil(16);
    let mut shown = 0;
    let mut differing = 0;
    for r in 0..rows {
        let w = want.get(r * 16..want.len().min(r * 16 + 16)).unwrap_or(&[]);
        let g = got.get(r * 16..got.len().min(r * 16 + 16)).unwrap_or(&[]);
        if w == g {
            continue;
        }
        differing += 1;
        if shown == MAX_ROWS {
            continue;
        }
        shown += 1;
        let marks: String = (0..w.len().max(g.len()))
            .map(|i| if w.get(i) == g.get(i) { "   " } else { "^^ " })
            .collect();
        out.push(format!("{:04x} - {}", r * 16, hex_row(w)));
        out.push(format!("{:04x} + {}", r * 16, hex_row(g)));
        out.push(format!("       {}", marks.trim_end()));
    }
    if differing > shown {
        out.push(format!("... {} more differing rows", differing - shown));
    }
    out.join("\n")
}
