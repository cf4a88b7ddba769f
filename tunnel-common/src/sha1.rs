//! SHA-1 (FIPS 180-4 §6.1), shaped for the eBPF verifier: AYIYA signs
//! every datagram with a plain SHA-1 (`ayiya-spec.md` §1.3), so the data
//! path hashes each packet it receives and sends.
//!
//! What the verifier needs, and why the code looks the way it does:
//! - the message schedule rolls through 16 words (`W[t]` overwrites
//!   `W[t-16]`) instead of the textbook 80-word array: 320 bytes of stack
//!   would blow the 512-byte budget shared across calls;
//! - the state lives in a caller-provided [`Sha1Scratch`], so the eBPF side
//!   can keep it in a per-CPU map slot instead of on the stack;
//! - fixed-size arrays, constant loop bounds and indexes masked with `& 15`
//!   (the verifier sees the bound, LLVM drops the bounds checks, so no
//!   panic path is emitted); no slices, no recursion, no heap.
//!
//! The slice-taking streaming hasher ([`Sha1`], [`sha1`]) is for the host
//! (tests, the daemon, the client) and is not built for the BPF target.

/// Bytes in one SHA-1 block.
pub const BLOCK_LEN: usize = 64;
/// Bytes in a SHA-1 digest.
pub const DIGEST_LEN: usize = 20;
/// Offset of the message length (in bits, big-endian u64) in the last block.
pub const LEN_OFFSET: usize = 56;

/// Initial chaining value H(0), FIPS 180-4 §5.3.1.
pub const H0: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];

/// Round constants K of the four 20-round stages, FIPS 180-4 §4.2.1.
const K: [u32; 4] = [0x5a82_7999, 0x6ed9_eba1, 0x8f1b_bcdc, 0xca62_c1d6];

/// One round: the next working variables `[a, b, c, d, e]` from the
/// stage's function value `f`, constant `k` and schedule word `w`.
#[inline(always)]
fn round(s: [u32; 5], f: u32, k: u32, w: u32) -> [u32; 5] {
    let [a, b, c, d, e] = s;
    let t = a
        .rotate_left(5)
        .wrapping_add(f)
        .wrapping_add(e)
        .wrapping_add(k)
        .wrapping_add(w);
    [t, a, b.rotate_left(30), c, d]
}

/// `W[t]` for `t >= 16`, written over `W[t-16]` in the 16-word ring:
/// `W[t-3]`, `W[t-8]` and `W[t-14]` sit at `t+13`, `t+8` and `t+2` mod 16.
#[inline(always)]
fn schedule(w: &mut [u32; 16], t: usize) -> u32 {
    let i = t & 15;
    let x = (w[(t + 13) & 15] ^ w[(t + 8) & 15] ^ w[(t + 2) & 15] ^ w[i]).rotate_left(1);
    w[i] = x;
    x
}

#[inline(always)]
fn ch(s: &[u32; 5]) -> u32 {
    (s[1] & s[2]) | (!s[1] & s[3])
}

#[inline(always)]
fn parity(s: &[u32; 5]) -> u32 {
    s[1] ^ s[2] ^ s[3]
}

#[inline(always)]
fn maj(s: &[u32; 5]) -> u32 {
    (s[1] & s[2]) | (s[1] & s[3]) | (s[2] & s[3])
}

/// The compression function over one block. `w` holds the block as 16
/// big-endian words on entry (see [`load_block`]) and is clobbered: it is
/// the rolling schedule. Stages are separate loops so that no round
/// branches on its index.
#[inline(always)]
pub fn compress(h: &mut [u32; 5], w: &mut [u32; 16]) {
    let mut s = *h;
    let mut t = 0;
    while t < 16 {
        s = round(s, ch(&s), K[0], w[t & 15]);
        t += 1;
    }
    while t < 20 {
        let x = schedule(w, t);
        s = round(s, ch(&s), K[0], x);
        t += 1;
    }
    while t < 40 {
        let x = schedule(w, t);
        s = round(s, parity(&s), K[1], x);
        t += 1;
    }
    while t < 60 {
        let x = schedule(w, t);
        s = round(s, maj(&s), K[2], x);
        t += 1;
    }
    while t < 80 {
        let x = schedule(w, t);
        s = round(s, parity(&s), K[3], x);
        t += 1;
    }
    let mut i = 0;
    while i < 5 {
        h[i] = h[i].wrapping_add(s[i]);
        i += 1;
    }
}

/// The block's bytes as the 16 big-endian words the schedule starts from.
#[inline(always)]
pub fn load_block(w: &mut [u32; 16], block: &[u8; BLOCK_LEN]) {
    let mut i = 0;
    while i < 16 {
        let o = (i & 15) * 4;
        w[i & 15] = u32::from_be_bytes([block[o], block[o + 1], block[o + 2], block[o + 3]]);
        i += 1;
    }
}

/// Pads the last block, which holds `n` (< 64) message bytes: `0x80` at
/// `n`, zeros after. Returns whether the 8-byte length still fits in this
/// block (`n < 56`); if not, the caller compresses it and pads a fresh
/// all-zero block with [`put_len`]. Bytes before `n` are left alone.
#[inline(always)]
pub fn pad_block(block: &mut [u8; BLOCK_LEN], n: usize) -> bool {
    let mut i = 0;
    while i < BLOCK_LEN {
        if i == n {
            block[i] = 0x80;
        } else if i > n {
            block[i] = 0;
        }
        i += 1;
    }
    n < LEN_OFFSET
}

/// Writes the message length (in bytes; stored in bits) at the end of the
/// last block, FIPS 180-4 §5.1.1.
#[inline(always)]
pub fn put_len(block: &mut [u8; BLOCK_LEN], total_bytes: u64) {
    let bits = total_bytes.wrapping_mul(8).to_be_bytes();
    let mut i = 0;
    while i < 8 {
        block[LEN_OFFSET + (i & 7)] = bits[i & 7];
        i += 1;
    }
}

/// The digest of a final chaining value.
#[inline(always)]
pub fn digest(h: &[u32; 5]) -> [u8; DIGEST_LEN] {
    let mut out = [0u8; DIGEST_LEN];
    let mut i = 0;
    while i < 5 {
        let b = h[i].to_be_bytes();
        let o = i * 4;
        out[o] = b[0];
        out[o + 1] = b[1];
        out[o + 2] = b[2];
        out[o + 3] = b[3];
        i += 1;
    }
    out
}

/// Everything one hash needs between blocks, in one place the eBPF side
/// can put in a per-CPU map slot (152 bytes: too much for the stack next
/// to a packet path's other locals). The caller fills `block` (from the
/// packet), then calls [`Sha1Scratch::compress_block`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sha1Scratch {
    /// Chaining value.
    pub h: [u32; 5],
    pub _pad: u32,
    /// The rolling schedule (scratch for [`compress`]).
    pub w: [u32; 16],
    /// The block being hashed, as bytes.
    pub block: [u8; BLOCK_LEN],
}
const _: () = assert!(core::mem::size_of::<Sha1Scratch>() == 152);

impl Default for Sha1Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha1Scratch {
    pub const fn new() -> Self {
        Self {
            h: H0,
            _pad: 0,
            w: [0; 16],
            block: [0; BLOCK_LEN],
        }
    }

    /// Starts a new hash (a reused map slot holds the previous packet's).
    #[inline(always)]
    pub fn reset(&mut self) {
        // Word by word: a copy of the `H0` array would be a load from
        // `.rodata`, which the eBPF object must not have (a map of its own).
        self.h[0] = 0x6745_2301;
        self.h[1] = 0xefcd_ab89;
        self.h[2] = 0x98ba_dcfe;
        self.h[3] = 0x1032_5476;
        self.h[4] = 0xc3d2_e1f0;
    }

    /// Zeroes `block` with word stores (an array literal becomes a
    /// byte-at-a-time memset, or a stack temporary, for the BPF target).
    #[inline(always)]
    pub fn clear_block(&mut self) {
        let mut i = 0;
        while i < BLOCK_LEN {
            self.block[i] = 0;
            i += 1;
        }
    }

    /// Compresses `block` into the chaining value.
    #[inline(always)]
    pub fn compress_block(&mut self) {
        load_block(&mut self.w, &self.block);
        compress(&mut self.h, &mut self.w);
    }

    /// Pads and compresses the last block (`n` < 64 message bytes in
    /// `block`, `total` bytes in the whole message): one or two blocks.
    #[inline(always)]
    pub fn finish(&mut self, n: usize, total: u64) -> [u8; DIGEST_LEN] {
        if !pad_block(&mut self.block, n) {
            self.compress_block();
            self.clear_block();
        }
        put_len(&mut self.block, total);
        self.compress_block();
        digest(&self.h)
    }
}

/// Streaming SHA-1 over byte slices, built on [`Sha1Scratch`]: the host's
/// hasher (the daemon's K, the client's signatures, tests).
#[cfg(not(target_arch = "bpf"))]
#[derive(Clone, Debug, Default)]
pub struct Sha1 {
    s: Sha1Scratch,
    /// Bytes waiting in `s.block`.
    used: usize,
    total: u64,
}

#[cfg(not(target_arch = "bpf"))]
impl Sha1 {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() {
            let take = (BLOCK_LEN - self.used).min(data.len());
            self.s.block[self.used..self.used + take].copy_from_slice(&data[..take]);
            self.used += take;
            data = &data[take..];
            if self.used == BLOCK_LEN {
                self.s.compress_block();
                self.used = 0;
            }
        }
    }

    pub fn finalize(mut self) -> [u8; DIGEST_LEN] {
        self.s.finish(self.used, self.total)
    }
}

/// SHA-1 of `data`.
#[cfg(not(target_arch = "bpf"))]
pub fn sha1(data: &[u8]) -> [u8; DIGEST_LEN] {
    let mut h = Sha1::new();
    h.update(data);
    h.finalize()
}

#[cfg(test)]
mod tests;
