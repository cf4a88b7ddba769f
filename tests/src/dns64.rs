//! DNS64 for the L2 test and the demo (issue 11): Unbound as the users'
//! resolver, synthesizing AAAA records under pool6 with the snippet that
//! `tunnelctl nat64 dns64-config unbound` prints, in front of a second
//! Unbound that is authoritative for a small A-only test zone.
//!
//! Unbound's `dns64` module synthesizes from what its iterator brings back,
//! not from the resolver's own `local-data`, hence two instances: the zone
//! lives in the second (`local-zone`/`local-data` on 127.0.0.1@5353),
//! which the resolver reaches through a `stub-zone` (with
//! `do-not-query-localhost: no`). Both run in the same namespace with
//! config files of their own, as children of the caller; nothing of the
//! system's unbound is used.
//!
//! Clients resolve through glibc: `ip netns exec` bind-mounts
//! `/etc/netns/<ns>/resolv.conf` over `/etc/resolv.conf`, which
//! [`Dns64::use_resolver`] writes. [`query`] asks a server directly (one UDP
//! question, the answer's addresses), for assertions that do not depend on
//! glibc.

use std::{
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};

use crate::{daemon::sigterm, netns::Netns};

/// The test zone: A records only.
pub const ZONE: &str = "example.test.";
/// Its IPv4-only host.
pub const NAME: &str = "v4only.example.test";
/// Where the zone's authoritative server listens, inside the namespace.
pub const AUTH: &str = "127.0.0.1@5353";
const AUTH_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 5353);

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// The two Unbound processes, their files, and the `resolv.conf` files
/// written for clients; all stopped and removed on drop (also when a test
/// fails half-way).
pub struct Dns64 {
    pub dir: PathBuf,
    /// `(name, process)`: "authoritative", "resolver".
    procs: Vec<(&'static str, Child)>,
    /// `/etc/netns/<ns>` directories this created.
    etc_dirs: Vec<PathBuf>,
}

impl Dns64 {
    /// Starts, in `ns`, the authoritative server of [`ZONE`] with the A
    /// records `hosts` (`("v4only", 192.0.2.2)` is `v4only.example.test.`)
    /// and the DNS64 resolver on `[listen]:53`, whose config includes
    /// `snippet` (`tunnelctl nat64 dns64-config unbound`'s output) as an
    /// operator would. Returns once the resolver answers for [`NAME`].
    pub fn start(
        ns: &Netns,
        listen: Ipv6Addr,
        hosts: &[(&str, Ipv4Addr)],
        snippet: &str,
    ) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "dns64-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut me = Self {
            dir,
            procs: Vec::new(),
            etc_dirs: Vec::new(),
        };
        let d = me.dir.display().to_string();
        // What both instances need to run as a child in a test: foreground,
        // no chroot, no user switch, logs on stderr, no control socket.
        let common = format!(
            "    username: \"\"\n    chroot: \"\"\n    directory: \"{d}\"\n    pidfile: \"\"\n\
             \x20   use-syslog: no\n    logfile: \"\"\n    verbosity: 1\n"
        );
        let mut auth = format!(
            "server:\n    interface: {AUTH}\n    do-ip6: no\n{common}\
             \x20   local-zone: \"{ZONE}\" static\n\
             \x20   local-data: \"{ZONE} 3600 IN SOA ns.{ZONE} hostmaster.{ZONE} 1 3600 600 86400 60\"\n\
             \x20   local-data: \"{ZONE} 3600 IN NS ns.{ZONE}\"\n\
             \x20   local-data: \"ns.{ZONE} 3600 IN A 127.0.0.1\"\n"
        );
        for (label, v4) in hosts {
            writeln!(auth, "    local-data: \"{label}.{ZONE} 60 IN A {v4}\"")?;
        }
        auth.push_str("remote-control:\n    control-enable: no\n");
        let snippet_path = me.dir.join("tunnelctl-dns64.conf");
        std::fs::write(&snippet_path, snippet)?;
        // `test.` is one of Unbound's default local zones (RFC 6761, always
        // NXDOMAIN): `nodefault` lets the stub zone answer.
        let resolver = format!(
            "server:\n    interface: {listen}\n    port: 53\n    access-control: ::/0 allow\n{common}\
             \x20   do-not-query-localhost: no\n    local-zone: \"test.\" nodefault\n\
             \x20   domain-insecure: \"{ZONE}\"\n\
             include: \"{}\"\n\
             stub-zone:\n    name: \"{ZONE}\"\n    stub-addr: {AUTH}\n\
             remote-control:\n    control-enable: no\n",
            snippet_path.display()
        );
        for (name, text) in [("authoritative", auth), ("resolver", resolver)] {
            let conf = me.dir.join(format!("{name}.conf"));
            std::fs::write(&conf, text)?;
            let check = Command::new("unbound-checkconf").arg(&conf).output()?;
            ensure!(
                check.status.success(),
                "unbound-checkconf {}: {}",
                conf.display(),
                String::from_utf8_lossy(&check.stdout).trim()
            );
            let log = std::fs::File::create(me.dir.join(format!("{name}.log")))?;
            let child = Command::new("ip")
                .args(["netns", "exec", ns.name(), "unbound", "-d", "-c"])
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log))
                .spawn()
                .context("starting unbound (scripts/setup.sh installs it)")?;
            me.procs.push((name, child));
        }
        let server = SocketAddr::from((listen, 53));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match query(ns, server, NAME, TYPE_A) {
                Ok(a) if a.rcode == 0 && !a.addrs.is_empty() => return Ok(me),
                r if Instant::now() > deadline => {
                    bail!(
                        "the DNS64 resolver did not answer for {NAME} within 15 s ({r:?}):\n{}",
                        me.logs()
                    )
                }
                _ => {}
            }
            let mut exited = None;
            for (name, c) in &mut me.procs {
                if let Some(st) = c.try_wait()? {
                    exited = Some((*name, st));
                }
            }
            if let Some((name, st)) = exited {
                bail!("unbound ({name}) exited with {st}:\n{}", me.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The zone's authoritative server, as seen from the namespace the
    /// servers run in.
    pub fn authoritative() -> SocketAddr {
        SocketAddr::from(AUTH_ADDR)
    }

    /// Makes `server` the resolver of programs run in `ns` with `ip netns
    /// exec` (glibc reads `/etc/netns/<ns>/resolv.conf` there).
    pub fn use_resolver(&mut self, ns: &Netns, server: Ipv6Addr) -> Result<()> {
        let base = PathBuf::from("/etc/netns");
        let etc = base.join(ns.name());
        if !etc.exists() {
            // Removed in reverse order on drop: ours, then /etc/netns if
            // this made it and it is empty by then.
            if !base.exists() {
                std::fs::create_dir(&base)?;
                self.etc_dirs.push(base);
            }
            std::fs::create_dir(&etc)?;
            self.etc_dirs.push(etc.clone());
        }
        std::fs::write(
            etc.join("resolv.conf"),
            format!("nameserver {server}\noptions timeout:2 attempts:2\n"),
        )?;
        Ok(())
    }

    /// Both servers' logs.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for name in ["authoritative", "resolver"] {
            let log =
                std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
            let _ = write!(s, "--- unbound ({name}):\n{log}");
        }
        s
    }
}

impl Drop for Dns64 {
    fn drop(&mut self) {
        // `ip netns exec` execs unbound: the child is unbound itself.
        for (_, c) in &mut self.procs {
            sigterm(c);
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in self.etc_dirs.iter().rev() {
            if d.as_path() == std::path::Path::new("/etc/netns") {
                let _ = std::fs::remove_dir(d);
            } else {
                let _ = std::fs::remove_dir_all(d);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A server's answer to one question.
#[derive(Debug)]
pub struct Answer {
    /// 0 NOERROR, 3 NXDOMAIN, …
    pub rcode: u8,
    /// The A or AAAA records of the answer section, in order.
    pub addrs: Vec<IpAddr>,
}

/// Asks `server` (from inside `ns`) for `name`'s records of `qtype` (A or
/// AAAA) over UDP, with recursion desired; three tries, 2 s each.
pub fn query(ns: &Netns, server: SocketAddr, name: &str, qtype: u16) -> Result<Answer> {
    let sock = {
        let _in = ns.enter()?;
        let any: IpAddr = if server.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        UdpSocket::bind((any, 0))?
    };
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let id = (std::process::id() as u16) ^ (SEQ.fetch_add(1, Ordering::Relaxed) as u16);
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD, 1 question
    for label in name.trim_end_matches('.').split('.') {
        q.push(u8::try_from(label.len())?);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    let mut buf = [0u8; 1500];
    for _ in 0..3 {
        sock.send_to(&q, server)?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if from == server && n >= 12 && buf[..2] == id.to_be_bytes() => {
                return parse_answer(&buf[..n], q.len(), qtype);
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    bail!("no answer from {server} for {name} (type {qtype})")
}

/// The rcode and the `qtype` addresses of a response to our one question
/// (which ends at `question_end`, names in answers compressed or not).
fn parse_answer(m: &[u8], question_end: usize, qtype: u16) -> Result<Answer> {
    let be16 = |at: usize| -> Result<u16> {
        let b = m.get(at..at + 2).context("truncated response")?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    };
    let rcode = m[3] & 0x0f;
    let ancount = be16(6)?;
    let mut at = question_end;
    let mut addrs = Vec::new();
    for _ in 0..ancount {
        // The owner name: labels, ending in a zero or a pointer.
        loop {
            let len = *m.get(at).context("truncated name")?;
            if len & 0xc0 == 0xc0 {
                at += 2;
                break;
            }
            at += 1 + usize::from(len);
            if len == 0 {
                break;
            }
        }
        let rtype = be16(at)?;
        let rdlen = usize::from(be16(at + 8)?);
        let rdata = m.get(at + 10..at + 10 + rdlen).context("truncated rdata")?;
        at += 10 + rdlen;
        match (rtype == qtype, rdata.len()) {
            (true, 4) => addrs.push(IpAddr::from(<[u8; 4]>::try_from(rdata)?)),
            (true, 16) => addrs.push(IpAddr::from(<[u8; 16]>::try_from(rdata)?)),
            _ => {}
        }
    }
    Ok(Answer { rcode, addrs })
}

/// `name`'s IPv6 addresses as a program in `ns` gets them (glibc,
/// `getent ahostsv6`, through the namespace's `resolv.conf`), each once.
pub fn resolve6(ns: &Netns, name: &str) -> Result<Vec<Ipv6Addr>> {
    let out = ns.output(&["getent", "ahostsv6", name])?;
    ensure!(
        out.status.success(),
        "getent ahostsv6 {name} in {}: exit {} (2: not found)",
        ns.name(),
        out.status
    );
    let mut v: Vec<Ipv6Addr> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let a: Ipv6Addr = line
            .split_whitespace()
            .next()
            .context("getent line")?
            .parse()?;
        if !v.contains(&a) {
            v.push(a);
        }
    }
    Ok(v)
}
