//! The hash of an AYIYA datagram as the eBPF side computes it, block by
//! block out of the packet (see `SignWork`).

use super::{SIGNATURE_LEN, SIGNATURE_OFFSET};

/// The per-CPU work area of a signature (`SHA_WORK`): the hash state and
/// block, the key K that stands in the signature field while hashing, the
/// datagram's length, and the sum of its words for the UDP checksum of
/// what the PoP signs (taken on the way, from the words the hash reads). The eBPF side walks the datagram: the full
/// blocks with [`SignWork::absorb_full`], then the tail (zeros after it)
/// with [`SignWork::absorb_tail`]. Pure, so the host tests it against the
/// reference signer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SignWork {
    pub sha: crate::sha1::Sha1Scratch,
    pub key: [u8; SIGNATURE_LEN],
    /// Bytes in the datagram.
    pub len: u32,
    /// Big-endian 32-bit words hashed so far, added (K in the signature
    /// field): see [`SignWork::udp_sum`].
    pub sum: u64,
}
const _: () = assert!(core::mem::size_of::<SignWork>() == 184);

impl SignWork {
    /// Starts the hash of a `len`-byte datagram signed with `key`.
    #[inline(always)]
    pub fn start(&mut self, key: &[u8; SIGNATURE_LEN], len: u32) {
        self.sha.reset();
        self.key = *key;
        self.len = len;
        self.sum = 0;
    }

    /// Full 64-byte blocks of the datagram.
    #[inline(always)]
    pub fn full_blocks(&self) -> u32 {
        self.len / 64
    }

    /// Datagram bytes after the full blocks (0..=63).
    #[inline(always)]
    pub fn tail_len(&self) -> u32 {
        self.len % 64
    }

    /// Full block `index` is in `sha.block`: K goes into the signature
    /// field (block 0, bytes 24..44) and the block is compressed.
    #[inline(always)]
    pub fn absorb_full(&mut self, index: u32) {
        if index == 0 {
            self.key_in();
        }
        self.absorb_words();
        crate::sha1::compress(&mut self.sha.h, &mut self.sha.w);
    }

    /// `sha.block` into the schedule's words, and their sum.
    #[inline(always)]
    fn absorb_words(&mut self) {
        crate::sha1::load_block(&mut self.sha.w, &self.sha.block);
        let mut i = 0;
        while i < 16 {
            self.sum += self.sha.w[i] as u64;
            i += 1;
        }
    }

    /// The tail's bytes are in `sha.block`, **zeros after them** (the
    /// caller's part): K if the datagram had no full block, the 0x80 that
    /// ends the message, the length, and the last one or two compressions.
    /// No branch on a byte's position, so a verifier walks this once.
    #[inline(always)]
    pub fn absorb_tail(&mut self) {
        let rest = self.tail_len();
        if self.full_blocks() == 0 {
            self.key_in();
        }
        // The tail's words for the sum, before the padding goes in.
        self.absorb_words();
        self.sha.block[(rest & 63) as usize] = 0x80;
        if rest >= crate::sha1::LEN_OFFSET as u32 {
            // No room for the length: it goes in a block of its own.
            self.sha.compress_block();
            self.sha.clear_block();
        }
        crate::sha1::put_len(&mut self.sha.block, self.len as u64);
        self.sha.compress_block();
    }

    #[inline(always)]
    fn key_in(&mut self) {
        let mut i = 0;
        while i < SIGNATURE_LEN {
            self.sha.block[SIGNATURE_OFFSET + i] = self.key[i];
            i += 1;
        }
    }

    /// The signature, once every block is absorbed.
    #[inline(always)]
    pub fn digest(&self) -> [u8; SIGNATURE_LEN] {
        crate::sha1::digest(&self.sha.h)
    }

    /// RFC 1071 sum (unfolded, of big-endian words) of the datagram as
    /// sent with `signature` in its field: the words hashed, K taken out
    /// and the signature put in. K and the signature sit on 4-byte
    /// boundaries of the datagram (bytes 24..44), so whole 32-bit words
    /// swap; adding the complement of a 32-bit word subtracts it modulo
    /// 0xffff (2^32 − 1 is a multiple of 0xffff), which is all a folded
    /// 16-bit sum sees.
    #[inline(always)]
    pub fn udp_sum(&self, signature: &[u8; SIGNATURE_LEN]) -> u64 {
        let mut sum = self.sum;
        let mut i = 0;
        while i < SIGNATURE_LEN {
            let k = [
                self.key[i],
                self.key[i + 1],
                self.key[i + 2],
                self.key[i + 3],
            ];
            let s = [
                signature[i],
                signature[i + 1],
                signature[i + 2],
                signature[i + 3],
            ];
            sum += !u32::from_be_bytes(k) as u64 + u32::from_be_bytes(s) as u64;
            i += 4;
        }
        sum
    }
}

#[cfg(test)]
mod sign_work_tests {
    use super::*;
    use crate::ayiya::{
        sign::{self, Key},
        HEADER_LEN,
    };

    /// The block walk of the eBPF side, run on the host: for every length
    /// from the bare header to a full 1500-byte path's datagram, the same
    /// signature as the reference signer.
    #[test]
    fn block_walk_equals_the_reference_signature() {
        let key = Key::from_password("f3d47c2de40fb698e1ab15d757a09bfc");
        for len in HEADER_LEN..=1472 {
            let d: std::vec::Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let mut w = SignWork::default();
            w.start(&key.0, len as u32);
            for i in 0..w.full_blocks() as usize {
                w.sha.block.copy_from_slice(&d[i * 64..i * 64 + 64]);
                w.absorb_full(i as u32);
            }
            let o = w.full_blocks() as usize * 64;
            w.sha.block = [0; 64];
            w.sha.block[..len - o].copy_from_slice(&d[o..]);
            w.absorb_tail();
            assert_eq!(w.digest(), sign::signature(&d, &key).unwrap(), "len {len}");
            // The sum of the datagram as sent (signature in its field),
            // against the plain RFC 1071 sum of those bytes.
            let mut sent = d.clone();
            sign::sign(&mut sent, &key).unwrap();
            assert_eq!(
                crate::csum::fold(w.udp_sum(&w.digest())),
                crate::csum::fold(crate::csum::add_bytes(0, &sent)),
                "len {len}"
            );
        }
    }
}
