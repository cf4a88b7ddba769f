//! Tunnel secrets in the form the protocols need. A dynamic tunnel's
//! password is kept as given: the heartbeat protocol hashes it into every
//! beat (MD5 over a text that contains it, ayiya-spec.md §2.1) and TIC
//! hands it to the user's client (§2.2), so no derived form is enough.
//! AYIYA signs with K = SHA-1 of the password (§1.3), derived here when the
//! maps are written. A secret given as `sha1:<K in hex>` (the form this
//! store kept before heartbeat and TIC) still works for AYIYA, and only
//! for it: `password` says so. A static tunnel's update key
//! (`/nic/update`) is kept as its SHA-256 only (`update::key`).

use anyhow::{bail, Context, Result};
use tunnel_common::ayiya::sign::Key;

use crate::api::TunnelSpec;

const K_PREFIX: &str = "sha1:";

/// The secrets of `t` as the store keeps them: the password as given, a
/// key in the `sha1:` form in lower case (so that `apply -f` of either
/// spelling is the same state), an update key as `sha256:<hex>` (one that
/// is no key, too short or with spaces, is refused).
pub fn stored(t: &TunnelSpec) -> Result<TunnelSpec> {
    let mut t = t.clone();
    if let Some(s) = &t.secret {
        let lower = s.to_ascii_lowercase();
        if parse_k(&lower).is_ok() {
            t.secret = Some(lower);
        }
    }
    t.update_key = t
        .update_key
        .as_deref()
        .map(super::update::key::stored)
        .transpose()
        .with_context(|| format!("tunnel {}", t.id))?;
    Ok(t)
}

/// K of a dynamic tunnel (the AYIYA signing key) from its stored secret.
pub fn ayiya_key(t: &TunnelSpec) -> Result<[u8; 20]> {
    match &t.secret {
        Some(s)
            if s.get(..K_PREFIX.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(K_PREFIX)) =>
        {
            parse_k(&s.to_ascii_lowercase())
        }
        Some(s) => Ok(Key::from_password(s).0),
        None => bail!("tunnel {} has no key", t.id),
    }
}

/// The password itself, for the protocols that need it (heartbeat, TIC);
/// an error for a tunnel whose store has only K.
pub fn password(t: &TunnelSpec) -> Result<&str> {
    match t.secret.as_deref() {
        None => bail!("tunnel {} has no password", t.id),
        Some(s) if parse_k(&s.to_ascii_lowercase()).is_ok() => bail!(
            "tunnel {} has only an AYIYA key (sha1:...), not its password: set the password again for heartbeat and TIC",
            t.id
        ),
        Some(s) => Ok(s),
    }
}

fn parse_k(s: &str) -> Result<[u8; 20]> {
    let Some(h) = s.strip_prefix(K_PREFIX) else {
        bail!("not a stored key");
    };
    if h.len() != 40 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("a stored key is sha1: and 40 hex digits");
    }
    let mut k = [0u8; 20];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16)?;
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TunnelKind;

    fn ayiya(secret: &str) -> TunnelSpec {
        serde_json::from_value(serde_json::json!({
            "id": 5072, "kind": "ayiya", "local": "192.0.2.1",
            "prefix": "2001:db8:2ff:1::/64", "secret": secret,
        }))
        .unwrap()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The spec's T5072 password gives its K (ayiya-spec.md §1.10); the
    /// password is kept as given, and storing again changes nothing.
    #[test]
    fn password_is_kept_and_gives_k() {
        let s = stored(&ayiya("f3d47c2de40fb698e1ab15d757a09bfc")).unwrap();
        assert_eq!(
            s.secret.as_deref(),
            Some("f3d47c2de40fb698e1ab15d757a09bfc")
        );
        assert_eq!(stored(&s).unwrap(), s);
        assert_eq!(
            hex(&ayiya_key(&s).unwrap()),
            "5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fba"
        );
        assert_eq!(password(&s).unwrap(), "f3d47c2de40fb698e1ab15d757a09bfc");
    }

    /// A key given as K (either case) is kept as K, in lower case: AYIYA
    /// works, heartbeat and TIC are told why they cannot.
    #[test]
    fn a_k_is_kept_as_k() {
        let k = "sha1:5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fba";
        let upper = stored(&ayiya(&k.to_ascii_uppercase())).unwrap();
        assert_eq!(upper.secret.as_deref(), Some(k));
        assert_eq!(hex(&ayiya_key(&upper).unwrap()), &k[5..]);
        let e = password(&upper).unwrap_err().to_string();
        assert!(e.contains("only an AYIYA key"), "{e}");
    }

    #[test]
    fn every_kind_keeps_its_password() {
        let mut t = ayiya("pw");
        t.kind = TunnelKind::Heartbeat;
        assert_eq!(stored(&t).unwrap().secret.as_deref(), Some("pw"));
        assert_eq!(password(&t).unwrap(), "pw");
        t.secret = None;
        assert!(password(&t).is_err() && ayiya_key(&t).is_err());
    }

    /// An update key is kept as its SHA-256, whatever the kind (validation
    /// refuses it on kinds without one, with its own message).
    #[test]
    fn update_keys_become_their_hash() {
        let mut t = ayiya("pw");
        (t.kind, t.secret) = (TunnelKind::Sixin4, None);
        t.update_key = Some("0123456789abcdef".into());
        let s = stored(&t).unwrap();
        assert_eq!(
            s.update_key.as_deref(),
            Some("sha256:9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f")
        );
        assert_eq!(stored(&s).unwrap(), s);
        t.update_key = Some("short".into());
        let e = format!("{:#}", stored(&t).unwrap_err());
        assert!(e.contains("tunnel 5072") && e.contains("16 to 128"), "{e}");
    }

    /// What looks like a K but is not one is a password (a user may pick
    /// any string); a well-formed `sha1:` prefix with a bad body is refused.
    #[test]
    fn malformed_stored_keys_are_refused() {
        for s in [
            "sha1:",
            "sha1:zz",
            "sha1:5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fb",
        ] {
            assert!(parse_k(s).is_err(), "{s}");
            assert!(ayiya_key(&ayiya(s)).is_err(), "{s}");
        }
    }
}
