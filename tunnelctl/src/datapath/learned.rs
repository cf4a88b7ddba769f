//! Endpoints learned from heartbeats: the remote IPv4 of a dynamic tunnel
//! (kind heartbeat or AYIYA) taken from a valid beat (`daemon::heartbeat`).
//!
//! A beat writes two things (ayiya-spec.md §2.1):
//! - `ENDPOINTS[id]`: where the PoP sends the tunnel's packets (via =
//!   heartbeat: proto-41 to `remote`, from `local`), stamped with
//!   `CLOCK_BOOTTIME` as the data path stamps what it learns;
//! - `TUN_BY_V4[(local, remote)]`: so that proto-41 from the user's
//!   address decapsulates into the tunnel. The value carries the tunnel's
//!   own kind (heartbeat or AYIYA: a beat moves an AYIYA user to proto-41,
//!   as sixxsd does); 6in4 decapsulation takes any kind it finds there.
//!
//! Each tunnel has at most one learned pair. `learned` mirrors them in
//! memory (rebuilt by reconciliation from `ENDPOINTS`, [`Datapath::
//! learned_beat_key`]), so that a move finds the old pair to remove and a
//! pair found in `TUN_BY_V4` can be told apart from configuration: a
//! configured pair (a static 6in4 tunnel) is never overwritten by a beat,
//! and a beat's pair gives way to configuration.

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::Result;
use tunnel_common::tunnel::{
    learns_endpoint, DecapRef, Endpoint, TunnelV4Key, ENDPOINT_V4, ENDPOINT_VIA_HEARTBEAT,
};

use super::{clock, Datapath, DecapKey};
use crate::heartbeat::Refusal;

/// Why a beat was not learned, with the tunnel that holds its pair for
/// `Conflict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotLearned {
    pub reason: Refusal,
    pub holder: Option<u32>,
}

impl NotLearned {
    fn new(reason: Refusal) -> Self {
        Self {
            reason,
            holder: None,
        }
    }
}

/// `ENDPOINTS` holds IPv4 as `::ffff:a.b.c.d`.
fn mapped(a: [u8; 4]) -> [u8; 16] {
    Ipv4Addr::from(a).to_ipv6_mapped().octets()
}

impl Datapath {
    /// Learns that tunnel `id`'s user beats from `remote` to the PoP's
    /// `local`. Returns what was learned before (to tell a first beat, a
    /// move or a switch from AYIYA from a refresh), or why nothing changed:
    /// no tunnel in the slot, not a dynamic kind, disabled, `local` not the
    /// tunnel's, or `(local, remote)` taken by another tunnel (`Conflict`:
    /// a static 6in4 tunnel, or another user behind the same NAT address).
    pub fn learn_beat(
        &mut self,
        id: u32,
        local: Ipv4Addr,
        remote: Ipv4Addr,
    ) -> Result<Result<Option<Endpoint>, NotLearned>> {
        let Some(info) = self.tunnel_info(id)? else {
            return Ok(Err(NotLearned::new(Refusal::UnknownTunnel)));
        };
        if !learns_endpoint(info.kind) {
            return Ok(Err(NotLearned::new(Refusal::NotDynamic)));
        }
        if !info.is_enabled() {
            return Ok(Err(NotLearned::new(Refusal::Disabled)));
        }
        if info.local_v4 != local.octets() {
            return Ok(Err(NotLearned::new(Refusal::WrongLocal)));
        }
        let key = TunnelV4Key {
            local: local.octets(),
            remote: remote.octets(),
        };
        if let Some(other) = self.decap_entry(&DecapKey::V4(key))? {
            if other.id != id {
                return Ok(Err(NotLearned {
                    reason: Refusal::Conflict,
                    holder: Some(other.id),
                }));
            }
        }
        let old_key = self.learned.get(&id).copied();
        let before = self.endpoint(id)?;
        // Decapsulation from the new address first, then sending there,
        // then the old address forgotten: no packet of the move is lost.
        if let Err(e) = self.insert_decap(&DecapKey::V4(key), DecapRef::new(id, &info), 0) {
            // A full map: the old pair makes room for the new one.
            let Some(old) = old_key.filter(|o| *o != key) else {
                return Err(e);
            };
            self.remove_own_pair(id, old)?;
            self.learned.remove(&id);
            self.insert_decap(&DecapKey::V4(key), DecapRef::new(id, &info), 0)?;
        }
        self.learned.insert(id, key);
        let e = Endpoint {
            remote: mapped(key.remote),
            local: mapped(key.local),
            family: ENDPOINT_V4,
            via: ENDPOINT_VIA_HEARTBEAT,
            last_seen_ns: clock::boot_ns()?,
            ..Default::default()
        };
        self.learn_endpoint(id, &e)?;
        if let Some(old) = old_key.filter(|o| *o != key) {
            self.remove_own_pair(id, old)?;
        }
        Ok(Ok(before))
    }

    /// The pair a beat taught tunnel `id`, as `ENDPOINTS` records it (via
    /// heartbeat, IPv4), whether or not `TUN_BY_V4` still has it: what
    /// reconciliation rebuilds.
    pub fn learned_beat_key(&mut self, id: u32) -> Result<Option<TunnelV4Key>> {
        let Some(e) = self.endpoint(id)? else {
            return Ok(None);
        };
        let v4 = |a: [u8; 16]| Ipv6Addr::from(a).to_ipv4_mapped().map(|a| a.octets());
        if e.via != ENDPOINT_VIA_HEARTBEAT || e.family != ENDPOINT_V4 {
            return Ok(None);
        }
        Ok(v4(e.local)
            .zip(v4(e.remote))
            .map(|(local, remote)| TunnelV4Key { local, remote }))
    }

    /// Replaces the in-memory record of learned pairs (reconciliation,
    /// which has just made `TUN_BY_V4` hold exactly these).
    pub fn set_learned_pairs(&mut self, pairs: impl IntoIterator<Item = (u32, TunnelV4Key)>) {
        self.learned = pairs.into_iter().collect();
    }

    /// The learned pair of tunnel `id`, if any.
    pub fn learned_pair(&self, id: u32) -> Option<TunnelV4Key> {
        self.learned.get(&id).copied()
    }

    /// Removes tunnel `id`'s learned pair (the tunnel is removed, or its
    /// user went back to AYIYA).
    pub(super) fn forget_learned_pair(&mut self, id: u32) -> Result<()> {
        if let Some(k) = self.learned.remove(&id) {
            self.remove_own_pair(id, k)?;
        }
        Ok(())
    }

    /// Configuration takes `key`: a beat's pair there gives way (that
    /// user's next beat is refused as `conflict`).
    pub(super) fn evict_learned_pair(&mut self, key: &DecapKey) -> Result<()> {
        let DecapKey::V4(k) = key else {
            return Ok(());
        };
        if let Some(r) = self.decap_entry(key)? {
            if self.learned.get(&r.id) == Some(k) {
                tracing::warn!(
                    tunnel = r.id,
                    local = %Ipv4Addr::from(k.local),
                    remote = %Ipv4Addr::from(k.remote),
                    "a configured tunnel takes the address pair a heartbeat taught this tunnel: its proto-41 from there is no longer taken"
                );
                self.forget_learned_pair(r.id)?;
            }
        }
        Ok(())
    }

    /// After tunnel `id`'s entry changed (enabled, flags): its learned
    /// pair's copy of them follows.
    pub(super) fn refresh_learned_pair(&mut self, id: u32) -> Result<()> {
        let (Some(k), Some(info)) = (self.learned.get(&id).copied(), self.tunnel_info(id)?) else {
            return Ok(());
        };
        self.insert_decap(&DecapKey::V4(k), DecapRef::new(id, &info), 0)
    }

    /// Drops learned pairs that no longer say where their user is: the
    /// tunnel's last valid packet came over AYIYA since (the data path
    /// rewrote `ENDPOINTS`), so proto-41 from the old address is no longer
    /// its user's. Returns how many went.
    pub fn sweep_learned_pairs(&mut self) -> Result<usize> {
        let mut stale = Vec::new();
        for (&id, &k) in &self.learned {
            stale.push((id, k));
        }
        let mut n = 0;
        for (id, k) in stale {
            if self.learned_beat_key(id)? != Some(k) {
                self.learned.remove(&id);
                self.remove_own_pair(id, k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes `TUN_BY_V4[k]` if it leads to tunnel `id` (never another's).
    fn remove_own_pair(&mut self, id: u32, k: TunnelV4Key) -> Result<()> {
        let key = DecapKey::V4(k);
        if self.decap_entry(&key)?.is_some_and(|r| r.id == id) {
            self.remove_decap(&key)?;
        }
        Ok(())
    }
}
