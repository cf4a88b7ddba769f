//! L1: tunnels that learn their endpoint (AYIYA, heartbeat). Such a
//! tunnel follows its user's last valid packet or beat, whatever the
//! protocol (`Endpoint::via`), as sixxsd does, and is DOWN once its user
//! has been silent for the liveness time: traffic toward it gets ICMPv6
//! unreachable, code 0 (ayiya-spec.md §4.2). Tunnel C here is the spec's
//! T5072 (prefix 2001:db8:2ff:1::/64, its password), installed as a
//! heartbeat or an AYIYA tunnel. Expected frames are built here with
//! etherparse, or are the spec's Examples A and B byte for byte.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use etherparse::{icmpv6::DestUnreachableCode, EtherType, Icmpv6Type, PacketBuilder};
use tunnel_common::{
    config::RuntimeConfig,
    pinger::{ECHO_ID, MAGIC, TEXT},
    stats::{Drop, Event},
    tunnel::{
        DecapRef, Endpoint, TunnelV4Key, ENDPOINT_V4, ENDPOINT_V6, ENDPOINT_VIA_AYIYA,
        ENDPOINT_VIA_HEARTBEAT,
    },
};
use tunnel_tests::{cases::*, packets::*, prog::*};
use tunnelctl::datapath::DecapKey;

/// The spec's examples' epoch (§1.10); Example B is signed a second later.
const EPOCH: u32 = 1_700_000_000;
const USER_C: &str = "2001:db8:2ff:1::2";
const POP_C: &str = "2001:db8:2ff:1::1";
/// The tunnel device, as in l1_tc.
const TNL_MAC: Mac = [2, 0, 0, 0, 2, 1];
/// Where a heartbeat user's proto 41 comes from in the decap case (no
/// other tunnel uses this pair).
const CLIENT_H: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 4);
/// The liveness time the DOWN cases set: short, so that "silent for that
/// long" is in the past even on a VM booted seconds ago.
const LIVENESS_S: u32 = 10;

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn now_ns() -> u64 {
    tunnelctl::datapath::clock::boot_ns().unwrap()
}

/// C's user seen by heartbeat at client A, `ago` before now.
fn beat_from_a(ago: Duration) -> Endpoint {
    Endpoint {
        remote: CLIENT_A.to_ipv6_mapped().octets(),
        local: POP_V4.to_ipv6_mapped().octets(),
        family: ENDPOINT_V4,
        via: ENDPOINT_VIA_HEARTBEAT,
        last_seen_ns: now_ns().saturating_sub(ago.as_nanos() as u64),
        ..Endpoint::default()
    }
}

/// The liveness time set to `LIVENESS_S`.
fn short_liveness(b: &mut ProgBed) {
    b.dp.set_config(&RuntimeConfig {
        liveness_s: LIVENESS_S,
        ..RuntimeConfig::default()
    })
    .unwrap();
}

/// Heartbeat tunnel C, its user's last beat from client A `ago` before
/// now, the liveness time `LIVENESS_S`.
fn heartbeat_c_seen(b: &mut ProgBed, ago: Duration) {
    short_liveness(b);
    b.add_heartbeat_c();
    b.dp.learn_endpoint(TUNNEL_C, &beat_from_a(ago)).unwrap();
}

fn heartbeat_c_now(b: &mut ProgBed) {
    heartbeat_c_seen(b, Duration::ZERO);
}

/// Heartbeat tunnel C whose beats came from `CLIENT_H`: the pair the
/// daemon installs on a beat, so that its proto 41 decapsulates.
fn heartbeat_c_from_h(b: &mut ProgBed) {
    heartbeat_c_now(b);
    let info = b.dp.tunnel_info(TUNNEL_C).unwrap().unwrap();
    let key = TunnelV4Key {
        local: POP_V4.octets(),
        remote: CLIENT_H.octets(),
    };
    b.dp.put_pair(DecapKey::V4(key), DecapRef::new(TUNNEL_C, &info))
        .unwrap();
}

/// From the upstream, arriving on x1.
fn from_upstream(inner: &[u8]) -> Vec<u8> {
    eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, inner)
}

/// `inner` in 6in4 from the PoP to client A, out x0.
fn sixin4_to_a(inner: &[u8]) -> Vec<u8> {
    eth(
        X0_MAC,
        CLIENT_A_MAC,
        EtherType::IPV4,
        &sixin4(V4::new(POP_V4, CLIENT_A), inner),
    )
}

/// A frame as the kernel hands it to the tunnel device's egress.
fn local(inner: &[u8]) -> Vec<u8> {
    eth(TNL_MAC, TNL_MAC, EtherType::IPV6, inner)
}

fn unreachable_no_route(invoking: &[u8]) -> Vec<u8> {
    eth(
        X1_MAC,
        UPSTREAM_MAC,
        EtherType::IPV6,
        &icmpv6_error(
            a6(POP_C),
            UPSTREAM,
            Icmpv6Type::DestinationUnreachable(DestUnreachableCode::NoRoute),
            invoking,
        ),
    )
}

const USER_A: &str = "2001:db8:1::2";
const POP_A: &str = "2001:db8:1::1";

/// A user's echo reply to its tunnel's `::1`, echo identifier `id`,
/// carrying the pinger's magic (or not) and send time `sent_ns`.
fn echo_reply(src: &str, dst: &str, id: u16, magic: bool, sent_ns: u64) -> Vec<u8> {
    let mut payload = if magic { MAGIC.to_vec() } else { vec![0; 8] };
    payload.extend_from_slice(&sent_ns.to_be_bytes());
    payload.extend_from_slice(TEXT);
    let b = PacketBuilder::ipv6(a6(src).octets(), a6(dst).octets(), 64).icmpv6_echo_reply(id, 9);
    let mut out = Vec::new();
    b.write(&mut out, &payload).unwrap();
    out
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

/// The pinger's reply: stamped into `PINGS` (seq and round trip), and
/// taken: nothing goes further.
#[test]
fn pinger_reply_is_stamped() {
    let mut bed = ProgBed::new().expect("prog bed");
    let sent = now_ns() - 5_000_000;
    let run = bed
        .run(
            &from_a(&echo_reply(USER_A, POP_A, ECHO_ID, true, sent)),
            bed.x0,
        )
        .unwrap();
    assert_eq!(run.action, XDP_DROP, "taken");
    let r = bed.dp.ping_reply(TUNNEL_A).unwrap();
    assert_eq!(r.seq, 9);
    let after = now_ns() - sent;
    assert!(
        (5_000_000..=after).contains(&r.rtt_ns),
        "rtt {} ns, sent 5 ms before the run",
        r.rtt_ns
    );
    assert_eq!(bed.dp.ping_reply(TUNNEL_B).unwrap().seq, 0, "no other slot");
}

#[test]
fn dynamic_table() {
    let mut bed = ProgBed::new().expect("prog bed");
    let to_c = ipv6_echo(UPSTREAM, a6(USER_C), 64, 32);
    let from_c = ipv6_echo(a6(USER_C), UPSTREAM, 64, 24);
    let own_ping = ipv6_echo(a6("2001:db8:ffff::1"), a6(USER_C), 64, 16);
    let silent = Duration::from_secs(LIVENESS_S.into());
    let pinged = echo_reply(USER_A, POP_A, ECHO_ID, true, now_ns());
    let not_pinger = echo_reply(USER_A, POP_A, ECHO_ID, false, now_ns());
    let cases = vec![
        Case::xdp(
            "the pinger's reply from a's user to a's ::1: stamped, taken",
            from_a(&pinged),
        )
        .on(x0)
        .consumed()
        .events(&[(Event::PingReply, 1), (Event::Decap, 1)])
        .tunnel(TUNNEL_A, 1, 0),
        Case::xdp(
            "an echo reply to a's ::1 without the pinger's magic: not taken, port unreachable",
            from_a(&not_pinger),
        )
        .on(x0)
        .tx(eth(
            X0_MAC,
            CLIENT_A_MAC,
            EtherType::IPV4,
            &sixin4(
                V4::new(POP_V4, CLIENT_A),
                &icmpv6_error(
                    a6(POP_A),
                    a6(USER_A),
                    Icmpv6Type::DestinationUnreachable(DestUnreachableCode::Port),
                    &not_pinger,
                ),
            ),
        ))
        .events(&[(Event::PingReply, 0)]),
        Case::xdp(
            "heartbeat user seen at a: upstream → 6in4 to the address its beats came from",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(heartbeat_c_now)
        .redirect(sixin4_to_a(&hop_decremented(&to_c)))
        .events(&[(Event::Encap, 1), (Event::IcmpUnreachable, 0)])
        .tunnel(TUNNEL_C, 0, 1),
        Case::xdp(
            "heartbeat user silent one second short of the liveness time: still up",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(move |b| heartbeat_c_seen(b, silent - Duration::from_secs(1)))
        .redirect(sixin4_to_a(&hop_decremented(&to_c)))
        .tunnel(TUNNEL_C, 0, 1),
        Case::xdp(
            "heartbeat user silent for the liveness time: down, unreachable (code 0) from c's ::1",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(move |b| heartbeat_c_seen(b, silent))
        .tx(unreachable_no_route(&to_c))
        .events(&[(Event::IcmpUnreachable, 1), (Event::Encap, 0)])
        .tunnel(TUNNEL_C, 0, 0),
        Case::xdp(
            "heartbeat user never seen: down",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(|b| {
            short_liveness(b);
            b.add_heartbeat_c();
        })
        .tx(unreachable_no_route(&to_c))
        .events(&[(Event::IcmpUnreachable, 1), (Event::Encap, 0)]),
        Case::xdp(
            "ayiya tunnel whose user switched to heartbeat: 6in4 to the beat's address",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(|b| {
            b.add_ayiya_c();
            b.set_unix_time(EPOCH as u64);
            b.dp.learn_endpoint(TUNNEL_C, &beat_from_a(Duration::ZERO))
                .unwrap();
        })
        .redirect(sixin4_to_a(&hop_decremented(&to_c)))
        .events(&[(Event::Encap, 1)])
        .tunnel(TUNNEL_C, 0, 1),
        Case::xdp(
            "heartbeat tunnel whose user switched to ayiya (example a): answered by ayiya (example b)",
            eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &ayiya_example_a()),
        )
        .on(x0)
        .setup(|b| {
            b.add_heartbeat_c();
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
            "proto 41 from the address the beats came from: decapsulated into c, forwarded",
            eth(
                CLIENT_A_MAC,
                X0_MAC,
                EtherType::IPV4,
                &sixin4(V4::new(CLIENT_H, POP_V4), &from_c),
            ),
        )
        .on(x0)
        .setup(heartbeat_c_from_h)
        .redirect(eth(
            X1_MAC,
            UPSTREAM_MAC,
            EtherType::IPV6,
            &hop_decremented(&from_c),
        ))
        .events(&[(Event::Decap, 1), (Event::Forwarded, 1)])
        .tunnel(TUNNEL_C, 1, 0),
        Case::xdp(
            "a heartbeat endpoint that is ipv6 (never written): a counted drop",
            from_upstream(&to_c),
        )
        .on(x1)
        .setup(|b| {
            heartbeat_c_now(b);
            let e = Endpoint {
                remote: UPSTREAM.octets(),
                family: ENDPOINT_V6,
                ..beat_from_a(Duration::ZERO)
            };
            b.dp.learn_endpoint(TUNNEL_C, &e).unwrap();
        })
        .dropped(Drop::TunnelDown)
        .charged_to(TUNNEL_C),
        Case::tc(
            "the pop's own ping to a heartbeat user: 6in4, redirected to the uplink",
            local(&own_ping),
        )
        .setup(heartbeat_c_now)
        .redirect(sixin4_to_a(&own_ping))
        .events(&[(Event::Encap, 1), (Event::LocalEncap, 1)])
        .tunnel(TUNNEL_C, 0, 1),
        Case::tc(
            "the pop's own ping to a heartbeat user silent for the liveness time: down",
            local(&own_ping),
        )
        .setup(move |b| heartbeat_c_seen(b, silent))
        .dropped(Drop::TunnelDown)
        .charged_to(TUNNEL_C),
        Case::tc(
            "the pop's own ping to an ayiya user silent for the liveness time: down",
            local(&own_ping),
        )
        .setup(move |b| {
            short_liveness(b);
            b.add_ayiya_c();
            b.set_unix_time(EPOCH as u64);
            let e = Endpoint {
                via: ENDPOINT_VIA_AYIYA,
                ..beat_from_a(silent)
            };
            b.dp.learn_endpoint(TUNNEL_C, &e).unwrap();
        })
        .dropped(Drop::TunnelDown)
        .charged_to(TUNNEL_C),
    ];
    check(&mut bed, cases);
}
