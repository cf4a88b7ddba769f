//! Map names (kernel object names are cut at 15 bytes) and default sizes.
//! The eBPF side declares each map once in `tunnel-ebpf/src/maps.rs` with
//! these names; user space opens them by the same constants.

/// tunnel id (u32, array index) → [`crate::tunnel::TunnelInfo`].
pub const TUNNELS: &str = "TUNNELS";
/// [`crate::tunnel::TunnelV4Key`] (local, remote IPv4) →
/// [`crate::tunnel::DecapRef`] (tunnel id and its hot fields): 6in4 decap.
pub const TUN_BY_V4: &str = "TUN_BY_V4";
/// LPM trie: IPv6 prefix → tunnel id, for prefixes whose length is not one
/// of the exact-lookup lengths of `POOLS` (see [`crate::nets`]).
pub const PREFIXES: &str = "PREFIXES";
/// Array, tunnel id → [`crate::stats::TunnelCounters`] (traffic and drops,
/// shared by the CPUs, updated atomically).
pub const TUN_STATS: &str = "TUN_STATS";
/// Per-CPU array, [`crate::stats::Drop`] → packets dropped for that reason.
pub const DROPS: &str = "DROPS";
/// Per-CPU array, [`crate::stats::Event`] → count.
pub const EVENTS: &str = "EVENTS";
/// Array(1) of [`crate::config::RuntimeConfig`].
pub const CONFIG: &str = "CONFIG";
/// Per-CPU array(1) of [`crate::config::RateLimitState`] (ICMP error bucket).
pub const ICMP_RATE: &str = "ICMP_RATE";
/// Devmap hash, ifindex → ifindex: interfaces XDP may redirect to.
pub const TX_PORTS: &str = "TX_PORTS";
/// Hash, [`crate::ndp::ProxyKey`] (ifindex, target) → `PROXY_F_*` flags:
/// the NDP proxy's targets.
pub const PROXIES: &str = "PROXIES";
/// Hash, ifindex → [`crate::ndp::UplinkInfo`]: the uplinks' MAC addresses.
pub const UPLINKS: &str = "UPLINKS";
/// Program array: programs the uplink program hands packets to with a
/// tail call (each is verified on its own, which keeps the uplink
/// program's verifier budget). Slots: [`crate::jump`].
pub const JUMPS: &str = "JUMPS";
/// Program array: the TC program's (`tunnel_tc`) encapsulation programs,
/// by tunnel kind, for kinds too costly to verify inside it (AYIYA's
/// signature). Slots: [`crate::jump::JUMP_LOCAL_AYIYA_ENCAP`].
pub const JUMPS_LOCAL: &str = "JUMPS_LOCAL";
/// Per-CPU array(1) of `[u8; ndp::NS_MAX]`: the NDP proxy's copy of a
/// solicitation (too large for the stack next to everything else).
pub const SCRATCH: &str = "SCRATCH";
/// Per-CPU array(1) of [`crate::jump::JumpArgs`]: what crosses a tail call.
pub const JUMP_ARGS: &str = "JUMP_ARGS";
/// Hash, [`crate::nets::NetKey`] (length, masked address) → tunnel id: the
/// exact lookup of tunnel prefixes (see [`crate::nets`]).
pub const NETS: &str = "NETS";
/// Array(1) of [`crate::nets::Pools`]: aggregates covering every tunnel
/// prefix, and the prefix lengths in `NETS`.
pub const POOLS: &str = "POOLS";
/// Array, slot → [`crate::nexthop::NextHopEntry`]: the next-hop cache.
pub const NEXTHOPS: &str = "NEXTHOPS";
/// LPM trie, IPv4 route → `NEXTHOPS` slot (0: ask the kernel's FIB).
pub const ROUTES4: &str = "ROUTES4";
/// LPM trie, IPv6 route → `NEXTHOPS` slot (0: ask the kernel's FIB).
pub const ROUTES6: &str = "ROUTES6";
/// Array, tunnel id → [`crate::tunnel::Endpoint`]: learned endpoints.
pub const ENDPOINTS: &str = "ENDPOINTS";
/// Array, tunnel id → [`crate::tunnel::TunnelSecret`]: signing keys.
pub const SECRETS: &str = "SECRETS";
/// Hash, AYIYA identity (the user's `::2`) → [`crate::tunnel::DecapRef`].
pub const TUN_BY_ID6: &str = "TUN_BY_ID6";
/// Array(1) of u64: `CLOCK_REALTIME - CLOCK_BOOTTIME` in ns, kept by the
/// daemon, so the data path can check Unix epochs (AYIYA) with
/// `bpf_ktime_get_boot_ns`. 0 until the daemon sets it: every epoch is off.
pub const CLOCK: &str = "CLOCK";
/// LRU hash, the first 16 bytes of a recent AYIYA signature → its epoch:
/// the replay guard. A signature covers its epoch, so any hit is a replay
/// of a datagram that passed the clock check; what the LRU has evicted
/// (after [`AYIYA_SEEN_SLOTS`] newer datagrams) is no longer caught.
pub const AYIYA_SEEN: &str = "AYIYA_SEEN";
/// Array, tunnel id → [`crate::pinger::PingReply`]: the last reply to the
/// latency pinger, stamped by the data path.
pub const PINGS: &str = "PINGS";
/// Entries of `AYIYA_SEEN`: at a million AYIYA datagrams per second the
/// guard covers the last ~65 ms, at a thousand the whole ±120 s window.
pub const AYIYA_SEEN_SLOTS: u32 = 65_536;
/// Per-CPU array(1) of [`crate::ayiya::SignWork`]: the hash of the
/// datagram being checked or signed.
pub const SHA_WORK: &str = "SHA_WORK";
/// Array(1) of [`crate::nat64::config::Nat64Config`]: pool6 and the
/// translator's flags.
pub const NAT64: &str = "NAT64";
/// LPM trie, IPv6 prefix → [`crate::nat64::eam::Eam`]: explicit address
/// mappings, IPv6 side (RFC 7757).
pub const EAM6: &str = "EAM6";
/// LPM trie, IPv4 prefix → [`crate::nat64::eam::Eam`]: the same mappings,
/// IPv4 side.
pub const EAM4: &str = "EAM4";
/// Perf event array (one ring per CPU): what the NAT64 translator hands
/// to the daemon's slow path, each sample a
/// [`crate::slowpath::SlowMeta`] and the packet.
pub const SLOWPATH: &str = "SLOWPATH";
/// Entries of each EAM trie.
pub const DEFAULT_MAX_EAMS: u32 = 65_536;
pub use crate::jump::{JUMP_NDP, MAX_JUMPS, MAX_JUMPS_LOCAL};

/// Every map of the object, by name.
pub const ALL: &[&str] = &[
    TUNNELS,
    TUN_BY_V4,
    PREFIXES,
    TUN_STATS,
    DROPS,
    EVENTS,
    CONFIG,
    ICMP_RATE,
    TX_PORTS,
    PROXIES,
    UPLINKS,
    JUMPS,
    SCRATCH,
    JUMP_ARGS,
    NETS,
    POOLS,
    NEXTHOPS,
    ROUTES4,
    ROUTES6,
    ENDPOINTS,
    SECRETS,
    TUN_BY_ID6,
    CLOCK,
    SHA_WORK,
    JUMPS_LOCAL,
    AYIYA_SEEN,
    PINGS,
    NAT64,
    EAM6,
    EAM4,
    SLOWPATH,
];

/// Default capacity of the per-tunnel maps; the loader can change it.
pub const DEFAULT_MAX_TUNNELS: u32 = 131_072;
/// Default capacity of the prefix trie (a /64 plus a few routed prefixes each).
pub const DEFAULT_MAX_PREFIXES: u32 = 4 * DEFAULT_MAX_TUNNELS;
/// Interfaces the programs can redirect to.
pub const MAX_TX_PORTS: u32 = 64;
/// Slots of `DROPS` and `EVENTS`: room to append reasons and events
/// without changing the maps' layout (and so without a new ABI version).
pub const COUNTER_SLOTS: u32 = 64;
const _: () = assert!(
    crate::stats::Drop::COUNT <= COUNTER_SLOTS && crate::stats::Event::COUNT <= COUNTER_SLOTS
);

/// Default capacity of the NDP proxy's target table.
pub const DEFAULT_MAX_PROXIES: u32 = 65_536;

#[cfg(test)]
mod tests {
    #[test]
    fn names_fit_kernel_object_names() {
        for n in super::ALL {
            assert!(n.len() <= 15, "{n} is longer than 15 bytes");
        }
    }
}
