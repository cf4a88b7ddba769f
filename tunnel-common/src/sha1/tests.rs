//! Checked against the FIPS 180 examples and, for every length a packet
//! path can produce a tail of, against the `sha1` crate.

use proptest::prelude::*;
use sha1_ref::Digest;

use super::*;

fn reference(data: &[u8]) -> [u8; DIGEST_LEN] {
    sha1_ref::Sha1::digest(data).into()
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// FIPS 180-2 Appendix A.1 and A.2, and the empty message.
#[test]
fn fips_vectors() {
    assert_eq!(
        hex(&sha1(b"abc")),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(
        hex(&sha1(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
    );
    assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

/// FIPS 180-2 Appendix A.3: one million 'a', fed in uneven pieces so the
/// streaming buffer crosses block boundaries at every offset.
#[test]
fn fips_million_a() {
    let mut h = Sha1::new();
    let chunk = [b'a'; 997];
    let mut left = 1_000_000usize;
    while left > 0 {
        let n = left.min(chunk.len());
        h.update(&chunk[..n]);
        left -= n;
    }
    assert_eq!(
        hex(&h.finalize()),
        "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
    );
}

/// Every length 0..=300 (every padding case: tail 0..=63 bytes, the length
/// in the same block or the next, several full blocks), deterministic
/// bytes.
#[test]
fn every_length_to_300() {
    let data: Vec<u8> = (0..=300u32)
        .map(|i| (i.wrapping_mul(151) ^ (i >> 3)) as u8)
        .collect();
    for n in 0..=data.len() {
        assert_eq!(sha1(&data[..n]), reference(&data[..n]), "length {n}");
    }
}

/// One block through the scratch struct the eBPF side will use, step by
/// step as it will: reset, fill `block`, compress, finish.
#[test]
fn scratch_by_hand() {
    let msg: Vec<u8> = (0..100u8).collect();
    let mut s = Sha1Scratch::new();
    s.h = [0; 5]; // a reused slot holds garbage
    s.reset();
    s.block.copy_from_slice(&msg[..64]);
    s.compress_block();
    s.block[..36].copy_from_slice(&msg[64..]);
    assert_eq!(s.finish(36, 100), reference(&msg));
}

#[test]
fn layout() {
    use core::mem::offset_of;
    assert_eq!(offset_of!(Sha1Scratch, h), 0);
    assert_eq!(offset_of!(Sha1Scratch, w), 24);
    assert_eq!(offset_of!(Sha1Scratch, block), 88);
    assert_eq!(core::mem::align_of::<Sha1Scratch>(), 4);
}

proptest! {
    #[test]
    fn matches_sha1_crate(data in proptest::collection::vec(any::<u8>(), 0..=300)) {
        prop_assert_eq!(sha1(&data), reference(&data));
    }

    /// Splitting the input anywhere gives the same digest.
    #[test]
    fn streaming_split(data in proptest::collection::vec(any::<u8>(), 0..=300), cut in any::<prop::sample::Index>()) {
        let at = cut.index(data.len() + 1);
        let mut h = Sha1::new();
        h.update(&data[..at]);
        h.update(&data[at..]);
        prop_assert_eq!(h.finalize(), reference(&data));
    }

    /// Packet-sized inputs (up to a 1500-byte outer MTU's UDP payload).
    #[test]
    fn packet_sizes(data in proptest::collection::vec(any::<u8>(), 300..=1472)) {
        prop_assert_eq!(sha1(&data), reference(&data));
    }
}

/// `reset`'s word-by-word constants are FIPS 180's initial value.
#[test]
fn reset_is_the_initial_value() {
    let mut s = Sha1Scratch::new();
    s.h = [0; 5];
    s.reset();
    assert_eq!(s.h, H0);
}
