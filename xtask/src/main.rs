//! `cargo xtask <verb>`: the project's entry points. One module per verb;
//! each runs cargo with the right packages, profiles and test-thread limits
//! so that nobody has to remember them.
// Test and tooling code: raw syscalls (bpf, setns, sockets) and libc calls.
#![allow(unsafe_code)]

mod bench;
mod demo;
mod exec;
mod fuzz;
mod test;
mod vm;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Tunnel-broker PoP tasks")]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Build everything, the eBPF object included.
    Build,
    /// Run the tests: L0 (host), L1 (BPF_PROG_TEST_RUN), L2 (namespaces).
    Test(test::Options),
    /// Build a small PoP in network namespaces and send traffic through a
    /// 6in4 tunnel both ways; then the same with the real daemon and CLI
    /// (root).
    Demo(demo::Options),
    /// Packet-rate and program-cost benchmarks against baselines (root).
    Bench(bench::Options),
    /// The L1 fuzz's long run: mutated frames of every path through
    /// BPF_PROG_TEST_RUN, invariants checked on each (root).
    Fuzz(fuzz::Options),
    /// Boot Debian's kernels (6.1, 6.12) in QEMU and run the L1 and L2
    /// suites, the kernel-sit interop test and the verifier statistics in
    /// each.
    Vm(vm::Options),
}

fn main() -> Result<()> {
    match Cli::parse().verb {
        Verb::Build => exec::cargo(&["build", "--workspace", "--all-targets"]),
        Verb::Test(o) => test::run(&o),
        Verb::Demo(o) => demo::run(&o),
        Verb::Bench(o) => bench::run(&o),
        Verb::Fuzz(o) => fuzz::run(&o),
        Verb::Vm(o) => vm::run(&o),
    }
}
