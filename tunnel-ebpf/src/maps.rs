//! Every map of the programs, declared once. Names come from
//! `tunnel_common::maps` (the `#[map]` macro takes a literal; the loader's
//! unit tests check that each literal equals its constant). Sizes are
//! defaults that the loader overrides with `set_max_entries`.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{
        lpm_trie::LpmTrie, Array, DevMapHash, HashMap, LruHashMap, PerCpuArray, PerfEventArray,
        ProgramArray,
    },
};
use tunnel_common::{
    ayiya::SignWork,
    config::{RateLimitState, RuntimeConfig},
    jump::JumpArgs,
    maps::{
        AYIYA_SEEN_SLOTS, COUNTER_SLOTS, DEFAULT_MAX_EAMS, DEFAULT_MAX_PREFIXES,
        DEFAULT_MAX_PROXIES, DEFAULT_MAX_TUNNELS, MAX_JUMPS, MAX_JUMPS_LOCAL, MAX_TX_PORTS,
    },
    nat64::{config::Nat64Config, eam::Eam},
    ndp::{ProxyKey, UplinkInfo, NS_MAX},
    nets::{NetKey, Pools},
    nexthop::{NextHopEntry, MAX_ROUTES, NEXTHOP_SLOTS},
    pinger::PingReply,
    slowpath::SlowMeta,
    stats::TunnelCounters,
    tunnel::{DecapRef, Endpoint, TunnelInfo, TunnelSecret, TunnelV4Key},
};

#[map(name = "TUNNELS")]
pub static TUNNELS: Array<TunnelInfo> = Array::with_max_entries(DEFAULT_MAX_TUNNELS, 0);

#[map(name = "TUN_BY_V4")]
pub static TUN_BY_V4: HashMap<TunnelV4Key, DecapRef> =
    HashMap::with_max_entries(DEFAULT_MAX_TUNNELS, 0);

/// Keyed by `Key<[u32; 4]>` (prefix length in bits, the address's bytes as
/// four words: the same bytes as user space's `Key<[u8; 16]>`, built with
/// four aligned word stores on the stack instead of sixteen byte stores).
/// Only the prefixes of lengths `NETS` does not take (see
/// `tunnel_common::nets`).
#[map(name = "PREFIXES")]
pub static PREFIXES: LpmTrie<[u32; 4], u32> =
    LpmTrie::with_max_entries(DEFAULT_MAX_PREFIXES, BPF_F_NO_PREALLOC);

#[map(name = "TUN_STATS")]
pub static TUN_STATS: Array<TunnelCounters> = Array::with_max_entries(DEFAULT_MAX_TUNNELS, 0);

#[map(name = "DROPS")]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

#[map(name = "EVENTS")]
pub static EVENTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

#[map(name = "CONFIG")]
pub static CONFIG: Array<RuntimeConfig> = Array::with_max_entries(1, 0);

#[map(name = "ICMP_RATE")]
pub static ICMP_RATE: PerCpuArray<RateLimitState> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "TX_PORTS")]
pub static TX_PORTS: DevMapHash = DevMapHash::with_max_entries(MAX_TX_PORTS, 0);

#[map(name = "PROXIES")]
pub static PROXIES: HashMap<ProxyKey, u32> = HashMap::with_max_entries(DEFAULT_MAX_PROXIES, 0);

#[map(name = "UPLINKS")]
pub static UPLINKS: HashMap<u32, UplinkInfo> = HashMap::with_max_entries(MAX_TX_PORTS, 0);

#[map(name = "SCRATCH")]
pub static SCRATCH: PerCpuArray<[u8; NS_MAX]> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "JUMPS")]
pub static JUMPS: ProgramArray = ProgramArray::with_max_entries(MAX_JUMPS, 0);

#[map(name = "JUMPS_LOCAL")]
pub static JUMPS_LOCAL: ProgramArray = ProgramArray::with_max_entries(MAX_JUMPS_LOCAL, 0);

#[map(name = "JUMP_ARGS")]
pub static JUMP_ARGS: PerCpuArray<JumpArgs> = PerCpuArray::with_max_entries(1, 0);

/// Not preallocated: memory is charged for the prefixes loaded, not for
/// the capacity.
#[map(name = "NETS")]
pub static NETS: HashMap<NetKey, u32> =
    HashMap::with_max_entries(DEFAULT_MAX_PREFIXES, BPF_F_NO_PREALLOC);

#[map(name = "POOLS")]
pub static POOLS: Array<Pools> = Array::with_max_entries(1, 0);

#[map(name = "NEXTHOPS")]
pub static NEXTHOPS: Array<NextHopEntry> = Array::with_max_entries(NEXTHOP_SLOTS, 0);

#[map(name = "ROUTES4")]
pub static ROUTES4: LpmTrie<[u8; 4], u32> =
    LpmTrie::with_max_entries(MAX_ROUTES, BPF_F_NO_PREALLOC);

#[map(name = "ROUTES6")]
pub static ROUTES6: LpmTrie<[u32; 4], u32> =
    LpmTrie::with_max_entries(MAX_ROUTES, BPF_F_NO_PREALLOC);

/// Learned state, written by the data path and the daemon's protocol
/// handlers, never by reconciliation.
#[map(name = "ENDPOINTS")]
pub static ENDPOINTS: Array<Endpoint> = Array::with_max_entries(DEFAULT_MAX_TUNNELS, 0);

#[map(name = "SECRETS")]
pub static SECRETS: Array<TunnelSecret> = Array::with_max_entries(DEFAULT_MAX_TUNNELS, 0);

/// AYIYA identity (the user's `::2`) → the tunnel's decap record.
#[map(name = "TUN_BY_ID6")]
pub static TUN_BY_ID6: HashMap<[u8; 16], DecapRef> =
    HashMap::with_max_entries(DEFAULT_MAX_TUNNELS, 0);

#[map(name = "AYIYA_SEEN")]
pub static AYIYA_SEEN: LruHashMap<[u8; 16], u32> =
    LruHashMap::with_max_entries(AYIYA_SEEN_SLOTS, 0);

#[map(name = "PINGS")]
pub static PINGS: Array<PingReply> = Array::with_max_entries(DEFAULT_MAX_TUNNELS, 0);

#[map(name = "CLOCK")]
pub static CLOCK: Array<u64> = Array::with_max_entries(1, 0);

#[map(name = "SHA_WORK")]
pub static SHA_WORK: PerCpuArray<SignWork> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "NAT64")]
pub static NAT64: Array<Nat64Config> = Array::with_max_entries(1, 0);

/// Explicit address mappings by their IPv6 side (`Key<[u32; 4]>` as for
/// `PREFIXES`) and by their IPv4 side.
#[map(name = "EAM6")]
pub static EAM6: LpmTrie<[u32; 4], Eam> =
    LpmTrie::with_max_entries(DEFAULT_MAX_EAMS, BPF_F_NO_PREALLOC);

#[map(name = "EAM4")]
pub static EAM4: LpmTrie<[u8; 4], Eam> =
    LpmTrie::with_max_entries(DEFAULT_MAX_EAMS, BPF_F_NO_PREALLOC);

/// The NAT64 slow path's rings, one per CPU (the loader sizes the array
/// to the CPUs): each sample a `SlowMeta` and the packet.
#[map(name = "SLOWPATH")]
pub static SLOWPATH: PerfEventArray<SlowMeta> = PerfEventArray::new(0);
