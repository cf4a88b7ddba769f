use proptest::prelude::*;

use super::*;

const ID: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const V4: Ipv4Addr = Ipv4Addr::new(10, 100, 13, 42);
const EPOCH: u64 = 1063665852;
const PASSWORD: &[u8] = b"hartslag";
/// ayiya-spec.md §2.1, from the SixXS heartbeat README.
const WIRE: &str =
    "HEARTBEAT TUNNEL 2001:db8::2 10.100.13.42 1063665852 da46fdc28f568bb62d29661f73758095";

#[test]
fn the_spec_vector() {
    let d = digest("2001:db8::2", "10.100.13.42", "1063665852", PASSWORD);
    assert_eq!(hex(&d), "da46fdc28f568bb62d29661f73758095");
    assert_eq!(build(ID, Sender::Ipv4(V4), EPOCH, PASSWORD), WIRE);
    let b = Beat::parse(WIRE.as_bytes()).unwrap();
    assert_eq!(
        (b.identity, b.sender, b.epoch, hex(&b.hash)),
        (
            ID,
            Sender::Ipv4(V4),
            EPOCH,
            "da46fdc28f568bb62d29661f73758095".into()
        )
    );
    assert_eq!(b.verify(V4, EPOCH, PASSWORD), Ok(V4));
    assert_eq!(b.verify(V4, EPOCH, b"hartslah"), Err(Refusal::HashFail));
}

/// `sender` is hashed as the word and resolved to the packet's source,
/// whatever it is; an address must be the source.
#[test]
fn sender_handling() {
    let line = build(ID, Sender::Source, EPOCH, PASSWORD);
    assert!(line.starts_with("HEARTBEAT TUNNEL 2001:db8::2 sender 1063665852 "));
    let want = digest("2001:db8::2", "sender", "1063665852", PASSWORD);
    assert!(line.ends_with(&hex(&want)), "{line}");
    let b = Beat::parse(line.as_bytes()).unwrap();
    assert_eq!(b.sender, Sender::Source);
    assert_eq!(b.sender_text(), "sender");
    for src in [V4, Ipv4Addr::new(203, 0, 113, 9)] {
        assert_eq!(b.verify(src, EPOCH, PASSWORD), Ok(src));
    }
    let named = Beat::parse(WIRE.as_bytes()).unwrap();
    let nat = Ipv4Addr::new(203, 0, 113, 9);
    assert_eq!(named.remote(nat), Err(Refusal::SenderMismatch));
    // The mismatch is found before the clock and the hash (sixxsd's order).
    assert_eq!(named.verify(nat, 0, b"x"), Err(Refusal::SenderMismatch));
    // The word is case-sensitive: `Sender` is neither the word nor an address.
    let upper = WIRE.replace("10.100.13.42", "Sender");
    assert_eq!(Beat::parse(upper.as_bytes()), Err(Refusal::Malformed));
}

/// Fields are hashed as received: a non-canonical spelling of the identity
/// verifies when the user hashed that spelling, and the parsed value is
/// the address.
#[test]
fn fields_are_hashed_as_received() {
    let text = "2001:0db8:0::2";
    let h = digest(text, "sender", "1063665852", PASSWORD);
    let line = format!("{PREFIX}{text} sender 1063665852 {}", hex(&h));
    let b = Beat::parse(line.as_bytes()).unwrap();
    assert_eq!(b.identity, ID);
    assert_eq!(b.verify(V4, EPOCH, PASSWORD), Ok(V4));
    // The canonical line's hash does not verify the other spelling.
    let canon = build(ID, Sender::Source, EPOCH, PASSWORD);
    let moved = canon.replace("2001:db8::2", text);
    assert_eq!(
        Beat::parse(moved.as_bytes()).unwrap().check_hash(PASSWORD),
        Err(Refusal::HashFail)
    );
    // Upper-case hex is the same digest.
    let upper = format!(
        "{PREFIX}{text} sender 1063665852 {}",
        hex(&h).to_uppercase()
    );
    assert_eq!(Beat::parse(upper.as_bytes()).unwrap().hash, h);
}

#[test]
fn trailing_cr_lf_is_trimmed_and_nothing_else() {
    for tail in ["\n", "\r\n", "\r", "\n\n", "\r\n\r\n"] {
        let line = format!("{WIRE}{tail}");
        let b = Beat::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{tail:?}: {e}"));
        assert_eq!(b.verify(V4, EPOCH, PASSWORD), Ok(V4), "{tail:?}");
    }
    for (what, line) in [
        ("trailing space", format!("{WIRE} ")),
        ("trailing tab", format!("{WIRE}\t")),
        ("trailing NUL", format!("{WIRE}\0")),
        (
            "newline inside",
            WIRE.replace(" 1063665852", "\n1063665852"),
        ),
        ("leading newline", format!("\n{WIRE}")),
    ] {
        assert!(Beat::parse(line.as_bytes()).is_err(), "{what}");
    }
    assert_eq!(
        Beat::parse(format!("\n{WIRE}").as_bytes()),
        Err(Refusal::NotHeartbeat)
    );
}

/// Every field missing or bad, one at a time, and the reason given.
#[test]
fn every_field_missing_or_bad() {
    let h = "da46fdc28f568bb62d29661f73758095";
    let cases: &[(&str, String, Refusal)] = &[
        ("empty", String::new(), Refusal::NotHeartbeat),
        (
            "other protocol",
            "GET / HTTP/1.0".into(),
            Refusal::NotHeartbeat,
        ),
        ("lower case", WIRE.to_lowercase(), Refusal::NotHeartbeat),
        (
            "no trailing space",
            "HEARTBEAT TUNNEL".into(),
            Refusal::NotHeartbeat,
        ),
        ("prefix only", PREFIX.into(), Refusal::Malformed),
        (
            "prefix and newline",
            format!("{PREFIX}\n"),
            Refusal::Malformed,
        ),
        (
            "no identity",
            format!("{PREFIX} 10.100.13.42 1063665852 {h}"),
            Refusal::Malformed,
        ),
        (
            "bad identity",
            format!("{PREFIX}2001:db8::g 10.100.13.42 1063665852 {h}"),
            Refusal::Malformed,
        ),
        (
            "ipv4 identity",
            format!("{PREFIX}10.100.13.42 10.100.13.42 1063665852 {h}"),
            Refusal::Malformed,
        ),
        (
            "identity only",
            format!("{PREFIX}2001:db8::2"),
            Refusal::MissingSender,
        ),
        (
            "identity and space",
            format!("{PREFIX}2001:db8::2 "),
            Refusal::MissingSender,
        ),
        (
            "empty sender",
            format!("{PREFIX}2001:db8::2  1063665852 {h}"),
            Refusal::MissingSender,
        ),
        (
            "bad sender",
            format!("{PREFIX}2001:db8::2 10.100.13.300 1063665852 {h}"),
            Refusal::Malformed,
        ),
        (
            "ipv6 sender",
            format!("{PREFIX}2001:db8::2 2001:db8::9 1063665852 {h}"),
            Refusal::Malformed,
        ),
        (
            "no time",
            format!("{PREFIX}2001:db8::2 sender"),
            Refusal::MissingTime,
        ),
        (
            "no time, space",
            format!("{PREFIX}2001:db8::2 sender "),
            Refusal::MissingTime,
        ),
        (
            "negative time",
            format!("{PREFIX}2001:db8::2 sender -1063665852 {h}"),
            Refusal::Malformed,
        ),
        (
            "plus time",
            format!("{PREFIX}2001:db8::2 sender +1063665852 {h}"),
            Refusal::Malformed,
        ),
        (
            "time beyond u64",
            format!("{PREFIX}2001:db8::2 sender 99999999999999999999 {h}"),
            Refusal::Malformed,
        ),
        (
            "hex time",
            format!("{PREFIX}2001:db8::2 sender 0x3f66 {h}"),
            Refusal::Malformed,
        ),
        (
            "no hash",
            format!("{PREFIX}2001:db8::2 sender 1063665852"),
            Refusal::Malformed,
        ),
        (
            "no hash, space",
            format!("{PREFIX}2001:db8::2 sender 1063665852 "),
            Refusal::Malformed,
        ),
        (
            "short hash",
            format!("{PREFIX}2001:db8::2 sender 1063665852 {}", &h[..31]),
            Refusal::Malformed,
        ),
        (
            "long hash",
            format!("{PREFIX}2001:db8::2 sender 1063665852 {h}0"),
            Refusal::Malformed,
        ),
        (
            "non-hex hash",
            format!("{PREFIX}2001:db8::2 sender 1063665852 {}g", &h[..31]),
            Refusal::Malformed,
        ),
        (
            "password instead of hash",
            format!("{PREFIX}2001:db8::2 sender 1063665852 hartslag"),
            Refusal::Malformed,
        ),
        ("fifth field", format!("{WIRE} extra"), Refusal::Malformed),
        // An empty field is a missing one.
        (
            "double space before the time",
            WIRE.replace(" 1063665852", "  1063665852"),
            Refusal::MissingTime,
        ),
        (
            "double space before the hash",
            WIRE.replace(" da46", "  da46"),
            Refusal::Malformed,
        ),
        (
            "tab separator",
            WIRE.replace(" 1063665852", "\t1063665852"),
            Refusal::Malformed,
        ),
    ];
    for (what, line, want) in cases {
        assert_eq!(Beat::parse(line.as_bytes()), Err(*want), "{what}: {line:?}");
    }
}

#[test]
fn the_clock_window_is_120_s_inclusive() {
    let b = Beat::parse(WIRE.as_bytes()).unwrap();
    for now in [EPOCH - 120, EPOCH, EPOCH + 120] {
        assert_eq!(b.verify(V4, now, PASSWORD), Ok(V4), "{now}");
    }
    for now in [EPOCH - 121, EPOCH + 121, 0, u64::MAX] {
        assert_eq!(b.check_clock(now), Err(Refusal::ClockOff), "{now}");
        // Found before the hash.
        assert_eq!(b.verify(V4, now, b"wrong"), Err(Refusal::ClockOff));
    }
}

/// Datagrams of every length from 0 to 300 bytes: the valid beat cut or
/// padded. Only the beat itself (with CR/LF after it) is taken; nothing
/// over 255 bytes is; nothing panics.
#[test]
fn every_length_from_0_to_300() {
    let valid = WIRE.as_bytes();
    for n in 0..=300 {
        let mut d: Vec<u8> = valid.iter().copied().cycle().take(n).collect();
        let r = Beat::parse(&d);
        match n {
            _ if n < PREFIX.len() => assert_eq!(r, Err(Refusal::NotHeartbeat), "{n}"),
            _ if n == valid.len() => assert!(r.is_ok(), "{n}"),
            _ => assert!(r.is_err(), "{n}"),
        }
        // Padded with newlines instead: valid from the full beat up to 255.
        if n >= valid.len() {
            d.truncate(valid.len());
            d.resize(n, b'\n');
            let r = Beat::parse(&d);
            if n <= MAX_LEN {
                assert!(r.is_ok(), "{n} with newlines");
            } else {
                assert_eq!(r, Err(Refusal::Malformed), "{n} with newlines");
            }
        }
    }
}

#[test]
fn non_utf8_is_malformed_after_the_prefix_and_not_a_beat_before() {
    let mut d = PREFIX.as_bytes().to_vec();
    d.extend_from_slice(&[0xff, 0xfe, b' ', 0x80]);
    assert_eq!(Beat::parse(&d), Err(Refusal::Malformed));
    let mut d = WIRE.as_bytes().to_vec();
    d[40] = 0xc3; // inside the IPv4 address
    assert_eq!(Beat::parse(&d), Err(Refusal::Malformed));
    assert_eq!(Beat::parse(&[0xff; 40]), Err(Refusal::NotHeartbeat));
}

#[test]
fn every_reason_has_a_distinct_name() {
    let names: std::collections::BTreeSet<_> = Refusal::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), Refusal::ALL.len());
    for n in &names {
        assert!(
            n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{n}"
        );
    }
}

fn sender() -> impl Strategy<Value = Sender> {
    prop_oneof![
        Just(Sender::Source),
        any::<[u8; 4]>().prop_map(|o| Sender::Ipv4(Ipv4Addr::from(o))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever arrives, parsing returns.
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Beat::parse(&bytes);
    }

    /// Beats with bytes changed, cut or added: parsing returns, and what
    /// still parses and verifies is the beat as sent (a change the MD5
    /// misses would have to land in trailing CR/LF or hex case).
    #[test]
    fn mutated_beats_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut d = WIRE.as_bytes().to_vec();
        for (at, byte, how) in edits {
            let i = at.index(d.len() + 1);
            match how {
                0 if i < d.len() => d[i] = byte,
                1 if i < d.len() => { d.remove(i); }
                _ => d.insert(i, byte),
            }
        }
        if let Ok(b) = Beat::parse(&d) {
            if b.verify(V4, EPOCH, PASSWORD).is_ok() {
                prop_assert_eq!((b.identity, b.sender, b.epoch), (ID, Sender::Ipv4(V4), EPOCH));
            }
        }
    }

    /// What `build` makes, `parse` reads back and `verify` accepts with
    /// the same password and no other.
    #[test]
    fn build_then_parse_round_trips(
        id in any::<[u8; 16]>(),
        sender in sender(),
        epoch in any::<u64>(),
        password in proptest::collection::vec(any::<u8>(), 0..64),
        source in any::<[u8; 4]>(),
    ) {
        let id = Ipv6Addr::from(id);
        let line = build(id, sender, epoch, &password);
        prop_assert!(line.len() <= MAX_LEN);
        let b = Beat::parse(line.as_bytes()).unwrap();
        prop_assert_eq!((b.identity, b.sender, b.epoch), (id, sender, epoch));
        let source = match sender {
            Sender::Source => Ipv4Addr::from(source),
            Sender::Ipv4(a) => a,
        };
        prop_assert_eq!(b.verify(source, epoch, &password), Ok(source));
        let mut other = password.clone();
        other.push(b'x');
        prop_assert_eq!(b.check_hash(&other), Err(Refusal::HashFail));
    }
}
