//! The thin part of the checks: reads /proc/sys, the interfaces over
//! rtnetlink and the uplink program's info from the kernel, and sets what
//! `set_sysctls` allows.

use std::path::PathBuf;

use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, LinkAttribute, LinkFlags, LinkMessage, LinkXdp, State, XdpAttached,
};
use tracing::{info, warn};

use super::{
    uplink_ipv6_forwarding, Link, Program, Readings, Uplink, Xdp, BPF_JIT, IPV4_FORWARDING,
    IPV6_FORWARDING,
};
use crate::{
    daemon::{config::Config, netlink::Netlink, store::Store},
    datapath::{Datapath, PROGRAM_UPLINK},
};

/// Reads what `evaluate` needs, in the calling thread's network namespace.
/// Never fails: what cannot be read is a reading of its own.
pub fn read(cfg: &Config, dp: &mut Datapath, store: &Store) -> Readings {
    let program = dp
        .program_mut(PROGRAM_UPLINK)
        .ok()
        .and_then(|p| p.info().ok())
        .map(|i| Program {
            id: i.id(),
            jited_bytes: i.size_jitted(),
        });
    let links = Netlink::open().and_then(|nl| nl.links());
    let uplinks = cfg
        .uplinks
        .iter()
        .map(|name| Uplink {
            name: name.clone(),
            link: match &links {
                Ok(all) => all
                    .iter()
                    .find(|l| link_name(l) == Some(name))
                    .map(link)
                    .ok_or_else(|| format!("no interface named {name}")),
                Err(e) => Err(format!("reading the interfaces: {e:#}")),
            },
        })
        .collect();
    Readings {
        ipv6_forwarding: sysctl(IPV6_FORWARDING).map(|v| v != "0"),
        ipv4_forwarding: sysctl(IPV4_FORWARDING).map(|v| v != "0"),
        jit_enable: sysctl(BPF_JIT).and_then(|v| v.parse().ok()),
        program,
        uplinks,
        largest_tunnel: store.largest_tunnel().unwrap_or_else(|e| {
            warn!("reading the largest tunnel MTU: {e:#}");
            None
        }),
        heartbeat_tunnels: store
            .conn()
            .query_row(
                "SELECT count(*) FROM tunnels WHERE kind = 'heartbeat'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| warn!("counting heartbeat tunnels: {e}"))
            .ok(),
    }
}

/// With `set_sysctls`: turns on what the data path needs and is off (IPv6
/// forwarding, host-wide then on each uplink; the BPF JIT, where this
/// network namespace sees it). Before the programs load, so that the JIT
/// compiles them. Returns the keys it set; a failure is logged and left
/// to the checks to report.
pub fn set_sysctls(cfg: &Config) -> Vec<String> {
    let mut keys = vec![IPV6_FORWARDING.to_owned()];
    keys.extend(cfg.uplinks.iter().map(|u| uplink_ipv6_forwarding(u)));
    keys.push(BPF_JIT.to_owned());
    let mut set = Vec::new();
    for key in keys {
        // On already, or not there (the JIT outside the host's network
        // namespace): nothing to do.
        if sysctl(&key).as_deref() != Some("0") {
            continue;
        }
        match std::fs::write(proc_path(&key), "1") {
            Ok(()) => {
                info!(sysctl = %key, "set to 1 (set_sysctls)");
                set.push(key);
            }
            Err(e) => warn!(sysctl = %key, "set_sysctls: could not set it to 1: {e}"),
        }
    }
    set
}

/// `/proc/sys/…` of a sysctl key: dots are separators, slashes dots (as
/// in sysctl(8): `net.ipv6.conf.eth0/100.forwarding`).
pub fn proc_path(key: &str) -> PathBuf {
    let rel: String = key
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect();
    PathBuf::from("/proc/sys").join(rel)
}

fn sysctl(key: &str) -> Option<String> {
    std::fs::read_to_string(proc_path(key))
        .ok()
        .map(|v| v.trim().to_owned())
}

fn link_name(l: &LinkMessage) -> Option<&String> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n),
        _ => None,
    })
}

fn link(m: &LinkMessage) -> Link {
    let mut out = Link {
        up: m.header.flags.contains(LinkFlags::Up),
        mtu: 0,
        ipv6_forwarding: None,
        xdp: Xdp::None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::Mtu(v) => out.mtu = *v,
            LinkAttribute::OperState(s) => out.up &= matches!(s, State::Up | State::Unknown),
            LinkAttribute::Xdp(x) => out.xdp = xdp(x),
            LinkAttribute::AfSpecUnspec(specs) => {
                let conf = specs
                    .iter()
                    .filter_map(|s| match s {
                        AfSpecUnspec::Inet6(v) => Some(v),
                        _ => None,
                    })
                    .flatten()
                    .find_map(|a| match a {
                        AfSpecInet6::DevConf(c) => Some(c),
                        _ => None,
                    });
                if let Some(c) = conf {
                    out.ipv6_forwarding = (c.disable_ipv6 == 0).then_some(c.forwarding != 0);
                }
            }
            _ => {}
        }
    }
    out
}

fn xdp(attrs: &[LinkXdp]) -> Xdp {
    let mut mode = XdpAttached::None;
    let mut id = 0;
    for a in attrs {
        match a {
            LinkXdp::Attached(m) => mode = *m,
            LinkXdp::ProgId(i) => id = *i,
            _ => {}
        }
    }
    match mode {
        XdpAttached::None => Xdp::None,
        XdpAttached::Driver => Xdp::Native(id),
        XdpAttached::SocketBuffer => Xdp::Generic(id),
        XdpAttached::Hardware => Xdp::Offloaded(id),
        XdpAttached::Multiple => Xdp::Multiple,
        XdpAttached::Other(m) => Xdp::Other(m),
        // A mode added to the crate after this was written.
        _ => Xdp::Other(u8::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_map_to_proc_paths() {
        assert_eq!(
            proc_path(IPV6_FORWARDING),
            PathBuf::from("/proc/sys/net/ipv6/conf/all/forwarding")
        );
        assert_eq!(
            proc_path(&uplink_ipv6_forwarding("eth0.100")),
            PathBuf::from("/proc/sys/net/ipv6/conf/eth0.100/forwarding")
        );
    }

    #[test]
    fn xdp_attachments_read_as_modes() {
        let x = |mode, id| xdp(&[LinkXdp::Attached(mode), LinkXdp::ProgId(id)]);
        assert_eq!(x(XdpAttached::Driver, 7), Xdp::Native(7));
        assert_eq!(x(XdpAttached::SocketBuffer, 7), Xdp::Generic(7));
        assert_eq!(x(XdpAttached::Hardware, 7), Xdp::Offloaded(7));
        assert_eq!(xdp(&[LinkXdp::Attached(XdpAttached::None)]), Xdp::None);
        assert_eq!(xdp(&[]), Xdp::None);
    }

    /// The host's loopback, read for real: up, MTU 65536, no XDP.
    #[test]
    fn loopback_reads() {
        let Ok(links) = Netlink::open().and_then(|nl| nl.links()) else {
            return;
        };
        let lo = links
            .iter()
            .find(|l| link_name(l).map(String::as_str) == Some("lo"))
            .map(link)
            .expect("lo");
        assert!(lo.up);
        assert!(lo.mtu >= 1280);
        assert_eq!(lo.xdp, Xdp::None);
    }
}
