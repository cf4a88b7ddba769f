//! The next-hop cache: what `bpf_fib_lookup` would answer for the routes
//! the PoP uses most, kept current by the daemon from rtnetlink route,
//! neighbour and link events, so the common path needs no FIB helper call
//! (~180 ns for IPv4, ~390 ns for IPv6 on the machines measured).
//!
//! `ROUTES4`/`ROUTES6` are LPM tries mirroring the kernel's main and local
//! tables (a handful of routes on a PoP, so the walk is shallow); each
//! route points at a slot of `NEXTHOPS`. Slot 0 and any slot not `VALID`
//! mean "ask the kernel" (`bpf_fib_lookup`): local addresses, on-link
//! destinations (their neighbour is per address), unresolved gateways,
//! anything the daemon does not model. A route or neighbour change rewrites
//! the slot in place, so it takes effect with the next packet.

/// Slots of `NEXTHOPS`; slot 0 is never a next hop.
pub const NEXTHOP_SLOTS: u32 = 256;
/// Entries of each route trie.
pub const MAX_ROUTES: u32 = 4096;
/// Slot 0: "ask the kernel's FIB".
pub const NEXTHOP_KERNEL: u32 = 0;

/// `NextHopEntry::flags`: the entry may be used.
pub const NH_F_VALID: u16 = 1 << 0;

/// Value of `NEXTHOPS`: where packets for a gateway go.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NextHopEntry {
    /// Egress interface.
    pub ifindex: u32,
    /// Largest packet (network header and up) the egress takes, host order.
    pub mtu: u16,
    /// `NH_F_*`.
    pub flags: u16,
    /// The egress interface's MAC.
    pub smac: [u8; 6],
    /// The gateway's MAC (from the kernel's neighbour table).
    pub dmac: [u8; 6],
}
const _: () = assert!(core::mem::size_of::<NextHopEntry>() == 20);

impl NextHopEntry {
    #[inline(always)]
    pub fn usable_for(&self, len: u16) -> bool {
        self.flags & NH_F_VALID != 0 && len <= self.mtu
    }
}
