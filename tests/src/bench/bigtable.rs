//! 6in4 decap rate with a big table loaded (1,000,000 tunnels by default)
//! relative to a small one (10 tunnels), on the rate bench's live-frame
//! bed. Two datapaths in the dut namespace, with maps of the same size
//! (the big table's slot count), so they differ only in what they hold:
//! the bed's own with 10 tunnels, and a second one filled with the big
//! table. Each round measures, swapping the program on the dut ingress:
//!
//! - one flow: tunnel 5 of the 10, then a tunnel in the middle of the big
//!   table (the table's size alone: fuller hashes, bigger arrays);
//! - many flows: the 10 tunnels in turn, then `SPREAD_FLOWS` tunnels
//!   spread evenly over the big table, in shuffled order (the lookups'
//!   cache misses included, as real traffic from many users brings them).
//!
//! Both sides of a pair use the same generator program (`asm::rotating`,
//! a template per tunnel), so the generator's own cost cancels; each ratio
//! comes from the pair measured back to back in one round.
//!
//! The big table's addresses: documentation space (RFC 5737) holds only
//! 768 IPv4 addresses, too few for 1M distinct (local, remote) pairs. The
//! tunnels that traffic hits take their pair from `topology::tunnel`
//! (documentation addresses only); all others are map keys that no packet
//! ever carries, with remotes in 198.18.0.0/15 (RFC 2544's benchmarking
//! range) and locals 192.0.2.1–8. Every /64 is in 2001:db8::/32.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::AsFd,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use tunnelctl::{
    datapath::{ifindex, PROGRAM_UPLINK},
    Datapath, DatapathOptions, Ipv6Prefix, Tunnel,
};

use super::{
    livegen::Rotating,
    measure::{Measurement, Path, Run},
    memory::{self, Memory},
    topology::{self, Bed, DutProgram, DUT_IN, DUT_OUT, INTERNET_V6},
};

pub const SMALL: u32 = 10;
/// Tunnels of the big table hit by the many-flows stream.
pub const SPREAD_FLOWS: u32 = 65_536;
/// Upper bound of `--scale-tunnels` (locals 192.0.2.1–31 × 2^17 remotes;
/// memory grows ~0.5 KB per tunnel).
pub const MAX_BIG: u32 = 4_000_000;

/// How the big table spreads the tunnels traffic hits: every `stride`-th
/// id, `flows` of them, from the middle of the first stride.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub tunnels: u32,
    pub flows: u32,
    pub stride: u32,
}

impl Spread {
    pub fn new(tunnels: u32) -> Self {
        let flows = SPREAD_FLOWS.min(tunnels);
        Self {
            tunnels,
            flows,
            stride: tunnels / flows,
        }
    }
    /// Id of hit tunnel `k` (< flows).
    pub fn hit(&self, k: u32) -> u32 {
        k * self.stride + self.stride / 2
    }
    fn hit_index(&self, id: u32) -> Option<u32> {
        let k = id / self.stride;
        (id % self.stride == self.stride / 2 && k < self.flows).then_some(k)
    }
    /// Tunnel `id` of the big table.
    pub fn tunnel(&self, id: u32) -> Tunnel {
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
        let prefix = Ipv6Prefix::new(prefix, 64).expect("a /64 without host bits");
        match self.hit_index(id) {
            Some(k) => {
                let t = topology::tunnel(k);
                Tunnel::new(t.local, t.remote, prefix)
            }
            None => {
                let local = Ipv4Addr::new(192, 0, 2, 1 + (id >> 17) as u8);
                let remote =
                    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + (id & 0x1_ffff));
                Tunnel::new(local, remote, prefix)
            }
        }
    }
}

/// Which stream, on which table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    SmallOne,
    BigOne,
    SmallMany,
    BigMany,
}

impl Variant {
    /// Measurement order in a round: each big-table side right after its
    /// small-table baseline.
    pub const ROUND: [Variant; 4] = [
        Variant::SmallOne,
        Variant::BigOne,
        Variant::SmallMany,
        Variant::BigMany,
    ];
    pub fn is_big(self) -> bool {
        matches!(self, Variant::BigOne | Variant::BigMany)
    }
    pub fn baseline(self) -> Option<Variant> {
        match self {
            Variant::BigOne => Some(Variant::SmallOne),
            Variant::BigMany => Some(Variant::SmallMany),
            _ => None,
        }
    }
}

fn generator(frames: &[Vec<u8>]) -> Result<Rotating> {
    Rotating::new(frames[0].clone(), frames)
}

/// xorshift64 shuffle: the many-flows stream visits the table in no order
/// a prefetcher could follow.
fn shuffled(n: u32, mut s: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    for i in (1..v.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

pub struct TableMeasurement {
    pub variant: Variant,
    pub m: Measurement,
}

pub struct TableResults {
    pub spread: Spread,
    pub load_seconds: f64,
    pub memory: Memory,
    pub measurements: Vec<TableMeasurement>,
}

/// Loads the big table into a new datapath in the dut namespace. Fresh
/// maps, distinct ids, pairs and prefixes by construction: the raw writes
/// of reconciliation (3 syscalls a tunnel) instead of `add_tunnel`'s
/// checked path (7), in forward-before-reverse order all the same.
fn load_big(bed: &Bed, sp: &Spread) -> Result<Datapath> {
    let mut dp = {
        let _in = bed.dut.enter()?;
        let mut dp = Datapath::load(DatapathOptions {
            max_tunnels: sp.tunnels,
            max_prefixes: sp.tunnels + 1024,
            ..Default::default()
        })?;
        dp.allow_tx(ifindex(DUT_IN)?)?;
        dp.allow_tx(ifindex(DUT_OUT)?)?;
        tunnelctl::daemon::nexthops::fill_once(&mut dp)?;
        dp
    };
    for id in 0..sp.tunnels {
        let t = sp.tunnel(id);
        dp.put_info(id, &t)?;
        dp.put_prefix(&t.prefix, id)?;
        dp.put_pair(t.decap_key(), t.decap_ref(id))
            .with_context(|| format!("big table: tunnel {id}"))?;
    }
    Ok(dp)
}

pub fn run(
    tunnels: u32,
    runs: usize,
    warmup: Duration,
    window: Duration,
    log: &mut dyn FnMut(&str),
) -> Result<TableResults> {
    if !(SPREAD_FLOWS..=MAX_BIG).contains(&tunnels) {
        bail!("--scale-tunnels must be in {SPREAD_FLOWS}..={MAX_BIG}");
    }
    let sp = Spread::new(tunnels);
    log(&format!(
        "scale: decap bed, {SMALL} tunnels in {tunnels} slots, then a second datapath with {tunnels} tunnels"
    ));
    let mut bed = Bed::with_slots(SMALL, tunnels, log)?;
    let t0 = Instant::now();
    let mut big = load_big(&bed, &sp)?;
    let load_seconds = t0.elapsed().as_secs_f64();
    log(&format!(
        "scale: loaded {tunnels} tunnels (raw map writes) in {load_seconds:.1} s"
    ));
    let memory = memory::of_datapath(
        &format!("bench datapath, {tunnels} tunnels loaded"),
        &mut big,
        tunnels,
    )?;

    let small_prog = bed.dp.program_fd(PROGRAM_UPLINK)?;
    let big_prog = big.program_fd(PROGRAM_UPLINK)?;
    let frames = |ts: &[Tunnel]| -> Vec<Vec<u8>> {
        ts.iter().map(|t| bed.frame_from(t, INTERNET_V6)).collect()
    };
    let small_one = generator(&frames(&[topology::tunnel(SMALL / 2)]))?;
    let big_one = generator(&frames(&[sp.tunnel(sp.hit(sp.flows / 2))]))?;
    let small_many = generator(&frames(
        &(0..SMALL).map(topology::tunnel).collect::<Vec<_>>(),
    ))?;
    let big_many = generator(&frames(
        &shuffled(sp.flows, 0x9e37_79b9_7f4a_7c15)
            .into_iter()
            .map(|k| sp.tunnel(sp.hit(k)))
            .collect::<Vec<_>>(),
    ))?;

    let mut out = Vec::new();
    for round in 0..runs {
        for v in Variant::ROUND {
            let g = match v {
                Variant::SmallOne => &small_one,
                Variant::BigOne => &big_one,
                Variant::SmallMany => &small_many,
                Variant::BigMany => &big_many,
            };
            let (prog, counters) = if v.is_big() {
                (&big_prog, Some(&mut big))
            } else {
                (&small_prog, None)
            };
            let m = bed
                .measure_run(
                    Run {
                        path: Path::Decap,
                        round,
                        dut: DutProgram::Xdp(prog.as_fd()),
                        gen: &g.prog,
                        frame: &g.first,
                        counters,
                        pacer: None,
                    },
                    warmup,
                    window,
                )
                .with_context(|| format!("measuring {}", label(v, &sp)))?;
            log(&format!(
                "scale round {}/{} {:<44} delivered {:.3} Mpps, dut idle {:.1}%, dut napi on CPU {:.1}%",
                round + 1,
                runs,
                label(v, &sp),
                m.pps / 1e6,
                100.0 * m.dut_idle,
                100.0 * m.dut_busy
            ));
            out.push(TableMeasurement { variant: v, m });
        }
    }
    bed.set_dut(DutProgram::Kernel)?;
    Ok(TableResults {
        spread: sp,
        load_seconds,
        memory,
        measurements: out,
    })
}

pub fn label(v: Variant, sp: &Spread) -> String {
    match v {
        Variant::SmallOne => format!("{SMALL} tunnels, 1 flow (tunnel {})", SMALL / 2),
        Variant::BigOne => format!(
            "{} tunnels, 1 flow (tunnel {})",
            sp.tunnels,
            sp.hit(sp.flows / 2)
        ),
        Variant::SmallMany => format!("{SMALL} tunnels, {SMALL} flows"),
        Variant::BigMany => format!(
            "{} tunnels, {} flows (1 in {})",
            sp.tunnels, sp.flows, sp.stride
        ),
    }
}
