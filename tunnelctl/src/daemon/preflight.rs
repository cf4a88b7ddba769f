//! What a start can check without changing anything, checked before the
//! daemon loads or reuses the pins, reconciles the maps or attaches: a
//! start that fails here leaves a running PoP exactly as it was.

use anyhow::{bail, Context, Result};

use super::{config::Config, netlink::Netlink, store::Store};
use crate::{
    api::TunnelSpec,
    datapath::{self, pins, DatapathOptions},
};

pub fn check(cfg: &Config, opts: &DatapathOptions, store: &Store, nl: &Netlink) -> Result<()> {
    uplinks(cfg)?;
    if !cfg.local_device.is_empty() {
        nl.check_tunnel_device(&cfg.local_device)?;
    }
    // Sizes fit the pinned maps (the datapath checks again as it loads).
    pins::check(&pins::versioned_dir(&cfg.pin_dir), opts)?;
    let (_, prefixes) = store.count()?;
    store_fits(cfg, &store.tunnels()?, prefixes)
}

/// Every uplink exists in this network namespace and has a MAC address.
pub fn uplinks(cfg: &Config) -> Result<()> {
    for u in &cfg.uplinks {
        datapath::ifindex(u).with_context(|| format!("uplinks: {u}"))?;
        datapath::mac_address(u).with_context(|| format!("uplinks: {u}"))?;
    }
    Ok(())
}

/// The store fits the configured map sizes (else reconciling it would fail
/// half way, after changing the maps).
pub fn store_fits(cfg: &Config, tunnels: &[TunnelSpec], prefixes: u64) -> Result<()> {
    if let Some(t) = tunnels.iter().find(|t| t.id >= cfg.max_tunnels) {
        bail!(
            "the store has tunnel {} but max_tunnels is {}: raise max_tunnels",
            t.id,
            cfg.max_tunnels
        );
    }
    if prefixes > u64::from(cfg.max_prefixes) {
        bail!(
            "the store has {prefixes} prefixes but max_prefixes is {}: raise max_prefixes",
            cfg.max_prefixes
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(uplinks: &[&str]) -> Config {
        Config {
            uplinks: uplinks.iter().map(|u| u.to_string()).collect(),
            max_tunnels: 4,
            max_prefixes: 8,
            ..Default::default()
        }
    }

    #[test]
    fn a_missing_uplink_is_named() {
        uplinks(&cfg(&["lo"])).unwrap();
        let e = format!("{:#}", uplinks(&cfg(&["lo", "nosuch0"])).unwrap_err());
        assert!(
            e.contains("uplinks: nosuch0") && e.contains("no interface"),
            "{e}"
        );
    }

    #[test]
    fn the_store_must_fit_the_maps() {
        let t = |id: u32| -> TunnelSpec {
            serde_json::from_value(serde_json::json!({
                "id": id, "local": "192.0.2.1", "remote": "198.51.100.2",
                "prefix": "2001:db8:1::/64",
            }))
            .unwrap()
        };
        store_fits(&cfg(&[]), &[t(0), t(3)], 8).unwrap();
        let e = store_fits(&cfg(&[]), &[t(0), t(4)], 2).unwrap_err();
        assert!(
            e.to_string().contains("tunnel 4 but max_tunnels is 4"),
            "{e}"
        );
        let e = store_fits(&cfg(&[]), &[t(0)], 9).unwrap_err();
        assert!(e.to_string().contains("9 prefixes"), "{e}");
    }
}
