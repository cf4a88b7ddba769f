//! The NAT64 translator's maps: its settings (`NAT64`) and the explicit
//! address mappings (`EAM6`, `EAM4`). A mapping is written to both tries,
//! IPv6 side first: a packet that finds it by its IPv4 side (the reply
//! direction) always finds the way back too.

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Context, Result};
use aya::maps::{
    lpm_trie::{Key, LpmTrie},
    Array, MapData,
};
use tunnel_common::{
    maps,
    nat64::{
        config::{Nat64Config, NAT64_F_EAM, POOL_BITS_MAX},
        eam::Eam,
        rfc6052,
    },
};

use super::Datapath;

/// One explicit address mapping (RFC 7757), prefixes in canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EamEntry {
    pub v6: Ipv6Addr,
    pub v6_len: u8,
    pub v4: Ipv4Addr,
    pub v4_len: u8,
}

impl EamEntry {
    /// Checks the lengths and that no host bits are set past them.
    pub fn new(v6: Ipv6Addr, v6_len: u8, v4: Ipv4Addr, v4_len: u8) -> Result<Self> {
        if v6_len > 128 || v4_len > 32 {
            bail!("prefix length out of range: /{v6_len} and /{v4_len}");
        }
        if u128::from(v6) & !mask128(v6_len) != 0 {
            bail!("{v6}/{v6_len} has bits set past its prefix length");
        }
        if u32::from(v4) & !mask32(v4_len) != 0 {
            bail!("{v4}/{v4_len} has bits set past its prefix length");
        }
        Ok(Self {
            v6,
            v6_len,
            v4,
            v4_len,
        })
    }

    fn value(&self) -> Eam {
        Eam {
            v6: self.v6.octets(),
            v4: self.v4.octets(),
            v6_len: self.v6_len,
            v4_len: self.v4_len,
            _pad: [0; 2],
        }
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

/// The translator's settings as the operator gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nat64Settings {
    /// pool6 (RFC 6052) and its length; `None`: no pool6.
    pub pool6: Option<(Ipv6Addr, u8)>,
    /// Flags `NAT64_F_WKP_STRICT`, `NAT64_F_UDP0_COMPUTE`.
    pub flags: u8,
    /// The RFC 6791 pool, first address and prefix length (32: one
    /// address), that translated ICMP errors whose IPv6 source has no
    /// mapping come from; `None`: such errors are dropped.
    pub icmp_source: Option<(Ipv4Addr, u8)>,
}

impl Nat64Settings {
    /// The `NAT64` slot these settings make; `has_eams` sets the flag
    /// that makes the root program look at the EAM tables. Reconciliation
    /// compares the pinned slot with it.
    pub fn slot(&self, has_eams: bool) -> Result<Nat64Config> {
        let s = self;
        let mut c = Nat64Config {
            flags: s.flags & !NAT64_F_EAM,
            ..Default::default()
        };
        if let Some((prefix, len)) = s.pool6 {
            if !rfc6052::valid_length(len) {
                bail!("pool6 length /{len} is not one of RFC 6052's (32, 40, 48, 56, 64, 96)");
            }
            if u128::from(prefix) & !mask128(len) != 0 {
                bail!("pool6 {prefix}/{len} has bits set past its prefix length");
            }
            c.pool6 = prefix.octets();
            c.pool6_len = len;
        }
        if has_eams {
            c.flags |= NAT64_F_EAM;
        }
        if let Some((first, len)) = s.icmp_source {
            let bits = 32u8.checked_sub(len).unwrap_or(u8::MAX);
            if bits > POOL_BITS_MAX {
                bail!("the RFC 6791 pool {first}/{len} is not /16 to /32");
            }
            if bits > 0 && u32::from(first) & ((1u32 << bits) - 1) != 0 {
                bail!("the RFC 6791 pool {first}/{len} has bits set past its prefix length");
            }
            c.icmp_src4 = first.octets();
            c.icmp_src4_bits = bits;
        }
        Ok(c)
    }
}

impl Datapath {
    /// Writes the translator's settings; `has_eams` says whether the EAM
    /// tables hold entries (the root program skips them otherwise).
    pub fn set_nat64(&mut self, s: &Nat64Settings, has_eams: bool) -> Result<()> {
        let c = s.slot(has_eams)?;
        let mut a: Array<&mut MapData, Nat64Config> =
            Array::try_from(self.ebpf.map_mut(maps::NAT64).context(maps::NAT64)?)?;
        a.set(0, c, 0)?;
        Ok(())
    }

    /// Adds (or replaces) an explicit address mapping.
    pub fn add_eam(&mut self, e: &EamEntry) -> Result<()> {
        let v = e.value();
        let mut t6: LpmTrie<&mut MapData, [u8; 16], Eam> =
            LpmTrie::try_from(self.ebpf.map_mut(maps::EAM6).context(maps::EAM6)?)?;
        t6.insert(&Key::new(e.v6_len as u32, e.v6.octets()), v, 0)?;
        let mut t4: LpmTrie<&mut MapData, [u8; 4], Eam> =
            LpmTrie::try_from(self.ebpf.map_mut(maps::EAM4).context(maps::EAM4)?)?;
        t4.insert(&Key::new(e.v4_len as u32, e.v4.octets()), v, 0)?;
        Ok(())
    }

    /// Removes a mapping: its IPv4 side first (the side new flows from
    /// IPv4 find), then its IPv6 side. Missing entries are not an error.
    pub fn remove_eam(&mut self, e: &EamEntry) -> Result<()> {
        let mut t4: LpmTrie<&mut MapData, [u8; 4], Eam> =
            LpmTrie::try_from(self.ebpf.map_mut(maps::EAM4).context(maps::EAM4)?)?;
        let _ = t4.remove(&Key::new(e.v4_len as u32, e.v4.octets()));
        let mut t6: LpmTrie<&mut MapData, [u8; 16], Eam> =
            LpmTrie::try_from(self.ebpf.map_mut(maps::EAM6).context(maps::EAM6)?)?;
        let _ = t6.remove(&Key::new(e.v6_len as u32, e.v6.octets()));
        Ok(())
    }
}

/// What the NAT64 maps hold, for reconciliation and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nat64Snapshot {
    /// The `NAT64` slot as written (`NAT64_F_EAM` included).
    pub config: Nat64Config,
    /// `EAM6`'s entries (their values: both sides).
    pub eam6: Vec<EamEntry>,
    /// `EAM4`'s entries.
    pub eam4: Vec<EamEntry>,
}

impl EamEntry {
    fn from_value(v: &Eam) -> Self {
        Self {
            v6: Ipv6Addr::from(v.v6),
            v6_len: v.v6_len,
            v4: Ipv4Addr::from(v.v4),
            v4_len: v.v4_len,
        }
    }
}

impl Datapath {
    /// Reads the settings and both EAM tries.
    pub fn nat64_snapshot(&mut self) -> Result<Nat64Snapshot> {
        let a: Array<&MapData, Nat64Config> =
            Array::try_from(self.ebpf.map(maps::NAT64).context(maps::NAT64)?)?;
        let config = a.get(&0, 0)?;
        let t6: LpmTrie<&MapData, [u8; 16], Eam> =
            LpmTrie::try_from(self.ebpf.map(maps::EAM6).context(maps::EAM6)?)?;
        let mut eam6 = Vec::new();
        for kv in t6.iter() {
            eam6.push(EamEntry::from_value(&kv?.1));
        }
        let t4: LpmTrie<&MapData, [u8; 4], Eam> =
            LpmTrie::try_from(self.ebpf.map(maps::EAM4).context(maps::EAM4)?)?;
        let mut eam4 = Vec::new();
        for kv in t4.iter() {
            eam4.push(EamEntry::from_value(&kv?.1));
        }
        Ok(Nat64Snapshot { config, eam6, eam4 })
    }

    /// Removes `EAM4`'s entry for the IPv4 prefix; absent is not an error.
    pub fn remove_eam4(&mut self, v4: Ipv4Addr, len: u8) -> Result<()> {
        let mut t4: LpmTrie<&mut MapData, [u8; 4], Eam> =
            LpmTrie::try_from(self.ebpf.map_mut(maps::EAM4).context(maps::EAM4)?)?;
        let _ = t4.remove(&Key::new(len as u32, v4.octets()));
        Ok(())
    }

    /// Removes `EAM6`'s entry for the IPv6 prefix; absent is not an error.
    pub fn remove_eam6(&mut self, v6: Ipv6Addr, len: u8) -> Result<()> {
        let mut t6: LpmTrie<&mut MapData, [u8; 16], Eam> =
            LpmTrie::try_from(self.ebpf.map_mut(maps::EAM6).context(maps::EAM6)?)?;
        let _ = t6.remove(&Key::new(len as u32, v6.octets()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eam_refuses_host_bits_and_bad_lengths() {
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let v4: Ipv4Addr = "192.0.2.1".parse().unwrap();
        assert!(EamEntry::new(v6, 128, v4, 32).is_ok());
        assert!(EamEntry::new(v6, 120, v4, 32).is_err());
        assert!(EamEntry::new(v6, 128, v4, 24).is_err());
        assert!(EamEntry::new(v6, 129, v4, 32).is_err());
        assert!(EamEntry::new(v6, 128, v4, 33).is_err());
    }
}
