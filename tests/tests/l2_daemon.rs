//! L2: the real daemon and CLI on the namespace test bed: tunnels added by
//! `tunnelctl` carry traffic, survive restarts (with traffic flowing) and
//! kill -9, show up in stats and /metrics; bad input changes nothing.

use std::{
    io::Write,
    time::{Duration, Instant},
};

use aya::maps::{Array, Map, MapData};
use tunnel_common::tunnel::TunnelInfo;
use tunnel_tests::{
    daemon::{metrics, Daemon, DaemonBed},
    netns::Netns,
    peer6in4::{Peer6in4, PeerConfig},
    pty::Pty,
    topology::{CLIENT_V4, LOCAL_DEV, POP_V4, UPSTREAM_V6},
};
use tunnelctl::daemon::{config::DEFAULT_ROUTE_PROTOCOL, netlink::Netlink};

fn bed(max_tunnels: u32, max_prefixes: u32) -> DaemonBed {
    DaemonBed::new(max_tunnels, max_prefixes).expect("daemon bed")
}

const ADD_T1: &[&str] = &[
    "tunnel",
    "add",
    "1",
    "--local",
    "192.0.2.1",
    "--remote",
    "192.0.2.2",
    "--prefix",
    "2001:db8:1::/64",
    "--routed",
    "2001:db8:100::/48",
];

fn peer(ns: &Netns) -> Peer6in4 {
    Peer6in4::start(
        ns,
        &PeerConfig {
            ifname: "tun6in4",
            local: CLIENT_V4,
            remote: POP_V4,
            address: "2001:db8:1::2/64",
            mtu: 1480,
        },
    )
    .unwrap()
}

fn ping(ns: &Netns, args: &[&str]) -> String {
    let mut argv = vec!["ping", "-6", "-n", "-W", "2"];
    argv.extend_from_slice(args);
    String::from_utf8_lossy(&ns.output(&argv).unwrap().stdout).into_owned()
}

#[test]
fn tunnel_added_by_cli_carries_traffic_and_shows_in_stats_and_metrics() {
    let b = bed(64, 256);
    b.daemon.ok(ADD_T1).unwrap();
    let _peer = peer(&b.ns.client);
    let out = ping(&b.ns.client, &["-c", "3", "-i", "0.2", UPSTREAM_V6]);
    assert!(out.contains("3 received"), "{out}\n{}", b.daemon.log());
    let list = b.daemon.ok(&["tunnel", "list", "--json"]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert!(v[0]["stats"]["rx_packets"].as_u64().unwrap() >= 3, "{list}");
    assert!(v[0]["stats"]["tx_packets"].as_u64().unwrap() >= 3, "{list}");
    let stats = b.daemon.ok(&["stats"]).unwrap();
    assert!(
        stats.contains("decap") && stats.contains("encap"),
        "{stats}"
    );
    let m = metrics(&b.ns.pop);
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    let rx_line = m
        .lines()
        .find(|l| l.starts_with("tunnelpop_tunnel_rx_packets_total{tunnel=\"1\"}"))
        .expect("rx metric");
    assert!(
        rx_line.rsplit(' ').next().unwrap().parse::<u64>().unwrap() >= 3,
        "{rx_line}"
    );
    assert!(
        m.contains("tunnelpop_map_entries{map=\"tunnels\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("tunnelpop_drops_total{reason=\"spoofed_source\"} 0"),
        "{m}"
    );
    // Removing the tunnel stops the traffic.
    b.daemon.ok(&["tunnel", "remove", "1"]).unwrap();
    let out = ping(&b.ns.client, &["-c", "2", "-i", "0.2", UPSTREAM_V6]);
    assert!(out.contains(" 0 received"), "{out}");
}

#[test]
fn restart_keeps_tunnels_and_loses_no_packets() {
    let mut b = bed(64, 256);
    b.daemon.ok(ADD_T1).unwrap();
    let _peer = peer(&b.ns.client);
    assert!(ping(&b.ns.client, &["-c", "1", UPSTREAM_V6]).contains("1 received"));
    // 400 pings 10 ms apart (4 s); the daemon restarts in the middle.
    let client = b.ns.client.name().to_owned();
    let pinger = std::thread::spawn(move || {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &client,
                "ping",
                "-6",
                "-n",
                "-q",
                "-i",
                "0.01",
                "-c",
                "400",
                "-W",
                "1",
                UPSTREAM_V6,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    std::thread::sleep(Duration::from_millis(1000));
    b.daemon.stop().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    b.daemon.start().unwrap();
    let out = pinger.join().unwrap();
    assert!(
        out.contains("400 packets transmitted, 400 received"),
        "packets lost across the restart:\n{out}"
    );
    let status = b.daemon.ok(&["status", "--json"]).unwrap();
    assert!(status.contains("\"reused_pins\": true"), "{status}");
    assert_eq!(b.daemon.tunnel_ids().unwrap(), [1]);
    assert!(b.daemon.log().contains("maps reconciled"));
}

fn pinned_tunnel_ids(d: &Daemon, max: u32) -> Vec<u32> {
    let path = d
        .pin_dir
        .join(format!("v{}", tunnel_common::ABI_VERSION))
        .join("maps")
        .join("TUNNELS");
    let map = Map::Array(MapData::from_pin(&path).unwrap());
    let a: Array<MapData, TunnelInfo> = Array::try_from(map).unwrap();
    (0..max)
        .filter(|i| a.get(i, 0).unwrap().kind != 0)
        .collect()
}

/// The first `done/total tunnels` with a total that `tunnelctl apply`'s
/// progress bar drew on the terminal (one draw per progress line from
/// the daemon, between control sequences).
fn first_progress(shown: &str) -> Option<(u64, u64)> {
    shown.match_indices(" tunnels").find_map(|(i, _)| {
        let token = shown[..i]
            .rsplit(|c: char| c.is_whitespace() || c.is_control())
            .next()?;
        let (done, total) = token.split_once('/')?;
        let (done, total) = (done.parse().ok()?, total.parse().ok()?);
        (total > 0).then_some((done, total))
    })
}

#[test]
fn kill9_during_bulk_apply_leaves_store_and_maps_consistent() {
    const N: u32 = 3000;
    let mut b = bed(4096, 16384);
    let tunnels: Vec<serde_json::Value> = (0..N)
        .map(|i| {
            serde_json::json!({
                "id": i, "local": "192.0.2.1",
                "remote": format!("198.51.{}.{}", 100 + i / 250, 1 + i % 250),
                "prefix": format!("2001:db8:{:x}::/64", 0x1000 + i),
            })
        })
        .collect();
    let file = b.daemon.dir.join("bulk.json");
    std::fs::write(&file, serde_json::json!({ "tunnels": tunnels }).to_string()).unwrap();
    // Start the apply; kill the daemon at its first progress line, while
    // the datapath follows the new rows and before the commit. The bar
    // is drawn only on a terminal: stderr goes to a pty.
    let pty = Pty::open().unwrap();
    let ctl = tunnel_tests::daemon::tunnelctl_bin().unwrap();
    let apply = std::process::Command::new(ctl)
        .arg("--socket")
        .arg(&b.daemon.socket)
        .args(["apply", "-f"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(pty.terminal().unwrap())
        .spawn()
        .unwrap();
    let (chunks, reader) = pty.stream();
    let mut shown = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (done, total) = loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match chunks.recv_timeout(wait) {
            Ok(c) => shown.extend_from_slice(&c),
            Err(e) => panic!(
                "no progress line from tunnelctl apply ({e}); it printed {:?}",
                String::from_utf8_lossy(&shown)
            ),
        }
        if let Some(p) = first_progress(&String::from_utf8_lossy(&shown)) {
            break p;
        }
    };
    b.daemon.kill9().unwrap();
    let out = apply.wait_with_output().unwrap();
    reader.join().unwrap();
    shown.extend(chunks.try_iter().flatten());
    let printed = format!(
        "stdout {:?}, terminal {:?}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&shown)
    );
    // The kill landed mid-apply: at the first progress line the datapath
    // had work left, and the apply never got its answer.
    assert_eq!(total, N as u64, "progress total: {printed}");
    assert!(done < total, "first progress {done}/{total}: {printed}");
    assert!(
        !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("add "),
        "the apply finished before the kill ({}): {printed}",
        out.status
    );
    // After a start store and maps agree: the apply never committed, so
    // neither holds any of its tunnels.
    b.daemon.start().unwrap();
    let listed = b.daemon.tunnel_ids().unwrap();
    assert!(
        listed.is_empty(),
        "apply is atomic in the store, and this one was killed: {} tunnels",
        listed.len()
    );
    assert_eq!(
        pinned_tunnel_ids(&b.daemon, 4096),
        listed,
        "maps differ from the store after restart"
    );
    // And the apply, re-run, completes.
    b.daemon
        .ok(&["apply", "-f", file.to_str().unwrap()])
        .unwrap();
    assert_eq!(b.daemon.tunnel_ids().unwrap().len(), N as usize);
    assert_eq!(pinned_tunnel_ids(&b.daemon, 4096).len(), N as usize);
}

#[test]
fn bad_input_gets_one_line_error_and_changes_nothing() {
    let b = bed(4, 8);
    b.daemon.ok(ADD_T1).unwrap();
    let before = b.daemon.ok(&["tunnel", "list", "--json"]).unwrap();
    let t = |id: &'static str, remote: &'static str, prefix: &'static str| -> Vec<&'static str> {
        vec![
            "tunnel",
            "add",
            id,
            "--local",
            "192.0.2.1",
            "--remote",
            remote,
            "--prefix",
            prefix,
        ]
    };
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "malformed IPv4",
            t("2", "198.51.100.300", "2001:db8:2::/64"),
            "invalid value",
        ),
        (
            "malformed prefix",
            t("2", "198.51.100.2", "2001:db8:2::/129"),
            "out of range",
        ),
        (
            "prefix with host bits",
            t("2", "198.51.100.2", "2001:db8:2::1/64"),
            "did you mean",
        ),
        (
            "not a /64",
            t("2", "198.51.100.2", "2001:db8:2::/56"),
            "must be a /64",
        ),
        (
            "duplicate id",
            t("1", "198.51.100.2", "2001:db8:2::/64"),
            "already exists",
        ),
        (
            "duplicate endpoints",
            t("2", "192.0.2.2", "2001:db8:2::/64"),
            "already uses",
        ),
        (
            "prefix overlapping another tunnel's",
            t("2", "198.51.100.2", "2001:db8:100:1::/64"),
            "overlaps",
        ),
        (
            "id beyond max_tunnels",
            t("9", "198.51.100.2", "2001:db8:2::/64"),
            "out of range 0..4",
        ),
        (
            "MTU out of range",
            [
                t("2", "198.51.100.2", "2001:db8:2::/64"),
                vec!["--mtu", "1500"],
            ]
            .concat(),
            "out of range 1280..=1480",
        ),
        (
            "unknown tunnel: remove",
            vec!["tunnel", "remove", "3"],
            "no tunnel 3",
        ),
        (
            "unknown tunnel: set",
            vec!["tunnel", "set", "3", "--disable"],
            "no tunnel 3",
        ),
        (
            "unknown tunnel: prefix",
            vec!["prefix", "add", "3", "2001:db8:300::/48"],
            "no tunnel 3",
        ),
        (
            "set with nothing",
            vec!["tunnel", "set", "1"],
            "nothing to change",
        ),
        (
            "MTU out of range: set",
            vec!["tunnel", "set", "1", "--mtu", "1279"],
            "out of range",
        ),
        (
            "routed prefix not global",
            vec!["prefix", "add", "1", "fd00::/48"],
            "not global unicast",
        ),
        (
            "prefix map full",
            vec!["prefix", "add", "1", "2001:db8:200::/48"],
            "", // filled below by adding prefixes until full
        ),
    ];
    for (name, args, msg) in &cases[..cases.len() - 1] {
        let out = b.daemon.ctl(args).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: succeeded");
        assert!(err.contains(msg), "{name}: stderr {err:?} lacks {msg:?}");
        if !name.starts_with("malformed") && !name.starts_with("prefix with") {
            assert_eq!(
                err.trim().lines().count(),
                1,
                "{name}: not one line: {err:?}"
            );
        }
        assert_eq!(
            b.daemon.ok(&["tunnel", "list", "--json"]).unwrap(),
            before,
            "{name}: state changed"
        );
    }
    // Map full: 8 prefix slots, 2 used by tunnel 1.
    let mut full = None;
    for i in 0..10 {
        let p = format!("2001:db8:{:x}::/48", 0x200 + i);
        let out = b.daemon.ctl(&["prefix", "add", "1", &p]).unwrap();
        if !out.status.success() {
            full = Some((p, String::from_utf8_lossy(&out.stderr).into_owned()));
            break;
        }
    }
    let (p, err) = full.expect("the prefix map never filled");
    assert!(err.contains("full"), "{err}");
    let list = b.daemon.ok(&["tunnel", "show", "1", "--json"]).unwrap();
    assert!(!list.contains(&p), "a refused prefix was stored: {list}");
}

#[test]
fn daemon_not_running_is_a_clear_error() {
    let out = std::process::Command::new(tunnel_tests::daemon::tunnelctl_bin().unwrap())
        .args(["--socket", "/nonexistent/tunnelctl.sock", "tunnel", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "exit status as busy");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("daemon not running"), "{err}");
}

/// One request line on the daemon's socket, the final response back as
/// JSON (what a script without tunnelctl sees).
fn raw_request(d: &Daemon, line: &str) -> serde_json::Value {
    use std::io::BufRead;
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut resp = String::new();
    std::io::BufReader::new(s).read_line(&mut resp).unwrap();
    serde_json::from_str(&resp).unwrap()
}

/// Failures carry a stable code on the wire and the CLI exits with its
/// status (README, "Exit codes and API errors").
#[test]
fn api_errors_have_codes_and_exit_statuses() {
    let b = bed(4, 8);
    b.daemon.ok(ADD_T1).unwrap();
    let add = |id: &'static str, remote: &'static str, prefix: &'static str| {
        vec![
            "tunnel",
            "add",
            id,
            "--local",
            "192.0.2.1",
            "--remote",
            remote,
            "--prefix",
            prefix,
        ]
    };
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["tunnel", "remove", "3"], 3, "not_found"),
        (vec!["tunnel", "show", "3"], 3, "not_found"),
        (add("1", "198.51.100.2", "2001:db8:2::/64"), 4, "conflict"),
        (add("2", "192.0.2.2", "2001:db8:2::/64"), 4, "conflict"),
        (add("2", "198.51.100.2", "2001:db8:100::/64"), 4, "conflict"),
        (add("2", "198.51.100.2", "2001:db8:2::/56"), 2, "invalid"),
        (vec!["tunnel", "set", "1"], 2, "invalid"),
        (vec!["prefix", "add", "1", "fe80::/48"], 2, "invalid"),
        (vec!["proxy", "remove", "2001:db8::77"], 3, "not_found"),
    ];
    for (args, status, code) in &cases {
        let out = b.daemon.ctl(args).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*status), "{args:?}: {err}");
        assert!(
            err.trim_end().ends_with(&format!("[{code}]")),
            "{args:?}: {err}"
        );
    }
    // Kinds: a dynamic one without its password is refused, clearly.
    let out = b
        .daemon
        .ctl(&[
            "tunnel",
            "add",
            "2",
            "--kind",
            "heartbeat",
            "--local",
            "192.0.2.1",
            "--prefix",
            "2001:db8:2::/64",
        ])
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a heartbeat tunnel needs a secret (its password or key)"),
        "{err}"
    );
    let out = b
        .daemon
        .ctl(&[
            "tunnel",
            "add",
            "2",
            "--local",
            "192.0.2.1",
            "--prefix",
            "2001:db8:2::/64",
        ])
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs a remote address"), "{err}");
    let list = b.daemon.ok(&["tunnel", "list", "--json"]).unwrap();
    assert!(list.contains(r#""kind": "sixin4""#), "{list}");
    // clap's own usage errors share the status of `invalid`.
    let out = b.daemon.ctl(&["tunnel", "add", "x"]).unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Map full: 8 prefix slots, 2 used by tunnel 1.
    let statuses: Vec<i32> = (0..8)
        .map(|i| {
            let p = format!("2001:db8:{:x}::/48", 0x200 + i);
            let out = b.daemon.ctl(&["prefix", "add", "1", &p]).unwrap();
            out.status.code().unwrap()
        })
        .collect();
    assert_eq!(statuses, [0, 0, 0, 0, 0, 0, 5, 5]);

    // The codes on the wire, from the real daemon.
    let v = tunnelctl::api::API_VERSION;
    let r = raw_request(
        &b.daemon,
        &format!(r#"{{"version":{v},"request":"tunnel_remove","id":3}}"#),
    );
    assert_eq!(
        (r["result"].as_str(), r["code"].as_str()),
        (Some("error"), Some("not_found")),
        "{r}"
    );
    assert_eq!(r["message"], "no tunnel 3");
    let r = raw_request(
        &b.daemon,
        &format!(r#"{{"version":{v},"request":"prefix_add","id":1,"prefix":"2001:db8:300::/48"}}"#),
    );
    assert_eq!(r["code"], "map_full", "{r}");
    let heartbeat = r#"{"id":3,"kind":"heartbeat","local":"192.0.2.1","prefix":"2001:db8:3::/64","secret":"sha1:12"}"#;
    let r = raw_request(
        &b.daemon,
        &format!(r#"{{"version":{v},"request":"tunnel_add","tunnel":{heartbeat}}}"#),
    );
    assert_eq!(r["code"], "invalid", "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("40 hex digits"),
        "{r}"
    );
    let r = raw_request(
        &b.daemon,
        &format!(r#"{{"version":{v},"request":"frobnicate"}}"#),
    );
    assert_eq!(r["code"], "invalid", "{r}");
    // A client of the previous API (1: no kinds, no codes).
    let old = v - 1;
    let r = raw_request(
        &b.daemon,
        &format!(r#"{{"version":{old},"request":"status"}}"#),
    );
    assert_eq!(r["code"], "unsupported_version", "{r}");
    let m = r["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("version {old}")) && m.contains(&format!("version {v}")),
        "{m}"
    );
}

/// The daemon's kernel routes in `ns` (read over rtnetlink): prefix →
/// (device, MTU).
fn kernel_routes(ns: &Netns) -> std::collections::BTreeMap<String, (String, u32)> {
    let _in = ns.enter().unwrap();
    let nl = Netlink::open().unwrap();
    let names: std::collections::HashMap<u32, String> = [LOCAL_DEV, "p0", "p1"]
        .iter()
        .filter_map(|n| nl.ifindex(n).ok().map(|i| (i, n.to_string())))
        .collect();
    nl.routes(DEFAULT_ROUTE_PROTOCOL)
        .unwrap()
        .into_iter()
        .map(|(p, r)| {
            let dev = names.get(&r.oif).cloned().unwrap_or_default();
            (p.to_string(), (dev, r.mtu))
        })
        .collect()
}

fn routes_are(ns: &Netns, want: &[(&str, u32)]) {
    let want: std::collections::BTreeMap<String, (String, u32)> = want
        .iter()
        .map(|(p, mtu)| (p.to_string(), (LOCAL_DEV.to_string(), *mtu)))
        .collect();
    assert_eq!(kernel_routes(ns), want);
}

/// Kernel routes follow the store (add, MTU change, routed prefixes,
/// remove), survive and are repaired by a restart, and carry the PoP's own
/// traffic to the user through the TC egress program.
#[test]
fn kernel_routes_follow_the_store_and_carry_the_pops_traffic() {
    let mut b = bed(64, 256);
    routes_are(&b.ns.pop, &[]);
    b.daemon.ok(ADD_T1).unwrap();
    let _peer = peer(&b.ns.client);
    routes_are(
        &b.ns.pop,
        &[("2001:db8:1::/64", 1480), ("2001:db8:100::/48", 1480)],
    );
    let out = ping(&b.ns.pop, &["-c", "3", "-i", "0.2", "2001:db8:1::2"]);
    assert!(out.contains("3 received"), "{out}\n{}", b.daemon.log());

    b.daemon
        .ok(&["tunnel", "set", "1", "--mtu", "1400"])
        .unwrap();
    b.daemon
        .ok(&["prefix", "add", "1", "2001:db8:200::/48"])
        .unwrap();
    routes_are(
        &b.ns.pop,
        &[
            ("2001:db8:1::/64", 1400),
            ("2001:db8:100::/48", 1400),
            ("2001:db8:200::/48", 1400),
        ],
    );
    b.daemon
        .ok(&["prefix", "remove", "1", "2001:db8:200::/48"])
        .unwrap();

    // Routes lost or left behind while the daemon is away are repaired at
    // the next start; the TC program is swapped on its pinned link.
    b.daemon.stop().unwrap();
    {
        let _in = b.ns.pop.enter().unwrap();
        let nl = Netlink::open().unwrap();
        let oif = nl.ifindex(LOCAL_DEV).unwrap();
        nl.delete_route(
            &"2001:db8:100::/48".parse().unwrap(),
            DEFAULT_ROUTE_PROTOCOL,
        )
        .unwrap();
        nl.put_route(
            &"2001:db8:999::/48".parse().unwrap(),
            oif,
            1280,
            DEFAULT_ROUTE_PROTOCOL,
        )
        .unwrap();
    }
    b.daemon.start().unwrap();
    routes_are(
        &b.ns.pop,
        &[("2001:db8:1::/64", 1400), ("2001:db8:100::/48", 1400)],
    );
    let out = ping(&b.ns.pop, &["-c", "2", "-i", "0.2", "2001:db8:1::2"]);
    assert!(out.contains("2 received"), "{out}\n{}", b.daemon.log());

    b.daemon.ok(&["tunnel", "remove", "1"]).unwrap();
    routes_are(&b.ns.pop, &[]);
    // No route left: the kernel has nowhere to send it.
    let out = ping(&b.ns.pop, &["-c", "1", "2001:db8:1::2"]);
    assert!(!out.contains("1 received"), "{out}");
}

/// The upstream router's neighbour entry for `addr` on u0: (state, MAC).
fn upstream_neighbour(ns: &Netns, addr: &str) -> String {
    let out = ns
        .output(&["ip", "-6", "neigh", "show", addr, "dev", "u0"])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The NDP proxy end to end: an upstream router that has the tunnel /64
/// on-link resolves the user's address only once the tunnel proxies it;
/// entries follow `tunnel set --proxy-ndp` and `proxy add|remove`, survive
/// a restart, and bad input changes nothing.
#[test]
fn ndp_proxy_lets_upstream_resolve_the_user() {
    let mut b = bed(4, 8);
    b.daemon.ok(ADD_T1).unwrap();
    let _peer = peer(&b.ns.client);
    let up = &b.ns.upstream;
    up.ip("-6 route replace 2001:db8:1::/64 dev u0").unwrap();
    let user = "2001:db8:1::2";
    let p1_mac = b.ns.pop.mac("p1").unwrap();

    // Not proxied: nobody answers the upstream router's solicitations.
    let out = ping(up, &["-c", "1", user]);
    assert!(out.contains(" 0 received"), "{out}");
    assert!(
        !upstream_neighbour(up, user).contains(&p1_mac),
        "{}",
        upstream_neighbour(up, user)
    );

    b.daemon
        .ok(&["tunnel", "set", "1", "--proxy-ndp", "true"])
        .unwrap();
    let list = b.daemon.ok(&["proxy", "list", "--json"]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let entries = v.as_array().unwrap();
    assert_eq!(entries.len(), 2, "one per uplink: {list}");
    for e in entries {
        assert_eq!(e["target"], user, "{list}");
        assert_eq!(e["source"], "tunnel 1", "{list}");
    }
    let _ = up.ip(&format!("-6 neigh del {user} dev u0"));
    let out = ping(up, &["-c", "3", "-i", "0.2", user]);
    assert!(out.contains("3 received"), "{out}\n{}", b.daemon.log());
    let n = upstream_neighbour(up, user);
    assert!(n.contains(&p1_mac), "neighbour {n:?}, p1 is {p1_mac}");
    let stats = b.daemon.ok(&["stats", "--json"]).unwrap();
    assert!(stats.contains("ndp_advertised"), "{stats}");

    // Manual entries and their bad input.
    b.daemon
        .ok(&[
            "proxy",
            "add",
            "2001:db8:ffff::99",
            "--uplink",
            "p1",
            "--router",
        ])
        .unwrap();
    let before = b.daemon.ok(&["proxy", "list", "--json"]).unwrap();
    assert!(
        before.contains("2001:db8:ffff::99") && before.contains("manual"),
        "{before}"
    );
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "multicast target",
            vec!["proxy", "add", "ff02::1"],
            "cannot be an NDP proxy target",
        ),
        (
            "unknown uplink",
            vec!["proxy", "add", "2001:db8::5", "--uplink", "eth9"],
            "is not an uplink",
        ),
        (
            "duplicate",
            vec!["proxy", "add", "2001:db8:ffff::99", "--uplink", "p1"],
            "already proxied",
        ),
        (
            "remove absent",
            vec!["proxy", "remove", "2001:db8::77"],
            "not proxied",
        ),
        (
            "malformed address",
            vec!["proxy", "add", "2001:db8::zz"],
            "invalid value",
        ),
    ];
    for (name, args, msg) in &cases {
        let out = b.daemon.ctl(args).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: succeeded");
        assert!(err.contains(msg), "{name}: stderr {err:?} lacks {msg:?}");
        assert_eq!(
            b.daemon.ok(&["proxy", "list", "--json"]).unwrap(),
            before,
            "{name}: state changed"
        );
    }

    // A restart keeps the entries (store → map reconciliation).
    b.daemon.stop().unwrap();
    b.daemon.start().unwrap();
    assert_eq!(b.daemon.ok(&["proxy", "list", "--json"]).unwrap(), before);
    let _ = up.ip(&format!("-6 neigh del {user} dev u0"));
    let out = ping(up, &["-c", "2", "-i", "0.2", user]);
    assert!(out.contains("2 received"), "{out}\n{}", b.daemon.log());

    b.daemon
        .ok(&["tunnel", "set", "1", "--proxy-ndp", "false"])
        .unwrap();
    b.daemon
        .ok(&["proxy", "remove", "2001:db8:ffff::99"])
        .unwrap();
    assert_eq!(
        b.daemon.ok(&["proxy", "list", "--json"]).unwrap().trim(),
        "[]"
    );
}

/// An operation that fails after the store checks passed (here: the kernel
/// refuses the route, its device gone) leaves store, maps and routes as
/// they were: the transaction is dropped and the derived state re-synced
/// from the committed store, with no undo written per operation.
#[test]
fn a_failure_half_way_leaves_store_and_maps_as_they_were() {
    let mut b = bed(4, 16);
    b.daemon.ok(ADD_T1).unwrap();
    let before = b.daemon.ok(&["tunnel", "list", "--json"]).unwrap();
    b.ns.pop.ip(&format!("link del {LOCAL_DEV}")).unwrap();
    let add2 = [
        "tunnel",
        "add",
        "2",
        "--local",
        "192.0.2.1",
        "--remote",
        "198.51.100.2",
        "--prefix",
        "2001:db8:2::/64",
        "--routed",
        "2001:db8:200::/48",
    ];
    let out = b.daemon.ctl(&add2).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("route") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert_eq!(b.daemon.ok(&["tunnel", "list", "--json"]).unwrap(), before);
    assert_eq!(
        pinned_tunnel_ids(&b.daemon, 4),
        [1],
        "tunnel 2 left in the maps"
    );
    // A start recreates the device and its routes; the same add then works.
    b.daemon.stop().unwrap();
    b.daemon.start().unwrap();
    routes_are(
        &b.ns.pop,
        &[("2001:db8:1::/64", 1480), ("2001:db8:100::/48", 1480)],
    );
    b.daemon.ok(&add2).unwrap();
    assert_eq!(pinned_tunnel_ids(&b.daemon, 4), [1, 2]);
}
