//! The PoP's user-space library: load the eBPF programs, attach them, and
//! manage tunnels and prefixes in their maps. Used by the tests now and by
//! the daemon.

pub mod datapath;
pub mod prefix;

pub use datapath::{Datapath, DatapathOptions, Tunnel};
pub use prefix::Ipv6Prefix;
