//! Stateless NAT64 (SIIT, RFC 7915): the address mappings both ways and
//! the map layouts the translator reads. Pure and bounded, so the eBPF
//! programs and user space share one implementation, tested on the host.
//!
//! - [`rfc6052`]: IPv4 addresses embedded in an IPv6 prefix (pool6), every
//!   length of RFC 6052 §2.2.
//! - [`eam`]: explicit address mappings (RFC 7757), an LPM table each way.
//! - [`icmp`]: the ICMP ↔ ICMPv6 tables of RFC 7915.
//! - [`config`]: the translator's settings (`NAT64` map).

pub mod config;
pub mod eam;
pub mod icmp;
pub mod rfc6052;
