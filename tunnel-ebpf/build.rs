//! Code generation options for the BPF object, passed to bpf-linker (which
//! runs LLVM's BPF back end; aya-build fixes the rustc flags, so they go
//! through here).
//!
//! `+allows-misaligned-mem-access`: header fields are byte arrays
//! (alignment 1), and without it LLVM reads an IPv4 address or a 64-bit
//! half of an IPv6 one a byte at a time (four or eight loads, shifts and
//! ors; 16 byte compares for an address). The kernel takes misaligned
//! packet and map-value accesses where the CPU does (x86-64 and arm64,
//! unless a program asks for strict alignment). Measured: 6in4 decap,
//! encap and tunnel to tunnel ~25 % cheaper, AYIYA ~15 % (README,
//! Benchmarks).
//!
//! Stack accesses must stay aligned: the verifier refuses a misaligned
//! one on every kernel ("misaligned stack access"), and LLVM, allowed
//! misaligned accesses, also merges neighbouring byte loads of a stack
//! object into a wider one wherever they sit (a MAC at offset 10 read as
//! a u32 was refused). Hence:
//! - `-combiner-store-merging=false`: LLVM would otherwise merge stores to
//!   neighbouring stack fields into one wider, misaligned store;
//! - map keys built on the stack (`NetKey`, `ProxyKey`) are 8-aligned with
//!   their padding explicit, and an address read from a packet into one
//!   goes through `Packet::read_addr` (two word loads), not a byte copy.
//!
//! A program the verifier refuses for this fails every test that loads it
//! (L1 on the host, the VM's `stats` step on 6.1 and 6.12).
use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("bpf") {
        println!("cargo:rustc-link-arg=--cpu-features=+allows-misaligned-mem-access");
        println!("cargo:rustc-link-arg=--llvm-args=-combiner-store-merging=false");
    }
}
