//! The ICMP ↔ ICMPv6 translation tables of RFC 7915 (§4.2 for ICMPv4 →
//! ICMPv6, §5.2 for ICMPv6 → ICMPv4), as pure functions: type and code in,
//! what the other family's message is, or `None` (silently dropped, as
//! the RFC says). The 4-byte field after the checksum follows [`Rest`].

/// What becomes of the four bytes after the checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rest {
    /// Copied (echo identifier and sequence; unused fields).
    Copy,
    /// Zero (the field is unused in the new message).
    Zero,
    /// An MTU, adjusted by the header size difference (PTB ↔ frag needed).
    Mtu,
    /// A parameter-problem pointer, mapped field by field (`pointer_4to6`,
    /// `pointer_6to4`); a field with no counterpart drops the message.
    Pointer,
    /// A fixed pointer: ICMPv4 protocol unreachable becomes an ICMPv6
    /// parameter problem pointing at the next header field (6).
    Fixed(u32),
}

/// One translated message: type, code and how its last 4 header bytes
/// are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translated {
    pub ty: u8,
    pub code: u8,
    pub rest: Rest,
}

const fn t(ty: u8, code: u8, rest: Rest) -> Option<Translated> {
    Some(Translated { ty, code, rest })
}

/// Whether an ICMPv4 type is an error (its payload quotes a packet).
#[inline(always)]
pub const fn is_error_v4(ty: u8) -> bool {
    matches!(ty, 3 | 11 | 12)
}

/// Whether an ICMPv6 type is an error (RFC 4443: types below 128).
#[inline(always)]
pub const fn is_error_v6(ty: u8) -> bool {
    ty < 128
}

/// RFC 7915 §4.2: ICMPv4 (type, code) → ICMPv6.
#[inline(always)]
pub const fn v4_to_v6(ty: u8, code: u8) -> Option<Translated> {
    match (ty, code) {
        (0, _) => t(129, 0, Rest::Copy),
        (8, _) => t(128, 0, Rest::Copy),
        // Destination unreachable.
        (3, 0 | 1 | 5 | 6 | 7 | 8 | 11 | 12) => t(1, 0, Rest::Zero),
        (3, 2) => t(4, 1, Rest::Fixed(6)),
        (3, 3) => t(1, 4, Rest::Zero),
        (3, 4) => t(2, 0, Rest::Mtu),
        (3, 9 | 10 | 13 | 15) => t(1, 1, Rest::Zero),
        // Time exceeded: same code.
        (11, 0 | 1) => t(3, code, Rest::Zero),
        // Parameter problem: pointer problem and bad length.
        (12, 0 | 2) => t(4, 0, Rest::Pointer),
        _ => None,
    }
}

/// RFC 7915 §5.2: ICMPv6 (type, code) → ICMPv4.
#[inline(always)]
pub const fn v6_to_v4(ty: u8, code: u8) -> Option<Translated> {
    match (ty, code) {
        (128, _) => t(8, 0, Rest::Copy),
        (129, _) => t(0, 0, Rest::Copy),
        // Destination unreachable.
        (1, 0 | 2 | 3) => t(3, 1, Rest::Zero),
        (1, 1) => t(3, 10, Rest::Zero),
        (1, 4) => t(3, 3, Rest::Zero),
        (2, _) => t(3, 4, Rest::Mtu),
        (3, 0 | 1) => t(11, code, Rest::Zero),
        (4, 0) => t(12, 0, Rest::Pointer),
        (4, 1) => t(3, 2, Rest::Zero),
        _ => None,
    }
}

/// RFC 7915 §4.2 figure 3: an IPv4 header pointer → the IPv6 field.
#[inline(always)]
pub const fn pointer_4to6(p: u8) -> Option<u8> {
    match p {
        0 => Some(0),
        1 => Some(1),
        2 | 3 => Some(4),
        8 => Some(7),
        9 => Some(6),
        12..=15 => Some(8),
        16..=19 => Some(24),
        _ => None,
    }
}

/// RFC 7915 §5.2 figure 6: an IPv6 header pointer → the IPv4 field.
#[inline(always)]
pub const fn pointer_6to4(p: u8) -> Option<u8> {
    match p {
        0 => Some(0),
        1 => Some(1),
        4 | 5 => Some(2),
        6 => Some(9),
        7 => Some(8),
        8..=23 => Some(12),
        24..=39 => Some(16),
        _ => None,
    }
}

/// The MTU an IPv6 packet too big says, for an ICMPv4 fragmentation
/// needed with `mtu4` about an IPv4 packet of `tot_len` bytes: 20 more
/// (RFC 7915 §4.2); an MTU of 0 (pre-RFC 1191 routers) is estimated by
/// the plateau below the packet's length (RFC 1191 §5). Never below the
/// IPv6 minimum, 1280: RFC 8201 §4 has hosts discard a packet too big
/// below it (Linux does), which would leave the path a black hole, and
/// RFC 7915 §4.2 wants its plateau at least 1280 too. A host at 1280
/// sends packets whose translations are at most 1260 bytes and go without
/// DF (RFC 7915 §5.1), so the IPv4 router with the small MTU fragments
/// them.
#[inline(always)]
pub const fn mtu_4to6(mtu4: u16, tot_len: u16) -> u32 {
    let m = if mtu4 == 0 { plateau(tot_len) } else { mtu4 };
    let mtu6 = m as u32 + 20;
    if mtu6 < IPV6_MIN_MTU {
        IPV6_MIN_MTU
    } else {
        mtu6
    }
}

/// The IPv6 minimum link MTU (RFC 8200 §5).
pub const IPV6_MIN_MTU: u32 = 1280;

/// The MTU an ICMPv4 fragmentation needed says, for an ICMPv6 packet too
/// big with `mtu6`: 20 less (RFC 7915 §5.2), at most 65535.
#[inline(always)]
pub const fn mtu_6to4(mtu6: u32) -> u16 {
    let m = mtu6.saturating_sub(20);
    if m > 0xffff {
        0xffff
    } else {
        m as u16
    }
}

/// RFC 7915 §4.2: a packet too big's MTU is the least of the translated
/// one (`mtu6`, as `mtu_4to6` made it), the IPv6 next hop's MTU (`next6`:
/// the tunnel's, or the egress device's) and the MTU of the IPv4 device
/// the error came in on plus 20 (`in4`: what crossed it came through the
/// translator, 20 bytes bigger as IPv6). 0 is a term not known (the
/// kernel routes the packet), left out. Never below 1280, as `mtu_4to6`.
#[inline(always)]
pub const fn cap_4to6(mtu6: u32, next6: u32, in4: u32) -> u32 {
    let mut m = mtu6;
    if next6 != 0 && next6 < m {
        m = next6;
    }
    let in4 = in4.saturating_add(20);
    if in4 != 20 && in4 < m {
        m = in4;
    }
    if m < IPV6_MIN_MTU {
        IPV6_MIN_MTU
    } else {
        m
    }
}

/// RFC 7915 §5.2: a fragmentation needed's MTU is the least of the
/// translated one (`mtu4`, as `mtu_6to4` made it), the IPv4 next hop's MTU
/// (`out4`: the egress device's) and the MTU of the IPv6 side the error
/// came from less 20 (`in6`: the tunnel's, or the ingress device's). 0 is
/// a term not known, left out. No floor: an MTU the IPv6 side reports
/// below 88 stays as `mtu_6to4` makes it (the links' own MTUs are never
/// that small).
#[inline(always)]
pub const fn cap_6to4(mtu4: u16, out4: u32, in6: u32) -> u16 {
    let mut m = mtu4 as u32;
    if out4 != 0 && out4 < m {
        m = out4;
    }
    if in6 != 0 && in6.saturating_sub(20) < m {
        m = in6.saturating_sub(20);
    }
    m as u16
}

/// RFC 1191 §7's plateau table: the largest plateau below `len`.
#[inline(always)]
pub const fn plateau(len: u16) -> u16 {
    const PLATEAUS: [u16; 10] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296];
    let mut i = 0;
    while i < PLATEAUS.len() {
        if PLATEAUS[i] < len {
            return PLATEAUS[i];
        }
        i += 1;
    }
    68
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table row: (type, code) in, (type, code, rest) out or dropped.
    type Row = ((u8, u8), Option<(u8, u8, Rest)>);

    /// RFC 7915 §4.2, row by row.
    #[test]
    fn icmpv4_to_icmpv6() {
        let rows: &[Row] = &[
            ((8, 0), Some((128, 0, Rest::Copy))),
            ((0, 0), Some((129, 0, Rest::Copy))),
            ((3, 0), Some((1, 0, Rest::Zero))),
            ((3, 1), Some((1, 0, Rest::Zero))),
            ((3, 2), Some((4, 1, Rest::Fixed(6)))),
            ((3, 3), Some((1, 4, Rest::Zero))),
            ((3, 4), Some((2, 0, Rest::Mtu))),
            ((3, 5), Some((1, 0, Rest::Zero))),
            ((3, 6), Some((1, 0, Rest::Zero))),
            ((3, 7), Some((1, 0, Rest::Zero))),
            ((3, 8), Some((1, 0, Rest::Zero))),
            ((3, 9), Some((1, 1, Rest::Zero))),
            ((3, 10), Some((1, 1, Rest::Zero))),
            ((3, 11), Some((1, 0, Rest::Zero))),
            ((3, 12), Some((1, 0, Rest::Zero))),
            ((3, 13), Some((1, 1, Rest::Zero))),
            ((3, 14), None),
            ((3, 15), Some((1, 1, Rest::Zero))),
            ((11, 0), Some((3, 0, Rest::Zero))),
            ((11, 1), Some((3, 1, Rest::Zero))),
            ((12, 0), Some((4, 0, Rest::Pointer))),
            ((12, 1), None),
            ((12, 2), Some((4, 0, Rest::Pointer))),
            // Redirect, source quench, timestamp, information, address
            // mask, router advertisement and solicitation: dropped.
            ((5, 0), None),
            ((4, 0), None),
            ((13, 0), None),
            ((14, 0), None),
            ((15, 0), None),
            ((16, 0), None),
            ((17, 0), None),
            ((18, 0), None),
            ((9, 0), None),
            ((10, 0), None),
        ];
        for &((ty, code), want) in rows {
            let got = v4_to_v6(ty, code).map(|t| (t.ty, t.code, t.rest));
            assert_eq!(got, want, "ICMPv4 {ty}/{code}");
        }
    }

    /// RFC 7915 §5.2, row by row.
    #[test]
    fn icmpv6_to_icmpv4() {
        let rows: &[Row] = &[
            ((128, 0), Some((8, 0, Rest::Copy))),
            ((129, 0), Some((0, 0, Rest::Copy))),
            ((1, 0), Some((3, 1, Rest::Zero))),
            ((1, 1), Some((3, 10, Rest::Zero))),
            ((1, 2), Some((3, 1, Rest::Zero))),
            ((1, 3), Some((3, 1, Rest::Zero))),
            ((1, 4), Some((3, 3, Rest::Zero))),
            ((1, 5), None),
            ((2, 0), Some((3, 4, Rest::Mtu))),
            ((3, 0), Some((11, 0, Rest::Zero))),
            ((3, 1), Some((11, 1, Rest::Zero))),
            ((4, 0), Some((12, 0, Rest::Pointer))),
            ((4, 1), Some((3, 2, Rest::Zero))),
            ((4, 2), None),
            // MLD and ND are single-hop; other informational types.
            ((130, 0), None),
            ((133, 0), None),
            ((135, 0), None),
            ((137, 0), None),
            ((200, 0), None),
        ];
        for &((ty, code), want) in rows {
            let got = v6_to_v4(ty, code).map(|t| (t.ty, t.code, t.rest));
            assert_eq!(got, want, "ICMPv6 {ty}/{code}");
        }
    }

    #[test]
    fn pointers() {
        let four: Vec<(u8, Option<u8>)> = (0..24).map(|p| (p, pointer_4to6(p))).collect();
        for (p, got) in four {
            let want = match p {
                0 => Some(0),
                1 => Some(1),
                2 | 3 => Some(4),
                8 => Some(7),
                9 => Some(6),
                12..=15 => Some(8),
                16..=19 => Some(24),
                _ => None,
            };
            assert_eq!(got, want, "IPv4 pointer {p}");
        }
        assert_eq!(pointer_6to4(6), Some(9));
        assert_eq!(pointer_6to4(7), Some(8));
        assert_eq!(pointer_6to4(2), None, "flow label has no IPv4 field");
        assert_eq!(pointer_6to4(39), Some(16));
        assert_eq!(pointer_6to4(40), None);
    }

    #[test]
    fn mtus() {
        assert_eq!(mtu_4to6(1400, 1500), 1420);
        assert_eq!(mtu_6to4(1280), 1260);
        assert_eq!(mtu_6to4(0), 0);
        assert_eq!(mtu_6to4(100_000), 65535);
        // RFC 1191 plateaus: a 1500-byte packet and MTU 0 → 1492.
        assert_eq!(mtu_4to6(0, 1500), 1512);
        // Below the IPv6 minimum: 1280, which RFC 8201 hosts accept.
        assert_eq!(mtu_4to6(1260, 1480), 1280);
        assert_eq!(mtu_4to6(1259, 1480), 1280);
        assert_eq!(mtu_4to6(1000, 1480), 1280);
        assert_eq!(mtu_4to6(68, 1480), 1280);
        assert_eq!(mtu_4to6(1261, 1480), 1281);
        assert_eq!(mtu_4to6(0, 1300), 1280, "plateau 1006 + 20, raised");
        assert_eq!(plateau(1492), 1006);
        assert_eq!(plateau(1493), 1492);
        assert_eq!(plateau(68), 68);
        assert_eq!(plateau(576), 508);
    }

    /// Each term of RFC 7915 §4.2 the least in turn; 0 leaves a term out.
    #[test]
    fn packet_too_big_capped() {
        // (translated, IPv6 next hop, IPv4 ingress device) → MTU.
        let rows: &[((u32, u32, u32), u32)] = &[
            ((1420, 1500, 1500), 1420),
            ((1620, 1500, 1500), 1500),
            ((1620, 1480, 1500), 1480),
            ((1620, 1500, 1400), 1420),
            ((1620, 0, 0), 1620),
            ((1620, 0, 1400), 1420),
            ((1620, 1400, 0), 1400),
            ((1520, 1520, 1500), 1520),
            // Never below the IPv6 minimum, whatever the term.
            ((1280, 1500, 1000), 1280),
            ((1620, 1000, 1500), 1280),
            ((1620, 1500, 1200), 1280),
            // The loopback's 65536 and more: no overflow.
            ((1620, u32::MAX, u32::MAX), 1620),
        ];
        for &((mtu6, next6, in4), want) in rows {
            assert_eq!(cap_4to6(mtu6, next6, in4), want, "{mtu6} {next6} {in4}");
        }
    }

    /// Each term of RFC 7915 §5.2 the least in turn; 0 leaves a term out.
    #[test]
    fn fragmentation_needed_capped() {
        // (translated, IPv4 egress device, IPv6 ingress) → MTU.
        let rows: &[((u16, u32, u32), u16)] = &[
            ((1380, 1500, 1500), 1380),
            ((1580, 1500, 1500), 1480),
            ((1580, 1400, 1500), 1400),
            ((1580, 1500, 1450), 1430),
            ((1580, 1500, 1280), 1260),
            ((1580, 0, 0), 1580),
            ((1580, 0, 1450), 1430),
            ((1580, 1400, 0), 1400),
            ((0, 1500, 1500), 0),
            ((65535, u32::MAX, u32::MAX), 65535),
        ];
        for &((mtu4, out4, in6), want) in rows {
            assert_eq!(cap_6to4(mtu4, out4, in6), want, "{mtu4} {out4} {in6}");
        }
    }
}
