//! Prints what this kernel's verifier made of each program (run in the VM
//! by `cargo xtask vm`, which collects the tables of all kernels).

use tunnelctl::{datapath, DatapathOptions};

fn main() -> anyhow::Result<()> {
    // The default sizes: what an operator's PoP loads.
    let stats = datapath::verifier_stats(&DatapathOptions::default())?;
    print!("{}", datapath::format_table(&stats));
    Ok(())
}
