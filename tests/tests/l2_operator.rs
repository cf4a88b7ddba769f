//! L2: what an operator can get wrong around a running PoP (issue 13):
//! special-use prefixes and over-long API lines are refused, `prefix
//! remove` names the tunnel.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    time::Duration,
};

use tunnel_tests::{daemon::Daemon, topology::Namespaces};
use tunnelctl::{api::API_VERSION, Datapath, DatapathOptions};

struct Bed {
    ns: Namespaces,
    daemon: Daemon,
    _peers: Datapath,
}

/// The test bed with the daemon running and tunnel 1 added.
fn bed() -> Bed {
    let ns = Namespaces::new().expect("namespaces");
    let mut peers = Datapath::load(DatapathOptions {
        max_tunnels: 1,
        max_prefixes: 1,
        ..Default::default()
    })
    .unwrap();
    ns.attach_peers(&mut peers).unwrap();
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
    Bed {
        ns,
        daemon,
        _peers: peers,
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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
            assert!(!out.status.success(), "{args:?}: accepted");
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
    let cases: [(&[&str], &str); 3] = [
        (
            &["prefix", "remove", "2", "2001:db8:100::/48"],
            "2001:db8:100::/48 is routed to tunnel 1, not 2",
        ),
        (
            &["prefix", "remove", "2001:db8:100::/48"],
            "invalid value '2001:db8:100::/48'",
        ),
        (
            &["prefix", "remove", "1", "2001:db8:2::/64"],
            "not a routed prefix",
        ),
    ];
    for (args, msg) in cases {
        let out = d.ctl(args).unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: succeeded");
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
