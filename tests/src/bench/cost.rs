//! Program cost with BPF_PROG_TEST_RUN in single mode: one call per packet
//! (repeat = 1, so the kernel copies the frame afresh each time; `repeat =
//! N` would let a rewriting program see its own output), the kernel's
//! duration per call, trimmed mean, minus an XDP_DROP program's cost (the
//! call overhead). Cases are interleaved call by call so that drift (CPU
//! frequency, other load) hits all of them alike. Runs in the dut
//! namespace so that bpf_fib_lookup sees the bed's routes, as received on
//! bdut0, on DUT_CPU, with no traffic.

use anyhow::{bail, Result};
use aya::programs::{TestRun, TestRunOptions};
use tunnelctl::datapath::PROGRAM_UPLINK;

use std::os::fd::AsFd;

use super::{
    measure::Setup,
    sys,
    topology::{Bed, DutProgram, DUT_CPU, GEN_CPU, INTERNET_V6},
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const XDP_REDIRECT: u32 = 4;
/// Share of calls cut at each end before the mean.
const TRIM: f64 = 0.1;

pub struct Case {
    pub name: String,
    program: &'static str,
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

pub fn cases(bed: &Bed, spread: usize) -> Vec<Case> {
    let one = |name: &str, program, frame, expect| Case {
        name: name.into(),
        program,
        frames: vec![frame],
        expect,
    };
    let n = bed.tunnels;
    let spread_decap = ids(spread, n, 0x9e37_79b9_7f4a_7c15)
        .iter()
        .map(|&i| bed.frame_from_tunnel(i, INTERNET_V6))
        .collect();
    let spread_encap = ids(spread, n, 0x2545_f491_4f6c_dd1d)
        .iter()
        .map(|&i| bed.frame_to_tunnel(i))
        .collect();
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
        one(
            "decap → XDP_TX, one tunnel",
            PROGRAM_UPLINK,
            bed.frame_decap_tx(),
            XDP_TX,
        ),
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
            program: PROGRAM_UPLINK,
            frames: spread_decap,
            expect: XDP_TX,
        },
        Case {
            name: format!("encap → XDP_TX, random of {n} tunnels"),
            program: PROGRAM_UPLINK,
            frames: spread_encap,
            expect: XDP_TX,
        },
    ]
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
            for (k, c) in cases.iter().enumerate() {
                let frame = &c.frames[i % c.frames.len()];
                let md = sys::xdp_md(frame.len(), ifindex);
                let ctx: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
                let r = bed.dp.program_mut(c.program)?.test_run(TestRunOptions {
                    data_in: Some(frame),
                    ctx_in: Some(&ctx),
                    repeat: 1,
                    ..Default::default()
                })?;
                if r.return_value != c.expect {
                    wrong[k] += 1;
                }
                ns[k].push(r.duration.as_nanos() as f64);
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
