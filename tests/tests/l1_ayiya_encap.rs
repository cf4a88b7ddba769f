//! L1: AYIYA encapsulation (`ayiya_encap` behind the router's jump,
//! `ayiya_encap_local` behind `tunnel_tc`'s): what goes to an AYIYA user
//! is signed and sent in UDP to where the user was last seen. Expected
//! frames are the spec's Example B byte for byte, or built here with
//! etherparse around a datagram signed by the host-side signer
//! (`tunnel_common::ayiya::sign`, checked on its own against the spec and
//! the `sha1` crate), never by the code under test. Tunnel C is the
//! spec's T5072 (prefix 2001:db8:2ff:1::/64, its password).

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{icmpv6::DestUnreachableCode, EtherType, IpNumber};
use tunnel_common::{
    ayiya::{
        sign::{encode, Key},
        AyiyaHdr, NH_IPV6, NH_NONE, OP_ECHO_REQUEST, OP_ECHO_REQUEST_FORWARD, OP_ECHO_RESPONSE,
        OP_FORWARD, PORT,
    },
    stats::{Drop, Event},
    tunnel::{Endpoint, ENDPOINT_V4, ENDPOINT_V6, ENDPOINT_VIA_AYIYA},
};
use tunnel_tests::{cases::*, packets::*, prog::*};

/// The examples' epoch (spec §1.10); Example B is signed a second later.
const EPOCH: u32 = 1_700_000_000;
const USER_C: &str = "2001:db8:2ff:1::2";
const POP_C: &str = "2001:db8:2ff:1::1";
const USER_A: &str = "2001:db8:1::2";
const CLIENT_PORT: u16 = 51680;
/// The PoP's address on the upstream link.
const POP_V6_OUTER: &str = "2001:db8:ffff::1";
/// The tunnel device, as in l1_tc.
const TNL_MAC: Mac = [2, 0, 0, 0, 2, 1];

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn key() -> Key {
    Key::from_password(PASSWORD_C)
}

fn mapped(a: Ipv4Addr) -> [u8; 16] {
    a.to_ipv6_mapped().octets()
}

/// Where C's user was seen: client A's address and port, over IPv4.
fn seen_at_a() -> Endpoint {
    Endpoint {
        remote: mapped(CLIENT_A),
        local: mapped(POP_V4),
        remote_port: CLIENT_PORT.to_be_bytes(),
        local_port: PORT.to_be_bytes(),
        family: ENDPOINT_V4,
        via: ENDPOINT_VIA_AYIYA,
        // Just now: a tunnel is DOWN once its user is silent for the
        // liveness time (l1_dynamic.rs).
        last_seen_ns: tunnelctl::datapath::clock::boot_ns().unwrap(),
        ..Endpoint::default()
    }
}

/// An address of x0's subnet with no neighbour entry.
const UNRESOLVED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);

/// Where C's user was seen: an address the PoP has not resolved yet.
fn seen_unresolved() -> Endpoint {
    Endpoint {
        remote: mapped(UNRESOLVED),
        ..seen_at_a()
    }
}

/// Where C's user was seen over IPv6: the upstream's address (the bed
/// resolves that neighbour on x1).
fn seen_over_v6() -> Endpoint {
    Endpoint {
        remote: UPSTREAM.octets(),
        local: a6(POP_V6_OUTER).octets(),
        family: ENDPOINT_V6,
        ..seen_at_a()
    }
}

/// Tunnel C with its user seen at `e`, the clock at `unix`.
fn c_seen_at(b: &mut ProgBed, e: Endpoint, unix: u32) {
    b.add_ayiya_c();
    b.set_unix_time(unix as u64);
    b.dp.learn_endpoint(TUNNEL_C, &e).unwrap();
}

/// Tunnel C, its user never seen, the clock at the examples' epoch.
fn c_never_seen(b: &mut ProgBed) {
    b.add_ayiya_c();
    b.set_unix_time(EPOCH as u64);
}

fn c_at_a(b: &mut ProgBed) {
    c_seen_at(b, seen_at_a(), EPOCH);
}

/// The datagram the PoP must send carrying `inner`: identity = C's `::1`,
/// op 1, next header 41, signed with C's key.
fn datagram(inner: &[u8], epoch: u32) -> Vec<u8> {
    let h = AyiyaHdr::new(OP_FORWARD, NH_IPV6, epoch, a6(POP_C).octets());
    encode(&h, inner, &key())
}

/// An echo request (op `op`) from C's user at client A, carrying
/// `payload` under next header `nh`.
fn echo_request_from_a(op: u8, nh: u8, payload: &[u8]) -> Vec<u8> {
    let h = AyiyaHdr::new(op, nh, EPOCH, a6(USER_C).octets());
    let udp = udp4(
        (CLIENT_A, CLIENT_PORT),
        (POP_V4, PORT),
        &encode(&h, payload, &key()),
    );
    eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &udp)
}

/// Its answer: op 4 from C's `::1`, the same next header and payload, back
/// to client A.
fn echo_response_to_a(nh: u8, payload: &[u8]) -> Vec<u8> {
    let h = AyiyaHdr::new(OP_ECHO_RESPONSE, nh, EPOCH, a6(POP_C).octets());
    let udp = udp4(
        (POP_V4, PORT),
        (CLIENT_A, CLIENT_PORT),
        &encode(&h, payload, &key()),
    );
    eth(X0_MAC, CLIENT_A_MAC, EtherType::IPV4, &udp)
}

/// `inner` to C's user at client A: out x0, from the PoP's 5072.
fn to_user_at_a(inner: &[u8]) -> Vec<u8> {
    let udp = udp4(
        (POP_V4, PORT),
        (CLIENT_A, CLIENT_PORT),
        &datagram(inner, EPOCH),
    );
    eth(X0_MAC, CLIENT_A_MAC, EtherType::IPV4, &udp)
}

/// `inner` to C's user over IPv6, out x1.
fn to_user_v6(inner: &[u8]) -> Vec<u8> {
    let udp = udp6(
        (a6(POP_V6_OUTER), PORT),
        (UPSTREAM, CLIENT_PORT),
        &datagram(inner, EPOCH),
    );
    eth(X1_MAC, UPSTREAM_MAC, EtherType::IPV6, &udp)
}

/// From the upstream, arriving on x1.
fn from_upstream(inner: &[u8]) -> Vec<u8> {
    eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, inner)
}

/// From 6in4 tunnel A's user, arriving on x0.
fn from_a(inner: &[u8]) -> Vec<u8> {
    eth(
        CLIENT_A_MAC,
        X0_MAC,
        EtherType::IPV4,
        &sixin4(V4::new(CLIENT_A, POP_V4), inner),
    )
}

/// A frame as the kernel hands it to the tunnel device's egress.
fn local(inner: &[u8]) -> Vec<u8> {
    eth(TNL_MAC, TNL_MAC, EtherType::IPV6, inner)
}

#[test]
fn encap_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let down = ipv6_echo(UPSTREAM, a6(USER_C), 64, 16);
    let to_c = ipv6_echo(UPSTREAM, a6(USER_C), 64, 32);
    let routed_c = ipv6_echo(UPSTREAM, a6("2001:db8:2ff:1::99"), 64, 8);
    let ect1 = with_ipv6_ecn(ipv6_echo(UPSTREAM, a6(USER_C), 64, 8), 1);
    // The largest inner packet tunnel C's MTU (1280) lets through.
    let full = ipv6_echo(UPSTREAM, a6(USER_C), 64, 1280 - 48);
    let over = ipv6_echo(UPSTREAM, a6(USER_C), 64, 1281 - 48);
    let a_to_c = ipv6_echo(a6(USER_A), a6(USER_C), 64, 24);
    let own_ping = ipv6_echo(a6(POP_V6_OUTER), a6(USER_C), 64, 16);
    let own_udp = ipv6(a6(POP_V6_OUTER), a6(USER_C), 64, IpNumber::UDP, &[0u8; 16]);
    // A fragment the PoP sends (the NAT64 slow path's): a Fragment header
    // (UDP, offset 0, M, id 9), then 16 bytes of the datagram.
    let own_fragment = ipv6(
        a6(POP_V6_OUTER),
        a6(USER_C),
        63,
        IpNumber(44),
        &[[17, 0, 0, 1, 0, 0, 0, 9].as_slice(), &[0x33u8; 16]].concat(),
    );
    let probe = ipv6_echo(a6(USER_C), UPSTREAM, 64, 24);
    let opaque: Vec<u8> = (0..37u8).collect();
    let cases =
        vec![
        Case::xdp(
            "op 2 (echo request): op 4 back, the same payload, signed",
            echo_request_from_a(OP_ECHO_REQUEST, NH_IPV6, &probe),
        )
        .on(x0)
        .setup(c_at_a)
        .tx(echo_response_to_a(NH_IPV6, &probe))
        .events(&[
            (Event::AyiyaEchoAnswered, 1),
            (Event::AyiyaAuthenticated, 1),
            (Event::Decap, 0),
            (Event::TunnelToTunnel, 0),
        ])
        .tunnel(TUNNEL_C, 0, 1),
        Case::xdp(
            "op 3 (echo request and forward), opaque payload: op 4 back, nothing forwarded",
            echo_request_from_a(OP_ECHO_REQUEST_FORWARD, NH_NONE, &opaque),
        )
        .on(x0)
        .setup(c_at_a)
        .tx(echo_response_to_a(NH_NONE, &opaque))
        .events(&[(Event::AyiyaEchoAnswered, 1), (Event::Forwarded, 0)]),
        Case::xdp(
            "op 2 with an empty payload",
            echo_request_from_a(OP_ECHO_REQUEST, NH_NONE, &[]),
        )
        .on(x0)
        .setup(c_at_a)
        .tx(echo_response_to_a(NH_NONE, &[]))
        .events(&[(Event::AyiyaEchoAnswered, 1)]),
        Case::xdp(
            "example a in, example b out: the echo reply to c's ::1, signed, byte for byte",
            eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &ayiya_example_a()),
        )
        .on(x0)
        .setup(|b| {
            b.add_ayiya_c();
            b.set_unix_time(EPOCH as u64 + 1);
        })
        .tx(eth(X0_MAC, CLIENT_A_MAC, EtherType::IPV4, &ayiya_example_b()))
        .events(&[
            (Event::AyiyaAuthenticated, 1),
            (Event::AyiyaEndpointMoved, 1),
            (Event::Decap, 1),
            (Event::EchoReply, 1),
            (Event::Encap, 1),
        ])
        .tunnel(TUNNEL_C, 1, 1),
        Case::xdp(
            "upstream → c's user: signed, to the learned address and port",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(c_at_a)
        .redirect(to_user_at_a(&hop_decremented(&to_c)))
        .events(&[(Event::Encap, 1), (Event::TunnelToTunnel, 0)])
        .tunnel(TUNNEL_C, 0, 1),
        Case::xdp(
            "to an address of c's /64 other than ::2",
            from_upstream(&routed_c),
        )
        .on(x1)
        .setup(c_at_a)
        .redirect(to_user_at_a(&hop_decremented(&routed_c)))
        .tunnel(TUNNEL_C, 0, 1),
        Case::xdp(
            "ecn copied to the outer ipv4 header (rfc 6040)",
            from_upstream(&ect1),
        )
        .on(x1)
        .setup(c_at_a)
        .redirect({
            let mut f = to_user_at_a(&hop_decremented(&ect1));
            // TOS byte, then the header checksum fixed by hand.
            f[14 + 1] = 1;
            let sum = etherparse::Ipv4Header::from_slice(&f[14..])
                .unwrap()
                .0
                .calc_header_checksum();
            f[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
            f
        }),
        Case::xdp(
            "1280-byte inner packet: the tunnel mtu, 21 blocks signed",
            from_upstream(&full),
        )
        .on(x1)
        .setup(c_at_a)
        .redirect(to_user_at_a(&hop_decremented(&full)))
        .tunnel(TUNNEL_C, 0, 1),
        Case::xdp(
            "1281 bytes: packet too big from c's ::1",
            from_upstream(&over),
        )
        .on(x1)
        .setup(c_at_a)
        .tx(eth(
            X1_MAC,
            UPSTREAM_MAC,
            EtherType::IPV6,
            &icmpv6_error(
                a6(POP_C),
                UPSTREAM,
                etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 },
                &over,
            ),
        ))
        .events(&[(Event::IcmpPacketTooBig, 1), (Event::Encap, 0)]),
        Case::xdp(
            "the user seen over ipv6: outer ipv6, udp checksum set",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(|b| c_seen_at(b, seen_over_v6(), EPOCH))
        .tx(to_user_v6(&hop_decremented(&to_c)))
        .tunnel(TUNNEL_C, 0, 1),
        Case::xdp(
            "6in4 user a → c's user: tunnel to tunnel across kinds, one pass",
            from_a(&a_to_c),
        )
        .on(x0)
        .setup(c_at_a)
        .tx(to_user_at_a(&hop_decremented(&a_to_c)))
        .events(&[
            (Event::Decap, 1),
            (Event::Encap, 1),
            (Event::TunnelToTunnel, 1),
        ])
        .tunnel(TUNNEL_A, 1, 0)
        .tunnel(TUNNEL_C, 0, 1),
        Case::xdp(
            "c's user never seen: down, unreachable (code 0) from c's ::1",
            from_upstream(&down),
        )
        .on(x1)
        .setup(c_never_seen)
        .tx(eth(
            X1_MAC,
            UPSTREAM_MAC,
            EtherType::IPV6,
            &icmpv6_error(
                a6(POP_C),
                UPSTREAM,
                etherparse::Icmpv6Type::DestinationUnreachable(DestUnreachableCode::NoRoute),
                &down,
            ),
        ))
        .events(&[(Event::IcmpUnreachable, 1), (Event::Encap, 0)]),
        Case::xdp(
            "down, and no icmp budget: a counted drop",
            from_upstream(&down),
        )
        .on(x1)
        .setup(|b| {
            c_never_seen(b);
            b.no_icmp_budget();
        })
        .dropped(Drop::TunnelDown),
        Case::xdp(
            "no clock from the daemon: nothing can be signed",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(|b| {
            b.add_ayiya_c();
            b.dp.learn_endpoint(TUNNEL_C, &seen_at_a()).unwrap();
        })
        .dropped(Drop::AyiyaClockOff)
        .charged_to(TUNNEL_C)
        .tunnel(TUNNEL_C, 0, 0),
        Case::xdp(
            "no key for the tunnel: nothing can be signed",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(|b| {
            c_at_a(b);
            b.dp.put_secret(TUNNEL_C, None).unwrap();
        })
        .dropped(Drop::NoSecret)
        .charged_to(TUNNEL_C),
        Case::xdp(
            "the user's next hop not resolved: the kernel gets the packet as it came",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(|b| c_seen_at(b, seen_unresolved(), EPOCH))
        .pass_unchanged()
        .events(&[(Event::FibNoNeigh, 1), (Event::Encap, 0)]),
        // The kernel writes the Ethernet header once it has resolved the
        // next hop (redirect_neigh): the addresses stay the tunnel device's.
        Case::tc(
            "the pop's own ping, the user's next hop not resolved: signed, the kernel resolves it",
            local(&own_ping),
        )
        .setup(|b| c_seen_at(b, seen_unresolved(), EPOCH))
        .redirect({
            let udp = udp4(
                (POP_V4, PORT),
                (UNRESOLVED, CLIENT_PORT),
                &datagram(&own_ping, EPOCH),
            );
            eth(TNL_MAC, TNL_MAC, EtherType::IPV4, &udp)
        })
        .events(&[(Event::FibNoNeigh, 1), (Event::LocalEncap, 1)])
        .tunnel(TUNNEL_C, 0, 1),
        Case::tc(
            "the pop's own ping to c's user: signed, redirected to the uplink",
            local(&own_ping),
        )
        .setup(c_at_a)
        .redirect(to_user_at_a(&own_ping))
        .events(&[(Event::Encap, 1), (Event::LocalEncap, 1)])
        .tunnel(TUNNEL_C, 0, 1),
        Case::tc(
            "the pop's own ipv6 fragment (nat64 slow path): its checksum is finished, signed",
            local(&own_fragment),
        )
        .setup(c_at_a)
        .redirect(to_user_at_a(&own_fragment))
        .events(&[(Event::Encap, 1), (Event::LocalEncap, 1)])
        .tunnel(TUNNEL_C, 0, 1),
        Case::tc(
            "the pop's own udp: its checksum is the device's to finish, unsignable",
            local(&own_udp),
        )
        .setup(c_at_a)
        .dropped(Drop::LocalUnsignable)
        .charged_to(TUNNEL_C)
        .tunnel(TUNNEL_C, 0, 0),
        Case::tc(
            "the pop's own ping to a user never seen: down",
            local(&own_ping),
        )
        .setup(c_never_seen)
        .dropped(Drop::TunnelDown)
        .charged_to(TUNNEL_C),
    ];
    check(&mut bed, cases);
}
