//! L1: BPF_PROG_TEST_RUN of `tunnel_xdp`, one table per path: the verdict,
//! the exact output bytes and the counters. Needs root.

use std::net::Ipv6Addr;

use etherparse::{EtherType, Icmpv6Type, IpNumber};
use tunnel_common::stats::{Drop, Event};
use tunnel_tests::{cases::*, packets::*, prog::*};

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

const USER_A: &str = "2001:db8:1::2";
const POP_A: &str = "2001:db8:1::1";
const USER_B: &str = "2001:db8:2::2";

/// Frame as client A sends it: 6in4 to the PoP, arriving on x0.
fn from_client(o: V4, inner: &[u8]) -> Vec<u8> {
    eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &sixin4(o, inner))
}

fn client_a() -> V4 {
    V4::new(CLIENT_A, POP_V4)
}

/// Frame from upstream (arriving on x1).
fn from_upstream(inner: &[u8]) -> Vec<u8> {
    eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, inner)
}

fn echo_a_to_upstream(hop: u8) -> Vec<u8> {
    ipv6_echo(a6(USER_A), UPSTREAM, hop, 32)
}

/// The decapsulated, forwarded frame for `inner`: out x1 to upstream.
fn forwarded_upstream(inner: &[u8]) -> Vec<u8> {
    eth(
        X1_MAC,
        UPSTREAM_MAC,
        EtherType::IPV6,
        &hop_decremented(inner),
    )
}

/// `inner` encapsulated toward client `dst` (out x0).
fn to_client(o: V4, dst_mac: Mac, inner: &[u8]) -> Vec<u8> {
    eth(X0_MAC, dst_mac, EtherType::IPV4, &sixin4(o, inner))
}

fn pop_to_a() -> V4 {
    V4::new(POP_V4, CLIENT_A)
}

fn time_exceeded() -> Icmpv6Type {
    Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded)
}

fn prohibited() -> Icmpv6Type {
    Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Prohibited)
}

/// An ICMPv6 error from tunnel A's `::1` about `invoking`, out x1 to
/// upstream.
fn error_to_upstream(t: Icmpv6Type, invoking: &[u8]) -> Vec<u8> {
    eth(
        X1_MAC,
        UPSTREAM_MAC,
        EtherType::IPV6,
        &icmpv6_error(a6(POP_A), UPSTREAM, t, invoking),
    )
}

/// An ICMPv6 error from tunnel A's `::1` about `invoking`, back into
/// tunnel A.
fn error_into_a(t: Icmpv6Type, invoking: &[u8]) -> Vec<u8> {
    to_client(
        pop_to_a(),
        CLIENT_A_MAC,
        &icmpv6_error(a6(POP_A), a6(USER_A), t, invoking),
    )
}

#[test]
fn decap_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let good = echo_a_to_upstream(64);
    let routed = ipv6_echo(a6("2001:db8:100:5::9"), UPSTREAM, 64, 16);
    let te_quote = echo_a_to_upstream(1);
    let to_b = ipv6_echo(a6(USER_A), a6(USER_B), 64, 24);
    let fragment = V4 {
        more_fragments: true,
        df: false,
        id: 7,
        ..client_a()
    };
    let ce = V4 {
        ecn: 3,
        ..client_a()
    };
    let cases = vec![
        Case::xdp(
            "valid: decap, fib, redirect to the upstream link",
            from_client(client_a(), &good),
        )
        .on(x0)
        .redirect(forwarded_upstream(&good))
        .events(&[(Event::Decap, 1), (Event::Forwarded, 1)])
        .tunnel(TUNNEL_A, 1, 0),
        Case::xdp(
            "inner source in the routed /48",
            from_client(client_a(), &routed),
        )
        .on(x0)
        .redirect(forwarded_upstream(&routed))
        .events(&[(Event::Decap, 1)])
        .tunnel(TUNNEL_A, 1, 0),
        Case::xdp(
            "outer source is no tunnel: silent counted drop",
            from_client(V4::new("192.0.2.99".parse().unwrap(), POP_V4), &good),
        )
        .on(x0)
        .dropped(Drop::UnknownTunnel),
        Case::xdp(
            "outer destination is not the tunnel's local address",
            from_client(V4::new(CLIENT_A, "192.0.2.50".parse().unwrap()), &good),
        )
        .on(x0)
        .dropped(Drop::UnknownTunnel),
        Case::xdp(
            "inner source of another tunnel: spoofed",
            from_client(client_a(), &ipv6_echo(a6(USER_B), UPSTREAM, 64, 8)),
        )
        .on(x0)
        .dropped(Drop::SpoofedSource)
        .charged_to(TUNNEL_A)
        .tunnel(TUNNEL_A, 0, 0),
        Case::xdp(
            "inner source in no tunnel: spoofed",
            from_client(
                client_a(),
                &ipv6_echo(a6("2001:db8:999::2"), UPSTREAM, 64, 8),
            ),
        )
        .on(x0)
        .dropped(Drop::SpoofedSource),
        Case::xdp(
            "inner source IPv4-mapped (RFC 4213 3.6)",
            from_client(
                client_a(),
                &ipv6_echo(a6("::ffff:192.0.2.2"), UPSTREAM, 64, 8),
            ),
        )
        .on(x0)
        .dropped(Drop::InvalidSource),
        Case::xdp(
            "inner source loopback",
            from_client(client_a(), &ipv6_echo(a6("::1"), UPSTREAM, 64, 8)),
        )
        .on(x0)
        .dropped(Drop::InvalidSource),
        Case::xdp(
            "inner source multicast",
            from_client(
                client_a(),
                &ipv6(a6("ff02::1"), UPSTREAM, 64, IpNumber::UDP, &[0; 8]),
            ),
        )
        .on(x0)
        .dropped(Drop::InvalidSource),
        Case::xdp(
            "inner source link-local",
            from_client(client_a(), &ipv6_echo(a6("fe80::2"), UPSTREAM, 64, 8)),
        )
        .on(x0)
        .dropped(Drop::LinkScope)
        .charged_to(TUNNEL_A),
        Case::xdp("disabled tunnel", from_client(client_a(), &good))
            .on(x0)
            .setup(|b| b.change_tunnel(TUNNEL_A, |t| t.enabled = false))
            .dropped(Drop::TunnelDisabled)
            .charged_to(TUNNEL_A)
            .tunnel(TUNNEL_A, 0, 0),
        Case::xdp(
            "outer fragment goes to the kernel",
            from_client(fragment, &good),
        )
        .on(x0)
        .pass_unchanged()
        .events(&[(Event::OuterFragment, 1)]),
        Case::xdp("bad outer header checksum", {
            let mut f = from_client(client_a(), &good);
            f[14 + 10] ^= 0xff;
            f
        })
        .on(x0)
        .dropped(Drop::BadChecksum),
        Case::xdp("IPv4 options are refused", {
            let mut f = from_client(client_a(), &good);
            f[14] = 0x46;
            f
        })
        .on(x0)
        .dropped(Drop::Malformed),
        Case::xdp("inner length beyond the outer length", {
            let mut inner = good.clone();
            inner[5] += 1; // payload length one more than carried
            let mut f = from_client(client_a(), &inner);
            f.push(0);
            f
        })
        .on(x0)
        .dropped(Drop::Malformed),
        Case::xdp(
            "other IPv4 is not ours",
            eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &{
                let mut p = sixin4(client_a(), &good);
                p[9] = 17;
                p
            }),
        )
        .on(x0)
        .pass_unchanged()
        .events(&[(Event::NotOurs, 1)]),
        Case::xdp(
            "ECN: outer CE marks an ECT(0) inner packet CE (RFC 6040)",
            from_client(ce, &with_ipv6_ecn(good.clone(), 2)),
        )
        .on(x0)
        .redirect(forwarded_upstream(&with_ipv6_ecn(good.clone(), 3)))
        .events(&[(Event::Decap, 1)]),
        Case::xdp(
            "ECN: outer CE on a not-ECT inner packet is dropped (RFC 6040)",
            from_client(ce, &good),
        )
        .on(x0)
        .dropped(Drop::EcnCe),
        Case::xdp(
            "hop limit 1: time exceeded from the PoP's ::1, back into the tunnel",
            from_client(client_a(), &te_quote),
        )
        .on(x0)
        .tx(error_into_a(time_exceeded(), &te_quote))
        .events(&[(Event::Decap, 1), (Event::IcmpTimeExceeded, 1)])
        .tunnel(TUNNEL_A, 1, 1),
        Case::xdp(
            "hop limit 1, rate limit exhausted: counted drop",
            from_client(client_a(), &te_quote),
        )
        .on(x0)
        .setup(ProgBed::no_icmp_budget)
        .dropped(Drop::HopLimit)
        .events(&[(Event::IcmpTimeExceeded, 0)]),
        Case::xdp(
            "tunnel to tunnel: decap from A, encap to B in one pass",
            from_client(client_a(), &to_b),
        )
        .on(x0)
        .tx(to_client(
            V4::new(POP_V4, CLIENT_B),
            CLIENT_B_MAC,
            &hop_decremented(&to_b),
        ))
        .events(&[
            (Event::Decap, 1),
            (Event::Encap, 1),
            (Event::TunnelToTunnel, 1),
        ])
        .tunnel(TUNNEL_B, 0, 1),
        Case::xdp(
            "tunnel to a disabled tunnel: administratively prohibited, back into A",
            from_client(client_a(), &to_b),
        )
        .on(x0)
        .setup(|b| b.change_tunnel(TUNNEL_B, |t| t.enabled = false))
        .tx(error_into_a(prohibited(), &to_b))
        .events(&[(Event::Decap, 1), (Event::IcmpUnreachable, 1)])
        .tunnel(TUNNEL_B, 0, 0),
    ];
    check(&mut bed, cases);
}

#[test]
fn encap_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let good = ipv6_echo(UPSTREAM, a6(USER_A), 64, 32);
    let routed = ipv6_echo(UPSTREAM, a6("2001:db8:100:ab::1"), 64, 32);
    let big = ipv6_echo(UPSTREAM, a6(USER_A), 64, 1400);
    let at_mtu = ipv6_echo(UPSTREAM, a6(USER_A), 64, 1280 - 48);
    let hop1 = ipv6_echo(UPSTREAM, a6(USER_A), 1, 32);
    let ptb_for_a = icmpv6_error(
        UPSTREAM,
        a6(USER_A),
        Icmpv6Type::PacketTooBig { mtu: 1300 },
        &good,
    );
    let not_ours = ipv6_echo(UPSTREAM, a6("2001:db8:ffff::1"), 64, 8);
    let mtu_1280 = |b: &mut ProgBed| b.change_tunnel(TUNNEL_A, |t| t.mtu = 1280);
    let cases = vec![
        Case::xdp(
            "valid: encap toward the user, DF, TTL 64, id 0",
            from_upstream(&good),
        )
        .on(x1)
        .redirect(to_client(pop_to_a(), CLIENT_A_MAC, &hop_decremented(&good)))
        .events(&[(Event::Encap, 1)])
        .tunnel(TUNNEL_A, 0, 1),
        Case::xdp("routed /48 goes to its tunnel", from_upstream(&routed))
            .on(x1)
            .redirect(to_client(
                pop_to_a(),
                CLIENT_A_MAC,
                &hop_decremented(&routed),
            ))
            .events(&[(Event::Encap, 1)])
            .tunnel(TUNNEL_A, 0, 1),
        Case::xdp(
            "ECN copied to the outer header, TTL fixed",
            from_upstream(&with_ipv6_ecn(good.clone(), 1)),
        )
        .on(x1)
        .redirect(to_client(
            V4 {
                ecn: 1,
                ..pop_to_a()
            },
            CLIENT_A_MAC,
            &hop_decremented(&with_ipv6_ecn(good.clone(), 1)),
        ))
        .events(&[(Event::Encap, 1)]),
        Case::xdp(
            "ttl inherit (0): outer TTL is the decremented hop limit",
            from_upstream(&good),
        )
        .on(x1)
        .setup(|b| b.change_tunnel(TUNNEL_A, |t| t.ttl = 0))
        .redirect(to_client(
            V4 {
                ttl: 63,
                ..pop_to_a()
            },
            CLIENT_A_MAC,
            &hop_decremented(&good),
        ))
        .events(&[(Event::Encap, 1)]),
        Case::xdp(
            "bigger than the tunnel MTU: packet too big with the MTU, to the sender",
            from_upstream(&big),
        )
        .on(x1)
        .setup(mtu_1280)
        .tx(error_to_upstream(
            Icmpv6Type::PacketTooBig { mtu: 1280 },
            &big,
        ))
        .events(&[(Event::IcmpPacketTooBig, 1), (Event::Encap, 0)])
        .tunnel(TUNNEL_A, 0, 0),
        Case::xdp("exactly the tunnel MTU passes", from_upstream(&at_mtu))
            .on(x1)
            .setup(mtu_1280)
            .redirect(to_client(
                pop_to_a(),
                CLIENT_A_MAC,
                &hop_decremented(&at_mtu),
            ))
            .events(&[(Event::Encap, 1)])
            .tunnel(TUNNEL_A, 0, 1),
        Case::xdp(
            "hop limit 1: time exceeded to the sender",
            from_upstream(&hop1),
        )
        .on(x1)
        .tx(error_to_upstream(time_exceeded(), &hop1))
        .events(&[(Event::IcmpTimeExceeded, 1)]),
        Case::xdp(
            "hop limit 1 on an ICMPv6 error: dropped, no error about an error (RFC 4443 2.4)",
            from_upstream(&{
                let mut e = ptb_for_a.clone();
                e[7] = 1;
                e
            }),
        )
        .on(x1)
        .dropped(Drop::HopLimit)
        .events(&[(Event::IcmpTimeExceeded, 0)]),
        Case::xdp(
            "an ICMPv6 error for a user is forwarded like any packet",
            from_upstream(&ptb_for_a),
        )
        .on(x1)
        .redirect(to_client(
            pop_to_a(),
            CLIENT_A_MAC,
            &hop_decremented(&ptb_for_a),
        ))
        .events(&[(Event::Encap, 1)])
        .tunnel(TUNNEL_A, 0, 1),
        Case::xdp(
            "disabled tunnel: administratively prohibited, to the sender (as sixxsd)",
            from_upstream(&good),
        )
        .on(x1)
        .setup(|b| b.change_tunnel(TUNNEL_A, |t| t.enabled = false))
        .tx(error_to_upstream(prohibited(), &good))
        .events(&[(Event::IcmpUnreachable, 1), (Event::Encap, 0)])
        .tunnel(TUNNEL_A, 0, 0),
        Case::xdp(
            "disabled tunnel, error rate limited: counted drop",
            from_upstream(&good),
        )
        .on(x1)
        .setup(|b| {
            b.change_tunnel(TUNNEL_A, |t| t.enabled = false);
            b.no_icmp_budget();
        })
        .dropped(Drop::TunnelDisabled)
        .events(&[(Event::IcmpUnreachable, 0)])
        .tunnel(TUNNEL_A, 0, 0),
        Case::xdp(
            "not a tunnel prefix: not ours, untouched",
            from_upstream(&not_ours),
        )
        .on(x1)
        .pass_unchanged()
        .events(&[(Event::NotOurs, 1)]),
        Case::xdp(
            "removed tunnel: its /64 is no longer ours",
            from_upstream(&good),
        )
        .on(x1)
        .setup(|b| b.dp.remove_tunnel(TUNNEL_A).unwrap())
        .pass_unchanged()
        .events(&[(Event::NotOurs, 1)]),
    ];
    check(&mut bed, cases);
}

/// The echo reply etherparse would build for `request` (an IPv6 echo
/// request): addresses swapped, hop limit 64, type 129, same id/seq/data.
fn echo_reply_for(src: Ipv6Addr, dst: Ipv6Addr, payload_len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..payload_len).map(|i| (i * 7 + 3) as u8).collect();
    let icmp = etherparse::Icmpv6Header::with_checksum(
        Icmpv6Type::EchoReply(etherparse::IcmpEchoHeader { id: 0x1234, seq: 1 }),
        src.octets(),
        dst.octets(),
        &payload,
    )
    .unwrap();
    ipv6(
        src,
        dst,
        64,
        IpNumber::IPV6_ICMP,
        &[icmp.to_bytes().as_slice(), &payload].concat(),
    )
}

#[test]
fn pop_address_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let udp_to_pop = ipv6(
        a6(USER_A),
        a6(POP_A),
        64,
        IpNumber::UDP,
        &[0x12, 0x34, 0x00, 0x35, 0, 8, 0, 0],
    );
    let cases = vec![
        Case::xdp(
            "user pings its PoP end: reply in XDP, back into the tunnel",
            from_client(client_a(), &ipv6_echo(a6(USER_A), a6(POP_A), 64, 20)),
        )
        .on(x0)
        .tx(to_client(
            pop_to_a(),
            CLIENT_A_MAC,
            &echo_reply_for(a6(POP_A), a6(USER_A), 20),
        ))
        .events(&[(Event::Decap, 1), (Event::EchoReply, 1), (Event::Encap, 1)])
        .tunnel(TUNNEL_A, 1, 1),
        Case::xdp(
            "upstream pings a tunnel's ::1: reply through the FIB",
            from_upstream(&ipv6_echo(UPSTREAM, a6(POP_A), 64, 20)),
        )
        .on(x1)
        .tx(eth(
            X1_MAC,
            UPSTREAM_MAC,
            EtherType::IPV6,
            &echo_reply_for(a6(POP_A), UPSTREAM, 20),
        ))
        .events(&[(Event::EchoReply, 1), (Event::Encap, 0)])
        .tunnel(TUNNEL_A, 0, 0),
        Case::xdp(
            "not an echo request to ::1: port unreachable from ::1",
            from_client(client_a(), &udp_to_pop),
        )
        .on(x0)
        .tx(error_into_a(
            Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port),
            &udp_to_pop,
        ))
        .events(&[(Event::IcmpUnreachable, 1)])
        .tunnel(TUNNEL_A, 1, 1),
        Case::xdp(
            "port unreachable rate limited: counted drop",
            from_client(client_a(), &udp_to_pop),
        )
        .on(x0)
        .setup(ProgBed::no_icmp_budget)
        .dropped(Drop::PopAddress),
    ];
    check(&mut bed, cases);
}
