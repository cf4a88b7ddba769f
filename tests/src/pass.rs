//! `testbed_pass` on the veths that receive what a PoP sends with XDP
//! (redirects, XDP_TX): a veth delivers such frames only if its peer runs
//! an XDP program. The object is loaded once per test process and kept: a
//! load verifies every program in it, which takes 5 to 11 s per load
//! under the VM's software emulation, once per test when each bed loaded
//! its own. An attachment goes away with its namespace (deleting the
//! namespace deletes the veth, which detaches the program).

use std::sync::Mutex;

use anyhow::Result;
use aya::programs::XdpMode;
use tunnelctl::{Datapath, DatapathOptions};

use crate::netns::Netns;

static PASS: Mutex<Option<Datapath>> = Mutex::new(None);

/// Attaches `testbed_pass` to `ifname` in `ns`.
pub fn attach(ns: &Netns, ifname: &str) -> Result<()> {
    // A test that panicked while holding the lock left nothing half-done
    // that matters here: the loaded object is whole or absent.
    let mut pass = PASS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dp = match &mut *pass {
        Some(dp) => dp,
        none => none.insert(Datapath::load(DatapathOptions {
            max_tunnels: 1,
            max_prefixes: 1,
            ..Default::default()
        })?),
    };
    let _in = ns.enter()?;
    dp.attach_program("testbed_pass", ifname, XdpMode::Driver)
}
