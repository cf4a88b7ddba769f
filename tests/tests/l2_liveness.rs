//! L2: tunnel states and the latency pinger, with the real daemon and the
//! real AYIYA client behind a NAT (tests/src/ayiya_nat.rs). The daemon
//! pings the user's `::2` from the tunnel's `::1`; its figures show in
//! `tunnel show` and `/metrics`. Once the user has been silent for
//! `liveness_timeout` the tunnel is DOWN: the state change is logged and
//! counted, and a packet toward it gets ICMPv6 unreachable, code 0; a
//! disabled tunnel gets code 1 (ayiya-spec.md §4.2).

use std::{
    thread,
    time::{Duration, Instant},
};

use tunnel_tests::{ayiya_nat::*, daemon::metrics};

/// The shortest times the config takes: the test waits for both.
const LIVENESS_S: &str = "10";
const PING_INTERVAL_S: &str = "10";

fn show(b: &AyiyaBed) -> serde_json::Value {
    serde_json::from_str(&b.daemon.ok(&["tunnel", "show", "1", "--json"]).unwrap()).unwrap()
}

/// The value of metric line `name` (with its labels), if present.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits up to `secs` for `cond`, saying `what` on failure.
fn wait(b: &AyiyaBed, secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "{what} within {secs} s\ntunnel: {}\ndaemon:\n{}",
        show(b),
        b.daemon.log()
    );
}

/// One ping from the upstream to the user: its output, whatever the
/// outcome.
fn ping_user(b: &AyiyaBed) -> String {
    let out = b
        .upstream
        .output(&["ping", "-6", "-c", "1", "-W", "2", USER_V6])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn pinger_figures_then_down_then_disabled() {
    let mut b = AyiyaBed::new().expect("bed");
    b.daemon.stop().unwrap();
    b.daemon
        .config_with(
            "tunnelctl.toml",
            &[
                ("liveness_timeout", LIVENESS_S),
                ("ping_interval", PING_INTERVAL_S),
            ],
        )
        .unwrap();
    b.daemon.start().unwrap();
    // The bed's client beats every 2 s.
    b.start_client(&["--password", PASSWORD]).unwrap();
    b.wait_tunnel_up().unwrap();
    assert_eq!(b.state().unwrap(), "up");

    // The pinger: a request within the interval, its reply stamped by the
    // data path, read once the reply time is over.
    wait(&b, 40, "a latency ping answered", || {
        show(&b)["latency"]["received"].as_u64().unwrap_or(0) >= 1
    });
    let l = &show(&b)["latency"];
    let avg = l["rtt_avg_us"].as_u64().expect("an average round trip");
    assert!(avg > 0 && avg < 2_000_000, "rtt {avg} µs on a veth path");
    assert_eq!(l["loss_pct"], 0, "{l}");
    let m = metrics(&b.pop);
    assert!(
        metric(&m, "tunnelpop_tunnel_pings_received_total{tunnel=\"1\"}").unwrap() >= 1.0,
        "{m}"
    );
    let rtt = metric(
        &m,
        "tunnelpop_tunnel_rtt_seconds{tunnel=\"1\",stat=\"avg\"}",
    )
    .unwrap();
    assert!(rtt > 0.0 && rtt < 2.0, "{rtt}");
    let list = b.daemon.ok(&["tunnel", "list"]).unwrap();
    assert!(list.contains("RTT MS") && list.contains("0%"), "{list}");
    let text = b.daemon.ok(&["tunnel", "show", "1"]).unwrap();
    assert!(text.contains("latency   rtt min/avg/max"), "{text}");

    // The user goes away: DOWN once silent for the liveness time.
    let downs = metric(&m, "tunnelpop_tunnel_state_changes_total{to=\"down\"}").unwrap();
    b.client_proc.take().unwrap().stop().unwrap();
    let gone = Instant::now();
    wait(&b, 30, "the tunnel down", || b.state().unwrap() == "down");
    assert!(
        gone.elapsed() >= Duration::from_secs(LIVENESS_S.parse::<u64>().unwrap() - 2),
        "down after {:?}: before the liveness time",
        gone.elapsed()
    );
    let out = ping_user(&b);
    assert!(out.contains("No route"), "ICMPv6 unreachable code 0: {out}");
    wait(&b, 10, "the change counted", || {
        metric(
            &metrics(&b.pop),
            "tunnelpop_tunnel_state_changes_total{to=\"down\"}",
        ) == Some(downs + 1.0)
    });
    assert!(
        b.daemon.log().contains("tunnel state changed"),
        "{}",
        b.daemon.log()
    );

    // Disabled: administratively prohibited (code 1).
    b.daemon.ok(&["tunnel", "set", "1", "--disable"]).unwrap();
    let out = ping_user(&b);
    assert!(
        out.contains("Administratively prohibited"),
        "ICMPv6 unreachable code 1: {out}"
    );
    assert_eq!(b.state().unwrap(), "disabled");
}
