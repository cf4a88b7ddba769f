//! `tunnelctl client --kind heartbeat`: the user's end of a heartbeat
//! tunnel (SixXS's dynamic 6in4, `ayiya-spec.md` §2.1), what AICCU plus the
//! kernel's `sit` device were; this host has no `sit`, so the tunnel is
//! carried in user space:
//!
//! - a tun device with the tunnel's `::2/64` (`ayiya_client::tun`, shared);
//! - a raw IPv4 socket of protocol 41 (`raw`): what the kernel routes into
//!   the tun device goes to the PoP inside an IPv4 header the kernel
//!   writes; proto-41 from the PoP has its IPv4 header stripped and goes
//!   to the tun device;
//! - a signed beat (`crate::heartbeat::codec`) to the PoP's UDP 3740 every
//!   interval, each from a new UDP socket as AICCU sends them, naming
//!   `sender` (the PoP takes the packet's source: behind a NAT the user
//!   does not know its public address);
//! - the liveness probe of the AYIYA client (`ayiya_client::probe`): an
//!   echo to the PoP's `::1` through the tunnel, so the log says whether
//!   the tunnel works, and what to check when it does not.
//!
//! - `params`: the tunnel ([`HeartbeatParams`]);
//! - `run`: the loop.

pub mod params;
pub mod raw;
pub mod run;

pub use params::HeartbeatParams;
pub use run::{run, Counters};
