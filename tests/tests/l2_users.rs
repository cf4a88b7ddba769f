//! L2: TIC's users and tunnel owners through the real daemon and the real
//! `tunnelctl` (issue 12): `user add|list|remove`, `--owner` on `tunnel
//! add|set` and in `apply -f`, kept across a restart; bad input refused
//! with a clear message and its exit status, and nothing changed; the
//! password itself never stored.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use tunnel_tests::{
    daemon::{tunnelctl_bin, Daemon},
    netns::Netns,
};

/// Field order is drop order: the daemon (and its pins) before the
/// namespace.
struct Bed {
    daemon: Daemon,
    _ns: Netns,
}

/// A namespace with one veth pair as the uplink, the daemon on it, and
/// tunnels 1 (6in4) and 2 (AYIYA), without owners.
fn bed() -> Bed {
    let ns = Netns::new("users").unwrap();
    ns.ip("link add usr0 type veth peer name usr1").unwrap();
    ns.ip("link set usr0 up").unwrap();
    ns.ip("link set usr1 up").unwrap();
    let mut daemon = Daemon::new(&ns, &["usr0"], 8, 32).unwrap();
    daemon.start().unwrap();
    daemon
        .ok(&[
            "tunnel",
            "add",
            "1",
            "--local",
            "192.0.2.1",
            "--remote",
            "198.51.100.2",
            "--prefix",
            "2001:db8:1::/64",
        ])
        .unwrap();
    daemon
        .ok(&[
            "tunnel",
            "add",
            "2",
            "--kind",
            "ayiya",
            "--local",
            "192.0.2.1",
            "--password",
            "tunnelpw",
            "--prefix",
            "2001:db8:2::/64",
        ])
        .unwrap();
    Bed { daemon, _ns: ns }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(d: &Daemon, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&d.ok(args).unwrap()).unwrap()
}

/// Runs a command that must fail with exit `code` and a message
/// containing `msg`.
fn refused(d: &Daemon, args: &[&str], code: i32, msg: &str) {
    let out = d.ctl(args).unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(msg), "{args:?}: {err}");
}

/// `tunnelctl user add NAME …` with `input` on standard input (not a
/// terminal: the password is its first line).
fn add_with_stdin(d: &Daemon, args: &[&str], input: &str) -> Output {
    let mut c = Command::new(tunnelctl_bin().unwrap())
        .arg("--socket")
        .arg(&d.socket)
        .args(["user", "add"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

fn owners(d: &Daemon) -> Vec<(u64, Option<String>)> {
    json(d, &["tunnel", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().unwrap(),
                t["owner"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn users_owners_and_restart() {
    let mut b = bed();
    let d = &mut b.daemon;
    assert_eq!(json(d, &["user", "list", "--json"]), serde_json::json!([]));

    // From a file (its line end is not part of the password), and from
    // standard input.
    let pwfile = d.dir.join("john.pw");
    std::fs::write(&pwfile, "examplepassword\n").unwrap();
    d.ok(&[
        "user",
        "add",
        "JOHN1-SIXXS",
        "--full-name",
        "John Doe",
        "--password-file",
        pwfile.to_str().unwrap(),
    ])
    .unwrap();
    let out = add_with_stdin(d, &["jane.doe"], "another secret\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("another secret"));

    let users = json(d, &["user", "list", "--json"]);
    assert_eq!(
        users,
        serde_json::json!([
            {"name": "JOHN1-SIXXS", "full_name": "John Doe", "tunnels": []},
            {"name": "jane.doe", "tunnels": []},
        ])
    );
    // Only md5hex(password) is kept (ayiya-spec.md §2.2's example), never
    // the password; the list never shows either.
    let db = std::fs::read(d.dir.join("state.db")).unwrap();
    let wal = std::fs::read(d.dir.join("state.db-wal")).unwrap_or_default();
    let has = |needle: &str| {
        [&db, &wal]
            .iter()
            .any(|f| f.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    assert!(has("8ac4253450b2e0eccdfe0fa24036b6d5"), "md5hex not stored");
    assert!(
        !has("examplepassword") && !has("another secret"),
        "cleartext stored"
    );
    assert!(!users.to_string().contains("8ac42534"));
    let table = d.ok(&["user", "list"]).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("JOHN1-SIXXS") && l.contains("John Doe")),
        "{table}"
    );

    // Owners: at add, at set, taken away.
    d.ok(&[
        "tunnel",
        "add",
        "3",
        "--kind",
        "ayiya",
        "--local",
        "192.0.2.1",
        "--password",
        "pw3",
        "--prefix",
        "2001:db8:3::/64",
        "--owner",
        "JOHN1-SIXXS",
    ])
    .unwrap();
    d.ok(&["tunnel", "set", "2", "--owner", "JOHN1-SIXXS"])
        .unwrap();
    d.ok(&["tunnel", "set", "1", "--owner", "jane.doe"])
        .unwrap();
    d.ok(&["tunnel", "set", "1", "--no-owner"]).unwrap();
    assert_eq!(
        owners(d),
        [
            (1, None),
            (2, Some("JOHN1-SIXXS".into())),
            (3, Some("JOHN1-SIXXS".into()))
        ]
    );
    let show = d.ok(&["tunnel", "show", "3"]).unwrap();
    assert!(show.contains("owner     JOHN1-SIXXS"), "{show}");
    let list = d.ok(&["tunnel", "list"]).unwrap();
    assert!(list.lines().next().unwrap().contains("OWNER"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("2 ") && l.contains("JOHN1-SIXXS")),
        "{list}"
    );
    assert_eq!(
        json(d, &["user", "list", "--json"])[0]["tunnels"],
        serde_json::json!([2, 3])
    );

    // Bad input: refused, with nothing changed.
    let before_users = json(d, &["user", "list", "--json"]);
    let before_tunnels = json(d, &["tunnel", "list", "--json"]);
    for (args, code, msg) in [
        (
            &[
                "user",
                "add",
                "bad name",
                "--password-file",
                pwfile.to_str().unwrap(),
            ][..],
            2,
            "' ' is not allowed",
        ),
        (
            &[
                "user",
                "add",
                &"x".repeat(33),
                "--password-file",
                pwfile.to_str().unwrap(),
            ],
            2,
            "1 to 32 characters",
        ),
        (
            &[
                "user",
                "add",
                "JOHN1-SIXXS",
                "--password-file",
                pwfile.to_str().unwrap(),
            ],
            4,
            "user JOHN1-SIXXS already exists",
        ),
        (
            &["user", "add", "bob", "--password-file", "/nonexistent/pw"],
            1,
            "reading the password file",
        ),
        (
            &["user", "remove", "JOHN1-SIXXS"],
            4,
            "user JOHN1-SIXXS owns tunnels 2, 3",
        ),
        (&["user", "remove", "nobody"], 3, "no user nobody"),
        (
            &["tunnel", "set", "1", "--owner", "nobody"],
            3,
            "owner nobody: no such user",
        ),
        (
            &["tunnel", "set", "1", "--owner", "a b"],
            2,
            "owner: user name",
        ),
        (
            &["tunnel", "set", "1", "--owner", ""],
            2,
            "--owner: a user name",
        ),
        (
            &[
                "tunnel",
                "add",
                "4",
                "--local",
                "192.0.2.1",
                "--remote",
                "198.51.100.4",
                "--prefix",
                "2001:db8:4::/64",
                "--owner",
                "nobody",
            ],
            3,
            "owner nobody: no such user",
        ),
    ] {
        refused(d, args, code, msg);
    }
    // An empty password from standard input.
    let out = add_with_stdin(d, &["bob"], "\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the password is empty"));
    assert_eq!(json(d, &["user", "list", "--json"]), before_users);
    assert_eq!(json(d, &["tunnel", "list", "--json"]), before_tunnels);

    // apply -f: the owner is part of the tunnel; the plan sees it change.
    let file = d.dir.join("state.json");
    let mut state = serde_json::json!({"tunnels": before_tunnels.as_array().unwrap().iter().map(|t| {
        let mut t = t.clone();
        let o = t.as_object_mut().unwrap();
        for k in ["stats", "state", "endpoint"] { o.remove(k); }
        if o["kind"] == "ayiya" { o.insert("secret".into(), "pw".into()); }
        t
    }).collect::<Vec<_>>()});
    state["tunnels"][0]["owner"] = "jane.doe".into();
    state["tunnels"][1].as_object_mut().unwrap().remove("owner");
    std::fs::write(&file, state.to_string()).unwrap();
    let f = file.to_str().unwrap();
    let plan = json(d, &["apply", "-f", f, "--dry-run", "--json"]);
    // Tunnels 2 and 3 change anyway (their secret is given as a new
    // password); 1 only by its owner.
    assert!(
        plan["plan"]["change"]
            .as_array()
            .unwrap()
            .contains(&1.into()),
        "{plan}"
    );
    d.ok(&["apply", "-f", f]).unwrap();
    assert_eq!(
        owners(d),
        [
            (1, Some("jane.doe".into())),
            (2, None),
            (3, Some("JOHN1-SIXXS".into()))
        ]
    );
    let again = json(d, &["apply", "-f", f, "--dry-run", "--json"]);
    assert!(
        again["plan"]["change"].as_array().unwrap().is_empty(),
        "{again}"
    );
    // An owner that is no user: the whole apply is refused.
    state["tunnels"][1]["owner"] = "nobody".into();
    state["tunnels"][0].as_object_mut().unwrap().remove("owner");
    std::fs::write(&file, state.to_string()).unwrap();
    refused(d, &["apply", "-f", f], 3, "owner nobody: no such user");
    assert_eq!(owners(d)[0], (1, Some("jane.doe".into())));

    // Everything survives a restart.
    let users = json(d, &["user", "list", "--json"]);
    d.stop().unwrap();
    d.start().unwrap();
    assert_eq!(json(d, &["user", "list", "--json"]), users);
    assert_eq!(
        owners(d),
        [
            (1, Some("jane.doe".into())),
            (2, None),
            (3, Some("JOHN1-SIXXS".into()))
        ]
    );

    // Once the tunnels are gone (or given away), the user can go.
    d.ok(&["tunnel", "remove", "3"]).unwrap();
    d.ok(&["user", "remove", "JOHN1-SIXXS"]).unwrap();
    d.ok(&["tunnel", "set", "1", "--no-owner"]).unwrap();
    d.ok(&["user", "remove", "jane.doe"]).unwrap();
    assert_eq!(json(d, &["user", "list", "--json"]), serde_json::json!([]));
    assert!(!d.log().contains("examplepassword"));
}
