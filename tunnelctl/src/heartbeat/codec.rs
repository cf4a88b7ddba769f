//! The heartbeat line (`ayiya-spec.md` §2.1):
//!
//! ```text
//! HEARTBEAT TUNNEL <ipv6-endpoint> <sender|ipv4> <epoch> <md5hex>
//! ```
//!
//! `md5hex` is the lowercase hex MD5 of the same line with the tunnel's
//! password in its place (the pre-image). The PoP rebuilds the pre-image
//! from the fields *as received* (the word `sender` stays the word), so a
//! parsed [`Beat`] keeps their text, not only their values.
//!
//! Parsing is strict where the PoP must be (one space between fields,
//! exactly four fields, an IPv6 identity, an IPv4 or `sender`, a decimal
//! epoch, 32 hex digits) and lenient where clients differ harmlessly
//! (trailing CR/LF, as sixxsd strips them for `nc` users; upper-case hex).
//! Every refusal has a [`Refusal`] reason: the daemon counts them by name.

use std::{
    fmt::Write as _,
    net::{Ipv4Addr, Ipv6Addr},
};

use md5::{Digest, Md5};

/// UDP port the PoP listens on (IANA "heartbeat").
pub const PORT: u16 = 3740;
/// What every beat starts with, its trailing space included.
pub const PREFIX: &str = "HEARTBEAT TUNNEL ";
/// The longest datagram taken (sixxsd: length < 256). The longest valid
/// beat is 126 bytes (a 39-character IPv6 address, a 15-character IPv4
/// address, a 20-digit epoch).
pub const MAX_LEN: usize = 255;
/// `|now - epoch|` above this many seconds is `clock_off`.
pub const CLOCK_WINDOW_S: u64 = 120;
/// The second field's word for "take the packet's source address".
pub const SENDER: &str = "sender";

/// Whose IPv4 address the beat announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// The literal `sender`: the packet's source address (behind a NAT the
    /// user does not know its public address; AICCU always sends this).
    Source,
    /// An address the packet's source must equal.
    Ipv4(Ipv4Addr),
}

/// Why a beat changed nothing. One name per reason, used as the metric
/// label (`tunnelpop_heartbeats_total{result=…}`) and in log lines. The
/// codec finds the first five and the next three (`Beat::verify`); the
/// daemon the others, which need its tunnels and maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// Does not start with `HEARTBEAT TUNNEL ` (sixxsd's `HB-non-HB`).
    NotHeartbeat,
    /// Starts like a beat, but is too long, not UTF-8, has a bad or extra
    /// field or no hash.
    Malformed,
    /// No second field (sixxsd's `HB Missing sender`).
    MissingSender,
    /// The second field is an address other than the packet's source
    /// (`HB Sender Mismatch`).
    SenderMismatch,
    /// No third field (`HB Missing Time`).
    MissingTime,
    /// `|now - epoch| > 120` (`Clock Off`).
    ClockOff,
    /// The MD5 is not the one the tunnel's password gives (`Heartbeat Hash
    /// Fail`): a wrong password, or a line changed on the way.
    HashFail,
    /// No tunnel has this identity as its user's `::2`.
    UnknownTunnel,
    /// The tunnel is disabled.
    Disabled,
    /// The tunnel's kind does not learn its endpoint (static 6in4).
    NotDynamic,
    /// Sent to a PoP address that is not the tunnel's `local`.
    WrongLocal,
    /// The tunnel's secret is stored only as an AYIYA key (`sha1:…`), from
    /// which no beat can be checked.
    NoPassword,
    /// The learned (local, remote) pair belongs to another tunnel.
    Conflict,
}

impl Refusal {
    pub const ALL: [Refusal; 13] = [
        Refusal::NotHeartbeat,
        Refusal::Malformed,
        Refusal::MissingSender,
        Refusal::SenderMismatch,
        Refusal::MissingTime,
        Refusal::ClockOff,
        Refusal::HashFail,
        Refusal::UnknownTunnel,
        Refusal::Disabled,
        Refusal::NotDynamic,
        Refusal::WrongLocal,
        Refusal::NoPassword,
        Refusal::Conflict,
    ];

    /// Stable name: metric label and log field.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NotHeartbeat => "not_heartbeat",
            Refusal::Malformed => "malformed",
            Refusal::MissingSender => "missing_sender",
            Refusal::SenderMismatch => "sender_mismatch",
            Refusal::MissingTime => "missing_time",
            Refusal::ClockOff => "clock_off",
            Refusal::HashFail => "hash_fail",
            Refusal::UnknownTunnel => "unknown_tunnel",
            Refusal::Disabled => "disabled",
            Refusal::NotDynamic => "not_dynamic",
            Refusal::WrongLocal => "wrong_local",
            Refusal::NoPassword => "no_password",
            Refusal::Conflict => "conflict",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A beat that parsed. The `*_text` fields are the bytes received: the
/// pre-image is rebuilt from them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beat<'a> {
    pub identity: Ipv6Addr,
    pub sender: Sender,
    /// Unix seconds of the user's clock.
    pub epoch: u64,
    pub hash: [u8; 16],
    identity_text: &'a str,
    sender_text: &'a str,
    epoch_text: &'a str,
}

impl<'a> Beat<'a> {
    /// Parses one datagram. Never panics, whatever the bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Refusal> {
        if !bytes.starts_with(PREFIX.as_bytes()) {
            return Err(Refusal::NotHeartbeat);
        }
        if bytes.len() > MAX_LEN {
            return Err(Refusal::Malformed);
        }
        let end = bytes
            .iter()
            .rposition(|b| !matches!(b, b'\r' | b'\n'))
            .map_or(0, |i| i + 1);
        let text = std::str::from_utf8(&bytes[PREFIX.len()..end.max(PREFIX.len())])
            .map_err(|_| Refusal::Malformed)?;
        let mut fields = text.split(' ');
        let mut next = || fields.next().filter(|f| !f.is_empty());
        let identity_text = next().ok_or(Refusal::Malformed)?;
        let identity = identity_text.parse().map_err(|_| Refusal::Malformed)?;
        let sender_text = next().ok_or(Refusal::MissingSender)?;
        let sender = match sender_text {
            SENDER => Sender::Source,
            a => Sender::Ipv4(a.parse().map_err(|_| Refusal::Malformed)?),
        };
        let epoch_text = next().ok_or(Refusal::MissingTime)?;
        // Digits only: `u64::from_str` would also take a leading `+`.
        if !epoch_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::Malformed);
        }
        let epoch = epoch_text.parse().map_err(|_| Refusal::Malformed)?;
        let hash = next().and_then(parse_hex).ok_or(Refusal::Malformed)?;
        if next().is_some() || text.split(' ').count() != 4 {
            return Err(Refusal::Malformed);
        }
        Ok(Self {
            identity,
            sender,
            epoch,
            hash,
            identity_text,
            sender_text,
            epoch_text,
        })
    }

    /// The address to learn from a beat received from `source`: `source`
    /// itself, which the beat either leaves to the PoP (`sender`) or must
    /// name.
    pub fn remote(&self, source: Ipv4Addr) -> Result<Ipv4Addr, Refusal> {
        match self.sender {
            Sender::Ipv4(a) if a != source => Err(Refusal::SenderMismatch),
            _ => Ok(source),
        }
    }

    /// `|now - epoch| ≤ 120`, both Unix seconds.
    pub fn check_clock(&self, now: u64) -> Result<(), Refusal> {
        if now.abs_diff(self.epoch) > CLOCK_WINDOW_S {
            return Err(Refusal::ClockOff);
        }
        Ok(())
    }

    /// The MD5 over the pre-image with `password` is the one sent.
    pub fn check_hash(&self, password: &[u8]) -> Result<(), Refusal> {
        let want = digest(
            self.identity_text,
            self.sender_text,
            self.epoch_text,
            password,
        );
        // Not secret-dependent in a way timing could reveal more than a
        // forged beat's rejection already does: the digest is public once
        // sent, and each guess needs a fresh epoch.
        if want != self.hash {
            return Err(Refusal::HashFail);
        }
        Ok(())
    }

    /// The three checks in sixxsd's order (sender, clock, hash); the
    /// address to learn when all pass.
    pub fn verify(&self, source: Ipv4Addr, now: u64, password: &[u8]) -> Result<Ipv4Addr, Refusal> {
        let remote = self.remote(source)?;
        self.check_clock(now)?;
        self.check_hash(password)?;
        Ok(remote)
    }

    /// The second field as received (`sender` or an address).
    pub fn sender_text(&self) -> &str {
        self.sender_text
    }
}

/// MD5 of `HEARTBEAT TUNNEL <identity> <sender> <epoch> <password>`.
pub fn digest(identity: &str, sender: &str, epoch: &str, password: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    for part in [PREFIX, identity, " ", sender, " ", epoch, " "] {
        h.update(part.as_bytes());
    }
    h.update(password);
    h.finalize().into()
}

/// The line a user sends (no trailing newline, as AICCU).
pub fn build(identity: Ipv6Addr, sender: Sender, epoch: u64, password: &[u8]) -> String {
    let identity = identity.to_string();
    let sender = match sender {
        Sender::Source => SENDER.to_owned(),
        Sender::Ipv4(a) => a.to_string(),
    };
    let epoch = epoch.to_string();
    let hash = digest(&identity, &sender, &epoch, password);
    format!("{PREFIX}{identity} {sender} {epoch} {}", hex(&hash))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// 32 hex digits (either case) as 16 bytes.
fn parse_hex(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
