//! The daemon's view of the kernel's network configuration, over rtnetlink
//! (no `ip` processes): interfaces, the tunnel device, routes, addresses.
//!
//! The engine is synchronous (it runs under a mutex, in blocking tasks), so
//! this owns a small current-thread runtime for the rtnetlink connection
//! and blocks on each request; requests are few and short.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use anyhow::{bail, Context, Result};
use futures_util::TryStreamExt;
use rtnetlink::{
    packet_route::{
        address::AddressAttribute,
        link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage},
        route::{
            RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteProtocol,
            RouteScope,
        },
    },
    Handle, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::prefix::{Ipv4Prefix, Ipv6Prefix};

const ENOENT: i32 = libc::ENOENT;
const ESRCH: i32 = libc::ESRCH;

/// One route of ours as the kernel holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub oif: u32,
    pub mtu: u32,
}

pub struct Netlink {
    rt: tokio::runtime::Runtime,
    handle: Handle,
}

impl Netlink {
    /// Opens an rtnetlink socket in the calling thread's network namespace.
    pub fn open() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("netlink runtime")?;
        let handle = rt.block_on(async {
            let (conn, handle, _) = rtnetlink::new_connection().context("rtnetlink socket")?;
            tokio::spawn(conn);
            Ok::<_, anyhow::Error>(handle)
        })?;
        Ok(Self { rt, handle })
    }

    /// The interface `name`, if it exists.
    pub fn link(&self, name: &str) -> Result<Option<LinkMessage>> {
        let req = self.handle.link().get().match_name(name.to_owned());
        match self.rt.block_on(req.execute().try_next()) {
            Ok(link) => Ok(link),
            Err(e) if is_errno(&e, &[libc::ENODEV]) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("looking up interface {name}")),
        }
    }

    /// Every interface, with its attributes (MTU, XDP, per-family
    /// configuration).
    pub fn links(&self) -> Result<Vec<LinkMessage>> {
        self.rt
            .block_on(self.handle.link().get().execute().try_collect())
            .context("dumping interfaces")
    }

    /// Index of interface `name`.
    pub fn ifindex(&self, name: &str) -> Result<u32> {
        match self.link(name)? {
            Some(l) => Ok(l.header.index),
            None => bail!("no interface named {name}"),
        }
    }

    /// Makes `name` the PoP's tunnel device: a veth (peer `peer`) created if
    /// missing; up, with ARP/ND off (the kernel's neighbour entries on it
    /// then need no resolution: every packet goes straight to the egress
    /// program) and MTU `mtu`. Returns its index. An existing device of
    /// another kind is refused rather than reconfigured.
    pub fn ensure_tunnel_device(&self, name: &str, peer: &str, mtu: u32) -> Result<u32> {
        self.check_tunnel_device(name)?;
        match self.link(name)? {
            Some(_) => {}
            None => {
                let msg = LinkVeth::new(name, peer).arp(false).mtu(mtu).build();
                self.rt
                    .block_on(self.handle.link().add(msg).execute())
                    .with_context(|| format!("creating veth {name} (peer {peer})"))?;
            }
        }
        let index = self.ifindex(name)?;
        let set = LinkUnspec::new_with_index(index)
            .arp(false)
            .mtu(mtu)
            .up()
            .build();
        self.rt
            .block_on(self.handle.link().set(set).execute())
            .with_context(|| format!("configuring {name}"))?;
        // The peer only has to be up for the pair's carrier; nothing the
        // program passes on (ND, MLD) is meant for it.
        let peer_index = self.ifindex(peer)?;
        let set = LinkUnspec::new_with_index(peer_index).up().build();
        self.rt
            .block_on(self.handle.link().set(set).execute())
            .with_context(|| format!("bringing up {peer}"))?;
        Ok(index)
    }

    /// Refuses `name` for the tunnel device if it exists and is not a
    /// veth; checked before a start changes anything.
    pub fn check_tunnel_device(&self, name: &str) -> Result<()> {
        match self.link(name)? {
            Some(l) if !is_veth(&l) => bail!(
                "local_device {name} exists and is not a veth: the daemon owns its tunnel device; \
                 choose another name"
            ),
            _ => Ok(()),
        }
    }

    /// Our routes (protocol `proto`, main table) by prefix.
    pub fn routes(&self, proto: u8) -> Result<HashMap<Ipv6Prefix, Route>> {
        let dump = RouteMessageBuilder::<Ipv6Addr>::new().build();
        let all: Vec<RouteMessage> = self
            .rt
            .block_on(self.handle.route().get(dump).execute().try_collect())
            .context("reading the IPv6 routes")?;
        let mut ours = HashMap::new();
        for r in all {
            if u8::from(r.header.protocol) != proto
                || table(&r) != RouteHeader::RT_TABLE_MAIN as u32
            {
                continue;
            }
            let (mut dst, mut oif, mut mtu) = (None, 0, 0);
            for a in &r.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet6(d)) => dst = Some(*d),
                    RouteAttribute::Oif(i) => oif = *i,
                    RouteAttribute::Metrics(ms) => {
                        for m in ms {
                            if let RouteMetric::Mtu(v) = m {
                                mtu = *v;
                            }
                        }
                    }
                    _ => {}
                }
            }
            let len = r.header.destination_prefix_length;
            if let Some(p) = dst.and_then(|d| Ipv6Prefix::new(d, len).ok()) {
                ours.insert(p, Route { oif, mtu });
            }
        }
        Ok(ours)
    }

    /// Adds (or replaces) the route for `p` on `oif` with MTU `mtu`.
    pub fn put_route(&self, p: &Ipv6Prefix, oif: u32, mtu: u32, proto: u8) -> Result<()> {
        let mut msg = route_message(p, proto).output_interface(oif).build();
        msg.attributes
            .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
        self.rt
            .block_on(self.handle.route().add(msg).replace().execute())
            .with_context(|| format!("adding the kernel route for {p}"))
    }

    /// Deletes our route for `p`; one already gone is no error.
    pub fn delete_route(&self, p: &Ipv6Prefix, proto: u8) -> Result<()> {
        let msg = route_message(p, proto).build();
        match self.rt.block_on(self.handle.route().del(msg).execute()) {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, &[ENOENT, ESRCH]) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting the kernel route for {p}")),
        }
    }

    /// Our IPv4 routes (protocol `proto`, main table) by prefix: NAT64's
    /// mappings.
    pub fn routes4(&self, proto: u8) -> Result<HashMap<Ipv4Prefix, Route>> {
        let dump = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let all: Vec<RouteMessage> = self
            .rt
            .block_on(self.handle.route().get(dump).execute().try_collect())
            .context("reading the IPv4 routes")?;
        let mut ours = HashMap::new();
        for r in all {
            if u8::from(r.header.protocol) != proto
                || table(&r) != RouteHeader::RT_TABLE_MAIN as u32
            {
                continue;
            }
            let (mut dst, mut oif, mut mtu) = (Some(Ipv4Addr::UNSPECIFIED), 0, 0);
            for a in &r.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = Some(*d),
                    RouteAttribute::Oif(i) => oif = *i,
                    RouteAttribute::Metrics(ms) => {
                        for m in ms {
                            if let RouteMetric::Mtu(v) = m {
                                mtu = *v;
                            }
                        }
                    }
                    _ => {}
                }
            }
            let len = r.header.destination_prefix_length;
            if let Some(p) = dst.and_then(|d| Ipv4Prefix::new(d, len).ok()) {
                ours.insert(p, Route { oif, mtu });
            }
        }
        Ok(ours)
    }

    /// Adds (or replaces) the IPv4 route for `p` on `oif` with MTU `mtu`.
    pub fn put_route4(&self, p: &Ipv4Prefix, oif: u32, mtu: u32, proto: u8) -> Result<()> {
        let mut msg = route_message4(p, proto).output_interface(oif).build();
        msg.attributes
            .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
        self.rt
            .block_on(self.handle.route().add(msg).replace().execute())
            .with_context(|| format!("adding the kernel route for {p}"))
    }

    /// Deletes our IPv4 route for `p`, whatever its scope (IPv4 matches
    /// it, unless told `RT_SCOPE_NOWHERE`: any); one already gone is no
    /// error.
    pub fn delete_route4(&self, p: &Ipv4Prefix, proto: u8) -> Result<()> {
        let mut msg = route_message4(p, proto).build();
        msg.header.scope = RouteScope::NoWhere;
        match self.rt.block_on(self.handle.route().del(msg).execute()) {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, &[ENOENT, ESRCH]) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting the kernel route for {p}")),
        }
    }

    /// The host's IPv4 addresses.
    pub fn ipv4_addresses(&self) -> Result<Vec<Ipv4Addr>> {
        let msgs: Vec<_> = self
            .rt
            .block_on(self.handle.address().get().execute().try_collect())
            .context("reading addresses")?;
        let mut v = Vec::new();
        for m in msgs {
            for a in &m.attributes {
                if let AddressAttribute::Local(IpAddr::V4(ip)) = a {
                    v.push(*ip);
                }
            }
        }
        Ok(v)
    }
}

fn route_message(p: &Ipv6Prefix, proto: u8) -> RouteMessageBuilder<Ipv6Addr> {
    RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(p.addr(), p.len())
        .protocol(RouteProtocol::from(proto))
}

fn route_message4(p: &Ipv4Prefix, proto: u8) -> RouteMessageBuilder<Ipv4Addr> {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(p.addr(), p.len())
        .protocol(RouteProtocol::from(proto))
}

fn table(r: &RouteMessage) -> u32 {
    r.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(r.header.table as u32)
}

fn is_veth(l: &LinkMessage) -> bool {
    l.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos
            .iter()
            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth))),
        _ => false,
    })
}

fn is_errno(e: &rtnetlink::Error, codes: &[i32]) -> bool {
    match e {
        rtnetlink::Error::NetlinkError(m) => codes.contains(&-m.raw_code()),
        _ => false,
    }
}
