//! The TC half of the datapath: `tunnel_tc` on the egress of the tunnel
//! device, the device the kernel's routes toward tunnel prefixes point at.
//! What the PoP's own kernel sends there is encapsulated and redirected to
//! an uplink by the same code the XDP program uses.
//!
//! Attachment outlives the daemon, as the XDP links do, and a restart swaps
//! the program in place without a gap:
//! - kernels with TCX (6.6+): a bpf_link, pinned under `links/`, updated
//!   atomically by the next start;
//! - older kernels have no link for TC: the program goes on the clsact
//!   qdisc as a netlink filter at a fixed priority and handle, which stays
//!   after the daemon exits and which the next start replaces in place
//!   (NLM_F_REPLACE).

use anyhow::{Context, Result};
use aya::{
    programs::{
        links::{FdLink, PinnedLink},
        tc::{self, NlOptions, SchedClassifierLink, TcAttachOptions},
        LinkOrder, TcAttachType, TcHandle,
    },
    util::KernelVersion,
};
use tracing::{info, warn};

use super::{pins, Datapath, PROGRAM_LOCAL};

/// Netlink filter slot of `tunnel_tc` on kernels without TCX: first on the
/// device (the daemon owns it), with a handle of its own.
const NL_PRIORITY: u16 = 1;
const NL_HANDLE: TcHandle = TcHandle::new(0, 0x7470);

impl Datapath {
    /// Attaches `tunnel_tc` to the egress of `ifname`. When pinning, it
    /// stays attached after the `Datapath` is gone; otherwise it goes with it.
    pub fn attach_local(&mut self, ifname: &str) -> Result<()> {
        let tcx = KernelVersion::current()
            .map(|v| v >= KernelVersion::new(6, 6, 0))
            .unwrap_or(false);
        if tcx {
            self.attach_tcx(ifname)
        } else {
            self.attach_netlink(ifname)
        }
        .with_context(|| format!("attaching {PROGRAM_LOCAL} to the egress of {ifname}"))
    }

    fn attach_tcx(&mut self, ifname: &str) -> Result<()> {
        let link_pin = self.pins.as_deref().map(|d| pins::tc_link_path(d, ifname));
        let prog = self.classifier_mut()?;
        if let Some(path) = link_pin.as_deref().filter(|p| p.exists()) {
            let pinned = PinnedLink::from_pin(path)
                .with_context(|| format!("opening pinned link {}", path.display()))?;
            let link = SchedClassifierLink::try_from(FdLink::from(pinned))
                .context("pinned link is not a TCX link")?;
            match prog.attach_to_link(link) {
                Ok(_) => return Ok(()),
                // The device was deleted and made anew since: its old link
                // is defunct (ENOLINK). Start over on the new device.
                Err(e) => {
                    warn!(%ifname, "pinned TC link unusable ({e}); attaching afresh");
                    std::fs::remove_file(path)
                        .with_context(|| format!("removing {}", path.display()))?;
                }
            }
        }
        let id = prog.attach_with_options(
            ifname,
            TcAttachType::Egress,
            TcAttachOptions::TcxOrder(LinkOrder::default()),
        )?;
        if let Some(path) = link_pin {
            let fd = FdLink::try_from(prog.take_link(id)?)?;
            fd.pin(&path)
                .with_context(|| format!("pinning {}", path.display()))?;
        }
        Ok(())
    }

    /// Kernels before 6.6: clsact plus a netlink filter (no link to pin).
    fn attach_netlink(&mut self, ifname: &str) -> Result<()> {
        // Fails harmlessly with EEXIST on a restart.
        let _ = tc::qdisc_add_clsact(ifname);
        let keep = self.pins.is_some();
        let prog = self.classifier_mut()?;
        let existing = SchedClassifierLink::attached(
            ifname,
            TcAttachType::Egress,
            NL_PRIORITY,
            NL_HANDLE,
            None,
        )?;
        // Replace our filter if a previous start left it, else create it.
        let id = match prog.attach_to_link(existing) {
            Ok(id) => id,
            Err(_) => prog.attach_with_options(
                ifname,
                TcAttachType::Egress,
                TcAttachOptions::Netlink(NlOptions {
                    priority: NL_PRIORITY,
                    handle: NL_HANDLE,
                    classid: None,
                }),
            )?,
        };
        if keep {
            // Dropping the link would delete the filter; it must outlive
            // the daemon like a pinned link does.
            std::mem::forget(prog.take_link(id)?);
        }
        info!(%ifname, "TC attached as a netlink filter (kernel without TCX)");
        Ok(())
    }
}
