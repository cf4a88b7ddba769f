//! Update keys: what a user proves it may move its tunnel with. The store
//! keeps only `sha256:<hex>` of a key (a leaked database does not let
//! anyone update a tunnel); a request may give the key or that form, so an
//! `apply -f` file need not hold keys in clear.
//!
//! A plain hash, not a password hash: generated keys carry 128 random
//! bits, and a key given by the operator must be at least `MIN_LEN`
//! characters, so a guess per hash is no shortcut.

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

const PREFIX: &str = "sha256:";
/// Bounds of a key given in clear: long enough not to be guessed over
/// HTTP, short enough for any router's configuration field.
pub const MIN_LEN: usize = 16;
pub const MAX_LEN: usize = 128;

/// The form the store keeps: `sha256:<64 lower-case hex digits>`. A key
/// already in that form stays (lower-cased); any other is checked and
/// hashed.
pub fn stored(given: &str) -> Result<String> {
    if let Some(h) = parse_stored(given) {
        return Ok(format!("{PREFIX}{}", hex(&h)));
    }
    if !(MIN_LEN..=MAX_LEN).contains(&given.len()) {
        bail!(
            "an update key is {MIN_LEN} to {MAX_LEN} characters long (this one: {}); \
             --generate-update-key makes one",
            given.len()
        );
    }
    // Printable ASCII without spaces: what a router's field, a URL's user
    // information and a shell line carry unchanged.
    if !given.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("an update key is printable ASCII without spaces");
    }
    Ok(format!(
        "{PREFIX}{}",
        hex(&Sha256::digest(given.as_bytes()))
    ))
}

/// Whether `given` (a key from a request) is the key whose stored form is
/// `stored`. The comparison takes the same time wherever the digests
/// differ: the answer's timing says nothing about the stored hash.
pub fn matches(stored: &str, given: &[u8]) -> bool {
    let Some(want) = parse_stored(stored) else {
        return false;
    };
    let got: [u8; 32] = Sha256::digest(given).into();
    want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A new key: 128 random bits as 32 hex digits.
pub fn generate() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random bytes for a key: {e}"))?;
    Ok(hex(&b))
}

fn parse_stored(s: &str) -> Option<[u8; 32]> {
    let h = s.get(..PREFIX.len())?;
    if !h.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let h = &s[PREFIX.len()..];
    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2's "abc" vector would be too short for a key: the digest
    /// of a 16-character key, computed independently
    /// (`printf %s 0123456789abcdef | sha256sum`).
    #[test]
    fn stored_form_is_the_sha256() {
        let s = stored("0123456789abcdef").unwrap();
        assert_eq!(
            s,
            "sha256:9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f"
        );
        // Stable: storing the stored form changes nothing, upper case too.
        assert_eq!(stored(&s).unwrap(), s);
        assert_eq!(stored(&s.to_ascii_uppercase()).unwrap(), s);
        assert!(matches(&s, b"0123456789abcdef"));
        assert!(!matches(&s, b"0123456789abcdeF"));
        assert!(!matches(&s, b""));
        assert!(!matches("sha256:zz", b"0123456789abcdef"));
    }

    #[test]
    fn weak_or_odd_keys_are_refused() {
        for (k, msg) in [
            ("short", "16 to 128"),
            (&"x".repeat(129), "16 to 128"),
            ("0123456789 abcdef", "printable ASCII"),
            ("0123456789abcdé", "printable ASCII"),
            ("0123456789abcdef\n", "printable ASCII"),
        ] {
            let e = stored(k).unwrap_err().to_string();
            assert!(e.contains(msg), "{k:?}: {e}");
        }
        // Almost the stored form: a key like any other (and long enough).
        let odd = format!("sha256:{}", "a".repeat(63));
        assert_ne!(stored(&odd).unwrap(), odd);
    }

    #[test]
    fn generated_keys_are_fresh_and_usable() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(matches(&stored(&a).unwrap(), a.as_bytes()));
    }
}
