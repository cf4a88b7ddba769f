//! Interop with a real 6in4 client: the kernel's own sit device (`ip tunnel
//! add … mode sit`, what a tunnel broker's users run) in the client
//! namespace, talking to the XDP PoP of the L2 test bed.
//!
//! Needs a kernel with sit, which the host here lacks: `cargo xtask vm`
//! runs it in QEMU with TUNNEL_VM=1 set. Elsewhere a missing sit makes each
//! test say so and return; with TUNNEL_VM set it is a failure.

use std::net::Ipv6Addr;

use tunnel_common::stats::{Drop, Event};
use tunnel_tests::{
    topology::{Testbed, CLIENT_V4, POP_V4, TUNNEL_ID, UPSTREAM_V6},
    traffic::{ping, tcp_transfer},
};

const SIT: &str = "sit6in4";

/// The test bed with tunnel MTU `tunnel_mtu` and, in the client namespace,
/// a sit device of MTU `sit_mtu` holding the tunnel's ::2/64 and the
/// default route. None when this kernel has no sit (outside the VM).
fn testbed(tunnel_mtu: u16, sit_mtu: u16) -> Option<Testbed> {
    let tb = Testbed::new(tunnel_mtu).expect("test bed");
    // ttl 64 also turns on pmtudisc (DF on the outer header), sit's default
    // for a tunnel with a fixed TTL and what the PoP does toward the user.
    if let Err(e) = tb.client.ip(&format!(
        "tunnel add {SIT} mode sit local {CLIENT_V4} remote {POP_V4} ttl 64"
    )) {
        if std::env::var_os("TUNNEL_VM").is_some() {
            panic!("no sit tunnel in the VM: {e:#}");
        }
        eprintln!("skipped: this kernel has no sit ({e:#}); `cargo xtask vm` runs this test");
        return None;
    }
    tb.client
        .ip(&format!("link set {SIT} up mtu {sit_mtu}"))
        .unwrap();
    tb.client
        .ip(&format!(
            "-6 addr add {}/64 dev {SIT} nodad",
            tb.user_address()
        ))
        .unwrap();
    tb.client
        .ip(&format!("-6 route add default dev {SIT}"))
        .unwrap();
    Some(tb)
}

/// Drops other than link-scope chatter (the sit device's own RS and MLD),
/// which the PoP counts and drops in every test.
fn unexpected_drops(tb: &mut Testbed) -> u64 {
    let c = tb.dp.counters().unwrap();
    c.total_drops() - c.drop(Drop::LinkScope)
}

#[test]
fn ping_both_ways_through_kernel_sit() {
    let Some(mut tb) = testbed(1480, 1480) else {
        return;
    };
    let p = ping(&tb.client, &["-c", "3", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert!(
        p.ok && p.received() == 3,
        "sit client → upstream:\n{}",
        p.stdout
    );
    let user = tb.user_address().to_string();
    let p = ping(&tb.upstream, &["-c", "3", "-i", "0.2", &user]).unwrap();
    assert!(
        p.ok && p.received() == 3,
        "upstream → sit client:\n{}",
        p.stdout
    );
    // 3 requests and 3 replies per direction went through XDP, at least.
    let t = tb.dp.tunnel_counters(TUNNEL_ID).unwrap();
    assert!(t.rx_packets >= 6 && t.tx_packets >= 6, "{t:?}");
    assert_eq!(
        unexpected_drops(&mut tb),
        0,
        "{:?}",
        tb.dp.counters().unwrap()
    );
}

/// 2 MiB each way between the sit client and upstream, hashed at both ends.
#[test]
fn tcp_both_ways_through_kernel_sit() {
    const BYTES: usize = 2 << 20;
    let Some(mut tb) = testbed(1480, 1480) else {
        return;
    };
    let upstream: Ipv6Addr = UPSTREAM_V6.parse().unwrap();
    let up = tcp_transfer(&tb.client, &tb.upstream, upstream, BYTES).unwrap();
    assert!(up.ok(), "sit client → upstream: {up:?}");
    let down = tcp_transfer(&tb.upstream, &tb.client, tb.user_address(), BYTES).unwrap();
    assert!(down.ok(), "upstream → sit client: {down:?}");
    let t = tb.dp.tunnel_counters(TUNNEL_ID).unwrap();
    assert!(
        t.rx_bytes >= BYTES as u64 && t.tx_bytes >= BYTES as u64,
        "{t:?}"
    );
    let c = tb.dp.counters().unwrap();
    assert_eq!(c.event(Event::Decap), t.rx_packets, "{c:?}");
    assert_eq!(unexpected_drops(&mut tb), 0, "{c:?}");
}

/// Tunnel MTU 1280, sit MTU 1480: a 1348-byte packet from upstream with DF
/// gets Packet Too Big from the tunnel's ::1; then TCP toward the client,
/// whose MSS is for 1480, completes through path-MTU discovery.
#[test]
fn packet_too_big_then_pmtud_with_kernel_sit() {
    let Some(mut tb) = testbed(1280, 1480) else {
        return;
    };
    let user = tb.user_address().to_string();
    let p = ping(&tb.upstream, &["-c", "1", "-s", "1300", "-M", "do", &user]).unwrap();
    assert!(!p.ok, "{}", p.stdout);
    let want = format!(
        "From {} icmp_seq=1 Packet too big: mtu=1280",
        tb.pop_address()
    );
    assert!(p.stdout.contains(&want), "want {want:?} in:\n{}", p.stdout);
    assert!(tb.dp.counters().unwrap().event(Event::IcmpPacketTooBig) >= 1);

    let r = tcp_transfer(&tb.upstream, &tb.client, tb.user_address(), 1 << 20).unwrap();
    assert!(r.ok(), "{r:?}");
    let c = tb.dp.counters().unwrap();
    assert_eq!(c.drop(Drop::TooBig), 0, "PTB rate limited: {c:?}");
}
