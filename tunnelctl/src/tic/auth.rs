//! TIC's login: the server keeps md5hex(password), hands out a challenge,
//! and the client answers md5hex(challenge ‖ md5hex(password)), both as
//! lowercase hex ASCII, the challenge first (AICCU `common/tic.c`, as
//! ayiya-spec.md §2.2 says).

use md5::{Digest, Md5};

/// Lowercase hex MD5 of `data`.
pub fn md5hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

/// What a client answers to `challenge` for a password whose md5hex is
/// `password_md5`.
pub fn response(challenge: &str, password_md5: &str) -> String {
    let mut h = Md5::new();
    h.update(challenge.as_bytes());
    h.update(password_md5.as_bytes());
    hex(&h.finalize())
}

/// Whether `given` is the right response. Compared over all bytes
/// whatever differs first, so the time taken tells nothing of where.
pub fn check(challenge: &str, password_md5: &str, given: &str) -> bool {
    let want = response(challenge, password_md5);
    let given = given.to_ascii_lowercase();
    want.len() == given.len()
        && want
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's example (ayiya-spec.md §2.2).
    #[test]
    fn the_spec_vector() {
        let pw = md5hex(b"examplepassword");
        assert_eq!(pw, "8ac4253450b2e0eccdfe0fa24036b6d5");
        let c = "856c90f3a2c2bc469d5b490cb02c3378";
        assert_eq!(response(c, &pw), "fd3ce42d9f43195445e35d9862b4c331");
        assert!(check(c, &pw, "fd3ce42d9f43195445e35d9862b4c331"));
        assert!(check(c, &pw, "FD3CE42D9F43195445E35D9862B4C331"));
        for bad in [
            "fd3ce42d9f43195445e35d9862b4c330",
            "fd3ce42d9f43195445e35d9862b4c33",
            "",
            "fd3ce42d9f43195445e35d9862b4c331 ",
        ] {
            assert!(!check(c, &pw, bad), "{bad:?}");
        }
        // The order matters: password hash first is another answer.
        assert_ne!(md5hex(format!("{pw}{c}").as_bytes()), response(c, &pw));
    }
}
