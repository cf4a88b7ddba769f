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

#[test]
fn decap_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let good = echo_a_to_upstream(64);
    let routed = ipv6_echo(a6("2001:db8:100:5::9"), UPSTREAM, 64, 16);
    let te_quote = echo_a_to_upstream(1);
    let to_b = ipv6_echo(a6(USER_A), a6(USER_B), 64, 24);
    let cases = vec![
        Case {
            name: "valid: decap, fib, redirect to the upstream link",
            setup: nothing,
            input: from_client(client_a(), &good),
            ingress: x0,
            expect: Expect {
                action: XDP_REDIRECT,
                output: Some(forwarded_upstream(&good)),
                drops: &[],
                events: &[(Event::Decap, 1), (Event::Forwarded, 1)],
                tunnel: Some((TUNNEL_A, 1, 0)),
            },
        },
        Case {
            name: "inner source in the routed /48",
            setup: nothing,
            input: from_client(client_a(), &routed),
            ingress: x0,
            expect: Expect {
                action: XDP_REDIRECT,
                output: Some(forwarded_upstream(&routed)),
                drops: &[],
                events: &[(Event::Decap, 1)],
                tunnel: Some((TUNNEL_A, 1, 0)),
            },
        },
        Case {
            name: "outer source is no tunnel: silent counted drop",
            setup: nothing,
            input: from_client(V4::new("192.0.2.99".parse().unwrap(), POP_V4), &good),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::UnknownTunnel, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "outer destination is not the tunnel's local address",
            setup: nothing,
            input: from_client(V4::new(CLIENT_A, "192.0.2.50".parse().unwrap()), &good),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::UnknownTunnel, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "inner source of another tunnel: spoofed",
            setup: nothing,
            input: from_client(client_a(), &ipv6_echo(a6(USER_B), UPSTREAM, 64, 8)),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::SpoofedSource, 1)],
                events: &[],
                tunnel: Some((TUNNEL_A, 0, 0)),
            },
        },
        Case {
            name: "inner source in no tunnel: spoofed",
            setup: nothing,
            input: from_client(
                client_a(),
                &ipv6_echo(a6("2001:db8:999::2"), UPSTREAM, 64, 8),
            ),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::SpoofedSource, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "inner source IPv4-mapped (RFC 4213 3.6)",
            setup: nothing,
            input: from_client(
                client_a(),
                &ipv6_echo(a6("::ffff:192.0.2.2"), UPSTREAM, 64, 8),
            ),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::InvalidSource, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "inner source loopback",
            setup: nothing,
            input: from_client(client_a(), &ipv6_echo(a6("::1"), UPSTREAM, 64, 8)),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::InvalidSource, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "inner source multicast",
            setup: nothing,
            input: from_client(
                client_a(),
                &ipv6(a6("ff02::1"), UPSTREAM, 64, IpNumber::UDP, &[0; 8]),
            ),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::InvalidSource, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "inner source link-local",
            setup: nothing,
            input: from_client(client_a(), &ipv6_echo(a6("fe80::2"), UPSTREAM, 64, 8)),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::LinkScope, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "disabled tunnel",
            setup: |b| {
                let mut t = ProgBed::tunnel_a();
                t.enabled = false;
                b.dp.update_tunnel(TUNNEL_A, &t).unwrap();
            },
            input: from_client(client_a(), &good),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::TunnelDisabled, 1)],
                events: &[],
                tunnel: Some((TUNNEL_A, 0, 0)),
            },
        },
        Case {
            name: "outer fragment goes to the kernel",
            setup: nothing,
            input: from_client(
                V4 {
                    more_fragments: true,
                    df: false,
                    id: 7,
                    ..client_a()
                },
                &good,
            ),
            ingress: x0,
            expect: Expect {
                action: XDP_PASS,
                output: Some(from_client(
                    V4 {
                        more_fragments: true,
                        df: false,
                        id: 7,
                        ..client_a()
                    },
                    &good,
                )),
                drops: &[],
                events: &[(Event::OuterFragment, 1)],
                tunnel: None,
            },
        },
        Case {
            name: "bad outer header checksum",
            setup: nothing,
            input: {
                let mut f = from_client(client_a(), &good);
                f[14 + 10] ^= 0xff;
                f
            },
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::BadChecksum, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "IPv4 options are refused",
            setup: nothing,
            input: {
                let mut f = from_client(client_a(), &good);
                f[14] = 0x46;
                f
            },
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::Malformed, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "inner length beyond the outer length",
            setup: nothing,
            input: {
                let mut inner = good.clone();
                inner[5] += 1; // payload length one more than carried
                let mut f = from_client(client_a(), &inner);
                f.push(0);
                f
            },
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::Malformed, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "other IPv4 is not ours",
            setup: nothing,
            input: eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &{
                let mut p = sixin4(client_a(), &good);
                p[9] = 17;
                p
            }),
            ingress: x0,
            expect: Expect {
                action: XDP_PASS,
                output: None,
                drops: &[],
                events: &[(Event::NotOurs, 1)],
                tunnel: None,
            },
        },
        Case {
            name: "ECN: outer CE marks an ECT(0) inner packet CE (RFC 6040)",
            setup: nothing,
            input: from_client(
                V4 {
                    ecn: 3,
                    ..client_a()
                },
                &with_ipv6_ecn(good.clone(), 2),
            ),
            ingress: x0,
            expect: Expect {
                action: XDP_REDIRECT,
                output: Some(forwarded_upstream(&with_ipv6_ecn(good.clone(), 3))),
                drops: &[],
                events: &[(Event::Decap, 1)],
                tunnel: None,
            },
        },
        Case {
            name: "ECN: outer CE on a not-ECT inner packet is dropped (RFC 6040)",
            setup: nothing,
            input: from_client(
                V4 {
                    ecn: 3,
                    ..client_a()
                },
                &good,
            ),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::EcnCe, 1)],
                events: &[],
                tunnel: None,
            },
        },
        Case {
            name: "hop limit 1: time exceeded from the PoP's ::1, back into the tunnel",
            setup: nothing,
            input: from_client(client_a(), &te_quote),
            ingress: x0,
            expect: Expect {
                action: XDP_TX,
                output: Some(to_client(
                    pop_to_a(),
                    CLIENT_A_MAC,
                    &icmpv6_error(
                        a6(POP_A),
                        a6(USER_A),
                        Icmpv6Type::TimeExceeded(
                            etherparse::icmpv6::TimeExceededCode::HopLimitExceeded,
                        ),
                        &te_quote,
                    ),
                )),
                drops: &[],
                events: &[(Event::Decap, 1), (Event::IcmpTimeExceeded, 1)],
                tunnel: Some((TUNNEL_A, 1, 1)),
            },
        },
        Case {
            name: "hop limit 1, rate limit exhausted: counted drop",
            setup: |b| {
                b.dp.set_config(&tunnel_common::config::RuntimeConfig {
                    icmp_rate_per_sec: 0,
                    icmp_burst: 0,
                })
                .unwrap()
            },
            input: from_client(client_a(), &te_quote),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::HopLimit, 1)],
                events: &[(Event::IcmpTimeExceeded, 0)],
                tunnel: None,
            },
        },
        Case {
            name: "tunnel to tunnel: decap from A, encap to B in one pass",
            setup: nothing,
            input: from_client(client_a(), &ipv6_echo(a6(USER_A), a6(USER_B), 64, 24)),
            ingress: x0,
            expect: Expect {
                action: XDP_TX,
                output: Some(to_client(
                    V4::new(POP_V4, CLIENT_B),
                    CLIENT_B_MAC,
                    &hop_decremented(&ipv6_echo(a6(USER_A), a6(USER_B), 64, 24)),
                )),
                drops: &[],
                events: &[
                    (Event::Decap, 1),
                    (Event::Encap, 1),
                    (Event::TunnelToTunnel, 1),
                ],
                tunnel: Some((TUNNEL_B, 0, 1)),
            },
        },
        Case {
            name: "tunnel to a disabled tunnel: administratively prohibited, back into A",
            setup: |b| {
                let mut t = ProgBed::tunnel_b();
                t.enabled = false;
                b.dp.update_tunnel(TUNNEL_B, &t).unwrap();
            },
            input: from_client(client_a(), &to_b),
            ingress: x0,
            expect: Expect {
                action: XDP_TX,
                output: Some(to_client(
                    pop_to_a(),
                    CLIENT_A_MAC,
                    &icmpv6_error(
                        a6(POP_A),
                        a6(USER_A),
                        Icmpv6Type::DestinationUnreachable(
                            etherparse::icmpv6::DestUnreachableCode::Prohibited,
                        ),
                        &to_b,
                    ),
                )),
                drops: &[],
                events: &[(Event::Decap, 1), (Event::IcmpUnreachable, 1)],
                tunnel: Some((TUNNEL_B, 0, 0)),
            },
        },
    ];
    check(&mut bed, cases);
}

#[test]
fn encap_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let good = ipv6_echo(UPSTREAM, a6(USER_A), 64, 32);
    let routed = ipv6_echo(UPSTREAM, a6("2001:db8:100:ab::1"), 64, 32);
    let big = ipv6_echo(UPSTREAM, a6(USER_A), 64, 1400);
    let hop1 = ipv6_echo(UPSTREAM, a6(USER_A), 1, 32);
    let cases = vec![
        Case {
            name: "valid: encap toward the user, DF, TTL 64, id 0",
            setup: nothing,
            input: from_upstream(&good),
            ingress: x1,
            expect: Expect {
                action: XDP_REDIRECT,
                output: Some(to_client(pop_to_a(), CLIENT_A_MAC, &hop_decremented(&good))),
                drops: &[],
                events: &[(Event::Encap, 1)],
                tunnel: Some((TUNNEL_A, 0, 1)),
            },
        },
        Case {
            name: "routed /48 goes to its tunnel",
            setup: nothing,
            input: from_upstream(&routed),
            ingress: x1,
            expect: Expect {
                action: XDP_REDIRECT,
                output: Some(to_client(
                    pop_to_a(),
                    CLIENT_A_MAC,
                    &hop_decremented(&routed),
                )),
                drops: &[],
                events: &[(Event::Encap, 1)],
                tunnel: Some((TUNNEL_A, 0, 1)),
            },
        },
        Case {
            name: "ECN copied to the outer header, TTL fixed",
            setup: nothing,
            input: from_upstream(&with_ipv6_ecn(good.clone(), 1)),
            ingress: x1,
            expect: Expect {
                action: XDP_REDIRECT,
                output: Some(to_client(
                    V4 {
                        ecn: 1,
                        ..pop_to_a()
                    },
                    CLIENT_A_MAC,
                    &hop_decremented(&with_ipv6_ecn(good.clone(), 1)),
                )),
                drops: &[],
                events: &[(Event::Encap, 1)],
                tunnel: None,
            },
        },
        Case {
            name: "ttl inherit (0): outer TTL is the decremented hop limit",
            setup: |b| {
                let mut t = ProgBed::tunnel_a();
                t.ttl = 0;
                b.dp.update_tunnel(TUNNEL_A, &t).unwrap();
            },
            input: from_upstream(&good),
            ingress: x1,
            expect: Expect {
                action: XDP_REDIRECT,
                output: Some(to_client(
                    V4 {
                        ttl: 63,
                        ..pop_to_a()
                    },
                    CLIENT_A_MAC,
                    &hop_decremented(&good),
                )),
                drops: &[],
                events: &[(Event::Encap, 1)],
                tunnel: None,
            },
        },
        Case {
            name: "bigger than the tunnel MTU: packet too big with the MTU, to the sender",
            setup: |b| {
                let mut t = ProgBed::tunnel_a();
                t.mtu = 1280;
                b.dp.update_tunnel(TUNNEL_A, &t).unwrap();
            },
            input: from_upstream(&big),
            ingress: x1,
            expect: Expect {
                action: XDP_TX,
                output: Some(eth(
                    X1_MAC,
                    UPSTREAM_MAC,
                    EtherType::IPV6,
                    &icmpv6_error(
                        a6(POP_A),
                        UPSTREAM,
                        Icmpv6Type::PacketTooBig { mtu: 1280 },
                        &big,
                    ),
                )),
                drops: &[],
                events: &[(Event::IcmpPacketTooBig, 1), (Event::Encap, 0)],
                tunnel: Some((TUNNEL_A, 0, 0)),
            },
        },
        Case {
            name: "exactly the tunnel MTU passes",
            setup: |b| {
                let mut t = ProgBed::tunnel_a();
                t.mtu = 1280;
                b.dp.update_tunnel(TUNNEL_A, &t).unwrap();
            },
            input: from_upstream(&ipv6_echo(UPSTREAM, a6(USER_A), 64, 1280 - 48)),
            ingress: x1,
            expect: Expect {
                action: XDP_REDIRECT,
                output: None,
                drops: &[],
                events: &[(Event::Encap, 1)],
                tunnel: Some((TUNNEL_A, 0, 1)),
            },
        },
        Case {
            name: "hop limit 1: time exceeded to the sender",
            setup: nothing,
            input: from_upstream(&hop1),
            ingress: x1,
            expect: Expect {
                action: XDP_TX,
                output: Some(eth(
                    X1_MAC,
                    UPSTREAM_MAC,
                    EtherType::IPV6,
                    &icmpv6_error(
                        a6(POP_A),
                        UPSTREAM,
                        Icmpv6Type::TimeExceeded(
                            etherparse::icmpv6::TimeExceededCode::HopLimitExceeded,
                        ),
                        &hop1,
                    ),
                )),
                drops: &[],
                events: &[(Event::IcmpTimeExceeded, 1)],
                tunnel: None,
            },
        },
        Case {
            name: "hop limit 1 on an ICMPv6 error: dropped, no error about an error (RFC 4443 2.4)",
            setup: nothing,
            input: from_upstream(&{
                let mut e = icmpv6_error(
                    UPSTREAM,
                    a6(USER_A),
                    Icmpv6Type::PacketTooBig { mtu: 1300 },
                    &good,
                );
                e[7] = 1;
                e
            }),
            ingress: x1,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::HopLimit, 1)],
                events: &[(Event::IcmpTimeExceeded, 0)],
                tunnel: None,
            },
        },
        Case {
            name: "an ICMPv6 error for a user is forwarded like any packet",
            setup: nothing,
            input: from_upstream(&icmpv6_error(
                UPSTREAM,
                a6(USER_A),
                Icmpv6Type::PacketTooBig { mtu: 1300 },
                &good,
            )),
            ingress: x1,
            expect: Expect {
                action: XDP_REDIRECT,
                output: Some(to_client(
                    pop_to_a(),
                    CLIENT_A_MAC,
                    &hop_decremented(&icmpv6_error(
                        UPSTREAM,
                        a6(USER_A),
                        Icmpv6Type::PacketTooBig { mtu: 1300 },
                        &good,
                    )),
                )),
                drops: &[],
                events: &[(Event::Encap, 1)],
                tunnel: Some((TUNNEL_A, 0, 1)),
            },
        },
        Case {
            name: "disabled tunnel: administratively prohibited, to the sender (as sixxsd)",
            setup: |b| {
                let mut t = ProgBed::tunnel_a();
                t.enabled = false;
                b.dp.update_tunnel(TUNNEL_A, &t).unwrap();
            },
            input: from_upstream(&good),
            ingress: x1,
            expect: Expect {
                action: XDP_TX,
                output: Some(eth(
                    X1_MAC,
                    UPSTREAM_MAC,
                    EtherType::IPV6,
                    &icmpv6_error(
                        a6(POP_A),
                        UPSTREAM,
                        Icmpv6Type::DestinationUnreachable(
                            etherparse::icmpv6::DestUnreachableCode::Prohibited,
                        ),
                        &good,
                    ),
                )),
                drops: &[],
                events: &[(Event::IcmpUnreachable, 1), (Event::Encap, 0)],
                tunnel: Some((TUNNEL_A, 0, 0)),
            },
        },
        Case {
            name: "disabled tunnel, error rate limited: counted drop",
            setup: |b| {
                let mut t = ProgBed::tunnel_a();
                t.enabled = false;
                b.dp.update_tunnel(TUNNEL_A, &t).unwrap();
                b.dp.set_config(&tunnel_common::config::RuntimeConfig {
                    icmp_rate_per_sec: 0,
                    icmp_burst: 0,
                })
                .unwrap();
            },
            input: from_upstream(&good),
            ingress: x1,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::TunnelDisabled, 1)],
                events: &[(Event::IcmpUnreachable, 0)],
                tunnel: Some((TUNNEL_A, 0, 0)),
            },
        },
        Case {
            name: "not a tunnel prefix: not ours, untouched",
            setup: nothing,
            input: from_upstream(&ipv6_echo(UPSTREAM, a6("2001:db8:ffff::1"), 64, 8)),
            ingress: x1,
            expect: Expect {
                action: XDP_PASS,
                output: Some(from_upstream(&ipv6_echo(
                    UPSTREAM,
                    a6("2001:db8:ffff::1"),
                    64,
                    8,
                ))),
                drops: &[],
                events: &[(Event::NotOurs, 1)],
                tunnel: None,
            },
        },
        Case {
            name: "removed tunnel: its /64 is no longer ours",
            setup: |b| b.dp.remove_tunnel(TUNNEL_A).unwrap(),
            input: from_upstream(&good),
            ingress: x1,
            expect: Expect {
                action: XDP_PASS,
                output: None,
                drops: &[],
                events: &[(Event::NotOurs, 1)],
                tunnel: None,
            },
        },
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
        Case {
            name: "user pings its PoP end: reply in XDP, back into the tunnel",
            setup: nothing,
            input: from_client(client_a(), &ipv6_echo(a6(USER_A), a6(POP_A), 64, 20)),
            ingress: x0,
            expect: Expect {
                action: XDP_TX,
                output: Some(to_client(
                    pop_to_a(),
                    CLIENT_A_MAC,
                    &echo_reply_for(a6(POP_A), a6(USER_A), 20),
                )),
                drops: &[],
                events: &[(Event::Decap, 1), (Event::EchoReply, 1), (Event::Encap, 1)],
                tunnel: Some((TUNNEL_A, 1, 1)),
            },
        },
        Case {
            name: "upstream pings a tunnel's ::1: reply through the FIB",
            setup: nothing,
            input: from_upstream(&ipv6_echo(UPSTREAM, a6(POP_A), 64, 20)),
            ingress: x1,
            expect: Expect {
                action: XDP_TX,
                output: Some(eth(
                    X1_MAC,
                    UPSTREAM_MAC,
                    EtherType::IPV6,
                    &echo_reply_for(a6(POP_A), UPSTREAM, 20),
                )),
                drops: &[],
                events: &[(Event::EchoReply, 1), (Event::Encap, 0)],
                tunnel: Some((TUNNEL_A, 0, 0)),
            },
        },
        Case {
            name: "not an echo request to ::1: port unreachable from ::1",
            setup: nothing,
            input: from_client(client_a(), &udp_to_pop),
            ingress: x0,
            expect: Expect {
                action: XDP_TX,
                output: Some(to_client(
                    pop_to_a(),
                    CLIENT_A_MAC,
                    &icmpv6_error(
                        a6(POP_A),
                        a6(USER_A),
                        Icmpv6Type::DestinationUnreachable(
                            etherparse::icmpv6::DestUnreachableCode::Port,
                        ),
                        &udp_to_pop,
                    ),
                )),
                drops: &[],
                events: &[(Event::IcmpUnreachable, 1)],
                tunnel: Some((TUNNEL_A, 1, 1)),
            },
        },
        Case {
            name: "port unreachable rate limited: counted drop",
            setup: |b| {
                b.dp.set_config(&tunnel_common::config::RuntimeConfig {
                    icmp_rate_per_sec: 0,
                    icmp_burst: 0,
                })
                .unwrap()
            },
            input: from_client(client_a(), &udp_to_pop),
            ingress: x0,
            expect: Expect {
                action: XDP_DROP,
                output: None,
                drops: &[(Drop::PopAddress, 1)],
                events: &[],
                tunnel: None,
            },
        },
    ];
    check(&mut bed, cases);
}
