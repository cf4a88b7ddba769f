//! L2: `tunnelctl client`, the AYIYA client, against the real daemon, from
//! behind a masquerading NAT:
//!
//! The bed: `tunnel_tests::ayiya_nat` (its drawing there).
//!
//! Cases: the PoP learns the NAT's public address and port from beats;
//! pings to the PoP's `::1` and upstream and TCP both ways through the
//! tunnel (AYIYA encapsulation in the data path on the way back); a NAT
//! rebinding in the middle of transfers both ways; a daemon restart
//! while pinging; a wrong password and a skewed clock, counted by the PoP
//! and explained by the client; the client's host renumbered (it takes a
//! new socket and is learned anew). `over_ipv6` drops the NAT: the client on
//! the PoP's first uplink (2001:db8:fffe::2, the PoP ::1) with an IPv6
//! `--pop`, its address and port learned, pings and TCP both ways.
//!
//! `client_against_a_scripted_pop` also plays the PoP with a UDP
//! socket and the host codec, behind the same NAT: the client's receive
//! path, its probe, its refusals and hints, a PoP restart and a NAT
//! rebinding, from the client's side.

use std::{
    io::{Read, Write},
    net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use etherparse::{Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use tunnel_common::ayiya::{
    sign::{encode, unix_now, verify, Key},
    AyiyaHdr, HEADER_LEN, NH_IPV6, OP_FORWARD, PORT,
};
use tunnel_tests::{
    ayiya_nat::*,
    netns::{veth, Netns},
    traffic::{ping, tcp_transfer},
};

#[test]
fn beats_are_learned_through_the_nat() {
    let mut b = AyiyaBed::new().expect("bed");
    assert_eq!(
        b.endpoint().unwrap(),
        None,
        "nothing learned before the client"
    );
    assert_eq!(b.state().unwrap(), "down");
    b.start_client(&["--password", PASSWORD]).unwrap();
    // Beats alone (nothing is sent through the tunnel here): the PoP
    // learns the NAT's public address and a port of its range, not the
    // client's own address and port.
    let ep = b.wait_endpoint(PORTS_A).unwrap();
    let own = client_port(&b.client_log()).expect("the client's start line");
    assert!(
        !(PORTS_A.0..=PORTS_A.1).contains(&own),
        "the client's own port {own} is in the NAT's range: nothing proves the NAT"
    );
    assert_ne!(ep.ip().to_string(), CLIENT_V4);
    assert_eq!(b.state().unwrap(), "up");
    // The NAT's conntrack entry is the mapping the PoP learned.
    let ct = b
        .nat()
        .run(&["conntrack", "-L", "-p", "udp", "--dport", "5072"])
        .unwrap();
    let ct = String::from_utf8_lossy(&ct.stdout).into_owned();
    assert!(
        ct.contains(&format!("sport={own}")) && ct.contains(&format!("dport={}", ep.port())),
        "conntrack: {ct}\nendpoint {ep}"
    );
    // Nothing was refused: the signatures and the clock are right.
    for reason in [
        "ayiya_hash_fail",
        "ayiya_clock_off",
        "ayiya_unknown_identity",
    ] {
        assert_eq!(b.drops(reason).unwrap(), 0, "{reason}");
    }
    // Nor anything else: a client that only beats costs the PoP no drop
    // (no router solicitations from a link-local address, no MLD).
    let v: serde_json::Value =
        serde_json::from_str(&b.daemon.ok(&["stats", "--json"]).unwrap()).unwrap();
    assert_eq!(v["drops"], serde_json::json!([]), "{v}");
    // Beats keep it fresh: every 2 s, so never more than a few s old.
    thread::sleep(Duration::from_secs(5));
    let v: serde_json::Value =
        serde_json::from_str(&b.daemon.ok(&["tunnel", "show", "1", "--json"]).unwrap()).unwrap();
    let age = v["endpoint"]["seen_s_ago"].as_u64().unwrap();
    assert!(
        age <= 3,
        "endpoint last seen {age} s ago with beats every 2 s"
    );

    // SIGTERM: a clean exit, the tun device gone.
    let (ok, log) = b.client_proc.as_mut().unwrap().stop().unwrap();
    assert!(ok, "{log}");
    assert!(log.contains("SIGTERM: stopping"), "{log}");
    let links = b.client.run(&["ip", "link"]).unwrap();
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(TUN),
        "the tun device outlived the client"
    );
    b.daemon.stop().unwrap();
}

#[test]
fn wrong_password_is_refused_and_said() {
    let mut b = AyiyaBed::new().expect("bed");
    b.start_client(&["--password", "not the tunnel's password"])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.drops("ayiya_hash_fail").unwrap() < 3 {
        assert!(
            Instant::now() < deadline,
            "the PoP counted no hash failures:\n{}",
            b.daemon.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
    // Nothing learned from unauthenticated datagrams.
    assert_eq!(b.endpoint().unwrap(), None);
    assert_eq!(b.state().unwrap(), "down");
    // The client cannot see the PoP's refusal (it is silent); its probe
    // goes unanswered and it says what to check, password first, without
    // printing the password.
    wait_log(&b, "no answer from the PoP").unwrap();
    let log = b.client_log();
    assert!(log.contains("Check the password"), "{log}");
    assert!(log.contains(&format!("{POP_V4}:5072")), "{log}");
    assert!(!log.contains("not the tunnel's password"), "{log}");
    assert_eq!(b.drops("ayiya_clock_off").unwrap(), 0);
    b.daemon.stop().unwrap();
}

#[test]
fn skewed_clock_is_refused_and_said() {
    let mut b = AyiyaBed::new().expect("bed");
    b.start_client(&["--password", PASSWORD, "--clock-offset", "300"])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.drops("ayiya_clock_off").unwrap() < 3 {
        assert!(
            Instant::now() < deadline,
            "the PoP counted no clock refusals:\n{}",
            b.daemon.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.endpoint().unwrap(), None);
    // The clock is checked before the signature: no hash failures.
    assert_eq!(b.drops("ayiya_hash_fail").unwrap(), 0);
    wait_log(&b, "no answer from the PoP").unwrap();
    let log = b.client_log();
    assert!(log.contains("our clock (now"), "{log}");
    b.daemon.stop().unwrap();
}

#[test]
fn traffic_both_ways() {
    let mut b = AyiyaBed::new().expect("bed");
    b.start_client(&["--password", PASSWORD]).unwrap();
    b.wait_endpoint(PORTS_A).unwrap();
    // The client's own probe to ::1 was answered.
    b.wait_tunnel_up().unwrap();

    let p = ping(&b.client, &["-c", "5", "-i", "0.2", POP_INNER_V6]).unwrap();
    assert_eq!(
        p.received(),
        5,
        "ping ::1:\n{}\n{}",
        p.stdout,
        b.client_log()
    );
    let p = ping(&b.client, &["-c", "5", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert_eq!(
        p.received(),
        5,
        "ping upstream:\n{}\n{}",
        p.stdout,
        b.client_log()
    );
    let p = ping(&b.upstream, &["-c", "5", "-i", "0.2", USER_V6]).unwrap();
    assert_eq!(
        p.received(),
        5,
        "ping the user from upstream:\n{}",
        p.stdout
    );
    // Full-size packets: the tunnel MTU (1280) on the way out and back.
    let p = ping(
        &b.client,
        &["-c", "3", "-s", "1232", "-M", "do", UPSTREAM_V6],
    )
    .unwrap();
    assert_eq!(p.received(), 3, "1280-byte pings:\n{}", p.stdout);

    let user: Ipv6Addr = USER_V6.parse().unwrap();
    let up: Ipv6Addr = UPSTREAM_V6.parse().unwrap();
    let r = tcp_transfer(&b.client, &b.upstream, up, 4 << 20).unwrap();
    assert!(r.ok(), "client to upstream: {r:?}");
    let r = tcp_transfer(&b.upstream, &b.client, user, 4 << 20).unwrap();
    assert!(r.ok(), "upstream to client: {r:?}");

    // The PoP's per-tunnel counters saw it both ways.
    let v: serde_json::Value =
        serde_json::from_str(&b.daemon.ok(&["tunnel", "show", "1", "--json"]).unwrap()).unwrap();
    assert!(v["stats"]["rx_bytes"].as_u64().unwrap() > 4 << 20, "{v}");
    assert!(v["stats"]["tx_bytes"].as_u64().unwrap() > 4 << 20, "{v}");
    // Nothing of it was dropped at the PoP.
    let v: serde_json::Value =
        serde_json::from_str(&b.daemon.ok(&["stats", "--json"]).unwrap()).unwrap();
    assert_eq!(v["drops"], serde_json::json!([]), "{v}");
    // And the client refused nothing.
    let (ok, log) = b.client_proc.as_mut().unwrap().stop().unwrap();
    assert!(ok && !log.contains("refused"), "{log}");
    b.daemon.stop().unwrap();
}

/// A TCP transfer of `chunks` × `chunk` bytes from `from_ns` to `addr` in
/// `to_ns`, paced by `pause` between chunks so that it lasts; returns
/// (bytes sent, bytes received, whether the hashes agree).
fn paced_transfer(
    from_ns: &Netns,
    to_ns: &Netns,
    addr: Ipv6Addr,
    chunk: usize,
    chunks: usize,
    pause: Duration,
) -> Result<(usize, usize, bool)> {
    let listener = {
        let _in = to_ns.enter()?;
        TcpListener::bind(SocketAddr::from((addr, 0)))?
    };
    let dst = listener.local_addr()?;
    let receiver = thread::spawn(move || -> Result<(usize, u64)> {
        let (mut s, _) = listener.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut buf = vec![0u8; 1 << 16];
        let (mut n, mut h) = (0usize, 0xcbf2_9ce4_8422_2325u64);
        loop {
            let k = s.read(&mut buf).context("receiving")?;
            if k == 0 {
                return Ok((n, h));
            }
            h = fnv(h, &buf[..k]);
            n += k;
        }
    });
    let mut s = {
        let _in = from_ns.enter()?;
        TcpStream::connect_timeout(&dst, Duration::from_secs(10))?
    };
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut sent = 0;
    for i in 0..chunks {
        let data: Vec<u8> = (0..chunk)
            .map(|j| (i * 7919 + j * 31 + j / 251) as u8)
            .collect();
        s.write_all(&data).context("sending")?;
        h = fnv(h, &data);
        sent += chunk;
        thread::sleep(pause);
    }
    s.shutdown(std::net::Shutdown::Write)?;
    let (received, rh) = receiver.join().expect("receiver panicked")?;
    Ok((sent, received, rh == h))
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[test]
fn nat_rebinding_mid_transfer() {
    let mut b = AyiyaBed::new().expect("bed");
    b.start_client(&["--password", PASSWORD]).unwrap();
    let before = b.wait_endpoint(PORTS_A).unwrap();
    b.wait_tunnel_up().unwrap();

    let user: Ipv6Addr = USER_V6.parse().unwrap();
    let up: Ipv6Addr = UPSTREAM_V6.parse().unwrap();
    // Both ways at once, 4 MiB each over about 4 s.
    let started = Instant::now();
    let (out, back) = thread::scope(|s| {
        let out = s.spawn(|| {
            paced_transfer(
                &b.client,
                &b.upstream,
                up,
                64 << 10,
                64,
                Duration::from_millis(60),
            )
        });
        let back = s.spawn(|| {
            paced_transfer(
                &b.upstream,
                &b.client,
                user,
                64 << 10,
                64,
                Duration::from_millis(60),
            )
        });
        // Mid-way: the NAT maps onto another port range and forgets its
        // mappings, so the next datagram leaves from a new public port.
        thread::sleep(Duration::from_millis(1500));
        set_masquerade(b.nat(), PORTS_B).unwrap();
        forget_mappings(b.nat());
        let rebound_at = started.elapsed();
        assert!(
            !out.is_finished() && !back.is_finished(),
            "the transfers ended before the rebinding ({rebound_at:?})"
        );
        (out.join().unwrap(), back.join().unwrap())
    });
    let (sent, received, same) = out.unwrap();
    assert!(
        sent == received && same,
        "client to upstream: {sent} sent, {received} received, hashes agree: {same}"
    );
    let (sent, received, same) = back.unwrap();
    assert!(
        sent == received && same,
        "upstream to client: {sent} sent, {received} received, hashes agree: {same}"
    );
    // The PoP follows the new public port.
    let after = b.wait_endpoint(PORTS_B).unwrap();
    assert_ne!(before.port(), after.port());
    b.daemon.stop().unwrap();
}

#[test]
fn daemon_restart_while_pinging() {
    let mut b = AyiyaBed::new().expect("bed");
    b.start_client(&["--password", PASSWORD]).unwrap();
    b.wait_endpoint(PORTS_A).unwrap();
    b.wait_tunnel_up().unwrap();

    // 100 pings over 10 s to the upstream host; the daemon is stopped
    // (SIGTERM) and started again while they run.
    let (p, restart) = thread::scope(|s| {
        let pinger = s.spawn(|| ping(&b.client, &["-c", "100", "-i", "0.1", UPSTREAM_V6]).unwrap());
        thread::sleep(Duration::from_secs(2));
        let t = Instant::now();
        b.daemon.stop().unwrap();
        b.daemon.start().unwrap();
        let restart = t.elapsed();
        (pinger.join().unwrap(), restart)
    });
    println!("restart took {restart:?}; {}", p.summary());
    // The pinned data path keeps forwarding while no daemon runs, and the
    // learned endpoint stays in its maps (README: a restart loses
    // nothing): every reply arrives.
    assert_eq!(
        p.received(),
        100,
        "across a restart of {restart:?}:\n{}\nclient:\n{}",
        p.stdout,
        b.client_log()
    );
    // After it: every packet.
    let p = ping(&b.client, &["-c", "10", "-i", "0.1", UPSTREAM_V6]).unwrap();
    assert_eq!(p.received(), 10, "after the restart:\n{}", p.stdout);
    assert_eq!(
        b.endpoint().unwrap().map(|e| e.starts_with(NAT_PUBLIC_V4)),
        Some(true)
    );
    b.daemon.stop().unwrap();
}

/// The client against a PoP played by the test: a UDP socket on the PoP's
/// address and port 5072, signing and checking with the host codec. It
/// shows what the real PoP never does on purpose: datagrams with a wrong
/// signature or a clock 300 s off (the client's refusals and their log
/// lines), a PoP that goes away entirely (ICMP port unreachable) and comes
/// back; and, from the PoP's side, the start-up beats, the probe, and a
/// NAT rebinding.
struct ScriptedPop {
    ns: Netns,
    sock: Option<UdpSocket>,
    key: Key,
}

impl ScriptedPop {
    fn bind(ns: &Netns) -> Result<UdpSocket> {
        let _in = ns.enter()?;
        let s = UdpSocket::bind((POP_V4.parse::<std::net::Ipv4Addr>()?, PORT))?;
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(s)
    }

    /// The next authentic datagram from the client within `within`, with
    /// where it came from. Anything that does not verify fails the test.
    fn recv(&self, within: Duration) -> Result<(Vec<u8>, SocketAddr)> {
        let sock = self.sock.as_ref().context("no socket")?;
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let d = verify(&buf[..n], &self.key, unix_now())
                        .map_err(|e| anyhow::anyhow!("datagram from {from} refused: {e}"))?;
                    let user: Ipv6Addr = USER_V6.parse()?;
                    d.expect_identity(&user.octets())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    return Ok((buf[..n].to_vec(), from));
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(e.into()),
            }
        }
        bail!("nothing from the client within {within:?}")
    }

    /// The client's echo reply with this sequence number (id 0x77), as
    /// (data, source, destination) and where it came from; beats and the
    /// client's own probes are skipped.
    fn recv_reply(
        &self,
        seq: u16,
        within: Duration,
    ) -> Result<(Vec<u8>, Ipv6Addr, Ipv6Addr, SocketAddr)> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (d, from) = self.recv(left)?;
            if d[2] & 0xf != OP_FORWARD {
                continue;
            }
            if let Some((Icmpv6Type::EchoReply(h), data, src, dst)) = parse_echo(&d[HEADER_LEN..]) {
                if h.id == 0x77 && h.seq == seq {
                    return Ok((data, src, dst, from));
                }
            }
        }
    }

    /// Sends `packet` to `to` in op 1 as the PoP would: its `::1` as the
    /// identity, signed with `key` at `epoch`.
    fn send(&self, to: SocketAddr, packet: &[u8], key: &Key, epoch: u32) -> Result<()> {
        let pop: Ipv6Addr = POP_INNER_V6.parse()?;
        let h = AyiyaHdr::new(OP_FORWARD, NH_IPV6, epoch, pop.octets());
        let sock = self.sock.as_ref().context("no socket")?;
        sock.send_to(&encode(&h, packet, key), to)?;
        Ok(())
    }
}

/// An ICMPv6 echo (request or reply) built by etherparse.
fn echo(src: Ipv6Addr, dst: Ipv6Addr, reply: bool, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv6(src.octets(), dst.octets(), 64);
    let b = if reply {
        b.icmpv6_echo_reply(id, seq)
    } else {
        b.icmpv6_echo_request(id, seq)
    };
    let mut v = Vec::new();
    b.write(&mut v, data).expect("echo");
    v
}

/// (type, id, seq, data, source, destination) of an ICMPv6 echo, if it
/// is one.
fn parse_echo(p: &[u8]) -> Option<(Icmpv6Type, Vec<u8>, Ipv6Addr, Ipv6Addr)> {
    let s = SlicedPacket::from_ip(p).ok()?;
    let Some(NetSlice::Ipv6(ip)) = &s.net else {
        return None;
    };
    let (src, dst) = (ip.header().source_addr(), ip.header().destination_addr());
    let Some(TransportSlice::Icmpv6(icmp)) = s.transport else {
        return None;
    };
    Some((icmp.icmp_type(), icmp.payload().to_vec(), src, dst))
}

#[test]
fn client_against_a_scripted_pop() {
    let client = Netns::new("cl-client").unwrap();
    let nat = Netns::new("cl-nat").unwrap();
    let pop_ns = Netns::new("cl-pop").unwrap();
    veth(&client, "c0", &nat, "n0").unwrap();
    veth(&nat, "n1", &pop_ns, "p0").unwrap();
    client
        .ip(&format!("addr add {CLIENT_V4}/24 dev c0"))
        .unwrap();
    client
        .ip(&format!("route add default via {NAT_INSIDE_V4}"))
        .unwrap();
    nat.ip(&format!("addr add {NAT_INSIDE_V4}/24 dev n0"))
        .unwrap();
    nat.ip(&format!("addr add {NAT_PUBLIC_V4}/24 dev n1"))
        .unwrap();
    nat.sysctl("net.ipv4.ip_forward", "1").unwrap();
    pop_ns.ip(&format!("addr add {POP_V4}/24 dev p0")).unwrap();
    set_masquerade(&nat, PORTS_A).unwrap();
    let mut pop = ScriptedPop {
        sock: Some(ScriptedPop::bind(&pop_ns).unwrap()),
        ns: pop_ns,
        key: Key::from_password(PASSWORD),
    };
    let mut proc = ClientProc::start(&client, POP_V4, &["--password", PASSWORD]).unwrap();
    let user: Ipv6Addr = USER_V6.parse().unwrap();
    let pop_inner: Ipv6Addr = POP_INNER_V6.parse().unwrap();
    let far: Ipv6Addr = UPSTREAM_V6.parse().unwrap();
    let in_range = |a: SocketAddr, r: (u16, u16)| {
        a.ip().to_string() == NAT_PUBLIC_V4 && (r.0..=r.1).contains(&a.port())
    };

    // Start: three beats a second apart and one probe, echo to ::1.
    let start = Instant::now();
    let (mut beats, mut probe, mut from) = (0, None, None);
    while start.elapsed() < Duration::from_millis(2500) {
        let Ok((d, f)) = pop.recv(Duration::from_millis(2600) - start.elapsed()) else {
            break;
        };
        assert!(in_range(f, PORTS_A), "from {f}: not through the NAT");
        from = Some(f);
        match (d[2] & 0xf, d[3]) {
            (0, 59) => {
                assert_eq!(d.len(), HEADER_LEN, "a beat has no payload");
                beats += 1;
            }
            (1, 41) => probe = Some(d[HEADER_LEN..].to_vec()),
            other => panic!("unexpected datagram {other:?}"),
        }
    }
    assert_eq!(beats, 3, "beats in the first 2.5 s");
    let from = from.unwrap();
    let probe = probe.expect("a probe at start");
    let (t, data, src, dst) = parse_echo(&probe).expect("the probe is an ICMPv6 echo");
    let Icmpv6Type::EchoRequest(h) = t else {
        panic!("probe {t:?}")
    };
    assert_eq!((src, dst), (user, pop_inner));

    // Answered: the client says the tunnel is up, and does not pass its
    // own probe's reply to the kernel.
    let reply = echo(pop_inner, user, true, h.id, h.seq, &data);
    pop.send(from, &reply, &pop.key, unix_now()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proc.log().contains("the PoP answers: tunnel up") {
        assert!(Instant::now() < deadline, "{}", proc.log());
        thread::sleep(Duration::from_millis(50));
    }

    // A packet for the user: to the tun device, where the kernel answers;
    // the answer comes back signed, in op 1.
    let req = echo(far, user, false, 0x77, 1, b"through the tunnel");
    pop.send(from, &req, &pop.key, unix_now()).unwrap();
    let (data, src, dst, f) = pop.recv_reply(1, Duration::from_secs(5)).unwrap();
    assert_eq!(f, from);
    assert_eq!(
        (data.as_slice(), src, dst),
        (&b"through the tunnel"[..], user, far)
    );

    // A PoP clock 60 s ahead: still accepted (the window is 120 s), and
    // said before it is too late.
    let req = echo(far, user, false, 0x77, 9, b"a minute ahead");
    pop.send(from, &req, &pop.key, unix_now() + 60).unwrap();
    let (data, ..) = pop.recv_reply(9, Duration::from_secs(5)).unwrap();
    assert_eq!(data, b"a minute ahead");
    let log = proc.log();
    assert!(
        log.contains("s ahead of ours (ours: ") && log.contains("still accepted"),
        "{log}"
    );

    // Refusals, each said: a wrong signature, a clock 300 s ahead.
    pop.send(from, &req, &Key::from_password("another"), unix_now())
        .unwrap();
    pop.send(from, &req, &pop.key, unix_now() + 300).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = proc.log();
        if log.contains("signature mismatch (wrong password?") && log.contains("its clock is ") {
            let at = log.find("its clock is ").unwrap() + "its clock is ".len();
            let secs: u32 = log[at..].split(' ').next().unwrap().parse().unwrap();
            assert!((299..=301).contains(&secs), "{log}");
            assert!(log.contains("fix the time (NTP)"), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        thread::sleep(Duration::from_millis(50));
    }

    // A flood of forged datagrams: each counted, not each logged (one
    // line per 10 s for the class).
    for _ in 0..100 {
        pop.send(from, &req, &Key::from_password("another"), unix_now())
            .unwrap();
    }
    thread::sleep(Duration::from_millis(500));
    let log = proc.log();
    let lines = log.matches("signature mismatch").count();
    assert!(lines <= 2, "{lines} lines for 101 forged datagrams:\n{log}");

    // The PoP goes away: the client is told (ICMP port unreachable, via
    // the NAT), says so and keeps going; back, traffic flows again.
    pop.sock = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proc.log().contains("Connection refused") {
        assert!(Instant::now() < deadline, "{}", proc.log());
        thread::sleep(Duration::from_millis(100));
    }
    assert!(proc.running(), "the client died");
    pop.sock = Some(ScriptedPop::bind(&pop.ns).unwrap());
    let (_, f) = pop.recv(Duration::from_secs(5)).unwrap();
    assert_eq!(f, from, "same NAT mapping");
    let req = echo(far, user, false, 0x77, 2, b"after the restart");
    pop.send(from, &req, &pop.key, unix_now()).unwrap();
    let (data, ..) = pop.recv_reply(2, Duration::from_secs(5)).unwrap();
    assert_eq!(data, b"after the restart");

    // The NAT rebinds: the next beat comes from a new public port, and
    // that is where the client is reached.
    set_masquerade(&nat, PORTS_B).unwrap();
    forget_mappings(&nat);
    let deadline = Instant::now() + Duration::from_secs(5);
    let moved = loop {
        let (_, f) = pop.recv(Duration::from_secs(5)).unwrap();
        if in_range(f, PORTS_B) {
            break f;
        }
        assert!(Instant::now() < deadline, "still from {f}");
    };
    let req = echo(far, user, false, 0x77, 3, b"after the rebinding");
    pop.send(moved, &req, &pop.key, unix_now()).unwrap();
    let (data, _, _, f) = pop.recv_reply(3, Duration::from_secs(5)).unwrap();
    assert_eq!(f, moved);
    assert_eq!(data, b"after the rebinding");

    // SIGTERM: a clean exit, with the counts of what it refused.
    let (ok, log) = proc.stop().unwrap();
    assert!(ok, "{log}");
    assert!(
        log.contains("refused hash_fail 101") && log.contains("refused clock_off 1"),
        "{log}"
    );
    let links = client.run(&["ip", "link"]).unwrap();
    assert!(!String::from_utf8_lossy(&links.stdout).contains(TUN));
}

#[test]
fn over_ipv6() {
    let mut b = AyiyaBed::new_v6().expect("bed");
    b.start_client(&["--password", PASSWORD]).unwrap();
    // Learned as the client's IPv6 address and port.
    let deadline = Instant::now() + Duration::from_secs(15);
    let ep = loop {
        if let Some(ep) = b.endpoint().unwrap() {
            break ep;
        }
        assert!(
            Instant::now() < deadline,
            "nothing learned:\n{}",
            b.client_log()
        );
        thread::sleep(Duration::from_millis(100));
    };
    let ep: SocketAddr = ep.parse().unwrap();
    assert_eq!(ep.ip().to_string(), CLIENT_OUTER_V6);
    assert_eq!(Some(ep.port()), client_port(&b.client_log()));
    b.wait_tunnel_up().unwrap();

    let p = ping(&b.client, &["-c", "5", "-i", "0.2", POP_INNER_V6]).unwrap();
    assert_eq!(p.received(), 5, "ping ::1:\n{}", p.stdout);
    let p = ping(&b.client, &["-c", "5", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert_eq!(p.received(), 5, "ping upstream:\n{}", p.stdout);
    let user: Ipv6Addr = USER_V6.parse().unwrap();
    let up: Ipv6Addr = UPSTREAM_V6.parse().unwrap();
    let r = tcp_transfer(&b.client, &b.upstream, up, 1 << 20).unwrap();
    assert!(r.ok(), "client to upstream: {r:?}");
    let r = tcp_transfer(&b.upstream, &b.client, user, 1 << 20).unwrap();
    assert!(r.ok(), "upstream to client: {r:?}");
    // SIGINT (Ctrl-C) is a clean stop too.
    let (ok, log) = b
        .client_proc
        .as_mut()
        .unwrap()
        .stop_with(libc::SIGINT)
        .unwrap();
    assert!(ok && log.contains("SIGINT: stopping"), "{log}");
    let links = b.client.run(&["ip", "link"]).unwrap();
    assert!(!String::from_utf8_lossy(&links.stdout).contains(TUN));
    b.daemon.stop().unwrap();
}

#[test]
fn client_address_changes() {
    let mut b = AyiyaBed::new().expect("bed");
    b.start_client(&["--password", PASSWORD]).unwrap();
    let before = b.wait_endpoint(PORTS_A).unwrap();
    b.wait_tunnel_up().unwrap();
    // The host is renumbered (a new DHCP lease): its old address is gone.
    b.client
        .ip(&format!("addr del {CLIENT_V4}/24 dev c0"))
        .unwrap();
    b.client.ip("addr add 198.51.100.3/24 dev c0").unwrap();
    b.client
        .ip(&format!("route replace default via {NAT_INSIDE_V4}"))
        .unwrap();
    // The client follows: its datagrams leave from the new address, the
    // NAT maps them anew, the PoP learns that, and traffic flows.
    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let ep = b.wait_endpoint(PORTS_A).unwrap();
        if ep != before {
            break ep;
        }
        assert!(
            Instant::now() < deadline,
            "the endpoint stayed {before}:\n{}",
            b.client_log()
        );
        thread::sleep(Duration::from_millis(200));
    };
    let p = ping(&b.client, &["-c", "5", "-i", "0.2", UPSTREAM_V6]).unwrap();
    assert_eq!(
        p.received(),
        5,
        "after renumbering ({before} → {after}):\n{}\n{}",
        p.stdout,
        b.client_log()
    );
    b.daemon.stop().unwrap();
}
