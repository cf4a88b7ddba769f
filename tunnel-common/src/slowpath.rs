//! The NAT64 slow path: packets the XDP translator has translated but
//! cannot send as one frame (RFC 7915 §4: a non-DF IPv4 packet too big for
//! the user's tunnel is fragmented), or cannot finish alone (a fragment
//! of an ICMP message, whose checksum needs the whole message). The
//! program hands them to the daemon through the `SLOWPATH` perf event
//! array: each sample is a [`SlowMeta`] followed by the packet (from its
//! IP header on), then the kernel's padding to 8 bytes, which `len`
//! excludes.

/// The reason a packet was handed over: a non-DF IPv4 packet (or
/// fragment) translated to an IPv6 fragment too big for its way on; the
/// daemon cuts it to `SlowMeta::mtu`.
pub const REASON_TOO_BIG: u32 = 1;

/// A fragment of an ICMPv4 message translated to an IPv6 fragment (RFC
/// 7915 §4.1), its ICMP type and checksum left as they came: ICMPv6's
/// checksum covers a pseudo-header with the whole message's length, which
/// no single fragment tells (§4.2). The daemon puts the message back
/// together, translates it and cuts it to `SlowMeta::mtu` as for
/// [`REASON_TOO_BIG`].
pub const REASON_ICMP_FRAGMENT: u32 = 2;

/// A fragment of an ICMPv6 message translated to an IPv4 fragment (RFC
/// 7915 §5.1.1), its ICMP type and checksum left as they came, with
/// `SlowMeta::addr_sum` the sum of the IPv6 addresses it had (the
/// pseudo-header the daemon checks the ICMPv6 checksum with). The daemon
/// puts the message back together, translates it and sends it as IPv4
/// fragments.
pub const REASON_ICMP6_FRAGMENT: u32 = 3;

/// `SlowMeta::tunnel` of a packet for no tunnel: a non-DF IPv4 packet
/// whose translation is bigger than `LOWEST_IPV6_MTU`, toward an IPv6
/// host the uplink reaches.
pub const NO_TUNNEL: u32 = u32::MAX;

/// The largest IPv6 packet a non-DF IPv4 packet is translated to in one
/// piece outside a tunnel: the IPv6 minimum MTU, which every IPv6 path
/// carries (RFC 7915 §4: such packets SHOULD be fragmented to fit it, as
/// Jool's `lowest-ipv6-mtu` and Tayga's `offlink-mtu` do by default). A
/// bigger one would meet an IPv6 hop too small for it with nobody to
/// learn the Packet Too Big: its IPv4 sender did not set DF.
pub const LOWEST_IPV6_MTU: u16 = 1280;

/// The head of each sample. `#[repr(C)]`, 24 bytes, no padding: written
/// by the program from its stack, read by the daemon from the perf ring.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlowMeta {
    /// `REASON_*`.
    pub reason: u32,
    /// The tunnel the packet is for.
    pub tunnel: u32,
    /// That tunnel's MTU when the packet was handed over.
    pub mtu: u32,
    /// Bytes of the packet that follow this header.
    pub len: u32,
    /// [`REASON_ICMP6_FRAGMENT`]: the sum of the 16-bit words of the IPv6
    /// source and destination addresses (not folded: at most 16 × 0xffff);
    /// 0 for the other reasons.
    pub addr_sum: u64,
}
const _: () = assert!(core::mem::size_of::<SlowMeta>() == META_LEN);

/// Bytes of [`SlowMeta`] on the wire.
pub const META_LEN: usize = 24;

impl SlowMeta {
    /// The meta and its packet from a sample's bytes (native byte order,
    /// as the program wrote them); `None` when the sample is shorter than
    /// its meta says.
    pub fn parse(sample: &[u8]) -> Option<(SlowMeta, &[u8])> {
        let word = |i: usize| -> Option<u32> {
            let b = sample.get(i * 4..i * 4 + 4)?;
            Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        let b = sample.get(16..24)?;
        let meta = SlowMeta {
            reason: word(0)?,
            tunnel: word(1)?,
            mtu: word(2)?,
            len: word(3)?,
            addr_sum: u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        };
        let packet = sample.get(META_LEN..META_LEN.checked_add(meta.len as usize)?)?;
        Some((meta, packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(meta: [u32; 4], packet: &[u8], pad: usize) -> Vec<u8> {
        let mut v: Vec<u8> = meta.iter().flat_map(|w| w.to_ne_bytes()).collect();
        v.extend_from_slice(&0x0001_2345u64.to_ne_bytes());
        v.extend_from_slice(packet);
        v.extend(std::iter::repeat_n(0xee, pad));
        v
    }

    #[test]
    fn parse_strips_the_padding() {
        let s = sample([REASON_TOO_BIG, 7, 1280, 3], &[1, 2, 3], 5);
        let (m, p) = SlowMeta::parse(&s).unwrap();
        assert_eq!(
            m,
            SlowMeta {
                reason: REASON_TOO_BIG,
                tunnel: 7,
                mtu: 1280,
                len: 3,
                addr_sum: 0x0001_2345,
            }
        );
        assert_eq!(p, &[1, 2, 3]);
    }

    #[test]
    fn parse_refuses_short_samples() {
        assert_eq!(SlowMeta::parse(&[0; 23]), None);
        let s = sample([REASON_TOO_BIG, 0, 1280, 4], &[1, 2, 3], 0);
        assert_eq!(SlowMeta::parse(&s), None);
        let s = sample([REASON_TOO_BIG, 0, 1280, u32::MAX], &[], 0);
        assert_eq!(SlowMeta::parse(&s), None);
    }
}
