//! What the fuzz believes the maps hold: the bed's configurations
//! ("variants"), each a set of tunnels with their prefixes and settings, an
//! ICMP rate and, optionally, a next-hop cache. The checker answers its
//! questions (whose prefix is this address in, which MAC may a frame to
//! this neighbour carry) from here, never from the maps.

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::Result;
use tunnel_common::{
    config::RuntimeConfig,
    nexthop::{NextHopEntry, NH_F_VALID},
};
use tunnel_tests::{packets::Mac, prog::*};
use tunnelctl::{daemon::nexthops::plan::Tables, Tunnel};

/// The next-hop cache's gateway MACs (no neighbour entry of the bed has
/// them), as in l1_nexthop.
pub const GW6_MAC: Mac = [2, 0, 0, 0, 1, 0x66];
pub const GW4_MAC: Mac = [2, 0, 0, 0, 0, 0x44];
/// A client address without a neighbour entry: the FIB answers NO_NEIGH.
pub const CLIENT_UNRESOLVED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
/// A client address the bed has no route to: the FIB answers "no route".
pub const CLIENT_UNROUTABLE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// An IPv6 prefix.
#[derive(Clone, Copy, Debug)]
pub struct Net {
    addr: u128,
    len: u8,
}

impl Net {
    pub fn parse(s: &str) -> Net {
        let (a, l) = s.split_once('/').unwrap();
        let len: u8 = l.parse().unwrap();
        Net {
            addr: u128::from(a.parse::<Ipv6Addr>().unwrap()),
            len,
        }
    }

    pub fn contains(&self, a: &[u8]) -> bool {
        let a = u128::from_be_bytes(a[..16].try_into().unwrap());
        let mask = if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - self.len as u32)
        };
        a & mask == self.addr & mask
    }
}

#[derive(Clone, Debug)]
pub struct TunnelModel {
    pub id: u32,
    pub local: [u8; 4],
    pub remote: [u8; 4],
    /// The /64 first, then the routed prefixes.
    pub nets: Vec<Net>,
    /// The PoP's `::1` in the /64.
    pub pop: [u8; 16],
    pub mtu: u16,
    pub ttl: u8,
    pub pmtudisc: bool,
    pub enabled: bool,
}

impl TunnelModel {
    fn from_bed(id: u32, t: &Tunnel, routed: &[&str]) -> Self {
        let mut nets = vec![Net::parse(&t.prefix.to_string())];
        nets.extend(routed.iter().map(|s| Net::parse(s)));
        TunnelModel {
            id,
            local: t.local.octets(),
            remote: t.remote.octets(),
            nets,
            pop: t.pop_address().octets(),
            mtu: t.mtu,
            ttl: t.ttl,
            pmtudisc: t.pmtudisc,
            enabled: t.enabled,
        }
    }

    pub fn owns(&self, a: &[u8]) -> bool {
        self.nets.iter().any(|n| n.contains(a))
    }

    fn tunnel(&self) -> Tunnel {
        let mut t = if self.id == TUNNEL_A {
            ProgBed::tunnel_a()
        } else {
            ProgBed::tunnel_b()
        };
        t.remote = Ipv4Addr::from(self.remote);
        t.mtu = self.mtu;
        t.ttl = self.ttl;
        t.pmtudisc = self.pmtudisc;
        t.enabled = self.enabled;
        t
    }
}

/// Routed prefixes some variant gives tunnel B: with the bed's /64 and /48
/// they make more prefix lengths than `NETS` takes (`FAST_LENGTHS`), so
/// the last ones go to the `PREFIXES` trie.
pub const B_EXTRA: [&str; 9] = [
    "2001:db8:200::/56",
    "2001:db8:400::/40",
    "2001:db8:300::/80",
    "2001:db8:2ff::/127",
    "2001:db8:500::/44",
    "2001:db8:600::/52",
    "2001:db8:700::/60",
    "2001:db8:800::/96",
    "2001:db8:900::/120",
];

pub struct Variant {
    pub name: &'static str,
    pub tunnels: Vec<TunnelModel>,
    pub icmp: RuntimeConfig,
    /// Next-hop cache: ::/0 via x1 (GW6_MAC), 0.0.0.0/0 via x0 (GW4_MAC).
    pub cache: bool,
    /// NDP proxy targets on x1.
    pub proxied: Vec<[u8; 16]>,
}

/// ICMP errors never run out within a variant's frames.
const ICMP_PLENTY: RuntimeConfig = RuntimeConfig {
    icmp_rate_per_sec: 100_000_000,
    icmp_burst: 1_000_000,
    liveness_s: tunnel_common::config::LIVENESS_S_DEFAULT,
    _pad: 0,
};

impl Variant {
    /// Every configuration the fuzz cycles through.
    pub fn all() -> Vec<Variant> {
        let a = || TunnelModel::from_bed(TUNNEL_A, &ProgBed::tunnel_a(), &[ROUTED_A]);
        let b = || TunnelModel::from_bed(TUNNEL_B, &ProgBed::tunnel_b(), &[]);
        let base = |name| Variant {
            name,
            tunnels: vec![a(), b()],
            icmp: ICMP_PLENTY,
            cache: false,
            proxied: vec![PROXIED_A.octets()],
        };
        let mut v = Vec::new();
        v.push(base("default"));

        let mut x = base("b disabled");
        x.tunnels[1].enabled = false;
        v.push(x);

        let mut x = base("mtu, ttl, df, more prefixes");
        x.tunnels[0].mtu = 1280;
        x.tunnels[0].ttl = 0;
        x.tunnels[0].pmtudisc = false;
        x.tunnels[1].mtu = 1300;
        x.tunnels[1].ttl = 255;
        x.tunnels[1]
            .nets
            .extend(B_EXTRA.iter().map(|s| Net::parse(s)));
        v.push(x);

        let mut x = base("icmp errors rate limited to none");
        x.icmp = RuntimeConfig {
            icmp_rate_per_sec: 0,
            icmp_burst: 0,
            ..ICMP_PLENTY
        };
        v.push(x);

        let mut x = base("next-hop cache");
        x.cache = true;
        v.push(x);

        let mut x = base("b's client unresolved");
        x.tunnels[1].remote = CLIENT_UNRESOLVED.octets();
        v.push(x);

        let mut x = base("b's client unroutable");
        x.tunnels[1].remote = CLIENT_UNROUTABLE.octets();
        v.push(x);
        v
    }

    /// Puts the bed in this configuration, from whatever state it was in.
    pub fn apply(&self, bed: &mut ProgBed) -> Result<()> {
        bed.reset()?;
        for t in &self.tunnels {
            bed.dp.update_tunnel(t.id, &t.tunnel())?;
            for n in &t.nets[1..] {
                let s = format!("{}/{}", Ipv6Addr::from(n.addr), n.len);
                if t.id != TUNNEL_A || s != ROUTED_A {
                    bed.dp.add_prefix(t.id, &s.parse()?)?;
                }
            }
        }
        bed.dp.set_config(&self.icmp)?;
        if self.cache {
            let mut tables = Tables::default();
            let hop = |ifindex, smac, dmac| NextHopEntry {
                ifindex,
                mtu: 1500,
                flags: NH_F_VALID,
                smac,
                dmac,
            };
            tables.nexthops.insert(1, hop(bed.x1, X1_MAC, GW6_MAC));
            tables.nexthops.insert(2, hop(bed.x0, X0_MAC, GW4_MAC));
            tables.routes6.insert(([0; 16], 0), 1);
            tables.routes4.insert(([0; 4], 0), 2);
            bed.dp.sync_nexthops(&tables)?;
        }
        bed.dp.reset_rate_limits()?;
        Ok(())
    }

    /// The tunnel whose prefix holds `a`.
    pub fn owner(&self, a: &[u8]) -> Option<&TunnelModel> {
        self.tunnels.iter().find(|t| t.owns(a))
    }

    /// The tunnel a 6in4 packet from `remote` to `local` belongs to.
    pub fn by_outer(&self, local: &[u8], remote: &[u8]) -> Option<&TunnelModel> {
        self.tunnels
            .iter()
            .find(|t| t.local == local[..4] && t.remote == remote[..4])
    }

    /// MACs a frame toward IPv4 neighbour `ip` may carry as (source,
    /// destination) when it leaves resolved.
    pub fn macs_v4(&self, ip: &[u8]) -> Vec<(Mac, Mac)> {
        let mut v = Vec::new();
        if ip[..4] == CLIENT_A.octets() {
            v.push((X0_MAC, CLIENT_A_MAC));
        }
        if ip[..4] == CLIENT_B.octets() {
            v.push((X0_MAC, CLIENT_B_MAC));
        }
        if self.cache {
            v.push((X0_MAC, GW4_MAC));
        }
        v
    }

    /// The same for IPv6 packets leaving toward the upstream.
    pub fn macs_v6(&self) -> Vec<(Mac, Mac)> {
        let mut v = vec![(X1_MAC, UPSTREAM_MAC)];
        if self.cache {
            v.push((X1_MAC, GW6_MAC));
        }
        v
    }
}
