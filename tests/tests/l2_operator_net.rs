//! L2: the PoP in a network built the way an operator builds one (issue 13
//! points 3 and 4, issue 9's next-hop cache), not the project's test bed:
//!
//! ```text
//!  client c0 ── i0 isp i1 ── p0 pop p1 ── u0 r1 u1 ── h0 host
//!                                  p2 ── v0 r2 v1 ── h1        (second router)
//!
//!  client  c0 198.51.100.7/24, default via 198.51.100.1; 6in4 peer
//!          2001:db8:1::2/64 on tun6in4
//!  isp     i0 198.51.100.1/24, i1 192.0.2.254/24; IPv4 forwarding
//!  pop     p0 192.0.2.1/24, default via 192.0.2.254
//!          p1 2001:db8:ffff::1/64, -6 default via fe80::1 dev p1
//!          (p2 2001:db8:fffe::1/64); ip_forward=0, IPv6 forwarding on
//!  r1      u0 fe80::1, 2001:db8:ffff::2/64; u1 2001:db8:eeee::1/64;
//!          2001:db8:1::/64 via the PoP, 2001:db8:beef::1 via the host
//!  r2      v0 fe80::2, 2001:db8:fffe::2/64; v1 2001:db8:eeed::1/64
//!  host    lo 2001:db8:beef::1 (the internet host), h0
//!          2001:db8:eeee::10/64 (h1 2001:db8:eeed::10/64), default via r1
//! ```
//! No static neighbour entries anywhere: every kernel resolves its own. The
//! PoP forwards no IPv4 (`net.ipv4.ip_forward=0`), its IPv6 default route
//! goes via the upstream router's link-local address and its IPv4 route to
//! the client via a gateway. The daemon runs from a config file as README
//! says to run it in a namespace: `nsenter --net=… tunnelctl daemon -c …`,
//! or (the restart and the checks) `ip netns exec … tunnelctl daemon -c …`
//! with `pin_dir` on a bpffs mounted on the host outside /sys; tunnel 1 (192.0.2.1 ↔ 198.51.100.7, 2001:db8:1::/64) is added with the
//! CLI. The routers' veths that receive what XDP sends (redirects and
//! XDP_TX) run `testbed_pass`; offloads are off on every veth
//! (`netns::veth`).
//!
//! The daemon's next-hop cache is read from its pinned maps, to wait for
//! conditions and to measure how fast it follows the kernel.

use std::{
    collections::{BTreeSet, HashMap},
    net::{Ipv4Addr, Ipv6Addr},
    thread,
    time::{Duration, Instant},
};

use aya::maps::{
    lpm_trie::{Key, LpmTrie},
    Array, Map, MapData,
};
use tunnel_common::{
    maps,
    nexthop::{NextHopEntry, NEXTHOP_KERNEL, NEXTHOP_SLOTS, NH_F_VALID},
    ABI_VERSION,
};
use tunnel_tests::{
    daemon::{Daemon, HostBpffs, Launch},
    netns::{veth, Netns},
    pass,
    peer6in4::{Peer6in4, PeerConfig},
    traffic::{ping, Ping},
};

const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const POP_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The internet host behind the upstream routers.
const HOST: &str = "2001:db8:beef::1";
/// The tunnel user (the client's end) and the PoP's end of tunnel 1.
const USER: &str = "2001:db8:1::2";
const POP_END: &str = "2001:db8:1::1";
const R1_LL: &str = "fe80::1";
const R2_LL: &str = "fe80::2";
/// Ping streams: 10 ms apart, 300 of them (3 s); a change of next hop is
/// made once the first 50 replies are in.
const STREAM: u32 = 300;
const STREAM_WARM: u64 = 50;
/// Losses allowed while the cache follows a change: one second of the
/// stream.
const MAX_LOSS: u32 = 100;
/// The last pings of a stream must all arrive: traffic recovered.
const STREAM_TAIL: u32 = 50;
/// Ping interval of the streams.
const STREAM_INTERVAL: Duration = Duration::from_millis(10);

/// Whether this runs in `cargo xtask vm` (`TUNNEL_VM`), where the kernel
/// runs under software emulation and everything takes several times
/// longer. There time limits and loss bounds are stretched by `slow()` and
/// streams by `stream_len`: the VM checks behaviour per kernel; the timing
/// figures are the host's.
fn in_vm() -> bool {
    std::env::var_os("TUNNEL_VM").is_some()
}

fn slow() -> u32 {
    if in_vm() {
        8
    } else {
        1
    }
}

/// A stream of `n` pings on the host, longer in the VM.
fn stream_len(n: u32) -> u32 {
    if in_vm() {
        n * 3
    } else {
        n
    }
}

/// The operator's network, the daemon running with tunnel 1 and the
/// client's 6in4 peer relaying. Fields drop in order: the peer, the
/// daemon, its bpffs, then the namespaces.
struct Net {
    peer: Peer6in4,
    daemon: Daemon,
    /// How the daemon was started (and is restarted).
    launch: Launch,
    /// The host bpffs outside /sys the pins live on under `ip netns exec`.
    _bpffs: Option<HostBpffs>,
    client: Netns,
    isp: Netns,
    pop: Netns,
    r1: Netns,
    host: Netns,
    r2: Option<Netns>,
}

impl Net {
    /// Builds the network; `second_router` adds r2 on the PoP's `p2`. The
    /// daemon is started with `nsenter --net`.
    fn new(second_router: bool) -> Self {
        Self::build(second_router, Launch::Nsenter)
    }

    /// Builds the network with the daemon started as `launch` says. Under
    /// `ip netns exec`, its pins go on a bpffs mounted on the host outside
    /// /sys, as README tells operators who start it so.
    fn build(second_router: bool, launch: Launch) -> Self {
        let client = Netns::new("client").unwrap();
        let isp = Netns::new("isp").unwrap();
        let pop = Netns::new("pop").unwrap();
        let r1 = Netns::new("r1").unwrap();
        let host = Netns::new("host").unwrap();
        veth(&client, "c0", &isp, "i0").unwrap();
        veth(&isp, "i1", &pop, "p0").unwrap();
        veth(&pop, "p1", &r1, "u0").unwrap();
        veth(&r1, "u1", &host, "h0").unwrap();

        isp.sysctl("net.ipv4.ip_forward", "1").unwrap();
        pop.sysctl("net.ipv4.ip_forward", "0").unwrap();
        pop.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap();
        r1.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap();

        let ip = |ns: &Netns, cmds: &[&str]| {
            for c in cmds {
                ns.ip(c).unwrap();
            }
        };
        ip(
            &client,
            &[
                "addr add 198.51.100.7/24 dev c0",
                "route add default via 198.51.100.1",
            ],
        );
        ip(
            &isp,
            &[
                "addr add 198.51.100.1/24 dev i0",
                "addr add 192.0.2.254/24 dev i1",
            ],
        );
        ip(
            &pop,
            &[
                "addr add 192.0.2.1/24 dev p0",
                "route add default via 192.0.2.254 dev p0",
                "-6 addr add 2001:db8:ffff::1/64 dev p1",
                "-6 route add default via fe80::1 dev p1",
            ],
        );
        ip(
            &r1,
            &[
                "-6 addr add fe80::1/64 dev u0",
                "-6 addr add 2001:db8:ffff::2/64 dev u0",
                "-6 addr add 2001:db8:eeee::1/64 dev u1",
                "-6 route add 2001:db8:1::/64 via 2001:db8:ffff::1",
                "-6 route add 2001:db8:beef::1/128 via 2001:db8:eeee::10",
            ],
        );
        ip(
            &host,
            &[
                "-6 addr add 2001:db8:beef::1/128 dev lo",
                "-6 addr add 2001:db8:eeee::10/64 dev h0",
                "-6 route add default via 2001:db8:eeee::1",
            ],
        );
        let r2 = second_router.then(|| {
            let r2 = Netns::new("r2").unwrap();
            veth(&pop, "p2", &r2, "v0").unwrap();
            veth(&r2, "v1", &host, "h1").unwrap();
            r2.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap();
            ip(&pop, &["-6 addr add 2001:db8:fffe::1/64 dev p2"]);
            ip(
                &r2,
                &[
                    "-6 addr add fe80::2/64 dev v0",
                    "-6 addr add 2001:db8:fffe::2/64 dev v0",
                    "-6 addr add 2001:db8:eeed::1/64 dev v1",
                    "-6 route add 2001:db8:1::/64 via 2001:db8:fffe::1",
                    "-6 route add 2001:db8:beef::1/128 via 2001:db8:eeed::10",
                ],
            );
            ip(&host, &["-6 addr add 2001:db8:eeed::10/64 dev h1"]);
            r2
        });

        // What the PoP sends with XDP (redirect, XDP_TX) reaches a veth
        // only if its peer runs an XDP program.
        let mut receivers = vec![(&isp, "i1"), (&r1, "u0")];
        if let Some(r2) = &r2 {
            receivers.push((r2, "v0"));
        }
        for (ns, ifname) in receivers {
            pass::attach(ns, ifname).unwrap();
        }

        let uplinks: &[&str] = if second_router {
            &["p0", "p1", "p2"]
        } else {
            &["p0", "p1"]
        };
        let mut daemon = Daemon::new(&pop, uplinks, 8, 32).unwrap();
        let bpffs = (launch == Launch::IpNetnsExec).then(|| {
            let b = HostBpffs::new().unwrap();
            daemon.set_pin_dir(&b.path().join("pop")).unwrap();
            b
        });
        daemon.start_with(launch).unwrap();
        daemon
            .ok(&[
                "tunnel",
                "add",
                "1",
                "--local",
                "192.0.2.1",
                "--remote",
                "198.51.100.7",
                "--prefix",
                "2001:db8:1::/64",
            ])
            .unwrap();
        // The client's tun gets no link-local address, so its kernel sends
        // no router solicitations into the tunnel (a real CPE sends them,
        // with backoff, for ever): each would make the ISP router and the
        // PoP resolve each other at a moment of its choosing, and the cold
        // checks need to choose it.
        client
            .sysctl("net.ipv6.conf.default.addr_gen_mode", "1")
            .unwrap();
        let peer = Peer6in4::start(
            &client,
            &PeerConfig {
                ifname: "tun6in4",
                local: CLIENT_V4,
                remote: POP_V4,
                address: "2001:db8:1::2/64",
                mtu: 1480,
            },
        )
        .unwrap();

        let net = Net {
            peer,
            daemon,
            launch,
            _bpffs: bpffs,
            client,
            isp,
            pop,
            r1,
            host,
            r2,
        };
        // Duplicate address detection runs on every address, as on a real
        // network; until it ends, a link-local address cannot solicit.
        for ns in net.all() {
            poll(Duration::from_secs(10), "DAD to finish", || {
                let out = ns
                    .output(&["ip", "-6", "addr", "show", "tentative"])
                    .unwrap();
                out.stdout.is_empty()
            });
        }
        net
    }

    fn all(&self) -> Vec<&Netns> {
        let mut v = vec![&self.client, &self.isp, &self.pop, &self.r1, &self.host];
        v.extend(self.r2.as_ref());
        v
    }

    /// Every namespace's neighbour table flushed, and the PoP's cache
    /// emptied by the daemon in consequence: the next packets meet cold
    /// tables everywhere.
    fn cold(&self) {
        for ns in self.all() {
            ns.run(&["ip", "neigh", "flush", "all"]).unwrap();
        }
        let emptied = wait(Duration::from_secs(3), || self.cache().valid_hops() == 0);
        if emptied.is_none() {
            let out = self.pop.run(&["ip", "neigh", "show"]).unwrap();
            panic!(
                "the cache kept {} hops; the PoP's neighbours:\n{}\n{}",
                self.cache().valid_hops(),
                String::from_utf8_lossy(&out.stdout),
                self.daemon.log()
            );
        }
    }

    fn cache(&self) -> Cache {
        Cache::open(&self.daemon)
    }

    fn events(&self) -> Events {
        self.counters("events")
    }

    /// Drop counters by reason, in the same shape.
    fn drops(&self) -> Events {
        self.counters("drops")
    }

    fn counters(&self, kind: &str) -> Events {
        let out = self.daemon.ok(&["stats", "--json"]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        Events(
            v[kind]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e[0].as_str().unwrap().to_owned(), e[1].as_u64().unwrap()))
                .collect(),
        )
    }

    /// Replies the client has received through the tunnel so far.
    fn client_rx(&self) -> u64 {
        self.peer
            .stats
            .decapsulated
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A 10 ms ping stream of `count` from the client to the host, with
    /// `change` made once it flows; returns the stream's outcome and what
    /// `change` returned.
    fn stream_with<T>(&self, count: u32, change: impl FnOnce() -> T) -> (Stream, T) {
        let count = count.to_string();
        let interval = STREAM_INTERVAL.as_secs_f64().to_string();
        thread::scope(|s| {
            let before = self.client_rx();
            let pinger = s.spawn(|| {
                ping(
                    &self.client,
                    &["-i", &interval, "-c", &count, "-W", "1", HOST],
                )
                .unwrap()
            });
            poll(Duration::from_secs(5), "the stream to flow", || {
                self.client_rx() >= before + STREAM_WARM
            });
            let t = change();
            assert!(
                !pinger.is_finished(),
                "the stream ended before the change was complete"
            );
            (Stream::of(pinger.join().unwrap()), t)
        })
    }

    /// The daemon's /metrics page.
    fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let _in = self.pop.enter().unwrap();
        let mut s = std::net::TcpStream::connect("127.0.0.1:9641").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    }

    /// The daemon's checks (`status --json`): (status, detail) of the
    /// check `name` on `uplink` (`None`: host-wide).
    fn check(&self, name: &str, uplink: Option<&str>) -> (String, String) {
        let v: serde_json::Value =
            serde_json::from_str(&self.daemon.ok(&["status", "--json"]).unwrap()).unwrap();
        let checks = v["checks"].as_array().expect("status has checks");
        let c = checks
            .iter()
            .find(|c| c["name"] == name && c["uplink"].as_str() == uplink)
            .unwrap_or_else(|| panic!("no check {name} {uplink:?}: {checks:#?}"));
        (
            c["status"].as_str().unwrap().to_owned(),
            c["detail"].as_str().unwrap().to_owned(),
        )
    }

    /// Stops the daemon (SIGTERM) and starts it again as it was started,
    /// with the same config: an operator's restart. Returns how long it
    /// took until the API answered again.
    fn restart(&mut self) -> Duration {
        let t = Instant::now();
        self.daemon.stop().unwrap();
        self.daemon.start_with(self.launch).unwrap();
        t.elapsed()
    }

    fn pop_neighbour(&self, addr: &str, dev: &str) -> String {
        let out = self
            .pop
            .run(&["ip", "-6", "neigh", "show", addr, "dev", dev])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// Counters of the daemon's `stats --json` (events or drops), by name.
struct Events(HashMap<String, u64>);

impl Events {
    fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }
    /// How much `name` grew from `before` to `self`.
    fn since(&self, before: &Events, name: &str) -> u64 {
        self.get(name) - before.get(name)
    }

    /// Every counter that grew since `before`, for failure messages.
    fn grown(&self, before: &Events) -> String {
        let mut v: Vec<String> = self
            .0
            .keys()
            .filter(|k| self.since(before, k) > 0)
            .map(|k| format!("{k} +{}", self.since(before, k)))
            .collect();
        v.sort();
        v.join(", ")
    }
}

/// The outcome of a ping stream.
struct Stream {
    ping: Ping,
    transmitted: u32,
    replied: BTreeSet<u32>,
}

impl Stream {
    fn of(ping: Ping) -> Self {
        let transmitted = ping
            .stdout
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let replied = ping
            .stdout
            .lines()
            .filter(|l| l.contains("bytes from"))
            .filter_map(|l| l.split("icmp_seq=").nth(1))
            .filter_map(|r| r.split(' ').next())
            .filter_map(|n| n.parse().ok())
            .collect();
        Self {
            ping,
            transmitted,
            replied,
        }
    }

    fn lost(&self) -> u32 {
        self.transmitted - self.ping.received()
    }

    /// Sequence numbers without a reply, as ranges.
    fn gaps(&self) -> String {
        let missing: Vec<u32> = (1..=self.transmitted)
            .filter(|s| !self.replied.contains(s))
            .collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < missing.len() {
            let mut j = i;
            while j + 1 < missing.len() && missing[j + 1] == missing[j] + 1 {
                j += 1;
            }
            out.push(if i == j {
                missing[i].to_string()
            } else {
                format!("{}-{}", missing[i], missing[j])
            });
            i = j + 1;
        }
        if out.is_empty() {
            "none".into()
        } else {
            out.join(",")
        }
    }

    /// `count` sent, losses bounded by `max_loss` and the stream's tail
    /// all answered.
    fn assert_recovered(&self, what: &str, count: u32, max_loss: u32) {
        assert_eq!(self.transmitted, count, "{what}: {}", self.ping.stdout);
        assert!(
            self.lost() <= max_loss,
            "{what}: {} of {count} lost (seq {}), more than {max_loss}",
            self.lost(),
            self.gaps()
        );
        let tail: Vec<u32> = (count - STREAM_TAIL + 1..=count)
            .filter(|s| !self.replied.contains(s))
            .collect();
        assert!(
            tail.is_empty(),
            "{what}: not recovered, the last {STREAM_TAIL} pings lost {tail:?}"
        );
    }
}

/// The daemon's next-hop cache, read from its pinned maps.
struct Cache {
    routes4: LpmTrie<MapData, [u8; 4], u32>,
    routes6: LpmTrie<MapData, [u8; 16], u32>,
    nexthops: Array<MapData, NextHopEntry>,
}

impl Cache {
    fn open(d: &Daemon) -> Self {
        let dir = d.pin_dir.join(format!("v{ABI_VERSION}")).join("maps");
        let pin = |name: &str| MapData::from_pin(dir.join(name)).unwrap();
        Self {
            routes4: LpmTrie::try_from(Map::LpmTrie(pin(maps::ROUTES4))).unwrap(),
            routes6: LpmTrie::try_from(Map::LpmTrie(pin(maps::ROUTES6))).unwrap(),
            nexthops: Array::try_from(Map::Array(pin(maps::NEXTHOPS))).unwrap(),
        }
    }

    fn entry(&self, slot: Option<u32>) -> Option<NextHopEntry> {
        let slot = slot.filter(|s| *s != NEXTHOP_KERNEL)?;
        let e = self.nexthops.get(&slot, 0).unwrap();
        (e.flags & NH_F_VALID != 0).then_some(e)
    }

    /// The cached next hop the data path takes toward `dst`, if any.
    fn hop6(&self, dst: &str) -> Option<NextHopEntry> {
        let dst: Ipv6Addr = dst.parse().unwrap();
        self.entry(self.routes6.get(&Key::new(128, dst.octets()), 0).ok())
    }

    fn hop4(&self, dst: Ipv4Addr) -> Option<NextHopEntry> {
        self.entry(self.routes4.get(&Key::new(32, dst.octets()), 0).ok())
    }

    fn valid_hops(&self) -> usize {
        (1..NEXTHOP_SLOTS)
            .filter(|s| self.entry(Some(*s)).is_some())
            .count()
    }
}

/// Polls `cond` every 2 ms until it holds and returns how long that took;
/// fails the test after `limit` (times `slow()`).
fn poll(limit: Duration, what: &str, cond: impl FnMut() -> bool) -> Duration {
    wait(limit, cond).unwrap_or_else(|| panic!("waited {:?} for {what}", limit * slow()))
}

/// `poll` without the failure: `None` after `limit` (times `slow()`).
fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let limit = limit * slow();
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

fn ifindex(ns: &Netns, ifname: &str) -> u32 {
    let out = ns
        .run(&["cat", &format!("/sys/class/net/{ifname}/ifindex")])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn rx_packets(ns: &Netns, ifname: &str) -> u64 {
    let path = format!("/sys/class/net/{ifname}/statistics/rx_packets");
    let out = ns.run(&["cat", &path]).unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn sysctl(ns: &Netns, key: &str) -> String {
    let out = ns.run(&["sysctl", "-n", key]).unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// One ping from `ns` to `dst` (bounded wait), with its output.
fn one_ping(ns: &Netns, extra: &[&str], dst: &str) -> Ping {
    let mut args = vec!["-c", "1", "-W", "5"];
    args.extend_from_slice(extra);
    args.push(dst);
    ping(ns, &args).unwrap()
}

/// Point 3, first packets: with every neighbour table cold, the first
/// packet of each kind arrives (the data path hands it to the kernel, which
/// resolves); point 4: with IPv4 forwarding off, encap still stays in XDP
/// once warm, and steady traffic takes every next hop from the cache.
#[test]
fn first_packets_arrive_cold_and_steady_traffic_stays_cached() {
    let n = Net::new(false);
    let d = &n.daemon;

    // Decap, client → host: the PoP's next hop (fe80::1) is unknown.
    n.cold();
    let e0 = n.events();
    let p = one_ping(&n.client, &[], HOST);
    assert_eq!(p.received(), 1, "decap, cold:\n{}\n{}", p.stdout, d.log());
    let e1 = n.events();
    assert!(e1.since(&e0, "decap") >= 1);
    assert!(
        e1.since(&e0, "fib_no_neigh") >= 1,
        "the next hop toward upstream was not cold: {}",
        e1.grown(&e0)
    );
    assert!(
        n.pop_neighbour(R1_LL, "p1")
            .contains(&n.r1.mac("u0").unwrap()),
        "the PoP did not resolve its gateway: {}",
        n.pop_neighbour(R1_LL, "p1")
    );

    // Encap, host → client: no IPv4 next hop in the cache, and the FIB
    // helper refuses (IPv4 forwarding off): the kernel routes it into the
    // tunnel device, whose program resolves the gateway.
    n.cold();
    let e0 = n.events();
    let p = one_ping(&n.host, &[], USER);
    assert_eq!(p.received(), 1, "encap, cold:\n{}\n{}", p.stdout, d.log());
    let e1 = n.events();
    assert!(
        e1.since(&e0, "fib_pass") >= 1,
        "the FIB helper did not refuse: {}",
        e1.grown(&e0)
    );
    assert!(
        e1.since(&e0, "local_encap") >= 1,
        "encap was not cold: {}",
        e1.grown(&e0)
    );

    // The tunnel's ::1 answers upstream, cold.
    n.cold();
    let e0 = n.events();
    let p = one_ping(&n.host, &[], POP_END);
    assert_eq!(p.received(), 1, "echo, cold:\n{}\n{}", p.stdout, d.log());
    let e1 = n.events();
    assert_eq!(e1.since(&e0, "echo_reply"), 1, "{}", e1.grown(&e0));
    assert!(
        e1.since(&e0, "fib_no_neigh") >= 1,
        "echo was not cold: {}",
        e1.grown(&e0)
    );

    // ICMPv6 errors the PoP builds toward upstream, cold: hop limit
    // exceeded (sent with 2, r1 leaves 1)...
    n.cold();
    let e0 = n.events();
    let p = one_ping(&n.host, &["-t", "2"], USER);
    assert!(
        p.stdout
            .contains(&format!("From {POP_END} icmp_seq=1 Time exceeded")),
        "time exceeded, cold:\n{}\n{}",
        p.stdout,
        d.log()
    );
    let e1 = n.events();
    assert_eq!(e1.since(&e0, "icmp_time_exceeded"), 1, "{}", e1.grown(&e0));
    assert!(
        e1.since(&e0, "fib_no_neigh") >= 1,
        "error was not cold: {}",
        e1.grown(&e0)
    );

    // ...and administratively prohibited toward a disabled tunnel.
    d.ok(&["tunnel", "set", "1", "--disable"]).unwrap();
    n.cold();
    let e0 = n.events();
    let p = one_ping(&n.host, &[], USER);
    assert!(
        p.stdout.contains(&format!(
            "From {POP_END} icmp_seq=1 Destination unreachable: Administratively prohibited"
        )),
        "admin prohibited, cold:\n{}\n{}",
        p.stdout,
        d.log()
    );
    let e1 = n.events();
    assert_eq!(e1.since(&e0, "icmp_unreachable"), 1, "{}", e1.grown(&e0));
    assert!(
        e1.since(&e0, "fib_no_neigh") >= 1,
        "error was not cold: {}",
        e1.grown(&e0)
    );
    d.ok(&["tunnel", "set", "1", "--enable"]).unwrap();

    // Warm: both gateways resolved and in the cache.
    assert_eq!(one_ping(&n.client, &[], HOST).received(), 1);
    assert_eq!(one_ping(&n.host, &[], USER).received(), 1);
    let (r1_mac, isp_mac) = (
        mac(&n.r1.mac("u0").unwrap()),
        mac(&n.isp.mac("i1").unwrap()),
    );
    poll(Duration::from_secs(3), "both gateways in the cache", || {
        let c = n.cache();
        c.hop6(HOST).map(|h| h.dmac) == Some(r1_mac)
            && c.hop4(CLIENT_V4).map(|h| h.dmac) == Some(isp_mac)
    });

    // Steady traffic both ways: every next hop from the cache, encap in
    // XDP although the PoP forwards no IPv4.
    let e0 = n.events();
    let up = ping(&n.client, &["-i", "0.01", "-c", "100", "-W", "1", HOST]).unwrap();
    let down = ping(&n.host, &["-i", "0.01", "-c", "100", "-W", "1", USER]).unwrap();
    let e1 = n.events();
    assert_eq!(up.received(), 100, "{}", up.stdout);
    assert_eq!(down.received(), 100, "{}", down.stdout);
    assert_eq!(e1.since(&e0, "decap"), 200, "{}", e1.grown(&e0));
    assert_eq!(e1.since(&e0, "encap"), 200, "{}", e1.grown(&e0));
    // Each exchange: one IPv6 next hop (decap) and one IPv4 (encap).
    assert_eq!(e1.since(&e0, "nexthop_cached"), 400, "{}", e1.grown(&e0));
    assert_eq!(e1.since(&e0, "nexthop_kernel"), 0, "{}", e1.grown(&e0));
    assert_eq!(e1.since(&e0, "local_encap"), 0, "{}", e1.grown(&e0));
    assert_eq!(e1.since(&e0, "fib_no_neigh"), 0, "{}", e1.grown(&e0));
    assert_eq!(sysctl(&n.pop, "net.ipv4.ip_forward"), "0");
    assert_eq!(sysctl(&n.pop, "net.ipv4.conf.p0.forwarding"), "0");

    // The same counters on /metrics.
    let m = n.metrics();
    for ev in ["nexthop_cached", "nexthop_kernel"] {
        let line = format!(
            "tunnelpop_events_total{{event=\"{ev}\"}} {}",
            n.events().get(ev)
        );
        assert!(m.contains(&line), "{line} not in /metrics:\n{m}");
    }
}

/// Point 3, a MAC that changes: the upstream router gets a new MAC under a
/// 10 ms stream and announces it as the kernel does (unsolicited NA,
/// `ndisc_notify`); the cache follows within a second.
#[test]
fn upstream_mac_change_is_followed_within_a_second() {
    let n = Net::new(false);
    assert_eq!(one_ping(&n.client, &[], HOST).received(), 1);
    let old = mac(&n.r1.mac("u0").unwrap());
    poll(Duration::from_secs(3), "r1 in the cache", || {
        n.cache().hop6(HOST).map(|h| h.dmac) == Some(old)
    });
    n.r1.sysctl("net.ipv6.conf.u0.ndisc_notify", "1").unwrap();
    let new = "02:00:5e:00:53:01";
    assert_ne!(old, mac(new));

    let e0 = n.events();
    let (s, followed) = n.stream_with(stream_len(STREAM), || {
        n.r1.ip(&format!("link set dev u0 address {new}")).unwrap();
        poll(
            Duration::from_secs(1),
            "the cache to take the new MAC",
            || n.cache().hop6(HOST).map(|h| h.dmac) == Some(mac(new)),
        )
    });
    let e1 = n.events();
    println!(
        "measured: mac change: cache followed in {followed:?}; {} of {} lost (seq {})",
        s.lost(),
        s.transmitted,
        s.gaps()
    );
    s.assert_recovered("mac change", stream_len(STREAM), MAX_LOSS * slow());
    assert!(
        n.pop_neighbour(R1_LL, "p1").contains(new),
        "{}",
        n.pop_neighbour(R1_LL, "p1")
    );
    // The stream stayed on the cache: the kernel was never asked.
    assert_eq!(e1.since(&e0, "nexthop_kernel"), 0, "{}", e1.grown(&e0));
}

/// Point 3, a next hop that changes: the default route moves to a second
/// router on another uplink under a 10 ms stream; the cache follows and the
/// traffic then leaves through router 2.
#[test]
fn default_route_change_moves_traffic_to_the_second_router() {
    let n = Net::new(true);
    let r2 = n.r2.as_ref().unwrap();
    assert_eq!(one_ping(&n.client, &[], HOST).received(), 1);
    let p2 = ifindex(&n.pop, "p2");
    poll(Duration::from_secs(3), "r1 in the cache", || {
        n.cache().hop6(HOST).is_some_and(|h| h.ifindex != p2)
    });
    assert_eq!(n.pop_neighbour(R2_LL, "p2"), "", "router 2 not cold");

    let (s, followed) = n.stream_with(stream_len(STREAM), || {
        n.pop
            .ip(&format!("-6 route replace default via {R2_LL} dev p2"))
            .unwrap();
        poll(Duration::from_secs(1), "the cache to take router 2", || {
            n.cache()
                .hop6(HOST)
                .is_some_and(|h| h.ifindex == p2 && h.dmac == mac(&r2.mac("v0").unwrap()))
        })
    });
    println!(
        "measured: route change: cache followed in {followed:?}; {} of {} lost (seq {})",
        s.lost(),
        s.transmitted,
        s.gaps()
    );
    s.assert_recovered("route change", stream_len(STREAM), MAX_LOSS * slow());

    // Steady traffic now leaves through router 2 (replies come back
    // through r1, the host's default), all of it from the cache.
    let (via_r1, via_r2) = (rx_packets(&n.r1, "u0"), rx_packets(r2, "v0"));
    let e0 = n.events();
    let p = ping(&n.client, &["-i", "0.01", "-c", "100", "-W", "1", HOST]).unwrap();
    let e1 = n.events();
    assert_eq!(p.received(), 100, "{}", p.stdout);
    let (via_r1, via_r2) = (
        rx_packets(&n.r1, "u0") - via_r1,
        rx_packets(r2, "v0") - via_r2,
    );
    assert!(via_r2 >= 100, "router 2 received {via_r2}");
    // r1 still sends the replies to the PoP; from the PoP it gets at most
    // neighbour discovery.
    assert!(via_r1 < 10, "router 1 still received {via_r1}");
    assert_eq!(e1.since(&e0, "nexthop_cached"), 200, "{}", e1.grown(&e0));
    assert_eq!(e1.since(&e0, "nexthop_kernel"), 0, "{}", e1.grown(&e0));
}

/// Point 3, an entry that goes away: the PoP's neighbour entry for its
/// gateway is deleted under a 10 ms stream; the data path falls back to the
/// kernel, which resolves it again, and the cache takes over again.
#[test]
fn deleted_neighbour_falls_back_to_the_kernel_and_recovers() {
    let n = Net::new(false);
    assert_eq!(one_ping(&n.client, &[], HOST).received(), 1);
    let r1_mac = n.r1.mac("u0").unwrap();
    poll(Duration::from_secs(3), "r1 in the cache", || {
        n.cache().hop6(HOST).is_some()
    });

    let e0 = n.events();
    let (s, relearned) = n.stream_with(stream_len(STREAM), || {
        n.pop.ip(&format!("-6 neigh del {R1_LL} dev p1")).unwrap();
        poll(
            Duration::from_secs(1),
            "the kernel to resolve r1 again",
            || n.pop_neighbour(R1_LL, "p1").contains(&r1_mac),
        )
    });
    let e1 = n.events();
    println!(
        "measured: neighbour deleted: kernel resolved again in {relearned:?}; {} of {} lost (seq {})",
        s.lost(),
        s.transmitted,
        s.gaps()
    );
    s.assert_recovered("neighbour deleted", stream_len(STREAM), MAX_LOSS * slow());
    assert!(
        e1.since(&e0, "fib_no_neigh") >= 1,
        "the data path never asked the kernel: {}",
        e1.grown(&e0)
    );

    // The cache has the hop again and steady traffic uses it.
    poll(Duration::from_secs(1), "r1 back in the cache", || {
        n.cache().hop6(HOST).is_some()
    });
    let e0 = n.events();
    let p = ping(&n.client, &["-i", "0.01", "-c", "100", "-W", "1", HOST]).unwrap();
    let e1 = n.events();
    assert_eq!(p.received(), 100, "{}", p.stdout);
    assert_eq!(e1.since(&e0, "nexthop_cached"), 200, "{}", e1.grown(&e0));
    assert_eq!(e1.since(&e0, "nexthop_kernel"), 0, "{}", e1.grown(&e0));
}

/// Point 3, a MAC that changes without a word: the router is replaced by one
/// with another MAC that announces nothing. A kernel forwarding through the
/// entry would find out with its own probes (STALE → DELAY → unicast
/// probes unanswered → resolved again); the data path bypasses the kernel,
/// so the keeper marks the cached gateways in use and those probes run all
/// the same. With the PoP's neighbour timers shortened, the cache takes the
/// new MAC within those timers plus one keeper period.
#[test]
fn silent_upstream_mac_change_is_found_by_the_kernels_probes() {
    let n = Net::new(false);
    // Reachable 0.5–1.5 s, first probe 1 s after use, 3 probes 200 ms
    // apart (defaults: 15–45 s, 5 s, 1 s).
    for (key, value) in [
        ("base_reachable_time_ms", "1000"),
        ("delay_first_probe_time", "1"),
        ("retrans_time_ms", "200"),
    ] {
        n.pop
            .sysctl(&format!("net.ipv6.neigh.p1.{key}"), value)
            .unwrap();
    }
    // Reachable at most, then at most one keeper period (2 s) until the
    // entry is marked in use, the delay, the probes, and 1 s of slack.
    let found = Duration::from_millis(1500 + 2000 + 1000 + 3 * 200 + 1000);
    let count = stream_len(1000);
    assert!(STREAM_INTERVAL * count > found + STREAM_INTERVAL * (STREAM_TAIL + 100));
    assert_eq!(one_ping(&n.client, &[], HOST).received(), 1);
    let old = mac(&n.r1.mac("u0").unwrap());
    poll(Duration::from_secs(3), "r1 in the cache", || {
        n.cache().hop6(HOST).map(|h| h.dmac) == Some(old)
    });
    assert_eq!(sysctl(&n.r1, "net.ipv6.conf.u0.ndisc_notify"), "0");
    let new = "02:00:5e:00:53:02";

    let (s, followed) = n.stream_with(count, || {
        n.r1.ip(&format!("link set dev u0 address {new}")).unwrap();
        poll(found, "the cache to take the new MAC", || {
            n.cache().hop6(HOST).map(|h| h.dmac) == Some(mac(new))
        })
    });
    println!(
        "measured: silent mac change: cache followed in {followed:?}; {} of {} lost (seq {})",
        s.lost(),
        s.transmitted,
        s.gaps()
    );
    let max_loss = (found.as_millis() / STREAM_INTERVAL.as_millis()) as u32 * slow();
    s.assert_recovered("silent mac change", count, max_loss);
}

/// Issue 13's last figure: a restart under load in the operator topology,
/// 0 lost. The daemon is started as a namespace lab starts it (`ip netns
/// exec`, its pins on a bpffs mounted on the host outside /sys, as README
/// says), neighbours are dynamic and the PoP forwards no IPv4. A 10 ms
/// stream runs each way through the tunnel (client → host: decap, replies
/// encap; host → user: encap, replies decap); mid-stream the daemon gets
/// SIGTERM and is started again with the same config. A quiet restart
/// first sizes the streams: twice its time plus 3 s (four times in the
/// VM), at least 300 each.
#[test]
fn restart_under_load_loses_nothing() {
    let mut n = Net::build(false, Launch::IpNetnsExec);
    // Warm: both gateways resolved and cached, as on a running PoP.
    assert_eq!(one_ping(&n.client, &[], HOST).received(), 1);
    assert_eq!(one_ping(&n.host, &[], USER).received(), 1);
    poll(Duration::from_secs(3), "both gateways in the cache", || {
        let c = n.cache();
        c.hop6(HOST).is_some() && c.hop4(CLIENT_V4).is_some()
    });
    let quiet = n.restart();
    // In the VM the guest's vCPUs share one host thread with each other
    // (and the host's cores with another guest): the daemon's start (the
    // verifier's work) and both streams slow each other down, and a
    // restart under load takes several times a quiet one.
    let margin = if in_vm() { 4 } else { 2 };
    let count = ((quiet * margin + Duration::from_secs(3)).as_millis()
        / STREAM_INTERVAL.as_millis())
    .max(u128::from(STREAM)) as u32;

    let (interval, count_s) = (STREAM_INTERVAL.as_secs_f64().to_string(), count.to_string());
    let args = |dst| ["-i", &interval, "-c", &count_s, "-W", "1", dst];
    let (args_up, args_down) = (args(HOST), args(USER));
    let (client, host, peer, launch) = (&n.client, &n.host, &n.peer, n.launch);
    let daemon = &mut n.daemon;
    let rx = || {
        peer.stats
            .decapsulated
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let (up, down, restart) = thread::scope(|s| {
        let before = rx();
        let up = s.spawn(|| ping(client, &args_up).unwrap());
        let down = s.spawn(|| ping(host, &args_down).unwrap());
        poll(Duration::from_secs(5), "both streams to flow", || {
            rx() >= before + 2 * STREAM_WARM
        });
        let t = Instant::now();
        daemon.stop().unwrap();
        daemon.start_with(launch).unwrap();
        let restart = t.elapsed();
        assert!(
            !up.is_finished() && !down.is_finished(),
            "a stream ended before the daemon was back ({restart:?}; quiet restart {quiet:?})"
        );
        (
            Stream::of(up.join().unwrap()),
            Stream::of(down.join().unwrap()),
            restart,
        )
    });
    println!(
        "measured: restart under load (ip netns exec, pins on a host bpffs; quiet restart \
         {quiet:?}, under load {restart:?}): client → host {} of {} lost (seq {}), host → user \
         {} of {} lost (seq {})",
        up.lost(),
        up.transmitted,
        up.gaps(),
        down.lost(),
        down.transmitted,
        down.gaps()
    );
    // 0 on the host. In the VM the guest's two vCPUs take turns on one
    // emulating thread (xtask's qemu.rs), so while one verifies the new
    // daemon's programs the other forwards at half speed or less: a few
    // scattered pings have been seen lost there (at most 46 of 3,899, in
    // runs of at most 3). The VM run bounds them; the host run and the bench's
    // restart figure hold the datapath to 0.
    let max_loss = if in_vm() { count / 50 } else { 0 };
    for (what, s) in [("client → host", &up), ("host → user", &down)] {
        assert_eq!(s.transmitted, count, "{what}: {}", s.ping.stdout);
        assert!(
            s.lost() <= max_loss,
            "{what}: {} of {count} lost across the restart, {max_loss} allowed (seq {})\n{}",
            s.lost(),
            s.gaps(),
            n.daemon.log()
        );
    }
    let v: serde_json::Value =
        serde_json::from_str(&n.daemon.ok(&["status", "--json"]).unwrap()).unwrap();
    assert_eq!(v["reused_pins"], true, "{v}");
}

/// Point 4: `status` (human and `--json`) and /metrics show what the data
/// path needs from the kernel, as it stands. In the operator topology
/// (daemon under `ip netns exec`): IPv4 forwarding off is fine for 6in4,
/// the JIT compiled the program, XDP is native on both uplinks (the
/// program ids `ip link` shows), their MTUs fit, the pins outlive the
/// daemon. Then, under the running daemon: an uplink MTU below the tunnel
/// MTU plus 20 and IPv6 forwarding off (on an uplink, then host-wide) each
/// show as a warning, and the cost they state is checked with traffic;
/// with `set_sysctls` the next start turns IPv6 forwarding back on and
/// says so.
#[test]
fn status_shows_the_checks_and_what_they_cost() {
    let mut n = Net::build(false, Launch::IpNetnsExec);
    let ok = |n: &Net, name: &str, uplink: Option<&str>| -> String {
        let (status, detail) = n.check(name, uplink);
        assert_eq!(status, "ok", "{name} {uplink:?}: {detail}");
        detail
    };
    let warn = |n: &Net, name: &str, uplink: Option<&str>| -> String {
        let (status, detail) = n.check(name, uplink);
        assert_eq!(status, "warn", "{name} {uplink:?}: {detail}");
        detail
    };

    let d = ok(&n, "ipv4_forwarding", None);
    assert!(
        d.starts_with("off (net.ipv4.ip_forward = 0)") && d.contains("not needed for 6in4"),
        "{d}"
    );
    ok(&n, "ipv6_forwarding", None);
    ok(&n, "bpffs", None);
    let jit = std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable").unwrap_or_default();
    if jit.trim() == "0" {
        assert!(warn(&n, "bpf_jit", None).contains("interpreter"));
    } else {
        let d = ok(&n, "bpf_jit", None);
        assert!(
            d.starts_with("JIT-compiled") && d.contains("not visible in this network namespace"),
            "{d}"
        );
    }
    for up in ["p0", "p1"] {
        ok(&n, "uplink", Some(up));
        ok(&n, "ipv6_forwarding", Some(up));
        let id = xdp_prog_id(&n.pop, up);
        assert_eq!(
            ok(&n, "xdp_mode", Some(up)),
            format!("native (driver) XDP, program id {id}")
        );
        assert_eq!(
            ok(&n, "uplink_mtu", Some(up)),
            "1500 ≥ 1500 = the largest tunnel MTU 1480 + 20 for the sixin4 outer headers"
        );
    }
    let human = n.daemon.ok(&["status"]).unwrap();
    assert!(human.contains("\nchecks\n"), "{human}");
    for label in [
        "ipv4_forwarding ",
        "bpf_jit ",
        "xdp_mode p0 ",
        "uplink_mtu p1 ",
    ] {
        assert!(
            human
                .lines()
                .any(|l| l.trim_start().starts_with("ok") && l.contains(label)),
            "{label}: {human}"
        );
    }
    let m = n.metrics();
    for line in [
        "tunnelpop_check_ok{check=\"ipv4_forwarding\",uplink=\"\"} 1",
        "tunnelpop_check_ok{check=\"xdp_mode\",uplink=\"p0\"} 1",
        "tunnelpop_check_ok{check=\"uplink_mtu\",uplink=\"p0\"} 1",
    ] {
        assert!(m.contains(line), "{line} not in /metrics:\n{m}");
    }
    // The fallbacks the checks' details name are counted on /metrics.
    for ev in ["nexthop_kernel", "fib_pass", "fib_no_neigh", "local_encap"] {
        let line = format!("tunnelpop_events_total{{event=\"{ev}\"}} ");
        assert!(m.contains(&line), "{line} not in /metrics:\n{m}");
    }

    // The 6in4 uplink's MTU below tunnel MTU + 20 (and its link's).
    assert_eq!(one_ping(&n.host, &[], USER).received(), 1);
    n.pop.ip("link set p0 mtu 1400").unwrap();
    n.isp.ip("link set i1 mtu 1400").unwrap();
    let d = warn(&n, "uplink_mtu", Some("p0"));
    assert!(
        d.starts_with("1400 < 1500 = the largest tunnel MTU 1480 + 20")
            && d.contains("above 1380")
            && d.contains("local_fib"),
        "{d}"
    );
    assert!(n
        .metrics()
        .contains("tunnelpop_check_ok{check=\"uplink_mtu\",uplink=\"p0\"} 0"));
    poll(Duration::from_secs(3), "the cache to take MTU 1400", || {
        n.cache().hop4(CLIENT_V4).is_some_and(|h| h.mtu == 1400)
    });
    // What it says it costs: an inner packet of 1400 bytes (outer 1420)
    // is dropped, counted local_fib; one of 1380 (outer 1400) arrives.
    let (e0, d0) = (n.events(), n.drops());
    let p = one_ping(&n.host, &["-s", "1352"], USER);
    let (e1, d1) = (n.events(), n.drops());
    assert_eq!(p.received(), 0, "{}", p.stdout);
    assert!(
        d1.since(&d0, "local_fib") >= 1 && e1.since(&e0, "fib_pass") >= 1,
        "not counted fib_pass then local_fib: events {}; drops {}",
        e1.grown(&e0),
        d1.grown(&d0)
    );
    assert_eq!(one_ping(&n.host, &["-s", "1332"], USER).received(), 1);
    n.pop.ip("link set p0 mtu 1500").unwrap();
    n.isp.ip("link set i1 mtu 1500").unwrap();
    ok(&n, "uplink_mtu", Some("p0"));

    // IPv6 forwarding off on the upstream uplink: bpf_fib_lookup would
    // refuse what arrives there.
    n.pop.sysctl("net.ipv6.conf.p1.forwarding", "0").unwrap();
    let d = warn(&n, "ipv6_forwarding", Some("p1"));
    assert!(
        d.starts_with("off (net.ipv6.conf.p1.forwarding = 0)") && d.contains("fib_pass"),
        "{d}"
    );
    n.pop.sysctl("net.ipv6.conf.p1.forwarding", "1").unwrap();
    ok(&n, "ipv6_forwarding", Some("p1"));

    // Host-wide: once the keeper has seen it (sysctls send no event), what
    // users send out of their tunnels is dropped.
    n.pop.sysctl("net.ipv6.conf.all.forwarding", "0").unwrap();
    let d = warn(&n, "ipv6_forwarding", None);
    assert!(
        d.contains("dropped") && d.contains("set_sysctls = true"),
        "{d}"
    );
    poll(Duration::from_secs(5), "the cache to drop IPv6", || {
        n.cache().hop6(HOST).is_none()
    });
    let e0 = n.events();
    assert_eq!(one_ping(&n.client, &["-W", "1"], HOST).received(), 0);
    let e1 = n.events();
    assert!(e1.since(&e0, "fib_pass") >= 1, "{}", e1.grown(&e0));

    // set_sysctls: the next start turns it on again, and says so.
    n.daemon
        .config_with("tunnelctl.toml", &[("set_sysctls", "true")])
        .unwrap();
    n.restart();
    assert_eq!(sysctl(&n.pop, "net.ipv6.conf.all.forwarding"), "1");
    let d = ok(&n, "ipv6_forwarding", None);
    assert!(d.contains("set at start: set_sysctls"), "{d}");
    ok(&n, "ipv6_forwarding", Some("p0"));
    ok(&n, "ipv6_forwarding", Some("p1"));
    assert!(
        n.daemon.log().contains("set to 1 (set_sysctls)"),
        "{}",
        n.daemon.log()
    );
    assert_eq!(one_ping(&n.client, &[], HOST).received(), 1);
}

/// The id of the XDP program `ip link` shows on `ifname`.
fn xdp_prog_id(ns: &Netns, ifname: &str) -> String {
    let out = ns.run(&["ip", "-d", "link", "show", ifname]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = text
        .find("prog/xdp id ")
        .unwrap_or_else(|| panic!("no XDP on {ifname}: {text}"));
    text[at + 12..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}
