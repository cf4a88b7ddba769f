//! `cargo xtask test`: every test layer, in order, failing on the first
//! layer that fails.

use anyhow::Result;

use crate::exec::{cargo, require_root};

#[derive(clap::Args)]
pub struct Options {
    /// Run only these layers (l0, l1, diff, l2); all by default.
    #[arg(long, value_delimiter = ',')]
    layer: Vec<String>,
}

pub fn run(o: &Options) -> Result<()> {
    let want = |l: &str| o.layer.is_empty() || o.layer.iter().any(|x| x == l);
    if want("l0") {
        // Host tests: no root, no BPF. The workspace's default members.
        cargo(&["test"])?;
    }
    if want("l1") || want("diff") || want("l2") {
        require_root("L1, differential and L2 tests")?;
    }
    // One thread: the tests share the kernel (XDP attachments, namespaces,
    // CPU for packet rates).
    if want("l1") {
        cargo(&[
            "test",
            "-p",
            "tunnel-tests",
            "--test",
            "l1_sixin4",
            "--test",
            "l1_robustness",
            "--test",
            "l1_ndp",
            "--test",
            "l1_tc",
            "--test",
            "l1_nexthop",
            "--test",
            "l1_ayiya",
            "--test",
            "l1_ayiya_encap",
            "--test",
            "l1_nat64",
            "--test",
            "l1_dynamic",
            "--test",
            "l1_fuzz_found",
            "--test",
            "l1_coverage",
            "--test",
            "l1_fuzz",
            "--",
            "--test-threads=1",
        ])?;
    }
    if want("diff") {
        // Differential: Tayga and the translator fed the same packets
        // (BPF_PROG_TEST_RUN as L1, Tayga in a namespace). Host only: the
        // VM image has no Tayga (vm/artifacts.rs).
        cargo(&[
            "test",
            "-p",
            "tunnel-tests",
            "--test",
            "diff_tayga",
            "--",
            "--test-threads=1",
        ])?;
    }
    if want("l2") {
        // The daemon tests run the real tunnelctl binary.
        cargo(&["build", "-p", "tunnelctl"])?;
        cargo(&[
            "test",
            "-p",
            "tunnel-tests",
            "--test",
            "l2_sixin4",
            "--test",
            "l2_local",
            "--test",
            "l2_daemon",
            "--test",
            "l2_operator",
            "--test",
            "l2_operator_net",
            "--test",
            "l2_learned",
            "--test",
            "l2_ayiya",
            "--test",
            "l2_nat64",
            "--test",
            "l2_client",
            "--test",
            "l2_heartbeat",
            "--test",
            "l2_nat64_ctl",
            "--test",
            "l2_nat64_pmtu",
            "--test",
            "l2_nat64_slow",
            "--test",
            "l2_users",
            "--test",
            "l2_update",
            "--test",
            "l2_liveness",
            "--test",
            "l2_tic",
            "--test",
            "l2_dns64",
            "--",
            "--test-threads=1",
        ])?;
    }
    Ok(())
}
