//! The NDP proxy's wire rules (RFC 4861): which Neighbor Solicitations are
//! valid (§7.1.1), and the Neighbor Advertisement a proxy sends back
//! (§7.2.4, §7.2.8). Pure functions over fixed-size buffers, so the eBPF
//! program and the host tests run the same code.

use crate::csum;

pub const TYPE_NEIGHBOR_SOLICITATION: u8 = 135;
pub const TYPE_NEIGHBOR_ADVERTISEMENT: u8 = 136;
const NEXT_HEADER_ICMPV6: u8 = 58;
/// Hop limit of every ND message; anything else came through a router.
pub const ND_HOP_LIMIT: u8 = 255;

const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;

/// NS header: type, code, checksum, reserved (4), target (16).
pub const NS_LEN: usize = 24;
/// Longest NS the datapath answers: the header and five 8-byte options
/// (source link-layer address, nonce, ...). Longer ones (SEND, RFC 3971)
/// are left to the kernel.
pub const NS_MAX: usize = 64;
/// NA: header (24) and one target link-layer address option (8).
pub const NA_LEN: usize = 32;

/// NA flags (RFC 4861 §4.4), in the first byte after the checksum.
pub const NA_ROUTER: u8 = 0x80;
pub const NA_SOLICITED: u8 = 0x40;
pub const NA_OVERRIDE: u8 = 0x20;

/// `PROXIES` key: the interface the NS arrived on and the target address.
/// Aligned to 8, padding explicit and zero, as `nets::NetKey` (the data
/// path builds it on its stack with 64-bit stores).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProxyKey {
    pub ifindex: u32,
    pub _pad: u32,
    pub target: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<ProxyKey>() == 24);

/// `PROXIES` value flag: answer with the Router flag set (the target is a
/// router, e.g. a user's CPE that routes a /48).
pub const PROXY_F_ROUTER: u32 = 1 << 0;

/// `UPLINKS` value: what the datapath must know about an interface it
/// answers on and cannot ask the kernel for.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkInfo {
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<UplinkInfo>() == 8);

/// ff02::1:ffXX:XXXX, the solicited-node group of `target` (RFC 4291 §2.7.1).
#[inline(always)]
pub fn solicited_node(target: &[u8; 16]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xff;
    a[1] = 0x02;
    a[11] = 0x01;
    a[12] = 0xff;
    a[13] = target[13];
    a[14] = target[14];
    a[15] = target[15];
    a
}

/// ff02::1, where answers to Duplicate Address Detection go.
pub const ALL_NODES: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// Why a solicitation is not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsError {
    /// Not type 135 code 0, hop limit not 255, bad length or checksum,
    /// an option of length 0 or past the end, multicast target, a
    /// destination that is neither the target nor its solicited-node group,
    /// or a DAD probe with a source link-layer address option.
    Invalid,
    /// Longer than [`NS_MAX`]: valid perhaps, but not for the datapath.
    TooLong,
}

/// An NS that passed every check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Solicitation {
    pub target: [u8; 16],
    /// Sent from `::` (Duplicate Address Detection): the answer goes to
    /// all-nodes, without the Solicited flag.
    pub dad: bool,
}

/// The IPv6 header fields an NS check needs.
#[derive(Clone, Copy)]
pub struct NsIp<'a> {
    pub src: &'a [u8; 16],
    pub dst: &'a [u8; 16],
    pub hop_limit: u8,
    pub payload_len: usize,
}

/// Checks an NS (RFC 4861 §7.1.1). `body` holds the ICMPv6 message, the
/// first `ip.payload_len` bytes of it, zero-padded to [`NS_MAX`] (zeros do not
/// change the checksum, so the sum runs over the whole fixed buffer).
#[inline(always)]
pub fn check_solicitation(ip: NsIp, body: &[u8; NS_MAX]) -> Result<Solicitation, NsError> {
    let len = ip.payload_len;
    if len > NS_MAX {
        return Err(NsError::TooLong);
    }
    // Options come in units of 8 bytes, so a valid NS is a multiple of 8.
    if ip.hop_limit != ND_HOP_LIMIT || len < NS_LEN || !len.is_multiple_of(8) {
        return Err(NsError::Invalid);
    }
    if body[0] != TYPE_NEIGHBOR_SOLICITATION || body[1] != 0 {
        return Err(NsError::Invalid);
    }
    let sum = csum::pseudo_v6(ip.src, ip.dst, len as u32, NEXT_HEADER_ICMPV6);
    if csum::fold(csum::add_bytes(sum, body)) != 0xffff {
        return Err(NsError::Invalid);
    }
    let mut target = [0u8; 16];
    target.copy_from_slice(&body[8..NS_LEN]);
    if target[0] == 0xff {
        return Err(NsError::Invalid);
    }
    let group = solicited_node(&target);
    if *ip.dst != target && *ip.dst != group {
        return Err(NsError::Invalid);
    }
    let dad = *ip.src == [0u8; 16];
    // DAD probes go to the solicited-node group and carry no source
    // link-layer address (there is no address to cache yet).
    if dad && *ip.dst != group {
        return Err(NsError::Invalid);
    }
    let has_source_ll = walk_options(body, len)?;
    if dad && has_source_ll {
        return Err(NsError::Invalid);
    }
    Ok(Solicitation { target, dad })
}

/// Walks the options after the 24-byte header; every option must have a
/// non-zero length and end inside the message. Returns whether a source
/// link-layer address option is present.
///
/// Options are multiples of 8 bytes and so is a valid message, so every
/// option starts at one of the fixed slots 24, 32, … 56. Each slot is
/// visited with a constant offset (no variable-offset reads of the stack
/// buffer, which older verifiers refuse); `next` says where the next
/// option starts, and slots inside a longer option are skipped.
#[inline(always)]
fn walk_options(body: &[u8; NS_MAX], len: usize) -> Result<bool, NsError> {
    let mut next = NS_LEN;
    let mut source_ll = false;
    option_slot::<24>(body, len, &mut next, &mut source_ll)?;
    option_slot::<32>(body, len, &mut next, &mut source_ll)?;
    option_slot::<40>(body, len, &mut next, &mut source_ll)?;
    option_slot::<48>(body, len, &mut next, &mut source_ll)?;
    option_slot::<56>(body, len, &mut next, &mut source_ll)?;
    const { assert!(NS_MAX == 64 && NS_LEN == 24) };
    Ok(source_ll)
}

/// The option slot at byte `AT`, if an option starts there.
#[inline(always)]
fn option_slot<const AT: usize>(
    body: &[u8; NS_MAX],
    len: usize,
    next: &mut usize,
    source_ll: &mut bool,
) -> Result<(), NsError> {
    if AT >= len || AT != *next {
        return Ok(());
    }
    let (kind, units) = (body[AT], body[AT + 1]);
    let opt_len = units as usize * 8;
    if opt_len == 0 || AT + opt_len > len {
        return Err(NsError::Invalid);
    }
    *source_ll |= kind == OPT_SOURCE_LL;
    *next = AT + opt_len;
    Ok(())
}

/// Where an answer goes and how it is flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advert {
    pub dst: [u8; 16],
    pub flags: u8,
}

/// RFC 4861 §7.2.4 and §7.2.8: a proxy answers a unicast-sourced NS to its
/// source with Solicited set, a DAD probe to all-nodes without it; a proxy
/// never sets Override, so the owner's own answer wins.
#[inline(always)]
pub fn advert_for(ns: &Solicitation, ns_src: &[u8; 16], proxy_flags: u32) -> Advert {
    let router = if proxy_flags & PROXY_F_ROUTER != 0 {
        NA_ROUTER
    } else {
        0
    };
    if ns.dad {
        Advert {
            dst: ALL_NODES,
            flags: router,
        }
    } else {
        Advert {
            dst: *ns_src,
            flags: router | NA_SOLICITED,
        }
    }
}

/// The NA's ICMPv6 message, checksum filled in, sent from the target
/// address to `adv.dst`, with a target link-layer address option for `mac`.
#[inline(always)]
pub fn advertisement(target: &[u8; 16], adv: &Advert, mac: &[u8; 6]) -> [u8; NA_LEN] {
    let mut m = [0u8; NA_LEN];
    m[0] = TYPE_NEIGHBOR_ADVERTISEMENT;
    m[4] = adv.flags;
    m[8..24].copy_from_slice(target);
    m[24] = OPT_TARGET_LL;
    m[25] = 1;
    m[26..32].copy_from_slice(mac);
    let sum = csum::pseudo_v6(target, &adv.dst, NA_LEN as u32, NEXT_HEADER_ICMPV6);
    let check = !csum::fold(csum::add_bytes(sum, &m));
    m[2..4].copy_from_slice(&check.to_be_bytes());
    m
}

/// The Ethernet destination of an IPv6 multicast address (RFC 2464 §7).
#[inline(always)]
pub fn multicast_mac(dst: &[u8; 16]) -> [u8; 6] {
    [0x33, 0x33, dst[12], dst[13], dst[14], dst[15]]
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use etherparse::Icmpv6Type;

    use super::*;

    fn o(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];

    /// An NS built by hand, checksum by etherparse.
    fn ns(src: &[u8; 16], dst: &[u8; 16], target: &[u8; 16], options: &[u8]) -> Vec<u8> {
        let mut m = vec![TYPE_NEIGHBOR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(target);
        m.extend_from_slice(options);
        let ty = Icmpv6Type::Unknown {
            type_u8: TYPE_NEIGHBOR_SOLICITATION,
            code_u8: 0,
            bytes5to8: [0; 4],
        };
        let c = ty.calc_checksum(*src, *dst, &m[8..]).unwrap();
        m[2..4].copy_from_slice(&c.to_be_bytes());
        m
    }

    fn check(src: &[u8; 16], dst: &[u8; 16], hl: u8, m: &[u8]) -> Result<Solicitation, NsError> {
        let mut body = [0u8; NS_MAX];
        let n = m.len().min(NS_MAX);
        body[..n].copy_from_slice(&m[..n]);
        let ip = NsIp {
            src,
            dst,
            hop_limit: hl,
            payload_len: m.len(),
        };
        check_solicitation(ip, &body)
    }

    #[test]
    fn solicitation_table() {
        let t = o("2001:db8:1::2");
        let sn = solicited_node(&t);
        assert_eq!(sn, o("ff02::1:ff00:2"));
        let rtr = o("fe80::1");
        let sll = [OPT_SOURCE_LL, 1, 2, 0, 0, 0, 0, 0x22];
        let nonce = [14u8, 1, 1, 2, 3, 4, 5, 6];
        let zero_opt = [OPT_SOURCE_LL, 0, 0, 0, 0, 0, 0, 0];
        let long_opt = [OPT_SOURCE_LL, 2, 0, 0, 0, 0, 0, 0];
        let ok = |dad| Ok(Solicitation { target: t, dad });
        let mut bad_sum = ns(&rtr, &sn, &t, &sll);
        bad_sum[3] ^= 1;
        let mut code1 = ns(&rtr, &sn, &t, &sll);
        code1[1] = 1;
        let many: Vec<u8> = (0..6).flat_map(|_| nonce).collect();
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            [u8; 16],
            [u8; 16],
            u8,
            Vec<u8>,
            Result<Solicitation, NsError>,
        )> = vec![
            (
                "multicast, sll",
                rtr,
                sn,
                255,
                ns(&rtr, &sn, &t, &sll),
                ok(false),
            ),
            (
                "unicast nud, no options",
                rtr,
                t,
                255,
                ns(&rtr, &t, &t, &[]),
                ok(false),
            ),
            (
                "sll and nonce",
                rtr,
                sn,
                255,
                ns(&rtr, &sn, &t, &[sll, nonce].concat()),
                ok(false),
            ),
            (
                "dad with nonce",
                [0; 16],
                sn,
                255,
                ns(&[0; 16], &sn, &t, &nonce),
                ok(true),
            ),
            (
                "dad with sll",
                [0; 16],
                sn,
                255,
                ns(&[0; 16], &sn, &t, &sll),
                Err(NsError::Invalid),
            ),
            (
                "dad to unicast",
                [0; 16],
                t,
                255,
                ns(&[0; 16], &t, &t, &[]),
                Err(NsError::Invalid),
            ),
            (
                "hop limit 254",
                rtr,
                sn,
                254,
                ns(&rtr, &sn, &t, &sll),
                Err(NsError::Invalid),
            ),
            ("bad checksum", rtr, sn, 255, bad_sum, Err(NsError::Invalid)),
            ("code 1", rtr, sn, 255, code1, Err(NsError::Invalid)),
            (
                "zero-length option",
                rtr,
                sn,
                255,
                ns(&rtr, &sn, &t, &zero_opt),
                Err(NsError::Invalid),
            ),
            (
                "option past the end",
                rtr,
                sn,
                255,
                ns(&rtr, &sn, &t, &long_opt),
                Err(NsError::Invalid),
            ),
            (
                "short",
                rtr,
                sn,
                255,
                ns(&rtr, &sn, &t, &[])[..20].to_vec(),
                Err(NsError::Invalid),
            ),
            (
                "not a multiple of 8",
                rtr,
                sn,
                255,
                ns(&rtr, &sn, &t, &[1, 1, 0, 0]),
                Err(NsError::Invalid),
            ),
            (
                "other group",
                rtr,
                o("ff02::1:ff00:3"),
                255,
                ns(&rtr, &o("ff02::1:ff00:3"), &t, &[]),
                Err(NsError::Invalid),
            ),
            (
                "other unicast",
                rtr,
                o("2001:db8:1::3"),
                255,
                ns(&rtr, &o("2001:db8:1::3"), &t, &[]),
                Err(NsError::Invalid),
            ),
            (
                "multicast target",
                rtr,
                solicited_node(&o("ff02::5")),
                255,
                ns(&rtr, &solicited_node(&o("ff02::5")), &o("ff02::5"), &[]),
                Err(NsError::Invalid),
            ),
            (
                "too long",
                rtr,
                sn,
                255,
                ns(&rtr, &sn, &t, &many),
                Err(NsError::TooLong),
            ),
        ];
        for (name, src, dst, hl, m, want) in cases {
            assert_eq!(check(&src, &dst, hl, &m), want, "{name}");
        }
    }

    #[test]
    fn advertisement_checks_out_with_etherparse() {
        let t = o("2001:db8:1::2");
        let src = o("fe80::1");
        for (dad, flags, want_flags) in [
            (false, 0, NA_SOLICITED),
            (false, PROXY_F_ROUTER, NA_SOLICITED | NA_ROUTER),
            (true, 0, 0),
        ] {
            let ns = Solicitation { target: t, dad };
            let adv = advert_for(&ns, &src, flags);
            assert_eq!(adv.flags, want_flags);
            assert_eq!(adv.dst, if dad { ALL_NODES } else { src });
            let m = advertisement(&t, &adv, &MAC);
            let ty = Icmpv6Type::Unknown {
                type_u8: TYPE_NEIGHBOR_ADVERTISEMENT,
                code_u8: 0,
                bytes5to8: [want_flags, 0, 0, 0],
            };
            let c = ty.calc_checksum(t, adv.dst, &m[8..]).unwrap();
            assert_eq!(u16::from_be_bytes([m[2], m[3]]), c);
            assert_eq!(&m[8..24], &t);
            assert_eq!(&m[24..32], &[2, 1, 2, 0, 0, 0, 0, 0x11]);
        }
        assert_eq!(multicast_mac(&ALL_NODES), [0x33, 0x33, 0, 0, 0, 1]);
    }
}
