//! L1: properties over many inputs rather than tables: truncated packets
//! never abort, the non-deterministic fields of DF-less encapsulation, and
//! the map names the loader relies on. Needs root.

use std::net::Ipv6Addr;

use etherparse::{EtherType, Icmpv6Type, Ipv4HeaderSlice};
use tunnel_common::{
    maps,
    stats::{Drop, Event},
};
use tunnel_tests::{cases::*, packets::*, prog::*};
use tunnelctl::prefix::Ipv6Prefix;

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Every prefix of each valid frame (decap, tunnel-to-tunnel, hop-limit
/// error, encap, too big) gives a pass or a counted drop: never
/// XDP_ABORTED, never an uncounted drop.
#[test]
fn truncated_frames_pass_or_count() {
    let mut bed = ProgBed::new().expect("prog bed");
    let client = |inner: &[u8]| {
        eth(
            CLIENT_A_MAC,
            X0_MAC,
            EtherType::IPV4,
            &sixin4(V4::new(CLIENT_A, POP_V4), inner),
        )
    };
    let upstream = |inner: &[u8]| eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, inner);
    let frames = [
        (
            "decap",
            client(&ipv6_echo(a6("2001:db8:1::2"), UPSTREAM, 64, 40)),
            bed.x0,
        ),
        (
            "t2t",
            client(&ipv6_echo(a6("2001:db8:1::2"), a6("2001:db8:2::2"), 64, 40)),
            bed.x0,
        ),
        (
            "decap hop 1",
            client(&ipv6_echo(a6("2001:db8:1::2"), UPSTREAM, 1, 40)),
            bed.x0,
        ),
        (
            "encap",
            upstream(&ipv6_echo(UPSTREAM, a6("2001:db8:1::2"), 64, 40)),
            bed.x1,
        ),
        (
            "encap too big",
            upstream(&ipv6_echo(UPSTREAM, a6("2001:db8:1::2"), 64, 1500 - 48)),
            bed.x1,
        ),
    ];
    let mut runs = 0;
    for (name, frame, ifindex) in frames {
        // Tighter MTU so the "too big" frame exercises the PTB path.
        let mut t = ProgBed::tunnel_a();
        t.mtu = 1280;
        // BPF_PROG_TEST_RUN refuses XDP input shorter than an Ethernet header.
        for len in 14..=frame.len() {
            bed.reset().unwrap();
            bed.dp.update_tunnel(TUNNEL_A, &t).unwrap();
            let run = bed.run(&frame[..len], ifindex).unwrap();
            let drops = bed.counters().total_drops();
            match run.action {
                XDP_PASS => assert_eq!(drops, 0, "{name} cut to {len}: pass but drops counted"),
                XDP_DROP => assert_eq!(
                    drops, 1,
                    "{name} cut to {len}: drop not counted exactly once"
                ),
                XDP_TX | XDP_REDIRECT => assert_eq!(
                    len,
                    frame.len(),
                    "{name} cut to {len}: forwarded a truncated frame"
                ),
                a => panic!("{name} cut to {len}: {}", action_name(a)),
            }
            runs += 1;
        }
    }
    assert!(runs > 1500);
}

/// With pmtudisc off (static MTU, RFC 4213 3.2.1) the outer header has no
/// DF and a per-packet id; everything else is as with DF.
#[test]
fn encap_without_df() {
    let mut bed = ProgBed::new().expect("prog bed");
    let mut t = ProgBed::tunnel_a();
    t.pmtudisc = false;
    bed.dp.update_tunnel(TUNNEL_A, &t).unwrap();
    let inner = ipv6_echo(UPSTREAM, a6("2001:db8:1::2"), 64, 32);
    let frame = eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, &inner);
    let mut ids = std::collections::HashSet::new();
    for _ in 0..8 {
        let run = bed.run(&frame, bed.x1).unwrap();
        assert_eq!(run.action, XDP_REDIRECT);
        let v4 = Ipv4HeaderSlice::from_slice(&run.output[14..]).unwrap();
        assert!(!v4.dont_fragment());
        assert_eq!(
            v4.to_header().calc_header_checksum(),
            v4.header_checksum(),
            "header checksum"
        );
        ids.insert(v4.identification());
        // The rest equals the DF encoding with this packet's id.
        let want = eth(
            X0_MAC,
            CLIENT_A_MAC,
            EtherType::IPV4,
            &sixin4(
                V4 {
                    df: false,
                    id: v4.identification(),
                    ..V4::new(POP_V4, CLIENT_A)
                },
                &hop_decremented(&inner),
            ),
        );
        assert_eq!(run.output, want);
    }
    assert!(ids.len() > 1, "ids should vary per packet: {ids:?}");
    assert_eq!(bed.counters().event(Event::Encap), 8);
}

/// The PTB rate limit: a burst of 3 answers 3, then counts drops.
#[test]
fn icmp_errors_are_rate_limited() {
    let mut bed = ProgBed::new().expect("prog bed");
    bed.dp
        .set_config(&tunnel_common::config::RuntimeConfig {
            icmp_rate_per_sec: 1,
            icmp_burst: 3,
            ..Default::default()
        })
        .unwrap();
    let mut t = ProgBed::tunnel_a();
    t.mtu = 1280;
    bed.dp.update_tunnel(TUNNEL_A, &t).unwrap();
    let big = ipv6_echo(UPSTREAM, a6("2001:db8:1::2"), 64, 1300);
    let frame = eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, &big);
    let ptb = eth(
        X1_MAC,
        UPSTREAM_MAC,
        EtherType::IPV6,
        &icmpv6_error(
            a6("2001:db8:1::1"),
            UPSTREAM,
            Icmpv6Type::PacketTooBig { mtu: 1280 },
            &big,
        ),
    );
    let runs: Vec<Run> = (0..6).map(|_| bed.run(&frame, bed.x1).unwrap()).collect();
    let actions: Vec<&str> = runs.iter().map(|r| action_name(r.action)).collect();
    assert_eq!(
        actions,
        ["XDP_TX", "XDP_TX", "XDP_TX", "XDP_DROP", "XDP_DROP", "XDP_DROP"]
    );
    for (i, r) in runs.iter().take(3).enumerate() {
        assert!(
            r.output == ptb,
            "packet too big {i}:\n{}",
            hex_diff(&ptb, &r.output)
        );
    }
    let c = bed.counters();
    assert_eq!(c.event(Event::IcmpPacketTooBig), 3);
    assert_eq!(c.drop(tunnel_common::stats::Drop::TooBig), 3);
}

/// Every map the loader opens by a `tunnel_common::maps` constant exists in
/// the object under that name.
#[test]
fn maps_are_named_as_the_constants() {
    let mut bed = ProgBed::new().expect("prog bed");
    let ebpf = bed.dp.ebpf_mut();
    for name in maps::ALL {
        assert!(
            ebpf.map(name).is_some(),
            "map {name} missing from the object"
        );
    }
    assert_eq!(
        ebpf.maps().count(),
        maps::ALL.len(),
        "a map without a constant in tunnel_common::maps"
    );
}

/// Routed prefixes of every kind of length reach their tunnel, in both
/// directions: encapsulation toward the prefix, and the inner-source
/// check on decapsulation. Removing the prefix makes both stop.
#[test]
fn routed_prefixes_of_every_length() {
    let mut bed = ProgBed::new().expect("prog bed");
    let mut cases = Vec::new();
    for (prefix, inside) in [
        ("2001:db8:300::/40", "2001:db8:300:1::5"),
        ("2001:db8:400::/48", "2001:db8:400:1::5"),
        ("2001:db8:500::/56", "2001:db8:500:0:1::5"),
        ("2001:db8:600::/60", "2001:db8:600:0:1::5"),
        ("2001:db8:700::/64", "2001:db8:700::5"),
        ("2001:db8:800::/80", "2001:db8:800::1:0:5"),
    ] {
        let p: Ipv6Prefix = prefix.parse().unwrap();
        let add = move |b: &mut ProgBed| b.dp.add_prefix(TUNNEL_B, &p).unwrap();
        let to_prefix = ipv6_echo(UPSTREAM, a6(inside), 64, 16);
        let from_prefix = ipv6_echo(a6(inside), UPSTREAM, 64, 16);
        let inside_tunnel = |client, mac| {
            eth(
                mac,
                X0_MAC,
                EtherType::IPV4,
                &sixin4(V4::new(client, POP_V4), &from_prefix),
            )
        };
        cases.extend([
            Case::xdp(
                format!("{prefix}: encapsulated toward client B"),
                eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, &to_prefix),
            )
            .on(x1)
            .setup(add)
            .redirect(eth(
                X0_MAC,
                CLIENT_B_MAC,
                EtherType::IPV4,
                &sixin4(V4::new(POP_V4, CLIENT_B), &hop_decremented(&to_prefix)),
            ))
            .tunnel(TUNNEL_B, 0, 1),
            Case::xdp(
                format!("{prefix}: from inside tunnel B, forwarded upstream"),
                inside_tunnel(CLIENT_B, CLIENT_B_MAC),
            )
            .on(x0)
            .setup(add)
            .redirect(eth(
                X1_MAC,
                UPSTREAM_MAC,
                EtherType::IPV6,
                &hop_decremented(&from_prefix),
            ))
            .tunnel(TUNNEL_B, 1, 0),
            Case::xdp(
                format!("{prefix}: from inside tunnel A, spoofed"),
                inside_tunnel(CLIENT_A, CLIENT_A_MAC),
            )
            .on(x0)
            .setup(add)
            .dropped(Drop::SpoofedSource),
            Case::xdp(
                format!("{prefix}: removed, no longer ours"),
                eth(UPSTREAM_MAC, X1_MAC, EtherType::IPV6, &to_prefix),
            )
            .on(x1)
            .setup(move |b| {
                add(b);
                b.dp.remove_prefix(&p).unwrap();
            })
            .pass_unchanged()
            .events(&[(Event::NotOurs, 1)]),
        ]);
    }
    check(&mut bed, cases);
}

/// Drops that a complete, consistent datapath never takes, forced by
/// writing the maps as no daemon would: each is still a named, counted
/// drop (never ABORTED, never a crash).
#[test]
fn inconsistent_maps_are_counted_drops() {
    use aya::maps::{Array, DevMapHash, HashMap, MapData};
    use tunnel_common::tunnel::{DecapRef, TunnelInfo};
    let mut bed = ProgBed::new().expect("prog bed");
    let to_a = eth(
        UPSTREAM_MAC,
        X1_MAC,
        EtherType::IPV6,
        &ipv6_echo(UPSTREAM, a6("2001:db8:1::2"), 64, 16),
    );
    let cases = vec![
        Case::xdp("a tunnel of a kind this build does not know", to_a.clone())
            .on(x1)
            .setup(|b| {
                let mut t: Array<&mut MapData, TunnelInfo> =
                    Array::try_from(b.dp.ebpf_mut().map_mut("TUNNELS").unwrap()).unwrap();
                let mut info = t.get(&TUNNEL_A, 0).unwrap();
                info.kind = 9;
                t.set(TUNNEL_A, info, 0).unwrap();
            })
            .dropped(Drop::UnknownKind)
            .charged_to(TUNNEL_A),
        Case::xdp("the next hop's device is not in TX_PORTS", {
            let inner = ipv6_echo(a6("2001:db8:1::2"), UPSTREAM, 64, 16);
            let outer = sixin4(V4::new(CLIENT_A, POP_V4), &inner);
            eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &outer)
        })
        .on(x0)
        .setup(|b| {
            let x1 = b.x1;
            let mut ports: DevMapHash<&mut MapData> =
                DevMapHash::try_from(b.dp.ebpf_mut().map_mut("TX_PORTS").unwrap()).unwrap();
            ports.remove(x1).unwrap();
        })
        .dropped(Drop::NoTxPort)
        .charged_to(TUNNEL_A),
        Case::xdp("an identity that leads to a 6in4 tunnel", {
            use tunnel_common::ayiya::{sign::encode, AyiyaHdr, NH_NONE, PORT};
            let h = AyiyaHdr::new(0, NH_NONE, 1_700_000_000, a6("2001:db8:1::2").octets());
            let d = encode(
                &h,
                &[],
                &tunnel_common::ayiya::sign::Key::from_password("x"),
            );
            let udp = udp4((CLIENT_A, 40000), (POP_V4, PORT), &d);
            eth(CLIENT_A_MAC, X0_MAC, EtherType::IPV4, &udp)
        })
        .on(x0)
        .setup(|b| {
            b.set_unix_time(1_700_000_000);
            let info = b.dp.tunnel_info(TUNNEL_A).unwrap().unwrap();
            let mut ids: HashMap<&mut MapData, [u8; 16], DecapRef> =
                HashMap::try_from(b.dp.ebpf_mut().map_mut("TUN_BY_ID6").unwrap()).unwrap();
            ids.insert(
                a6("2001:db8:1::2").octets(),
                DecapRef::new(TUNNEL_A, &info),
                0,
            )
            .unwrap();
        })
        .dropped(Drop::AyiyaNotAyiya)
        .charged_to(TUNNEL_A),
        // Last: the bed's reset does not refill the jump table.
        Case::xdp("a path's program missing from the jump table", to_a.clone())
            .on(x1)
            .setup(|b| {
                let mut jumps: aya::maps::ProgramArray<&mut MapData> =
                    aya::maps::ProgramArray::try_from(b.dp.ebpf_mut().map_mut("JUMPS").unwrap())
                        .unwrap();
                jumps.clear_index(&tunnel_common::jump::JUMP_ROUTE).unwrap();
            })
            .dropped(Drop::JumpFailed),
    ];
    check(&mut bed, cases);
    // What the cases wrote is undone by the next bed's reset; the
    // identity entry is not a tunnel's, so remove it here.
    let mut ids: HashMap<&mut MapData, [u8; 16], DecapRef> =
        HashMap::try_from(bed.dp.ebpf_mut().map_mut("TUN_BY_ID6").unwrap()).unwrap();
    let _ = ids.remove(&a6("2001:db8:1::2").octets());
}
