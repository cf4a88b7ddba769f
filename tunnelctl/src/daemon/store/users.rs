//! TIC users and tunnel owners (schema 5). A user's password is kept as
//! md5hex(password) only: what TIC's challenge-response needs.

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub full_name: Option<String>,
    /// md5hex(password), lowercase.
    pub password_md5: String,
}

/// Adds a user; `false` if the name is taken.
pub fn insert_user(tx: &Transaction, u: &UserRow) -> Result<bool> {
    let n = tx.execute(
        "INSERT OR IGNORE INTO users (name, full_name, password_md5) VALUES (?1, ?2, ?3)",
        params![u.name, u.full_name, u.password_md5],
    )?;
    Ok(n == 1)
}

/// Deletes a user; `false` if there was none. The caller checks first
/// that the user owns no tunnel (the foreign key would refuse it).
pub fn delete_user(tx: &Transaction, name: &str) -> Result<bool> {
    Ok(tx.execute("DELETE FROM users WHERE name = ?1", params![name])? == 1)
}

pub fn user(conn: &Connection, name: &str) -> Result<Option<UserRow>> {
    Ok(conn
        .query_row(
            "SELECT name, full_name, password_md5 FROM users WHERE name = ?1",
            params![name],
            |r| {
                Ok(UserRow {
                    name: r.get(0)?,
                    full_name: r.get(1)?,
                    password_md5: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// Every user, sorted by name, with the ids of the tunnels each owns.
pub fn users(conn: &Connection) -> Result<Vec<(UserRow, Vec<u32>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT name, full_name, password_md5 FROM users ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok(UserRow {
            name: r.get(0)?,
            full_name: r.get(1)?,
            password_md5: r.get(2)?,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        let u = row?;
        let owned = owned_tunnels(conn, &u.name)?;
        out.push((u, owned));
    }
    Ok(out)
}

/// The ids of the tunnels `name` owns, sorted.
pub fn owned_tunnels(conn: &Connection, name: &str) -> Result<Vec<u32>> {
    let mut stmt =
        conn.prepare_cached("SELECT tunnel FROM tunnel_owners WHERE user = ?1 ORDER BY tunnel")?;
    let ids = stmt.query_map(params![name], |r| r.get(0))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}

/// Sets (`Some`) or clears (`None`) the owner of tunnel `id`.
pub fn set_owner(tx: &Transaction, id: u32, owner: Option<&str>) -> Result<()> {
    match owner {
        None => tx.execute("DELETE FROM tunnel_owners WHERE tunnel = ?1", params![id])?,
        Some(u) => tx.execute(
            "INSERT OR REPLACE INTO tunnel_owners (tunnel, user) VALUES (?1, ?2)",
            params![id, u],
        )?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::store::{self, Store};

    fn john() -> UserRow {
        UserRow {
            name: "JOHN1-SIXXS".into(),
            full_name: Some("John Doe".into()),
            password_md5: "8ac4253450b2e0eccdfe0fa24036b6d5".into(),
        }
    }

    /// Users round-trip, an owner goes with its tunnel, and a user who
    /// owns a tunnel cannot be deleted under it (the foreign key).
    #[test]
    fn users_and_owners() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("state.db")).unwrap();
        let tx = s.transaction().unwrap();
        assert!(insert_user(&tx, &john()).unwrap());
        assert!(!insert_user(&tx, &john()).unwrap(), "a name twice");
        let t: crate::api::TunnelSpec = serde_json::from_value(serde_json::json!({
            "id": 3, "kind": "ayiya", "local": "192.0.2.1", "prefix": "2001:db8:3::/64",
            "secret": "pw", "owner": "JOHN1-SIXXS",
        }))
        .unwrap();
        store::insert_tunnel(&tx, &t).unwrap();
        tx.commit().unwrap();
        assert_eq!(s.tunnel(3).unwrap().unwrap(), t);
        assert_eq!(user(s.conn(), "JOHN1-SIXXS").unwrap(), Some(john()));
        assert_eq!(user(s.conn(), "john1-sixxs").unwrap(), None);
        assert_eq!(users(s.conn()).unwrap(), vec![(john(), vec![3])]);

        let tx = s.transaction().unwrap();
        assert!(delete_user(&tx, "JOHN1-SIXXS").is_err(), "owner deleted");
        drop(tx);
        // An owner that is no user is refused by the store too.
        let tx = s.transaction().unwrap();
        assert!(set_owner(&tx, 3, Some("NOBODY")).is_err());
        drop(tx);
        let tx = s.transaction().unwrap();
        set_owner(&tx, 3, None).unwrap();
        assert_eq!(store::read_tunnels(&tx, Some(3)).unwrap()[0].owner, None);
        set_owner(&tx, 3, Some("JOHN1-SIXXS")).unwrap();
        // The tunnel takes its owner row along.
        store::delete_tunnel(&tx, 3).unwrap();
        assert_eq!(
            owned_tunnels(&tx, "JOHN1-SIXXS").unwrap(),
            Vec::<u32>::new()
        );
        assert!(delete_user(&tx, "JOHN1-SIXXS").unwrap());
        assert!(!delete_user(&tx, "JOHN1-SIXXS").unwrap());
        tx.commit().unwrap();
        assert!(users(s.conn()).unwrap().is_empty());
    }
}
