//! L2: the TIC server (issue 12) in the real daemon, and `tunnelctl
//! client --tic` against it from behind a masquerading NAT.
//!
//! The bed: `tunnel_tests::ayiya_nat` (its drawing there), with the daemon
//! restarted with `tic_listen` on the PoP's address 203.0.113.1:3874 and
//! short limits (2 s idle, 6 s per session, 4 sessions), a user
//! JOHN1-SIXXS owning the AYIYA tunnel 1.
//!
//! Cases: the client logs in as AICCU does, reads its tunnel and brings
//! it up (ping through it upstream, the tun device at TIC's MTU; a
//! heartbeat tunnel, on the heartbeat bed, with the heartbeat client); a wrong
//! password and an unknown user are refused (exit 8, the server's words)
//! and change nothing, another user's tunnel is not found (exit 3). Raw
//! TCP sessions: bad lines of many lengths, an over-long line, a silent
//! and a slow connection, a never-ending session, too many connections:
//! each gets the protocol's answer, and the daemon stays healthy (a good
//! login after them works, the open-session gauge is back to 0).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Command, Output},
    thread,
    time::{Duration, Instant},
};

use tunnel_tests::{
    ayiya_nat::*,
    daemon::{metrics, tunnelctl_bin},
};
use tunnelctl::tic::auth;

const USER: &str = "JOHN1-SIXXS";
const USER_PW: &str = "examplepassword";
const TIC: &str = "203.0.113.1:3874";

/// The AYIYA bed, its daemon serving TIC, tunnel 1 owned by JOHN1-SIXXS;
/// returns the bed and the path of a file with the user's password.
fn bed() -> (AyiyaBed, std::path::PathBuf) {
    with_tic(AyiyaBed::new().expect("bed"))
}

/// `b`'s daemon restarted with TIC on, JOHN1-SIXXS owning tunnel 1.
fn with_tic(mut b: AyiyaBed) -> (AyiyaBed, std::path::PathBuf) {
    let d = &mut b.daemon;
    d.stop().unwrap();
    d.config_with(
        "tunnelctl.toml",
        &[
            ("tic_listen", &format!("\"{TIC}\"")),
            ("tic_line_timeout_s", "2"),
            ("tic_session_timeout_s", "6"),
            ("tic_max_connections", "4"),
            ("pop_id", "\"pop-test\""),
        ],
    )
    .unwrap();
    d.start().unwrap();
    let pw = d.dir.join("user.pw");
    std::fs::write(&pw, format!("{USER_PW}\n")).unwrap();
    d.ok(&[
        "user",
        "add",
        USER,
        "--full-name",
        "John Doe",
        "--password-file",
        pw.to_str().unwrap(),
    ])
    .unwrap();
    d.ok(&["tunnel", "set", "1", "--owner", USER]).unwrap();
    (b, pw)
}

/// `tunnelctl client --tic …` in the client namespace, expected to give
/// up: its output once it exits (at most 20 s).
fn client_refused(b: &AyiyaBed, args: &[&str]) -> Output {
    let mut c = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", b.client.name()))
        .arg(tunnelctl_bin().unwrap())
        .args(["client", "--tic", "203.0.113.1", "--tun", TUN])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if c.try_wait().unwrap().is_some() {
            return c.wait_with_output().unwrap();
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    panic!(
        "the client did not give up: {:?}",
        c.wait_with_output().unwrap()
    );
}

/// A metric's value from /metrics (0 when absent).
fn metric(b: &AyiyaBed, name: &str) -> u64 {
    metrics(&b.pop)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn client_tic_refusals_change_nothing() {
    let (b, pw) = bed();
    let wrong = b.daemon.dir.join("wrong.pw");
    std::fs::write(&wrong, "not the password\n").unwrap();

    // A wrong password, and an unknown user: the same refusal, exit 8
    // (permission denied), and the tunnel untouched.
    for (user, file) in [(USER, &wrong), ("NOBODY", &pw)] {
        let out = client_refused(
            &b,
            &["--user", user, "--password-file", file.to_str().unwrap()],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(8), "{user}: {err}");
        assert!(
            err.contains(&format!("TIC login as {user} failed"))
                && err.contains("400 Login failed, login/password mismatch"),
            "{user}: {err}"
        );
        assert!(!err.contains(USER_PW) && !err.contains("not the password"));
    }
    assert_eq!(b.state().unwrap(), "down");
    assert_eq!(b.endpoint().unwrap(), None);
    // A tunnel that is not the user's: not found (exit 3).
    let out = client_refused(
        &b,
        &[
            "--user",
            USER,
            "--password-file",
            pw.to_str().unwrap(),
            "--tunnel",
            "T7",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("400 No such tunnel"));

    assert_eq!(
        metric(&b, "tunnelpop_tic_logins_total{result=\"failed\"}"),
        2
    );
}

/// `tunnel list`'s tunnel lines.
fn list(s: &mut Raw) -> Vec<String> {
    assert_eq!(s.say("tunnel list"), "201 Listing tunnels");
    let mut out = Vec::new();
    loop {
        let l = s.line();
        if l.starts_with("202") {
            return out;
        }
        out.push(l);
    }
}

/// Waits (5 s at most) for the server's open-session gauge to be 0: a
/// session's slot is freed just after its last words.
fn wait_no_sessions(b: &AyiyaBed) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(b, "tunnelpop_tic_connections") != 0 {
        assert!(
            Instant::now() < deadline,
            "sessions left open:\n{}",
            metrics(&b.pop)
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn client_tic_logs_in_and_brings_the_tunnel_up() {
    let (mut b, pw) = bed();
    // The right password: the client reads its tunnel over TIC (PoP,
    // prefix, MTU, password) and runs it through the NAT.
    b.client_proc = Some(
        ClientProc::start_args(
            &b.client,
            &[
                "--tic",
                "203.0.113.1",
                "--user",
                USER,
                "--password-file",
                pw.to_str().unwrap(),
            ],
        )
        .unwrap(),
    );
    b.wait_endpoint(PORTS_A).unwrap();
    b.wait_tunnel_up().unwrap();
    assert!(
        b.client_log().contains("TIC: logged in"),
        "{}",
        b.client_log()
    );
    assert!(
        !b.client_log().contains(PASSWORD),
        "the tunnel password logged"
    );
    let p = tunnel_tests::traffic::ping(&b.client, &["-c", "5", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert!(p.ok && p.received() == 5, "{}", p.summary());
    assert_eq!(b.state().unwrap(), "up");
    let mtu = b
        .client
        .output(&["cat", &format!("/sys/class/net/{TUN}/mtu")])
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&mtu.stdout).trim(),
        "1280",
        "TIC's Tunnel MTU"
    );
    assert_eq!(metric(&b, "tunnelpop_tic_logins_total{result=\"ok\"}"), 1);
    assert_eq!(metric(&b, "tunnelpop_tic_sessions_total"), 1);
    let (clean, log) = b.client_proc.as_mut().unwrap().stop().unwrap();
    assert!(clean, "{log}");
}

/// A heartbeat tunnel read over TIC (`Type: 6in4-heartbeat`) runs the
/// heartbeat client: beats learned as the NAT's address, proto-41 both
/// ways.
#[test]
fn client_tic_runs_a_heartbeat_tunnel() {
    let (mut b, pw) = with_tic(AyiyaBed::new_heartbeat().expect("bed"));
    b.client_proc = Some(
        ClientProc::start_args(
            &b.client,
            &[
                "--tic",
                POP_V4,
                "--user",
                USER,
                "--password-file",
                pw.to_str().unwrap(),
            ],
        )
        .unwrap(),
    );
    b.wait_endpoint_ip(NAT_PUBLIC_V4).unwrap();
    b.wait_tunnel_up().unwrap();
    assert!(
        b.client_log().contains("kind=6in4-heartbeat"),
        "{}",
        b.client_log()
    );
    let p = tunnel_tests::traffic::ping(&b.client, &["-c", "5", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert!(p.ok && p.received() == 5, "{}", p.summary());
    assert_eq!(b.state().unwrap(), "up");
    let (clean, log) = b.client_proc.as_mut().unwrap().stop().unwrap();
    assert!(clean, "{log}");
}

/// A raw TCP session to the TIC server, from the PoP's namespace.
struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    fn open(b: &AyiyaBed) -> Self {
        let s = {
            let _in = b.pop.enter().unwrap();
            TcpStream::connect(TIC).unwrap()
        };
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        Self {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    /// Opens and reads the greeting.
    fn greeted(b: &AyiyaBed) -> Self {
        let mut s = Self::open(b);
        let g = s.line();
        assert!(
            g.starts_with("200 tunnelctl TIC Service on pop-test"),
            "{g:?}"
        );
        s
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l.trim_end().to_owned()
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    fn say(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes());
        self.line()
    }

    /// The server has closed: end of stream (or a reset) next.
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.r.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// Logs in as JOHN1-SIXXS; the server's answer.
    fn login(&mut self, pw: &str) -> String {
        assert!(self.say(&format!("username {USER}")).starts_with("200"));
        let c = self.say("challenge md5");
        let c = c.strip_prefix("200 ").expect("a challenge").to_owned();
        assert_eq!(c.len(), 32);
        let resp = auth::response(&c, &auth::md5hex(pw.as_bytes()));
        self.say(&format!("authenticate md5 {resp}"))
    }
}

#[test]
fn bad_sessions_get_their_answers_and_leave_nothing() {
    let (b, _) = bed();

    // Lines of many lengths and contents, none a command: each answered
    // with a 400, the session goes on.
    let mut s = Raw::greeted(&b);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 1, 2, 3, 7, 31, 64, 200, 511, 900, 1023, 1024] {
        let line: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Any byte but the line end; a leading 'x' keeps it from
                // being a command by chance.
                match (seed >> 24) as u8 {
                    b'\n' => b'x',
                    c => c,
                }
            })
            .enumerate()
            .map(|(i, c)| if i == 0 { b'x' } else { c })
            .collect();
        s.send(&line);
        s.send(b"\n");
        let r = s.line();
        assert!(r.starts_with("400 "), "{len} bytes: {r:?}");
    }
    // Still serving: the clock, then a clean QUIT.
    let t: u64 = s.say("get unixtime")[4..].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(t.abs_diff(now) <= 2);
    assert_eq!(s.say("starttls"), "400 This service is not SSL enabled");
    assert!(s.say("tunnel list").starts_with("400 Not logged in"));
    assert_eq!(
        s.say("QUIT bye"),
        "200 Thank you for using this TIC service"
    );
    assert!(s.closed());

    // An over-long line: refused, closed, the rest never read.
    let mut s = Raw::greeted(&b);
    s.send(&vec![b'a'; 5000]);
    assert_eq!(s.line(), "400 Line too long (over 1024 bytes), closing");
    assert!(s.closed());

    // Silent: closed after the idle time. Slow (a byte a second, the line
    // never done in time): the same.
    let mut s = Raw::greeted(&b);
    let t0 = Instant::now();
    assert_eq!(s.line(), "400 Idle for too long, closing");
    assert!(
        t0.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t0.elapsed()
    );
    assert!(s.closed());
    let mut s = Raw::greeted(&b);
    // 0.7 s apart: the third byte comes after the 2 s and may meet a
    // closed connection (an error here, which is the point).
    for c in b"get u" {
        let _ = s.w.write_all(&[*c]);
        thread::sleep(Duration::from_millis(700));
    }
    assert_eq!(s.line(), "400 Idle for too long, closing");
    // Busy but never ending: answered until the session's time is up.
    let mut s = Raw::greeted(&b);
    let t0 = Instant::now();
    let last = loop {
        let r = s.say("get unixtime");
        if !r.starts_with("200 ") {
            break r;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no session limit");
        thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(last, "400 Session time limit reached, closing");
    assert!(t0.elapsed() >= Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(s.closed());

    // Too many at once: the fifth is told so and closed; the four still
    // work. (The sessions above have ended, their slots freed, first.)
    wait_no_sessions(&b);
    let mut four: Vec<Raw> = (0..4).map(|_| Raw::greeted(&b)).collect();
    let mut fifth = Raw::open(&b);
    assert_eq!(fifth.line(), "400 too many connections, try again later");
    assert!(fifth.closed());
    for s in &mut four {
        assert_eq!(s.say("client test"), "200 Client Identity accepted");
    }
    drop(four);
    wait_no_sessions(&b);

    // Failed logins: each answer delayed, the third closes the session.
    let mut s = Raw::greeted(&b);
    for i in 1..=3 {
        let t0 = Instant::now();
        assert_eq!(
            s.login("wrong"),
            "400 Login failed, login/password mismatch",
            "try {i}"
        );
        assert!(t0.elapsed() >= Duration::from_millis(900), "not delayed");
    }
    assert!(s.closed());

    // The daemon is healthy: a good login, its own tunnel only.
    let mut s = Raw::greeted(&b);
    assert_eq!(
        s.login(USER_PW),
        format!("200 Succesfully logged in using md5 as {USER} (John Doe) from {POP_V4}")
    );
    assert_eq!(s.say("tunnel show T7"), "400 No such tunnel");
    // Tunnel 2 as an older store kept AYIYA tunnels, with only its key:
    // left out of the list, and `tunnel show` says why.
    b.daemon
        .ok(&[
            "tunnel",
            "add",
            "2",
            "--kind",
            "ayiya",
            "--local",
            POP_V4,
            "--password",
            "sha1:5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fba",
            "--prefix",
            "2001:db8:2::/64",
            "--owner",
            USER,
        ])
        .unwrap();
    assert_eq!(list(&mut s), ["T1 2001:db8:1::2 ayiya pop-test"]);
    let why = s.say("tunnel show T2");
    assert!(
        why.starts_with("400 Tunnel T2 cannot be served over TIC: only its AYIYA key is stored"),
        "{why}"
    );
    // Its password set again: served.
    let pw2 = b.daemon.dir.join("t2.pw");
    std::fs::write(&pw2, "second tunnel\n").unwrap();
    b.daemon
        .ok(&[
            "tunnel",
            "set",
            "2",
            "--password-file",
            pw2.to_str().unwrap(),
        ])
        .unwrap();
    assert_eq!(list(&mut s).len(), 2);
    assert_eq!(
        s.say("tunnel show T2"),
        "201 Showing tunnel information for T2"
    );
    let mut keys = Vec::new();
    loop {
        let l = s.line();
        if l.starts_with("202") {
            break;
        }
        keys.push(l);
    }
    assert!(
        keys.contains(&"Password: second tunnel".to_owned()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"IPv4 POP: 203.0.113.1".to_owned()),
        "{keys:?}"
    );
    assert_eq!(s.say("QUIT"), "200 Thank you for using this TIC service");
    drop(s);
    b.daemon.ok(&["status"]).unwrap();

    // No session is left open; each refusal was counted.
    wait_no_sessions(&b);
    for (reason, n) in [
        ("too_many_connections", 1),
        ("line_too_long", 1),
        ("idle_timeout", 2),
        ("session_timeout", 1),
        ("login_failures", 1),
    ] {
        let name = format!("tunnelpop_tic_refused_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&b, &name), n, "{reason}");
    }
    assert!(metric(&b, "tunnelpop_tic_bad_lines_total") >= 12);
    assert_eq!(
        metric(&b, "tunnelpop_tic_logins_total{result=\"failed\"}"),
        3
    );
    assert_eq!(metric(&b, "tunnelpop_tic_logins_total{result=\"ok\"}"), 1);
}
