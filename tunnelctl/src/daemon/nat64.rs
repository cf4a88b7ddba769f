//! Stateless NAT64's control plane: pool6 and the explicit address
//! mappings (EAM) as the store keeps them, the maps that follow them
//! (`NAT64`, `EAM6`, `EAM4`), the kernel routes that announce them, and the
//! operations the API offers. Each operation is one store transaction, as
//! for tunnels (`Engine::transact`): the store is written and checked, the
//! maps and routes follow, then it commits.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use tunnel_common::nat64::config::{NAT64_F_UDP0_COMPUTE, NAT64_F_WKP_STRICT};

use super::{
    engine::{Engine, Scope},
    store, validate,
};
use crate::{
    api::{EamSpec, Nat64Spec, Pool6Spec, UdpZeroChecksum},
    datapath::{Datapath, EamEntry, Nat64Settings},
    error::{ApiResult, Error},
    prefix::{Ipv4Prefix, Ipv6Prefix},
};

/// The MTU of pool6's kernel route: the tunnel device's (what the PoP
/// sends toward IPv4 hosts is translated, 20 bytes shorter, on its way
/// out).
pub const POOL6_ROUTE_MTU: u16 = tunnel_common::tunnel::MTU_MAX;
/// The MTU of a mapping's IPv4 route: what becomes, 20 bytes longer once
/// translated, at most the tunnel device's MTU.
pub const EAM_ROUTE_MTU: u16 = tunnel_common::tunnel::MTU_MAX - 20;

/// The datapath's form of the settings.
pub fn settings(n: &Nat64Spec) -> Nat64Settings {
    let mut flags = 0;
    let icmp_source = n
        .pool6
        .and_then(|p| p.icmp_source)
        .map(|p| (p.first(), p.prefix_len()));
    let pool6 = n.pool6.map(|p| {
        if p.wkp_strict {
            flags |= NAT64_F_WKP_STRICT;
        }
        if p.udp_zero_checksum == UdpZeroChecksum::Compute {
            flags |= NAT64_F_UDP0_COMPUTE;
        }
        (p.prefix.addr(), p.prefix.len())
    });
    Nat64Settings {
        pool6,
        flags,
        icmp_source,
    }
}

/// The datapath's form of a mapping (validated prefixes: canonical).
pub fn entry(e: &EamSpec) -> Result<EamEntry> {
    EamEntry::new(e.v6.addr(), e.v6.len(), e.v4.addr(), e.v4.len())
}

/// What reconciliation changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub settings_written: bool,
    pub eams_written: usize,
    pub eams_removed: usize,
}

/// Makes the NAT64 maps say what `want` says, whatever they hold (pins
/// survive restarts, and a failed operation may have left anything):
/// stale entries removed (IPv4 side first: the side new flows arrive on),
/// missing or different ones written (IPv6 side first, by `add_eam`), and
/// the settings' EAM flag on while any entry may be present.
pub fn reconcile(dp: &mut Datapath, want: &Nat64Spec) -> Result<Changes> {
    let snap = dp.nat64_snapshot()?;
    let mut ch = Changes::default();
    let want_entries: Vec<EamEntry> = want.eams.iter().map(entry).collect::<Result<_>>()?;
    let s = settings(want);
    let any_before = !snap.eam6.is_empty() || !snap.eam4.is_empty();
    let any_after = !want_entries.is_empty();
    // 1. With the flag on while entries come and go, a lookup finds an
    //    entry or nothing.
    if any_after && !snap.config.has_eams() || any_before && !any_after {
        dp.set_nat64(&s, any_before || any_after)?;
        ch.settings_written = true;
    }
    let want4: HashSet<(std::net::Ipv4Addr, u8)> =
        want_entries.iter().map(|e| (e.v4, e.v4_len)).collect();
    let want6: HashSet<(std::net::Ipv6Addr, u8)> =
        want_entries.iter().map(|e| (e.v6, e.v6_len)).collect();
    // 2. Stale entries, IPv4 side first.
    for e in snap
        .eam4
        .iter()
        .filter(|e| !want4.contains(&(e.v4, e.v4_len)))
    {
        dp.remove_eam4(e.v4, e.v4_len)?;
        ch.eams_removed += 1;
    }
    for e in snap
        .eam6
        .iter()
        .filter(|e| !want6.contains(&(e.v6, e.v6_len)))
    {
        dp.remove_eam6(e.v6, e.v6_len)?;
        ch.eams_removed += 1;
    }
    // 3. Missing or different ones.
    let have6: HashSet<&EamEntry> = snap.eam6.iter().collect();
    let have4: HashSet<&EamEntry> = snap.eam4.iter().collect();
    for e in &want_entries {
        if !have6.contains(e) || !have4.contains(e) {
            dp.add_eam(e)
                .with_context(|| format!("writing EAM {}/{}", e.v6, e.v6_len))?;
            ch.eams_written += 1;
        }
    }
    // 4. The settings as they should stay.
    if ch.settings_written || snap.config != s.slot(any_after)? {
        dp.set_nat64(&s, any_after)?;
        ch.settings_written = true;
    }
    Ok(ch)
}

/// Kernel routes NAT64 needs toward the tunnel device: pool6 (IPv6).
pub fn routes6(n: &Nat64Spec) -> HashMap<Ipv6Prefix, u16> {
    n.pool6
        .iter()
        .map(|p| (p.prefix, POOL6_ROUTE_MTU))
        .collect()
}

/// ... and each mapping's IPv4 side.
pub fn routes4(n: &Nat64Spec) -> HashMap<Ipv4Prefix, u16> {
    n.eams.iter().map(|e| (e.v4, EAM_ROUTE_MTU)).collect()
}

impl Engine {
    /// One NAT64 operation: `write` changes the store; the whole NAT64
    /// configuration is then checked against itself and the tunnels
    /// (`conflict` if it does not hold), and the maps and routes follow.
    fn transact_nat64<T>(
        &mut self,
        write: impl FnOnce(&rusqlite::Transaction) -> ApiResult<T>,
    ) -> ApiResult<T> {
        self.transact(Scope::Tunnels(vec![]), false, true, write, &mut |_, _| {})
    }

    pub fn set_pool6(&mut self, p: &Pool6Spec) -> ApiResult<()> {
        validate::pool6(p).map_err(Error::invalid)?;
        self.transact_nat64(|tx| Ok(store::write_pool6(tx, Some(p))?))
    }

    pub fn clear_pool6(&mut self) -> ApiResult<()> {
        self.transact_nat64(|tx| {
            if store::read_pool6(tx)?.is_none() {
                return Err(Error::NotFound("no pool6 is set".into()));
            }
            Ok(store::write_pool6(tx, None)?)
        })
    }

    pub fn pool6(&self) -> ApiResult<Option<Pool6Spec>> {
        Ok(store::read_pool6(self.store.conn())?)
    }

    pub fn add_eam(&mut self, e: &EamSpec) -> ApiResult<()> {
        validate::eam(e).map_err(Error::invalid)?;
        self.transact_nat64(|tx| {
            if let Some(have) = store::read_eams(tx)?.iter().find(|h| h.v6 == e.v6) {
                return Err(Error::Conflict(format!(
                    "{} is already mapped (to {})",
                    have.v6, have.v4
                )));
            }
            Ok(store::insert_eam(tx, e)?)
        })
    }

    pub fn remove_eam(&mut self, v6: &Ipv6Prefix, v4: Option<&Ipv4Prefix>) -> ApiResult<()> {
        self.transact_nat64(|tx| {
            if store::delete_eam(tx, v6, v4)? == 0 {
                let have = store::read_eams(tx)?.into_iter().find(|h| h.v6 == *v6);
                return Err(match (have, v4) {
                    (Some(h), Some(v4)) => {
                        Error::Conflict(format!("{v6} is mapped to {}, not {v4}", h.v4))
                    }
                    _ => Error::NotFound(format!("{v6} is not mapped (tunnelctl nat64 eam list)")),
                });
            }
            Ok(())
        })
    }

    pub fn eams(&self) -> ApiResult<Vec<EamSpec>> {
        Ok(store::read_eams(self.store.conn())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_flags() {
        let mut n = Nat64Spec::default();
        assert_eq!(
            settings(&n),
            Nat64Settings {
                pool6: None,
                flags: 0,
                icmp_source: None,
            }
        );
        n.pool6 = Some(Pool6Spec {
            prefix: "64:ff9b::/96".parse().unwrap(),
            wkp_strict: true,
            udp_zero_checksum: UdpZeroChecksum::Drop,
            icmp_source: None,
        });
        let s = settings(&n);
        assert_eq!(s.flags, NAT64_F_WKP_STRICT);
        assert_eq!(s.pool6, Some(("64:ff9b::".parse().unwrap(), 96)));
        n.pool6.as_mut().unwrap().wkp_strict = false;
        n.pool6.as_mut().unwrap().udp_zero_checksum = UdpZeroChecksum::Compute;
        assert_eq!(settings(&n).flags, NAT64_F_UDP0_COMPUTE);
        assert_eq!(settings(&n).icmp_source, None);
        n.pool6.as_mut().unwrap().icmp_source = Some("192.0.2.1".parse().unwrap());
        assert_eq!(
            settings(&n).icmp_source,
            Some(("192.0.2.1".parse().unwrap(), 32))
        );
        n.pool6.as_mut().unwrap().icmp_source = Some("192.0.2.8/29".parse().unwrap());
        assert_eq!(
            settings(&n).icmp_source,
            Some(("192.0.2.8".parse().unwrap(), 29))
        );
    }

    #[test]
    fn routes_of_the_configuration() {
        let n = Nat64Spec {
            pool6: Some(Pool6Spec {
                prefix: "64:ff9b::/96".parse().unwrap(),
                wkp_strict: true,
                udp_zero_checksum: UdpZeroChecksum::Drop,
                icmp_source: None,
            }),
            eams: vec![EamSpec {
                v6: "2001:db8:6::/120".parse().unwrap(),
                v4: "192.0.2.0/24".parse().unwrap(),
            }],
        };
        assert_eq!(routes6(&n).len(), 1);
        assert_eq!(
            routes4(&n),
            [("192.0.2.0/24".parse().unwrap(), EAM_ROUTE_MTU)].into()
        );
        assert!(routes6(&Nat64Spec::default()).is_empty());
    }
}
