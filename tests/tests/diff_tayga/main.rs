//! Differential test (issue #11): Tayga (the Debian package, 0.9.2) and
//! this translator fed the same IP packets; their outputs compared field
//! by field. Identical wherever RFC 7915 fixes them; every deliberate
//! difference is listed in the case table (`cases`) with the fields it
//! may touch and why, and the test fails on any other. Needs root and the
//! `tayga` binary (scripts/setup.sh installs it); host only (the VM image
//! has no Tayga).
//!
//! How each side is fed (the simplest way found that involves neither
//! side's environment in the packets):
//! - Tayga runs (`tayga --nodetach`) in a private network namespace whose
//!   only device is its tun device, up, with IPv6 disabled and IPv4
//!   forwarding off: no addresses, no routes, nothing of the kernel's own
//!   (router solicitations, MLD, ICMP errors) ever reaches the device. A
//!   packet socket (`AF_PACKET`) bound to the device hands each input to
//!   Tayga exactly as given (what the socket sends, the tun driver queues
//!   for Tayga to read) and receives what Tayga writes back
//!   (`tunnel_tests::tayga::TunTap`).
//! - After each input the test sends a sentinel, an echo request to
//!   Tayga's own IPv4 address, which Tayga always answers. Tayga is one
//!   thread reading its device in order, so everything it wrote before
//!   the sentinel's reply is the case's output, and "nothing" is known
//!   without waiting blindly; the wait for the reply is bounded (5 s).
//! - Ours: the same bytes in an Ethernet frame through `tunnel_xdp` (and
//!   the NAT64 programs behind its tail calls) with BPF_PROG_TEST_RUN on
//!   the L1 bed (`tunnel_tests::prog::ProgBed`); what it sends
//!   (XDP_TX, XDP_REDIRECT, or a changed XDP_PASS) minus Ethernet is the
//!   output. Both translators get the same pool6, the same mapping (a
//!   Tayga `map` line, an EAM of /128 ↔ /32) and 192.0.2.1 as their own
//!   IPv4 address (Tayga's `ipv4-addr`, ours' RFC 6791 source).
//!
//! Every checksum of ours must hold, whatever the case allows. Each group
//! (one configuration) gets a Tayga of its own, so state Tayga keeps (see
//! "path MTU below 1280") stays within its group; every group runs, and
//! the test fails at the end with every case that differs beyond its
//! table row. `cargo test -p tunnel-tests --test diff_tayga --
//! --nocapture` prints a line per case.

mod cases;
mod fields;
mod packets;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Result};
use etherparse::EtherType;
use tunnel_tests::{
    netns::Netns,
    packets::eth,
    prog::*,
    tayga::{self, Tayga, TunTap},
};
use tunnelctl::datapath::{EamEntry, Nat64Settings};

use crate::{
    cases::{Case, Group},
    fields::{dissect, Fields},
    packets::{v4, L4},
};

/// Tayga's tun device, inside its own namespace.
const TAYGA_DEV: &str = "tayga0";
/// How long Tayga may take to answer a sentinel.
const WAIT: Duration = Duration::from_secs(5);
/// The IPv6 host's mapping.
const UP4: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 51, 100, 2);

#[test]
fn tayga_and_translator_agree() {
    let t0 = Instant::now();
    let mut ours = OurSide::new().expect("prog bed");
    let mut failed = Vec::new();
    let mut total = 0;
    for group in cases::groups() {
        failed.extend(run_group(&group, &mut ours));
        total += group.cases.len();
    }
    println!(
        "{total} cases in {:.1} s, {} failed",
        t0.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {total} cases differ beyond what the table allows:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Tayga, its namespace and the socket on its device. Field order: the
/// socket closes, then Tayga stops (taking its device), then the
/// namespace goes, also when a case fails.
struct TaygaSide {
    tap: TunTap,
    tayga: Tayga,
    _ns: Netns,
    sentinels: u16,
}

impl TaygaSide {
    fn start(g: &Group) -> Result<Self> {
        let ns = Netns::new("tayga")?;
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        ns.sysctl("net.ipv4.ip_forward", "0")?;
        let config = tayga::Config {
            tun_device: TAYGA_DEV.into(),
            ipv4_addr: POP_V4,
            ipv6_addr: g.tayga_ipv6_addr,
            prefix: g.pool6,
            maps: vec![(UP4, UPSTREAM)],
        };
        let tayga = Tayga::start(&ns, &config)?;
        ns.ip(&format!("link set {TAYGA_DEV} up"))?;
        let tap = TunTap::open(&ns, TAYGA_DEV)?;
        let mut side = Self {
            tap,
            tayga,
            _ns: ns,
            sentinels: 0,
        };
        // Tayga reads its device before the first case.
        let stray = side.until_sentinel()?;
        ensure!(
            stray.is_empty(),
            "tayga wrote {} packets unasked",
            stray.len()
        );
        Ok(side)
    }

    /// What Tayga writes for `p`.
    fn feed(&mut self, p: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.tap.send(p)?;
        self.until_sentinel()
    }

    /// Sends a sentinel and returns what Tayga wrote before its reply.
    fn until_sentinel(&mut self) -> Result<Vec<Vec<u8>>> {
        self.sentinels += 1;
        let marker = format!("diff_tayga sentinel {}", self.sentinels);
        let ping = v4(
            CLIENT_A,
            POP_V4,
            64,
            0,
            true,
            0,
            L4::EchoRequest(marker.as_bytes()),
        );
        self.tap.send(&ping)?;
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        loop {
            let Some(p) = self.tap.recv(deadline)? else {
                bail!(
                    "no reply to sentinel {} within {WAIT:?} (tayga {}): {}",
                    self.sentinels,
                    if self.tayga.running() {
                        "running"
                    } else {
                        "gone"
                    },
                    self.tayga.log().trim()
                );
            };
            let reply = p.len() == 28 + marker.len()
                && p[0] == 0x45
                && p[9] == 1
                && p[12..16] == POP_V4.octets()
                && p[20] == 0
                && p[28..] == *marker.as_bytes();
            if reply {
                return Ok(out);
            }
            out.push(p);
        }
    }
}

/// The translator on the L1 bed (loaded once: the verifier's work is
/// most of this test's time), configured for each group as Tayga is.
struct OurSide {
    bed: ProgBed,
}

impl OurSide {
    fn new() -> Result<Self> {
        Ok(Self {
            bed: ProgBed::new()?,
        })
    }

    fn configure(&mut self, g: &Group) -> Result<()> {
        let dp = &mut self.bed.dp;
        dp.set_nat64(
            &Nat64Settings {
                pool6: Some(g.pool6),
                flags: g.flags,
                // One address: Tayga has one.
                icmp_source: Some((POP_V4, 32)),
            },
            true,
        )?;
        // The only mapping, the same in every group (added again as is).
        dp.add_eam(&EamEntry::new(UPSTREAM, 128, UP4, 32)?)?;
        Ok(())
    }

    /// What the translator sends for `p`, and its verdict and drops.
    fn feed(&mut self, p: &[u8]) -> Result<(Vec<Vec<u8>>, String)> {
        let (frame, ifindex) = if p[0] >> 4 == 6 {
            (eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, p), self.bed.x1)
        } else {
            (eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, p), self.bed.x0)
        };
        // Each case with a full ICMP budget and its own counters.
        self.bed.dp.reset_rate_limits()?;
        self.bed.dp.reset_counters()?;
        let run = self.bed.run(&frame, ifindex)?;
        let drops: Vec<&str> = self
            .bed
            .counters()
            .drops
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(d, _)| d.name())
            .collect();
        let mut verdict = action_name(run.action).to_string();
        if !drops.is_empty() {
            verdict += &format!(" ({})", drops.join(", "));
        }
        let sent = match run.action {
            XDP_TX | XDP_REDIRECT => vec![run.output[14..].to_vec()],
            XDP_PASS if run.output != frame => vec![run.output[14..].to_vec()],
            XDP_PASS | XDP_DROP => Vec::new(),
            a => bail!("verdict {}", action_name(a)),
        };
        Ok((sent, verdict))
    }
}

/// One field that differs.
struct Difference {
    packet: usize,
    field: String,
    ours: String,
    tayga: String,
}

/// Field-by-field differences of two outputs (packet by packet; only
/// `packets` when their numbers differ).
fn differences(ours: &[Fields], tayga: &[Fields]) -> Vec<Difference> {
    if ours.len() != tayga.len() {
        return vec![Difference {
            packet: 0,
            field: "packets".into(),
            ours: ours.len().to_string(),
            tayga: tayga.len().to_string(),
        }];
    }
    let mut out = Vec::new();
    for (i, (a, b)) in ours.iter().zip(tayga).enumerate() {
        let (ma, mb): (BTreeMap<_, _>, BTreeMap<_, _>) =
            (a.iter().cloned().collect(), b.iter().cloned().collect());
        // In our packet's field order, then Tayga's extra fields.
        let names = a.iter().map(|(n, _)| n).chain(b.iter().map(|(n, _)| n));
        let mut seen = BTreeSet::new();
        for n in names {
            if !seen.insert(n) {
                continue;
            }
            let (x, y) = (ma.get(n), mb.get(n));
            if x != y {
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "—".into());
                out.push(Difference {
                    packet: i,
                    field: n.clone(),
                    ours: show(x),
                    tayga: show(y),
                });
            }
        }
    }
    out
}

/// What one case came to: a line for the report, and its failures.
fn judge(case: &Case, ours: &[Vec<u8>], verdict: &str, tayga: &[Vec<u8>]) -> (String, Vec<String>) {
    let (of, tf): (Vec<Fields>, Vec<Fields>) = (
        ours.iter().map(|p| dissect(p)).collect(),
        tayga.iter().map(|p| dissect(p)).collect(),
    );
    let mut failures = Vec::new();
    for (i, f) in of.iter().enumerate() {
        for (n, v) in f {
            if n.ends_with("checksum_ok") && v == "false" {
                failures.push(format!("ours: {n} does not hold (packet {i})"));
            }
        }
    }
    let allowed = case.allowed.fields;
    let sizes = |o: &[Vec<u8>]| {
        let v: Vec<String> = o.iter().map(|p| p.len().to_string()).collect();
        if v.is_empty() {
            "nothing".to_string()
        } else {
            format!("{} B", v.join("+"))
        }
    };
    let head = format!("ours {} [{verdict}], tayga {}", sizes(ours), sizes(tayga));
    if allowed.contains(&"output") {
        return (
            format!("not compared ({head}): {}", case.allowed.why),
            failures,
        );
    }
    let diffs = differences(&of, &tf);
    let mut shown = Vec::new();
    for d in &diffs {
        let line = format!(
            "{}{}: ours {}, tayga {}",
            if d.packet > 0 {
                format!("#{} ", d.packet)
            } else {
                String::new()
            },
            d.field,
            d.ours,
            d.tayga
        );
        if allowed.contains(&d.field.as_str()) {
            shown.push(line);
        } else {
            failures.push(format!("unlisted difference {line}"));
        }
    }
    let line = if diffs.is_empty() {
        let stale = if allowed.is_empty() {
            String::new()
        } else {
            format!(" (allowed {allowed:?}, none seen)")
        };
        format!("identical ({head}){stale}")
    } else {
        format!("differs as allowed ({head}): {}", shown.join("; "))
    };
    (line, failures)
}

/// Runs a group's cases through both; returns its failures, one line
/// per case.
fn run_group(group: &Group, ours: &mut OurSide) -> Vec<String> {
    let t0 = Instant::now();
    println!("{} ({} cases)", group.name, group.cases.len());
    // Tayga is started afresh for each group (its state stays there), and
    // stopped at the end of this function, failed or not.
    let mut tayga = TaygaSide::start(group).expect("tayga");
    ours.configure(group).expect("configuring the translator");
    let mut failed = Vec::new();
    for case in &group.cases {
        let theirs = tayga
            .feed(&case.input)
            .unwrap_or_else(|e| panic!("{}: tayga: {e:#}", case.name));
        let (mine, verdict) = ours
            .feed(&case.input)
            .unwrap_or_else(|e| panic!("{}: ours: {e:#}", case.name));
        let (line, failures) = judge(case, &mine, &verdict, &theirs);
        println!("  {}: {line}", case.name);
        for f in &failures {
            println!("    FAIL {f}");
        }
        if !failures.is_empty() {
            failed.push(format!("{}: {}", case.name, failures.join("; ")));
        }
    }
    println!(
        "{}: {:.1} s, {} failed",
        group.name,
        t0.elapsed().as_secs_f64(),
        failed.len()
    );
    failed
}

/// Every case has a name of its own, and an allowed difference its
/// reason.
#[test]
fn case_table_is_consistent() {
    let mut seen = BTreeSet::new();
    for g in &cases::groups() {
        for c in &g.cases {
            assert!(seen.insert(c.name.clone()), "two cases named {:?}", c.name);
            assert!(
                c.allowed.fields.is_empty() == c.allowed.why.is_empty(),
                "{}: an allowed difference needs its reason",
                c.name
            );
        }
    }
}
