//! Putting fragmented ICMP messages back together (the slow path's
//! `REASON_ICMP_FRAGMENT` and `REASON_ICMP6_FRAGMENT`): the data path
//! translates each fragment's IP header but cannot translate an ICMP
//! message it does not have whole (its ICMPv6 checksum covers the whole
//! message and its length, RFC 7915 §4.2 and §5.2).
//!
//! A bounded table: at most [`MAX_DATAGRAMS`] messages in flight, each at
//! most [`MAX_MESSAGE`] bytes, each kept [`TIMEOUT`] after its first
//! fragment (RFC 6146 §3.4 asks for at least 2 s). Fragments are checked
//! as RFC 8200 §4.5 and RFC 5722 ask: an overlap drops the whole message
//! (an attacker's overlap must not change what is put together), an exact
//! duplicate (a copy the network made) is dropped alone.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Messages being put together at once; a fragment of another one is
/// dropped until one completes or expires. With [`MAX_MESSAGE`] this
/// bounds the table's memory to about 4 MiB.
pub const MAX_DATAGRAMS: usize = 64;

/// The largest message (the ICMP header and data): what one IPv4
/// datagram carries (65,535 less its 20-byte header), so that it fits
/// either family once translated.
pub const MAX_MESSAGE: usize = 65_515;

/// How long a message's fragments wait for the rest, from its first one.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// What tells one message's fragments from another's: the translated
/// packet's addresses and identification (RFC 8200 §4.5; RFC 791 adds the
/// protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        id: u32,
    },
    V4 {
        src: [u8; 4],
        dst: [u8; 4],
        id: u16,
        proto: u8,
    },
}

/// One fragment as the table takes it.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    pub key: Key,
    /// The translated packet's IP header (the first fragment's is kept
    /// for the message).
    pub header: &'a [u8],
    /// Offset of `data` in the message, in bytes.
    pub offset: usize,
    /// More fragments follow (M / MF).
    pub more: bool,
    pub data: &'a [u8],
    /// The translated fragment's length with its headers (the IPv4 side
    /// cuts the message again no bigger than the biggest).
    pub len: usize,
}

/// A message put back together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The first fragment's IP header.
    pub header: Vec<u8>,
    /// The ICMP message, whole.
    pub data: Vec<u8>,
    /// The longest translated fragment received.
    pub largest: usize,
}

/// Why a fragment was not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The same bytes at the same offset again: this copy dropped, the
    /// message kept.
    Duplicate,
    /// Overlapping another fragment, or beyond the end a last fragment
    /// set: the whole message dropped.
    Overlap,
    /// Ending beyond [`MAX_MESSAGE`]: the whole message dropped.
    TooBig,
    /// [`MAX_DATAGRAMS`] messages in flight already: this fragment dropped.
    TableFull,
    /// No data, or data not a multiple of 8 bytes with more to come.
    Malformed,
}

/// What one added fragment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    /// Kept; the message waits for more.
    Pending,
    /// The message is whole (and gone from the table).
    Complete(Message),
}

struct Entry {
    since: Instant,
    /// Pieces in offset order, none overlapping.
    pieces: Vec<(usize, Vec<u8>)>,
    /// The message's length, once its last fragment came.
    end: Option<usize>,
    /// Bytes in `pieces`.
    have: usize,
    header: Option<Vec<u8>>,
    largest: usize,
}

#[derive(Default)]
pub struct Table {
    entries: HashMap<Key, Entry>,
}

impl Table {
    /// Messages in flight.
    pub fn in_flight(&self) -> usize {
        self.entries.len()
    }

    /// Drops every message whose first fragment came [`TIMEOUT`] or more
    /// before `now`; returns how many.
    pub fn expire(&mut self, now: Instant) -> u64 {
        let before = self.entries.len();
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.since) < TIMEOUT);
        (before - self.entries.len()) as u64
    }

    /// Adds `f`, received at `now` (expired messages are the caller's to
    /// sweep first, with [`Table::expire`]).
    pub fn add(&mut self, f: Fragment<'_>, now: Instant) -> Result<Added, Refused> {
        let len = f.data.len();
        if len == 0 || f.more && !len.is_multiple_of(8) || !f.offset.is_multiple_of(8) {
            return Err(Refused::Malformed);
        }
        let end = f.offset + len;
        if end > MAX_MESSAGE {
            self.entries.remove(&f.key);
            return Err(Refused::TooBig);
        }
        if !self.entries.contains_key(&f.key) && self.entries.len() >= MAX_DATAGRAMS {
            return Err(Refused::TableFull);
        }
        let e = self.entries.entry(f.key).or_insert_with(|| Entry {
            since: now,
            pieces: Vec::new(),
            end: None,
            have: 0,
            header: None,
            largest: 0,
        });
        match check(e, f.offset, f.more, f.data) {
            Ok(at) => e.pieces.insert(at, (f.offset, f.data.to_vec())),
            Err(Refused::Duplicate) => return Err(Refused::Duplicate),
            Err(r) => {
                self.entries.remove(&f.key);
                return Err(r);
            }
        }
        if !f.more {
            e.end = Some(end);
        }
        if f.offset == 0 {
            e.header = Some(f.header.to_vec());
        }
        e.have += len;
        e.largest = e.largest.max(f.len);
        // No overlaps: the bytes held are the message once they add up
        // to its end.
        if e.end != Some(e.have) || e.header.is_none() {
            return Ok(Added::Pending);
        }
        let Some(e) = self.entries.remove(&f.key) else {
            return Ok(Added::Pending);
        };
        let mut data = Vec::with_capacity(e.have);
        for (_, p) in &e.pieces {
            data.extend_from_slice(p);
        }
        Ok(Added::Complete(Message {
            header: e.header.unwrap_or_default(),
            data,
            largest: e.largest,
        }))
    }
}

/// Where a fragment at `offset` goes among `e`'s pieces, or why it may
/// not.
fn check(e: &Entry, offset: usize, more: bool, data: &[u8]) -> Result<usize, Refused> {
    let end = offset + data.len();
    match e.end {
        // A second, different end; or data past the end.
        Some(known) if !more && end != known || end > known => return Err(Refused::Overlap),
        // A last fragment before data already held.
        None if !more && e.pieces.iter().any(|(o, p)| o + p.len() > end) => {
            return Err(Refused::Overlap)
        }
        _ => {}
    }
    let at = e.pieces.partition_point(|(o, _)| *o < offset);
    if let Some((o, p)) = e.pieces.get(at) {
        if *o == offset && p == data {
            return Err(Refused::Duplicate);
        }
        if *o < end {
            return Err(Refused::Overlap);
        }
    }
    if let Some((o, p)) = at.checked_sub(1).and_then(|i| e.pieces.get(i)) {
        if o + p.len() > offset {
            return Err(Refused::Overlap);
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Key = Key::V4 {
        src: [192, 0, 2, 2],
        dst: [198, 51, 100, 1],
        id: 7,
        proto: 1,
    };

    fn frag(offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            key: KEY,
            header: if offset == 0 { b"first" } else { b"later" },
            offset,
            more,
            data,
            len: 20 + data.len(),
        }
    }

    fn message(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 13 + 1) as u8).collect()
    }

    /// Each row: fragments as (offset, more, range of the message), what
    /// each add returns (`None`: pending), and the table's size after.
    #[test]
    fn fragments_in_every_order() {
        let m = message(40);
        type Step = (usize, bool, std::ops::Range<usize>, Result<bool, Refused>);
        let ok = Ok(false);
        let done = Ok(true);
        let rows: Vec<(&str, Vec<Step>, usize)> = vec![
            (
                "in order",
                vec![
                    (0, true, 0..16, ok),
                    (16, true, 16..32, ok),
                    (32, false, 32..40, done),
                ],
                0,
            ),
            (
                "reversed",
                vec![
                    (32, false, 32..40, ok),
                    (16, true, 16..32, ok),
                    (0, true, 0..16, done),
                ],
                0,
            ),
            (
                "the first last",
                vec![
                    (16, true, 16..32, ok),
                    (32, false, 32..40, ok),
                    (0, true, 0..16, done),
                ],
                0,
            ),
            (
                "a duplicate: dropped alone",
                vec![
                    (0, true, 0..16, ok),
                    (0, true, 0..16, Err(Refused::Duplicate)),
                    (32, false, 32..40, ok),
                    (32, false, 32..40, Err(Refused::Duplicate)),
                    (16, true, 16..32, done),
                ],
                0,
            ),
            (
                "an overlap in front: the message dropped",
                vec![
                    (16, true, 16..32, ok),
                    (8, true, 8..24, Err(Refused::Overlap)),
                ],
                0,
            ),
            (
                "an overlap behind: the message dropped",
                vec![
                    (0, true, 0..16, ok),
                    (8, true, 8..24, Err(Refused::Overlap)),
                ],
                0,
            ),
            (
                "the same offset, other bytes: an overlap",
                vec![
                    (0, true, 0..16, ok),
                    (0, true, 8..24, Err(Refused::Overlap)),
                ],
                0,
            ),
            (
                "data past a known end",
                vec![
                    (16, false, 16..32, ok),
                    (32, true, 32..40, Err(Refused::Overlap)),
                ],
                0,
            ),
            (
                "a second, shorter end",
                vec![
                    (16, false, 16..40, ok),
                    (0, false, 0..8, Err(Refused::Overlap)),
                ],
                0,
            ),
            (
                "a last fragment before data held",
                vec![
                    (16, true, 16..32, ok),
                    (0, false, 0..8, Err(Refused::Overlap)),
                ],
                0,
            ),
            (
                "a missing piece: still pending",
                vec![(0, true, 0..16, ok), (32, false, 32..40, ok)],
                1,
            ),
            (
                "more to come with 12 bytes",
                vec![(0, true, 0..12, Err(Refused::Malformed))],
                0,
            ),
            ("no data", vec![(0, true, 0..0, Err(Refused::Malformed))], 0),
            (
                "an offset not a multiple of 8",
                vec![(4, false, 4..12, Err(Refused::Malformed))],
                0,
            ),
        ];
        let now = Instant::now();
        for (name, steps, left) in rows {
            let mut t = Table::default();
            for (i, (offset, more, r, want)) in steps.into_iter().enumerate() {
                let got = t.add(frag(offset, more, &m[r]), now);
                match (got, want) {
                    (Ok(Added::Pending), Ok(false)) => {}
                    (Err(r), Err(w)) if r == w => {}
                    (Ok(Added::Complete(msg)), Ok(true)) => {
                        assert_eq!(msg.data, m, "{name}: the message");
                        assert_eq!(msg.header, b"first", "{name}: the first's header");
                        assert_eq!(msg.largest, 20 + 16, "{name}");
                    }
                    (got, want) => panic!("{name}, step {i}: got {got:?}, want {want:?}"),
                }
            }
            assert_eq!(t.in_flight(), left, "{name}: left in the table");
        }
    }

    #[test]
    fn a_missing_piece_expires() {
        let m = message(40);
        let t0 = Instant::now();
        let mut t = Table::default();
        assert_eq!(t.add(frag(0, true, &m[..16]), t0), Ok(Added::Pending));
        assert_eq!(t.expire(t0 + TIMEOUT - Duration::from_millis(1)), 0);
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.expire(t0 + TIMEOUT), 1);
        assert_eq!(t.in_flight(), 0);
        // The rest, late: a message of its own, never complete.
        assert_eq!(
            t.add(frag(16, false, &m[16..]), t0 + TIMEOUT),
            Ok(Added::Pending)
        );
    }

    #[test]
    fn too_many_messages_and_too_big_ones() {
        let now = Instant::now();
        let mut t = Table::default();
        let d = [0u8; 8];
        for id in 0..MAX_DATAGRAMS as u16 {
            let f = Fragment {
                key: Key::V4 {
                    src: [192, 0, 2, 2],
                    dst: [198, 51, 100, 1],
                    id,
                    proto: 1,
                },
                ..frag(0, true, &d)
            };
            assert_eq!(t.add(f, now), Ok(Added::Pending));
        }
        let another = Fragment {
            key: Key::V6 {
                src: [1; 16],
                dst: [2; 16],
                id: 1,
            },
            ..frag(0, true, &d)
        };
        assert_eq!(t.add(another, now), Err(Refused::TableFull));
        // A message already in flight still takes fragments.
        let known = Fragment {
            key: Key::V4 {
                src: [192, 0, 2, 2],
                dst: [198, 51, 100, 1],
                id: 3,
                proto: 1,
            },
            ..frag(8, false, &d)
        };
        assert!(matches!(t.add(known, now), Ok(Added::Complete(_))));

        let mut t = Table::default();
        let big = vec![0u8; 1480];
        assert_eq!(t.add(frag(0, true, &big), now), Ok(Added::Pending));
        // 64,080 + 1,480 = 65,560 bytes: past 65,515.
        assert_eq!(t.add(frag(64_080, false, &big), now), Err(Refused::TooBig));
        assert_eq!(t.in_flight(), 0, "the whole message dropped");
        // Exactly 65,515 bytes fit.
        let last = vec![0u8; MAX_MESSAGE - 64_080];
        assert_eq!(t.add(frag(64_080, false, &last), now), Ok(Added::Pending));
    }
}
