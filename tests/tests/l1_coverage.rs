//! Every drop reason the datapath counts has an L1 case that makes it
//! happen: a reason no test reaches is a reason nobody knows still works.
//! Reads the L1 test sources (not the fuzzer, whose tables name every
//! reason) and looks for each reason used in a case.

use std::fs;
use std::path::Path;

use tunnel_common::stats::Drop;

#[test]
fn every_drop_reason_has_an_l1_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut sources = String::new();
    for entry in fs::read_dir(&dir).expect("tests directory") {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Only the case tables: files, not the fuzzer's directory; not this file.
        if name.starts_with("l1_") && name.ends_with(".rs") && name != "l1_coverage.rs" {
            sources += &fs::read_to_string(&path).expect("test source");
        }
    }
    assert!(!sources.is_empty(), "no L1 sources under {}", dir.display());
    let missing: Vec<String> = Drop::ALL
        .iter()
        .map(|d| format!("{d:?}"))
        .filter(|name| {
            // A case expects it (`.dropped(Drop::X)`) or a test counts it
            // (`c.drop(Drop::X)`, possibly with the full path).
            !sources.contains(&format!("dropped(Drop::{name})"))
                && !sources.contains(&format!("Drop::{name})"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "drop reasons without an L1 case: {missing:?}"
    );
}
