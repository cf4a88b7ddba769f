//! L2: what an operator can get wrong around a running PoP (issue 13): a
//! second daemon or a broken config must not touch the live datapath, pins
//! must not silently die with the daemon, special-use prefixes and
//! over-long API lines are refused, `prefix remove` names the tunnel.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    time::{Duration, Instant},
};

use aya::maps::{Array, Map, MapData};
use tunnel_common::tunnel::TunnelInfo;
use tunnel_tests::{
    daemon::{Daemon, HostBpffs, Launch},
    netns::Netns,
    pass,
    peer6in4::{Peer6in4, PeerConfig},
    topology::{Namespaces, CLIENT_V4, POP_V4, UPSTREAM_V6},
};
use tunnelctl::api::API_VERSION;

struct Bed {
    ns: Namespaces,
    daemon: Daemon,
}

/// The test bed with the daemon running and tunnel 1 added.
fn bed() -> Bed {
    let ns = Namespaces::new().expect("namespaces");
    pass::attach(&ns.client, "c0").unwrap();
    pass::attach(&ns.upstream, "u0").unwrap();
    let mut daemon = Daemon::new(&ns.pop, &["p0", "p1"], 8, 32).unwrap();
    daemon.start().unwrap();
    daemon
        .ok(&[
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
        ])
        .unwrap();
    Bed { ns, daemon }
}

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

/// Pings upstream from the user through the tunnel; the summary line.
fn ping_through(ns: &Netns, count: &str) -> String {
    let out = ns
        .output(&[
            "ping",
            "-6",
            "-n",
            "-W",
            "2",
            "-i",
            "0.2",
            "-c",
            count,
            UPSTREAM_V6,
        ])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Tunnel ids in the pinned TUNNELS map (what the datapath uses).
fn pinned_tunnel_ids(d: &Daemon) -> Vec<u32> {
    let path = d
        .pin_dir
        .join(format!("v{}", tunnel_common::ABI_VERSION))
        .join("maps")
        .join("TUNNELS");
    let a: Array<MapData, TunnelInfo> =
        Array::try_from(Map::Array(MapData::from_pin(&path).unwrap())).unwrap();
    (0..a.len())
        .filter(|i| a.get(i, 0).unwrap().kind != 0)
        .collect()
}

/// The id of the XDP program on `ifname`, if any: it changes whenever a
/// daemon (re)attaches, even onto the pinned link.
fn xdp_prog(ns: &Netns, ifname: &str) -> Option<String> {
    let out = ns.output(&["ip", "-d", "link", "show", ifname]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = text.find("prog/xdp id ")?;
    text[at + 12..].split_whitespace().next().map(str::to_owned)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_second_daemon_is_refused_and_names_the_first() {
    let b = bed();
    let _peer = peer(&b.ns.client);
    assert!(ping_through(&b.ns.client, "2").contains("2 received"));
    let pid = b.daemon.pid().unwrap();
    let prog = xdp_prog(&b.ns.pop, "p0").expect("xdp on p0");
    let d = &b.daemon;
    let other = |name: &str, state: bool, pins: bool| {
        let dir = d.dir.display().to_string();
        let mut changes = vec![
            ("socket_path", format!("\"{dir}/other-{name}.sock\"")),
            ("metrics_listen", "\"127.0.0.1:9642\"".to_owned()),
        ];
        if state {
            changes.push(("state_path", format!("\"{dir}/other-{name}.db\"")));
        }
        if pins {
            let pins = format!("\"{}-{name}\"", d.pin_dir.display());
            changes.push(("pin_dir", pins));
        }
        let changes: Vec<(&str, &str)> = changes.iter().map(|(k, v)| (*k, v.as_str())).collect();
        d.config_with(&format!("{name}.toml"), &changes).unwrap()
    };
    let cases = [
        ("the same config", d.config_path(), "state_path"),
        (
            "another socket",
            other("socket", false, false),
            "state_path",
        ),
        ("another state", other("state", true, false), "pin_dir"),
        ("another pin_dir", other("pins", false, true), "state_path"),
    ];
    for (name, config, what) in cases {
        let out = d.run_refused(&config, Launch::Nsenter).unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{name}: {err}");
        assert!(
            err.contains(&format!("{what} ")) && err.contains(&format!("(pid {pid})")),
            "{name}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
    }
    // The first daemon and its datapath never noticed.
    assert_eq!(xdp_prog(&b.ns.pop, "p0").as_ref(), Some(&prog));
    assert_eq!(pinned_tunnel_ids(d), [1]);
    assert_eq!(d.tunnel_ids().unwrap(), [1]);
    assert!(ping_through(&b.ns.client, "3").contains("3 received"));
    assert_eq!(d.log().matches("datapath loaded").count(), 1, "{}", d.log());
}

#[test]
fn a_start_that_fails_changes_nothing() {
    let mut b = bed();
    let _peer = peer(&b.ns.client);
    assert!(ping_through(&b.ns.client, "2").contains("2 received"));
    // Stopped, the daemon leaves the datapath running: what a broken
    // start would have found on a real PoP.
    b.daemon.stop().unwrap();
    let prog = xdp_prog(&b.ns.pop, "p0").expect("xdp on p0");
    let d = &b.daemon;
    let dir = d.dir.display().to_string();
    let empty_state = format!("\"{dir}/empty.db\"");
    let cases = [
        (
            "a missing uplink, the live pins and an empty store",
            d.config_with(
                "missing.toml",
                &[
                    ("uplinks", "[\"p0\", \"nosuch0\"]"),
                    ("state_path", &empty_state),
                ],
            )
            .unwrap(),
            "uplinks: nosuch0",
        ),
        (
            "a tunnel device that is not a veth",
            d.config_with("lo.toml", &[("local_device", "\"lo\"")])
                .unwrap(),
            "local_device lo exists and is not a veth",
        ),
        (
            "map sizes other than the pins'",
            d.config_with("sizes.toml", &[("max_tunnels", "16")])
                .unwrap(),
            "does not match",
        ),
        (
            "a store too big for the maps",
            d.config_with(
                "small.toml",
                &[
                    ("max_tunnels", "1"),
                    ("max_prefixes", "32"),
                    ("pin_dir", &format!("\"{}-small\"", d.pin_dir.display())),
                ],
            )
            .unwrap(),
            "max_tunnels",
        ),
    ];
    for (name, config, msg) in cases {
        let out = d.run_refused(&config, Launch::Nsenter).unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{name}: {err}");
        assert_eq!(pinned_tunnel_ids(d), [1], "{name}: maps changed: {err}");
        assert_eq!(
            xdp_prog(&b.ns.pop, "p0").as_ref(),
            Some(&prog),
            "{name}: reattached: {err}"
        );
        assert!(err.contains(msg), "{name}: {err}");
    }
    let _ = std::fs::remove_dir_all(format!("{}-small", d.pin_dir.display()));
    assert!(ping_through(&b.ns.client, "3").contains("3 received"));
    b.daemon.start().unwrap();
    assert_eq!(b.daemon.tunnel_ids().unwrap(), [1]);
    assert!(ping_through(&b.ns.client, "2").contains("2 received"));
}

#[test]
fn special_use_prefixes_are_refused() {
    let b = bed();
    let d = &b.daemon;
    let before = d.ok(&["tunnel", "list", "--json"]).unwrap();
    let cases = [
        ("ff02::/64", "multicast"),
        ("fe80::/64", "link-local"),
        ("::1/128", "loopback"),
        ("::/128", "unspecified"),
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("::/96", "IPv4-compatible"),
    ];
    let apply = d.dir.join("apply.json");
    for (p, class) in cases {
        let add = [
            "tunnel",
            "add",
            "2",
            "--local",
            "192.0.2.1",
            "--remote",
            "198.51.100.2",
            "--prefix",
            p,
        ];
        let routed = ["prefix", "add", "1", p];
        let state = serde_json::json!({ "tunnels": [{
            "id": 2, "local": "192.0.2.1", "remote": "198.51.100.2", "prefix": p,
        }]});
        std::fs::write(&apply, state.to_string()).unwrap();
        let apply = ["apply", "-f", apply.to_str().unwrap()];
        for args in [&add[..], &routed[..], &apply[..]] {
            let out = d.ctl(args).unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: not invalid: {err}");
            assert!(err.contains(class), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        }
        assert_eq!(d.ok(&["tunnel", "list", "--json"]).unwrap(), before, "{p}");
    }
    // Nor did any reach the kernel's routes: tunnel 1's two only.
    let out =
        b.ns.pop
            .output(&["ip", "-6", "route", "show", "proto", "116"])
            .unwrap();
    let routes = String::from_utf8_lossy(&out.stdout);
    assert_eq!(routes.lines().count(), 2, "{routes}");
}

#[test]
fn prefix_remove_names_the_tunnel() {
    let b = bed();
    let d = &b.daemon;
    d.ok(&[
        "tunnel",
        "add",
        "2",
        "--local",
        "192.0.2.1",
        "--remote",
        "198.51.100.2",
        "--prefix",
        "2001:db8:2::/64",
    ])
    .unwrap();
    let routed = |id: &str| -> String {
        let v: serde_json::Value =
            serde_json::from_str(&d.ok(&["tunnel", "show", id, "--json"]).unwrap()).unwrap();
        v["routed"].to_string()
    };
    assert_eq!(routed("1"), r#"["2001:db8:100::/48"]"#);
    // Exit statuses: conflict (it is there, and stays), usage, not found.
    let cases: [(&[&str], &str, i32); 3] = [
        (
            &["prefix", "remove", "2", "2001:db8:100::/48"],
            "2001:db8:100::/48 is routed to tunnel 1, not 2",
            4,
        ),
        (
            &["prefix", "remove", "2001:db8:100::/48"],
            "invalid value '2001:db8:100::/48'",
            2,
        ),
        (
            &["prefix", "remove", "1", "2001:db8:2::/64"],
            "not a routed prefix",
            3,
        ),
    ];
    for (args, msg, status) in cases {
        let out = d.ctl(args).unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(status), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert_eq!(routed("1"), r#"["2001:db8:100::/48"]"#, "{args:?}");
    }
    let out = d
        .ok(&["prefix", "remove", "1", "2001:db8:100::/48"])
        .unwrap();
    assert!(out.contains("removed from tunnel 1"), "{out}");
    assert_eq!(routed("1"), "[]");
}

/// Sends raw lines on one API connection; the answer to each.
fn api_lines(d: &Daemon, lines: &[String]) -> Vec<serde_json::Value> {
    let s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    lines
        .iter()
        .map(|l| {
            w.write_all(l.as_bytes()).unwrap();
            w.write_all(b"\n").unwrap();
            let mut answer = String::new();
            r.read_line(&mut answer).unwrap();
            serde_json::from_str(&answer).unwrap()
        })
        .collect()
}

#[test]
fn over_long_api_lines_get_an_error_and_the_daemon_keeps_serving() {
    let b = bed();
    let d = &b.daemon;
    // JSON allows the padding: only the length is wrong.
    let pad = " ".repeat(3 << 19);
    let status = format!("{{\"version\":{API_VERSION},\"request\":\"status\"}}");
    let long_status = format!("{{\"version\":{API_VERSION},\"request\":\"status\"{pad}}}");
    // An apply carries the whole state: it may be longer.
    let long_apply = format!(
        "{{\"version\":{API_VERSION},\"request\":\"apply\",\"state\":{{\"tunnels\":[]}},\"dry_run\":true{pad}}}"
    );
    let answers = api_lines(d, &[long_status, status.clone(), long_apply]);
    assert_eq!(answers[0]["result"], "error", "{}", answers[0]);
    let msg = answers[0]["message"].as_str().unwrap();
    assert!(msg.contains("longer than 1 MiB"), "{msg}");
    assert_eq!(answers[1]["result"], "status", "{}", answers[1]);
    assert_eq!(answers[2]["result"], "plan", "{}", answers[2]);
    // A line that never ends is read to its end without being kept.
    let huge = format!(
        "{{\"version\":{API_VERSION},\"request\":\"status\"{}}}",
        " ".repeat(80 << 20)
    );
    let answers = api_lines(d, &[huge, status]);
    assert_eq!(answers[0]["result"], "error", "{}", answers[0]);
    assert_eq!(answers[1]["result"], "status", "{}", answers[1]);
    assert_eq!(d.tunnel_ids().unwrap(), [1]);
}

/// A namespace with one veth pair, for a daemon that needs an uplink only.
fn one_uplink() -> Netns {
    let ns = Netns::new("pop").unwrap();
    ns.ip("link add p0 type veth peer name p0x").unwrap();
    ns.ip("link set p0 up").unwrap();
    ns.ip("link set p0x up").unwrap();
    ns
}

#[test]
fn pins_that_would_die_with_the_daemon_are_refused_unless_allowed() {
    let ns = one_uplink();
    let mut d = Daemon::new(&ns, &["p0"], 4, 8).unwrap();
    // `ip netns exec` remounts /sys: the daemon would mount a bpffs of its
    // own on /sys/fs/bpf, gone when it exits.
    let out = d
        .run_refused(&d.config_path(), Launch::IpNetnsExec)
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("private to this process's mount namespace")
            && err.contains("nsenter")
            && err.contains("allow_ephemeral_pins"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(xdp_prog(&ns, "p0"), None, "attached before refusing");

    // Allowed: it runs, says loudly what a restart costs, and indeed its
    // datapath goes with it.
    let allowed = d
        .config_with("tunnelctl.toml", &[("allow_ephemeral_pins", "true")])
        .unwrap();
    assert_eq!(allowed, d.config_path());
    d.start_with(Launch::IpNetnsExec).unwrap();
    assert!(d.log().contains("EPHEMERAL PINS"), "{}", d.log());
    assert!(xdp_prog(&ns, "p0").is_some());
    d.stop().unwrap();
    assert!(d.log().contains("the datapath goes with this process"));
    wait_detached(&ns);
    assert_eq!(
        xdp_prog(&ns, "p0"),
        None,
        "the ephemeral pins outlived the daemon"
    );

    // From the host's mount namespace the same config keeps its pins.
    d.start_with(Launch::Nsenter).unwrap();
    assert_eq!(d.log().matches("EPHEMERAL PINS").count(), 1, "{}", d.log());
    d.stop().unwrap();
    assert!(xdp_prog(&ns, "p0").is_some(), "pinned datapath detached");
    std::fs::remove_dir_all(&d.pin_dir).unwrap();
    wait_detached(&ns);

    // `ip netns exec` leaves the mounts outside /sys alone: pins on a bpffs
    // the host mounted there persist, and are accepted (README's advice).
    let host_bpf = HostBpffs::mount(&d.dir.join("bpf")).unwrap();
    let pin_dir = format!("\"{}/pop\"", host_bpf.path().display());
    let config = d
        .config_with(
            "tunnelctl.toml",
            &[("allow_ephemeral_pins", "false"), ("pin_dir", &pin_dir)],
        )
        .unwrap();
    assert_eq!(config, d.config_path());
    d.start_with(Launch::IpNetnsExec).unwrap();
    d.stop().unwrap();
    assert_eq!(d.log().matches("EPHEMERAL PINS").count(), 1, "{}", d.log());
    assert!(xdp_prog(&ns, "p0").is_some(), "pinned datapath detached");
}

fn wait_detached(ns: &Netns) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while xdp_prog(ns, "p0").is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}
