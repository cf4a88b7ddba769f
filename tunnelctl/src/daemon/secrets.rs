//! Tunnel secrets in the form the protocol needs, and only that. An AYIYA
//! user signs with K = SHA-1 of the password (ayiya-spec.md §1.3), so the
//! store keeps `sha1:<K in hex>` and never the password; a request may give
//! either (a password is turned into K as it arrives, so `apply -f` with
//! the password is the same state as what is stored).

use anyhow::{bail, Result};
use tunnel_common::ayiya::sign::Key;

use crate::api::{TunnelKind, TunnelSpec};

const K_PREFIX: &str = "sha1:";

/// The secret of `t` as the store keeps it.
pub fn stored(t: &TunnelSpec) -> TunnelSpec {
    let mut t = t.clone();
    if t.kind == TunnelKind::Ayiya {
        t.secret = t.secret.as_deref().map(ayiya_form);
    }
    t
}

/// `sha1:<hex>` for a password; a secret already in that form stays.
fn ayiya_form(secret: &str) -> String {
    if parse_k(secret).is_ok() {
        return secret.to_ascii_lowercase();
    }
    let k = Key::from_password(secret).0;
    format!("{K_PREFIX}{}", hex(&k))
}

/// K of an AYIYA tunnel from its stored secret.
pub fn ayiya_key(t: &TunnelSpec) -> Result<[u8; 20]> {
    match &t.secret {
        Some(s) => parse_k(s),
        None => bail!("tunnel {} has no key", t.id),
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ayiya(secret: &str) -> TunnelSpec {
        serde_json::from_value(serde_json::json!({
            "id": 5072, "kind": "ayiya", "local": "192.0.2.1",
            "prefix": "2001:db8:2ff:1::/64", "secret": secret,
        }))
        .unwrap()
    }

    /// The spec's T5072 password gives its K (ayiya-spec.md §1.10), and
    /// the stored form is stable: storing it again changes nothing.
    #[test]
    fn password_becomes_k_and_only_k() {
        let s = stored(&ayiya("f3d47c2de40fb698e1ab15d757a09bfc"));
        let k = "sha1:5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fba";
        assert_eq!(s.secret.as_deref(), Some(k));
        assert_eq!(stored(&s), s);
        assert_eq!(hex(&ayiya_key(&s).unwrap()), &k[5..]);
        // Given as K (upper case too), kept as K.
        let upper = stored(&ayiya(&k.to_ascii_uppercase().replace("SHA1:", "sha1:")));
        assert_eq!(upper.secret.as_deref(), Some(k));
    }

    #[test]
    fn other_kinds_keep_their_secret() {
        let mut t = ayiya("pw");
        t.kind = TunnelKind::Heartbeat;
        assert_eq!(stored(&t).secret.as_deref(), Some("pw"));
    }

    #[test]
    fn malformed_stored_keys_are_refused() {
        for s in [
            "sha1:",
            "sha1:zz",
            "sha1:5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fb",
        ] {
            assert!(parse_k(s).is_err(), "{s}");
        }
    }
}
