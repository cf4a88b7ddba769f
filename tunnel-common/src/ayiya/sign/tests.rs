//! Sign and verify against an independent formula (the `sha1` crate over
//! the spec's pre-image), and what must fail. The spec's own vectors are
//! in `ayiya/vectors.rs`.

use proptest::prelude::*;
use sha1_ref::Digest;

use super::*;
use crate::ayiya::{OP_ECHO_RESPONSE, OP_FORWARD};

/// §1.3 written out with another SHA-1: `sha1(d[:24] + K + d[44:])`, K
/// itself from the other SHA-1 too.
fn reference_sig(d: &[u8], password: &[u8]) -> [u8; 20] {
    let k: [u8; 20] = sha1_ref::Sha1::digest(password).into();
    let mut pre = d[..24].to_vec();
    pre.extend_from_slice(&k);
    pre.extend_from_slice(&d[44..]);
    sha1_ref::Sha1::digest(&pre).into()
}

/// An IPv6 packet of `len` payload bytes (next header 59), valid enough
/// for `parse`.
fn ipv6(body: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend_from_slice(&[59, 64]);
    p.extend_from_slice(&[0x20; 32]);
    p.extend_from_slice(body);
    p
}

fn datagram() -> impl Strategy<Value = (AyiyaHdr, Vec<u8>)> {
    (
        any::<[u8; 16]>(),
        any::<u32>(),
        prop_oneof![Just(OP_NOOP), Just(OP_FORWARD), 2u8..=7],
        prop::collection::vec(any::<u8>(), 0..600),
        any::<bool>(),
    )
        .prop_map(|(id, epoch, op, body, beat)| {
            if beat {
                (AyiyaHdr::new(op, NH_NONE, epoch, id), body)
            } else {
                (AyiyaHdr::new(op, NH_IPV6, epoch, id), ipv6(&body))
            }
        })
}

proptest! {
    #[test]
    fn sign_matches_reference_and_verifies(
        (hdr, payload) in datagram(),
        password in prop::collection::vec(any::<u8>(), 1..80),
    ) {
        let key = Key::from_password(&password);
        let d = encode(&hdr, &payload, &key);
        prop_assert_eq!(d.len(), HEADER_LEN + payload.len());
        prop_assert_eq!(&d[..SIGNATURE_OFFSET], &hdr.to_bytes()[..SIGNATURE_OFFSET]);
        prop_assert_eq!(&d[HEADER_LEN..], &payload[..]);
        prop_assert_eq!(&d[SIGNATURE_OFFSET..HEADER_LEN], &reference_sig(&d, &password)[..]);
        let v = verify(&d, &key, hdr.epoch()).unwrap();
        prop_assert_eq!(v.header(), &AyiyaHdr { signature: v.header().signature, ..hdr });
        prop_assert_eq!(v.payload(), &payload[..]);
    }

    /// One flipped bit anywhere, the signature included, fails.
    #[test]
    fn any_flipped_bit_fails(
        (hdr, payload) in datagram(),
        bit in any::<prop::sample::Index>(),
    ) {
        let key = Key::from_password("pw");
        let mut d = encode(&hdr, &payload, &key);
        let bit = bit.index(d.len() * 8);
        d[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify(&d, &key, hdr.epoch()).is_err());
    }

    #[test]
    fn another_password_fails((hdr, payload) in datagram(), a in "[ -~]{1,40}", b in "[ -~]{1,40}") {
        prop_assume!(a != b);
        let d = encode(&hdr, &payload, &Key::from_password(&a));
        let got = verify(&d, &Key::from_password(&b), hdr.epoch());
        prop_assert_eq!(got.err(), Some(AyiyaError::HashFail));
    }

    /// Inside the window (inclusive) and out of it, both ways.
    #[test]
    fn clock_window((hdr, payload) in datagram(), skew in -400i64..=400) {
        let key = Key::from_password("pw");
        let d = encode(&hdr, &payload, &key);
        let now = (i64::from(hdr.epoch()) - skew) as u32;
        let got = verify(&d, &key, now).err();
        if skew.abs() <= 120 {
            prop_assert_eq!(got, None);
        } else {
            prop_assert_eq!(got, Some(AyiyaError::ClockOff));
        }
    }
}

#[test]
fn parse_refusals() {
    let key = Key::from_password("pw");
    let fwd = |payload: &[u8]| {
        encode(
            &AyiyaHdr::new(OP_FORWARD, NH_IPV6, 7, [1; 16]),
            payload,
            &key,
        )
    };
    let err = |d: &[u8]| Datagram::parse(d).err();
    let good = fwd(&ipv6(b"hello"));
    assert_eq!(err(&good), None);
    for n in 0..HEADER_LEN {
        assert_eq!(err(&good[..n]), Some(AyiyaError::Short), "{n} bytes");
    }
    // Cut or extended payloads: the IPv6 length no longer agrees.
    for n in HEADER_LEN + 1..good.len() {
        assert_eq!(
            err(&good[..n]),
            Some(AyiyaError::LengthMismatch),
            "{n} bytes"
        );
    }
    let mut long = good.clone();
    long.push(0);
    assert_eq!(err(&long), Some(AyiyaError::LengthMismatch));
    // Nothing, or not IPv6, where next header 41 says IPv6.
    assert_eq!(err(&good[..HEADER_LEN]), Some(AyiyaError::NotIpv6Payload));
    let mut v4 = good.clone();
    v4[HEADER_LEN] = 0x45;
    assert_eq!(err(&v4), Some(AyiyaError::NotIpv6Payload));
    // Next header 4: an IPv4 packet of the right length.
    let ip4 = |len: u16| {
        let mut p = vec![0u8; usize::from(len)];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    };
    let with4 = |p: &[u8]| encode(&AyiyaHdr::new(OP_FORWARD, NH_IPV4, 7, [1; 16]), p, &key);
    assert_eq!(err(&with4(&ip4(28))), None);
    assert_eq!(err(&with4(&ipv6(b""))), Some(AyiyaError::NotIpv4Payload));
    let mut short4 = ip4(28);
    short4[3] = 27;
    assert_eq!(err(&with4(&short4)), Some(AyiyaError::LengthMismatch));
    // Beats carry anything (nothing, from AICCU).
    let b = beat([1; 16], 7, &key);
    assert_eq!(b.len(), HEADER_LEN);
    assert!(verify(&b, &key, 7).is_ok());
    // Header: other methods, undefined opcodes, other next headers.
    for (i, v) in [(0, 0x42), (1, 0x51), (2, 0x21), (2, 0x18), (3, 17)] {
        let mut d = good.clone();
        d[i] = v;
        assert_eq!(err(&d), Some(AyiyaError::BadHeader), "byte {i} = {v:#x}");
    }
    // A client takes op 4 (echo response), which a PoP refuses.
    let resp = encode(
        &AyiyaHdr::new(OP_ECHO_RESPONSE, NH_IPV6, 7, [1; 16]),
        &ipv6(b""),
        &key,
    );
    let d = verify(&resp, &key, 7).unwrap();
    assert!(!crate::ayiya::header_ok(d.header()));
}

#[test]
fn identity_and_key_hygiene() {
    let key = Key::from_password("secret");
    let d = beat([2; 16], 7, &key);
    let d = verify(&d, &key, 7).unwrap();
    assert_eq!(d.expect_identity(&[2; 16]), Ok(()));
    assert_eq!(d.expect_identity(&[1; 16]), Err(AyiyaError::WrongIdentity));
    assert_eq!(format!("{key:?}"), "Key(..)");
    assert_eq!(signature(&[0; 43], &key), Err(AyiyaError::Short));
    // The time helper is the wall clock, truncated as on the wire.
    let now = unix_now();
    assert!(now > 1_700_000_000, "{now}");
}
