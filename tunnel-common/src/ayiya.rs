//! AYIYA ("Anything In Anything"): IPv6 in UDP with a SHA-1 signature, the
//! NAT-traversing tunnel of SixXS (AICCU, sixxsd). Wire format and the
//! reference PoP's behaviour: `ayiya-spec.md` (§ numbers below are its).
//!
//! Here: the header layout, its constants, the checks the eBPF decap runs
//! before it hashes anything, the clock window, and the error classes that
//! become drop reasons. Signing and verifying on the host: `sign`.

mod error;
#[cfg(any(feature = "user", test))]
pub mod sign;
#[cfg(test)]
mod vectors;
mod work;

pub use error::AyiyaError;
pub use work::SignWork;

/// UDP port of the PoP (IANA "ayiya"), §1.5.
pub const PORT: u16 = 5072;

/// Bytes before the identity: the 8 fixed bytes.
pub const FIXED_LEN: usize = 8;
/// Identity: an IPv6 address (`IDLen` 4: 2^4 bytes).
pub const IDENTITY_LEN: usize = 16;
/// Signature: a SHA-1 digest (`SigLen` 5: 5 × 4 bytes).
pub const SIGNATURE_LEN: usize = 20;
/// Where the signature starts in a datagram.
pub const SIGNATURE_OFFSET: usize = FIXED_LEN + IDENTITY_LEN;
/// The whole header, and where the payload starts (§1.1).
pub const HEADER_LEN: usize = SIGNATURE_OFFSET + SIGNATURE_LEN;

/// Outer headers + AYIYA header on top of the inner packet (§1.9).
pub const OVERHEAD_V4: usize = 20 + 8 + HEADER_LEN;
pub const OVERHEAD_V6: usize = 40 + 8 + HEADER_LEN;

/// `IDLen`: log2 of the identity's length; 4 for an IPv6 address.
pub const IDLEN_IPV6: u8 = 4;
/// `IDType`: every implementation sends 1 ("integer") for an IPv6 identity.
pub const IDTYPE_INTEGER: u8 = 1;
/// `SigLen`: the signature's length in 4-byte words; 5 for SHA-1.
pub const SIGLEN_SHA1: u8 = 5;
/// `HshMeth` 2: SHA-1 (0 none, 1 MD5, 3 UMAC are never used).
pub const HASH_SHA1: u8 = 2;
/// `AutMeth` 1: shared secret (0 none, 2 public key are never used).
pub const AUTH_SHARED_SECRET: u8 = 1;

/// Opcodes (§1.8). Plain integers, never an enum read from packet memory.
pub const OP_NOOP: u8 = 0;
pub const OP_FORWARD: u8 = 1;
pub const OP_ECHO_REQUEST: u8 = 2;
pub const OP_ECHO_REQUEST_FORWARD: u8 = 3;
pub const OP_ECHO_RESPONSE: u8 = 4;
pub const OP_MOTD: u8 = 5;
pub const OP_QUERY_REQUEST: u8 = 6;
pub const OP_QUERY_RESPONSE: u8 = 7;

/// Next headers: the payload's IP protocol number.
pub const NH_IPV6: u8 = 41;
/// No payload: beats (op 0), 44 bytes on the wire.
pub const NH_NONE: u8 = 59;
/// IPv4 inside (sixxsd and Nabla only).
pub const NH_IPV4: u8 = 4;

/// Byte 0: `IDLen << 4 | IDType` = 0x41.
pub const BYTE_ID: u8 = IDLEN_IPV6 << 4 | IDTYPE_INTEGER;
/// Byte 1: `SigLen << 4 | HshMeth` = 0x52.
pub const BYTE_SIG: u8 = SIGLEN_SHA1 << 4 | HASH_SHA1;

/// Largest clock difference accepted, inclusive (§1.4: sixxsd dropped an
/// epoch 121 s old and took one 120 s ahead).
pub const EPOCH_WINDOW: u32 = 120;

/// The AYIYA header as on the wire, 44 bytes. Byte arrays and bytes only:
/// alignment 1, so it can be read at any offset of a packet; multi-byte
/// fields are big-endian and go through the accessors.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AyiyaHdr {
    /// `IDLen << 4 | IDType`.
    pub id: u8,
    /// `SigLen << 4 | HshMeth`.
    pub sig: u8,
    /// `AutMeth << 4 | OpCode`.
    pub auth_op: u8,
    /// The payload's IP protocol number.
    pub next_header: u8,
    /// Unix seconds, big-endian.
    pub epoch: [u8; 4],
    /// The sender's own tunnel address (§1.2).
    pub identity: [u8; IDENTITY_LEN],
    /// SHA-1 over the datagram with K in this field (§1.3).
    pub signature: [u8; SIGNATURE_LEN],
}
const _: () = assert!(core::mem::size_of::<AyiyaHdr>() == HEADER_LEN);
const _: () = assert!(core::mem::align_of::<AyiyaHdr>() == 1);

impl AyiyaHdr {
    /// A header as every implementation sends it (IPv6 identity, SHA-1,
    /// shared secret), signature zero until signed.
    pub const fn new(opcode: u8, next_header: u8, epoch: u32, identity: [u8; 16]) -> Self {
        Self {
            id: BYTE_ID,
            sig: BYTE_SIG,
            auth_op: AUTH_SHARED_SECRET << 4 | (opcode & 0xf),
            next_header,
            epoch: epoch.to_be_bytes(),
            identity,
            signature: [0; SIGNATURE_LEN],
        }
    }

    #[inline(always)]
    pub const fn opcode(&self) -> u8 {
        self.auth_op & 0xf
    }
    #[inline(always)]
    pub const fn auth_method(&self) -> u8 {
        self.auth_op >> 4
    }
    #[inline(always)]
    pub const fn epoch(&self) -> u32 {
        u32::from_be_bytes(self.epoch)
    }
    /// The first four bytes as one big-endian word, what [`word_ok`] takes.
    #[inline(always)]
    pub const fn word(&self) -> u32 {
        u32::from_be_bytes([self.id, self.sig, self.auth_op, self.next_header])
    }

    /// The 44 bytes as sent.
    pub const fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.id;
        b[1] = self.sig;
        b[2] = self.auth_op;
        b[3] = self.next_header;
        let mut i = 0;
        while i < 4 {
            b[4 + i] = self.epoch[i];
            i += 1;
        }
        let mut i = 0;
        while i < IDENTITY_LEN {
            b[FIXED_LEN + i] = self.identity[i];
            i += 1;
        }
        let mut i = 0;
        while i < SIGNATURE_LEN {
            b[SIGNATURE_OFFSET + i] = self.signature[i];
            i += 1;
        }
        b
    }

    /// The header of a datagram's first 44 bytes.
    pub const fn from_bytes(b: &[u8; HEADER_LEN]) -> Self {
        let mut h = Self::new(0, 0, 0, [0; 16]);
        h.id = b[0];
        h.sig = b[1];
        h.auth_op = b[2];
        h.next_header = b[3];
        h.epoch = [b[4], b[5], b[6], b[7]];
        let mut i = 0;
        while i < IDENTITY_LEN {
            h.identity[i] = b[FIXED_LEN + i];
            i += 1;
        }
        let mut i = 0;
        while i < SIGNATURE_LEN {
            h.signature[i] = b[SIGNATURE_OFFSET + i];
            i += 1;
        }
        h
    }
}

/// Whether the identity, signature and authentication nibbles are the
/// only ones this PoP speaks: `41 52 1x`. Any opcode and next header.
#[inline(always)]
pub const fn methods_ok(word: u32) -> bool {
    word & 0xffff_f000 == 0x4152_1000
}

/// What a PoP accepts from a client, on the first four bytes read as one
/// big-endian word: exactly `41 52 1{0..3} {29|3b|04}` (§6.1, sixxsd's
/// first check, §1.7). One mask for bytes 0-2 (opcodes 0-3 differ only in
/// their two low bits), three compares for byte 3: the cheapest test the
/// decap can run before it looks anything up.
#[inline(always)]
pub const fn word_ok(word: u32) -> bool {
    let nh = (word & 0xff) as u8;
    word & 0xffff_fc00 == 0x4152_1000 && (nh == NH_IPV6 || nh == NH_NONE || nh == NH_IPV4)
}

/// [`word_ok`] on a header.
#[inline(always)]
pub const fn header_ok(h: &AyiyaHdr) -> bool {
    word_ok(h.word())
}

/// How far the sender's clock is ahead of `now` (negative: behind), in
/// seconds. The field is 32 bits, so the difference is taken modulo 2^32
/// (RFC 1982 serial arithmetic): `now` is also the low 32 bits of Unix
/// time, and the check keeps working across 2106.
#[inline(always)]
pub const fn epoch_skew(now: u32, epoch: u32) -> i32 {
    epoch.wrapping_sub(now) as i32
}

/// The clock window: `|now - epoch| <= 120`, inclusive (§1.4).
#[inline(always)]
pub const fn epoch_ok(now: u32, epoch: u32) -> bool {
    epoch_skew(now, epoch).unsigned_abs() <= EPOCH_WINDOW
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;

    use super::*;

    /// The eBPF decap reads this struct straight out of the packet.
    #[test]
    fn layout() {
        assert_eq!(offset_of!(AyiyaHdr, id), 0);
        assert_eq!(offset_of!(AyiyaHdr, sig), 1);
        assert_eq!(offset_of!(AyiyaHdr, auth_op), 2);
        assert_eq!(offset_of!(AyiyaHdr, next_header), 3);
        assert_eq!(offset_of!(AyiyaHdr, epoch), 4);
        assert_eq!(offset_of!(AyiyaHdr, identity), FIXED_LEN);
        assert_eq!(offset_of!(AyiyaHdr, signature), SIGNATURE_OFFSET);
        assert_eq!(SIGNATURE_OFFSET, 24);
        assert_eq!(HEADER_LEN, 44);
        assert_eq!((OVERHEAD_V4, OVERHEAD_V6), (72, 92));
    }

    /// §1.1: "the first 3 bytes are constant in practice: `41 52 1X`".
    #[test]
    fn constants_on_the_wire() {
        let h = AyiyaHdr::new(OP_FORWARD, NH_IPV6, 0x6553_f100, [0xaa; 16]);
        let b = h.to_bytes();
        assert_eq!(b[..8], [0x41, 0x52, 0x11, 0x29, 0x65, 0x53, 0xf1, 0x00]);
        assert_eq!(AyiyaHdr::from_bytes(&b), h);
        assert_eq!(
            (h.opcode(), h.auth_method(), h.epoch()),
            (1, 1, 0x6553_f100)
        );
        let beat = AyiyaHdr::new(OP_NOOP, NH_NONE, 0, [0; 16]);
        assert_eq!(beat.to_bytes()[..4], [0x41, 0x52, 0x10, 0x3b]);
        assert_eq!(PORT, 5072);
    }

    /// Accepted exactly when the spec's pattern says so: every pair of
    /// values of bytes 0 and 1 (bytes 2, 3 valid), and of bytes 2 and 3
    /// (bytes 0, 1 valid).
    #[test]
    fn header_ok_is_the_spec_pattern() {
        let spec = |b: [u8; 4]| {
            b[0] == 0x41
                && b[1] == 0x52
                && (0x10..=0x13).contains(&b[2])
                && [0x29, 0x3b, 0x04].contains(&b[3])
        };
        for x in 0..=255u8 {
            for y in 0..=255u8 {
                for b in [[x, y, 0x11, 0x29], [0x41, 0x52, x, y]] {
                    let word = u32::from_be_bytes(b);
                    assert_eq!(word_ok(word), spec(b), "{word:08x}");
                    let methods = b[0] == 0x41 && b[1] == 0x52 && b[2] >> 4 == 1;
                    assert_eq!(methods_ok(word), methods, "{word:08x}");
                }
            }
        }
        let h = AyiyaHdr::new(OP_ECHO_RESPONSE, NH_IPV6, 0, [0; 16]);
        assert!(!header_ok(&h), "a PoP takes opcodes 0-3 only");
        assert!(header_ok(&AyiyaHdr::new(
            OP_ECHO_REQUEST_FORWARD,
            NH_IPV4,
            0,
            [0; 16]
        )));
    }

    #[test]
    fn epoch_window() {
        let now = 1_700_000_000;
        for d in 0..=EPOCH_WINDOW {
            assert!(epoch_ok(now, now + d) && epoch_ok(now, now - d), "±{d}");
        }
        assert!(!epoch_ok(now, now + 121) && !epoch_ok(now, now - 121));
        assert!(!epoch_ok(now, 0) && !epoch_ok(now, u32::MAX));
        assert_eq!(epoch_skew(now, now - 121), -121);
        assert_eq!(epoch_skew(now, now + 5), 5);
        // Across the 32-bit wrap (2106): 60 s apart is 60 s apart.
        assert!(epoch_ok(u32::MAX - 30, 29));
        assert_eq!(epoch_skew(u32::MAX - 30, 29), 60);
        assert!(!epoch_ok(u32::MAX - 100, 21));
        // The farthest point: half the space away either way.
        assert!(!epoch_ok(0, 1 << 31));
    }
}
