//! What the data path needs from the kernel, checked at start and shown by
//! `status` (issue 13, point 4): IPv6 forwarding (host-wide and on each
//! uplink: `bpf_fib_lookup` asks the packet's ingress device), IPv4
//! forwarding (not needed for 6in4: said so), the BPF JIT, where the pins
//! live, whether heartbeat tunnels have a listener, and per uplink whether it is there and up, the XDP mode actually
//! attached and its MTU against the largest tunnel MTU plus the outer
//! header.
//!
//! `evaluate` is a pure function of what `read` found (tested here as a
//! table); `read` is the thin part that asks /proc, rtnetlink and the
//! kernel's program info. With `set_sysctls`, `read::set_sysctls` turns on
//! what the daemon may set before the programs load (so the JIT applies to
//! them). The daemon logs every warning once at start; `status` and
//! `/metrics` evaluate again at each request, so they show the PoP as it is.

pub mod read;

use std::path::PathBuf;

use tunnel_common::tunnel::MTU_DEFAULT;

use super::{bpffs::Lifetime, config::XdpModeName};
use crate::api::{CheckStatus, CheckView, TunnelKind};

pub const IPV6_FORWARDING: &str = "net.ipv6.conf.all.forwarding";
pub const IPV4_FORWARDING: &str = "net.ipv4.ip_forward";
pub const BPF_JIT: &str = "net.core.bpf_jit_enable";

/// `net.ipv6.conf.<uplink>.forwarding` (a dot in the name becomes a slash,
/// as sysctl(8) writes it).
pub fn uplink_ipv6_forwarding(uplink: &str) -> String {
    format!("net.ipv6.conf.{}.forwarding", uplink.replace('.', "/"))
}

/// What the checks read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readings {
    /// `net.ipv6.conf.all.forwarding`; `None`: unreadable.
    pub ipv6_forwarding: Option<bool>,
    /// `net.ipv4.ip_forward`.
    pub ipv4_forwarding: Option<bool>,
    /// `net.core.bpf_jit_enable`; `None`: not there (it exists only in the
    /// host's network namespace).
    pub jit_enable: Option<u8>,
    /// The uplink program as the kernel loaded it; `None`: not known.
    pub program: Option<Program>,
    pub uplinks: Vec<Uplink>,
    /// The largest MTU of the configured tunnels; `None`: no tunnels.
    /// The tunnel whose packets are the largest once encapsulated: its MTU
    /// and kind.
    pub largest_tunnel: Option<(u16, TunnelKind)>,
    /// Tunnels of kind heartbeat; `None`: the store could not be read.
    pub heartbeat_tunnels: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    pub id: u32,
    /// Bytes of JIT-compiled code; 0: interpreted.
    pub jited_bytes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uplink {
    pub name: String,
    /// The interface, or why it could not be read (gone, netlink failed).
    pub link: Result<Link, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Administratively up with an operational state of up (or unknown,
    /// as some drivers report).
    pub up: bool,
    pub mtu: u32,
    /// `net.ipv6.conf.<uplink>.forwarding`; `None`: IPv6 is off on it.
    pub ipv6_forwarding: Option<bool>,
    pub xdp: Xdp,
}

/// The XDP program attached to an interface, as rtnetlink reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Xdp {
    None,
    /// Native (driver) mode, program id.
    Native(u32),
    /// Generic (skb) mode.
    Generic(u32),
    /// Offloaded to the NIC.
    Offloaded(u32),
    /// Programs in several modes at once.
    Multiple,
    /// A mode this build does not know.
    Other(u8),
}

/// What the daemon knows from its start: the configuration's say and what
/// it did.
#[derive(Clone, Debug)]
pub struct Startup {
    pub xdp_mode: XdpModeName,
    pub set_sysctls: bool,
    /// Sysctls the daemon set at start (`set_sysctls`).
    pub set: Vec<String>,
    /// The lifetime of the bpffs holding the pins (`bpffs::check_lifetime`).
    pub pins: Lifetime,
    /// That bpffs's mount point.
    pub bpffs: PathBuf,
    /// `heartbeat_listen` ("": off).
    pub heartbeat_listen: String,
}

/// Logs each warning once (at start: `status` shows them all the time)
/// and a summary line.
pub fn log(checks: &[CheckView]) {
    let mut warned = 0;
    for c in checks.iter().filter(|c| c.status == CheckStatus::Warn) {
        warned += 1;
        match &c.uplink {
            Some(u) => tracing::warn!("check {} on {u}: {}", c.name, c.detail),
            None => tracing::warn!("check {}: {}", c.name, c.detail),
        }
    }
    tracing::info!(
        ok = checks.len() - warned,
        warn = warned,
        "start-up checks done (tunnelctl status shows them)"
    );
}

fn check(name: &str, uplink: Option<&str>, ok: bool, detail: String) -> CheckView {
    CheckView {
        name: name.into(),
        uplink: uplink.map(Into::into),
        status: if ok {
            CheckStatus::Ok
        } else {
            CheckStatus::Warn
        },
        detail,
    }
}

/// Every check, in a stable order: the host-wide ones, then per uplink.
pub fn evaluate(r: &Readings, s: &Startup) -> Vec<CheckView> {
    let mut out = vec![
        ipv6_forwarding(r.ipv6_forwarding, s),
        ipv4_forwarding(r.ipv4_forwarding),
        bpf_jit(r.jit_enable, r.program, s),
        bpffs(s),
        heartbeat(r.heartbeat_tunnels, &s.heartbeat_listen),
    ];
    for u in &r.uplinks {
        let name = u.name.as_str();
        let link = match &u.link {
            Ok(l) => l,
            Err(why) => {
                out.push(check(
                    "uplink",
                    Some(name),
                    false,
                    format!("{why}: the data path does not see this uplink's traffic"),
                ));
                continue;
            }
        };
        out.push(if link.up {
            check("uplink", Some(name), true, "up".into())
        } else {
            check(
                "uplink",
                Some(name),
                false,
                "down: it carries no traffic".into(),
            )
        });
        out.push(uplink_forwarding(name, link.ipv6_forwarding, s));
        out.push(xdp_mode(name, link.xdp, r.program, s.xdp_mode));
        out.push(uplink_mtu(name, link.mtu, r.largest_tunnel));
    }
    out
}

/// " (set at start…)" when the daemon set `key` at start.
fn set_note(key: &str, s: &Startup) -> &'static str {
    if s.set.iter().any(|k| k == key) {
        " (set at start: set_sysctls)"
    } else {
        ""
    }
}

/// What to do about `key`, which is not `want`.
fn hint(key: &str, want: &str, s: &Startup) -> String {
    if s.set_sysctls {
        format!("; set_sysctls is on but could not set it, or it changed since: set {key} = {want}")
    } else {
        format!("; set {key} = {want}, or set_sysctls = true")
    }
}

fn ipv6_forwarding(v: Option<bool>, s: &Startup) -> CheckView {
    let name = "ipv6_forwarding";
    match v {
        Some(true) => check(
            name,
            None,
            true,
            format!("on ({IPV6_FORWARDING} = 1){}", set_note(IPV6_FORWARDING, s)),
        ),
        Some(false) => check(
            name,
            None,
            false,
            format!(
                "off ({IPV6_FORWARDING} = 0): the PoP routes no IPv6. What users send out of \
                 their tunnels to anywhere but another tunnel is dropped: the next-hop cache \
                 is off for IPv6, bpf_fib_lookup refuses (event fib_pass) and the kernel \
                 forwards nothing{}",
                hint(IPV6_FORWARDING, "1", s)
            ),
        ),
        None => check(
            name,
            None,
            false,
            format!("{IPV6_FORWARDING} could not be read"),
        ),
    }
}

fn ipv4_forwarding(v: Option<bool>) -> CheckView {
    let why = "not needed for 6in4: the PoP forwards no IPv4, it only sends the outer \
               headers; their next hops come from the next-hop cache, and what the cache \
               cannot answer goes through the kernel and the tunnel device (events fib_pass, \
               local_encap)";
    let detail = match v {
        Some(true) => format!("on ({IPV4_FORWARDING} = 1); {why}"),
        Some(false) => format!("off ({IPV4_FORWARDING} = 0): {why}"),
        None => format!("{IPV4_FORWARDING} could not be read; {why}"),
    };
    check("ipv4_forwarding", None, true, detail)
}

fn bpf_jit(enable: Option<u8>, prog: Option<Program>, s: &Startup) -> CheckView {
    let name = "bpf_jit";
    let sysctl = match enable {
        Some(v) => format!("{BPF_JIT} = {v}"),
        None => format!("{BPF_JIT} is the host's, not visible in this network namespace"),
    };
    let set = set_note(BPF_JIT, s);
    let fix = match (enable, s.set_sysctls) {
        (None, _) => format!("set {BPF_JIT} = 1 in the host's network namespace"),
        (Some(_), true) => format!("set {BPF_JIT} = 1 (set_sysctls could not)"),
        (Some(_), false) => format!("set {BPF_JIT} = 1, or set_sysctls = true"),
    };
    let interpreted = |how: &str| {
        format!(
            "{how}: every packet runs in the kernel's BPF interpreter, several times slower \
             than JIT-compiled code (the costs README gives assume the JIT); {fix}, then \
             restart the daemon (programs are compiled as they load)"
        )
    };
    match (prog, enable) {
        (Some(p), _) if p.jited_bytes > 0 => check(
            name,
            None,
            true,
            format!(
                "JIT-compiled (the uplink program: {} bytes of machine code); {sysctl}{set}",
                p.jited_bytes
            ),
        ),
        (Some(_), _) => check(
            name,
            None,
            false,
            interpreted(&format!(
                "off, the uplink program is interpreted ({sysctl})"
            )),
        ),
        (None, Some(0)) => check(name, None, false, interpreted(&format!("off ({sysctl})"))),
        (None, Some(_)) => check(name, None, true, format!("on ({sysctl}){set}")),
        (None, None) => check(
            name,
            None,
            false,
            format!("unknown: the uplink program's info could not be read and {sysctl}"),
        ),
    }
}

fn bpffs(s: &Startup) -> CheckView {
    let dir = s.bpffs.display();
    match &s.pins {
        Lifetime::Host => check(
            "bpffs",
            None,
            true,
            format!(
                "the pins are on a bpffs PID 1 sees ({dir}): they outlive the daemon, and a \
                 restart keeps the data path running"
            ),
        ),
        Lifetime::Process => check(
            "bpffs",
            None,
            false,
            format!(
                "ephemeral (allow_ephemeral_pins): the bpffs at {dir} is private to the \
                 daemon's mount namespace; when the daemon stops, the programs detach and the \
                 maps go: a restart drops all traffic (README: running in a network namespace)"
            ),
        ),
        Lifetime::Unknown(why) => check(
            "bpffs",
            None,
            false,
            format!("cannot tell whether the pins on {dir} outlive the daemon ({why})"),
        ),
    }
}

/// Heartbeat tunnels learn their user's address only from beats: with the
/// listener off they stay DOWN.
fn heartbeat(tunnels: Option<u64>, listen: &str) -> CheckView {
    let name = "heartbeat";
    let n = match tunnels {
        Some(1) => "1 heartbeat tunnel".to_owned(),
        Some(n) => format!("{n} heartbeat tunnels"),
        None => "heartbeat tunnels (the store could not be read)".to_owned(),
    };
    match (listen, tunnels) {
        ("", Some(0)) => check(
            name,
            None,
            true,
            "off (heartbeat_listen = \"\"), and no heartbeat tunnels".into(),
        ),
        ("", _) => check(
            name,
            None,
            false,
            format!(
                "off (heartbeat_listen = \"\"), but there are {n}: their users' beats reach \
                 nothing, so they never learn where their users are and stay DOWN; set \
                 heartbeat_listen = \"0.0.0.0:3740\" (the port AICCU beats to) and restart"
            ),
        ),
        (addr, _) => check(name, None, true, format!("listening on {addr} (UDP); {n}")),
    }
}

fn uplink_forwarding(uplink: &str, v: Option<bool>, s: &Startup) -> CheckView {
    let key = uplink_ipv6_forwarding(uplink);
    let name = "ipv6_forwarding";
    match v {
        Some(true) => check(
            name,
            Some(uplink),
            true,
            format!("on ({key} = 1){}", set_note(&key, s)),
        ),
        Some(false) => check(
            name,
            Some(uplink),
            false,
            format!(
                "off ({key} = 0): bpf_fib_lookup refuses IPv6 that arrives on {uplink} (event \
                 fib_pass), so what the next-hop cache cannot answer (first packets, unresolved \
                 neighbours, on-link destinations) leaves XDP for the kernel's slower path{}",
                hint(&key, "1", s)
            ),
        ),
        None => check(
            name,
            Some(uplink),
            false,
            format!(
                "IPv6 is off on {uplink} ({}): no IPv6 goes in or out of it, and \
                 bpf_fib_lookup refuses what arrives on it",
                key.replace(".forwarding", ".disable_ipv6")
            ),
        ),
    }
}

fn xdp_mode(uplink: &str, xdp: Xdp, prog: Option<Program>, want: XdpModeName) -> CheckView {
    let name = "xdp_mode";
    let ours = |id: u32| prog.is_none_or(|p| p.id == id);
    let other = |id: u32| {
        check(
            name,
            Some(uplink),
            false,
            format!(
                "another XDP program (id {id}) is attached, not this daemon's (id {}): the \
                 data path does not see {uplink}'s traffic",
                prog.map(|p| p.id).unwrap_or_default()
            ),
        )
    };
    match xdp {
        Xdp::Native(id) if ours(id) => check(
            name,
            Some(uplink),
            true,
            format!("native (driver) XDP, program id {id}"),
        ),
        Xdp::Offloaded(id) if ours(id) => check(
            name,
            Some(uplink),
            true,
            format!("offloaded to the NIC, program id {id}"),
        ),
        Xdp::Generic(id) if ours(id) => {
            let why = match want {
                XdpModeName::Skb => "as configured (xdp_mode = \"skb\")".to_owned(),
                XdpModeName::Native => "although xdp_mode = \"native\": the pinned link keeps \
                                        the mode it was first attached in (removing the pin \
                                        directory detaches it)"
                    .to_owned(),
            };
            check(
                name,
                Some(uplink),
                false,
                format!(
                    "generic (skb) XDP, program id {id}, {why}: the kernel builds an skb for \
                     every packet before the program runs, which takes away most of XDP's \
                     advantage (not measured here); use native mode where the driver has it"
                ),
            )
        }
        Xdp::Native(id) | Xdp::Generic(id) | Xdp::Offloaded(id) => other(id),
        Xdp::None => check(
            name,
            Some(uplink),
            false,
            format!("no XDP program attached: the data path does not see {uplink}'s traffic"),
        ),
        Xdp::Multiple => check(
            name,
            Some(uplink),
            false,
            "XDP programs attached in several modes at once".into(),
        ),
        Xdp::Other(m) => check(
            name,
            Some(uplink),
            false,
            format!("XDP attached in a mode this build does not know ({m})"),
        ),
    }
}

fn uplink_mtu(uplink: &str, mtu: u32, largest: Option<(u16, TunnelKind)>) -> CheckView {
    let name = "uplink_mtu";
    let (tunnel, kind, which) = match largest {
        Some((m, k)) => (u32::from(m), k, "the largest tunnel MTU"),
        None => (
            u32::from(MTU_DEFAULT),
            TunnelKind::Sixin4,
            "the default tunnel MTU (no tunnels yet)",
        ),
    };
    let outer = kind.outer_overhead();
    let need = tunnel + outer;
    let sum = format!("{need} = {which} {tunnel} + {outer} for the {kind} outer headers");
    if mtu >= need {
        return check(name, Some(uplink), true, format!("{mtu} ≥ {sum}"));
    }
    let fits = mtu.saturating_sub(outer);
    check(
        name,
        Some(uplink),
        false,
        format!(
            "{mtu} < {sum}: packets sent out of {uplink} from {kind} tunnels with an MTU above \
             {fits} can be too big for it; XDP hands those to the kernel (event fib_pass) and \
             they are dropped (drop local_fib), no Packet Too Big is sent; lower those tunnels' MTU to {fits} \
             or raise {uplink}'s MTU to {need}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup() -> Startup {
        Startup {
            xdp_mode: XdpModeName::Native,
            set_sysctls: false,
            set: Vec::new(),
            pins: Lifetime::Host,
            bpffs: "/sys/fs/bpf".into(),
            heartbeat_listen: String::new(),
        }
    }

    const PROG: Program = Program {
        id: 42,
        jited_bytes: 4096,
    };

    fn link() -> Link {
        Link {
            up: true,
            mtu: 1500,
            ipv6_forwarding: Some(true),
            xdp: Xdp::Native(42),
        }
    }

    /// A PoP as README says to run it: every check ok.
    fn good() -> Readings {
        Readings {
            ipv6_forwarding: Some(true),
            ipv4_forwarding: Some(false),
            jit_enable: Some(1),
            program: Some(PROG),
            uplinks: vec![Uplink {
                name: "eth0".into(),
                link: Ok(link()),
            }],
            largest_tunnel: Some((1480, TunnelKind::Sixin4)),
            heartbeat_tunnels: Some(0),
        }
    }

    fn find<'a>(v: &'a [CheckView], name: &str, uplink: Option<&str>) -> &'a CheckView {
        v.iter()
            .find(|c| c.name == name && c.uplink.as_deref() == uplink)
            .unwrap_or_else(|| panic!("no check {name} {uplink:?} in {v:#?}"))
    }

    #[test]
    fn a_good_pop_is_all_ok_in_a_stable_order() {
        let v = evaluate(&good(), &startup());
        let names: Vec<String> = v
            .iter()
            .map(|c| match &c.uplink {
                Some(u) => format!("{} {u}", c.name),
                None => c.name.clone(),
            })
            .collect();
        assert_eq!(
            names,
            [
                "ipv6_forwarding",
                "ipv4_forwarding",
                "bpf_jit",
                "bpffs",
                "heartbeat",
                "uplink eth0",
                "ipv6_forwarding eth0",
                "xdp_mode eth0",
                "uplink_mtu eth0"
            ]
        );
        for c in &v {
            assert_eq!(c.status, CheckStatus::Ok, "{c:?}");
        }
        let ipv4 = find(&v, "ipv4_forwarding", None);
        assert!(ipv4.detail.starts_with("off") && ipv4.detail.contains("not needed for 6in4"));
        assert!(find(&v, "bpf_jit", None).detail.contains("4096 bytes"));
        assert!(find(&v, "xdp_mode", Some("eth0"))
            .detail
            .starts_with("native"));
        assert_eq!(
            find(&v, "uplink_mtu", Some("eth0")).detail,
            "1500 ≥ 1500 = the largest tunnel MTU 1480 + 20 for the sixin4 outer headers"
        );
    }

    /// One change from the good PoP each: the check it affects, its status
    /// and words its detail must have.
    #[test]
    fn each_departure_is_named_with_its_cost() {
        type Change = fn(&mut Readings, &mut Startup);
        /// (what, the change, the check it affects: name and uplink, its
        /// status, words its detail has)
        type Case<'a> = (
            &'a str,
            Change,
            &'a str,
            Option<&'a str>,
            CheckStatus,
            &'a [&'a str],
        );
        let cases: &[Case] = &[
            (
                "ipv6 forwarding off",
                |r, _| r.ipv6_forwarding = Some(false),
                "ipv6_forwarding",
                None,
                CheckStatus::Warn,
                &["off", "dropped", "set_sysctls = true"],
            ),
            (
                "ipv6 forwarding set by the daemon",
                |_, s| s.set = vec![IPV6_FORWARDING.into()],
                "ipv6_forwarding",
                None,
                CheckStatus::Ok,
                &["on", "set at start"],
            ),
            (
                "ipv6 forwarding off although set_sysctls",
                |r, s| {
                    r.ipv6_forwarding = Some(false);
                    s.set_sysctls = true;
                },
                "ipv6_forwarding",
                None,
                CheckStatus::Warn,
                &["could not set it, or it changed since"],
            ),
            (
                "ipv6 forwarding unreadable",
                |r, _| r.ipv6_forwarding = None,
                "ipv6_forwarding",
                None,
                CheckStatus::Warn,
                &["could not be read"],
            ),
            (
                "ipv4 forwarding on is fine too",
                |r, _| r.ipv4_forwarding = Some(true),
                "ipv4_forwarding",
                None,
                CheckStatus::Ok,
                &["on", "not needed"],
            ),
            (
                "interpreted program",
                |r, _| {
                    r.program = Some(Program {
                        jited_bytes: 0,
                        ..PROG
                    });
                    r.jit_enable = Some(0);
                },
                "bpf_jit",
                None,
                CheckStatus::Warn,
                &[
                    "interpreter",
                    "several times slower",
                    "restart",
                    "set_sysctls",
                ],
            ),
            (
                "jit sysctl not visible, program compiled",
                |r, _| r.jit_enable = None,
                "bpf_jit",
                None,
                CheckStatus::Ok,
                &["JIT-compiled", "not visible in this network namespace"],
            ),
            (
                "jit sysctl not visible, program interpreted",
                |r, _| {
                    r.jit_enable = None;
                    r.program = Some(Program {
                        jited_bytes: 0,
                        ..PROG
                    });
                },
                "bpf_jit",
                None,
                CheckStatus::Warn,
                &["interpreter", "host's network namespace"],
            ),
            (
                "no program info, jit off",
                |r, _| {
                    r.program = None;
                    r.jit_enable = Some(0);
                },
                "bpf_jit",
                None,
                CheckStatus::Warn,
                &["interpreter"],
            ),
            (
                "no program info, jit on",
                |r, _| r.program = None,
                "bpf_jit",
                None,
                CheckStatus::Ok,
                &["on (net.core.bpf_jit_enable = 1)"],
            ),
            (
                "nothing known of the jit",
                |r, _| {
                    r.program = None;
                    r.jit_enable = None;
                },
                "bpf_jit",
                None,
                CheckStatus::Warn,
                &["unknown"],
            ),
            (
                "ephemeral pins",
                |_, s| s.pins = Lifetime::Process,
                "bpffs",
                None,
                CheckStatus::Warn,
                &["ephemeral", "a restart drops all traffic"],
            ),
            (
                "pins of unknown lifetime",
                |_, s| s.pins = Lifetime::Unknown("/proc/1/mountinfo: denied".into()),
                "bpffs",
                None,
                CheckStatus::Warn,
                &["cannot tell", "denied"],
            ),
            (
                "heartbeat tunnels, no listener",
                |r, _| r.heartbeat_tunnels = Some(2),
                "heartbeat",
                None,
                CheckStatus::Warn,
                &[
                    "off",
                    "2 heartbeat tunnels",
                    "stay DOWN",
                    "heartbeat_listen = \"0.0.0.0:3740\"",
                ],
            ),
            (
                "heartbeat tunnels, store unreadable, no listener",
                |r, _| r.heartbeat_tunnels = None,
                "heartbeat",
                None,
                CheckStatus::Warn,
                &["off", "could not be read"],
            ),
            (
                "heartbeat tunnels and a listener",
                |r, s| {
                    r.heartbeat_tunnels = Some(1);
                    s.heartbeat_listen = "0.0.0.0:3740".into();
                },
                "heartbeat",
                None,
                CheckStatus::Ok,
                &["listening on 0.0.0.0:3740", "1 heartbeat tunnel"],
            ),
            (
                "uplink gone",
                |r, _| r.uplinks[0].link = Err("no interface named eth0".into()),
                "uplink",
                Some("eth0"),
                CheckStatus::Warn,
                &["no interface named eth0", "does not see"],
            ),
            (
                "uplink down",
                |r, _| r.uplinks[0].link.as_mut().unwrap().up = false,
                "uplink",
                Some("eth0"),
                CheckStatus::Warn,
                &["down"],
            ),
            (
                "uplink ipv6 forwarding off",
                |r, _| r.uplinks[0].link.as_mut().unwrap().ipv6_forwarding = Some(false),
                "ipv6_forwarding",
                Some("eth0"),
                CheckStatus::Warn,
                &[
                    "net.ipv6.conf.eth0.forwarding = 0",
                    "fib_pass",
                    "slower path",
                ],
            ),
            (
                "uplink without ipv6",
                |r, _| r.uplinks[0].link.as_mut().unwrap().ipv6_forwarding = None,
                "ipv6_forwarding",
                Some("eth0"),
                CheckStatus::Warn,
                &["disable_ipv6"],
            ),
            (
                "generic xdp as configured",
                |r, s| {
                    r.uplinks[0].link.as_mut().unwrap().xdp = Xdp::Generic(42);
                    s.xdp_mode = XdpModeName::Skb;
                },
                "xdp_mode",
                Some("eth0"),
                CheckStatus::Warn,
                &["generic (skb)", "as configured", "skb for every packet"],
            ),
            (
                "generic xdp kept by a pinned link",
                |r, _| r.uplinks[0].link.as_mut().unwrap().xdp = Xdp::Generic(42),
                "xdp_mode",
                Some("eth0"),
                CheckStatus::Warn,
                &["generic (skb)", "pinned link keeps the mode"],
            ),
            (
                "no xdp attached",
                |r, _| r.uplinks[0].link.as_mut().unwrap().xdp = Xdp::None,
                "xdp_mode",
                Some("eth0"),
                CheckStatus::Warn,
                &["no XDP program attached"],
            ),
            (
                "another program attached",
                |r, _| r.uplinks[0].link.as_mut().unwrap().xdp = Xdp::Native(7),
                "xdp_mode",
                Some("eth0"),
                CheckStatus::Warn,
                &["another XDP program (id 7)", "not this daemon's (id 42)"],
            ),
            (
                "offloaded",
                |r, _| r.uplinks[0].link.as_mut().unwrap().xdp = Xdp::Offloaded(42),
                "xdp_mode",
                Some("eth0"),
                CheckStatus::Ok,
                &["offloaded"],
            ),
            (
                "several modes",
                |r, _| r.uplinks[0].link.as_mut().unwrap().xdp = Xdp::Multiple,
                "xdp_mode",
                Some("eth0"),
                CheckStatus::Warn,
                &["several modes"],
            ),
            (
                "uplink mtu below the tunnels' plus 20",
                |r, _| r.uplinks[0].link.as_mut().unwrap().mtu = 1400,
                "uplink_mtu",
                Some("eth0"),
                CheckStatus::Warn,
                &[
                    "1400 < 1500 = the largest tunnel MTU 1480 + 20",
                    "MTU above 1380",
                    "local_fib",
                    "lower those tunnels' MTU to 1380",
                    "raise eth0's MTU to 1500",
                ],
            ),
            (
                "small tunnels fit a small uplink",
                |r, _| {
                    r.uplinks[0].link.as_mut().unwrap().mtu = 1400;
                    r.largest_tunnel = Some((1380, TunnelKind::Sixin4));
                },
                "uplink_mtu",
                Some("eth0"),
                CheckStatus::Ok,
                &["1400 ≥ 1400 = the largest tunnel MTU 1380 + 20"],
            ),
            (
                "no tunnels: the default tunnel mtu",
                |r, _| {
                    r.uplinks[0].link.as_mut().unwrap().mtu = 1499;
                    r.largest_tunnel = None;
                },
                "uplink_mtu",
                Some("eth0"),
                CheckStatus::Warn,
                &["1499 < 1500 = the default tunnel MTU (no tunnels yet) 1480 + 20"],
            ),
        ];
        for (what, change, name, uplink, status, words) in cases {
            let (mut r, mut s) = (good(), startup());
            change(&mut r, &mut s);
            let v = evaluate(&r, &s);
            let c = find(&v, name, *uplink);
            assert_eq!(c.status, *status, "{what}: {c:?}");
            for w in *words {
                assert!(c.detail.contains(w), "{what}: {w:?} not in {:?}", c.detail);
            }
            // Nothing else moved.
            let others = v
                .iter()
                .filter(|o| !(o.name == *name && o.uplink.as_deref() == *uplink))
                .filter(|o| o.status != CheckStatus::Ok);
            let uplink_gone = r.uplinks[0].link.is_err();
            assert!(
                others.count() == 0 || uplink_gone,
                "{what}: other checks warn: {v:#?}"
            );
        }
    }

    /// A missing uplink gets one check, not four about a link that is not
    /// there; the other uplinks are checked as usual.
    #[test]
    fn a_missing_uplink_is_one_check() {
        let mut r = good();
        r.uplinks.insert(
            0,
            Uplink {
                name: "eth9".into(),
                link: Err("no interface named eth9".into()),
            },
        );
        let v = evaluate(&r, &startup());
        assert_eq!(
            v.iter()
                .filter(|c| c.uplink.as_deref() == Some("eth9"))
                .count(),
            1
        );
        assert_eq!(
            v.iter()
                .filter(|c| c.uplink.as_deref() == Some("eth0"))
                .count(),
            4
        );
    }
}
