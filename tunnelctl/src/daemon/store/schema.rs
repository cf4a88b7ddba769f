//! The store's schema and its migrations. Version n is reached from n - 1
//! by `STEPS[n - 1]`; a new database goes through every step, so the path an
//! old PoP's database takes on upgrade is the one every database takes.
//! Steps are never edited once released: a change is a new step.

use anyhow::{bail, Context, Result};
use rusqlite::Connection;

pub const VERSION: i64 = 6;

const STEPS: [&str; VERSION as usize] = [
    SCHEMA_1,
    MIGRATE_1_TO_2,
    MIGRATE_2_TO_3,
    MIGRATE_3_TO_4,
    MIGRATE_4_TO_5,
    MIGRATE_5_TO_6,
];

/// 1: 6in4 tunnels and their routed prefixes.
const SCHEMA_1: &str = "CREATE TABLE tunnels (
        id INTEGER PRIMARY KEY,
        local TEXT NOT NULL,
        remote TEXT NOT NULL,
        prefix TEXT NOT NULL UNIQUE,
        mtu INTEGER NOT NULL,
        ttl INTEGER NOT NULL,
        pmtudisc INTEGER NOT NULL,
        enabled INTEGER NOT NULL,
        UNIQUE (local, remote)
     );
     CREATE TABLE routed (
        prefix TEXT PRIMARY KEY,
        tunnel INTEGER NOT NULL REFERENCES tunnels(id) ON DELETE CASCADE
     );";

/// 1 → 2: the NDP proxy (tunnels' `proxy_ndp`, manual entries).
const MIGRATE_1_TO_2: &str = "ALTER TABLE tunnels ADD COLUMN proxy_ndp INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE proxies (
        target TEXT NOT NULL,
        uplink TEXT NOT NULL,
        router INTEGER NOT NULL,
        PRIMARY KEY (target, uplink)
     );";

/// 2 → 3: tunnel kinds. A `kind` (every existing tunnel is 6in4), a
/// `remote` that may be NULL (learned, for heartbeat and AYIYA tunnels), a
/// `secret` (their password or key); the outer pair unique only among
/// static 6in4 tunnels, by a partial index instead of the table constraint.
/// SQLite cannot drop a constraint in place, so the table is rebuilt (its
/// documented procedure: new table, copy, drop, rename), with foreign keys
/// off so that dropping the old table does not cascade into `routed`.
const MIGRATE_2_TO_3: &str = "CREATE TABLE tunnels_v3 (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        local TEXT NOT NULL,
        remote TEXT,
        prefix TEXT NOT NULL UNIQUE,
        mtu INTEGER NOT NULL,
        ttl INTEGER NOT NULL,
        pmtudisc INTEGER NOT NULL,
        enabled INTEGER NOT NULL,
        proxy_ndp INTEGER NOT NULL DEFAULT 0,
        secret TEXT
     );
     INSERT INTO tunnels_v3 (id, kind, local, remote, prefix, mtu, ttl, pmtudisc, enabled, proxy_ndp)
        SELECT id, 'sixin4', local, remote, prefix, mtu, ttl, pmtudisc, enabled, proxy_ndp
        FROM tunnels;
     DROP TABLE tunnels;
     ALTER TABLE tunnels_v3 RENAME TO tunnels;
     CREATE UNIQUE INDEX tunnels_static_pair ON tunnels (local, remote) WHERE kind = 'sixin4';";

/// 3 → 4: stateless NAT64. Its settings in a table of at most one row
/// (no row: no pool6), and the explicit address mappings, each side
/// unique (overlaps are refused by the daemon before it writes).
const MIGRATE_3_TO_4: &str = "CREATE TABLE nat64 (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        pool6 TEXT NOT NULL,
        wkp_strict INTEGER NOT NULL,
        udp_zero_checksum TEXT NOT NULL,
        icmp_source TEXT
     );
     CREATE TABLE eams (
        v6 TEXT PRIMARY KEY,
        v4 TEXT NOT NULL UNIQUE
     );";

/// 4 → 5: TIC users and tunnel owners. A user's password is kept only as
/// TIC's login needs it: md5hex(password), lowercase (ayiya-spec.md §2.2;
/// never the cleartext). The owner is a table of its own, not a column of
/// `tunnels`, so that other steps rebuilding or extending `tunnels` never
/// meet it; it goes with its tunnel, and a user who owns a tunnel cannot
/// go (the daemon says so before the foreign key would).
const MIGRATE_4_TO_5: &str = "CREATE TABLE users (
        name TEXT PRIMARY KEY,
        full_name TEXT,
        password_md5 TEXT NOT NULL
     );
     CREATE TABLE tunnel_owners (
        tunnel INTEGER PRIMARY KEY REFERENCES tunnels(id) ON DELETE CASCADE,
        user TEXT NOT NULL REFERENCES users(name)
     );
     CREATE INDEX tunnel_owners_user ON tunnel_owners (user);";

/// 5 → 6: update keys (`/nic/update`), one per static 6in4 tunnel at
/// most, kept as their SHA-256 only (`sha256:<hex>`), in a table of their
/// own so that the tunnels table and its readers stay as they were; they
/// go with their tunnel.
const MIGRATE_5_TO_6: &str = "CREATE TABLE update_keys (
        tunnel INTEGER PRIMARY KEY REFERENCES tunnels(id) ON DELETE CASCADE,
        key_sha256 TEXT NOT NULL
     );";

/// Brings the database to `VERSION`, all steps in one transaction, and
/// leaves foreign keys on. A database newer than this build is refused,
/// never read.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if v > VERSION {
        bail!("schema version {v} is newer than this tunnelctl's ({VERSION}): run the release that wrote it");
    }
    if v < VERSION {
        // Not inside the transaction: SQLite ignores this pragma there.
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        let tx = conn.transaction()?;
        for (i, step) in STEPS.iter().enumerate().skip(v as usize) {
            tx.execute_batch(step)
                .with_context(|| format!("migrating to schema {}", i + 1))?;
        }
        if tx.prepare("PRAGMA foreign_key_check")?.exists([])? {
            bail!("migrating to schema {VERSION}: foreign keys broken; nothing changed");
        }
        tx.pragma_update(None, "user_version", VERSION)?;
        tx.commit()
            .with_context(|| format!("migrating to schema {VERSION}"))?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

#[cfg(test)]
mod tests;
