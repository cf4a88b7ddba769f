//! The client's framing, checked independently of the codec it uses:
//! datagrams built here byte by byte and signed with the `sha1` crate,
//! and the spec's worked examples (`ayiya-spec.md` §1.10).

use sha1_ref::{Digest, Sha1};

use super::*;

const SECRET_AB: &str = "f3d47c2de40fb698e1ab15d757a09bfc";
const CLIENT_AB: &str = "2001:db8:2ff:1::2";
const POP_AB: &str = "2001:db8:2ff:1::1";

/// Example B (PoP → client, echo reply), the UDP payload: frame bytes
/// 0x1c..0x80 as the spec prints them.
const EXAMPLE_B: &str = "41 52 11 29
65 53 f1 01 20 01 0d b8 02 ff 00 01 00 00 00 00
00 00 00 01 c7 7d d5 18 88 3e 76 ac 65 61 3a 9a
13 6a 68 66 d8 bd ad 48 60 00 00 00 00 10 3a 40
20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 01
20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 02
81 00 dd 89 12 34 00 01 41 59 49 59 41 6c 61 62";
const EPOCH_B: u32 = 1_700_000_001;

/// Example A (client → PoP, echo request), the UDP payload.
const EXAMPLE_A: &str = "41 52 11 29
65 53 f1 00 20 01 0d b8 02 ff 00 01 00 00 00 00
00 00 00 02 4d fa 26 72 e6 42 48 f4 de ed 48 a4
25 60 e0 05 a6 bb 7a 73 60 00 00 00 00 10 3a 40
20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 02
20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 01
80 00 de 89 12 34 00 01 41 59 49 59 41 6c 61 62";
const EPOCH_A: u32 = 1_700_000_000;

/// The beat for A/B's secret and client identity at 1700000000.
const BEAT_AB: &str = "41 52 10 3b 65 53 f1 00
20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 02
80 28 54 7c 30 24 92 ed d2 bd 87 d6 00 e7 b6 65 05 27 a2 58";

/// Example E (a second secret and identity), the UDP payload.
const EXAMPLE_E: &str = "41 52 11 29 3f 66 40 bc 20 01 0d b8 12 34 00 08
00 00 00 00 00 00 00 02 98 91 5b 68 62 f2 93 05
91 5c a8 03 64 21 ad fd 7c fa 52 bd 60 00 00 00
00 08 3a 40 20 01 0d b8 12 34 00 08 00 00 00 00
00 00 00 02 20 01 0d b8 12 34 00 08 00 00 00 00
00 00 00 01 80 00 ff c7 00 01 00 07";

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The reference signature: SHA-1 over the datagram with SHA-1(password)
/// in the signature field, computed with the `sha1` crate.
fn ref_signature(d: &[u8], password: &str) -> [u8; 20] {
    let k = Sha1::digest(password.as_bytes());
    let mut h = Sha1::new();
    h.update(&d[..24]);
    h.update(k);
    h.update(&d[44..]);
    h.finalize().into()
}

/// A datagram built byte by byte, signed with the reference.
fn datagram(
    op: u8,
    nh: u8,
    epoch: u32,
    identity: Ipv6Addr,
    payload: &[u8],
    password: &str,
) -> Vec<u8> {
    let mut d = vec![0x41, 0x52, 0x10 | op, nh];
    d.extend_from_slice(&epoch.to_be_bytes());
    d.extend_from_slice(&identity.octets());
    d.extend_from_slice(&[0; 20]);
    d.extend_from_slice(payload);
    let sig = ref_signature(&d, password);
    d[24..44].copy_from_slice(&sig);
    d
}

/// A minimal IPv6 packet (no upper layer: next header 59) with `extra`
/// bytes of payload; its length field is right.
fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, extra: usize) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(extra as u16).to_be_bytes());
    p.extend_from_slice(&[59, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend((0..extra).map(|i| i as u8));
    p
}

/// What a case expects.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    /// A packet for the tun device: exactly these bytes.
    Packet(Vec<u8>),
    Other(u8, u8),
    Refused(Refused),
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    now: u32,
    want: Want,
}

fn run(cases: Vec<Case>, password: &str, pop: Ipv6Addr) {
    let key = Key::from_password(password);
    let mut failed = Vec::new();
    for c in &cases {
        let got = match inbound(&c.bytes, &key, &pop, c.now) {
            Ok(Inbound::Packet(p)) => Want::Packet(p.to_vec()),
            Ok(Inbound::Other {
                opcode,
                next_header,
            }) => Want::Other(opcode, next_header),
            Err(r) => Want::Refused(r),
        };
        if got != c.want {
            failed.push(format!("{}: got {got:?}, want {:?}", c.name, c.want));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failing:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn received_datagrams() {
    let b = hex(EXAMPLE_B);
    assert_eq!(b.len(), 100);
    let inner_b = b[44..].to_vec();
    let pop = addr(POP_AB);
    let client = addr(CLIENT_AB);
    let t = 1_800_000_000;
    let pkt = ipv6(pop, client, 8);
    let sign = |op, nh, epoch, id, payload: &[u8]| datagram(op, nh, epoch, id, payload, SECRET_AB);

    let mut flipped = b.clone();
    *flipped.last_mut().unwrap() ^= 1;
    let mut resigned_bad_sig = b.clone();
    resigned_bad_sig[30] ^= 0x80;
    let mut md5 = sign(1, 41, t, pop, &pkt);
    md5[1] = 0x51;
    let mut longer = sign(1, 41, t, pop, &pkt);
    longer.push(0);
    let ipv4 = {
        let mut p = vec![0x45, 0, 0, 20];
        p.resize(20, 0);
        p
    };

    let mut cases = vec![
        Case {
            name: "example B, op 1: the echo reply goes to tun",
            bytes: b.clone(),
            now: EPOCH_B,
            want: Want::Packet(inner_b.clone()),
        },
        Case {
            name: "example B, our clock 120 s ahead: accepted",
            bytes: b.clone(),
            now: EPOCH_B + 120,
            want: Want::Packet(inner_b.clone()),
        },
        Case {
            name: "example B, our clock 120 s behind: accepted",
            bytes: b.clone(),
            now: EPOCH_B - 120,
            want: Want::Packet(inner_b.clone()),
        },
        Case {
            name: "example B, our clock 121 s ahead: the PoP is 121 s behind",
            bytes: b.clone(),
            now: EPOCH_B + 121,
            want: Want::Refused(Refused::ClockOff { skew: -121 }),
        },
        Case {
            name: "example B, our clock 121 s behind: the PoP is 121 s ahead",
            bytes: b.clone(),
            now: EPOCH_B - 121,
            want: Want::Refused(Refused::ClockOff { skew: 121 }),
        },
        Case {
            name: "example B, a payload bit flipped",
            bytes: flipped,
            now: EPOCH_B,
            want: Want::Refused(Refused::HashFail),
        },
        Case {
            name: "example B, a signature bit flipped",
            bytes: resigned_bad_sig,
            now: EPOCH_B,
            want: Want::Refused(Refused::HashFail),
        },
        Case {
            name: "example A received: our own identity, not the PoP's",
            bytes: hex(EXAMPLE_A),
            now: EPOCH_A,
            want: Want::Refused(Refused::WrongIdentity(client.octets())),
        },
        Case {
            name: "signed with another password",
            bytes: datagram(1, 41, t, pop, &pkt, "guess"),
            now: t,
            want: Want::Refused(Refused::HashFail),
        },
        Case {
            name: "a beat from the PoP: authentic, counted",
            bytes: sign(0, 59, t, pop, &[]),
            now: t,
            want: Want::Other(0, 59),
        },
        Case {
            name: "op 1 at the window's far edge in the future",
            bytes: sign(1, 41, t + 120, pop, &pkt),
            now: t,
            want: Want::Packet(pkt.clone()),
        },
        Case {
            name: "op 1 at the window's far edge in the past",
            bytes: sign(1, 41, t - 120, pop, &pkt),
            now: t,
            want: Want::Packet(pkt.clone()),
        },
        Case {
            name: "op 1, epoch wrapped past 2^32 (serial arithmetic)",
            bytes: sign(1, 41, 5, pop, &pkt),
            now: u32::MAX - 5,
            want: Want::Packet(pkt.clone()),
        },
        Case {
            name: "echo response (op 4): authentic, not forwarded",
            bytes: sign(4, 41, t, pop, &pkt),
            now: t,
            want: Want::Other(4, 41),
        },
        Case {
            name: "op 1 with IPv4 inside: authentic, not forwarded",
            bytes: sign(1, 4, t, pop, &ipv4),
            now: t,
            want: Want::Other(1, 4),
        },
        Case {
            name: "op 1 with no payload (next header 59)",
            bytes: sign(1, 59, t, pop, &[]),
            now: t,
            want: Want::Other(1, 59),
        },
        Case {
            name: "next header 17 (UDP): not one AYIYA carries",
            bytes: sign(1, 17, t, pop, &pkt),
            now: t,
            want: Want::Refused(Refused::Malformed(AyiyaError::BadHeader)),
        },
        Case {
            name: "opcode 8: undefined",
            bytes: sign(8, 41, t, pop, &pkt),
            now: t,
            want: Want::Refused(Refused::Malformed(AyiyaError::BadHeader)),
        },
        Case {
            name: "hash method MD5",
            bytes: md5,
            now: t,
            want: Want::Refused(Refused::Malformed(AyiyaError::BadHeader)),
        },
        Case {
            name: "next header 41, payload IPv4",
            bytes: sign(1, 41, t, pop, &ipv4),
            now: t,
            want: Want::Refused(Refused::Malformed(AyiyaError::NotIpv6Payload)),
        },
        Case {
            name: "a byte after the IPv6 packet",
            bytes: longer,
            now: t,
            want: Want::Refused(Refused::Malformed(AyiyaError::LengthMismatch)),
        },
        Case {
            name: "wrong identity checked before the clock",
            bytes: sign(1, 41, t + 1000, client, &pkt),
            now: t,
            want: Want::Refused(Refused::WrongIdentity(client.octets())),
        },
        Case {
            name: "clock checked before the signature",
            bytes: datagram(1, 41, t + 1000, pop, &pkt, "guess"),
            now: t,
            want: Want::Refused(Refused::ClockOff { skew: 1000 }),
        },
        Case {
            name: "empty",
            bytes: vec![],
            now: t,
            want: Want::Refused(Refused::Malformed(AyiyaError::Short)),
        },
    ];
    // Every truncation of example B is refused, by the right class.
    for len in 0..b.len() {
        let want = match len {
            0..=43 => AyiyaError::Short,
            44 => AyiyaError::NotIpv6Payload,
            _ => AyiyaError::LengthMismatch,
        };
        cases.push(Case {
            name: "example B truncated",
            bytes: b[..len].to_vec(),
            now: EPOCH_B,
            want: Want::Refused(Refused::Malformed(want)),
        });
    }
    run(cases, SECRET_AB, pop);
}

/// Example E's secret and identity, for the other direction: a PoP of
/// that tunnel receiving example E would accept it; we would not (it
/// carries the client's identity).
#[test]
fn example_e_is_not_from_a_pop() {
    let e = hex(EXAMPLE_E);
    let key = Key::from_password("hartslag");
    assert_eq!(
        inbound(&e, &key, &addr("2001:db8:1234:8::1"), 1_063_665_852),
        Err(Refused::WrongIdentity(addr("2001:db8:1234:8::2").octets()))
    );
}

#[test]
fn sent_frames_match_the_spec() {
    // Example A: the client's echo request, byte for byte.
    let a = hex(EXAMPLE_A);
    let f = Framer::new(addr(CLIENT_AB), Key::from_password(SECRET_AB), 0);
    let mut buf = vec![0u8; 2048];
    buf[44..100].copy_from_slice(&a[44..]);
    assert_eq!(f.forward(&mut buf, 56, EPOCH_A), &a[..]);
    // The beat of §1.10.
    assert_eq!(f.beat(EPOCH_A), hex(BEAT_AB));

    // Example E: another secret and identity.
    let e = hex(EXAMPLE_E);
    let f = Framer::new(
        addr("2001:db8:1234:8::2"),
        Key::from_password("hartslag"),
        0,
    );
    buf[44..92].copy_from_slice(&e[44..]);
    assert_eq!(f.forward(&mut buf, 48, 1_063_665_852), &e[..]);
}

#[test]
fn sent_frames_against_the_reference() {
    let client = addr("2001:db8:1::2");
    let pop = addr("2001:db8:1::1");
    let password = "a password of the kind a person picks";
    let now = 1_800_000_000;
    for offset in [0i64, 300, -300, 121, -121] {
        let f = Framer::new(client, Key::from_password(password), offset);
        let epoch = (i64::from(now) + offset) as u32;
        // A beat: the fixed bytes, the epoch, identity, and the signature.
        let b = f.beat(now);
        assert_eq!(b.len(), 44);
        assert_eq!(&b[..4], &[0x41, 0x52, 0x10, 0x3b]);
        assert_eq!(&b[4..8], &epoch.to_be_bytes());
        assert_eq!(&b[8..24], &client.octets());
        assert_eq!(&b[24..44], &ref_signature(&b, password));

        for len in [0, 1, 7, 40, 1232] {
            let p = ipv6(client, pop, len);
            let mut buf = vec![0xeeu8; 44 + p.len() + 16];
            buf[44..44 + p.len()].copy_from_slice(&p);
            let d = f.forward(&mut buf, p.len(), now).to_vec();
            assert_eq!(d, datagram(1, 41, epoch, client, &p, password), "{len}");
            // And our own receive path takes it as the PoP would (with
            // the identity it carries), within the window or not.
            let r = inbound(&d, &Key::from_password(password), &client, now);
            if offset.unsigned_abs() <= 120 {
                assert_eq!(r, Ok(Inbound::Packet(&p[..])));
            } else {
                assert_eq!(
                    r,
                    Err(Refused::ClockOff {
                        skew: offset as i32
                    })
                );
            }
        }
    }
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever arrives, the checks answer (no panic), and nothing but
        /// a datagram signed with our key is ever taken.
        #[test]
        fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..200), now in any::<u32>()) {
            let key = Key::from_password(SECRET_AB);
            let r = inbound(&bytes, &key, &addr(POP_AB), now);
            prop_assert!(r.is_err(), "{r:?}");
        }

        /// One byte of example B changed, anywhere, to anything else: refused.
        #[test]
        fn any_change_to_example_b_is_refused(at in 0usize..100, x in 1u8..=255) {
            let mut b = hex(EXAMPLE_B);
            b[at] ^= x;
            let key = Key::from_password(SECRET_AB);
            let r = inbound(&b, &key, &addr(POP_AB), EPOCH_B);
            prop_assert!(r.is_err(), "byte {at} ^ {x:#x}: {r:?}");
        }
    }
}
