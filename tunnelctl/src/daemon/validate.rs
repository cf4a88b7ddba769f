//! Checks a request must pass before anything is written. Each error is one
//! line an operator can act on.

use anyhow::{bail, Result};
use tunnel_common::tunnel::{MTU_MAX, MTU_MIN};

use super::config::Config;
use crate::{api::TunnelSpec, prefix::Ipv6Prefix};

/// Checks a tunnel on its own (not against other tunnels).
pub fn tunnel(cfg: &Config, t: &TunnelSpec) -> Result<()> {
    if t.id >= cfg.max_tunnels {
        bail!(
            "tunnel id {} is out of range 0..{} (max_tunnels)",
            t.id,
            cfg.max_tunnels
        );
    }
    if !(MTU_MIN..=MTU_MAX).contains(&t.mtu) {
        bail!("MTU {} is out of range {MTU_MIN}..={MTU_MAX}", t.mtu);
    }
    if t.prefix.len() != 64 {
        bail!("tunnel prefix {} must be a /64", t.prefix);
    }
    if !cfg.pop_ipv4.is_empty() && !cfg.pop_ipv4.contains(&t.local) {
        bail!(
            "local address {} is not one of the PoP's addresses {:?} (pop_ipv4)",
            t.local,
            cfg.pop_ipv4
        );
    }
    if t.remote.is_unspecified()
        || t.remote.is_broadcast()
        || t.remote.is_multicast()
        || t.remote.is_loopback()
    {
        bail!("remote address {} cannot be a tunnel endpoint", t.remote);
    }
    let mut all = vec![t.prefix];
    for p in &t.routed {
        routed_prefix(p)?;
        if let Some(q) = all.iter().find(|q| q.overlaps(p)) {
            bail!("routed prefix {p} overlaps {q} of the same tunnel");
        }
        all.push(*p);
    }
    Ok(())
}

pub fn routed_prefix(p: &Ipv6Prefix) -> Result<()> {
    if p.len() < 16 || p.len() > 64 {
        bail!("routed prefix {p}: length must be between /16 and /64");
    }
    if p.addr().segments()[0] & 0xe000 != 0x2000 {
        bail!("routed prefix {p} is not global unicast (2000::/3)");
    }
    Ok(())
}

/// The first prefix in `existing` (of a tunnel other than `id`) that
/// overlaps `p`.
pub fn overlap(existing: &[(Ipv6Prefix, u32)], p: &Ipv6Prefix, id: u32) -> Result<()> {
    if let Some((q, other)) = existing
        .iter()
        .find(|(q, other)| *other != id && q.overlaps(p))
    {
        bail!("prefix {p} overlaps {q} of tunnel {other}");
    }
    if let Some((q, _)) = existing.iter().find(|(q, other)| *other == id && q == p) {
        bail!("prefix {q} is already routed to tunnel {id}");
    }
    Ok(())
}
