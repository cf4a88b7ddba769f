//! Counters: per-tunnel traffic, per-reason drops, and datapath events.

/// One tunnel's counters (`TUN_STATS`): one 64-byte slot per tunnel, a
/// cache line, shared by the CPUs and updated with atomic adds. Shared
/// rather than per CPU because a packet of a cold tunnel then misses once
/// (the slot) instead of twice (the per-CPU pointer, then this CPU's
/// copy), and the slot does not grow with the CPU count (per CPU it is 32
/// bytes times the CPUs). A tunnel's packets mostly arrive on one CPU (one
/// outer flow), so the adds rarely contend.
///
/// "rx" is what the PoP received from the user through the tunnel, "tx"
/// what it sent to the user; bytes are inner IPv6 bytes (header
/// included), as sit counts them. `errors` are the drops charged to the
/// tunnel (each also counted in `DROPS` by its reason): sixxsd's
/// per-tunnel error count, with the last reason and when.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub errors: u64,
    /// `CLOCK_BOOTTIME` ns of the last error, and its `Drop` reason.
    pub last_error_ns: u64,
    pub last_error: u32,
    pub _pad: u32,
    pub _reserved: u64,
}
const _: () = assert!(core::mem::size_of::<TunnelCounters>() == 64);

impl TunnelCounters {
    /// The drops charged to the tunnel.
    pub fn errors(&self) -> TunnelErrors {
        TunnelErrors {
            errors: self.errors,
            last_ns: self.last_error_ns,
            last: self.last_error,
        }
    }
}

/// A tunnel's drops, as [`TunnelCounters`] holds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelErrors {
    pub errors: u64,
    /// `CLOCK_BOOTTIME` ns of the last one, and its `Drop` reason.
    pub last_ns: u64,
    pub last: u32,
}

impl TunnelErrors {
    /// The last error's reason, if any.
    pub fn last_error(&self) -> Option<Drop> {
        (self.errors > 0)
            .then(|| Drop::ALL.get(self.last as usize).copied())
            .flatten()
    }
}

macro_rules! counter_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $v,)* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub const COUNT: u32 = Self::ALL.len() as u32;
            /// Stable snake_case name, used by metrics and the CLI.
            pub const fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
        }
    };
}

counter_enum! {
    /// Why a packet was dropped (`DROPS` index). Never reorder: append.
    Drop {
        /// Headers shorter than they claim, or a bad version/IHL.
        Malformed = "malformed",
        /// Proto 41 whose (local, remote) is no configured tunnel (RFC 4213 §3.6).
        UnknownTunnel = "unknown_tunnel",
        /// The tunnel exists but is disabled: what its user sends, what the
        /// PoP itself sends into it, traffic toward it whose ICMPv6
        /// administratively-prohibited answer was rate limited, and IPv4
        /// the NAT64 translator would have sent into it.
        TunnelDisabled = "tunnel_disabled",
        /// Inner source is not in the tunnel's /64 or routed prefixes.
        SpoofedSource = "spoofed_source",
        /// Inner source multicast, loopback, IPv4-mapped/-compatible, unspecified.
        InvalidSource = "invalid_source",
        /// Inner source or destination link-local, or destination multicast:
        /// the PoP does not run ND or multicast routing inside tunnels.
        LinkScope = "link_scope",
        /// Hop limit would reach 0 and the ICMPv6 error was rate limited.
        HopLimit = "hop_limit",
        /// Bigger than the tunnel MTU and the ICMPv6 error was rate limited.
        TooBig = "too_big",
        /// RFC 6040: outer CE on a not-ECN-capable inner packet.
        EcnCe = "ecn_ce_not_ect",
        /// Outer IPv4 header checksum wrong.
        BadChecksum = "bad_checksum",
        /// A helper that moves packet data failed (no head/tailroom).
        AdjustFailed = "adjust_failed",
        /// The packet would leave through a device not in TX_PORTS.
        NoTxPort = "no_tx_port",
        /// Not an echo request, for the PoP's tunnel address, and the
        /// port-unreachable answer was rate limited.
        PopAddress = "pop_address",
        /// A Neighbor Solicitation for a proxied target that fails RFC 4861
        /// §7.1.1 (hop limit, checksum, options, addresses).
        NdpInvalid = "ndp_invalid",
        /// Sent by the PoP's own kernel (TC egress) and bigger than the
        /// tunnel MTU: the route toward the tunnel should have carried it.
        LocalTooBig = "local_too_big",
        /// Sent by the PoP's own kernel toward a tunnel whose outer IPv4
        /// destination has no usable route (no route, forwarding disabled
        /// on the tunnel device, or an uplink MTU below tunnel MTU + 20).
        LocalFib = "local_fib",
        /// A tail call to a path's program failed: the program is not
        /// loaded (never in a complete datapath).
        JumpFailed = "jump_failed",
        /// A tunnel of a kind this build cannot encapsulate.
        UnknownKind = "unknown_kind",
        // AYIYA (UDP 5072): the classes of `ayiya::AyiyaError`, by its names.
        /// UDP payload shorter than the 44-byte AYIYA header.
        AyiyaShort = "ayiya_short",
        /// Not `41 52 1{0..3} {29|3b|04}`.
        AyiyaBadHeader = "ayiya_bad_header",
        /// No tunnel has this identity.
        AyiyaUnknownIdentity = "ayiya_unknown_identity",
        /// The identity belongs to a tunnel of another kind.
        AyiyaNotAyiya = "ayiya_not_ayiya",
        /// Next header 41 and the payload is not IPv6.
        AyiyaNotIpv6Payload = "ayiya_not_ipv6_payload",
        /// The payload's IPv6 length disagrees with the datagram's.
        AyiyaLengthMismatch = "ayiya_length_mismatch",
        /// Epoch more than 120 s off the PoP's clock (or the daemon has not
        /// set the clock yet).
        AyiyaClockOff = "ayiya_clock_off",
        /// Wrong signature: a wrong password, or a changed packet.
        AyiyaHashFail = "ayiya_hash_fail",
        /// Op 1 with a next header the PoP does not forward (4, 59), or an
        /// opcode a client does not send.
        AyiyaInvalidForward = "ayiya_invalid_forward",
        /// Toward a tunnel that is DOWN (no endpoint learned yet: an AYIYA
        /// user who has not sent a valid packet) and the ICMPv6
        /// unreachable answer was rate limited.
        TunnelDown = "tunnel_down",
        /// Toward a tunnel whose kind signs its packets and that has no
        /// key in `SECRETS` (never in a complete datapath).
        NoSecret = "no_secret",
        /// Through the tunnel device toward a kind that signs each packet
        /// (AYIYA), in a shape that cannot be signed there: a
        /// segmentation-offload packet (its segments are cut after the
        /// program), or the PoP's own TCP or UDP, whose checksum the
        /// device would finish after the signature (only the PoP's ICMPv6
        /// and its IPv6 fragments, the NAT64 slow path's, are complete at
        /// that point).
        LocalUnsignable = "local_unsignable",
        /// An authenticated AYIYA datagram whose signature was seen before
        /// (a replay, or a duplicate on the way): dropped before it can
        /// move the tunnel's endpoint or deliver twice.
        AyiyaReplay = "ayiya_replay",
        // NAT64 (stateless, RFC 7915).
        /// IPv6 toward pool6 whose source has no mapping (no EAM entry):
        /// a stateless translator has no IPv4 address to give it.
        Nat64NoMapping = "nat64_no_mapping",
        /// An IPv4 address behind the well-known prefix that is not
        /// global (RFC 6052 §3.1), either way.
        Nat64NonGlobal = "nat64_non_global",
        /// A packet the fast path does not translate yet (IPv6 extension
        /// headers, fragments, ICMP errors, IPv4 options, other protocols).
        Nat64Unsupported = "nat64_unsupported",
        /// IPv4 UDP with checksum 0 and `NAT64_F_UDP0_COMPUTE` off (RFC
        /// 7915 §4.5).
        Nat64UdpZeroChecksum = "nat64_udp_zero_checksum",
        /// IPv4 whose TTL would reach 0 in the translator.
        Nat64TtlExpired = "nat64_ttl_expired",
        /// Translated IPv6 bigger than the tunnel it is for, with DF, and
        /// the ICMPv4 fragmentation-needed answer rate limited (without
        /// DF it goes to the slow path: `nat64_slow_path`).
        Nat64TooBig = "nat64_too_big",
        /// An ICMP message RFC 7915 says to drop in translation (e.g.
        /// redirects, source quench, a parameter problem whose pointer has
        /// no counterpart), or an ICMP error quoting what the translator
        /// cannot map back.
        Nat64IcmpDropped = "nat64_icmp_dropped",
        /// A source route not used up, which RFC 7915 says not to
        /// translate: IPv4 with an unexpired loose or strict source route
        /// option (§4.1), IPv6 with a Routing header whose Segments Left
        /// is not 0 (§5.1). Counted when the error that answers it (ICMPv4
        /// source route failed, ICMPv6 parameter problem) cannot be sent:
        /// no translator source set, or rate limited.
        Nat64SourceRoute = "nat64_source_route",
        /// A packet for the NAT64 slow path (a non-DF packet too big for
        /// the user's tunnel, to be fragmented by the daemon) that could
        /// not be handed over: no reader (the daemon is not running) or
        /// its ring full. The ring's size bounds what is handed over.
        Nat64SlowPathLost = "nat64_slow_path_lost",
    }
}

counter_enum! {
    /// Things the datapath did (`EVENTS` index). Never reorder: append.
    Event {
        /// 6in4 packets decapsulated.
        Decap = "decap",
        /// IPv6 packets encapsulated into a 6in4 tunnel.
        Encap = "encap",
        /// Of those, packets that came out of another tunnel.
        TunnelToTunnel = "tunnel_to_tunnel",
        /// Decapsulated packets forwarded by XDP redirect or TX.
        Forwarded = "forwarded",
        /// Passed to the kernel because the next hop's MAC is unknown.
        FibNoNeigh = "fib_no_neigh",
        /// Passed to the kernel for another FIB result (local, unreachable…).
        FibPass = "fib_pass",
        /// Outer IPv4 fragments of proto 41, left to the kernel.
        OuterFragment = "outer_fragment",
        /// ICMPv6 time exceeded sent.
        IcmpTimeExceeded = "icmp_time_exceeded",
        /// ICMPv6 packet too big sent.
        IcmpPacketTooBig = "icmp_packet_too_big",
        /// Packets that were not ours, passed untouched.
        NotOurs = "not_ours",
        /// ICMPv6 echo requests to a tunnel's `::1` answered.
        EchoReply = "echo_reply",
        /// ICMPv6 destination unreachable sent.
        IcmpUnreachable = "icmp_unreachable",
        /// Neighbor Advertisements sent for proxied targets.
        NdpAdvertised = "ndp_advertised",
        /// Of `encap`, packets the PoP's own kernel sent into a tunnel (TC
        /// egress of the tunnel device).
        LocalEncap = "local_encap",
        /// Next hops taken from the daemon's next-hop cache.
        NexthopCached = "nexthop_cached",
        /// Next hops asked of the kernel's FIB (`bpf_fib_lookup`): not
        /// cached (no route in the cache, an on-link destination, a
        /// gateway not resolved, a packet over the cached MTU).
        NexthopKernel = "nexthop_kernel",
        /// AYIYA datagrams authenticated (any opcode).
        AyiyaAuthenticated = "ayiya_authenticated",
        /// Of those, beats (op 0): the endpoint is learned, nothing else.
        AyiyaBeat = "ayiya_beat",
        /// Of those, the user's address or port changed (a NAT rebinding,
        /// a new client): the tunnel follows at once.
        AyiyaEndpointMoved = "ayiya_endpoint_moved",
        /// AYIYA echo requests (ops 2 and 3) answered with an echo response
        /// (op 4, the same payload), which sixxsd does not send.
        AyiyaEchoAnswered = "ayiya_echo_answered",
        /// IPv6 packets translated to IPv4 (RFC 7915 §5).
        Nat64To4 = "nat64_6to4",
        /// Their bytes, from the IPv6 header on (as they arrived).
        Nat64To4Bytes = "nat64_6to4_bytes",
        /// IPv4 packets translated to IPv6 (RFC 7915 §4).
        Nat64To6 = "nat64_4to6",
        /// Their bytes, from the IPv4 header on (as they arrived).
        Nat64To6Bytes = "nat64_4to6_bytes",
        /// Of `nat64_4to6`, packets for a user inside a tunnel.
        Nat64IntoTunnel = "nat64_into_tunnel",
        /// ICMPv4 errors the translator sent to IPv4 senders
        /// (fragmentation needed toward a tunnel's smaller MTU).
        Nat64IcmpSent = "nat64_icmp4_sent",
        /// ICMPv4 errors translated to ICMPv6, quoted packet included.
        Nat64ErrorTo6 = "nat64_error_4to6",
        /// ICMPv6 errors translated to ICMPv4, quoted packet included.
        Nat64ErrorTo4 = "nat64_error_6to4",
        /// Of `nat64_6to4`, packets whose IPv4 destination is another IPv6
        /// host's mapping, translated back at once (RFC 7757 §4.2).
        Nat64Hairpin = "nat64_hairpin",
        /// IPv4 packets whose options were stripped before translation
        /// (RFC 7915 §4.1: options are ignored).
        Nat64OptionsStripped = "nat64_options_stripped",
        /// Replies to the latency pinger taken at a tunnel's `::1`, their
        /// round trip stamped into `PINGS`.
        PingReply = "ping_reply",
        /// IPv6 packets whose Hop-by-Hop, Destination Options or spent
        /// Routing headers were stripped before translation (RFC 7915
        /// §5.1: they are ignored).
        Nat64ExtStripped = "nat64_ext_stripped",
        /// ICMPv6 parameter problems sent (a Routing header with segments
        /// left toward pool6).
        IcmpParameterProblem = "icmp_parameter_problem",
        /// Of `nat64_into_tunnel`, packets handed to the daemon's slow
        /// path (a non-DF packet too big for the tunnel: the daemon sends
        /// it as IPv6 fragments, RFC 7915 §4).
        Nat64SlowPath = "nat64_slow_path",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_errors_name_their_last_reason() {
        let mut e = TunnelErrors::default();
        assert_eq!(e.last_error(), None);
        e.last = Drop::AyiyaHashFail as u32;
        assert_eq!(e.last_error(), None, "no error counted yet");
        e.errors = 2;
        assert_eq!(e.last_error(), Some(Drop::AyiyaHashFail));
        e.last = 9999;
        assert_eq!(e.last_error(), None);
    }

    #[test]
    fn counts_and_names_are_unique() {
        assert_eq!(Drop::COUNT as usize, Drop::ALL.len());
        for (i, d) in Drop::ALL.iter().enumerate() {
            assert_eq!(*d as usize, i);
        }
        let mut names: Vec<_> = Drop::ALL.iter().map(|d| d.name()).collect();
        names.extend(Event::ALL.iter().map(|e| e.name()));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    /// The data path's AYIYA drop reasons are the classes the host-side
    /// codec names (`ayiya::AyiyaError`): one vocabulary for the counters,
    /// the client's log and the docs.
    #[test]
    fn ayiya_drops_are_ayiya_error_classes() {
        let classes: Vec<&str> = crate::ayiya::AyiyaError::ALL
            .iter()
            .map(|e| e.name())
            .collect();
        let drops: Vec<&str> = Drop::ALL
            .iter()
            .map(|d| d.name())
            .filter(|n| n.starts_with("ayiya_"))
            .collect();
        assert!(drops.len() >= 8, "{drops:?}");
        for d in drops {
            assert!(classes.contains(&d), "drop {d} is no AyiyaError class");
        }
    }
}
