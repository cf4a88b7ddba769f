use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

fn spec(id: u32, remote: u8, prefix: u16, routed: &[u16]) -> TunnelSpec {
    TunnelSpec {
        id,
        kind: Default::default(),
        local: Ipv4Addr::new(192, 0, 2, 1),
        remote: Some(Ipv4Addr::new(198, 51, 100, remote)),
        prefix: p64(prefix),
        mtu: 1480,
        ttl: 64,
        pmtudisc: true,
        enabled: true,
        routed: routed.iter().map(|r| p48(*r)).collect(),
        proxy_ndp: false,
        secret: None,
        owner: None,
        update_key: None,
    }
}

fn p64(n: u16) -> Ipv6Prefix {
    format!("2001:db8:{n:x}::/64").parse().unwrap()
}

fn p48(n: u16) -> Ipv6Prefix {
    format!("2001:{n:x}::/48").parse().unwrap()
}

fn ops(have: &[TunnelSpec], want: &[TunnelSpec]) -> Vec<MapOp> {
    map_ops(&model(have), &model(want))
}

#[test]
fn add_and_remove_follow_the_write_order() {
    let t = spec(1, 2, 1, &[0x100, 0x200]);
    let tun = to_tunnel(&t);
    assert_eq!(
        ops(&[], std::slice::from_ref(&t)),
        [
            MapOp::AddTunnel(1, tun),
            MapOp::AddPrefix(1, p48(0x100)),
            MapOp::AddPrefix(1, p48(0x200)),
        ]
    );
    assert_eq!(
        ops(std::slice::from_ref(&t), &[]),
        [
            MapOp::RemovePrefix(1, p48(0x100)),
            MapOp::RemovePrefix(1, p48(0x200)),
            MapOp::RemoveTunnel(1),
        ]
    );
    assert!(ops(std::slice::from_ref(&t), std::slice::from_ref(&t)).is_empty());
}

#[test]
fn changes_in_place_where_the_datapath_allows() {
    let old = spec(1, 2, 1, &[0x100]);
    let mut new = old.clone();
    new.mtu = 1400;
    new.remote = Some(Ipv4Addr::new(198, 51, 100, 9));
    new.routed = vec![p48(0x200)];
    assert_eq!(
        ops(std::slice::from_ref(&old), std::slice::from_ref(&new)),
        [
            MapOp::RemovePrefix(1, p48(0x100)),
            MapOp::UpdateTunnel(1, to_tunnel(&new)),
            MapOp::AddPrefix(1, p48(0x200)),
        ]
    );
    // A new /64 is another tunnel for the datapath: remove, then add.
    let moved = spec(1, 2, 7, &[0x100]);
    assert_eq!(
        ops(&[old], std::slice::from_ref(&moved)),
        [
            MapOp::RemovePrefix(1, p48(0x100)),
            MapOp::RemoveTunnel(1),
            MapOp::AddTunnel(1, to_tunnel(&moved)),
            MapOp::AddPrefix(1, p48(0x100)),
        ]
    );
}

#[test]
fn swapped_remotes_are_replaced_not_updated() {
    let (a, b) = (spec(1, 2, 1, &[]), spec(2, 3, 2, &[]));
    let (mut a2, mut b2) = (a.clone(), b.clone());
    (a2.remote, b2.remote) = (b.remote, a.remote);
    assert_eq!(
        ops(&[a, b], &[a2.clone(), b2.clone()]),
        [
            MapOp::RemoveTunnel(1),
            MapOp::RemoveTunnel(2),
            MapOp::AddTunnel(1, to_tunnel(&a2)),
            MapOp::AddTunnel(2, to_tunnel(&b2)),
        ]
    );
}

#[test]
fn a_prefix_moving_between_tunnels_leaves_before_it_arrives() {
    let have = [spec(1, 2, 1, &[0x100]), spec(2, 3, 2, &[])];
    let want = [spec(1, 2, 1, &[]), spec(2, 3, 2, &[0x100])];
    assert_eq!(
        ops(&have, &want),
        [
            MapOp::RemovePrefix(1, p48(0x100)),
            MapOp::AddPrefix(2, p48(0x100)),
        ]
    );
}

#[test]
fn routes_follow_prefixes_and_mtu() {
    let old = spec(1, 2, 1, &[0x100]);
    let mut new = spec(1, 2, 1, &[0x200]);
    new.mtu = 1400;
    let r = route_ops(&routes(&[old]), &routes(&[new]));
    assert_eq!(r.delete, [p48(0x100)]);
    assert_eq!(r.put, [(p48(0x200), 1400), (p64(1), 1400)]);
    assert_eq!(route_ops(&routes(&[]), &routes(&[])), RouteOps::default());
}

/// The datapath's rules, for checking plans: `Datapath` refuses a taken
/// id, pair or prefix, an update of the local address or /64, a prefix for
/// a missing tunnel; and the engine's own rule: a tunnel goes only once its
/// routed prefixes are gone. Returns the largest number of prefixes held at
/// once (map room).
fn run(have: &Model, plan: &[MapOp]) -> Result<(Model, usize), String> {
    let mut m = have.clone();
    let count = |m: &Model| m.values().map(|i| 1 + i.routed.len()).sum::<usize>();
    let mut peak = count(&m);
    for op in plan {
        let prefixes: Vec<Ipv6Prefix> = m
            .values()
            .flat_map(|i| std::iter::once(i.tunnel.prefix).chain(i.routed.iter().copied()))
            .collect();
        let pair_of = |m: &Model, t: &Tunnel, me: u32| {
            m.iter().any(|(id, i)| {
                *id != me && (i.tunnel.local, i.tunnel.remote) == (t.local, t.remote)
            })
        };
        match op {
            MapOp::AddTunnel(id, t) => {
                if m.contains_key(id) || pair_of(&m, t, *id) || prefixes.contains(&t.prefix) {
                    return Err(format!("{op:?} on a taken id, pair or /64"));
                }
            }
            MapOp::UpdateTunnel(id, t) => match m.get(id) {
                Some(i) if i.tunnel.local == t.local && i.tunnel.prefix == t.prefix => {
                    if pair_of(&m, t, *id) {
                        return Err(format!("{op:?}: pair taken"));
                    }
                }
                _ => return Err(format!("{op:?}: no such tunnel or a new /64")),
            },
            MapOp::RemoveTunnel(id) => match m.get(id) {
                Some(i) if i.routed.is_empty() => {}
                _ => return Err(format!("{op:?}: missing, or routed prefixes left")),
            },
            MapOp::AddPrefix(id, p) => {
                if !m.contains_key(id) || prefixes.contains(p) {
                    return Err(format!("{op:?}: no tunnel or taken"));
                }
            }
            MapOp::RemovePrefix(id, p) => {
                if !m.get(id).is_some_and(|i| i.routed.contains(p)) {
                    return Err(format!("{op:?}: not there"));
                }
            }
        }
        op.apply(&mut m);
        peak = peak.max(count(&m));
    }
    Ok((m, peak))
}

/// Valid rows from arbitrary choices: a tunnel whose pair or /64 is taken
/// by an earlier one is left out, a routed prefix taken is dropped.
fn rows(choices: Choices) -> Vec<TunnelSpec> {
    let mut out: Vec<TunnelSpec> = Vec::new();
    for (id, c) in choices.into_iter().enumerate() {
        let Some((remote, prefix, routed, low_mtu)) = c else {
            continue;
        };
        let mut t = spec(id as u32, remote, prefix, &[]);
        if low_mtu {
            t.mtu = 1400;
        }
        let used: Vec<Ipv6Prefix> = out
            .iter()
            .flat_map(|o| std::iter::once(o.prefix).chain(o.routed.iter().copied()))
            .collect();
        if out.iter().any(|o| o.remote == t.remote) || used.contains(&t.prefix) {
            continue;
        }
        for r in routed {
            // Routed prefixes share the /64s' pool, so they move between
            // roles too.
            let p = p64(r);
            if p != t.prefix && !used.contains(&p) && !t.routed.contains(&p) {
                t.routed.push(p);
            }
        }
        out.push(t);
    }
    out
}

fn choices() -> impl Strategy<Value = Choices> {
    prop::collection::vec(
        prop::option::of((
            1u8..4,
            0u16..6,
            prop::collection::vec(0u16..6, 0..3),
            any::<bool>(),
        )),
        0..5,
    )
}

type Choices = Vec<Option<(u8, u16, Vec<u16>, bool)>>;

/// Mostly the same /64 per id in `want` as in `have` (`keep`), so that
/// changes in place (remotes moving between kept tunnels) come up often.
fn related(have: &Choices, mut want: Choices, keep: &[bool]) -> Choices {
    for (i, w) in want.iter_mut().enumerate() {
        if let (Some(w), Some(Some(h)), Some(true)) = (w.as_mut(), have.get(i), keep.get(i)) {
            w.1 = h.1;
        }
    }
    want
}

proptest! {
    // Enough cases that a swap of remotes between kept tunnels comes up
    // (it did not, reliably, at the default 256).
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Any plan between valid states is accepted by the datapath at every
    /// step, never needs more prefix room than the larger of the two
    /// states, and ends exactly at the wanted state.
    #[test]
    fn plans_are_valid_and_complete(
        have in choices(),
        want in choices(),
        keep in prop::collection::vec(any::<bool>(), 5),
    ) {
        let want = related(&have, want, &keep);
        let (have, want) = (model(&rows(have)), model(&rows(want)));
        let plan = map_ops(&have, &want);
        let (end, peak) = run(&have, &plan).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&end, &want);
        let size = |m: &Model| m.values().map(|i| 1 + i.routed.len()).sum::<usize>();
        prop_assert!(peak <= size(&have).max(size(&want)), "peak {peak}");
        prop_assert!(map_ops(&want, &want).is_empty());
    }
}
