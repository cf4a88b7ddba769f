use std::path::Path;

use rusqlite::params;

use super::*;
use crate::{
    api::TunnelKind,
    daemon::store::{self, Store},
};

/// A database as release `version` left it: its steps, then rows of the
/// shape that version had (a tunnel with a routed prefix; from 2 on, a
/// tunnel with `proxy_ndp` and a manual proxy entry).
fn old_database(path: &Path, version: usize) {
    let c = Connection::open(path).unwrap();
    c.pragma_update(None, "foreign_keys", "ON").unwrap();
    for step in &STEPS[..version] {
        c.execute_batch(step).unwrap();
    }
    // From 3 on, `kind` has no default.
    let (kind_col, kind) = if version >= 3 {
        ("kind, ", "'sixin4', ")
    } else {
        ("", "")
    };
    c.execute_batch(&format!(
        "INSERT INTO tunnels ({kind_col}id, local, remote, prefix, mtu, ttl, pmtudisc, enabled)
            VALUES ({kind}1, '192.0.2.1', '198.51.100.2', '2001:db8:1::/64', 1400, 0, 0, 1);
         INSERT INTO routed VALUES ('2001:db8:100::/48', 1);"
    ))
    .unwrap();
    if version >= 2 {
        c.execute_batch(&format!(
            "INSERT INTO tunnels ({kind_col}id, local, remote, prefix, mtu, ttl, pmtudisc, enabled, proxy_ndp)
                VALUES ({kind}2, '192.0.2.1', '198.51.100.3', '2001:db8:2::/64', 1480, 64, 1, 0, 1);
             INSERT INTO proxies VALUES ('2001:db8::5', 'eth0', 1);"
        ))
        .unwrap();
    }
    c.pragma_update(None, "user_version", version as i64)
        .unwrap();
}

#[test]
fn every_earlier_schema_migrates_with_its_rows() {
    for version in 1..VERSION as usize {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        old_database(&path, version);
        let mut s = Store::open(&path).unwrap_or_else(|e| panic!("from {version}: {e:#}"));
        let v: i64 = s
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);

        let t = s.tunnel(1).unwrap().expect("tunnel 1 kept");
        assert_eq!(t.kind, TunnelKind::Sixin4, "from {version}");
        assert_eq!(t.remote, Some("198.51.100.2".parse().unwrap()));
        assert_eq!(
            (t.mtu, t.ttl, t.pmtudisc, t.enabled),
            (1400, 0, false, true)
        );
        // The table rebuild did not cascade into the routed prefixes.
        assert_eq!(
            t.routed,
            ["2001:db8:100::/48".parse().unwrap()],
            "from {version}"
        );
        assert_eq!((t.proxy_ndp, t.secret, t.update_key), (false, None, None));
        if version >= 2 {
            let t2 = s.tunnel(2).unwrap().unwrap();
            assert!(t2.proxy_ndp && !t2.enabled, "from {version}");
            assert_eq!(store::proxies(s.conn()).unwrap().len(), 1);
        }

        // No NAT64 before 4; its tables are there to write.
        assert_eq!(s.nat64().unwrap(), crate::api::Nat64Spec::default());
        let tx = s.transaction().unwrap();
        store::insert_eam(
            &tx,
            &crate::api::EamSpec {
                v6: "2001:db8:6::/120".parse().unwrap(),
                v4: "192.0.2.0/24".parse().unwrap(),
            },
        )
        .unwrap_or_else(|e| panic!("from {version}: {e}"));
        // The pair stays unique among static 6in4 tunnels...
        let dup = tx.execute(
            "INSERT INTO tunnels (id, kind, local, remote, prefix, mtu, ttl, pmtudisc, enabled)
             VALUES (5, 'sixin4', '192.0.2.1', '198.51.100.2', '2001:db8:5::/64', 1480, 64, 1, 1)",
            [],
        );
        assert!(dup.is_err(), "from {version}: duplicate pair accepted");
        // ...while learned remotes may be absent, or shared.
        for (id, remote) in [(6, None), (7, None), (8, Some("198.51.100.2"))] {
            tx.execute(
                "INSERT INTO tunnels (id, kind, local, remote, prefix, mtu, ttl, pmtudisc,
                 enabled, secret) VALUES (?1, 'heartbeat', '192.0.2.1', ?2, ?3, 1480, 64, 1, 1, 'pw')",
                params![id, remote, format!("2001:db8:{id}::/64")],
            )
            .unwrap_or_else(|e| panic!("from {version}: tunnel {id}: {e}"));
        }
        // An update key for an old tunnel (schema 6).
        let mut t1 = store::read_tunnels(&tx, Some(1)).unwrap().pop().unwrap();
        t1.update_key = Some(format!("sha256:{}", "ab".repeat(32)));
        store::update_tunnel(&tx, &t1).unwrap();
        assert_eq!(store::read_tunnels(&tx, Some(1)).unwrap()[0], t1);
        // Foreign keys are back on: a tunnel takes its routed prefixes and
        // its update key along.
        store::delete_tunnel(&tx, 1).unwrap();
        assert_eq!(
            store::routed_owner(&tx, &"2001:db8:100::/48".parse().unwrap()).unwrap(),
            None
        );
        let keys: i64 = tx
            .query_row("SELECT count(*) FROM update_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(keys, 0, "from {version}");
        let read = store::read_tunnels(&tx, Some(6)).unwrap();
        assert_eq!(
            (read[0].kind, read[0].remote),
            (TunnelKind::Heartbeat, None)
        );
        tx.commit().unwrap();
        drop(s);
        // Opening again changes nothing.
        let s = Store::open(&path).unwrap();
        assert_eq!(s.tunnels().unwrap().len(), 3 + (version >= 2) as usize);
        assert_eq!(s.nat64().unwrap().eams.len(), 1, "from {version}");
    }
}

/// Schema 5 (users, owners) on a database of every earlier version: the
/// tunnels come through without owners, and owners can be set, go with
/// their tunnel, and keep their user from being deleted.
#[test]
fn users_and_owners_after_migration() {
    for version in 1..VERSION as usize {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        old_database(&path, version);
        let mut s = Store::open(&path).unwrap();
        assert!(s.tunnels().unwrap().iter().all(|t| t.owner.is_none()));
        assert!(store::users(s.conn()).unwrap().is_empty());
        let tx = s.transaction().unwrap();
        let u = store::UserRow {
            name: "JOHN1-SIXXS".into(),
            full_name: None,
            password_md5: "8ac4253450b2e0eccdfe0fa24036b6d5".into(),
        };
        assert!(store::insert_user(&tx, &u).unwrap());
        store::set_owner(&tx, 1, Some("JOHN1-SIXXS")).unwrap();
        // A NULL hash, an owner that is no user, an owner of no tunnel:
        // all refused by the schema itself.
        assert!(tx
            .execute("INSERT INTO users (name) VALUES ('X')", [])
            .is_err());
        assert!(store::set_owner(&tx, 1, Some("NOBODY")).is_err());
        assert!(store::set_owner(&tx, 99, Some("JOHN1-SIXXS")).is_err());
        tx.commit().unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.tunnel(1).unwrap().unwrap().owner.as_deref(),
            Some("JOHN1-SIXXS"),
            "from {version}"
        );
        let mut s = s;
        let tx = s.transaction().unwrap();
        assert!(store::delete_user(&tx, "JOHN1-SIXXS").is_err());
        store::delete_tunnel(&tx, 1).unwrap();
        assert!(
            store::delete_user(&tx, "JOHN1-SIXXS").unwrap(),
            "from {version}"
        );
        tx.commit().unwrap();
    }
}

#[test]
fn a_new_database_is_the_latest_schema() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("state.db")).unwrap();
    let fk: i64 = s
        .conn()
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    let v: i64 = s
        .conn()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!((v, fk), (VERSION, 1));
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", VERSION + 1)
        .unwrap();
    let e = format!("{:#}", Store::open(&path).err().expect("refused"));
    assert!(e.contains("newer than this tunnelctl"), "{e}");
    let v: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, VERSION + 1);
}
