//! The NDP proxy's tables: which targets the PoP answers Neighbor
//! Solicitations for, on which uplink, and the uplinks' MAC addresses.

use std::{collections::BTreeMap, net::Ipv6Addr};

use anyhow::{bail, Context, Result};
use aya::maps::{HashMap, MapData, MapError};
use tunnel_common::{
    maps,
    ndp::{ProxyKey, UplinkInfo, PROXY_F_ROUTER},
};

use super::Datapath;

/// One proxied target on one interface, as the maps hold it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProxyEntry {
    pub ifindex: u32,
    pub target: Ipv6Addr,
    /// Answer with the Router flag.
    pub router: bool,
}

impl ProxyEntry {
    fn key(&self) -> ProxyKey {
        ProxyKey {
            ifindex: self.ifindex,
            target: self.target.octets(),
            ..Default::default()
        }
    }
    fn flags(&self) -> u32 {
        if self.router {
            PROXY_F_ROUTER
        } else {
            0
        }
    }
}

impl Datapath {
    fn proxy_map(&mut self) -> Result<HashMap<&mut MapData, ProxyKey, u32>> {
        Ok(HashMap::try_from(
            self.ebpf.map_mut(maps::PROXIES).context(maps::PROXIES)?,
        )?)
    }

    /// Records the MAC address the proxy answers with on `ifindex`.
    pub fn set_uplink_mac(&mut self, ifindex: u32, mac: [u8; 6]) -> Result<()> {
        let mut m: HashMap<&mut MapData, u32, UplinkInfo> =
            HashMap::try_from(self.ebpf.map_mut(maps::UPLINKS).context(maps::UPLINKS)?)?;
        let info = UplinkInfo { mac, _pad: [0; 2] };
        m.insert(ifindex, info, 0).context("writing UPLINKS")?;
        Ok(())
    }

    /// Answers NS for `e.target` on `e.ifindex` (replaces the flags of an
    /// existing entry).
    pub fn put_proxy(&mut self, e: &ProxyEntry) -> Result<()> {
        if e.target.is_multicast() || e.target.is_unspecified() {
            bail!("{} cannot be an NDP proxy target", e.target);
        }
        let max = self.opts.max_proxies;
        self.proxy_map()?
            .insert(e.key(), e.flags(), 0)
            .map_err(|err| match err {
                MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::E2BIG) => {
                    anyhow::anyhow!("the NDP proxy table is full ({max} entries, max_proxies)")
                }
                other => anyhow::Error::from(other).context("writing PROXIES"),
            })
    }

    /// Stops answering for `target` on `ifindex`; absent is not an error.
    pub fn remove_proxy(&mut self, ifindex: u32, target: Ipv6Addr) -> Result<()> {
        let key = ProxyKey {
            ifindex,
            target: target.octets(),
            ..Default::default()
        };
        super::tunnels::ignore_missing(self.proxy_map()?.remove(&key))
            .context("deleting from PROXIES")
    }

    /// Every proxied target, sorted.
    pub fn proxies(&mut self) -> Result<Vec<ProxyEntry>> {
        let mut out = BTreeMap::new();
        for item in self.proxy_map()?.iter() {
            let (k, flags) = item.context("reading PROXIES")?;
            let e = ProxyEntry {
                ifindex: k.ifindex,
                target: Ipv6Addr::from(k.target),
                router: flags & PROXY_F_ROUTER != 0,
            };
            out.insert(e.clone(), ());
        }
        Ok(out.into_keys().collect())
    }
}
