//! TIC's view of the store: a read-only SQLite connection of its own, so
//! that logins never wait for the engine (a long `apply`) and can never
//! write. It reads what was committed (WAL readers see the last commit).

use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};

use super::dialogue::Directory;
use crate::{
    api::TunnelSpec,
    daemon::store::{self, UserRow},
};

/// Opens the store read-only (the daemon has opened and migrated it).
pub fn open(path: &Path) -> Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {} read-only for TIC", path.display()))?;
    // A writer's commit holds the database only for a moment.
    c.busy_timeout(std::time::Duration::from_secs(2))?;
    Ok(c)
}

impl Directory for Connection {
    fn user(&self, name: &str) -> Result<Option<UserRow>> {
        store::user(self, name)
    }

    fn tunnels(&self, owner: &str) -> Result<Vec<TunnelSpec>> {
        let mut out = Vec::new();
        for id in store::owned_tunnels(self, owner)? {
            out.extend(store::read_tunnels(self, Some(id))?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::store::Store;

    /// Through the read-only connection: a user and only the tunnels the
    /// user owns; writes are refused.
    #[test]
    fn reads_users_and_owned_tunnels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut s = Store::open(&path).unwrap();
        let tx = s.transaction().unwrap();
        let u = UserRow {
            name: "JOHN1-SIXXS".into(),
            full_name: None,
            password_md5: "8ac4253450b2e0eccdfe0fa24036b6d5".into(),
        };
        store::insert_user(&tx, &u).unwrap();
        for (id, owner) in [
            (1, Some("JOHN1-SIXXS")),
            (2, None),
            (3, Some("JOHN1-SIXXS")),
        ] {
            let t: TunnelSpec = serde_json::from_value(serde_json::json!({
                "id": id, "kind": "ayiya", "local": "192.0.2.1",
                "prefix": format!("2001:db8:{id}::/64"), "secret": "pw", "owner": owner,
            }))
            .unwrap();
            store::insert_tunnel(&tx, &t).unwrap();
        }
        tx.commit().unwrap();
        let ro = open(&path).unwrap();
        assert_eq!(ro.user("JOHN1-SIXXS").unwrap(), Some(u));
        assert_eq!(ro.user("nobody").unwrap(), None);
        let ids: Vec<u32> = ro
            .tunnels("JOHN1-SIXXS")
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, [1, 3]);
        assert!(ro.tunnels("nobody").unwrap().is_empty());
        assert!(ro.execute("DELETE FROM users", []).is_err(), "read-only");
    }
}
