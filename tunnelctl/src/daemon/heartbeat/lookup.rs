//! Which tunnel a beat names: its identity must be exactly the `::2` of a
//! tunnel's /64 (as the AYIYA path requires of its identity, `TUN_BY_ID6`).
//! Read from the store through a read-only connection of the listener's
//! own, so that a flood of beats never waits for, or holds up, the engine
//! (whose lock API requests share); only a beat that passed every check
//! takes the engine's lock, to learn.

use std::{net::Ipv6Addr, path::Path};

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::{api::TunnelSpec, daemon::store, prefix::Ipv6Prefix};

pub struct Lookup {
    conn: Connection,
}

/// The /64 whose `::2` is `identity`; `None` for any other address.
pub fn user_prefix(identity: Ipv6Addr) -> Option<Ipv6Prefix> {
    let bits = u128::from(identity);
    let net = bits & !(u64::MAX as u128);
    (bits == net | 2)
        .then(|| Ipv6Prefix::new(Ipv6Addr::from(net), 64).ok())
        .flatten()
}

impl Lookup {
    /// Opens the daemon's store read-only (WAL: readers see each commit,
    /// and never block the writer).
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {} read-only for heartbeats", path.display()))?;
        Ok(Self { conn })
    }

    /// The tunnel whose user's address is `identity`, if any.
    pub fn by_identity(&self, identity: Ipv6Addr) -> Result<Option<TunnelSpec>> {
        let Some(p) = user_prefix(identity) else {
            return Ok(None);
        };
        let id: Option<u32> = self
            .conn
            .prepare_cached("SELECT id FROM tunnels WHERE prefix = ?1")?
            .query_row([p.to_string()], |r| r.get(0))
            .optional()?;
        match id {
            Some(id) => Ok(store::read_tunnels(&self.conn, Some(id))?.pop()),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_users_address_names_a_tunnel() {
        let p = |s: &str| user_prefix(s.parse().unwrap()).map(|p| p.to_string());
        assert_eq!(p("2001:db8:1::2").as_deref(), Some("2001:db8:1::/64"));
        assert_eq!(
            p("2001:db8:1:ffff::2").as_deref(),
            Some("2001:db8:1:ffff::/64")
        );
        for other in ["2001:db8:1::1", "2001:db8:1::3", "2001:db8:1::1:2", "::"] {
            assert_eq!(p(other), None, "{other}");
        }
    }

    /// A tunnel added through the store is found by its `::2` (only), from
    /// a read-only connection of its own.
    #[test]
    fn finds_tunnels_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut s = store::Store::open(&path).unwrap();
        let t: TunnelSpec = serde_json::from_str(
            r#"{"id":7,"kind":"heartbeat","local":"192.0.2.1","prefix":"2001:db8:7::/64","secret":"pw"}"#,
        )
        .unwrap();
        let tx = s.transaction().unwrap();
        store::insert_tunnel(&tx, &t).unwrap();
        tx.commit().unwrap();
        let l = Lookup::open(&path).unwrap();
        let found = l.by_identity("2001:db8:7::2".parse().unwrap()).unwrap();
        assert_eq!(
            found.as_ref().map(|t| (t.id, t.secret.as_deref())),
            Some((7, Some("pw")))
        );
        assert!(l
            .by_identity("2001:db8:7::1".parse().unwrap())
            .unwrap()
            .is_none());
        assert!(l
            .by_identity("2001:db8:8::2".parse().unwrap())
            .unwrap()
            .is_none());
        // A commit after the open is seen.
        let tx = s.transaction().unwrap();
        store::delete_tunnel(&tx, 7).unwrap();
        tx.commit().unwrap();
        assert!(l
            .by_identity("2001:db8:7::2".parse().unwrap())
            .unwrap()
            .is_none());
    }
}
