//! Adding and removing tunnels and prefixes, in the forward-before-reverse
//! order (see the module docs of `datapath`).

use anyhow::{bail, Context, Result};
use aya::maps::{Array, HashMap, MapData, MapError};
use tunnel_common::{
    maps,
    tunnel::{
        DecapRef, Endpoint, TunnelInfo, TunnelSecret, TunnelV4Key, MTU_MAX, MTU_MIN,
        TUNNEL_F_ENABLED, TUNNEL_F_PMTUDISC, TUNNEL_KIND_6IN4,
    },
};

use super::{Datapath, Tunnel};
use crate::prefix::Ipv6Prefix;

const BPF_NOEXIST: u64 = 1;

impl Tunnel {
    pub fn to_info(&self) -> TunnelInfo {
        let mut flags = 0;
        if self.enabled {
            flags |= TUNNEL_F_ENABLED;
        }
        if self.pmtudisc {
            flags |= TUNNEL_F_PMTUDISC;
        }
        TunnelInfo {
            local_v4: self.local.octets(),
            remote_v4: self.remote.octets(),
            pop_v6: self.pop_address().octets(),
            mtu: self.mtu,
            kind: TUNNEL_KIND_6IN4,
            flags,
            ttl: self.ttl,
            _pad: [0; 3],
        }
    }

    pub fn v4_key(&self) -> TunnelV4Key {
        TunnelV4Key {
            local: self.local.octets(),
            remote: self.remote.octets(),
        }
    }

    /// `TUN_BY_V4`'s value for this tunnel as `id`.
    pub fn decap_ref(&self, id: u32) -> DecapRef {
        DecapRef::new(id, &self.to_info())
    }

    pub fn validate(&self) -> Result<()> {
        if !(MTU_MIN..=MTU_MAX).contains(&self.mtu) {
            bail!(
                "MTU {} is out of range {MTU_MIN}..={MTU_MAX} (RFC 4213 §3.2.1)",
                self.mtu
            );
        }
        if self.prefix.len() != 64 {
            bail!("the tunnel prefix {} must be a /64", self.prefix);
        }
        Ok(())
    }
}

/// What the maps hold, read back.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub tunnels: Vec<(u32, TunnelInfo)>,
    pub pairs: Vec<(TunnelV4Key, DecapRef)>,
    pub prefixes: Vec<(Ipv6Prefix, u32)>,
}

impl Datapath {
    fn tunnels(&mut self) -> Result<Array<&mut MapData, TunnelInfo>> {
        Ok(Array::try_from(
            self.ebpf.map_mut(maps::TUNNELS).context(maps::TUNNELS)?,
        )?)
    }
    fn by_v4(&mut self) -> Result<HashMap<&mut MapData, TunnelV4Key, DecapRef>> {
        Ok(HashMap::try_from(
            self.ebpf
                .map_mut(maps::TUN_BY_V4)
                .context(maps::TUN_BY_V4)?,
        )?)
    }

    fn endpoints(&mut self) -> Result<Array<&mut MapData, Endpoint>> {
        Ok(Array::try_from(
            self.ebpf
                .map_mut(maps::ENDPOINTS)
                .context(maps::ENDPOINTS)?,
        )?)
    }
    fn secrets(&mut self) -> Result<Array<&mut MapData, TunnelSecret>> {
        Ok(Array::try_from(
            self.ebpf.map_mut(maps::SECRETS).context(maps::SECRETS)?,
        )?)
    }

    /// What the data path or a protocol handler learned about where tunnel
    /// `id`'s user is, if anything.
    pub fn endpoint(&mut self, id: u32) -> Result<Option<Endpoint>> {
        self.check_id(id)?;
        let e = self.endpoints()?.get(&id, 0)?;
        Ok(e.is_learned().then_some(e))
    }

    /// Records a learned endpoint (the daemon's protocol handlers: heartbeat).
    pub fn learn_endpoint(&mut self, id: u32, e: &Endpoint) -> Result<()> {
        self.check_id(id)?;
        self.endpoints()?.set(id, *e, 0)?;
        Ok(())
    }

    /// Forgets what was learned for slot `id` and its key: only when the
    /// tunnel in that slot is removed or a new one is added.
    pub fn clear_learned(&mut self, id: u32) -> Result<()> {
        self.check_id(id)?;
        self.endpoints()?.set(id, Endpoint::default(), 0)?;
        self.secrets()?.set(id, TunnelSecret::default(), 0)?;
        Ok(())
    }

    /// Tunnel `id`'s signing key (`None`: the kind signs nothing).
    pub fn put_secret(&mut self, id: u32, key: Option<&[u8]>) -> Result<()> {
        self.check_id(id)?;
        let mut s = TunnelSecret::default();
        if let Some(k) = key {
            if k.len() > s.key.len() {
                bail!("a key of {} bytes does not fit {}", k.len(), s.key.len());
            }
            s.key[..k.len()].copy_from_slice(k);
            s.len = k.len() as u8;
        }
        self.secrets()?.set(id, s, 0)?;
        Ok(())
    }

    /// Tunnel `id`'s signing key as the data path sees it.
    pub fn secret(&mut self, id: u32) -> Result<Option<Vec<u8>>> {
        self.check_id(id)?;
        let s = self.secrets()?.get(&id, 0)?;
        Ok((s.len != 0).then(|| s.key[..(s.len as usize).min(20)].to_vec()))
    }

    fn check_id(&self, id: u32) -> Result<()> {
        if id >= self.opts.max_tunnels {
            bail!(
                "tunnel id {id} is out of range 0..{}",
                self.opts.max_tunnels
            );
        }
        Ok(())
    }

    /// The tunnel in slot `id`, if any.
    pub fn tunnel_info(&mut self, id: u32) -> Result<Option<TunnelInfo>> {
        self.check_id(id)?;
        let info = self.tunnels()?.get(&id, 0)?;
        Ok((info.kind != 0).then_some(info))
    }

    /// Installs tunnel `id`: its entry, its /64, then its outer addresses.
    /// Fails without changing anything if the id, the /64 or the address
    /// pair is taken.
    pub fn add_tunnel(&mut self, id: u32, t: &Tunnel) -> Result<()> {
        t.validate()?;
        if self.tunnel_info(id)?.is_some() {
            bail!("tunnel id {id} is already in use");
        }
        match self.by_v4()?.get(&t.v4_key(), 0) {
            Ok(other) => bail!(
                "tunnel {} already uses {} -> {}",
                other.id,
                t.local,
                t.remote
            ),
            Err(MapError::KeyNotFound) => {}
            Err(e) => return Err(e).context("looking up the address pair"),
        }
        // A reused slot starts from zero and knows nothing of its last user.
        self.reset_tunnel_counters(id)?;
        self.clear_learned(id)?;
        self.tunnels()?.set(id, t.to_info(), 0)?;
        if let Err(e) = self.add_prefix(id, &t.prefix) {
            self.tunnels()?.set(id, TunnelInfo::default(), 0)?;
            return Err(e);
        }
        if let Err(e) = self
            .by_v4()?
            .insert(t.v4_key(), t.decap_ref(id), BPF_NOEXIST)
        {
            self.remove_prefix(&t.prefix)?;
            self.tunnels()?.set(id, TunnelInfo::default(), 0)?;
            return Err(e).context("adding the outer address pair");
        }
        Ok(())
    }

    /// Rewrites tunnel `id`'s entry (enable/disable, MTU, TTL, DF, remote
    /// IPv4). A new remote is looked up before the old one is forgotten, so
    /// packets from either match during the change. The /64 and the local
    /// address cannot change here: remove and re-add.
    pub fn update_tunnel(&mut self, id: u32, t: &Tunnel) -> Result<()> {
        t.validate()?;
        let Some(old) = self.tunnel_info(id)? else {
            bail!("no tunnel {id}")
        };
        if old.local_v4 != t.local.octets() || old.pop_v6 != t.pop_address().octets() {
            bail!("tunnel {id}: local address or prefix differ; remove and add it instead");
        }
        let old_key = TunnelV4Key {
            local: old.local_v4,
            remote: old.remote_v4,
        };
        if old_key != t.v4_key() {
            match self.by_v4()?.get(&t.v4_key(), 0) {
                Ok(other) => bail!(
                    "tunnel {} already uses {} -> {}",
                    other.id,
                    t.local,
                    t.remote
                ),
                Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(e).context("looking up the address pair"),
            }
            self.tunnels()?.set(id, t.to_info(), 0)?;
            self.by_v4()?
                .insert(t.v4_key(), t.decap_ref(id), BPF_NOEXIST)
                .context("adding the new address pair")?;
            ignore_missing(self.by_v4()?.remove(&old_key))?;
            return Ok(());
        }
        self.tunnels()?.set(id, t.to_info(), 0)?;
        // The pair's copy of the hot fields (enabled, kind) follows.
        self.by_v4()?.insert(t.v4_key(), t.decap_ref(id), 0)?;
        Ok(())
    }

    /// Everything the maps hold about tunnels, for reconciliation.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snap = Snapshot::default();
        let max = self.opts.max_tunnels;
        let tunnels = self.tunnels()?;
        for id in 0..max {
            let info = tunnels.get(&id, 0)?;
            if info.kind != 0 {
                snap.tunnels.push((id, info));
            }
        }
        let by_v4 = self.by_v4()?;
        for kv in by_v4.iter() {
            snap.pairs.push(kv?);
        }
        snap.prefixes = self.prefix_entries()?;
        Ok(snap)
    }

    /// Low-level writes for reconciliation, which orders them itself.
    pub fn put_info(&mut self, id: u32, t: &Tunnel) -> Result<()> {
        self.check_id(id)?;
        self.tunnels()?.set(id, t.to_info(), 0)?;
        Ok(())
    }
    pub fn clear_info(&mut self, id: u32) -> Result<()> {
        self.check_id(id)?;
        self.tunnels()?.set(id, TunnelInfo::default(), 0)?;
        Ok(())
    }
    pub fn put_pair(&mut self, key: TunnelV4Key, value: DecapRef) -> Result<()> {
        self.by_v4()?.insert(key, value, 0)?;
        Ok(())
    }
    pub fn remove_pair(&mut self, key: &TunnelV4Key) -> Result<()> {
        ignore_missing(self.by_v4()?.remove(key))
    }
    pub fn put_prefix(&mut self, p: &Ipv6Prefix, id: u32) -> Result<()> {
        self.prefix_insert(p, id, 0)??;
        Ok(())
    }
    pub fn remove_prefix_if_present(&mut self, p: &Ipv6Prefix) -> Result<()> {
        ignore_missing(self.prefix_remove(p)?)
    }

    /// Removes tunnel `id` and its /64 (routed prefixes are removed by the
    /// caller first, as it knows them). The address pair and the /64 are
    /// read from the tunnel's own entry, so they cannot disagree with it.
    pub fn remove_tunnel(&mut self, id: u32) -> Result<()> {
        let Some(info) = self.tunnel_info(id)? else {
            bail!("no tunnel {id}")
        };
        let key = TunnelV4Key {
            local: info.local_v4,
            remote: info.remote_v4,
        };
        // The PoP's address is `prefix::1`: its first 64 bits are the /64.
        let net = u128::from_be_bytes(info.pop_v6) & !(u64::MAX as u128);
        let prefix = Ipv6Prefix::new(std::net::Ipv6Addr::from(net), 64)?;
        ignore_missing(self.by_v4()?.remove(&key))?;
        ignore_missing(self.prefix_remove(&prefix)?)?;
        self.tunnels()?.set(id, TunnelInfo::default(), 0)?;
        self.clear_learned(id)?;
        Ok(())
    }

    /// Routes `prefix` into tunnel `id` (and accepts it as inner source).
    pub fn add_prefix(&mut self, id: u32, prefix: &Ipv6Prefix) -> Result<()> {
        if self.tunnel_info(id)?.is_none() {
            bail!("no tunnel {id}");
        }
        match self.prefix_insert(prefix, id, BPF_NOEXIST)? {
            Ok(()) => Ok(()),
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::EEXIST) => {
                bail!("prefix {prefix} is already routed")
            }
            // ENOSPC from the trie, E2BIG from the hash.
            Err(MapError::SyscallError(e))
                if matches!(e.io_error.raw_os_error(), Some(libc::ENOSPC | libc::E2BIG)) =>
            {
                bail!("prefix map is full ({} entries)", self.opts.max_prefixes)
            }
            Err(e) => Err(e).context(format!("adding prefix {prefix}")),
        }
    }

    pub fn remove_prefix(&mut self, prefix: &Ipv6Prefix) -> Result<()> {
        match self.prefix_remove(prefix)? {
            Ok(()) => Ok(()),
            Err(MapError::KeyNotFound) => bail!("prefix {prefix} is not routed"),
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
                bail!("prefix {prefix} is not routed")
            }
            Err(e) => Err(e.into()),
        }
    }
}

pub(super) fn ignore_missing(r: Result<(), MapError>) -> Result<()> {
    match r {
        Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => Ok(other?),
    }
}
