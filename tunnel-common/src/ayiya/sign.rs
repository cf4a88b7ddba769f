//! Signing and verifying whole AYIYA datagrams (the UDP payload) on the
//! host: for the client, the daemon (K of a password) and the tests that
//! check what the data path sends. The data path does the same per packet
//! with [`crate::sha1::Sha1Scratch`] and its own bounded loops.
//!
//! It lives here rather than in `tunnelctl` so that the wire format has one
//! home: the layout and the signature rule next to each other, used by the
//! client and daemon (`tunnelctl`, through the `user` feature) and by the
//! L1/L2 tests alike, and tested with `cargo test -p tunnel-common`. It
//! takes slices, so it is host-only (`user` or tests), never built for BPF.
//!
//! The signature, `ayiya-spec.md` §1.3, to the letter: with K = SHA-1 of
//! the password's ASCII bytes, `sig = SHA-1(d[0..24] ‖ K ‖ d[44..])` over
//! the whole datagram `d`, i.e. the datagram with K in the 20-byte
//! signature field; it is not HMAC. A receiver saves the signature, puts K
//! in its place, hashes all bytes received and compares.

use super::{
    epoch_ok, methods_ok, AyiyaError, AyiyaHdr, HEADER_LEN, NH_IPV4, NH_IPV6, NH_NONE, OP_NOOP,
    OP_QUERY_RESPONSE, SIGNATURE_LEN, SIGNATURE_OFFSET,
};
use crate::sha1::{sha1, Sha1, DIGEST_LEN};

/// K: SHA-1 of a tunnel's password, all the protocol needs of it (and all
/// the daemon keeps). Whoever holds K can sign for the tunnel, so `Debug`
/// does not print it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key(pub [u8; DIGEST_LEN]);

impl Key {
    /// K of a password as TIC hands it out: opaque ASCII, no hex decoding
    /// even when it looks like hex (SixXS's 32-character passwords).
    pub fn from_password(password: impl AsRef<[u8]>) -> Self {
        Self(sha1(password.as_ref()))
    }
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The signature `datagram` must carry under `key`, whatever its
/// signature field holds now.
pub fn signature(datagram: &[u8], key: &Key) -> Result<[u8; SIGNATURE_LEN], AyiyaError> {
    if datagram.len() < HEADER_LEN {
        return Err(AyiyaError::Short);
    }
    let mut h = Sha1::new();
    h.update(&datagram[..SIGNATURE_OFFSET]);
    h.update(&key.0);
    h.update(&datagram[HEADER_LEN..]);
    Ok(h.finalize())
}

/// Signs a datagram in place: its signature field gets [`signature`].
pub fn sign(datagram: &mut [u8], key: &Key) -> Result<(), AyiyaError> {
    let sig = signature(datagram, key)?;
    datagram[SIGNATURE_OFFSET..HEADER_LEN].copy_from_slice(&sig);
    Ok(())
}

/// A signed datagram: `header` (its signature field is ignored) then
/// `payload`.
pub fn encode(header: &AyiyaHdr, payload: &[u8], key: &Key) -> Vec<u8> {
    let mut d = Vec::with_capacity(HEADER_LEN + payload.len());
    d.extend_from_slice(&header.to_bytes());
    d.extend_from_slice(payload);
    // At least 44 bytes by construction, so this cannot fail.
    let _ = sign(&mut d, key);
    d
}

/// A beat (§1.6): op 0, next header 59, no payload; 44 bytes.
pub fn beat(identity: [u8; 16], epoch: u32, key: &Key) -> Vec<u8> {
    encode(&AyiyaHdr::new(OP_NOOP, NH_NONE, epoch, identity), &[], key)
}

/// The current Unix time as the epoch field carries it (low 32 bits).
pub fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// A datagram whose structure has been checked ([`Datagram::parse`]); not
/// yet authenticated.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    header: AyiyaHdr,
    bytes: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// The checks that need no key, in sixxsd's order (§1.7): the header's
    /// constant part (`41 52 1x`, an opcode of §1.8, next header 41, 59 or
    /// 4), then the payload against its next header. Which opcodes a side
    /// acts on is the caller's choice: a PoP takes 0-3
    /// ([`super::header_ok`]), a client 1 and 4.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, AyiyaError> {
        let Some((head, payload)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(AyiyaError::Short);
        };
        let header = AyiyaHdr::from_bytes(head);
        let nh = header.next_header;
        if !methods_ok(header.word())
            || header.opcode() > OP_QUERY_RESPONSE
            || !(nh == NH_IPV6 || nh == NH_NONE || nh == NH_IPV4)
        {
            return Err(AyiyaError::BadHeader);
        }
        check_payload(nh, payload)?;
        Ok(Self { header, bytes })
    }

    pub fn header(&self) -> &AyiyaHdr {
        &self.header
    }
    pub fn identity(&self) -> &[u8; 16] {
        &self.header.identity
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// A client's check: the PoP's packets carry the PoP's `::1`.
    pub fn expect_identity(&self, identity: &[u8; 16]) -> Result<(), AyiyaError> {
        if self.header.identity == *identity {
            Ok(())
        } else {
            Err(AyiyaError::WrongIdentity)
        }
    }

    /// Clock first, then the signature (§1.7: the cheap check first).
    pub fn verify(&self, key: &Key, now: u32) -> Result<(), AyiyaError> {
        if !epoch_ok(now, self.header.epoch()) {
            return Err(AyiyaError::ClockOff);
        }
        let want = signature(self.bytes, key)?;
        if ct_eq(&want, &self.header.signature) {
            Ok(())
        } else {
            Err(AyiyaError::HashFail)
        }
    }
}

/// [`Datagram::parse`] then [`Datagram::verify`].
pub fn verify<'a>(bytes: &'a [u8], key: &Key, now: u32) -> Result<Datagram<'a>, AyiyaError> {
    let d = Datagram::parse(bytes)?;
    d.verify(key, now)?;
    Ok(d)
}

/// The payload must be what the next header says (version nibble, as
/// sixxsd) and exactly as long as its IP header says (§1.3: a PoP hashes
/// the whole UDP payload and then requires `44 + 40 + plen` to be it).
fn check_payload(nh: u8, p: &[u8]) -> Result<(), AyiyaError> {
    // (version, its error, fixed header length, offset of the length
    // field, what that field does not count)
    let (version, err, fixed, at, uncounted) = match nh {
        NH_IPV6 => (6, AyiyaError::NotIpv6Payload, 40, 4, 40),
        NH_IPV4 => (4, AyiyaError::NotIpv4Payload, 20, 2, 0),
        _ => return Ok(()),
    };
    match p.first() {
        Some(b) if b >> 4 == version => {}
        _ => return Err(err),
    }
    if p.len() < fixed || uncounted + usize::from(u16::from_be_bytes([p[at], p[at + 1]])) != p.len()
    {
        return Err(AyiyaError::LengthMismatch);
    }
    Ok(())
}

/// Compares without an early exit, so the time taken says nothing about
/// how many leading bytes of a forged signature were right.
fn ct_eq(a: &[u8; SIGNATURE_LEN], b: &[u8; SIGNATURE_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
