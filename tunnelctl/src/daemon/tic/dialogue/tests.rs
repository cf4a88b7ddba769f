use super::*;

/// Two users, each with tunnels; John's T2 is an old store's key-only
/// AYIYA tunnel.
struct Fake {
    users: Vec<UserRow>,
    tunnels: Vec<TunnelSpec>,
    broken: bool,
}

impl Directory for Fake {
    fn user(&self, name: &str) -> anyhow::Result<Option<UserRow>> {
        if self.broken {
            anyhow::bail!("database is locked");
        }
        Ok(self.users.iter().find(|u| u.name == name).cloned())
    }
    fn tunnels(&self, owner: &str) -> anyhow::Result<Vec<TunnelSpec>> {
        if self.broken {
            anyhow::bail!("database is locked");
        }
        Ok(self
            .tunnels
            .iter()
            .filter(|t| t.owner.as_deref() == Some(owner))
            .cloned()
            .collect())
    }
}

fn tunnel(v: serde_json::Value) -> TunnelSpec {
    serde_json::from_value(v).unwrap()
}

fn fake() -> Fake {
    Fake {
        users: vec![
            UserRow {
                name: "JOHN1-SIXXS".into(),
                full_name: Some("John Doe".into()),
                // md5hex("examplepassword"), ayiya-spec.md §2.2.
                password_md5: "8ac4253450b2e0eccdfe0fa24036b6d5".into(),
            },
            UserRow {
                name: "JANE".into(),
                full_name: None,
                password_md5: auth::md5hex(b"janes"),
            },
        ],
        tunnels: vec![
            tunnel(
                serde_json::json!({"id": 1, "kind": "ayiya", "local": "192.0.2.1",
                "prefix": "2001:db8:1::/64", "secret": "tunnelpw", "owner": "JOHN1-SIXXS",
                "routed": ["2001:db8:100::/48"]}),
            ),
            tunnel(
                serde_json::json!({"id": 2, "kind": "ayiya", "local": "192.0.2.1",
                "prefix": "2001:db8:2::/64", "owner": "JOHN1-SIXXS",
                "secret": "sha1:5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fba"}),
            ),
            tunnel(
                serde_json::json!({"id": 3, "local": "192.0.2.1", "remote": "198.51.100.3",
                "prefix": "2001:db8:3::/64", "owner": "JANE"}),
            ),
        ],
        broken: false,
    }
}

/// The spec's challenge, so the spec's response logs in.
fn spec_challenge() -> String {
    "856c90f3a2c2bc469d5b490cb02c3378".into()
}

fn session() -> Session {
    Session::new(
        Arc::new(Pop {
            id: "pop01".into(),
            ipv4: vec![],
        }),
        "198.51.100.9".parse().unwrap(),
        "192.0.2.1".parse().unwrap(),
        spec_challenge,
    )
}

const NOW: u64 = 1_700_000_000;

/// Sends `line`, returns the reply's lines.
fn say(s: &mut Session, d: &Fake, line: &str) -> Vec<String> {
    s.handle(line.as_bytes(), d, NOW).lines
}

fn login(s: &mut Session, d: &Fake) {
    say(s, d, "username JOHN1-SIXXS");
    say(s, d, "challenge md5");
    let r = s.handle(b"authenticate md5 fd3ce42d9f43195445e35d9862b4c331", d, NOW);
    assert_eq!(
        r.event,
        Event::LoginOk {
            user: "JOHN1-SIXXS".into()
        }
    );
}

/// AICCU 2007.01.15's whole exchange (ayiya-spec.md §2.2), with the
/// spec's login vector, reply by reply.
#[test]
fn aiccu_session() {
    let d = fake();
    let mut s = session();
    assert_eq!(s.greeting(), "200 tunnelctl TIC Service on pop01 ready");
    let exchange: &[(&str, &[&str])] = &[
        (
            "client TIC/draft-00 AICCU/2007.01.15-console-linux Linux/6.1.0",
            &["200 Client Identity accepted"],
        ),
        ("get unixtime", &["200 1700000000"]),
        ("starttls", &["400 This service is not SSL enabled"]),
        (
            "username JOHN1-SIXXS",
            &["200 Choose your authentication challenge please"],
        ),
        ("challenge md5", &["200 856c90f3a2c2bc469d5b490cb02c3378"]),
        (
            "authenticate md5 fd3ce42d9f43195445e35d9862b4c331",
            &["200 Succesfully logged in using md5 as JOHN1-SIXXS (John Doe) from 198.51.100.9"],
        ),
        (
            "tunnel list",
            // T2 (key only) is left out; JANE's T3 is not John's.
            &[
                "201 Listing tunnels",
                "T1 2001:db8:1::2 ayiya pop01",
                "202 <tunnel_list done>",
            ],
        ),
        (
            "tunnel show T1",
            &[
                "201 Showing tunnel information for T1",
                "TunnelId: T1",
                "Type: ayiya",
                "IPv6 Endpoint: 2001:db8:1::2",
                "IPv6 POP: 2001:db8:1::1",
                "IPv6 PrefixLength: 64",
                "Tunnel MTU: 1480",
                "Tunnel Name: T1",
                "POP Id: pop01",
                "IPv4 Endpoint: ayiya",
                "IPv4 POP: 192.0.2.1",
                "UserState: enabled",
                "AdminState: enabled",
                "Password: tunnelpw",
                "Heartbeat_Interval: 60",
                "202 Done",
            ],
        ),
        (
            "route list",
            &[
                "201 Listing routes",
                "R1 T1 2001:db8:100::/48",
                "202 <route_list done>",
            ],
        ),
        (
            "pop show pop01",
            &[
                "201 Showing PoP information for pop01",
                "POPId: pop01",
                "IPv4: 192.0.2.1",
                "202 Done",
            ],
        ),
    ];
    for (line, want) in exchange {
        let r = s.handle(line.as_bytes(), &d, NOW);
        assert_eq!(r.lines, *want, "{line}");
        assert!(!r.close, "{line}");
    }
    let r = s.handle(b"QUIT Flight of the Bumblebee", &d, NOW);
    assert_eq!(r.lines, ["200 Thank you for using this TIC service"]);
    assert!(r.close);
}

/// Another user's tunnel and one that does not exist get the same words.
#[test]
fn no_oracle_for_other_tunnels() {
    let d = fake();
    let mut s = session();
    login(&mut s, &d);
    for id in ["T3", "T99", "3", "Tx", "T-1"] {
        assert_eq!(
            say(&mut s, &d, &format!("tunnel show {id}")),
            ["400 No such tunnel"],
            "{id}"
        );
    }
    // The user's own key-only tunnel: told why.
    let r = say(&mut s, &d, "tunnel show T2");
    assert!(
        r[0].starts_with("400 Tunnel T2 cannot be served over TIC: only its AYIYA key"),
        "{r:?}"
    );
    // Jane sees hers, and only hers.
    let mut j = session();
    j.new_challenge = || "c".into();
    say(&mut j, &d, "username JANE");
    say(&mut j, &d, "challenge md5");
    let resp = auth::response("c", &auth::md5hex(b"janes"));
    let r = j.handle(format!("authenticate md5 {resp}").as_bytes(), &d, NOW);
    assert_eq!(
        r.lines,
        ["200 Succesfully logged in using md5 as JANE (JANE) from 198.51.100.9"]
    );
    assert_eq!(
        say(&mut j, &d, "tunnel list"),
        [
            "201 Listing tunnels",
            "T3 2001:db8:3::2 198.51.100.3 pop01",
            "202 <tunnel_list done>"
        ]
    );
    assert_eq!(say(&mut j, &d, "tunnel show T1"), ["400 No such tunnel"]);
    assert_eq!(
        say(&mut j, &d, "route list"),
        ["201 Listing routes", "202 <route_list done>"]
    );
}

/// Everything that needs a login refuses before it, with a 4xx.
#[test]
fn commands_before_login() {
    let d = fake();
    let mut s = session();
    for line in ["tunnel list", "tunnel show T1", "route list"] {
        let r = say(&mut s, &d, line);
        assert_eq!(r.len(), 1, "{line}");
        assert!(r[0].starts_with("400 Not logged in"), "{line}: {r:?}");
    }
    // The order of the login's steps.
    assert_eq!(
        say(&mut s, &d, "challenge md5"),
        ["400 Give your username first"]
    );
    assert_eq!(
        say(
            &mut s,
            &d,
            "authenticate md5 fd3ce42d9f43195445e35d9862b4c331"
        ),
        ["400 Ask for a challenge first: challenge md5"]
    );
    say(&mut s, &d, "username JOHN1-SIXXS");
    assert_eq!(
        say(&mut s, &d, "challenge sha1"),
        ["400 Unsupported challenge type, only md5 is"]
    );
    say(&mut s, &d, "challenge md5");
    assert_eq!(
        say(&mut s, &d, "authenticate clear examplepassword"),
        ["400 Unsupported authentication method, only md5 is"]
    );
    // pop list/show need no login.
    assert_eq!(say(&mut s, &d, "pop list")[1], "pop01");
    assert_eq!(say(&mut s, &d, "pop show nope"), ["400 No such PoP"]);
    login(&mut s, &d);
    assert_eq!(say(&mut s, &d, "username JANE"), ["400 Already logged in"]);
    assert_eq!(say(&mut s, &d, "challenge md5"), ["400 Already logged in"]);
}

/// Wrong passwords and unknown users fail alike; each challenge is good
/// for one try; the third failure closes the session.
#[test]
fn login_failures() {
    let d = fake();
    let mut s = session();
    let fail = |s: &mut Session, user: &str, resp: &str| {
        say(s, &d, &format!("username {user}"));
        say(s, &d, "challenge md5");
        s.handle(format!("authenticate md5 {resp}").as_bytes(), &d, NOW)
    };
    let r = fail(&mut s, "JOHN1-SIXXS", "00000000000000000000000000000000");
    assert_eq!(r.lines, ["400 Login failed, login/password mismatch"]);
    assert_eq!(
        r.event,
        Event::LoginFailed {
            user: "JOHN1-SIXXS".into()
        }
    );
    assert!(!r.close);
    // The right response for the spec's password, but to an unknown user.
    let r = fail(&mut s, "NOBODY", "fd3ce42d9f43195445e35d9862b4c331");
    assert_eq!(r.lines, ["400 Login failed, login/password mismatch"]);
    assert!(!r.close);
    // A challenge is used up by one try, right or wrong.
    assert_eq!(
        say(
            &mut s,
            &d,
            "authenticate md5 fd3ce42d9f43195445e35d9862b4c331"
        ),
        ["400 Ask for a challenge first: challenge md5"]
    );
    let r = fail(&mut s, "JOHN1-SIXXS", "fd3ce42d9f43195445e35d9862b4c330");
    assert!(r.close, "third failure closes");
    assert_eq!(s.user(), None);
}

#[test]
fn bad_lines_and_store_failures() {
    let mut d = fake();
    let mut s = session();
    for (line, want) in [
        (&b"helo"[..], "400 Unknown command"),
        (b"", "400 Empty command"),
        (b"tunnel\x00list", "400 Invalid characters in command"),
        (b"\xc3\x28", "400 Invalid characters in command"),
    ] {
        let r = s.handle(line, &d, NOW);
        assert_eq!(
            (r.lines, r.close, r.event),
            (vec![want.to_owned()], false, Event::BadLine)
        );
    }
    login(&mut s, &d);
    d.broken = true;
    let r = s.handle(b"tunnel list", &d, NOW);
    assert_eq!(r.lines, ["400 Temporary failure, try again later"]);
    assert!(matches!(r.event, Event::Internal(e) if e.contains("locked")));
}

/// Lines of every length and content: one reply line at least, a 2xx or
/// 4xx code in front, never a panic.
#[test]
fn any_line_gets_a_coded_reply() {
    use proptest::prelude::*;
    let d = fake();
    proptest!(|(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8))| {
        let mut s = session();
        for l in &lines {
            let r = s.handle(l, &d, NOW);
            prop_assert!(!r.lines.is_empty());
            prop_assert!(r.lines[0].starts_with('2') || r.lines[0].starts_with('4'));
            if r.close { break; }
        }
    });
}

/// Serves one connection on `l` with a session over `fake()`, the way
/// the server does (without its limits).
fn serve_one(l: std::net::TcpListener) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let (s, _) = l.accept().unwrap();
        let d = fake();
        let mut sess = session();
        sess.new_challenge = || "0123456789abcdef0123456789abcdef".into();
        let mut w = s.try_clone().unwrap();
        // The client may close first (after QUIT, or a refusal).
        let _ = writeln!(w, "{}", sess.greeting());
        let mut r = std::io::BufReader::new(s);
        let mut line = Vec::new();
        while r.read_until(b'\n', &mut line).unwrap() > 0 {
            let l = line.strip_suffix(b"\n").unwrap_or(&line);
            let reply = sess.handle(l, &d, NOW);
            for out in &reply.lines {
                let _ = writeln!(w, "{out}");
            }
            if reply.close {
                return;
            }
            line.clear();
        }
    })
}

/// `tunnelctl client --tic`'s side of TIC against this dialogue: a login,
/// the only usable tunnel picked, its keys read; a wrong password and a
/// wrong tunnel refused with the server's words.
#[test]
fn the_client_side_logs_in() {
    use crate::tic::client::{fetch, TicError};
    let run = |user: &str, pw: &[u8], want: Option<u32>, now: i64| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = serve_one(l);
        let s = std::net::TcpStream::connect(addr).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = std::io::BufReader::new(s);
        let got = fetch(&mut r, &mut w, user, pw, want, now);
        drop((r, w));
        server.join().unwrap();
        got
    };
    let now = NOW as i64;
    let t = run("JOHN1-SIXXS", b"examplepassword", None, now).unwrap();
    assert_eq!((t.id, t.kind.as_str(), t.mtu), (1, "ayiya", 1480));
    assert_eq!(t.password.as_deref(), Some("tunnelpw"));
    assert_eq!(t.ipv4_pop, "192.0.2.1");
    assert!(t.enabled);
    let e = run("JOHN1-SIXXS", b"wrong", None, now).unwrap_err();
    assert!(
        matches!(&e, TicError::Login { said, .. } if said == "400 Login failed, login/password mismatch"),
        "{e}"
    );
    let e = run("JOHN1-SIXXS", b"examplepassword", Some(3), now).unwrap_err();
    assert!(e.to_string().contains("No such tunnel"), "{e}");
    let e = run("JOHN1-SIXXS", b"examplepassword", None, now + 121).unwrap_err();
    assert!(e.to_string().contains("off by 121 s"), "{e}");
}
