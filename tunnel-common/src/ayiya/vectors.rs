//! The worked examples of `ayiya-spec.md` §1.10, pasted as the spec prints
//! them, checked byte for byte: K of each secret, each datagram rebuilt
//! from the fields the spec states (the inner packet independently, with
//! etherparse), its signature, the printed pre-image, the outer checksums
//! the spec calls valid, and what tampering does to each.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{
    sign::{beat, encode, signature, verify, Datagram, Key},
    AyiyaError, AyiyaHdr, HEADER_LEN, NH_IPV6, OP_FORWARD, PORT, SIGNATURE_OFFSET,
};
use crate::{csum, sha1::sha1};

/// Example A, client → PoP, ICMPv6 echo request: the full IPv4 frame.
const EXAMPLE_A_FRAME: &str = "\
0000  45 00 00 80 00 00 40 00 40 11 b6 69 c0 00 02 02   IPv4, DF, TTL 64, proto 17\n\
0010  c0 00 02 01 c9 e0 13 d0 00 6c 38 05 41 52 11 29   UDP 51680->5072 len 108 csum 3805 | AYIYA 41 52 11 29\n\
0020  65 53 f1 00 20 01 0d b8 02 ff 00 01 00 00 00 00   epoch | identity 2001:db8:2ff:1::2\n\
0030  00 00 00 02 4d fa 26 72 e6 42 48 f4 de ed 48 a4   | signature (20)\n\
0040  25 60 e0 05 a6 bb 7a 73 60 00 00 00 00 10 3a 40   | IPv6 plen 16 nh 58 hlim 64\n\
0050  20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 02   src ::2\n\
0060  20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 01   dst ::1\n\
0070  80 00 de 89 12 34 00 01 41 59 49 59 41 6c 61 62   ICMPv6 128 csum de89 id 1234 seq 1, 8 data bytes\n\
";

/// Example A's pre-image as printed: its first 48 bytes (then the 56-byte
/// IPv6 packet).
const EXAMPLE_A_PREIMAGE: &str = "\
0000  41 52 11 29 65 53 f1 00 20 01 0d b8 02 ff 00 01\n\
0010  00 00 00 00 00 00 00 02 5e c7 fa e6 e1 e0 bb c6\n\
0020  ff b4 08 37 a5 c2 6b 28 55 dc 7f ba 60 00 00 00   ... then the 56-byte IPv6 packet as above\n\
";

/// Example B, PoP → client, ICMPv6 echo reply: the full IPv4 frame.
const EXAMPLE_B_FRAME: &str = "\
0000  45 00 00 80 00 00 40 00 40 11 b6 69 c0 00 02 01\n\
0010  c0 00 02 02 13 d0 c9 e0 00 6c ec 7b 41 52 11 29\n\
0020  65 53 f1 01 20 01 0d b8 02 ff 00 01 00 00 00 00\n\
0030  00 00 00 01 c7 7d d5 18 88 3e 76 ac 65 61 3a 9a\n\
0040  13 6a 68 66 d8 bd ad 48 60 00 00 00 00 10 3a 40\n\
0050  20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 01\n\
0060  20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 02\n\
0070  81 00 dd 89 12 34 00 01 41 59 49 59 41 6c 61 62\n\
";

/// Example E: the AYIYA datagram (UDP payload), 92 bytes.
const EXAMPLE_E_DATAGRAM: &str = "\
0000  41 52 11 29 3f 66 40 bc 20 01 0d b8 12 34 00 08\n\
0010  00 00 00 00 00 00 00 02 98 91 5b 68 62 f2 93 05\n\
0020  91 5c a8 03 64 21 ad fd 7c fa 52 bd 60 00 00 00\n\
0030  00 08 3a 40 20 01 0d b8 12 34 00 08 00 00 00 00\n\
0040  00 00 00 02 20 01 0d b8 12 34 00 08 00 00 00 00\n\
0050  00 00 00 01 80 00 ff c7 00 01 00 07\n\
";

const SECRET_AB: &str = "f3d47c2de40fb698e1ab15d757a09bfc";
const K_AB: &str = "5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fba";
const SIG_A: &str = "4dfa2672e64248f4deed48a42560e005a6bb7a73";
const SIG_B: &str = "c77dd518883e76ac65613a9a136a6866d8bdad48";
/// The beat of A/B's secret and identity at epoch 1700000000, as printed
/// (fields separated by `|`).
const BEAT: &str =
    "41 52 10 3b 65 53 f1 00 | 2001:db8:2ff:1::2 | 8028547c302492edd2bd87d600e7b6650527a258";
const SECRET_E: &str = "hartslag";
const K_E: &str = "25b4129809563d5445f56f3b6cb8ae77fa04e5f4";
const SIG_E: &str = "98915b6862f29305915ca8036421adfd7cfa52bd";

const CLIENT: &str = "2001:db8:2ff:1::2";
const POP: &str = "2001:db8:2ff:1::1";
const ECHO_DATA: &[u8] = &[0x41, 0x59, 0x49, 0x59, 0x41, 0x6c, 0x61, 0x62];

/// Bytes of a hex dump: an offset, then up to 16 bytes, then a comment.
/// The offsets are checked, so a dropped or doubled line shows.
fn dump(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let offset = usize::from_str_radix(words.next().unwrap(), 16).unwrap();
        assert_eq!(offset, out.len(), "offset of {line:?}");
        let bytes = words.take(16).map_while(|w| u8::from_str_radix(w, 16).ok());
        out.extend(bytes);
    }
    out
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

/// An ICMPv6 echo (request or reply) as the spec describes it, built by
/// etherparse: hop limit 64, its checksum computed there.
fn echo(src: &str, dst: &str, reply: bool, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ipv6(v6(src), v6(dst), 64);
    let b = if reply {
        b.icmpv6_echo_reply(id, seq)
    } else {
        b.icmpv6_echo_request(id, seq)
    };
    let mut out = Vec::new();
    b.write(&mut out, data).unwrap();
    out
}

/// An IPv4/UDP frame's datagram, after checking what the spec says of the
/// outer headers: 20-byte header, DF, TTL 64, UDP, the given endpoints,
/// lengths that agree, and both checksums valid.
fn outer(frame: &[u8], src: (&str, u16), dst: (&str, u16)) -> Vec<u8> {
    let (ip, udp) = frame.split_at(20);
    assert_eq!(ip[0], 0x45);
    assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), frame.len());
    assert_eq!((ip[6], ip[8], ip[9]), (0x40, 64, 17), "DF, TTL, protocol");
    let (s, d) = (
        src.0.parse::<Ipv4Addr>().unwrap(),
        dst.0.parse::<Ipv4Addr>().unwrap(),
    );
    assert_eq!(
        (&ip[12..16], &ip[16..20]),
        (&s.octets()[..], &d.octets()[..])
    );
    let ip: &[u8; 20] = ip.try_into().unwrap();
    assert_eq!(csum::ipv4_header(ip).to_be_bytes(), [ip[10], ip[11]]);
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), src.1);
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), dst.1);
    assert_eq!(usize::from(u16::from_be_bytes([udp[4], udp[5]])), udp.len());
    // RFC 768: the sum over the pseudo-header and the whole segment,
    // checksum field included, is all ones.
    let mut sum = csum::add_bytes(0, &ip[12..20]);
    sum += 17 + udp.len() as u64;
    assert_eq!(
        csum::fold(csum::add_bytes(sum, udp)),
        0xffff,
        "udp checksum"
    );
    udp[8..].to_vec()
}

/// One worked example: what the spec states, and the datagram it prints.
struct Example {
    name: &'static str,
    secret: &'static str,
    key: &'static str,
    identity: &'static str,
    epoch: u32,
    opcode: u8,
    next_header: u8,
    payload: Vec<u8>,
    signature: &'static str,
    datagram: Vec<u8>,
}

fn examples() -> Vec<Example> {
    let a = outer(
        &dump(EXAMPLE_A_FRAME),
        ("192.0.2.2", 51680),
        ("192.0.2.1", PORT),
    );
    let b = outer(
        &dump(EXAMPLE_B_FRAME),
        ("192.0.2.1", PORT),
        ("192.0.2.2", 51680),
    );
    let mut the_beat = Vec::new();
    for (i, part) in BEAT.split('|').enumerate() {
        let part = part.trim();
        the_beat.extend(if i == 1 { v6(part).to_vec() } else { hex(part) });
    }
    vec![
        Example {
            name: "A",
            secret: SECRET_AB,
            key: K_AB,
            identity: CLIENT,
            epoch: 1_700_000_000,
            opcode: OP_FORWARD,
            next_header: NH_IPV6,
            payload: echo(CLIENT, POP, false, 0x1234, 1, ECHO_DATA),
            signature: SIG_A,
            datagram: a,
        },
        Example {
            name: "B",
            secret: SECRET_AB,
            key: K_AB,
            identity: POP,
            epoch: 1_700_000_001,
            opcode: OP_FORWARD,
            next_header: NH_IPV6,
            payload: echo(POP, CLIENT, true, 0x1234, 1, ECHO_DATA),
            signature: SIG_B,
            datagram: b,
        },
        Example {
            name: "beat",
            secret: SECRET_AB,
            key: K_AB,
            identity: CLIENT,
            epoch: 1_700_000_000,
            opcode: 0,
            next_header: 59,
            payload: Vec::new(),
            signature: "8028547c302492edd2bd87d600e7b6650527a258",
            datagram: the_beat,
        },
        Example {
            name: "E",
            secret: SECRET_E,
            key: K_E,
            identity: "2001:db8:1234:8::2",
            epoch: 1_063_665_852,
            opcode: OP_FORWARD,
            next_header: NH_IPV6,
            payload: echo("2001:db8:1234:8::2", "2001:db8:1234:8::1", false, 1, 7, &[]),
            signature: SIG_E,
            datagram: dump(EXAMPLE_E_DATAGRAM),
        },
    ]
}

#[test]
fn keys() {
    assert_eq!(Key::from_password(SECRET_AB).0[..], hex(K_AB));
    assert_eq!(Key::from_password(SECRET_E).0[..], hex(K_E));
}

/// Each datagram, rebuilt from the stated fields and signed, is the
/// printed one byte for byte, and it verifies at its own epoch.
#[test]
fn examples_byte_for_byte() {
    for e in examples() {
        let key = Key::from_password(e.secret);
        assert_eq!(key.0[..], hex(e.key), "K of {}", e.name);
        let hdr = AyiyaHdr::new(e.opcode, e.next_header, e.epoch, v6(e.identity));
        let built = encode(&hdr, &e.payload, &key);
        assert_eq!(built, e.datagram, "example {}", e.name);
        assert_eq!(
            e.datagram[SIGNATURE_OFFSET..HEADER_LEN],
            hex(e.signature),
            "{}",
            e.name
        );
        assert_eq!(
            signature(&e.datagram, &key).unwrap()[..],
            hex(e.signature),
            "{}",
            e.name
        );
        let d = verify(&e.datagram, &key, e.epoch).unwrap();
        assert_eq!(d.identity(), &v6(e.identity), "{}", e.name);
        assert_eq!(d.payload(), &e.payload[..], "{}", e.name);
        // The printed sizes: 100-byte A/B datagrams, a 44-byte beat, 92 for E.
        let len = [("A", 100), ("B", 100), ("beat", 44), ("E", 92)];
        assert!(len.contains(&(e.name, e.datagram.len())), "{}", e.name);
    }
}

/// A's pre-image as printed: K in the signature slot, then the payload;
/// its SHA-1 is A's signature.
#[test]
fn example_a_preimage() {
    let a = &examples()[0];
    let mut pre = a.datagram[..SIGNATURE_OFFSET].to_vec();
    pre.extend_from_slice(&hex(K_AB));
    pre.extend_from_slice(&a.datagram[HEADER_LEN..]);
    assert_eq!(pre.len(), 100);
    assert_eq!(pre[..48], dump(EXAMPLE_A_PREIMAGE));
    assert_eq!(sha1(&pre)[..], hex(SIG_A));
}

/// Every single-bit change of every example fails, and so do a wrong key,
/// a clock 121 s off either way, every truncation and an added byte; the
/// clock exactly 120 s off passes.
#[test]
fn examples_tampered() {
    for e in examples() {
        let key = Key::from_password(e.secret);
        let d = &e.datagram;
        for bit in 0..d.len() * 8 {
            let mut t = d.clone();
            t[bit / 8] ^= 1 << (bit % 8);
            assert!(verify(&t, &key, e.epoch).is_err(), "{}: bit {bit}", e.name);
        }
        let other = Key::from_password(format!("{} ", e.secret));
        assert_eq!(verify(d, &other, e.epoch).err(), Some(AyiyaError::HashFail));
        let mut k = key;
        k.0[19] ^= 1;
        assert_eq!(verify(d, &k, e.epoch).err(), Some(AyiyaError::HashFail));
        for now in [e.epoch - 121, e.epoch + 121] {
            assert_eq!(
                verify(d, &key, now).err(),
                Some(AyiyaError::ClockOff),
                "{}",
                e.name
            );
        }
        for now in [e.epoch - 120, e.epoch + 120] {
            assert!(verify(d, &key, now).is_ok(), "{}: now {now}", e.name);
        }
        for n in 0..d.len() {
            assert!(
                verify(&d[..n], &key, e.epoch).is_err(),
                "{}: {n} bytes",
                e.name
            );
        }
        let mut longer = d.clone();
        longer.push(0);
        assert!(
            verify(&longer, &key, e.epoch).is_err(),
            "{}: trailing byte",
            e.name
        );
        // The PoP accepts the client's packets (A, the beat, E) by their
        // constant part; B is the PoP's own (op 1 too).
        assert!(
            super::header_ok(Datagram::parse(d).unwrap().header()),
            "{}",
            e.name
        );
    }
}

/// The beat helper makes exactly the printed beat.
#[test]
fn beat_vector() {
    let key = Key::from_password(SECRET_AB);
    let e = &examples()[2];
    assert_eq!(beat(v6(CLIENT), 1_700_000_000, &key), e.datagram);
}
