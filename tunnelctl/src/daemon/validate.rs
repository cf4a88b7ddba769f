//! Checks a request must pass before anything is written. Each error is one
//! line an operator can act on.

use std::net::Ipv4Addr;

use anyhow::{bail, Result};
use tunnel_common::{
    nat64::rfc6052,
    tunnel::{MTU_MAX, MTU_MIN},
};

use super::config::Config;
use crate::{
    api::{EamSpec, Nat64Spec, Pool6Spec, TunnelSpec, UserSpec},
    prefix::{Ipv4Prefix, Ipv6Prefix},
};

/// Checks a tunnel on its own (not against other tunnels).
pub fn tunnel(cfg: &Config, t: &TunnelSpec) -> Result<()> {
    // First: a kind this daemon does not run yet is all there is to say.
    kind(t)?;
    if t.id >= cfg.max_tunnels {
        bail!(
            "tunnel id {} is out of range 0..{} (max_tunnels)",
            t.id,
            cfg.max_tunnels
        );
    }
    if !(MTU_MIN..=MTU_MAX).contains(&t.mtu) {
        bail!("MTU {} is out of range {MTU_MIN}..={MTU_MAX}", t.mtu);
    }
    if t.mtu > t.kind.max_mtu() {
        bail!(
            "MTU {} is too large for a {} tunnel: at most {} (its headers must fit a 1500-byte path; SixXS used 1280)",
            t.mtu,
            t.kind,
            t.kind.max_mtu()
        );
    }
    special_use("tunnel prefix", &t.prefix)?;
    if t.prefix.len() != 64 {
        bail!("tunnel prefix {} must be a /64", t.prefix);
    }
    if !cfg.pop_ipv4.is_empty() && !cfg.pop_ipv4.contains(&t.local) {
        bail!(
            "local address {} is not one of the PoP's addresses {:?} (pop_ipv4)",
            t.local,
            cfg.pop_ipv4
        );
    }
    if let Some(owner) = &t.owner {
        user_name(owner).map_err(|e| anyhow::anyhow!("owner: {e}"))?;
    }
    let mut all = vec![t.prefix];
    for p in &t.routed {
        routed_prefix(p)?;
        if let Some(q) = all.iter().find(|q| q.overlaps(p)) {
            bail!("routed prefix {p} overlaps {q} of the same tunnel");
        }
        all.push(*p);
    }
    Ok(())
}

/// What depends on the kind: where the remote comes from, whether there is
/// a secret, and whether this daemon runs the kind yet.
pub fn kind(t: &TunnelSpec) -> Result<()> {
    fields(t)
}

/// The kind's fields, whether or not the kind runs yet: a configured
/// remote where it is not learned, a secret exactly where the user
/// authenticates.
fn fields(t: &TunnelSpec) -> Result<()> {
    match (t.remote, t.kind.learns_remote()) {
        (None, false) => bail!("a {} tunnel needs a remote address", t.kind),
        (Some(r), _) => remote_address(r)?,
        _ => {}
    }
    // The update key moves a configured remote; a learned one follows the
    // user's own packets.
    if t.update_key.is_some() && t.kind.learns_remote() {
        bail!(
            "a {} tunnel has no update key (its remote is learned): only sixin4 tunnels do",
            t.kind
        );
    }
    match (&t.secret, t.kind.has_secret()) {
        (Some(_), false) => bail!("a {} tunnel has no secret", t.kind),
        (None, true) => bail!("a {} tunnel needs a secret (its password or key)", t.kind),
        (Some(k), true) if k.is_empty() => bail!("the secret of a {} tunnel is empty", t.kind),
        // `sha1:` names a key, not a password: it must be one.
        (Some(_), true) => super::secrets::ayiya_key(t)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("the secret of tunnel {}: {e}", t.id)),
        _ => Ok(()),
    }
}

/// The longest user name: SixXS's handles are well under it.
pub const USER_NAME_MAX: usize = 32;
/// The longest full name: one TIC reply line carries it.
pub const FULL_NAME_MAX: usize = 128;

/// A user name: 1..=32 of `A-Z a-z 0-9 . _ -` (SixXS's handles look like
/// `JOHN1-SIXXS`); it goes into TIC lines, so no spaces or controls.
pub fn user_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > USER_NAME_MAX {
        bail!(
            "user name {name:?}: 1 to {USER_NAME_MAX} characters, {} given",
            name.chars().count()
        );
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        bail!("user name {name:?}: {c:?} is not allowed (only A-Z a-z 0-9 . _ -)");
    }
    Ok(())
}

/// A user as `user add` gives it.
pub fn user(u: &UserSpec) -> Result<()> {
    user_name(&u.name)?;
    if let Some(f) = &u.full_name {
        if f.len() > FULL_NAME_MAX || f.chars().any(char::is_control) {
            bail!("full name: at most {FULL_NAME_MAX} bytes, no control characters");
        }
    }
    let h = &u.password_md5;
    if h.len() != 32 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        bail!("password_md5: 32 lowercase hex digits (md5hex of the password)");
    }
    Ok(())
}

/// An IPv4 address a tunnel can send to: unicast, not this host's own
/// (loopback), not "nobody" (unspecified). The one check for a configured
/// remote, from `tunnel add|set`, `apply` and `/nic/update`.
pub fn remote_address(r: Ipv4Addr) -> Result<()> {
    if r.is_unspecified() || r.is_broadcast() || r.is_multicast() || r.is_loopback() {
        bail!("remote address {r} cannot be a tunnel endpoint");
    }
    Ok(())
}

pub fn routed_prefix(p: &Ipv6Prefix) -> Result<()> {
    special_use("routed prefix", p)?;
    if p.len() < 16 || p.len() > 64 {
        bail!("routed prefix {p}: length must be between /16 and /64");
    }
    if p.addr().segments()[0] & 0xe000 != 0x2000 {
        bail!("routed prefix {p} is not global unicast (2000::/3)");
    }
    Ok(())
}

/// Ranges no tunnel may be given, even in part: packets to or from them
/// never cross a tunnel (RFC 4291 §2.4-2.5, RFC 4213 §3.6), and a route
/// for them would capture the PoP's own traffic. Longest first, so that
/// the first range holding a prefix is the most specific name for it.
const SPECIAL_USE: [(u128, u8, &str); 6] = [
    (0, 128, "unspecified"),
    (1, 128, "loopback"),
    (0xffff_0000_0000, 96, "IPv4-mapped"),
    (0, 96, "IPv4-compatible"),
    (0xfe80 << 112, 10, "link-local"),
    (0xff00 << 112, 8, "multicast"),
];

/// Refuses a tunnel or routed prefix that overlaps a special-use range.
/// The one place this is decided, for `tunnel add|set`, `prefix add` and
/// `apply`.
pub fn special_use(what: &str, p: &Ipv6Prefix) -> Result<()> {
    special_use_for(what, p, "a tunnel")
}

/// `special_use`, naming what the prefix is not usable for.
fn special_use_for(what: &str, p: &Ipv6Prefix, purpose: &str) -> Result<()> {
    let ranges = SPECIAL_USE.map(|(addr, len, name)| {
        (
            Ipv6Prefix::new(addr.into(), len).expect("a valid range"),
            name,
        )
    });
    if let Some((r, name)) = ranges
        .iter()
        .find(|(r, _)| r.len() <= p.len() && r.overlaps(p))
    {
        bail!("{what} {p} is {name} ({r}): not usable for {purpose}");
    }
    // A prefix wider than a range: name the widest range it covers.
    if let Some((r, name)) = ranges.iter().rev().find(|(r, _)| r.overlaps(p)) {
        bail!("{what} {p} covers {r} ({name}): not usable for {purpose}");
    }
    Ok(())
}

/// pool6 on its own: one of RFC 6052's lengths, not special-use, and (a
/// /96) with bits 64 to 71 zero (RFC 6052 §2.2: they are the u octet of
/// every address under it).
pub fn pool6(p: &Pool6Spec) -> Result<()> {
    let (prefix, len) = (p.prefix, p.prefix.len());
    if !rfc6052::valid_length(len) {
        bail!(
            "pool6 {prefix}: length /{len} is not one of RFC 6052's (/32, /40, /48, /56, /64, /96)"
        );
    }
    special_use_for("pool6", &prefix, "NAT64")?;
    if len == 96 && prefix.addr().octets()[8] != 0 {
        bail!("pool6 {prefix}: bits 64 to 71 must be zero (RFC 6052 section 2.2)");
    }
    Ok(())
}

/// IPv4 ranges no mapping may cover: never a host's address on the
/// Internet, and a kernel route for them would capture the PoP's own
/// traffic. Longest first, as `SPECIAL_USE`.
const SPECIAL_USE_V4: [(u32, u8, &str); 4] = [
    (0, 8, "\"this network\""),
    (127 << 24, 8, "loopback"),
    (224 << 24, 4, "multicast"),
    (240 << 24, 4, "reserved and broadcast"),
];

/// An explicit address mapping on its own: neither side special-use, and
/// no more host bits on the IPv4 side than on the IPv6 side (else several
/// IPv4 addresses would map to one IPv6 address, and replies could not be
/// told apart).
pub fn eam(e: &EamSpec) -> Result<()> {
    special_use_for("EAM IPv6 side", &e.v6, "NAT64")?;
    for (addr, len, name) in SPECIAL_USE_V4 {
        let r = Ipv4Prefix::new(addr.into(), len).expect("a valid range");
        if r.overlaps(&e.v4) {
            bail!(
                "EAM IPv4 side {} overlaps {r} ({name}): not usable for NAT64",
                e.v4
            );
        }
    }
    let (host6, host4) = (128 - u32::from(e.v6.len()), 32 - u32::from(e.v4.len()));
    if host4 > host6 {
        bail!(
            "EAM {} {}: the IPv4 side has {host4} host bits, the IPv6 side only {host6} \
             (IPv4 addresses would share IPv6 ones): give the IPv6 side a length of at most /{}",
            e.v6,
            e.v4,
            128 - host4
        );
    }
    Ok(())
}

/// The NAT64 configuration as a whole, against the tunnels' prefixes: pool6
/// clear of every tunnel prefix and of the mappings' IPv6 sides, and no two
/// mappings sharing an address on either side. The message names both
/// parties.
///
/// A mapping's IPv6 side may lie inside a tunnel prefix, and usually does:
/// giving a user behind a tunnel an IPv4 address the Internet can reach
/// (IPv4 toward the mapping's IPv4 side, translated, goes on into the
/// tunnel: event `nat64_into_tunnel`) is what mappings are for here.
pub fn nat64(n: &Nat64Spec, tunnel_prefixes: &[(Ipv6Prefix, u32)]) -> Result<()> {
    if let Some(p) = &n.pool6 {
        if let Some((q, id)) = tunnel_prefixes.iter().find(|(q, _)| q.overlaps(&p.prefix)) {
            bail!("pool6 {} overlaps {q} of tunnel {id}", p.prefix);
        }
        if let Some(e) = n.eams.iter().find(|e| e.v6.overlaps(&p.prefix)) {
            bail!(
                "EAM {} {} overlaps pool6 {} (an IPv6 side must lie outside pool6)",
                e.v6,
                e.v4,
                p.prefix
            );
        }
    }
    // Sorted, a prefix that overlaps a later one contains it and every one
    // between: each is compared with the run of those it contains.
    let mut by6: Vec<&EamSpec> = n.eams.iter().collect();
    by6.sort_by_key(|e| (u128::from(e.v6.addr()), e.v6.len()));
    for (i, e) in by6.iter().enumerate() {
        if let Some(o) = by6[i + 1..]
            .iter()
            .take_while(|o| e.v6.overlaps(&o.v6))
            .next()
        {
            bail!(
                "EAM IPv6 side {} overlaps {} (of the mapping to {})",
                o.v6,
                e.v6,
                e.v4
            );
        }
    }
    let mut by4: Vec<&EamSpec> = n.eams.iter().collect();
    by4.sort_by_key(|e| (e.v4.addr(), e.v4.len()));
    for (i, e) in by4.iter().enumerate() {
        if let Some(o) = by4[i + 1..]
            .iter()
            .take_while(|o| e.v4.overlaps(&o.v4))
            .next()
        {
            bail!(
                "EAM IPv4 side {} overlaps {} (of the mapping from {})",
                o.v4,
                e.v4,
                e.v6
            );
        }
    }
    Ok(())
}

/// The first prefix in `existing` (of a tunnel other than `id`) that
/// overlaps `p`.
pub fn overlap(existing: &[(Ipv6Prefix, u32)], p: &Ipv6Prefix, id: u32) -> Result<()> {
    if let Some((q, other)) = existing
        .iter()
        .find(|(q, other)| *other != id && q.overlaps(p))
    {
        bail!("prefix {p} overlaps {q} of tunnel {other}");
    }
    if let Some((q, _)) = existing.iter().find(|(q, other)| *other == id && q == p) {
        bail!("prefix {q} is already routed to tunnel {id}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TunnelKind;

    fn spec(json: &str) -> TunnelSpec {
        let base = r#""id":1,"local":"192.0.2.1","prefix":"2001:db8:1::/64""#;
        serde_json::from_str(&format!("{{{base},{json}}}")).unwrap()
    }

    #[test]
    fn fields_per_kind() {
        let ok = [
            r#""remote":"198.51.100.2""#,
            r#""kind":"heartbeat","secret":"pw""#,
            r#""kind":"heartbeat","remote":"198.51.100.2","secret":"pw""#,
            r#""kind":"ayiya","secret":"k""#,
            r#""remote":"198.51.100.2","update_key":"sha256:00""#,
        ];
        for j in ok {
            fields(&spec(j)).unwrap_or_else(|e| panic!("{j}: {e}"));
        }
        let bad = [
            (r#""kind":"sixin4""#, "needs a remote address"),
            (r#""remote":"0.0.0.0""#, "cannot be a tunnel endpoint"),
            (r#""remote":"224.0.0.1""#, "cannot be a tunnel endpoint"),
            (r#""remote":"198.51.100.2","secret":"x""#, "has no secret"),
            (r#""kind":"heartbeat""#, "needs a secret"),
            (r#""kind":"ayiya","secret":"""#, "is empty"),
            (
                r#""kind":"ayiya","secret":"k","update_key":"sha256:00""#,
                "has no update key",
            ),
        ];
        for (j, msg) in bad {
            let e = fields(&spec(j)).unwrap_err().to_string();
            assert!(e.contains(msg), "{j}: {e}");
        }
    }

    /// AYIYA's 72 bytes of headers must fit a 1500-byte path: 1428 is its
    /// largest MTU; 6in4 keeps 1480.
    #[test]
    fn mtu_per_kind() {
        let cfg = Config::default();
        for (j, ok) in [
            (r#""kind":"ayiya","secret":"k","mtu":1280"#, true),
            (r#""kind":"ayiya","secret":"k","mtu":1428"#, true),
            (r#""kind":"ayiya","secret":"k","mtu":1429"#, false),
            (r#""kind":"ayiya","secret":"k""#, false),
            (r#""remote":"198.51.100.2","mtu":1480"#, true),
            (r#""remote":"198.51.100.2","mtu":1481"#, false),
        ] {
            let r = tunnel(&cfg, &spec(j));
            assert_eq!(r.is_ok(), ok, "{j}: {r:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("MTU"), "{e}");
            }
        }
        assert_eq!(TunnelKind::Ayiya.default_mtu(), 1280);
    }

    #[test]
    fn every_kind_with_its_fields() {
        kind(&spec(r#""remote":"198.51.100.2""#)).unwrap();
        kind(&spec(r#""kind":"ayiya","secret":"pw""#)).unwrap();
        kind(&spec(r#""kind":"heartbeat","secret":"pw""#)).unwrap();
        for k in ["ayiya", "heartbeat"] {
            let e = kind(&spec(&format!(r#""kind":"{k}""#)))
                .unwrap_err()
                .to_string();
            assert!(e.contains("needs a secret"), "{e}");
            // `sha1:` names a key: a malformed one is refused, not taken
            // as a password.
            let e = kind(&spec(&format!(r#""kind":"{k}","secret":"sha1:12""#)))
                .unwrap_err()
                .to_string();
            assert!(e.contains("40 hex digits"), "{e}");
        }
    }

    fn with_prefix(prefix: &str) -> TunnelSpec {
        serde_json::from_value(serde_json::json!({
            "id": 1, "local": "192.0.2.1", "remote": "198.51.100.2", "prefix": prefix,
        }))
        .unwrap()
    }

    #[test]
    fn special_use_prefixes_are_refused_as_tunnel_and_routed() {
        let cfg = Config::default();
        let cases = [
            ("ff02::/64", "multicast"),
            ("ff00::/8", "multicast"),
            ("fe80::/64", "link-local"),
            ("febf:ffff::/32", "link-local"),
            ("::1/128", "loopback"),
            ("::/128", "unspecified"),
            ("::/64", "covers ::/96 (IPv4-compatible)"),
            ("::/96", "is IPv4-compatible"),
            ("::ffff:0:0/96", "IPv4-mapped"),
            ("::ffff:192.0.2.0/120", "IPv4-mapped"),
            ("::192.0.2.0/120", "IPv4-compatible"),
            ("::/0", "covers ff00::/8 (multicast)"),
            ("fe00::/8", "covers fe80::/10 (link-local)"),
        ];
        for (p, class) in cases {
            let prefix: Ipv6Prefix = p.parse().unwrap();
            let e = special_use("tunnel prefix", &prefix)
                .unwrap_err()
                .to_string();
            assert!(e.contains(class), "{p}: {e}");
            let e = routed_prefix(&prefix).unwrap_err().to_string();
            assert!(e.contains(class), "{p} routed: {e}");
            if prefix.len() == 64 {
                let e = tunnel(&cfg, &with_prefix(p)).unwrap_err().to_string();
                assert!(e.contains(class), "{p} as a tunnel: {e}");
            }
        }
    }

    #[test]
    fn ordinary_prefixes_pass() {
        let cfg = Config::default();
        for p in ["2001:db8:1::/64", "fd00:1::/64", "fec0::/64", "fe00::/64"] {
            tunnel(&cfg, &with_prefix(p)).unwrap();
        }
        for p in ["2001:db8:100::/48", "2001:db8::/32"] {
            routed_prefix(&p.parse().unwrap()).unwrap();
        }
        // Outside 2000::/3 but not special: still refused as routed.
        let e = routed_prefix(&"fd00::/48".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("not global unicast"), "{e}");
    }

    fn pool(p: &str) -> Pool6Spec {
        Pool6Spec {
            prefix: p.parse().unwrap(),
            wkp_strict: true,
            udp_zero_checksum: Default::default(),
            icmp_source: None,
        }
    }

    fn map(v6: &str, v4: &str) -> EamSpec {
        EamSpec {
            v6: v6.parse().unwrap(),
            v4: v4.parse().unwrap(),
        }
    }

    #[test]
    fn pool6_lengths_and_ranges() {
        for p in [
            "64:ff9b::/96",
            "2001:db8::/32",
            "2001:db8:64::/48",
            "2001:db8:0:64::/64",
        ] {
            pool6(&pool(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
        let bad = [
            ("2001:db8::/33", "not one of RFC 6052's"),
            ("2001:db8:64::/128", "not one of RFC 6052's"),
            ("2001:db8:0:0:ff00::/96", "bits 64 to 71"),
            ("ff00::/96", "multicast"),
            ("::ffff:0:0/96", "IPv4-mapped"),
        ];
        for (p, msg) in bad {
            let e = pool6(&pool(p)).unwrap_err().to_string();
            assert!(e.contains(msg), "{p}: {e}");
        }
    }

    #[test]
    fn eam_sides() {
        eam(&map("2001:db8:6::/120", "192.0.2.0/24")).unwrap();
        eam(&map("2001:db8:1::2/128", "198.51.100.5/32")).unwrap();
        // A longer IPv6 suffix is fine (its first bits cross over).
        eam(&map("2001:db8:6::/112", "203.0.113.0/24")).unwrap();
        let bad = [
            (map("2001:db8:6::/128", "192.0.2.0/24"), "8 host bits"),
            (map("2001:db8:6::/120", "127.0.0.0/24"), "loopback"),
            (map("2001:db8:6::/120", "224.0.0.0/24"), "multicast"),
            (map("::/96", "192.0.2.0/24"), "IPv4-compatible"),
            (map("fe80::/120", "192.0.2.0/24"), "link-local"),
            (map("2001:db8::/96", "0.0.0.0/0"), "this network"),
        ];
        for (e, msg) in bad {
            let err = eam(&e).unwrap_err().to_string();
            assert!(err.contains(msg), "{e:?}: {err}");
        }
    }

    #[test]
    fn nat64_overlaps() {
        let tunnels = [("2001:db8:1::/64".parse().unwrap(), 1)];
        let mut n = Nat64Spec {
            pool6: Some(pool("64:ff9b::/96")),
            // Inside tunnel 1's /64: allowed, the user behind it is reached.
            eams: vec![
                map("2001:db8:1::2/128", "198.51.100.5/32"),
                map("2001:db8:6::/120", "192.0.2.0/24"),
            ],
        };
        nat64(&n, &tunnels).unwrap();
        n.eams.push(map("2001:db8:6::80/121", "203.0.113.0/25"));
        let e = nat64(&n, &tunnels).unwrap_err().to_string();
        assert!(
            e.contains("2001:db8:6::80/121 overlaps 2001:db8:6::/120"),
            "{e}"
        );
        n.eams.pop();
        n.eams.push(map("2001:db8:7::/120", "192.0.2.128/25"));
        let e = nat64(&n, &tunnels).unwrap_err().to_string();
        assert!(e.contains("192.0.2.128/25 overlaps 192.0.2.0/24"), "{e}");
        n.eams.pop();
        n.eams.push(map("64:ff9b::c000:200/120", "203.0.113.0/24"));
        let e = nat64(&n, &tunnels).unwrap_err().to_string();
        assert!(e.contains("overlaps pool6"), "{e}");
        n.eams.pop();
        n.pool6 = Some(pool("2001:db8::/32"));
        let e = nat64(&n, &tunnels).unwrap_err().to_string();
        assert!(e.contains("overlaps 2001:db8:1::/64 of tunnel 1"), "{e}");
    }

    /// User names: SixXS handles and the edges of the length and alphabet.
    #[test]
    fn user_names_and_users() {
        for ok in ["JOHN1-SIXXS", "a", "a.b_c-d", &"x".repeat(32)] {
            user_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let long = "x".repeat(33);
        for (bad, why) in [
            ("", "1 to 32"),
            (long.as_str(), "1 to 32"),
            ("a b", "' '"),
            ("a\nb", "'\\n'"),
            ("jörg", "'ö'"),
            ("a/b", "'/'"),
        ] {
            let e = user_name(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let mut u = UserSpec {
            name: "JOHN1-SIXXS".into(),
            full_name: Some("John Doe".into()),
            password_md5: "8ac4253450b2e0eccdfe0fa24036b6d5".into(),
        };
        user(&u).unwrap();
        for bad in [
            "8AC4253450B2E0ECCDFE0FA24036B6D5",
            "8ac4",
            "examplepassword",
        ] {
            u.password_md5 = bad.into();
            let e = user(&u).unwrap_err().to_string();
            assert!(e.contains("32 lowercase hex"), "{bad}: {e}");
        }
        u.password_md5 = "8ac4253450b2e0eccdfe0fa24036b6d5".into();
        u.full_name = Some("John\rDoe".into());
        assert!(user(&u).unwrap_err().to_string().contains("control"));
        // A tunnel's owner is checked as a name.
        let mut t = spec(r#""remote":"198.51.100.2""#);
        t.owner = Some("bad name".into());
        let e = tunnel(&Config::default(), &t).unwrap_err().to_string();
        assert!(e.starts_with("owner: user name"), "{e}");
    }
}
