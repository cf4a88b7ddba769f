//! Program cost with BPF_PROG_TEST_RUN in single mode: one call per packet
//! (repeat = 1, so the kernel copies the frame afresh each time; `repeat =
//! N` would let a rewriting program see its own output), the kernel's
//! duration per call, trimmed mean, minus an XDP_DROP program's cost (the
//! call overhead). Cases are interleaved call by call so that drift (CPU
//! frequency, other load) hits all of them alike. Runs in the dut
//! namespace so that bpf_fib_lookup sees the bed's routes, as received on
//! bdut0, on DUT_CPU, with no traffic.
//!
//! AYIYA: decap and encap at 64 and 1280 B inner packets, so the SHA-1's
//! share shows as the difference (`frames::per_block`). Every decap call
//! gets a datagram of its own (the replay guard drops repeats), and the
//! data path's clock reads the signing epoch throughout.

use anyhow::{bail, Result};
use aya::programs::{TestRun, TestRunOptions};
use tunnelctl::datapath::PROGRAM_UPLINK;

use std::os::fd::{AsFd, AsRawFd};

use aya::maps::Map;
use tunnel_common::maps::{TUNNELS, TUN_BY_V4, TUN_STATS};

use super::{
    asm,
    frames::Inner,
    measure::Setup,
    sys,
    topology::{tunnel, Bed, DutProgram, DUT_CPU, GEN_CPU, INTERNET_V6, POP_V4, TUN_A},
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const XDP_REDIRECT: u32 = 4;
/// Share of calls cut at each end before the mean.
const TRIM: f64 = 0.1;

/// What a case runs: a program of the datapath's object, or a reference
/// program assembled for the bench.
pub enum Prog {
    Named(&'static str),
    Raw(std::rc::Rc<std::os::fd::OwnedFd>),
}

pub struct Case {
    pub name: String,
    /// An AYIYA case: the data path's clock must read the epoch.
    ayiya: bool,
    program: Prog,
    /// One frame (same tunnel every call: warm caches) or many (a random
    /// tunnel per call, the lookups' cache misses included).
    frames: Vec<Vec<u8>>,
    expect: u32,
}

#[derive(Clone, Debug)]
pub struct Cost {
    pub name: String,
    /// Trimmed mean, ns per call.
    pub ns: f64,
    pub median: f64,
    /// Calls whose action was not the expected one (must be 0).
    pub wrong: usize,
}

/// xorshift64: a reproducible spread of tunnel ids without a dependency.
fn ids(n: usize, max: u32, mut s: u64) -> Vec<u32> {
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % max as u64) as u32
        })
        .collect()
}

/// What the AYIYA cases are built from.
pub struct AyiyaCases {
    /// The epoch the decap datagrams are signed at.
    pub epoch: u32,
    /// Variants of the decap datagrams, one per call: none the rate
    /// generators send.
    pub variants: std::ops::Range<u32>,
    /// Only the AYIYA cases and what they are read against (`--only
    /// ayiya`).
    pub only: bool,
}

/// The name of the 6in4 decap case the AYIYA costs are printed beside.
pub const DECAP_6IN4: &str = "decap → XDP_TX, one tunnel";

/// The name of an AYIYA case (`decap` true) or encap.
pub fn ayiya_name(decap: bool, inner: Inner) -> String {
    format!(
        "AYIYA {} → TX, {} B inner ({} blocks)",
        if decap { "decap" } else { "encap" },
        inner.bytes(),
        inner.blocks()
    )
}

/// The NAT64 cases: both programs at both sizes, and a tunnel user's
/// packet decapsulated and translated in one pass (all leave by XDP_TX).
fn nat64_cases(bed: &Bed) -> Vec<Case> {
    let mut v = Vec::new();
    for inner in Inner::ALL {
        v.push(one(
            &nat64_name(true, inner),
            PROGRAM_UPLINK,
            bed.frame_nat64_to4(inner),
            XDP_TX,
        ));
        v.push(one(
            &nat64_name(false, inner),
            PROGRAM_UPLINK,
            bed.frame_nat64_to6(inner),
            XDP_TX,
        ));
    }
    v.push(one(
        NAT64_FROM_TUNNEL,
        PROGRAM_UPLINK,
        bed.frame_nat64_from_tunnel(),
        XDP_TX,
    ));
    v
}

/// The name of a NAT64 case (`to4`: 6→4, else 4→6) at an IPv6 size.
pub fn nat64_name(to4: bool, inner: Inner) -> String {
    format!(
        "NAT64 {} → TX, {} B IPv6",
        if to4 { "6→4" } else { "4→6" },
        inner.bytes()
    )
}

pub const NAT64_FROM_TUNNEL: &str = "tunnel user → IPv4 (decap + 6→4) → TX";

/// All cases; `ayiya.only` or `nat64_only`: that part's cases and the
/// baselines alone.
pub fn cases(
    bed: &mut Bed,
    spread: usize,
    ayiya: &AyiyaCases,
    nat64_only: bool,
) -> Result<Vec<Case>> {
    if nat64_only {
        let mut all = baselines(bed);
        all.extend(nat64_cases(bed));
        return Ok(all);
    }
    let mut ayiya_cases = Vec::new();
    for inner in Inner::ALL {
        ayiya_cases.push(Case {
            name: ayiya_name(true, inner),
            ayiya: true,
            program: Prog::Named(PROGRAM_UPLINK),
            frames: ayiya
                .variants
                .clone()
                .map(|v| bed.frame_ayiya_decap(inner, ayiya.epoch, v))
                .collect(),
            expect: XDP_TX,
        });
        ayiya_cases.push(Case {
            name: ayiya_name(false, inner),
            ayiya: true,
            program: Prog::Named(PROGRAM_UPLINK),
            frames: vec![bed.frame_to_ayiya(inner)],
            expect: XDP_TX,
        });
    }
    if ayiya.only {
        let mut all = baselines(bed);
        all.extend(ayiya_cases);
        return Ok(all);
    }
    let n = bed.tunnels;
    let spread_decap = ids(spread, n, 0x9e37_79b9_7f4a_7c15)
        .iter()
        .map(|&i| bed.frame_from_tunnel(i, INTERNET_V6))
        .collect::<Vec<_>>();
    let spread_encap = ids(spread, n, 0x2545_f491_4f6c_dd1d)
        .iter()
        .map(|&i| bed.frame_to_tunnel(i))
        .collect::<Vec<_>>();
    let refs = references(bed, spread)?;
    let mut all = baselines(bed);
    all.extend([
        one(
            "decap → redirect, one tunnel",
            PROGRAM_UPLINK,
            bed.frame_decap_redirect(),
            XDP_REDIRECT,
        ),
        one(
            "encap → XDP_TX, one tunnel",
            PROGRAM_UPLINK,
            bed.frame_to_tunnel(bed.tun_b()),
            XDP_TX,
        ),
        one(
            "tunnel to tunnel → XDP_TX, one pair",
            PROGRAM_UPLINK,
            bed.frame_t2t(bed.tun_b()),
            XDP_TX,
        ),
        // Two partial paths, to see where the time goes: IPv6 for no
        // tunnel (one trie lookup, then XDP_PASS), and 6in4 from an unknown
        // remote (checksum and one hash lookup, then XDP_DROP).
        one(
            "part: IPv6 not for a tunnel → PASS",
            PROGRAM_UPLINK,
            bed.frame_plain(),
            XDP_PASS,
        ),
        one(
            "part: 6in4 unknown tunnel → DROP",
            PROGRAM_UPLINK,
            bed.frame_unknown_tunnel(),
            XDP_DROP,
        ),
        Case {
            name: format!("decap → XDP_TX, random of {n} tunnels"),
            ayiya: false,
            program: Prog::Named(PROGRAM_UPLINK),
            frames: spread_decap.clone(),
            expect: XDP_TX,
        },
        Case {
            name: format!("encap → XDP_TX, random of {n} tunnels"),
            ayiya: false,
            program: Prog::Named(PROGRAM_UPLINK),
            frames: spread_encap,
            expect: XDP_TX,
        },
        // The same number of distinct frames over 16 tunnels only: what
        // varying frames cost apart from a large table's cache misses.
        Case {
            name: "decap → XDP_TX, random of 16 tunnels".into(),
            ayiya: false,
            program: Prog::Named(PROGRAM_UPLINK),
            frames: ids(spread, 16, 0x9e37_79b9_7f4a_7c15)
                .iter()
                .map(|&i| bed.frame_from_tunnel(i, INTERNET_V6))
                .collect(),
            expect: XDP_TX,
        },
    ]);
    all.extend(ayiya_cases);
    all.extend(nat64_cases(bed));
    all.extend(refs);
    Ok(all)
}

/// A case of one frame through `program`.
fn one(name: &str, program: &'static str, frame: Vec<u8>, expect: u32) -> Case {
    Case {
        name: name.into(),
        ayiya: false,
        program: Prog::Named(program),
        frames: vec![frame],
        expect,
    }
}

/// What every other cost is read against: XDP_DROP, XDP_TX and 6in4 decap.
fn baselines(bed: &Bed) -> Vec<Case> {
    vec![
        one(
            "XDP_DROP (testbed_drop)",
            "testbed_drop",
            bed.frame_plain(),
            XDP_DROP,
        ),
        one(
            "XDP_TX baseline (testbed_tx)",
            "testbed_tx",
            bed.frame_plain(),
            XDP_TX,
        ),
        one(DECAP_6IN4, PROGRAM_UPLINK, bed.frame_decap_tx(), XDP_TX),
    ]
}

/// The reference programs: what one piece of a path costs alone on this
/// machine, in this run (bench.md's table, measured anew).
/// Each reference over random tunnels gets tunnels of its own: cases are
/// interleaved call by call, and one that followed another case on the
/// same tunnel would find that tunnel's state already in cache.
fn references(bed: &mut Bed, spread: usize) -> Result<Vec<Case>> {
    let n = bed.tunnels;
    let random = |bed: &Bed, seed: u64| -> Vec<Vec<u8>> {
        ids(spread, n, seed)
            .iter()
            .map(|&i| bed.frame_from_tunnel(i, INTERNET_V6))
            .collect()
    };
    let by_v4 = match bed.dp.ebpf_mut().map(TUN_BY_V4) {
        Some(Map::HashMap(m)) => m.fd().as_fd().as_raw_fd(),
        _ => bail!("{TUN_BY_V4} is not a hash map"),
    };
    let fd_of = |bed: &mut Bed, name: &str| -> Result<i32> {
        Ok(match bed.dp.ebpf_mut().map(name) {
            Some(Map::Array(m)) | Some(Map::PerCpuArray(m)) => m.fd().as_fd().as_raw_fd(),
            _ => bail!("{name} is not an array"),
        })
    };
    let tunnels = fd_of(bed, TUNNELS)?;
    let stats = fd_of(bed, TUN_STATS)?;
    let raw = |name: &str, insns: Vec<sys::Insn>| -> Result<Prog> {
        Ok(Prog::Raw(std::rc::Rc::new(sys::load_xdp(name, &insns)?)))
    };
    let hash = raw("ref_hash", asm::hash_lookup(by_v4))?;
    let hash_cold = match &hash {
        Prog::Raw(fd) => Prog::Raw(fd.clone()),
        Prog::Named(n) => Prog::Named(n),
    };
    let remote = tunnel(bed.tun_b()).remote.octets();
    let fib4 = raw(
        "ref_fib4",
        asm::fib_lookup(&POP_V4.octets(), &remote, 41, 120),
    )?;
    let fib6 = raw(
        "ref_fib6",
        asm::fib_lookup(
            &tunnel(TUN_A).user_address().octets(),
            &INTERNET_V6.octets(),
            17,
            100,
        ),
    )?;
    let r = |name: &str, program, frames| Case {
        name: format!("ref: {name}"),
        ayiya: false,
        program,
        frames,
        expect: XDP_DROP,
    };
    let chain1 = raw("ref_chain1", asm::per_tunnel_chain(by_v4, &[tunnels]))?;
    let chain2 = raw(
        "ref_chain2",
        asm::per_tunnel_chain(by_v4, &[tunnels, stats]),
    )?;
    // What decap touches since `TUN_BY_V4` carries the hot fields.
    let chain3 = raw("ref_chain3", asm::per_tunnel_chain(by_v4, &[stats]))?;
    Ok(vec![
        r(
            &format!("TUN_BY_V4 + TUNNELS, random of {n}"),
            chain1,
            random(bed, 0x5851_f42d_4c95_7f2d),
        ),
        r(
            &format!("TUN_BY_V4 + TUNNELS + TUN_STATS, random of {n}"),
            chain2,
            random(bed, 0x2127_599b_f432_5c37),
        ),
        r(
            &format!("TUN_BY_V4 + TUN_STATS, random of {n}"),
            chain3,
            random(bed, 0x9fb2_1c65_1e98_df25),
        ),
        r(
            "hash lookup (TUN_BY_V4), warm",
            hash,
            vec![bed.frame_decap_tx()],
        ),
        r(
            &format!("hash lookup (TUN_BY_V4), random of {}", bed.tunnels),
            hash_cold,
            random(bed, 0xa076_1d64_78bd_642f),
        ),
        r("bpf_fib_lookup IPv4", fib4, vec![bed.frame_plain()]),
        r("bpf_fib_lookup IPv6", fib6, vec![bed.frame_plain()]),
    ])
}

fn trimmed(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let cut = (v.len() as f64 * TRIM) as usize;
    let kept = &v[cut..v.len() - cut];
    (kept.iter().sum::<f64>() / kept.len() as f64, v[v.len() / 2])
}

/// `calls` test runs of every case, interleaved.
pub fn measure(bed: &mut Bed, setup: &Setup, cases: &[Case], calls: usize) -> Result<Vec<Cost>> {
    if calls < 10 {
        bail!("--calls must be at least 10");
    }
    if let Some(c) = cases
        .iter()
        .find(|c| c.ayiya && c.frames.len() > 1 && c.frames.len() < calls)
    {
        bail!(
            "{}: fewer datagrams than calls (the replay guard would drop repeats)",
            c.name
        );
    }
    let ayiya = cases.iter().any(|c| c.ayiya);
    // Every measured program attached somewhere (testbed_drop already is,
    // on the receivers): a test run of a program that is not in the XDP
    // dispatcher adds and removes it there, two RCU grace periods per call;
    // attached, all run through the dispatcher's direct call, as in
    // production. bdut1 gets no traffic in this phase.
    bed.set_dut(DutProgram::Xdp(setup.tunnel.as_fd()))?;
    let _in = bed.dut.enter()?;
    let _tx_link = sys::attach_xdp(setup.tx.as_fd(), bed.dut_out_ifindex)?;
    sys::pin_to_cpu(0, DUT_CPU)?;
    let ifindex = bed.dut_in_ifindex;
    let mut ns: Vec<Vec<f64>> = vec![Vec::with_capacity(calls); cases.len()];
    let mut wrong = vec![0usize; cases.len()];
    let result = (|| -> Result<()> {
        for i in 0..calls {
            // The AYIYA datagrams' epoch, set again now and then: a slow
            // run stays well inside the ±120 s window.
            if ayiya && i % 1024 == 0 {
                bed.set_unix_time(setup.ayiya_epoch)?;
            }
            for (k, c) in cases.iter().enumerate() {
                let frame = &c.frames[i % c.frames.len()];
                let (ret, dur) = match &c.program {
                    Prog::Named(name) => {
                        let md = sys::xdp_md(frame.len(), ifindex);
                        let ctx: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
                        let r = bed.dp.program_mut(name)?.test_run(TestRunOptions {
                            data_in: Some(frame),
                            ctx_in: Some(&ctx),
                            repeat: 1,
                            ..Default::default()
                        })?;
                        (r.return_value, r.duration.as_nanos() as u32)
                    }
                    Prog::Raw(fd) => sys::test_run(fd.as_fd(), frame, ifindex)?,
                };
                if ret != c.expect {
                    wrong[k] += 1;
                }
                ns[k].push(dur as f64);
            }
        }
        Ok(())
    })();
    sys::pin_to_cpu(0, GEN_CPU)?;
    result?;
    Ok(cases
        .iter()
        .zip(ns)
        .zip(wrong)
        .map(|((c, v), wrong)| {
            let (mean, median) = trimmed(v);
            Cost {
                name: c.name.clone(),
                ns: mean,
                median,
                wrong,
            }
        })
        .collect())
}
