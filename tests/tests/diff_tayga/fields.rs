//! IP packets as named fields (`ip.ttl`, `udp.checksum`,
//! `quoted.ip.df`, …), so that two translators' outputs are compared
//! field by field and a difference is reported by the field's name.
//!
//! Each checksum appears twice: its value (`…checksum`) and whether it
//! holds (`…checksum_ok`: `true`, `false`, or `zero` for an IPv4 UDP
//! datagram without one; left out where the bytes it covers are not all
//! there: later fragments, quotes cut short). A checksum that differs
//! only because a field it covers differs by design is then listed as
//! such, while both sides' checksums are still checked to hold. Payloads
//! appear as their length and a 64-bit FNV-1a hash of their bytes.
//!
//! Written here from RFC 791, 792, 768, 793, 8200 and 4443, not from
//! either translator.

use std::{
    fmt::Display,
    net::{Ipv4Addr, Ipv6Addr},
};

pub type Fields = Vec<(String, String)>;

/// The fields of an IP packet.
pub fn dissect(p: &[u8]) -> Fields {
    let mut o = Out::default();
    o.put("bytes", p.len());
    ip(&mut o, p, false);
    o.fields
}

#[derive(Default)]
struct Out {
    prefix: String,
    fields: Fields,
}

impl Out {
    fn put(&mut self, name: &str, value: impl Display) {
        self.fields
            .push((format!("{}{name}", self.prefix), value.to_string()));
    }
}

/// The pseudo-header's addresses, summed.
#[derive(Clone, Copy)]
enum Pseudo {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

fn ip(o: &mut Out, p: &[u8], quoted: bool) {
    match p.first().map(|b| b >> 4) {
        Some(4) => ipv4(o, p, quoted),
        Some(6) => ipv6(o, p, quoted),
        v => o.put("ip.version", format!("{v:?}")),
    }
}

fn be16(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

fn be32(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

fn ipv4(o: &mut Out, p: &[u8], quoted: bool) {
    if p.len() < 20 {
        o.put("ip.truncated", p.len());
        return;
    }
    let ihl = (p[0] & 0x0f) as usize * 4;
    let total = be16(p, 2) as usize;
    let (flags, offset) = (p[6] >> 5, (be16(p, 6) & 0x1fff) as usize * 8);
    let mf = flags & 1 != 0;
    o.put("ip.version", 4);
    o.put("ip.ihl", ihl);
    o.put("ip.tos", format!("{:#04x}", p[1]));
    o.put("ip.total_len", total);
    o.put("ip.id", format!("{:#06x}", be16(p, 4)));
    o.put("ip.rf", flags >> 2 & 1);
    o.put("ip.df", flags >> 1 & 1);
    o.put("ip.mf", mf as u8);
    o.put("ip.offset", offset);
    o.put("ip.ttl", p[8]);
    o.put("ip.proto", p[9]);
    o.put("ip.checksum", format!("{:#06x}", be16(p, 10)));
    if p.len() >= ihl && ihl >= 20 {
        o.put("ip.checksum_ok", fold(sum(0, &p[..ihl])) == 0xffff);
        if ihl > 20 {
            o.put("ip.options", hex(&p[20..ihl]));
        }
    }
    o.put(
        "ip.src",
        Ipv4Addr::from(<[u8; 4]>::try_from(&p[12..16]).unwrap()),
    );
    o.put(
        "ip.dst",
        Ipv4Addr::from(<[u8; 4]>::try_from(&p[16..20]).unwrap()),
    );
    let end = total.min(p.len());
    if !quoted && total != p.len() {
        o.put("ip.trailing_bytes", p.len() as i64 - total as i64);
    }
    let body = p.get(ihl..end.max(ihl)).unwrap_or_default();
    if offset != 0 {
        o.put("payload", summary(body));
        return;
    }
    // The transport checksum can be checked when every byte it covers is
    // here: a whole datagram, not cut short.
    let whole = !mf && end == total;
    let pseudo = Pseudo::V4(p[12..16].try_into().unwrap(), p[16..20].try_into().unwrap());
    transport(o, pseudo, p[9], body, whole, total.saturating_sub(ihl));
}

fn ipv6(o: &mut Out, p: &[u8], quoted: bool) {
    if p.len() < 40 {
        o.put("ip.truncated", p.len());
        return;
    }
    let word = be32(p, 0);
    let payload_len = be16(p, 4) as usize;
    o.put("ip.version", 6);
    o.put("ip.tclass", format!("{:#04x}", word >> 20 & 0xff));
    o.put("ip.flow", format!("{:#07x}", word & 0xfffff));
    o.put("ip.payload_len", payload_len);
    o.put("ip.next", p[6]);
    o.put("ip.hop_limit", p[7]);
    o.put(
        "ip.src",
        Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap()),
    );
    o.put(
        "ip.dst",
        Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap()),
    );
    if !quoted && payload_len + 40 != p.len() {
        o.put(
            "ip.trailing_bytes",
            p.len() as i64 - (payload_len + 40) as i64,
        );
    }
    let end = (40 + payload_len).min(p.len());
    let (mut next, mut at) = (p[6], 40);
    let mut whole = end == 40 + payload_len;
    // Extension headers, in order; the fragment header's fields by name.
    for n in 0..8 {
        match next {
            0 | 43 | 60 if at + 2 <= end => {
                let len = (p[at + 1] as usize + 1) * 8;
                o.put(&format!("ext{n}.type"), next);
                o.put(&format!("ext{n}.bytes"), hex(&p[at..(at + len).min(end)]));
                next = p[at];
                at += len;
            }
            44 if at + 8 <= end => {
                let w = be16(p, at + 2);
                o.put("frag.next", p[at]);
                o.put("frag.reserved", p[at + 1]);
                o.put("frag.offset", (w >> 3) as usize * 8);
                o.put("frag.res", w >> 1 & 3);
                o.put("frag.m", w & 1);
                o.put("frag.id", format!("{:#010x}", be32(p, at + 4)));
                next = p[at];
                at += 8;
                if w >> 3 != 0 {
                    o.put("payload", summary(p.get(at..end).unwrap_or_default()));
                    return;
                }
                whole &= w & 1 == 0;
            }
            _ => break,
        }
    }
    let body = p.get(at..end).unwrap_or_default();
    let pseudo = Pseudo::V6(p[8..24].try_into().unwrap(), p[24..40].try_into().unwrap());
    transport(
        o,
        pseudo,
        next,
        body,
        whole,
        (40 + payload_len).saturating_sub(at),
    );
}

/// The transport header in `body` (protocol or next header `proto`);
/// `whole` when `body` is the whole datagram, `len` bytes long.
fn transport(o: &mut Out, pseudo: Pseudo, proto: u8, body: &[u8], whole: bool, len: usize) {
    let ok = |proto: u8| {
        let mut s = match pseudo {
            Pseudo::V4(a, b) => sum(sum(0, &a), &b),
            Pseudo::V6(a, b) => sum(sum(0, &a), &b),
        };
        s += proto as u64 + len as u64;
        fold(sum(s, body)) == 0xffff
    };
    match proto {
        17 if body.len() >= 8 => {
            o.put("udp.sport", be16(body, 0));
            o.put("udp.dport", be16(body, 2));
            o.put("udp.len", be16(body, 4));
            o.put("udp.checksum", format!("{:#06x}", be16(body, 6)));
            if be16(body, 6) == 0 && matches!(pseudo, Pseudo::V4(..)) {
                o.put("udp.checksum_ok", "zero");
            } else if whole {
                o.put("udp.checksum_ok", ok(17));
            }
            o.put("payload", summary(&body[8..]));
        }
        6 if body.len() >= 20 => {
            let hlen = (body[12] >> 4) as usize * 4;
            o.put("tcp.sport", be16(body, 0));
            o.put("tcp.dport", be16(body, 2));
            o.put("tcp.seq", be32(body, 4));
            o.put("tcp.ack", be32(body, 8));
            o.put("tcp.offset_flags", format!("{:#06x}", be16(body, 12)));
            o.put("tcp.window", be16(body, 14));
            o.put("tcp.checksum", format!("{:#06x}", be16(body, 16)));
            if whole {
                o.put("tcp.checksum_ok", ok(6));
            }
            o.put("tcp.urgent", be16(body, 18));
            o.put(
                "payload",
                summary(body.get(hlen.max(20)..).unwrap_or_default()),
            );
        }
        1 | 58 if body.len() >= 8 => icmp(o, pseudo, proto, body, whole, ok(58)),
        _ => {
            o.put("proto", proto);
            o.put("payload", summary(body));
        }
    }
}

fn icmp(o: &mut Out, pseudo: Pseudo, proto: u8, body: &[u8], whole: bool, ok6: bool) {
    let (ty, code) = (body[0], body[1]);
    o.put("icmp.type", ty);
    o.put("icmp.code", code);
    o.put("icmp.checksum", format!("{:#06x}", be16(body, 2)));
    if whole {
        // ICMPv4 sums the message alone (RFC 792); ICMPv6 with the
        // pseudo-header (RFC 4443 §2.3).
        let good = match pseudo {
            Pseudo::V4(..) if proto == 1 => fold(sum(0, body)) == 0xffff,
            _ => ok6,
        };
        o.put("icmp.checksum_ok", good);
    }
    let v6 = proto == 58;
    let echo = if v6 {
        matches!(ty, 128 | 129)
    } else {
        matches!(ty, 0 | 8)
    };
    let error = if v6 {
        matches!(ty, 1..=4)
    } else {
        matches!(ty, 3 | 11 | 12)
    };
    if echo {
        o.put("icmp.id", format!("{:#06x}", be16(body, 4)));
        o.put("icmp.seq", be16(body, 6));
        o.put("payload", summary(&body[8..]));
        return;
    }
    if !error {
        o.put("icmp.rest", hex(&body[4..8]));
        o.put("payload", summary(&body[8..]));
        return;
    }
    match (v6, ty, code) {
        (false, 3, 4) => {
            o.put("icmp.unused", be16(body, 4));
            o.put("icmp.mtu", be16(body, 6));
        }
        (false, 12, _) => {
            o.put("icmp.pointer", body[4]);
            o.put("icmp.unused", hex(&body[5..8]));
        }
        (true, 2, _) => o.put("icmp.mtu", be32(body, 4)),
        (true, 4, _) => o.put("icmp.pointer", be32(body, 4)),
        _ => o.put("icmp.unused", hex(&body[4..8])),
    }
    // The packet in error, as far as it is quoted (RFC 792, RFC 4443).
    let saved = std::mem::replace(&mut o.prefix, "quoted.".into());
    o.put("length", body.len() - 8);
    ip(o, &body[8..], true);
    o.prefix = saved;
}

/// The one's-complement sum of `b` as 16-bit big-endian words, added to
/// `s` (RFC 1071), not folded.
fn sum(mut s: u64, b: &[u8]) -> u64 {
    let mut words = b.chunks_exact(2);
    for w in &mut words {
        s += u16::from_be_bytes([w[0], w[1]]) as u64;
    }
    if let [last] = words.remainder() {
        s += (*last as u64) << 8;
    }
    s
}

fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Length and FNV-1a hash: equal bytes, equal summaries.
fn summary(b: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{} bytes, fnv {h:016x}", b.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packets::*;

    fn get<'a>(f: &'a Fields, name: &str) -> &'a str {
        &f.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} in {f:?}"))
            .1
    }

    #[test]
    fn checksums_are_checked() {
        let a: Ipv4Addr = "192.0.2.2".parse().unwrap();
        let b: Ipv4Addr = "198.51.100.2".parse().unwrap();
        let p = v4(a, b, 64, 0, true, 0, L4::Udp(b"abc"));
        let f = dissect(&p);
        assert_eq!(get(&f, "ip.checksum_ok"), "true");
        assert_eq!(get(&f, "udp.checksum_ok"), "true");
        assert_eq!(get(&f, "ip.df"), "1");
        let mut bad = p.clone();
        bad[30] ^= 1;
        assert_eq!(get(&dissect(&bad), "udp.checksum_ok"), "false");
        let e = icmp4(b, a, 3, 3, [0; 4], &p);
        let f = dissect(&e);
        assert_eq!(get(&f, "icmp.checksum_ok"), "true");
        assert_eq!(get(&f, "quoted.udp.checksum_ok"), "true");
        assert_eq!(get(&f, "quoted.length"), p.len().to_string());
    }

    #[test]
    fn icmpv6_and_fragments() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let f = dissect(&v6(a, b, 9, 0xb8, L4::EchoRequest(b"x")));
        assert_eq!(get(&f, "icmp.checksum_ok"), "true");
        assert_eq!(get(&f, "ip.tclass"), "0xb8");
        let f = dissect(&v6_fragment(a, b, 9, 17, 0xabcd_1234, 16, true, &[0; 8]));
        assert_eq!(get(&f, "frag.offset"), "16");
        assert_eq!(get(&f, "frag.id"), "0xabcd1234");
        assert!(!f.iter().any(|(n, _)| n.starts_with("udp.")), "{f:?}");
    }
}
