//! Types and pure functions shared by the eBPF programs (`tunnel-ebpf`) and
//! user space (`tunnelctl`, tests). Everything here is `no_std`, allocation
//! free and `#[repr(C)]` where it crosses the kernel boundary.
#![cfg_attr(not(any(feature = "user", test)), no_std)]

pub mod addr;
pub mod config;
pub mod csum;
pub mod ecn;
pub mod jump;
pub mod maps;
pub mod ndp;
pub mod nets;
pub mod nexthop;
pub mod stats;
pub mod tunnel;

/// Bumped whenever a map layout or a map's meaning changes, so that pinned
/// maps of another layout are never reused (pins live under `v{ABI_VERSION}`).
pub const ABI_VERSION: u32 = 3;

#[cfg(feature = "user")]
#[allow(unsafe_code)] // Pod promises, each type asserted to have no padding
mod pod {
    // SAFETY: all these types are #[repr(C)], Copy, contain only integers and
    // byte arrays, and have no implicit padding (asserted next to each type).
    unsafe impl aya::Pod for crate::tunnel::TunnelV4Key {}
    unsafe impl aya::Pod for crate::tunnel::TunnelInfo {}
    unsafe impl aya::Pod for crate::stats::TunnelCounters {}
    unsafe impl aya::Pod for crate::config::RuntimeConfig {}
    unsafe impl aya::Pod for crate::config::RateLimitState {}
    unsafe impl aya::Pod for crate::ndp::ProxyKey {}
    unsafe impl aya::Pod for crate::ndp::UplinkInfo {}
    unsafe impl aya::Pod for crate::jump::JumpArgs {}
    unsafe impl aya::Pod for crate::nets::NetKey {}
    unsafe impl aya::Pod for crate::nets::Pools {}
    unsafe impl aya::Pod for crate::nexthop::NextHopEntry {}
}
