//! The hash of an AYIYA datagram as the eBPF side computes it, block by
//! block out of the packet (see `SignWork`).

use super::{SIGNATURE_LEN, SIGNATURE_OFFSET};

/// The per-CPU work area of a signature (`SHA_WORK`): the hash state and
/// block, the key K that stands in the signature field while hashing, and
/// the datagram's length. The eBPF side walks the datagram: the full
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
}
const _: () = assert!(core::mem::size_of::<SignWork>() == 176);

impl SignWork {
    /// Starts the hash of a `len`-byte datagram signed with `key`.
    #[inline(always)]
    pub fn start(&mut self, key: &[u8; SIGNATURE_LEN], len: u32) {
        self.sha.reset();
        self.key = *key;
        self.len = len;
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
        self.sha.compress_block();
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
        }
    }
}
