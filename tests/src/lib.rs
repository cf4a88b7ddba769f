//! Test harness of the PoP: network namespaces, the 6in4 test bed, a
//! userspace 6in4 peer (the host kernel has no sit device), packet builders.
//! Everything here needs root.
// Test and tooling code: raw syscalls (bpf, setns, sockets) and libc calls.
#![allow(unsafe_code)]

pub mod ayiya_nat;
pub mod bench;
pub mod cases;
pub mod daemon;
pub mod dns64;
pub mod icmp6watch;
pub mod netns;
pub mod packets;
pub mod pass;
pub mod peer6in4;
pub mod prog;
pub mod pty;
pub mod tayga;
pub mod topology;
pub mod traffic;
