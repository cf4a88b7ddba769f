//! Checks a request must pass before anything is written. Each error is one
//! line an operator can act on.

use anyhow::{bail, Result};
use tunnel_common::tunnel::{MTU_MAX, MTU_MIN};

use super::config::Config;
use crate::{
    api::{TunnelKind, TunnelSpec},
    prefix::Ipv6Prefix,
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
    if t.kind == TunnelKind::Heartbeat {
        bail!("{} tunnels are not supported yet (sixin4, ayiya)", t.kind);
    }
    fields(t)
}

/// The kind's fields, whether or not the kind runs yet: a configured
/// remote where it is not learned, a secret exactly where the user
/// authenticates.
fn fields(t: &TunnelSpec) -> Result<()> {
    match (t.remote, t.kind.learns_remote()) {
        (None, false) => bail!("a {} tunnel needs a remote address", t.kind),
        (Some(r), _)
            if r.is_unspecified() || r.is_broadcast() || r.is_multicast() || r.is_loopback() =>
        {
            bail!("remote address {r} cannot be a tunnel endpoint")
        }
        _ => {}
    }
    match (&t.secret, t.kind.has_secret()) {
        (Some(_), false) => bail!("a {} tunnel has no secret", t.kind),
        (None, true) => bail!("a {} tunnel needs a secret (its password or key)", t.kind),
        (Some(k), true) if k.is_empty() => bail!("the secret of a {} tunnel is empty", t.kind),
        _ => Ok(()),
    }
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
        bail!("{what} {p} is {name} ({r}): not usable for a tunnel");
    }
    // A prefix wider than a range: name the widest range it covers.
    if let Some((r, name)) = ranges.iter().rev().find(|(r, _)| r.overlaps(p)) {
        bail!("{what} {p} covers {r} ({name}): not usable for a tunnel");
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
    fn sixin4_and_ayiya_run_heartbeat_not_yet() {
        kind(&spec(r#""remote":"198.51.100.2""#)).unwrap();
        kind(&spec(r#""kind":"ayiya","secret":"pw""#)).unwrap();
        let e = kind(&spec(r#""kind":"heartbeat","secret":"pw""#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not supported yet"), "{e}");
        let e = kind(&spec(r#""kind":"ayiya""#)).unwrap_err().to_string();
        assert!(e.contains("needs a secret"), "{e}");
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
}
