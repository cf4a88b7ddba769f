//! What every part of the demo uses: `tunnelctl` printed with its answer,
//! pings summed up in one line (or shown whole), /metrics, waiting for a
//! condition, indented output.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use tunnel_tests::{daemon::Daemon, netns::Netns};

/// Runs and prints `tunnelctl <args>`; fails if it does.
pub fn ctl(d: &Daemon, args: &[&str]) -> Result<String> {
    // Quoted where a shell needs it, so the line can be pasted.
    let shown: Vec<String> = args
        .iter()
        .map(|a| match a.contains(' ') {
            true => format!("'{a}'"),
            false => a.to_string(),
        })
        .collect();
    println!("\n$ tunnelctl {}", shown.join(" "));
    let out = d.ok(args)?;
    print!("{}", indent(&out));
    Ok(out)
}

/// `ping` in `ns`; returns the replies received.
pub fn ping(ns: &Netns, what: &str, args: &[&str]) -> Result<u32> {
    let mut argv = vec!["ping", "-6", "-n", "-q", "-W", "2"];
    argv.extend_from_slice(args);
    let out = ns.output(&argv)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("no summary");
    println!("\n# ping {what}: {summary}");
    let received = summary
        .split(", ")
        .find_map(|f| f.strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Ok(received)
}

/// One `ping` in `ns`, shown whole with the command (what an ICMPv6 error
/// says is the point); returns its stdout and stderr.
pub fn ping_shown(ns: &Netns, what: &str, dst: &str) -> Result<String> {
    println!("\n$ ping -6 -n -c 1 {dst}   # {what}");
    let out = ns.output(&["ping", "-6", "-n", "-c", "1", "-W", "2", dst])?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    print!("{}", indent(&text));
    Ok(text)
}

/// Checks `cond` every 250 ms for up to `secs`: how long it took, or
/// `None` if it never held.
pub fn wait_until(secs: u64, mut cond: impl FnMut() -> Result<bool>) -> Result<Option<Duration>> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if cond()? {
            return Ok(Some(start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(None)
}

pub fn spawn_ping(ns: &Netns, args: &[&str]) -> Result<std::process::Child> {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "ping",
            "-6",
            "-n",
            "-q",
            "-W",
            "2",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting ping")
}

/// GET /metrics inside `ns`.
pub fn metrics(ns: &Netns) -> Result<String> {
    let _in = ns.enter()?;
    let mut s = TcpStream::connect("127.0.0.1:9641")?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: demo\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

pub fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// `s` without its terminal colours (the daemon's log has them).
pub fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, ended by a letter.
            chars.by_ref().find(char::is_ascii_alphabetic);
        } else {
            out.push(c);
        }
    }
    out
}
