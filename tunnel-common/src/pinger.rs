//! The latency pinger's wire format, shared by the daemon (which sends the
//! echo requests from a tunnel's `::1` to its `::2`) and the data path
//! (which takes the replies to `::1` and stamps their round trip into
//! `PINGS`). As sixxsd's pinger: one echo request per UP tunnel per
//! interval, identifier 0x4242, a payload the PoP recognises.

/// ICMPv6 echo identifier of the pinger's requests (sixxsd's).
pub const ECHO_ID: u16 = 0x4242;
/// The payload starts with this, then the send time (`CLOCK_BOOTTIME` ns,
/// big-endian), then `TEXT`.
pub const MAGIC: [u8; 8] = *b"tnlping1";
/// What a user who captures the pings reads.
pub const TEXT: &[u8] = b"latency probe from your tunnel PoP";
/// Offsets in the ICMPv6 message (type, code, checksum, id, seq, payload).
pub const OFF_ID: usize = 4;
pub const OFF_SEQ: usize = 6;
pub const OFF_MAGIC: usize = 8;
pub const OFF_SENT: usize = 16;
/// Length of the ICMPv6 message the daemon sends.
pub const MESSAGE_LEN: usize = OFF_SENT + 8 + TEXT.len();

/// Value of `PINGS` (an array indexed by tunnel id): the last reply of
/// the tunnel's user to the pinger. Written by the data path, read and
/// never written by the daemon (which matches `seq` to what it sent).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PingReply {
    /// The echo sequence number replied to.
    pub seq: u16,
    pub _pad: [u8; 6],
    /// `CLOCK_BOOTTIME` at the reply minus the send time in its payload.
    pub rtt_ns: u64,
}
const _: () = assert!(core::mem::size_of::<PingReply>() == 16);
