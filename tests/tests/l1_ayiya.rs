//! L1: AYIYA decapsulation (`ayiya_decap`, behind `tunnel_xdp`'s jump),
//! one case per check of the receive path: the spec's worked examples
//! byte for byte (ayiya-spec.md §1.10), datagrams signed by the host-side
//! signer (`tunnel_common::ayiya::sign`, tested on its own against the
//! spec), then every way a datagram is refused. Tunnel C is the spec's
//! T5072: prefix 2001:db8:2ff:1::/64, its password, the clock at the
//! examples' epoch.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::EtherType;
use tunnel_common::{
    ayiya::{
        sign::{beat, encode, Key},
        AyiyaHdr, NH_IPV4, NH_IPV6, NH_NONE, OP_FORWARD, PORT,
    },
    stats::{Drop, Event},
    tunnel::{Endpoint, ENDPOINT_V4, ENDPOINT_V6, ENDPOINT_VIA_AYIYA},
};
use tunnel_tests::{
    cases::{check, x0, Case},
    packets::{eth, from_hex, hop_decremented, ipv6_echo, udp4, udp6},
    prog::{
        ProgBed, CLIENT_A, CLIENT_A_MAC, PASSWORD_C, POP_V4, TUNNEL_C, UPSTREAM, UPSTREAM_MAC,
        X0_MAC, X1_MAC,
    },
};

/// The examples' epoch (§1.10), the clock every case runs at.
const EPOCH: u32 = 1_700_000_000;
const USER_C: &str = "2001:db8:2ff:1::2";
const POP_C: &str = "2001:db8:2ff:1::1";
const CLIENT_PORT: u16 = 51680;

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn key() -> Key {
    Key::from_password(PASSWORD_C)
}

/// Tunnel C installed, the clock at the examples' epoch.
fn at_epoch(b: &mut ProgBed) {
    b.add_ayiya_c();
    b.set_unix_time(EPOCH as u64);
}

/// A signed op-1 datagram carrying `inner`, from tunnel C's user.
fn forward(inner: &[u8], epoch: u32) -> Vec<u8> {
    let h = AyiyaHdr::new(OP_FORWARD, NH_IPV6, epoch, a6(USER_C).octets());
    encode(&h, inner, &key())
}

/// `datagram` from client A's address and port, over IPv4, arriving on x0.
fn from_client(datagram: &[u8]) -> Vec<u8> {
    let udp = udp4((CLIENT_A, CLIENT_PORT), (POP_V4, PORT), datagram);
    eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &udp)
}

/// The same over IPv6, from an address of the upstream link.
fn from_client_v6(datagram: &[u8]) -> Vec<u8> {
    let udp = udp6(
        (UPSTREAM, CLIENT_PORT),
        (a6("2001:db8:ffff::1"), PORT),
        datagram,
    );
    eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, &udp)
}

/// The decapsulated packet, forwarded out x1 to upstream.
fn forwarded_upstream(inner: &[u8]) -> Vec<u8> {
    eth(
        X1_MAC,
        UPSTREAM_MAC,
        EtherType::IPV6,
        &hop_decremented(inner),
    )
}

fn echo_c_to_upstream(len: usize) -> Vec<u8> {
    ipv6_echo(a6(USER_C), UPSTREAM, 64, len)
}

/// The beat of §1.10 for C's identity at the examples' epoch.
fn example_beat() -> Vec<u8> {
    from_hex(
        "41 52 10 3b 65 53 f1 00 20 01 0d b8 02 ff 00 01 00 00 00 00 00 00 00 02
         80 28 54 7c 30 24 92 ed d2 bd 87 d6 00 e7 b6 65 05 27 a2 58",
    )
}

/// What a datagram from client A teaches tunnel C.
fn learned_from_a() -> Endpoint {
    let mapped = |a: Ipv4Addr| Ipv4Addr::to_ipv6_mapped(&a).octets();
    Endpoint {
        remote: mapped(CLIENT_A),
        local: mapped(POP_V4),
        remote_port: CLIENT_PORT.to_be_bytes(),
        local_port: PORT.to_be_bytes(),
        family: ENDPOINT_V4,
        via: ENDPOINT_VIA_AYIYA,
        ..Endpoint::default()
    }
}

fn auth(n: u64) -> [(Event, u64); 1] {
    [(Event::AyiyaAuthenticated, n)]
}

#[test]
fn decap_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let good = echo_c_to_upstream(32);
    // 1428 bytes: the largest inner packet over a 1500-byte IPv4 path,
    // 23 blocks of hashing.
    let big = echo_c_to_upstream(1428 - 48);
    let mut flipped = forward(&good, EPOCH);
    *flipped.last_mut().unwrap() ^= 1;
    let mut trailing = forward(&good, EPOCH);
    trailing.push(0);
    let wrong_key = encode(
        &AyiyaHdr::new(OP_FORWARD, NH_IPV6, EPOCH, a6(USER_C).octets()),
        &good,
        &Key::from_password("not the password"),
    );
    let stranger = encode(
        &AyiyaHdr::new(OP_FORWARD, NH_IPV6, EPOCH, a6("2001:db8:2ff:9::2").octets()),
        &good,
        &key(),
    );
    let spoofed = ipv6_echo(a6("2001:db8:1::2"), UPSTREAM, 64, 32);
    let mut bad_header = forward(&good, EPOCH);
    bad_header[2] = 0x15; // opcode 5 (MOTD): not a client's
    let ipv4_inside = encode(
        &AyiyaHdr::new(OP_FORWARD, NH_IPV4, EPOCH, a6(USER_C).octets()),
        &good,
        &key(),
    );
    let cases = vec![
        // Example A, decapsulated and answered with Example B: l1_ayiya_encap.
        Case::xdp(
            "example beat: authenticated, endpoint learned, consumed",
            from_client(&example_beat()),
        )
        .on(x0)
        .setup(at_epoch)
        .consumed()
        .events(&[
            (Event::AyiyaAuthenticated, 1),
            (Event::AyiyaBeat, 1),
            (Event::AyiyaEndpointMoved, 1),
        ])
        .tunnel(TUNNEL_C, 0, 0),
        Case::xdp(
            "beat signed here: the same bytes as the spec's",
            from_client(&beat(a6(USER_C).octets(), EPOCH, &key())),
        )
        .on(x0)
        .setup(at_epoch)
        .consumed()
        .events(&[(Event::AyiyaBeat, 1)]),
        Case::xdp(
            "op 1: decap, fib, redirect to the upstream link",
            from_client(&forward(&good, EPOCH)),
        )
        .on(x0)
        .setup(at_epoch)
        .redirect(forwarded_upstream(&good))
        .events(&[auth(1)[0], (Event::Decap, 1), (Event::Forwarded, 1)])
        .tunnel(TUNNEL_C, 1, 0),
        Case::xdp(
            "the same op 1 datagram again: a replay, dropped",
            from_client(&forward(&good, EPOCH)),
        )
        .on(x0)
        .setup(|b| {
            at_epoch(b);
            let first = from_client(&forward(&echo_c_to_upstream(32), EPOCH));
            let x0 = b.x0;
            let run = b.run(&first, x0).unwrap();
            assert_eq!(
                run.action,
                tunnel_tests::prog::XDP_REDIRECT,
                "the first one passes"
            );
        })
        .dropped(Drop::AyiyaReplay)
        .charged_to(TUNNEL_C)
        .tunnel(TUNNEL_C, 1, 0),
        Case::xdp(
            "op 1, 1428-byte inner packet: 23 blocks hashed",
            from_client(&forward(&big, EPOCH)),
        )
        .on(x0)
        .setup(at_epoch)
        .redirect(forwarded_upstream(&big))
        .events(&auth(1))
        .tunnel(TUNNEL_C, 1, 0),
        Case::xdp("op 1 over IPv6", from_client_v6(&forward(&good, EPOCH)))
            .on(x0)
            .setup(at_epoch)
            .redirect(forwarded_upstream(&good))
            .events(&auth(1))
            .tunnel(TUNNEL_C, 1, 0),
        Case::xdp(
            "epoch 120 s behind: inside the window",
            from_client(&forward(&good, EPOCH - 120)),
        )
        .on(x0)
        .setup(|b| {
            b.add_ayiya_c();
            b.set_unix_time(EPOCH as u64 - 1); // the case may start a second later
        })
        .redirect(forwarded_upstream(&good))
        .events(&auth(1)),
        Case::xdp(
            "epoch 122 s ahead: clock off",
            from_client(&forward(&good, EPOCH + 122)),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::AyiyaClockOff)
        .charged_to(TUNNEL_C),
        Case::xdp(
            "epoch 122 s behind: clock off",
            from_client(&forward(&good, EPOCH - 122)),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::AyiyaClockOff),
        Case::xdp(
            "the daemon has not set the clock: every epoch is off",
            from_client(&forward(&good, EPOCH)),
        )
        .on(x0)
        .setup(|b| b.add_ayiya_c())
        .dropped(Drop::AyiyaClockOff),
        Case::xdp(
            "one bit flipped in the payload: hash fail",
            from_client(&flipped),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::AyiyaHashFail)
        .charged_to(TUNNEL_C)
        .tunnel(TUNNEL_C, 0, 0),
        Case::xdp(
            "signed with another password: hash fail",
            from_client(&wrong_key),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::AyiyaHashFail)
        .charged_to(TUNNEL_C),
        Case::xdp(
            "op 1 whose payload is not ipv6 (version 4)",
            from_client(&forward(
                &{
                    let mut p = good.clone();
                    p[0] = 0x45;
                    p
                },
                EPOCH,
            )),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::AyiyaNotIpv6Payload)
        .charged_to(TUNNEL_C),
        Case::xdp(
            "a trailing byte: the payload's length disagrees",
            from_client(&trailing),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::AyiyaLengthMismatch)
        .charged_to(TUNNEL_C),
        Case::xdp("an identity no tunnel has", from_client(&stranger))
            .on(x0)
            .setup(at_epoch)
            .dropped(Drop::AyiyaUnknownIdentity),
        Case::xdp(
            "no ayiya tunnel at all",
            from_client(&forward(&good, EPOCH)),
        )
        .on(x0)
        .setup(|b| b.set_unix_time(EPOCH as u64))
        .dropped(Drop::AyiyaUnknownIdentity),
        Case::xdp(
            "opcode 5 from a client: bad header",
            from_client(&bad_header),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::AyiyaBadHeader),
        Case::xdp(
            "shorter than the header",
            from_client(&example_beat()[..40]),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::AyiyaShort),
        // Ops 2 and 3 (echo requests) are answered: l1_ayiya_encap.
        Case::xdp(
            "op 1 with IPv4 inside: not forwarded",
            from_client(&ipv4_inside),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::AyiyaInvalidForward)
        .charged_to(TUNNEL_C),
        Case::xdp(
            "authenticated, inner source of another tunnel: spoofed",
            from_client(&forward(&spoofed, EPOCH)),
        )
        .on(x0)
        .setup(at_epoch)
        .dropped(Drop::SpoofedSource)
        .charged_to(TUNNEL_C)
        .events(&auth(1)),
        Case::xdp("disabled tunnel", from_client(&forward(&good, EPOCH)))
            .on(x0)
            .setup(|b| {
                at_epoch(b);
                let mut t =
                    tunnelctl::Tunnel::ayiya("2001:db8:2ff:1::/64".parse().unwrap(), key().0);
                t.enabled = false;
                b.dp.update_tunnel(TUNNEL_C, &t).unwrap();
            })
            .dropped(Drop::TunnelDisabled)
            .charged_to(TUNNEL_C),
        Case::xdp("UDP to another port: not ours", {
            let udp = udp4(
                (CLIENT_A, CLIENT_PORT),
                (POP_V4, 5073),
                &forward(&good, EPOCH),
            );
            eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &udp)
        })
        .on(x0)
        .setup(at_epoch)
        .pass_unchanged()
        .events(&[(Event::NotOurs, 1)]),
    ];
    check(&mut bed, cases);
}

/// Every authenticated datagram moves the tunnel to where it came from: a
/// NAT rebinding (a new source port), then the user over IPv6.
#[test]
fn endpoint_follows_the_last_authenticated_datagram() {
    let mut bed = ProgBed::new().expect("prog bed");
    at_epoch(&mut bed);
    let beat = beat(a6(USER_C).octets(), EPOCH, &key());
    let x0 = bed.x0;
    let run = bed.run(&from_client(&beat), x0).unwrap();
    assert_eq!(run.action, tunnel_tests::prog::XDP_DROP);
    let mut e = bed.dp.endpoint(TUNNEL_C).unwrap().expect("learned");
    assert!(e.last_seen_ns > 0);
    e.last_seen_ns = 0;
    assert_eq!(e, learned_from_a());

    // The NAT rebinds: the next datagram comes from port 40000.
    let next = tunnel_common::ayiya::sign::beat(a6(USER_C).octets(), EPOCH + 1, &key());
    let udp = udp4((CLIENT_A, 40000), (POP_V4, PORT), &next);
    bed.run(&eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &udp), x0)
        .unwrap();
    let e = bed.dp.endpoint(TUNNEL_C).unwrap().unwrap();
    assert_eq!(u16::from_be_bytes(e.remote_port), 40000);

    // A forged datagram (wrong key) from elsewhere teaches nothing.
    let forged = encode(
        &AyiyaHdr::new(0, NH_NONE, EPOCH, a6(USER_C).octets()),
        &[],
        &Key::from_password("guess"),
    );
    let udp = udp4(
        (Ipv4Addr::new(198, 51, 100, 66), 1),
        (POP_V4, PORT),
        &forged,
    );
    bed.run(&eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &udp), x0)
        .unwrap();
    assert_eq!(
        bed.dp.endpoint(TUNNEL_C).unwrap().unwrap().remote_port,
        40000u16.to_be_bytes()
    );

    // The first beat again, from elsewhere: a replay, which must not move
    // the tunnel (sixxsd would follow it).
    let udp = udp4((Ipv4Addr::new(198, 51, 100, 67), 5), (POP_V4, PORT), &beat);
    bed.run(&eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &udp), x0)
        .unwrap();
    let e = bed.dp.endpoint(TUNNEL_C).unwrap().unwrap();
    assert_eq!(
        (e.remote, e.remote_port),
        (learned_from_a().remote, 40000u16.to_be_bytes())
    );

    // Over IPv6 now.
    let x1 = bed.x1;
    let over_v6 = tunnel_common::ayiya::sign::beat(a6(USER_C).octets(), EPOCH + 2, &key());
    bed.run(&from_client_v6(&over_v6), x1).unwrap();
    let e = bed.dp.endpoint(TUNNEL_C).unwrap().unwrap();
    assert_eq!((e.family, e.remote), (ENDPOINT_V6, UPSTREAM.octets()));
    assert_eq!(e.local, a6("2001:db8:ffff::1").octets());
    let c = bed.counters();
    assert_eq!(c.event(Event::AyiyaEndpointMoved), 3, "{c:?}");
    assert_eq!(c.drop(Drop::AyiyaHashFail), 1);
    assert_eq!(c.drop(Drop::AyiyaReplay), 1);
    let _ = POP_C;
}

/// Every truncation of valid AYIYA frames (op 1 to C's `::1` over IPv4, op
/// 1 upstream over IPv6, a beat) is passed on or dropped and counted
/// exactly once: never ABORTED, never an uncounted drop, never a
/// truncated datagram authenticated. Each length runs on a fresh bed state
/// (so the replay guard has not seen the frame).
#[test]
fn every_truncation_passes_or_counts() {
    use tunnel_tests::prog::{action_name, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX};
    let mut bed = ProgBed::new().expect("prog bed");
    let to_pop = forward(&ipv6_echo(a6(USER_C), a6(POP_C), 64, 24), EPOCH);
    let frames = [
        ("op 1 to ::1", from_client(&to_pop), bed.x0),
        (
            "op 1 upstream over ipv6",
            from_client_v6(&forward(&echo_c_to_upstream(24), EPOCH)),
            bed.x1,
        ),
        ("beat", from_client(&example_beat()), bed.x0),
    ];
    let mut runs = 0;
    for (name, frame, ifindex) in frames {
        for len in 14..=frame.len() {
            bed.reset().unwrap();
            at_epoch(&mut bed);
            let run = bed.run(&frame[..len], ifindex).unwrap();
            let c = bed.counters();
            let (drops, authenticated) = (c.total_drops(), c.event(Event::AyiyaAuthenticated));
            if len < frame.len() {
                assert_eq!(authenticated, 0, "{name} cut to {len}: authenticated");
            }
            match run.action {
                XDP_PASS => assert_eq!(drops, 0, "{name} cut to {len}: pass but drops counted"),
                XDP_DROP if len == frame.len() && name == "beat" => {
                    assert_eq!((drops, c.event(Event::AyiyaBeat)), (0, 1), "the whole beat")
                }
                XDP_DROP => assert_eq!(drops, 1, "{name} cut to {len}: drop not counted once"),
                XDP_TX | XDP_REDIRECT => {
                    assert_eq!(len, frame.len(), "{name} cut to {len}: forwarded")
                }
                a => panic!("{name} cut to {len}: {}", action_name(a)),
            }
            runs += 1;
        }
    }
    assert!(runs > 300, "{runs}");
}
