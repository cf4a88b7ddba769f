//! Adding and removing tunnels and prefixes, in the forward-before-reverse
//! order (see the module docs of `datapath`).

use anyhow::{bail, Context, Result};
use aya::maps::{Array, HashMap, MapData, MapError};
use tunnel_common::{
    maps,
    tunnel::{
        DecapRef, Endpoint, TunnelInfo, TunnelSecret, TunnelV4Key, MTU_MAX, MTU_MIN,
        TUNNEL_F_ENABLED, TUNNEL_F_PMTUDISC, TUNNEL_KIND_6IN4, TUNNEL_KIND_AYIYA,
        TUNNEL_KIND_HEARTBEAT,
    },
};

use super::{Datapath, Kind, Tunnel};
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
            kind: match self.kind {
                Kind::Sixin4 => TUNNEL_KIND_6IN4,
                Kind::Ayiya { .. } => TUNNEL_KIND_AYIYA,
                Kind::Heartbeat { .. } => TUNNEL_KIND_HEARTBEAT,
            },
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

    /// The key of the map that finds this tunnel from what its user sends:
    /// the outer pair (`TUN_BY_V4`) or the identity (`TUN_BY_ID6`).
    pub fn decap_key(&self) -> DecapKey {
        match self.kind {
            Kind::Sixin4 => DecapKey::V4(self.v4_key()),
            Kind::Ayiya { .. } | Kind::Heartbeat { .. } => {
                DecapKey::Identity(self.user_address().octets())
            }
        }
    }

    /// The signing key the data path needs, if the kind has one.
    pub fn key(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Sixin4 => None,
            Kind::Ayiya { key } | Kind::Heartbeat { key } => Some(key),
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

/// Where decap finds a tunnel: by outer addresses (6in4) or by identity
/// (AYIYA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecapKey {
    V4(TunnelV4Key),
    Identity([u8; 16]),
}

/// What the maps hold, read back.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub tunnels: Vec<(u32, TunnelInfo)>,
    /// `TUN_BY_V4` and `TUN_BY_ID6`.
    pub pairs: Vec<(DecapKey, DecapRef)>,
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

    fn by_id6(&mut self) -> Result<HashMap<&mut MapData, [u8; 16], DecapRef>> {
        Ok(HashMap::try_from(
            self.ebpf
                .map_mut(maps::TUN_BY_ID6)
                .context(maps::TUN_BY_ID6)?,
        )?)
    }

    /// The decap record under `key`, if any.
    pub(super) fn decap_entry(&mut self, key: &DecapKey) -> Result<Option<DecapRef>> {
        let r = match key {
            DecapKey::V4(k) => self.by_v4()?.get(k, 0),
            DecapKey::Identity(k) => self.by_id6()?.get(k, 0),
        };
        match r {
            Ok(v) => Ok(Some(v)),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(e).context("looking up a decap key"),
        }
    }

    pub(super) fn insert_decap(
        &mut self,
        key: &DecapKey,
        value: DecapRef,
        flags: u64,
    ) -> Result<()> {
        match key {
            DecapKey::V4(k) => self.by_v4()?.insert(k, value, flags)?,
            DecapKey::Identity(k) => self.by_id6()?.insert(k, value, flags)?,
        }
        Ok(())
    }

    pub(super) fn remove_decap(&mut self, key: &DecapKey) -> Result<()> {
        match key {
            DecapKey::V4(k) => ignore_missing(self.by_v4()?.remove(k)),
            DecapKey::Identity(k) => ignore_missing(self.by_id6()?.remove(k)),
        }
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

    /// Empties the AYIYA replay guard (`AYIYA_SEEN`): for test beds that
    /// send the same signed datagram in several cases. A PoP never needs
    /// it: what the guard holds is only ever valid within the clock window.
    pub fn clear_replay_guard(&mut self) -> Result<()> {
        let mut seen: HashMap<&mut MapData, [u8; 16], u32> = HashMap::try_from(
            self.ebpf
                .map_mut(maps::AYIYA_SEEN)
                .context(maps::AYIYA_SEEN)?,
        )?;
        let keys: Vec<[u8; 16]> = seen.keys().collect::<Result<_, _>>()?;
        for k in keys {
            // Gone already (evicted) is as good as removed.
            let _ = seen.remove(&k);
        }
        Ok(())
    }

    /// What the data path or a protocol handler learned about where tunnel
    /// `id`'s user is, if anything.
    pub fn endpoint(&mut self, id: u32) -> Result<Option<Endpoint>> {
        self.check_id(id)?;
        let e = self.endpoints()?.get(&id, 0)?;
        Ok(e.is_learned().then_some(e))
    }

    /// The last reply to the latency pinger the data path stamped for
    /// tunnel `id` (all zero before any).
    pub fn ping_reply(&mut self, id: u32) -> Result<tunnel_common::pinger::PingReply> {
        self.check_id(id)?;
        let pings: Array<&MapData, tunnel_common::pinger::PingReply> =
            Array::try_from(self.ebpf.map(maps::PINGS).context(maps::PINGS)?)?;
        Ok(pings.get(&id, 0)?)
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
        let key = t.decap_key();
        // Configuration wins over what a beat taught another tunnel.
        self.evict_learned_pair(&key)?;
        if let Some(other) = self.decap_entry(&key)? {
            bail!("tunnel {} already uses {}", other.id, describe(t));
        }
        // A reused slot starts from zero and knows nothing of its last user.
        self.forget_learned_pair(id)?;
        self.reset_tunnel_counters(id)?;
        self.clear_learned(id)?;
        self.put_secret(id, t.key())?;
        self.tunnels()?.set(id, t.to_info(), 0)?;
        if let Err(e) = self.add_prefix(id, &t.prefix) {
            self.tunnels()?.set(id, TunnelInfo::default(), 0)?;
            return Err(e);
        }
        if let Err(e) = self.insert_decap(&key, t.decap_ref(id), BPF_NOEXIST) {
            self.remove_prefix(&t.prefix)?;
            self.tunnels()?.set(id, TunnelInfo::default(), 0)?;
            return Err(e).context(format!("adding {}", describe(t)));
        }
        Ok(())
    }

    /// Rewrites tunnel `id`'s entry (enable/disable, MTU, TTL, DF, remote
    /// IPv4, key). A new remote is looked up before the old one is
    /// forgotten, so packets from either match during the change. The
    /// kind, the /64 and the local address cannot change here: remove and
    /// re-add.
    pub fn update_tunnel(&mut self, id: u32, t: &Tunnel) -> Result<()> {
        t.validate()?;
        let Some(old) = self.tunnel_info(id)? else {
            bail!("no tunnel {id}")
        };
        if old.local_v4 != t.local.octets()
            || old.pop_v6 != t.pop_address().octets()
            || old.kind != t.to_info().kind
        {
            bail!("tunnel {id}: kind, local address or prefix differ; remove and add it instead");
        }
        let (old_key, key) = (decap_key_of(&old), t.decap_key());
        self.put_secret(id, t.key())?;
        if old_key != key {
            self.evict_learned_pair(&key)?;
            if let Some(other) = self.decap_entry(&key)? {
                bail!("tunnel {} already uses {}", other.id, describe(t));
            }
            self.tunnels()?.set(id, t.to_info(), 0)?;
            self.insert_decap(&key, t.decap_ref(id), BPF_NOEXIST)
                .context("adding the new address pair")?;
            self.remove_decap(&old_key)?;
            return self.refresh_learned_pair(id);
        }
        self.tunnels()?.set(id, t.to_info(), 0)?;
        // The decap records' copy of the hot fields (enabled, kind) follows,
        // the learned pair's too.
        self.insert_decap(&key, t.decap_ref(id), 0)?;
        self.refresh_learned_pair(id)
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
        for kv in self.by_v4()?.iter() {
            let (k, v) = kv?;
            snap.pairs.push((DecapKey::V4(k), v));
        }
        for kv in self.by_id6()?.iter() {
            let (k, v) = kv?;
            snap.pairs.push((DecapKey::Identity(k), v));
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
    pub fn put_pair(&mut self, key: DecapKey, value: DecapRef) -> Result<()> {
        self.insert_decap(&key, value, 0)?;
        Ok(())
    }
    pub fn remove_pair(&mut self, key: &DecapKey) -> Result<()> {
        self.remove_decap(key)
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
        let key = decap_key_of(&info);
        // The PoP's address is `prefix::1`: its first 64 bits are the /64.
        let net = u128::from_be_bytes(info.pop_v6) & !(u64::MAX as u128);
        let prefix = Ipv6Prefix::new(std::net::Ipv6Addr::from(net), 64)?;
        self.remove_decap(&key)?;
        self.forget_learned_pair(id)?;
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

/// The decap key of an installed tunnel, from its own entry.
fn decap_key_of(info: &TunnelInfo) -> DecapKey {
    match info.kind {
        TUNNEL_KIND_AYIYA | TUNNEL_KIND_HEARTBEAT => {
            // The user is `prefix::2`.
            let mut user = info.pop_v6;
            user[8..].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
            DecapKey::Identity(user)
        }
        _ => DecapKey::V4(TunnelV4Key {
            local: info.local_v4,
            remote: info.remote_v4,
        }),
    }
}

/// What a tunnel's decap key is, for messages.
fn describe(t: &Tunnel) -> String {
    match t.kind {
        Kind::Sixin4 => format!("{} -> {}", t.local, t.remote),
        Kind::Ayiya { .. } | Kind::Heartbeat { .. } => {
            format!("identity {}", t.user_address())
        }
    }
}
