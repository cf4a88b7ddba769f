//! The daemon's state: SQLite (one file, transactional, crash-safe with the
//! WAL journal). The store is written first; maps follow; on start the
//! store is reconciled into the maps, so a crash between the two never
//! leaves a tunnel half-configured for longer than a restart.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    path::Path,
};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::{
    api::{EamSpec, Nat64Spec, Pool6Spec, TunnelKind, TunnelSpec, UdpZeroChecksum},
    prefix::Ipv6Prefix,
};

mod schema;
mod users;

pub use users::{delete_user, insert_user, owned_tunnels, set_owner, user, users, UserRow};

pub struct Store {
    conn: Connection,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut conn =
            Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        schema::migrate(&mut conn).with_context(|| format!("{}", path.display()))?;
        Ok(Self { conn })
    }

    /// Reads outside a transaction (the committed state).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Ok(self.conn.transaction()?)
    }

    pub fn tunnels(&self) -> Result<Vec<TunnelSpec>> {
        read_tunnels(&self.conn, None)
    }

    pub fn tunnel(&self, id: u32) -> Result<Option<TunnelSpec>> {
        Ok(read_tunnels(&self.conn, Some(id))?.pop())
    }

    /// The committed NAT64 configuration.
    pub fn nat64(&self) -> Result<Nat64Spec> {
        read_nat64(&self.conn)
    }

    /// (tunnels, prefixes: each tunnel's /64 plus the routed ones).
    pub fn count(&self) -> Result<(u64, u64)> {
        count(&self.conn)
    }

    /// The largest tunnel MTU; `None` without tunnels.
    /// The tunnel whose packets are the largest once encapsulated: its
    /// MTU and its kind (none when there are no tunnels).
    pub fn largest_tunnel(&self) -> Result<Option<(u16, TunnelKind)>> {
        let mut best: Option<(u16, TunnelKind)> = None;
        let mut q = self
            .conn
            .prepare("SELECT kind, max(mtu) FROM tunnels GROUP BY kind")?;
        let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u16>(1)?)))?;
        for row in rows {
            let (kind, mtu) = row?;
            let Some(kind) = TunnelKind::ALL.into_iter().find(|k| k.name() == kind) else {
                continue;
            };
            let outer = |(m, k): (u16, TunnelKind)| u32::from(m) + k.outer_overhead();
            if best.is_none_or(|b| outer((mtu, kind)) > outer(b)) {
                best = Some((mtu, kind));
            }
        }
        Ok(best)
    }
}

/// (tunnels, prefixes) as `conn` sees them (inside a transaction: with
/// its changes).
pub fn count(conn: &Connection) -> Result<(u64, u64)> {
    let t: i64 = conn.query_row("SELECT count(*) FROM tunnels", [], |r| r.get(0))?;
    let p: i64 = conn.query_row("SELECT count(*) FROM routed", [], |r| r.get(0))?;
    Ok((t as u64, (t + p) as u64))
}

/// Every tunnel (`None`) or one, as `conn` sees them, sorted by id.
pub fn read_tunnels(conn: &Connection, only: Option<u32>) -> Result<Vec<TunnelSpec>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.id, t.kind, t.local, t.remote, t.prefix, t.mtu, t.ttl, t.pmtudisc, t.enabled,
         t.proxy_ndp, t.secret, o.user, k.key_sha256
         FROM tunnels t LEFT JOIN tunnel_owners o ON o.tunnel = t.id
         LEFT JOIN update_keys k ON k.tunnel = t.id
         WHERE ?1 IS NULL OR t.id = ?1 ORDER BY t.id",
    )?;
    let rows = stmt.query_map(params![only], |r| {
        Ok((
            (
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ),
            (
                r.get::<_, u16>(5)?,
                r.get::<_, u8>(6)?,
                r.get::<_, bool>(7)?,
                r.get::<_, bool>(8)?,
                r.get::<_, bool>(9)?,
                r.get::<_, Option<String>>(10)?,
                r.get::<_, Option<String>>(11)?,
                r.get::<_, Option<String>>(12)?,
            ),
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (
            (id, kind, local, remote, prefix),
            (mtu, ttl, pmtudisc, enabled, proxy_ndp, secret, owner, update_key),
        ) = row?;
        let remote = match remote {
            Some(r) => Some(r.parse().context("stored remote address")?),
            None => None,
        };
        out.push(TunnelSpec {
            id,
            kind: kind
                .parse()
                .map_err(|e| anyhow::anyhow!("stored tunnel {id}: {e}"))?,
            local: local.parse().context("stored local address")?,
            remote,
            prefix: prefix.parse().context("stored prefix")?,
            mtu,
            ttl,
            pmtudisc,
            enabled,
            routed: Vec::new(),
            proxy_ndp,
            secret,
            owner,
            update_key,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT prefix, tunnel FROM routed WHERE ?1 IS NULL OR tunnel = ?1 ORDER BY prefix",
    )?;
    let routed = stmt.query_map(params![only], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
    })?;
    for row in routed {
        let (p, id) = row?;
        // `out` is sorted by id: a search, not a scan per prefix (bulk
        // applies read 100k tunnels).
        if let Ok(i) = out.binary_search_by_key(&id, |t| t.id) {
            out[i]
                .routed
                .push(p.parse().context("stored routed prefix")?);
        }
    }
    Ok(out)
}

/// The tunnel a routed prefix belongs to.
pub fn routed_owner(conn: &Connection, p: &Ipv6Prefix) -> Result<Option<u32>> {
    Ok(conn
        .query_row(
            "SELECT tunnel FROM routed WHERE prefix = ?1",
            params![p.to_string()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Writes inside a transaction (the caller commits after the maps agree).
pub fn insert_tunnel(tx: &Transaction, t: &TunnelSpec) -> Result<()> {
    tx.execute(
        "INSERT INTO tunnels (id, kind, local, remote, prefix, mtu, ttl, pmtudisc, enabled,
         proxy_ndp, secret) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            t.id,
            t.kind.name(),
            t.local.to_string(),
            t.remote.map(|r| r.to_string()),
            t.prefix.to_string(),
            t.mtu,
            t.ttl,
            t.pmtudisc,
            t.enabled,
            t.proxy_ndp,
            t.secret
        ],
    )?;
    for p in &t.routed {
        insert_routed(tx, t.id, p)?;
    }
    if let Some(u) = &t.owner {
        set_owner(tx, t.id, Some(u))?;
    }
    // A new tunnel has no row to delete (its id's went with the old tunnel).
    if t.update_key.is_some() {
        write_update_key(tx, t)?;
    }
    Ok(())
}

/// The tunnel's update key row: written as `t` has it (its stored form,
/// `secrets::stored`), or deleted when it has none.
fn write_update_key(tx: &Transaction, t: &TunnelSpec) -> Result<()> {
    match &t.update_key {
        Some(k) => tx.execute(
            "INSERT OR REPLACE INTO update_keys (tunnel, key_sha256) VALUES (?1, ?2)",
            params![t.id, k],
        )?,
        None => tx.execute("DELETE FROM update_keys WHERE tunnel = ?1", params![t.id])?,
    };
    Ok(())
}

/// What `tunnel set` can change (not the id, kind, local address or /64).
pub fn update_tunnel(tx: &Transaction, t: &TunnelSpec) -> Result<()> {
    tx.execute(
        "UPDATE tunnels SET remote = ?2, mtu = ?3, ttl = ?4, pmtudisc = ?5, enabled = ?6,
         proxy_ndp = ?7, secret = ?8 WHERE id = ?1",
        params![
            t.id,
            t.remote.map(|r| r.to_string()),
            t.mtu,
            t.ttl,
            t.pmtudisc,
            t.enabled,
            t.proxy_ndp,
            t.secret
        ],
    )?;
    set_owner(tx, t.id, t.owner.as_deref())?;
    write_update_key(tx, t)
}

pub fn delete_tunnel(tx: &Transaction, id: u32) -> Result<()> {
    tx.execute("DELETE FROM tunnels WHERE id = ?1", params![id])?;
    Ok(())
}

pub fn insert_routed(tx: &Transaction, id: u32, p: &Ipv6Prefix) -> Result<()> {
    tx.execute(
        "INSERT INTO routed (prefix, tunnel) VALUES (?1, ?2)",
        params![p.to_string(), id],
    )?;
    Ok(())
}

pub fn delete_routed(tx: &Transaction, p: &Ipv6Prefix) -> Result<Option<u32>> {
    let id = routed_owner(tx, p)?;
    tx.execute(
        "DELETE FROM routed WHERE prefix = ?1",
        params![p.to_string()],
    )?;
    Ok(id)
}

/// Which static 6in4 tunnel, if any, has the outer pair (learned remotes
/// are not configuration, and may be shared).
pub fn tunnel_by_pair(tx: &Transaction, local: Ipv4Addr, remote: Ipv4Addr) -> Result<Option<u32>> {
    Ok(tx
        .query_row(
            "SELECT id FROM tunnels WHERE local = ?1 AND remote = ?2 AND kind = ?3",
            params![
                local.to_string(),
                remote.to_string(),
                TunnelKind::Sixin4.name()
            ],
            |r| r.get(0),
        )
        .optional()?)
}

/// All prefixes in use with their tunnel (for overlap checks).
pub fn all_prefixes(tx: &Transaction) -> Result<Vec<(Ipv6Prefix, u32)>> {
    let mut out = Vec::new();
    let mut stmt = tx.prepare_cached(
        "SELECT prefix, id FROM tunnels UNION ALL SELECT prefix, tunnel FROM routed",
    )?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))? {
        let (p, id) = row?;
        out.push((p.parse().context("stored prefix")?, id));
    }
    Ok(out)
}

/// A manual proxy row: (target, uplink, router).
pub type ProxyRow = (Ipv6Addr, String, bool);

/// Adds a manual proxy entry; `false` if (target, uplink) is already there.
pub fn insert_proxy(tx: &Transaction, row: &ProxyRow) -> Result<bool> {
    let n = tx.execute(
        "INSERT OR IGNORE INTO proxies (target, uplink, router) VALUES (?1, ?2, ?3)",
        params![row.0.to_string(), row.1, row.2],
    )?;
    Ok(n == 1)
}

/// Deletes manual entries for `target` (on `uplink`, or on all); returns
/// how many there were.
pub fn delete_proxy(tx: &Transaction, target: Ipv6Addr, uplink: Option<&str>) -> Result<usize> {
    Ok(tx.execute(
        "DELETE FROM proxies WHERE target = ?1 AND (?2 IS NULL OR uplink = ?2)",
        params![target.to_string(), uplink],
    )?)
}

/// Every manual proxy entry, sorted.
pub fn proxies(conn: &Connection) -> Result<Vec<ProxyRow>> {
    let mut stmt =
        conn.prepare_cached("SELECT target, uplink, router FROM proxies ORDER BY target, uplink")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (t, u, r) = row?;
        out.push((t.parse().context("stored proxy target")?, u, r));
    }
    Ok(out)
}

/// (id, /64) of the tunnels with `proxy_ndp`.
pub fn proxied_tunnels(conn: &Connection) -> Result<Vec<(u32, Ipv6Prefix)>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, prefix FROM tunnels WHERE proxy_ndp ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, p) = row?;
        out.push((id, p.parse().context("stored prefix")?));
    }
    Ok(out)
}

/// pool6 and its settings, if set.
pub fn read_pool6(conn: &Connection) -> Result<Option<Pool6Spec>> {
    let row = conn
        .query_row(
            "SELECT pool6, wkp_strict, udp_zero_checksum, icmp_source FROM nat64 WHERE id = 0",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((prefix, wkp_strict, udp0, icmp_source)) = row else {
        return Ok(None);
    };
    let udp_zero_checksum = match udp0.as_str() {
        "compute" => UdpZeroChecksum::Compute,
        "drop" => UdpZeroChecksum::Drop,
        other => anyhow::bail!("stored udp_zero_checksum {other:?}"),
    };
    Ok(Some(Pool6Spec {
        prefix: prefix.parse().context("stored pool6")?,
        wkp_strict,
        udp_zero_checksum,
        icmp_source: icmp_source
            .map(|a| a.parse().context("stored icmp_source"))
            .transpose()?,
    }))
}

/// Sets (`Some`) or clears (`None`) pool6.
pub fn write_pool6(tx: &Transaction, p: Option<&Pool6Spec>) -> Result<()> {
    match p {
        None => tx.execute("DELETE FROM nat64", [])?,
        Some(p) => tx.execute(
            "INSERT OR REPLACE INTO nat64 (id, pool6, wkp_strict, udp_zero_checksum, icmp_source)
             VALUES (0, ?1, ?2, ?3, ?4)",
            params![
                p.prefix.to_string(),
                p.wkp_strict,
                p.udp_zero_checksum.name(),
                p.icmp_source.map(|a| a.to_string())
            ],
        )?,
    };
    Ok(())
}

/// Every explicit address mapping, sorted by IPv6 side.
pub fn read_eams(conn: &Connection) -> Result<Vec<EamSpec>> {
    let mut stmt = conn.prepare_cached("SELECT v6, v4 FROM eams")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (v6, v4) = row?;
        out.push(EamSpec {
            v6: v6.parse().context("stored EAM IPv6 side")?,
            v4: v4.parse().context("stored EAM IPv4 side")?,
        });
    }
    out.sort_by_key(|e| (u128::from(e.v6.addr()), e.v6.len()));
    Ok(out)
}

/// pool6 and the mappings, as `conn` sees them.
pub fn read_nat64(conn: &Connection) -> Result<Nat64Spec> {
    Ok(Nat64Spec {
        pool6: read_pool6(conn)?,
        eams: read_eams(conn)?,
    })
}

pub fn insert_eam(tx: &Transaction, e: &EamSpec) -> Result<()> {
    tx.execute(
        "INSERT INTO eams (v6, v4) VALUES (?1, ?2)",
        params![e.v6.to_string(), e.v4.to_string()],
    )?;
    Ok(())
}

/// Deletes the mapping whose IPv6 side is `v6` (and, if given, whose IPv4
/// side is `v4`); returns how many there were.
pub fn delete_eam(
    tx: &Transaction,
    v6: &Ipv6Prefix,
    v4: Option<&crate::prefix::Ipv4Prefix>,
) -> Result<usize> {
    Ok(tx.execute(
        "DELETE FROM eams WHERE v6 = ?1 AND (?2 IS NULL OR v4 = ?2)",
        params![v6.to_string(), v4.map(|p| p.to_string())],
    )?)
}

/// Replaces the whole NAT64 configuration (`apply`).
pub fn replace_nat64(tx: &Transaction, n: &Nat64Spec) -> Result<()> {
    write_pool6(tx, n.pool6.as_ref())?;
    tx.execute("DELETE FROM eams", [])?;
    for e in &n.eams {
        insert_eam(tx, e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: u32, remote: &str, prefix: &str) -> TunnelSpec {
        TunnelSpec {
            id,
            kind: TunnelKind::Sixin4,
            local: "192.0.2.1".parse().unwrap(),
            remote: Some(remote.parse().unwrap()),
            prefix: prefix.parse().unwrap(),
            mtu: 1480,
            ttl: 64,
            pmtudisc: true,
            enabled: true,
            routed: vec!["2001:db8:100::/48".parse().unwrap()],
            proxy_ndp: false,
            secret: None,
            owner: None,
            update_key: None,
        }
    }

    #[test]
    fn round_trip_and_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("state.db")).unwrap();
        let t = spec(1, "198.51.100.2", "2001:db8:1::/64");
        assert_eq!(s.largest_tunnel().unwrap(), None);
        let tx = s.transaction().unwrap();
        insert_tunnel(&tx, &t).unwrap();
        tx.commit().unwrap();
        assert_eq!(s.tunnels().unwrap(), vec![t.clone()]);
        assert_eq!(
            s.largest_tunnel().unwrap(),
            Some((1480, TunnelKind::Sixin4))
        );
        // An AYIYA tunnel of MTU 1440 makes larger packets (1440 + 72)
        // than 6in4's 1480 + 20 (the store takes any MTU; validation
        // caps AYIYA at 1428 before it).
        let tx = s.transaction().unwrap();
        let mut a = spec(3, "198.51.100.4", "2001:db8:3::/64");
        (a.kind, a.remote, a.secret, a.mtu) = (TunnelKind::Ayiya, None, Some("k".into()), 1440);
        a.routed.clear();
        insert_tunnel(&tx, &a).unwrap();
        tx.commit().unwrap();
        assert_eq!(s.largest_tunnel().unwrap(), Some((1440, TunnelKind::Ayiya)));
        let tx = s.transaction().unwrap();
        delete_tunnel(&tx, 3).unwrap();
        tx.commit().unwrap();
        // A transaction dropped without commit leaves nothing behind.
        {
            let tx = s.transaction().unwrap();
            let mut t2 = spec(2, "198.51.100.3", "2001:db8:2::/64");
            t2.routed.clear();
            insert_tunnel(&tx, &t2).unwrap();
        }
        assert_eq!(s.tunnels().unwrap().len(), 1);
        // Deleting the tunnel deletes its routed prefixes.
        let tx = s.transaction().unwrap();
        delete_tunnel(&tx, 1).unwrap();
        tx.commit().unwrap();
        assert_eq!(s.count().unwrap(), (0, 0));
        drop(s);
        // Reopening keeps the schema.
        Store::open(&dir.path().join("state.db")).unwrap();
    }

    #[test]
    fn uniqueness_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("state.db")).unwrap();
        let tx = s.transaction().unwrap();
        insert_tunnel(&tx, &spec(1, "198.51.100.2", "2001:db8:1::/64")).unwrap();
        let mut dup_pair = spec(2, "198.51.100.2", "2001:db8:2::/64");
        dup_pair.routed.clear();
        assert!(insert_tunnel(&tx, &dup_pair).is_err());
    }

    #[test]
    fn schema_1_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE tunnels (id INTEGER PRIMARY KEY, local TEXT NOT NULL,
                    remote TEXT NOT NULL, prefix TEXT NOT NULL UNIQUE, mtu INTEGER NOT NULL,
                    ttl INTEGER NOT NULL, pmtudisc INTEGER NOT NULL, enabled INTEGER NOT NULL,
                    UNIQUE (local, remote));
                 CREATE TABLE routed (prefix TEXT PRIMARY KEY,
                    tunnel INTEGER NOT NULL REFERENCES tunnels(id) ON DELETE CASCADE);
                 INSERT INTO tunnels VALUES (1, '192.0.2.1', '198.51.100.2', '2001:db8:1::/64',
                    1480, 64, 1, 1);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        let t = s.tunnel(1).unwrap().unwrap();
        assert!(!t.proxy_ndp);
        let tx = s.transaction().unwrap();
        let row = ("2001:db8::5".parse().unwrap(), "eth0".to_owned(), true);
        assert!(insert_proxy(&tx, &row).unwrap());
        assert!(!insert_proxy(&tx, &row).unwrap(), "duplicate accepted");
        tx.commit().unwrap();
        assert_eq!(proxies(s.conn()).unwrap(), vec![row.clone()]);
        let tx = s.transaction().unwrap();
        assert_eq!(delete_proxy(&tx, row.0, Some("eth1")).unwrap(), 0);
        assert_eq!(delete_proxy(&tx, row.0, None).unwrap(), 1);
    }

    #[test]
    fn proxied_tunnels_follow_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("state.db")).unwrap();
        let mut t = spec(1, "198.51.100.2", "2001:db8:1::/64");
        t.proxy_ndp = true;
        let tx = s.transaction().unwrap();
        insert_tunnel(&tx, &t).unwrap();
        insert_tunnel(&tx, &{
            let mut u = spec(2, "198.51.100.3", "2001:db8:2::/64");
            u.routed.clear();
            u
        })
        .unwrap();
        tx.commit().unwrap();
        assert_eq!(
            proxied_tunnels(s.conn()).unwrap(),
            vec![(1, "2001:db8:1::/64".parse().unwrap())]
        );
        assert_eq!(s.tunnel(1).unwrap().unwrap(), t);
    }

    #[test]
    fn nat64_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("state.db")).unwrap();
        assert_eq!(s.nat64().unwrap(), Nat64Spec::default());
        let pool6 = Pool6Spec {
            prefix: "64:ff9b::/96".parse().unwrap(),
            wkp_strict: false,
            udp_zero_checksum: UdpZeroChecksum::Compute,
            icmp_source: Some("192.0.2.1".parse().unwrap()),
        };
        let e1 = EamSpec {
            v6: "2001:db8:6::/120".parse().unwrap(),
            v4: "192.0.2.0/24".parse().unwrap(),
        };
        let e2 = EamSpec {
            v6: "2001:db8:1::2/128".parse().unwrap(),
            v4: "198.51.100.5/32".parse().unwrap(),
        };
        let tx = s.transaction().unwrap();
        write_pool6(&tx, Some(&pool6)).unwrap();
        insert_eam(&tx, &e1).unwrap();
        insert_eam(&tx, &e2).unwrap();
        // Each side once.
        let same_v4 = EamSpec {
            v6: "2001:db8:7::/120".parse().unwrap(),
            ..e1
        };
        assert!(insert_eam(&tx, &same_v4).is_err());
        tx.commit().unwrap();
        let n = s.nat64().unwrap();
        assert_eq!(n.pool6, Some(pool6));
        assert_eq!(n.eams, vec![e2, e1]);
        let tx = s.transaction().unwrap();
        // A remove naming the wrong IPv4 side removes nothing.
        assert_eq!(delete_eam(&tx, &e1.v6, Some(&e2.v4)).unwrap(), 0);
        assert_eq!(delete_eam(&tx, &e1.v6, Some(&e1.v4)).unwrap(), 1);
        write_pool6(&tx, None).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            s.nat64().unwrap(),
            Nat64Spec {
                pool6: None,
                eams: vec![e2]
            }
        );
        let tx = s.transaction().unwrap();
        replace_nat64(&tx, &Nat64Spec::default()).unwrap();
        tx.commit().unwrap();
        assert_eq!(s.nat64().unwrap(), Nat64Spec::default());
    }
}
