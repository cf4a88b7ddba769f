//! L2: heartbeat tunnels (SixXS's dynamic 6in4, ayiya-spec.md §2.1).
//!
//! `learning_in_the_maps`: the library's `learn_beat` on a loaded data
//! path, read back from its maps: the endpoint and the proto-41 pair, a
//! move, every refusal (a static tunnel's pair, another user's, the
//! wrong local address, disabled, static, no tunnel), an AYIYA user
//! switching to proto-41 and back, configuration taking a learned pair.
//!
//! The other tests run the real daemon (`heartbeat_listen`) and `tunnelctl
//! client --kind heartbeat` behind a masquerading NAT (the bed of
//! `tunnel_tests::ayiya_nat`, its drawing there, with tunnel 1 of kind
//! heartbeat): the client's beats are learned as the NAT's public address
//! and traffic flows both ways; the NAT's public address changes and
//! traffic follows after the next beat; crafted beats of every kind of
//! fault are counted per reason in `/metrics`, logged once per reason, and
//! change nothing; a daemon restart under pings loses none, and keeps the
//! learned pair even with the listener off (then `status` warns).

use std::{
    net::{Ipv4Addr, Ipv6Addr, UdpSocket},
    path::PathBuf,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aya::maps::{HashMap, Map, MapData};
use tunnel_common::{
    maps,
    tunnel::{
        DecapRef, Endpoint, TunnelV4Key, ENDPOINT_V4, ENDPOINT_VIA_AYIYA, ENDPOINT_VIA_HEARTBEAT,
        TUNNEL_KIND_AYIYA, TUNNEL_KIND_HEARTBEAT,
    },
};
use tunnel_tests::{ayiya_nat::*, daemon::metrics, traffic::ping};
use tunnelctl::{
    datapath::{DecapKey, NotLearned},
    heartbeat::{codec::build, Refusal, Sender},
    Datapath, DatapathOptions, Ipv6Prefix, Tunnel,
};

const POP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> Ipv6Prefix {
    s.parse().unwrap()
}

fn pair(local: Ipv4Addr, remote: Ipv4Addr) -> TunnelV4Key {
    TunnelV4Key {
        local: local.octets(),
        remote: remote.octets(),
    }
}

/// `TUN_BY_V4` as a map of key → tunnel id, from the library.
fn v4_pairs(dp: &mut Datapath) -> std::collections::HashMap<TunnelV4Key, DecapRef> {
    dp.snapshot()
        .unwrap()
        .pairs
        .into_iter()
        .filter_map(|(k, v)| match k {
            DecapKey::V4(k) => Some((k, v)),
            DecapKey::Identity(_) => None,
        })
        .collect()
}

fn refused(reason: Refusal, holder: Option<u32>) -> NotLearned {
    NotLearned { reason, holder }
}

#[test]
fn learning_in_the_maps() {
    let mut dp = Datapath::load(DatapathOptions {
        max_tunnels: 8,
        max_prefixes: 16,
        ..Default::default()
    })
    .expect("load");
    let hb = |p: &str| Tunnel {
        local: POP,
        ..Tunnel::heartbeat(prefix(p), [7; 20])
    };
    let (user_a, user_b) = (v4("198.51.100.2"), v4("198.51.100.3"));
    let static_remote = v4("198.51.100.9");
    dp.add_tunnel(1, &hb("2001:db8:1::/64")).unwrap();
    dp.add_tunnel(2, &hb("2001:db8:2::/64")).unwrap();
    dp.add_tunnel(
        3,
        &Tunnel::new(POP, static_remote, prefix("2001:db8:3::/64")),
    )
    .unwrap();
    let ayiya = Tunnel {
        local: POP,
        ..Tunnel::ayiya(prefix("2001:db8:4::/64"), [9; 20])
    };
    dp.add_tunnel(4, &ayiya).unwrap();
    // Configuration gives a heartbeat tunnel no proto-41 pair: only the
    // static tunnel has one.
    assert_eq!(v4_pairs(&mut dp).len(), 1);
    assert_eq!(dp.endpoint(1).unwrap(), None);

    // A first beat: the endpoint, and the pair that leads proto-41 from
    // there into the tunnel, carrying the tunnel's kind and flags.
    let t0 = tunnelctl::datapath::clock::boot_ns().unwrap();
    assert_eq!(dp.learn_beat(1, POP, user_a).unwrap(), Ok(None));
    let e = dp.endpoint(1).unwrap().expect("learned");
    let mapped = |a: Ipv4Addr| a.to_ipv6_mapped().octets();
    assert_eq!(
        (
            e.remote,
            e.local,
            e.remote_port,
            e.local_port,
            e.family,
            e.via
        ),
        (
            mapped(user_a),
            mapped(POP),
            [0; 2],
            [0; 2],
            ENDPOINT_V4,
            ENDPOINT_VIA_HEARTBEAT
        )
    );
    let t1 = tunnelctl::datapath::clock::boot_ns().unwrap();
    assert!(
        (t0..=t1).contains(&e.last_seen_ns),
        "stamped on CLOCK_BOOTTIME"
    );
    let r = v4_pairs(&mut dp)[&pair(POP, user_a)];
    assert_eq!(
        (r.id, r.kind, r.is_enabled()),
        (1, TUNNEL_KIND_HEARTBEAT, true)
    );
    assert_eq!(dp.learned_pair(1), Some(pair(POP, user_a)));

    // The same again: a refresh (what was there before is returned).
    thread::sleep(Duration::from_millis(5));
    assert_eq!(dp.learn_beat(1, POP, user_a).unwrap(), Ok(Some(e)));
    assert!(dp.endpoint(1).unwrap().unwrap().last_seen_ns > e.last_seen_ns);

    // A move: the new pair in, the old one out.
    dp.learn_beat(1, POP, user_b).unwrap().unwrap();
    let pairs = v4_pairs(&mut dp);
    assert!(pairs.contains_key(&pair(POP, user_b)));
    assert!(
        !pairs.contains_key(&pair(POP, user_a)),
        "the old address still decapsulates"
    );
    assert_eq!(pairs.len(), 2);

    // Refusals, each changing nothing.
    let before = v4_pairs(&mut dp);
    let cases = [
        (2, POP, static_remote, refused(Refusal::Conflict, Some(3))),
        (2, POP, user_b, refused(Refusal::Conflict, Some(1))),
        (
            1,
            v4("192.0.2.99"),
            user_a,
            refused(Refusal::WrongLocal, None),
        ),
        (3, POP, user_a, refused(Refusal::NotDynamic, None)),
        (5, POP, user_a, refused(Refusal::UnknownTunnel, None)),
    ];
    for (id, local, remote, want) in cases {
        assert_eq!(
            dp.learn_beat(id, local, remote).unwrap(),
            Err(want),
            "{id} {remote}"
        );
    }
    assert!(
        dp.learn_beat(8, POP, user_a).is_err(),
        "an id beyond the map"
    );
    assert_eq!(v4_pairs(&mut dp), before);
    assert_eq!(dp.endpoint(2).unwrap(), None);

    // Disabled: the learned pair's copy of the flags follows the tunnel,
    // and beats are refused until it is enabled again.
    let mut off = hb("2001:db8:1::/64");
    off.enabled = false;
    dp.update_tunnel(1, &off).unwrap();
    assert!(!v4_pairs(&mut dp)[&pair(POP, user_b)].is_enabled());
    assert_eq!(
        dp.learn_beat(1, POP, user_b).unwrap(),
        Err(refused(Refusal::Disabled, None))
    );
    dp.update_tunnel(1, &hb("2001:db8:1::/64")).unwrap();
    assert!(v4_pairs(&mut dp)[&pair(POP, user_b)].is_enabled());

    // An AYIYA user beats: proto-41 from its address, into the AYIYA
    // tunnel (its kind in the pair). Then its AYIYA packets come back
    // (the data path rewrites ENDPOINTS): the sweep drops the pair.
    let user_c = v4("198.51.100.4");
    assert_eq!(dp.learn_beat(4, POP, user_c).unwrap(), Ok(None));
    assert_eq!(
        v4_pairs(&mut dp)[&pair(POP, user_c)].kind,
        TUNNEL_KIND_AYIYA
    );
    assert_eq!(dp.sweep_learned_pairs().unwrap(), 0, "nothing stale yet");
    let via_ayiya = Endpoint {
        via: ENDPOINT_VIA_AYIYA,
        remote_port: 40000u16.to_be_bytes(),
        local_port: 5072u16.to_be_bytes(),
        ..dp.endpoint(4).unwrap().unwrap()
    };
    dp.learn_endpoint(4, &via_ayiya).unwrap();
    assert_eq!(dp.sweep_learned_pairs().unwrap(), 1);
    assert!(!v4_pairs(&mut dp).contains_key(&pair(POP, user_c)));
    assert_eq!(dp.learned_pair(4), None);
    // A beat from the AYIYA user moves it to proto-41 again.
    assert_eq!(dp.learn_beat(4, POP, user_c).unwrap(), Ok(Some(via_ayiya)));
    assert_eq!(dp.endpoint(4).unwrap().unwrap().via, ENDPOINT_VIA_HEARTBEAT);

    // Configuration wins: a static tunnel for the address tunnel 1's user
    // beats from takes the pair; that user's next beat is a conflict.
    dp.add_tunnel(6, &Tunnel::new(POP, user_b, prefix("2001:db8:6::/64")))
        .unwrap();
    assert_eq!(v4_pairs(&mut dp)[&pair(POP, user_b)].id, 6);
    assert_eq!(dp.learned_pair(1), None);
    assert_eq!(
        dp.learn_beat(1, POP, user_b).unwrap(),
        Err(refused(Refusal::Conflict, Some(6)))
    );

    // Removing a tunnel removes its learned pair (and what it learned).
    dp.learn_beat(2, POP, user_a).unwrap().unwrap();
    dp.remove_tunnel(2).unwrap();
    assert!(!v4_pairs(&mut dp).contains_key(&pair(POP, user_a)));
    assert_eq!(dp.endpoint(2).unwrap(), None);
    assert_eq!(dp.learned_pair(2), None);
}

/// Unix seconds now.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `tunnelpop_heartbeats_total{result=…}` of the bed's daemon (0 if absent).
fn beats(b: &AyiyaBed, result: &str) -> u64 {
    let m = metrics(&b.pop);
    let key = format!("tunnelpop_heartbeats_total{{result=\"{result}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the daemon has counted `want` beats of `result`.
fn wait_beats(b: &AyiyaBed, result: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = beats(b, result);
        if n >= want {
            assert_eq!(n, want, "{result}: more than sent");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{result}: {n} of {want} counted\n{}",
            b.daemon.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn pin(b: &AyiyaBed, name: &str) -> PathBuf {
    b.daemon
        .pin_dir
        .join(format!("v{}", tunnel_common::ABI_VERSION))
        .join("maps")
        .join(name)
}

/// The daemon's `TUN_BY_V4`, read from its pin: (local, remote) → id.
fn pinned_pairs(b: &AyiyaBed) -> Vec<(Ipv4Addr, Ipv4Addr, u32)> {
    let map = Map::HashMap(MapData::from_pin(pin(b, maps::TUN_BY_V4)).unwrap());
    let h: HashMap<MapData, TunnelV4Key, DecapRef> = HashMap::try_from(map).unwrap();
    let mut v: Vec<_> = h
        .iter()
        .map(|kv| {
            let (k, r) = kv.unwrap();
            (Ipv4Addr::from(k.local), Ipv4Addr::from(k.remote), r.id)
        })
        .collect();
    v.sort();
    v
}

/// Pings the upstream host from the client through the tunnel until one
/// answers (the beat ahead of it may still be on its way), then `n` more,
/// every one of which must.
fn ping_through(b: &AyiyaBed, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ping(&b.client, &["-c", "1", UPSTREAM_V6]).unwrap().ok {
        assert!(
            Instant::now() < deadline,
            "no ping through the tunnel\nclient:\n{}\ndaemon:\n{}",
            b.client_log(),
            b.daemon.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    let p = ping(&b.client, &["-c", &n.to_string(), "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert_eq!(p.received(), n, "{}", p.stdout);
}

#[test]
fn client_through_the_nat_follows_its_address() {
    let mut b = AyiyaBed::new_heartbeat().expect("bed");
    assert_eq!(b.state().unwrap(), "down", "nothing learned yet");
    b.start_client(&["--kind", "heartbeat", "--password", PASSWORD])
        .unwrap();
    // Beats are learned as the NAT's public address (proto-41: no port).
    let ep = b.wait_endpoint_ip(NAT_PUBLIC_V4).unwrap();
    assert_eq!(ep["remote"], NAT_PUBLIC_V4, "{ep}");
    assert_eq!(ep["local"], POP_V4, "{ep}");
    assert_eq!(ep["via"], "heartbeat", "{ep}");
    assert_eq!(b.state().unwrap(), "up");
    let public = v4(NAT_PUBLIC_V4);
    assert_eq!(pinned_pairs(&b), [(v4(POP_V4), public, 1)]);
    assert!(
        b.daemon.log().contains("tunnel 1: first beat"),
        "{}",
        b.daemon.log()
    );
    assert!(beats(&b, "ok") >= 1);
    for r in Refusal::ALL {
        assert_eq!(beats(&b, r.name()), 0, "{r}:\n{}", b.daemon.log());
    }

    // Traffic both ways: the probe to the PoP's ::1, pings upstream.
    b.wait_tunnel_up().unwrap();
    ping_through(&b, 5);

    // The NAT gets a new public address: after the next beat (every 2 s)
    // the PoP sends there and takes proto-41 from there only.
    b.renumber_nat(NAT_PUBLIC_V4_B).unwrap();
    b.wait_endpoint_ip(NAT_PUBLIC_V4_B).unwrap();
    assert_eq!(pinned_pairs(&b), [(v4(POP_V4), v4(NAT_PUBLIC_V4_B), 1)]);
    ping_through(&b, 5);
    assert!(
        b.daemon.log().contains(&format!(
            "tunnel 1: its user moved from {NAT_PUBLIC_V4} to {NAT_PUBLIC_V4_B}"
        )),
        "{}",
        b.daemon.log()
    );

    // SIGTERM: a clean exit, the tun device gone.
    let (ok, log) = b.client_proc.as_mut().unwrap().stop().unwrap();
    assert!(ok && log.contains("SIGTERM: stopping"), "{log}");
    let links = b.client.run(&["ip", "link"]).unwrap();
    assert!(!String::from_utf8_lossy(&links.stdout).contains(TUN));
    b.daemon.stop().unwrap();
}

#[test]
fn bad_beats_are_counted_and_change_nothing() {
    let mut b = AyiyaBed::new_heartbeat().expect("bed");
    let d = &b.daemon;
    // Tunnels for the refusals that need one: disabled, static, and an
    // AYIYA tunnel whose store kept only its key.
    let add = |args: &[&str]| d.ok(&[&["tunnel", "add"][..], args].concat()).unwrap();
    add(&[
        "2",
        "--kind",
        "heartbeat",
        "--local",
        POP_V4,
        "--password",
        "pw2",
        "--prefix",
        "2001:db8:2::/64",
        "--disabled",
    ]);
    add(&[
        "3",
        "--local",
        POP_V4,
        "--remote",
        "198.51.100.50",
        "--prefix",
        "2001:db8:3::/64",
    ]);
    add(&[
        "4",
        "--kind",
        "ayiya",
        "--local",
        POP_V4,
        "--password",
        "sha1:5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fba",
        "--prefix",
        "2001:db8:4::/64",
    ]);
    // A second PoP address, which is not tunnel 1's.
    b.pop.ip("addr add 203.0.113.10/24 dev p0").unwrap();

    let user = |net: u16| Ipv6Addr::new(0x2001, 0xdb8, net, 0, 0, 0, 0, 2);
    let t = now();
    let good = |net: u16, pw: &str| build(user(net), Sender::Source, t, pw.as_bytes());
    let big = format!("{}{}", good(1, PASSWORD), " ".repeat(200));
    // (what, datagram, sent to the PoP's address, reason)
    let cases: Vec<(&str, Vec<u8>, &str, Refusal)> = vec![
        (
            "not a beat",
            b"hello".to_vec(),
            POP_V4,
            Refusal::NotHeartbeat,
        ),
        ("empty", Vec::new(), POP_V4, Refusal::NotHeartbeat),
        (
            "bad identity",
            b"HEARTBEAT TUNNEL nonsense".to_vec(),
            POP_V4,
            Refusal::Malformed,
        ),
        (
            "over 255 bytes",
            big.into_bytes(),
            POP_V4,
            Refusal::Malformed,
        ),
        (
            "not UTF-8",
            [&b"HEARTBEAT TUNNEL "[..], &[0xff, 0xfe]].concat(),
            POP_V4,
            Refusal::Malformed,
        ),
        (
            "no sender",
            b"HEARTBEAT TUNNEL 2001:db8:1::2".to_vec(),
            POP_V4,
            Refusal::MissingSender,
        ),
        (
            "no time",
            b"HEARTBEAT TUNNEL 2001:db8:1::2 sender".to_vec(),
            POP_V4,
            Refusal::MissingTime,
        ),
        (
            "wrong password",
            good(1, "not it").into_bytes(),
            POP_V4,
            Refusal::HashFail,
        ),
        (
            "names the client's own address, not the NAT's",
            build(user(1), Sender::Ipv4(v4(CLIENT_V4)), t, PASSWORD.as_bytes()).into_bytes(),
            POP_V4,
            Refusal::SenderMismatch,
        ),
        (
            "clock 300 s behind",
            build(user(1), Sender::Source, t - 300, PASSWORD.as_bytes()).into_bytes(),
            POP_V4,
            Refusal::ClockOff,
        ),
        (
            "no such tunnel",
            good(9, PASSWORD).into_bytes(),
            POP_V4,
            Refusal::UnknownTunnel,
        ),
        (
            "not the user's ::2",
            build(
                Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 3),
                Sender::Source,
                t,
                PASSWORD.as_bytes(),
            )
            .into_bytes(),
            POP_V4,
            Refusal::UnknownTunnel,
        ),
        (
            "disabled tunnel",
            good(2, "pw2").into_bytes(),
            POP_V4,
            Refusal::Disabled,
        ),
        (
            "static tunnel",
            good(3, "pw").into_bytes(),
            POP_V4,
            Refusal::NotDynamic,
        ),
        (
            "only a key stored",
            good(4, "pw").into_bytes(),
            POP_V4,
            Refusal::NoPassword,
        ),
        (
            "another PoP address",
            good(1, PASSWORD).into_bytes(),
            "203.0.113.10",
            Refusal::WrongLocal,
        ),
    ];
    let sock = {
        let _in = b.client.enter().unwrap();
        UdpSocket::bind("0.0.0.0:0").unwrap()
    };
    let mut want: std::collections::HashMap<Refusal, u64> = Default::default();
    for (what, dgram, to, reason) in &cases {
        sock.send_to(dgram, (v4(to), HEARTBEAT_PORT)).unwrap();
        let n = want.entry(*reason).or_default();
        *n += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        while beats(&b, reason.name()) < *n {
            assert!(
                Instant::now() < deadline,
                "{what}: not counted as {reason}\n{}",
                b.daemon.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
    // Four more with a wrong password: counted, one log line per reason
    // per 10 s, which says how many it left out.
    for _ in 0..4 {
        sock.send_to(good(1, "not it").as_bytes(), (v4(POP_V4), HEARTBEAT_PORT))
            .unwrap();
    }
    wait_beats(&b, "hash_fail", 5);
    for r in Refusal::ALL {
        let n = want.get(&r).copied().unwrap_or(0) + u64::from(r == Refusal::HashFail) * 4;
        assert_eq!(beats(&b, r.name()), n, "{r}");
    }
    assert_eq!(beats(&b, "ok"), 0);
    let log = b.daemon.log();
    assert_eq!(
        log.matches("heartbeat refused (hash_fail)").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("the MD5 does not match the tunnel's password"),
        "{log}"
    );
    assert!(
        log.contains("(behind a NAT the client must send 'sender')"),
        "{log}"
    );
    // 300 s, or a little more on a slow VM (seconds pass between the
    // beat's making and its check: 302 s seen under TCG).
    let behind = log
        .split("its clock is ")
        .nth(1)
        .and_then(|r| r.split(" s behind ours").next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        behind.is_some_and(|s| (300..=310).contains(&s)),
        "{behind:?}\n{log}"
    );
    // Nothing learned, anywhere.
    for id in ["1", "2", "3", "4"] {
        let v: serde_json::Value =
            serde_json::from_str(&b.daemon.ok(&["tunnel", "show", id, "--json"]).unwrap()).unwrap();
        assert!(v["endpoint"].is_null(), "tunnel {id}: {v}");
    }
    assert_eq!(b.state().unwrap(), "down");

    // A static tunnel from the NAT's public address: tunnel 1's user,
    // behind it, is refused (counted, logged with the holder), until it
    // goes; then the same beat is learned.
    b.daemon
        .ok(&[
            "tunnel",
            "add",
            "5",
            "--local",
            POP_V4,
            "--remote",
            NAT_PUBLIC_V4,
            "--prefix",
            "2001:db8:5::/64",
        ])
        .unwrap();
    sock.send_to(good(1, PASSWORD).as_bytes(), (v4(POP_V4), HEARTBEAT_PORT))
        .unwrap();
    wait_beats(&b, "conflict", 1);
    assert!(
        b.daemon.log().contains("is tunnel 5's"),
        "{}",
        b.daemon.log()
    );
    assert!(b.endpoint().unwrap().is_none());
    b.daemon.ok(&["tunnel", "remove", "5"]).unwrap();
    sock.send_to(good(1, PASSWORD).as_bytes(), (v4(POP_V4), HEARTBEAT_PORT))
        .unwrap();
    wait_beats(&b, "ok", 1);
    b.wait_endpoint_ip(NAT_PUBLIC_V4).unwrap();
    b.daemon.stop().unwrap();
}

#[test]
fn daemon_restart_keeps_the_tunnel() {
    let mut b = AyiyaBed::new_heartbeat().expect("bed");
    b.start_client(&["--kind", "heartbeat", "--password", PASSWORD])
        .unwrap();
    b.wait_endpoint_ip(NAT_PUBLIC_V4).unwrap();
    b.wait_tunnel_up().unwrap();

    // 100 pings over 10 s upstream; the daemon restarts in the middle.
    let (p, restart) = thread::scope(|s| {
        let pinger = s.spawn(|| ping(&b.client, &["-c", "100", "-i", "0.1", UPSTREAM_V6]).unwrap());
        thread::sleep(Duration::from_secs(2));
        let t = Instant::now();
        b.daemon.stop().unwrap();
        b.daemon.start().unwrap();
        let restart = t.elapsed();
        (pinger.join().unwrap(), restart)
    });
    println!("restart took {restart:?}; {}", p.summary());
    assert_eq!(
        p.received(),
        100,
        "across a restart of {restart:?}:\n{}\nclient:\n{}\ndaemon:\n{}",
        p.stdout,
        b.client_log(),
        b.daemon.log()
    );
    let public = v4(NAT_PUBLIC_V4);
    assert_eq!(pinned_pairs(&b), [(v4(POP_V4), public, 1)]);

    // Restarted with the listener off: reconciliation keeps the learned
    // pair (rebuilt from ENDPOINTS, not taken for a stale entry), traffic
    // flows while the endpoint is fresh, and `status` says the tunnel
    // cannot learn.
    b.daemon.stop().unwrap();
    b.daemon
        .config_with("tunnelctl.toml", &[("heartbeat_listen", "\"\"")])
        .unwrap();
    b.daemon.start().unwrap();
    assert!(
        b.daemon.log().contains("learned_pairs: 1"),
        "{}",
        b.daemon.log()
    );
    assert_eq!(pinned_pairs(&b), [(v4(POP_V4), public, 1)]);
    let p = ping(&b.client, &["-c", "5", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert_eq!(p.received(), 5, "{}", p.stdout);
    let status: serde_json::Value =
        serde_json::from_str(&b.daemon.ok(&["status", "--json"]).unwrap()).unwrap();
    let check = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "heartbeat")
        .cloned()
        .unwrap_or_default();
    assert_eq!(check["status"], "warn", "{status}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("1 heartbeat tunnel"),
        "{check}"
    );
    // Removing the tunnel removes the pair.
    b.daemon.ok(&["tunnel", "remove", "1"]).unwrap();
    assert_eq!(pinned_pairs(&b), []);
    b.daemon.stop().unwrap();
}
