//! Why an AYIYA datagram is refused. The classes of sixxsd's per-tunnel
//! error counters (`ayiya-spec.md` §4.1) that an AYIYA packet can hit,
//! plus the drops sixxsd only logged (bad header, unknown identity) and
//! the checks it lacks (lengths, replays, the client's identity check).
//! They become the data path's drop reasons and the client's log lines.

/// One reason to refuse an AYIYA datagram, roughly in the order the
/// receive path checks them (§1.7): header, identity, tunnel, payload,
/// clock, signature, then what follows a valid signature.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AyiyaError {
    /// Shorter than the 44-byte header.
    Short,
    /// The constant part is not `41 52 1{0..3} {29|3b|04}` (for a client:
    /// not `41 52 1x` with a defined opcode and next header). sixxsd logs
    /// 8 lines and drops, with no counter.
    BadHeader,
    /// No tunnel has this identity (sixxsd: "Unknown endpoint", logged).
    UnknownIdentity,
    /// The identity is not the one expected: a client takes only the PoP's
    /// `::1` (AICCU: "Received packet from a wrong identity").
    WrongIdentity,
    /// The tunnel is disabled.
    Disabled,
    /// The identity belongs to a tunnel of another kind.
    NotAyiya,
    /// Next header 41 and the payload is not IPv6 (version nibble).
    NotIpv6Payload,
    /// Next header 4 and the payload is not IPv4.
    NotIpv4Payload,
    /// The payload's length disagrees with its IP header's: the spec asks
    /// for `44 + 40 + plen == UDP payload` (§1.3); sixxsd does not check.
    LengthMismatch,
    /// The epoch is more than 120 s from the receiver's clock (§1.4).
    ClockOff,
    /// The signature does not match: a wrong password, or a packet changed
    /// on the way.
    HashFail,
    /// The same signature was seen within the clock window (sixxsd has no
    /// replay check, §4.3).
    Replay,
    /// Op 1 (forward) with a next header that cannot be forwarded.
    InvalidForward,
    /// The inner source does not belong to the tunnel.
    WrongSource,
    /// The inner packet is bigger than the tunnel MTU (on encapsulation).
    TooBig,
}

impl AyiyaError {
    pub const ALL: &'static [AyiyaError] = &[
        Self::Short,
        Self::BadHeader,
        Self::UnknownIdentity,
        Self::WrongIdentity,
        Self::Disabled,
        Self::NotAyiya,
        Self::NotIpv6Payload,
        Self::NotIpv4Payload,
        Self::LengthMismatch,
        Self::ClockOff,
        Self::HashFail,
        Self::Replay,
        Self::InvalidForward,
        Self::WrongSource,
        Self::TooBig,
    ];

    /// Stable snake_case name, for metrics and the CLI.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Short => "ayiya_short",
            Self::BadHeader => "ayiya_bad_header",
            Self::UnknownIdentity => "ayiya_unknown_identity",
            Self::WrongIdentity => "ayiya_wrong_identity",
            Self::Disabled => "ayiya_disabled",
            Self::NotAyiya => "ayiya_not_ayiya",
            Self::NotIpv6Payload => "ayiya_not_ipv6_payload",
            Self::NotIpv4Payload => "ayiya_not_ipv4_payload",
            Self::LengthMismatch => "ayiya_length_mismatch",
            Self::ClockOff => "ayiya_clock_off",
            Self::HashFail => "ayiya_hash_fail",
            Self::Replay => "ayiya_replay",
            Self::InvalidForward => "ayiya_invalid_forward",
            Self::WrongSource => "ayiya_wrong_source",
            Self::TooBig => "ayiya_too_big",
        }
    }

    /// sixxsd's name of the class (`tunnel_error_name()`), where it counts
    /// one: operators coming from sixxsd find their counters.
    pub const fn sixxsd_name(self) -> Option<&'static str> {
        match self {
            Self::Disabled => Some("Disabled tunnel"),
            Self::NotAyiya => Some("AYIYA-non-AYIYA"),
            Self::NotIpv6Payload => Some("Non-IPv6 Payload"),
            Self::NotIpv4Payload => Some("Non-IPv4 Payload"),
            Self::ClockOff => Some("Clock Off"),
            Self::HashFail => Some("AYIYA Hash Fail"),
            Self::InvalidForward => Some("AYIYA Invalid Forward"),
            Self::WrongSource => Some("Wrong Source IPv6"),
            Self::TooBig => Some("Encap.Pkt Too Big"),
            _ => None,
        }
    }
}

/// What a person reading the client's log needs to know.
impl core::fmt::Display for AyiyaError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Short => "datagram shorter than the 44-byte AYIYA header",
            Self::BadHeader => "not an AYIYA header this side accepts",
            Self::UnknownIdentity => "no tunnel has this identity",
            Self::WrongIdentity => "identity is not the expected peer's",
            Self::Disabled => "tunnel disabled",
            Self::NotAyiya => "tunnel is not an AYIYA tunnel",
            Self::NotIpv6Payload => "next header 41 but the payload is not IPv6",
            Self::NotIpv4Payload => "next header 4 but the payload is not IPv4",
            Self::LengthMismatch => "payload length disagrees with its IP header",
            Self::ClockOff => "clock off by more than 120 s (check NTP on both sides)",
            Self::HashFail => "signature mismatch (wrong password?)",
            Self::Replay => "replayed datagram",
            Self::InvalidForward => "forward of a payload that cannot be forwarded",
            Self::WrongSource => "inner source not in the tunnel's prefixes",
            Self::TooBig => "inner packet bigger than the tunnel MTU",
        })
    }
}

#[cfg(any(feature = "user", test))]
impl std::error::Error for AyiyaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_distinct_in_order() {
        for (i, e) in AyiyaError::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i);
        }
        let mut names: Vec<_> = AyiyaError::ALL.iter().map(|e| e.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), AyiyaError::ALL.len());
        // The §4.1 classes an AYIYA packet can hit are all here.
        let sixxsd: Vec<_> = AyiyaError::ALL
            .iter()
            .filter_map(|e| e.sixxsd_name())
            .collect();
        assert_eq!(sixxsd.len(), 9);
    }
}
