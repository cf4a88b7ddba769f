//! The NDP proxy table is derived state, like the kernel routes: the store
//! holds the operator's manual entries and each tunnel's `proxy_ndp`; the
//! `PROXIES` map is made to say the same by `sync`, inside the transaction
//! that changes them (so the map follows what is about to be committed) and
//! again from the committed store after a failure or at start.

use std::{collections::BTreeMap, net::Ipv6Addr};

use anyhow::{bail, Result};
use rusqlite::Connection;

use super::store;
use crate::{
    api::{ProxySpec, ProxyView},
    datapath::{Datapath, ProxyEntry},
    error::Error,
};

/// An uplink by name and ifindex (resolved at start).
#[derive(Clone, Debug)]
pub struct Uplink {
    pub name: String,
    pub ifindex: u32,
}

/// (ifindex, target) → (router flag, uplink name, source).
type Desired = BTreeMap<(u32, Ipv6Addr), (bool, String, String)>;

/// What the store asks for. A manual entry wins over a tunnel's (its
/// Router flag is the operator's choice); manual entries naming an uplink
/// this configuration no longer has are left out.
fn desired(conn: &Connection, uplinks: &[Uplink]) -> Result<Desired> {
    let mut out = Desired::new();
    for (id, prefix) in store::proxied_tunnels(conn)? {
        for u in uplinks {
            out.insert(
                (u.ifindex, prefix.host(2)),
                (false, u.name.clone(), format!("tunnel {id}")),
            );
        }
    }
    for (target, uplink, router) in store::proxies(conn)? {
        if let Some(u) = uplinks.iter().find(|u| u.name == uplink) {
            out.insert(
                (u.ifindex, target),
                (router, u.name.clone(), "manual".into()),
            );
        }
    }
    Ok(out)
}

/// What the store wants and what `PROXIES` holds. A store that wants more
/// than the map holds is refused before any write, with its own code (not
/// a map error half-way through).
fn diff(dp: &mut Datapath, conn: &Connection, uplinks: &[Uplink]) -> Result<(Desired, Have)> {
    let want = desired(conn, uplinks)?;
    let max = dp.options().max_proxies;
    if want.len() > max as usize {
        return Err(Error::MapFull(format!(
            "the NDP proxy table is full ({max} entries, max_proxies)"
        ))
        .into());
    }
    let have: Have = dp
        .proxies()?
        .into_iter()
        .map(|e| ((e.ifindex, e.target), e.router))
        .collect();
    Ok((want, have))
}

type Have = BTreeMap<(u32, Ipv6Addr), bool>;

/// Keys to remove and entries to write to go from `have` to `want`.
fn changes(want: &Desired, have: &Have) -> (Vec<(u32, Ipv6Addr)>, Vec<ProxyEntry>) {
    let remove = have
        .keys()
        .filter(|k| !want.contains_key(k))
        .copied()
        .collect();
    let write = want
        .iter()
        .filter(|(key, (router, _, _))| have.get(key) != Some(router))
        .map(|(key, (router, _, _))| ProxyEntry {
            ifindex: key.0,
            target: key.1,
            router: *router,
        })
        .collect();
    (remove, write)
}

/// Only the removals of `sync`: made before the addresses they answered
/// for go away, while additions wait until their tunnels are installed.
pub fn withdraw(dp: &mut Datapath, conn: &Connection, uplinks: &[Uplink]) -> Result<usize> {
    let (want, have) = diff(dp, conn, uplinks)?;
    let (remove, _) = changes(&want, &have);
    for (ifindex, target) in &remove {
        dp.remove_proxy(*ifindex, *target)?;
    }
    Ok(remove.len())
}

/// Entries (written, removed) to make `PROXIES` match the store.
pub fn sync(dp: &mut Datapath, conn: &Connection, uplinks: &[Uplink]) -> Result<(usize, usize)> {
    let (want, have) = diff(dp, conn, uplinks)?;
    let (remove, write) = changes(&want, &have);
    for (ifindex, target) in &remove {
        dp.remove_proxy(*ifindex, *target)?;
    }
    for e in &write {
        dp.put_proxy(e)?;
    }
    Ok((write.len(), remove.len()))
}

/// What `proxy list` shows: every answered (target, uplink) and its source.
pub fn views(conn: &Connection, uplinks: &[Uplink]) -> Result<Vec<ProxyView>> {
    let mut v: Vec<ProxyView> = desired(conn, uplinks)?
        .into_iter()
        .map(|((_, target), (router, uplink, source))| ProxyView {
            target,
            uplink,
            router,
            source,
        })
        .collect();
    v.sort_by(|a, b| (a.target, &a.uplink).cmp(&(b.target, &b.uplink)));
    Ok(v)
}

/// The store rows a `proxy add` means: one per named uplink, or one per
/// configured uplink.
pub fn rows(spec: &ProxySpec, uplinks: &[Uplink]) -> Result<Vec<store::ProxyRow>> {
    let t = spec.target;
    if t.is_multicast() || t.is_unspecified() || t.is_loopback() {
        bail!("{t} cannot be an NDP proxy target (multicast, unspecified or loopback)");
    }
    match &spec.uplink {
        Some(name) => {
            if !uplinks.iter().any(|u| &u.name == name) {
                let names: Vec<&str> = uplinks.iter().map(|u| u.name.as_str()).collect();
                bail!("{name} is not an uplink of this PoP ({names:?})");
            }
            Ok(vec![(t, name.clone(), spec.router)])
        }
        None if uplinks.is_empty() => bail!("this PoP has no uplinks to answer on"),
        None => Ok(uplinks
            .iter()
            .map(|u| (t, u.name.clone(), spec.router))
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uplinks() -> Vec<Uplink> {
        vec![
            Uplink {
                name: "eth0".into(),
                ifindex: 2,
            },
            Uplink {
                name: "eth1".into(),
                ifindex: 3,
            },
        ]
    }

    #[test]
    fn rows_for_specs() {
        let spec = |target: &str, uplink: Option<&str>| ProxySpec {
            target: target.parse().unwrap(),
            uplink: uplink.map(str::to_owned),
            router: false,
        };
        assert_eq!(
            rows(&spec("2001:db8::5", None), &uplinks()).unwrap().len(),
            2
        );
        assert_eq!(
            rows(&spec("2001:db8::5", Some("eth1")), &uplinks()).unwrap(),
            vec![("2001:db8::5".parse().unwrap(), "eth1".to_owned(), false)]
        );
        for (target, uplink, msg) in [
            ("ff02::1", None, "cannot be an NDP proxy target"),
            ("::", None, "cannot be an NDP proxy target"),
            ("::1", None, "cannot be an NDP proxy target"),
            ("2001:db8::5", Some("eth9"), "is not an uplink"),
        ] {
            let e = rows(&spec(target, uplink), &uplinks()).unwrap_err();
            assert!(e.to_string().contains(msg), "{target}: {e}");
        }
        assert!(rows(&spec("2001:db8::5", None), &[]).is_err());
    }

    #[test]
    fn desired_merges_tunnels_and_manual_entries() {
        use crate::{api::TunnelSpec, daemon::store::Store};
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("state.db")).unwrap();
        let t: TunnelSpec = serde_json::from_str(
            r#"{"id":7,"local":"192.0.2.1","remote":"198.51.100.2","prefix":"2001:db8:7::/64","proxy_ndp":true}"#,
        )
        .unwrap();
        let tx = st.transaction().unwrap();
        store::insert_tunnel(&tx, &t).unwrap();
        // The same address by hand on eth1, as a router: the manual entry wins.
        let user: Ipv6Addr = "2001:db8:7::2".parse().unwrap();
        store::insert_proxy(&tx, &(user, "eth1".into(), true)).unwrap();
        // An uplink no longer configured: left out.
        store::insert_proxy(
            &tx,
            &("2001:db8::9".parse().unwrap(), "gone0".into(), false),
        )
        .unwrap();
        tx.commit().unwrap();
        let d = desired(st.conn(), &uplinks()).unwrap();
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[&(2, user)], (false, "eth0".into(), "tunnel 7".into()));
        assert_eq!(d[&(3, user)], (true, "eth1".into(), "manual".into()));
        let v = views(st.conn(), &uplinks()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].uplink, "eth0");

        // Against a map holding a stale entry and the tunnel's entry on
        // eth1 without the Router flag: one removal, two writes.
        let stale: Ipv6Addr = "2001:db8::dead".parse().unwrap();
        let have: Have = [((2, stale), false), ((3, user), false)].into();
        let (remove, write) = changes(&d, &have);
        assert_eq!(remove, [(2, stale)]);
        let written: Vec<_> = write.iter().map(|e| (e.ifindex, e.router)).collect();
        assert_eq!(written, [(2, false), (3, true)]);
        let now: Have = d.iter().map(|(k, v)| (*k, v.0)).collect();
        assert_eq!(changes(&d, &now), (vec![], vec![]));
    }
}
