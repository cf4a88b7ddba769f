//! L2: an AYIYA tunnel run by the daemon, as an operator adds it
//! (`tunnel add --kind ayiya --password`), and a user that speaks AYIYA
//! over a plain UDP socket from the client namespace (signed with the
//! host-side codec, `tunnel_common::ayiya::sign`). The daemon keeps only
//! the key; the data path checks the user's signatures against the clock
//! the daemon gives it, learns the user's address and port, and forwards
//! what the user sends upstream, and signs what comes back.

use std::{
    net::{Ipv6Addr, SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use tunnel_common::ayiya::{
    sign::{beat, encode, unix_now, verify, Key},
    AyiyaHdr, NH_IPV6, OP_FORWARD, PORT,
};
use tunnel_tests::{
    daemon::{metrics, Daemon, DaemonBed},
    netns::Netns,
    packets::ipv6_echo,
    topology::{CLIENT_V4, POP_V4, UPSTREAM_V6},
};

const PASSWORD: &str = "f3d47c2de40fb698e1ab15d757a09bfc";
const USER: &str = "2001:db8:1::2";
const CLIENT_PORT: u16 = 40072;

/// `tunnel add ID --kind ayiya`, as an operator types it, local 192.0.2.1.
fn add_ayiya(d: &Daemon, id: u32, prefix: &str) {
    let id = id.to_string();
    d.ok(&[
        "tunnel",
        "add",
        &id,
        "--kind",
        "ayiya",
        "--local",
        "192.0.2.1",
        "--password",
        PASSWORD,
        "--prefix",
        prefix,
    ])
    .unwrap();
}

/// A UDP socket in the client namespace, bound to the client's address.
fn client_socket(client: &Netns) -> UdpSocket {
    let _in = client.enter().unwrap();
    let s = UdpSocket::bind(SocketAddr::from((CLIENT_V4, CLIENT_PORT))).unwrap();
    s.connect(SocketAddr::from((POP_V4, PORT))).unwrap();
    s
}

/// The upstream kernel's count of ICMPv6 echo requests received.
fn upstream_echoes(upstream: &Netns) -> u64 {
    let out = upstream.run(&["cat", "/proc/net/snmp6"]).unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Icmp6InEchos"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ayiya_user_is_learned_and_forwarded_upstream() {
    let mut bed = DaemonBed::new(64, 256).expect("daemon bed");
    let (ns, d) = (&bed.ns, &bed.daemon);
    add_ayiya(d, 1, "2001:db8:1::/64");
    // The password is not kept, nor shown; the key is, in the store only.
    let shown = d.ok(&["tunnel", "show", "1", "--json"]).unwrap();
    assert!(
        !shown.contains(PASSWORD) && !shown.contains("sha1:"),
        "{shown}"
    );
    assert!(!std::fs::read(d.dir.join("state.db"))
        .unwrap()
        .windows(PASSWORD.len())
        .any(|w| w == PASSWORD.as_bytes()));

    let user: Ipv6Addr = USER.parse().unwrap();
    let key = Key::from_password(PASSWORD);
    let sock = client_socket(&ns.client);

    // Never seen: down.
    let v: serde_json::Value =
        serde_json::from_str(&d.ok(&["tunnel", "show", "1", "--json"]).unwrap()).unwrap();
    assert_eq!(v["state"], "down", "{v}");

    // A beat: the tunnel learns where its user is.
    sock.send(&beat(user.octets(), unix_now(), &key)).unwrap();
    wait_for("the learned endpoint", || {
        let v: serde_json::Value =
            serde_json::from_str(&d.ok(&["tunnel", "show", "1", "--json"]).unwrap()).unwrap();
        v["endpoint"]["remote"] == format!("{CLIENT_V4}:{CLIENT_PORT}") && v["state"] == "up"
    });

    // An echo request to the upstream host, in op 1: decapsulated and
    // forwarded; the upstream kernel sees it.
    let before = upstream_echoes(&ns.upstream);
    let echo = ipv6_echo(user, UPSTREAM_V6.parse().unwrap(), 64, 16);
    let h = AyiyaHdr::new(OP_FORWARD, NH_IPV6, unix_now(), user.octets());
    sock.send(&encode(&h, &echo, &key)).unwrap();
    wait_for("the echo upstream", || {
        upstream_echoes(&ns.upstream) > before
    });

    // The upstream's reply comes back signed, from the PoP's port 5072 to
    // the user's socket: identity the PoP's `::1`, op 1, an echo reply
    // inside from the upstream host to the user.
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let n = sock.recv(&mut buf).expect("the echo reply, encapsulated");
    let got = verify(&buf[..n], &key, unix_now()).expect("signed with the tunnel's key");
    let pop: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    assert_eq!(got.identity(), &pop.octets());
    assert_eq!(
        (got.header().opcode(), got.header().next_header),
        (OP_FORWARD, NH_IPV6)
    );
    let reply = got.payload();
    assert_eq!(reply[6], 58, "ICMPv6 inside");
    assert_eq!(reply[40], 129, "an echo reply");
    assert_eq!(
        &reply[8..24],
        &UPSTREAM_V6.parse::<Ipv6Addr>().unwrap().octets()
    );
    assert_eq!(&reply[24..40], &user.octets());

    // Signed with another password: dropped, counted, nothing learned.
    let forged = encode(&h, &echo, &Key::from_password("guess"));
    sock.send(&forged).unwrap();
    wait_for("the hash failure counted", || {
        d.ok(&["stats", "--json"])
            .unwrap()
            .contains("ayiya_hash_fail")
    });
    let shown = d.ok(&["tunnel", "show", "1"]).unwrap();
    assert!(shown.contains("rx        1 packets"), "{shown}");
    // Charged to the tunnel too, as sixxsd's per-tunnel error counters.
    assert!(shown.contains("errors    1 dropped"), "{shown}");
    assert!(shown.contains(": ayiya_hash_fail"), "{shown}");
    let metrics = metrics(&ns.pop);
    assert!(
        metrics.contains("tunnelpop_tunnel_errors_total{tunnel=\"1\"} 1"),
        "{metrics}"
    );
    bed.daemon.stop().unwrap();
}

/// Tunnel to tunnel across kinds: the AYIYA user pings the 6in4 user
/// (whose kernel, behind its userspace 6in4 peer, answers). The request
/// crosses AYIYA → 6in4, the reply 6in4 → AYIYA, each in one pass of the
/// PoP's XDP.
#[test]
fn ayiya_and_6in4_users_reach_each_other() {
    use tunnel_tests::peer6in4::{Peer6in4, PeerConfig};
    let mut bed = DaemonBed::new(64, 256).expect("daemon bed");
    let (ns, d) = (&bed.ns, &bed.daemon);
    d.ok(&[
        "tunnel",
        "add",
        "1",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--prefix",
        "2001:db8:1::/64",
    ])
    .unwrap();
    add_ayiya(d, 2, "2001:db8:2::/64");
    let _peer = Peer6in4::start(
        &ns.client,
        &PeerConfig {
            ifname: "tun6in4",
            local: CLIENT_V4,
            remote: POP_V4,
            address: "2001:db8:1::2/64",
            mtu: 1480,
        },
    )
    .unwrap();
    let ayiya_user: Ipv6Addr = "2001:db8:2::2".parse().unwrap();
    let sixin4_user: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    let key = Key::from_password(PASSWORD);
    let sock = client_socket(&ns.client);
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    let mut answered = 0;
    for seq in 0..5u8 {
        let mut echo = ipv6_echo(ayiya_user, sixin4_user, 64, 16);
        // A distinct payload per request: the same datagram twice would be
        // a replay.
        echo[48] = seq;
        let sum = {
            echo[42] = 0;
            echo[43] = 0;
            let pseudo = tunnel_common::csum::pseudo_v6(
                &ayiya_user.octets(),
                &sixin4_user.octets(),
                (echo.len() - 40) as u32,
                58,
            );
            !tunnel_common::csum::fold(tunnel_common::csum::add_bytes(pseudo, &echo[40..]))
        };
        echo[42..44].copy_from_slice(&sum.to_be_bytes());
        let h = AyiyaHdr::new(OP_FORWARD, NH_IPV6, unix_now(), ayiya_user.octets());
        sock.send(&encode(&h, &echo, &key)).unwrap();
        let mut buf = [0u8; 2048];
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let got = verify(&buf[..n], &key, unix_now()).expect("signed with tunnel 2's key");
        let reply = got.payload();
        if reply[40] == 129 && reply[8..24] == sixin4_user.octets() && reply[48] == seq {
            answered += 1;
        }
    }
    assert!(
        answered >= 4,
        "{answered} of 5 echo requests answered across the kinds"
    );
    let v: serde_json::Value = serde_json::from_str(&d.ok(&["stats", "--json"]).unwrap()).unwrap();
    let t2t = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e[0] == "tunnel_to_tunnel")
        .and_then(|e| e[1].as_u64())
        .unwrap_or(0);
    assert!(t2t >= 2 * answered as u64, "tunnel_to_tunnel {t2t}: {v}");
    bed.daemon.stop().unwrap();
}
