//! The client's datagrams, on top of the host codec
//! (`tunnel_common::ayiya::sign`): what it sends (beats, op 1 with an IPv6
//! packet) and what it makes of what it receives.
//!
//! Received datagrams are checked as AICCU does (`ayiya-spec.md` §1.2-1.4,
//! §1.8), in this order: the header's constant part and the payload
//! against its next header (`Datagram::parse`), the identity (exactly the
//! PoP's `::1`), the clock (±120 s inclusive), the signature. Only then is
//! the opcode looked at: op 1 with next header 41 is a packet for the tun
//! device; anything else that is authentic is counted and logged.

use std::net::Ipv6Addr;

use tunnel_common::ayiya::{
    epoch_skew,
    sign::{beat, sign, Datagram, Key},
    AyiyaError, AyiyaHdr, HEADER_LEN, NH_IPV6, OP_FORWARD,
};

/// An authentic datagram from the PoP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// Op 1, next header 41: this IPv6 packet goes to the tun device.
    Packet(&'a [u8]),
    /// Authentic, but nothing a client acts on (a beat, an echo, IPv4
    /// inside): counted.
    Other { opcode: u8, next_header: u8 },
}

/// Why a received datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not an AYIYA datagram as the PoP sends them, or its payload is not
    /// what its header says (the codec's class).
    Malformed(AyiyaError),
    /// Authentic or not, it does not claim to come from our PoP's `::1`.
    WrongIdentity([u8; 16]),
    /// The PoP's clock is this many seconds ahead of ours (negative:
    /// behind), beyond the ±120 s window.
    ClockOff { skew: i32 },
    /// The signature is not the one our key gives: a wrong password, or a
    /// datagram changed on the way.
    HashFail,
}

impl Refused {
    /// A short, stable name: log lines and counters.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Malformed(e) => e.name(),
            Self::WrongIdentity(_) => "wrong_identity",
            Self::ClockOff { .. } => "clock_off",
            Self::HashFail => "hash_fail",
        }
    }
}

/// Checks a datagram received from the PoP; `pop` is the PoP's `::1`,
/// `now` our clock (Unix seconds).
pub fn inbound<'a>(
    bytes: &'a [u8],
    key: &Key,
    pop: &Ipv6Addr,
    now: u32,
) -> Result<Inbound<'a>, Refused> {
    let d = Datagram::parse(bytes).map_err(Refused::Malformed)?;
    d.expect_identity(&pop.octets())
        .map_err(|_| Refused::WrongIdentity(*d.identity()))?;
    d.verify(key, now).map_err(|e| match e {
        AyiyaError::ClockOff => Refused::ClockOff {
            skew: epoch_skew(now, d.header().epoch()),
        },
        AyiyaError::HashFail => Refused::HashFail,
        other => Refused::Malformed(other),
    })?;
    let h = d.header();
    Ok(match (h.opcode(), h.next_header) {
        (OP_FORWARD, NH_IPV6) => Inbound::Packet(d.payload()),
        (opcode, next_header) => Inbound::Other {
            opcode,
            next_header,
        },
    })
}

/// Builds what the client sends: its identity (`::2`) and key, and the
/// epoch it stamps (our clock plus the test-only offset).
pub struct Framer {
    identity: [u8; 16],
    key: Key,
    clock_offset: i64,
}

impl Framer {
    pub fn new(local: Ipv6Addr, key: Key, clock_offset: i64) -> Self {
        Self {
            identity: local.octets(),
            key,
            clock_offset,
        }
    }

    /// The epoch field for a datagram sent when our clock reads `now`.
    pub fn epoch(&self, now: u32) -> u32 {
        // The field is 32 bits and wraps (RFC 1982 arithmetic, as the
        // receiver's window), so the offset is taken modulo 2^32 too.
        now.wrapping_add(self.clock_offset as u32)
    }

    /// A beat (op 0, next header 59, 44 bytes).
    pub fn beat(&self, now: u32) -> Vec<u8> {
        beat(self.identity, self.epoch(now), &self.key)
    }

    /// Frames, in place, the IPv6 packet in `buf[44..44 + len]`: writes the
    /// op 1 / next header 41 header into `buf[..44]` and signs. Returns
    /// the datagram. `buf` must hold `44 + len` bytes.
    pub fn forward<'b>(&self, buf: &'b mut [u8], len: usize, now: u32) -> &'b [u8] {
        let h = AyiyaHdr::new(OP_FORWARD, NH_IPV6, self.epoch(now), self.identity);
        let d = &mut buf[..HEADER_LEN + len];
        d[..HEADER_LEN].copy_from_slice(&h.to_bytes());
        // At least 44 bytes by construction: signing cannot fail.
        let _ = sign(d, &self.key);
        d
    }
}

#[cfg(test)]
mod tests;
