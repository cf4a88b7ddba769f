//! Builds the eBPF object with Debian's BPF-capable rustc (linked into rustup
//! as `debian-web` by scripts/setup.sh) and puts it in OUT_DIR/tunnel.
//! `TUNNEL_BUILD_EBPF=0` writes an empty stub instead (for hosts without the
//! BPF toolchain: check, clippy, docs); loading a stub fails with a clear error.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=TUNNEL_BUILD_EBPF");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    if env::var("TUNNEL_BUILD_EBPF").as_deref() == Ok("0") {
        fs::write(out.join("tunnel"), b"").expect("write stub");
        return;
    }
    // aya-ebpf needs `asm_experimental_arch` on a stable compiler, and the
    // programs (crate `tunnel`) `core_intrinsics` for BPF's atomic add;
    // naming the crates (not `1`) keeps aya-build from adding -Z build-std
    // (toolchain.md).
    env::set_var("RUSTC_BOOTSTRAP", "aya_ebpf,tunnel");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../tunnel-ebpf");
    let root = root.to_str().expect("utf-8 path");
    let pkg = aya_build::Package {
        name: "tunnel-ebpf",
        root_dir: root,
        ..Default::default()
    };
    if let Err(e) = aya_build::build_ebpf([pkg], aya_build::Toolchain::Custom("debian-web")) {
        panic!("building the eBPF programs failed: {e:#}\n(run scripts/setup.sh to install the BPF toolchain)");
    }
}
