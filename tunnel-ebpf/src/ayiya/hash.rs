//! The SHA-1 of an AYIYA datagram, read block by block out of the packet
//! (spec §1.3: K stands in the signature field while hashing). Shared by
//! the check of what users send and the signing of what goes to them, on
//! either program type.

use tunnel_common::{
    ayiya::{SignWork, SIGNATURE_LEN},
    stats::Drop,
};

use super::MAX_DATAGRAM;
use crate::packet::{Ctx, Packet, BLOCK};

/// Its full 64-byte blocks.
const MAX_FULL_BLOCKS: u32 = (MAX_DATAGRAM / BLOCK) as u32;

/// Hashes the datagram of `len` bytes at `off` with `key` in its signature
/// field into `work` (then `work.digest()`, and `work.udp_sum` for a
/// datagram being sent). A function of its own: its frame does not add
/// to the caller's, and a program walks it once.
#[inline(never)]
pub fn hash<C: Ctx>(
    pkt: Packet<C>,
    off: u32,
    len: u32,
    key: &[u8; SIGNATURE_LEN],
    work: &mut SignWork,
) -> Result<(), Drop> {
    // Bounds the verifier can use (callers have checked them).
    let (off, len) = (off & 0x7f, len & 0x7ff);
    if len as usize > MAX_DATAGRAM {
        return Err(Drop::Malformed);
    }
    work.start(key, len);
    // Full blocks, one loop step each with no other branch, so the
    // verifier walks each once; the tail after the loop does not depend
    // on the loop's counter, so it is walked once too.
    let full = work.full_blocks();
    let mut i = 0;
    while i < MAX_FULL_BLOCKS {
        if i >= full {
            break;
        }
        pkt.load_block(off + i * BLOCK as u32, &mut work.sha.block)?;
        work.absorb_full(i);
        i += 1;
    }
    // The tail's offset from the length, not from `full`: on each exit of
    // the loop the verifier knows `full` exactly, and a tail computed from
    // it would be walked once per exit.
    let (tail_off, tail) = (off + (len & !(BLOCK as u32 - 1)), len % BLOCK as u32);
    pkt.load_tail(tail_off, &mut work.sha.block, tail)?;
    work.absorb_tail();
    Ok(())
}
