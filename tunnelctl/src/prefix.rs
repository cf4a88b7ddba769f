//! Prefixes as operators write them (`2001:db8:1::/48`, `192.0.2.0/24`).

use std::{
    fmt,
    net::{Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrefixError {
    #[error("'{0}' is not an IPv6 prefix (expected ADDR/LEN, e.g. 2001:db8::/48)")]
    Syntax(String),
    #[error("prefix length {0} is out of range 0..=128")]
    Length(u32),
    #[error("'{0}' is not an IPv4 prefix (expected ADDR/LEN, e.g. 192.0.2.0/24)")]
    Syntax4(String),
    #[error("IPv4 prefix length {0} is out of range 0..=32")]
    Length4(u32),
    #[error("{0} has bits set after the prefix length (did you mean {1}?)")]
    HostBits(String, String),
    #[error("an RFC 6791 pool is an address or a prefix of /16 to /32, not /{0}")]
    PoolLength(u8),
}

impl Ipv6Prefix {
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 128 {
            return Err(PrefixError::Length(len as u32));
        }
        let p = Self {
            addr: mask(addr, len),
            len,
        };
        if p.addr != addr {
            return Err(PrefixError::HostBits(
                format!("{addr}/{len}"),
                p.to_string(),
            ));
        }
        Ok(p)
    }
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }
    /// The prefix length in bits (a prefix is never "empty": `::/0` is all).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        self.len
    }
    pub fn contains(&self, a: Ipv6Addr) -> bool {
        mask(a, self.len) == self.addr
    }
    /// The address `n` within the prefix (`::1` is the PoP, `::2` the user).
    pub fn host(&self, n: u128) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) | n)
    }
    /// Whether the two prefixes share any address.
    pub fn overlaps(&self, o: &Ipv6Prefix) -> bool {
        let l = self.len.min(o.len);
        mask(self.addr, l) == mask(o.addr, l)
    }
}

fn mask(a: Ipv6Addr, len: u8) -> Ipv6Addr {
    let bits = u128::from(a);
    let m = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    };
    Ipv6Addr::from(bits & m)
}

impl FromStr for Ipv6Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| PrefixError::Syntax(s.into()))?;
        let addr: Ipv6Addr = a.parse().map_err(|_| PrefixError::Syntax(s.into()))?;
        let len: u32 = l.parse().map_err(|_| PrefixError::Syntax(s.into()))?;
        if len > 128 {
            return Err(PrefixError::Length(len));
        }
        Self::new(addr, len as u8)
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl serde::Serialize for Ipv6Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ipv6Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An IPv4 prefix (NAT64's explicit address mappings), canonical: no bits
/// set past its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Prefix {
    addr: Ipv4Addr,
    len: u8,
}

impl Ipv4Prefix {
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::Length4(len as u32));
        }
        let p = Self {
            addr: mask4(addr, len),
            len,
        };
        if p.addr != addr {
            return Err(PrefixError::HostBits(
                format!("{addr}/{len}"),
                p.to_string(),
            ));
        }
        Ok(p)
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    /// The prefix length in bits.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        self.len
    }
    /// Whether the two prefixes share any address.
    pub fn overlaps(&self, o: &Ipv4Prefix) -> bool {
        let l = self.len.min(o.len);
        mask4(self.addr, l) == mask4(o.addr, l)
    }
}

fn mask4(a: Ipv4Addr, len: u8) -> Ipv4Addr {
    let m = if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    };
    Ipv4Addr::from(u32::from(a) & m)
}

impl FromStr for Ipv4Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PrefixError::Syntax4(s.into());
        let (a, l) = s.split_once('/').ok_or_else(syntax)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| syntax())?;
        let len: u32 = l.parse().map_err(|_| syntax())?;
        if len > 32 {
            return Err(PrefixError::Length4(len));
        }
        Self::new(addr, len as u8)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl serde::Serialize for Ipv4Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ipv4Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An RFC 6791 pool: IPv4 addresses of the PoP that translated ICMP
/// errors from IPv6 routers come from. Written as a bare address (one
/// address, as before pools) or a prefix of /16 to /32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Pool(Ipv4Prefix);

impl Ipv4Pool {
    /// The largest pool: the data path hashes into at most 16 host bits.
    pub const MIN_LEN: u8 = 16;

    pub fn new(p: Ipv4Prefix) -> Result<Self, PrefixError> {
        if p.len() < Self::MIN_LEN {
            return Err(PrefixError::PoolLength(p.len()));
        }
        Ok(Self(p))
    }
    pub fn first(&self) -> Ipv4Addr {
        self.0.addr()
    }
    pub fn prefix_len(&self) -> u8 {
        self.0.len()
    }
}

impl From<Ipv4Addr> for Ipv4Pool {
    fn from(a: Ipv4Addr) -> Self {
        Self(Ipv4Prefix { addr: a, len: 32 })
    }
}

impl FromStr for Ipv4Pool {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.contains('/') {
            let a: Ipv4Addr = s.parse().map_err(|_| PrefixError::Syntax4(s.into()))?;
            return Ok(a.into());
        }
        Self::new(s.parse()?)
    }
}

impl fmt::Display for Ipv4Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix_len() == 32 {
            write!(f, "{}", self.first())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl serde::Serialize for Ipv4Pool {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ipv4Pool {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cases() {
        let ok = [
            ("2001:db8::/32", 32),
            ("2001:db8:1:2::/64", 64),
            ("::/0", 0),
            ("2001:db8::1/128", 128),
        ];
        for (s, len) in ok {
            let p: Ipv6Prefix = s.parse().unwrap();
            assert_eq!(p.len(), len);
            assert_eq!(p.to_string(), s);
        }
        let bad = [
            ("2001:db8::", "not an IPv6 prefix"),
            ("2001:db8::/129", "out of range"),
            ("2001:db8::1/64", "did you mean 2001:db8::/64"),
            ("192.0.2.0/24", "not an IPv6 prefix"),
            ("2001:db8::/x", "not an IPv6 prefix"),
        ];
        for (s, msg) in bad {
            let e = s.parse::<Ipv6Prefix>().unwrap_err().to_string();
            assert!(e.contains(msg), "{s}: {e}");
        }
    }

    #[test]
    fn hosts_and_overlap() {
        let p: Ipv6Prefix = "2001:db8:0:1::/64".parse().unwrap();
        assert_eq!(p.host(1), "2001:db8:0:1::1".parse::<Ipv6Addr>().unwrap());
        assert!(p.contains("2001:db8:0:1::2".parse().unwrap()));
        assert!(!p.contains("2001:db8:0:2::2".parse().unwrap()));
        let q: Ipv6Prefix = "2001:db8::/48".parse().unwrap();
        let r: Ipv6Prefix = "2001:db8:1::/48".parse().unwrap();
        assert!(p.overlaps(&q) && q.overlaps(&p));
        assert!(!r.overlaps(&p));
    }

    #[test]
    fn ipv4_parse_and_overlap() {
        let p: Ipv4Prefix = "192.0.2.0/24".parse().unwrap();
        assert_eq!((p.len(), p.to_string()), (24, "192.0.2.0/24".to_owned()));
        let bad = [
            ("192.0.2.1/24", "did you mean 192.0.2.0/24"),
            ("192.0.2.0/33", "out of range"),
            ("192.0.2.0", "not an IPv4 prefix"),
            ("2001:db8::/32", "not an IPv4 prefix"),
        ];
        for (s, msg) in bad {
            let e = s.parse::<Ipv4Prefix>().unwrap_err().to_string();
            assert!(e.contains(msg), "{s}: {e}");
        }
        let q: Ipv4Prefix = "192.0.2.128/25".parse().unwrap();
        let r: Ipv4Prefix = "198.51.100.0/24".parse().unwrap();
        assert!(p.overlaps(&q) && q.overlaps(&p) && !p.overlaps(&r));
    }

    #[test]
    fn pools_parse_as_addresses_or_prefixes() {
        let one: Ipv4Pool = "192.0.2.1".parse().unwrap();
        assert_eq!(
            (one.first(), one.prefix_len(), one.to_string()),
            ("192.0.2.1".parse().unwrap(), 32, "192.0.2.1".into())
        );
        let eight: Ipv4Pool = "192.0.2.8/29".parse().unwrap();
        assert_eq!(
            (eight.prefix_len(), eight.to_string()),
            (29, "192.0.2.8/29".into())
        );
        for (s, msg) in [
            ("10.0.0.0/8", "not /8"),
            ("192.0.2.9/29", "did you mean 192.0.2.8/29"),
            ("192.0.2", "not an IPv4 prefix"),
            ("192.0.2.1/33", "out of range"),
        ] {
            let e = s.parse::<Ipv4Pool>().unwrap_err().to_string();
            assert!(e.contains(msg), "{s}: {e}");
        }
    }
}
