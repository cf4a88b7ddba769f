//! Types and pure functions shared by the eBPF programs (`tunnel-ebpf`) and
//! user space (`tunnelctl`, tests). Everything here is `no_std`, allocation
//! free and `#[repr(C)]` where it crosses the kernel boundary.
#![cfg_attr(not(any(feature = "user", test)), no_std)]

pub mod addr;
pub mod ayiya;
pub mod config;
pub mod csum;
pub mod ecn;
pub mod jump;
pub mod maps;
pub mod nat64;
pub mod ndp;
pub mod nets;
pub mod nexthop;
pub mod pinger;
pub mod sha1;
pub mod slowpath;
pub mod stats;
pub mod tunnel;

/// Bumped whenever a map layout or a map's meaning changes, so that pinned
/// maps of another layout are never reused (pins live under `v{ABI_VERSION}`).
pub const ABI_VERSION: u32 = 9;

#[cfg(feature = "user")]
#[allow(unsafe_code)] // Pod promises, each type asserted to have no padding
mod pod {
    /// `aya::Pod` for map keys and values.
    macro_rules! pod {
        ($($t:ty),* $(,)?) => {$(
            // SAFETY: each type is #[repr(C)], Copy, holds only integers and
            // byte arrays, and has no implicit padding (asserted next to it).
            unsafe impl aya::Pod for $t {}
        )*};
    }
    pod!(
        crate::tunnel::TunnelV4Key,
        crate::tunnel::TunnelInfo,
        crate::tunnel::DecapRef,
        crate::tunnel::Endpoint,
        crate::tunnel::TunnelSecret,
        crate::stats::TunnelCounters,
        crate::config::RuntimeConfig,
        crate::config::RateLimitState,
        crate::ndp::ProxyKey,
        crate::ndp::UplinkInfo,
        crate::jump::JumpArgs,
        crate::nets::NetKey,
        crate::nets::Pools,
        crate::nexthop::NextHopEntry,
        crate::sha1::Sha1Scratch,
        crate::ayiya::SignWork,
        crate::nat64::config::Nat64Config,
        crate::nat64::eam::Eam,
        crate::pinger::PingReply,
    );
}
