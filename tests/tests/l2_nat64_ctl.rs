//! L2: NAT64's control plane through the real daemon and the real
//! `tunnelctl` (issue 11): pool6 and explicit address mappings set by the
//! CLI and by `apply`, kept across a restart, reconciled into the pinned
//! maps (stale entries planted while the daemon is down are removed) and
//! into kernel routes toward the tunnel device; bad input is refused with
//! a clear message and changes nothing.

use std::{net::Ipv4Addr, net::Ipv6Addr, path::PathBuf, process::Output};

use aya::maps::{
    lpm_trie::{Key, LpmTrie},
    Array, Map, MapData,
};
use tunnel_common::nat64::{
    config::{Nat64Config, NAT64_F_EAM, NAT64_F_UDP0_COMPUTE, NAT64_F_WKP_STRICT},
    eam::Eam,
};
use tunnel_tests::{
    daemon::{metrics, Daemon},
    netns::Netns,
};

/// Field order is drop order: the daemon (and its pins) before the
/// namespace.
struct Bed {
    daemon: Daemon,
    ns: Netns,
}

/// A namespace of our own with one veth pair as the uplink, the daemon
/// started on it the way operators start it (`nsenter --net`), and tunnel 1
/// (2001:db8:1::/64).
fn bed() -> Bed {
    let ns = Netns::named(&format!("n64c-pop-{}", std::process::id())).unwrap();
    ns.ip("link add n64c0 type veth peer name n64c1").unwrap();
    ns.ip("link set n64c0 up").unwrap();
    ns.ip("link set n64c1 up").unwrap();
    let mut daemon = Daemon::new(&ns, &["n64c0"], 8, 32).unwrap();
    daemon.start().unwrap();
    daemon
        .ok(&[
            "tunnel",
            "add",
            "1",
            "--local",
            "192.0.2.1",
            "--remote",
            "198.51.100.2",
            "--prefix",
            "2001:db8:1::/64",
        ])
        .unwrap();
    Bed { daemon, ns }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(d: &Daemon, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&d.ok(args).unwrap()).unwrap()
}

fn map_path(d: &Daemon, name: &str) -> PathBuf {
    d.pin_dir
        .join(format!("v{}", tunnel_common::ABI_VERSION))
        .join("maps")
        .join(name)
}

fn nat64_slot(d: &Daemon) -> Nat64Config {
    let a: Array<MapData, Nat64Config> =
        Array::try_from(Map::Array(MapData::from_pin(map_path(d, "NAT64")).unwrap())).unwrap();
    a.get(&0, 0).unwrap()
}

fn trie6(d: &Daemon) -> LpmTrie<MapData, [u8; 16], Eam> {
    LpmTrie::try_from(Map::LpmTrie(
        MapData::from_pin(map_path(d, "EAM6")).unwrap(),
    ))
    .unwrap()
}

fn trie4(d: &Daemon) -> LpmTrie<MapData, [u8; 4], Eam> {
    LpmTrie::try_from(Map::LpmTrie(
        MapData::from_pin(map_path(d, "EAM4")).unwrap(),
    ))
    .unwrap()
}

/// The mappings in both pinned tries, as "v6/len=v4/len", sorted; panics
/// if the tries disagree.
fn pinned_eams(d: &Daemon) -> Vec<String> {
    let show = |e: &Eam| {
        format!(
            "{}/{}={}/{}",
            Ipv6Addr::from(e.v6),
            e.v6_len,
            Ipv4Addr::from(e.v4),
            e.v4_len
        )
    };
    let mut six: Vec<String> = trie6(d).iter().map(|kv| show(&kv.unwrap().1)).collect();
    let mut four: Vec<String> = trie4(d).iter().map(|kv| show(&kv.unwrap().1)).collect();
    six.sort();
    four.sort();
    assert_eq!(six, four, "EAM6 and EAM4 disagree");
    six
}

fn eam(v6: &str, v4: &str) -> serde_json::Value {
    serde_json::json!({ "v6": v6, "v4": v4 })
}

/// Our routes (protocol 116) of one family, as `ip` prints them.
fn routes(ns: &Netns, family: &str) -> String {
    let out = ns
        .run(&["ip", family, "route", "show", "proto", "116"])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail with exit `code` and a message
/// containing `msg`.
fn refused(d: &Daemon, args: &[&str], code: i32, msg: &str) {
    let out = d.ctl(args).unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(msg), "{args:?}: {err}");
}

#[test]
fn cli_store_maps_routes_and_restart() {
    let mut b = bed();
    let d = &mut b.daemon;

    // Nothing set yet.
    assert_eq!(
        json(d, &["nat64", "pool6", "show", "--json"]),
        serde_json::Value::Null
    );
    refused(
        d,
        &["nat64", "dns64-config", "unbound"],
        3,
        "no pool6 is set",
    );

    d.ok(&["nat64", "pool6", "set", "64:ff9b::/96"]).unwrap();
    let pool6 = json(d, &["nat64", "pool6", "show", "--json"]);
    assert_eq!(
        pool6,
        serde_json::json!({"prefix": "64:ff9b::/96", "wkp_strict": true, "udp_zero_checksum": "drop"})
    );
    // Inside tunnel 1's /64: the user behind the tunnel gets an IPv4
    // address.
    d.ok(&[
        "nat64",
        "eam",
        "add",
        "2001:db8:1::2/128",
        "198.51.100.5/32",
    ])
    .unwrap();
    d.ok(&["nat64", "eam", "add", "2001:db8:6::/120", "203.0.113.0/24"])
        .unwrap();
    let eams = json(d, &["nat64", "eam", "list", "--json"]);
    let want = serde_json::json!([
        eam("2001:db8:1::2/128", "198.51.100.5/32"),
        eam("2001:db8:6::/120", "203.0.113.0/24"),
    ]);
    assert_eq!(eams, want);
    let table = d.ok(&["nat64", "eam", "list"]).unwrap();
    assert!(
        table.contains("2001:db8:6::/120") && table.contains("IPV4"),
        "{table}"
    );

    let unbound = d.ok(&["nat64", "dns64-config", "unbound"]).unwrap();
    assert!(
        unbound.contains("module-config: \"dns64 validator iterator\"")
            && unbound.contains("dns64-prefix: 64:ff9b::/96"),
        "{unbound}"
    );
    let bind = d.ok(&["nat64", "dns64-config", "bind9"]).unwrap();
    assert!(bind.contains("dns64 64:ff9b::/96 { };"), "{bind}");

    // Maps.
    let slot = nat64_slot(d);
    assert_eq!(
        (Ipv6Addr::from(slot.pool6), slot.pool6_len, slot.flags),
        (
            "64:ff9b::".parse().unwrap(),
            96,
            NAT64_F_WKP_STRICT | NAT64_F_EAM
        )
    );
    assert_eq!(
        pinned_eams(d),
        [
            "2001:db8:1::2/128=198.51.100.5/32",
            "2001:db8:6::/120=203.0.113.0/24"
        ]
    );
    // Kernel routes toward the tunnel device, with the daemon's protocol.
    let r6 = routes(&b.ns, "-6");
    assert!(r6.contains("64:ff9b::/96 dev tnl0"), "{r6}");
    assert!(r6.contains("2001:db8:1::/64 dev tnl0"), "{r6}");
    let r4 = routes(&b.ns, "-4");
    assert!(
        r4.contains("198.51.100.5 dev tnl0") && r4.contains("203.0.113.0/24 dev tnl0"),
        "{r4}"
    );

    // An RFC 6791 pool: stored and shown as given, written as its first
    // address and host bits; then back to no source.
    d.ok(&[
        "nat64",
        "pool6",
        "set",
        "64:ff9b::/96",
        "--icmp-source",
        "192.0.2.8/29",
    ])
    .unwrap();
    assert_eq!(
        json(d, &["nat64", "pool6", "show", "--json"])["icmp_source"],
        "192.0.2.8/29"
    );
    let pooled = nat64_slot(d);
    assert_eq!(
        (pooled.icmp_src4, pooled.icmp_src4_bits),
        ([192, 0, 2, 8], 3)
    );
    d.ok(&["nat64", "pool6", "set", "64:ff9b::/96"]).unwrap();
    assert_eq!(nat64_slot(d), slot);

    // Bad input: a clear message, the exit status of its code, no change.
    let bad: [(&[&str], i32, &str); 12] = [
        (
            &[
                "nat64",
                "pool6",
                "set",
                "64:ff9b::/96",
                "--icmp-source",
                "10.0.0.0/8",
            ],
            2,
            "/16 to /32, not /8",
        ),
        (
            &["nat64", "pool6", "set", "2001:db8::/33"],
            2,
            "not one of RFC 6052's",
        ),
        (
            &["nat64", "pool6", "set", "2001:db8::1/96"],
            2,
            "did you mean 2001:db8::/96",
        ),
        (
            &[
                "nat64",
                "pool6",
                "set",
                "64:ff9b::/96",
                "--wkp-strict",
                "maybe",
            ],
            2,
            "invalid value 'maybe'",
        ),
        (
            &["nat64", "pool6", "set", "2001:db8:1::/64"],
            4,
            "overlaps 2001:db8:1::/64 of tunnel 1",
        ),
        (
            &["nat64", "eam", "add", "2001:db8:6::80/121", "192.0.2.0/25"],
            4,
            "EAM IPv6 side 2001:db8:6::80/121 overlaps 2001:db8:6::/120",
        ),
        (
            &[
                "nat64",
                "eam",
                "add",
                "2001:db8:7::/120",
                "203.0.113.128/25",
            ],
            4,
            "EAM IPv4 side 203.0.113.128/25 overlaps 203.0.113.0/24",
        ),
        (
            &["nat64", "eam", "add", "2001:db8:8::/128", "192.0.2.0/24"],
            2,
            "8 host bits",
        ),
        (
            &[
                "nat64",
                "eam",
                "add",
                "64:ff9b::c000:200/120",
                "192.0.2.0/24",
            ],
            4,
            "overlaps pool6",
        ),
        (
            &["nat64", "eam", "remove", "2001:db8:9::/120"],
            3,
            "is not mapped",
        ),
        (
            &["nat64", "eam", "remove", "2001:db8:6::/120", "192.0.2.0/24"],
            4,
            "is mapped to 203.0.113.0/24, not 192.0.2.0/24",
        ),
        (
            &[
                "tunnel",
                "add",
                "2",
                "--local",
                "192.0.2.1",
                "--remote",
                "198.51.100.3",
                "--prefix",
                "64:ff9b::/64",
            ],
            4,
            "overlaps NAT64's pool6 64:ff9b::/96",
        ),
    ];
    for (args, code, msg) in bad {
        refused(d, args, code, msg);
    }
    assert_eq!(json(d, &["nat64", "eam", "list", "--json"]), want);
    assert_eq!(json(d, &["nat64", "pool6", "show", "--json"]), pool6);
    assert_eq!(d.tunnel_ids().unwrap(), [1]);
    assert_eq!(pinned_eams(d).len(), 2);
    assert_eq!(nat64_slot(d), slot);
    assert_eq!(routes(&b.ns, "-4"), r4);

    // Down: the maps and routes drift (a stale mapping, pool6 gone, a
    // route missing and a stale one); the restart puts back the store's.
    d.stop().unwrap();
    let stale = Eam {
        v6: "2001:db8:99::".parse::<Ipv6Addr>().unwrap().octets(),
        v4: [192, 0, 2, 0],
        v6_len: 120,
        v4_len: 24,
        _pad: [0; 2],
    };
    trie6(d).insert(&Key::new(120, stale.v6), stale, 0).unwrap();
    trie4(d).insert(&Key::new(24, stale.v4), stale, 0).unwrap();
    {
        let mut a: Array<MapData, Nat64Config> =
            Array::try_from(Map::Array(MapData::from_pin(map_path(d, "NAT64")).unwrap())).unwrap();
        a.set(0, Nat64Config::default(), 0).unwrap();
    }
    assert_eq!(pinned_eams(d).len(), 3);
    b.ns.ip("-4 route del 203.0.113.0/24 proto 116").unwrap();
    b.ns.ip("-4 route add 192.0.2.0/24 dev tnl0 proto 116")
        .unwrap();
    d.start().unwrap();
    assert_eq!(json(d, &["nat64", "eam", "list", "--json"]), want);
    assert_eq!(json(d, &["nat64", "pool6", "show", "--json"]), pool6);
    assert_eq!(
        pinned_eams(d),
        [
            "2001:db8:1::2/128=198.51.100.5/32",
            "2001:db8:6::/120=203.0.113.0/24"
        ]
    );
    assert_eq!(nat64_slot(d), slot);
    assert_eq!(routes(&b.ns, "-4"), r4, "IPv4 routes reconciled");
    assert!(routes(&b.ns, "-6").contains("64:ff9b::/96 dev tnl0"));
    assert!(d.log().contains("nat64 maps reconciled"), "{}", d.log());

    // Changes after the restart: settings, a removal by both sides, clear.
    d.ok(&[
        "nat64",
        "pool6",
        "set",
        "64:ff9b::/96",
        "--wkp-strict",
        "off",
        "--udp-zero-checksum",
        "compute",
    ])
    .unwrap();
    assert_eq!(nat64_slot(d).flags, NAT64_F_UDP0_COMPUTE | NAT64_F_EAM);
    d.ok(&[
        "nat64",
        "eam",
        "remove",
        "2001:db8:6::/120",
        "203.0.113.0/24",
    ])
    .unwrap();
    assert_eq!(pinned_eams(d), ["2001:db8:1::2/128=198.51.100.5/32"]);
    assert!(!routes(&b.ns, "-4").contains("203.0.113.0"));
    d.ok(&["nat64", "eam", "remove", "2001:db8:1::2/128"])
        .unwrap();
    assert!(pinned_eams(d).is_empty());
    assert_eq!(nat64_slot(d).flags & NAT64_F_EAM, 0, "EAM flag follows");
    d.ok(&["nat64", "pool6", "clear"]).unwrap();
    assert_eq!(nat64_slot(d).pool6_len, 0);
    assert!(!routes(&b.ns, "-6").contains("64:ff9b::"));
    assert!(routes(&b.ns, "-4").is_empty());
    refused(d, &["nat64", "pool6", "clear"], 3, "no pool6 is set");

    // The translator's counters are on /metrics under their names.
    let m = metrics(&b.ns);
    for ev in [
        "nat64_6to4",
        "nat64_6to4_bytes",
        "nat64_4to6",
        "nat64_4to6_bytes",
        "nat64_into_tunnel",
    ] {
        assert!(
            m.contains(&format!("tunnelpop_events_total{{event=\"{ev}\"}}")),
            "{ev}"
        );
    }
    for reason in [
        "nat64_no_mapping",
        "nat64_udp_zero_checksum",
        "nat64_too_big",
    ] {
        assert!(
            m.contains(&format!("tunnelpop_drops_total{{reason=\"{reason}\"}}")),
            "{reason}"
        );
    }
}

#[test]
fn apply_nat64_section() {
    let b = bed();
    let d = &b.daemon;
    d.ok(&["nat64", "eam", "add", "2001:db8:6::/120", "203.0.113.0/24"])
        .unwrap();
    let tunnel = r#"[[tunnels]]
id = 1
local = "192.0.2.1"
remote = "198.51.100.2"
prefix = "2001:db8:1::/64"
"#;
    let file = d.dir.join("n64c.toml");
    std::fs::write(
        &file,
        format!(
            r#"{tunnel}
[nat64]
pool6 = {{ prefix = "2001:db8:64::/96", udp_zero_checksum = "compute" }}
eams = [
  {{ v6 = "2001:db8:1::2/128", v4 = "198.51.100.5/32" }},
  {{ v6 = "2001:db8:7::/120", v4 = "192.0.2.0/24" }},
]
"#
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let dry = json(d, &["apply", "-f", f, "--dry-run", "--json"]);
    assert_eq!(dry["applied"], false);
    assert_eq!(dry["plan"]["nat64"]["pool6_changed"], true);
    assert_eq!(
        dry["plan"]["nat64"]["eams_add"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        dry["plan"]["nat64"]["eams_remove"],
        serde_json::json!([eam("2001:db8:6::/120", "203.0.113.0/24")])
    );
    assert_eq!(pinned_eams(d), ["2001:db8:6::/120=203.0.113.0/24"]);
    d.ok(&["apply", "-f", f]).unwrap();
    let want = serde_json::json!([
        eam("2001:db8:1::2/128", "198.51.100.5/32"),
        eam("2001:db8:7::/120", "192.0.2.0/24"),
    ]);
    assert_eq!(json(d, &["nat64", "eam", "list", "--json"]), want);
    assert_eq!(
        json(d, &["nat64", "pool6", "show", "--json"]),
        serde_json::json!({"prefix": "2001:db8:64::/96", "wkp_strict": true, "udp_zero_checksum": "compute"})
    );
    assert_eq!(
        pinned_eams(d),
        [
            "2001:db8:1::2/128=198.51.100.5/32",
            "2001:db8:7::/120=192.0.2.0/24"
        ]
    );
    let r4 = routes(&b.ns, "-4");
    assert!(
        r4.contains("192.0.2.0/24 dev tnl0") && !r4.contains("203.0.113.0"),
        "{r4}"
    );
    assert!(routes(&b.ns, "-6").contains("2001:db8:64::/96 dev tnl0"));

    // All or nothing: one bad mapping, nothing changes.
    std::fs::write(
        &file,
        format!(
            r#"{tunnel}
[nat64]
eams = [
  {{ v6 = "2001:db8:1::2/128", v4 = "198.51.100.5/32" }},
  {{ v6 = "2001:db8:8::/120", v4 = "198.51.100.0/24" }},
]
"#
        ),
    )
    .unwrap();
    refused(d, &["apply", "-f", f], 2, "nat64: EAM IPv4 side");
    assert_eq!(json(d, &["nat64", "eam", "list", "--json"]), want);
    assert_eq!(pinned_eams(d).len(), 2);

    // A file without the section leaves NAT64 alone; an empty one clears.
    std::fs::write(&file, tunnel).unwrap();
    d.ok(&["apply", "-f", f]).unwrap();
    assert_eq!(json(d, &["nat64", "eam", "list", "--json"]), want);
    std::fs::write(&file, format!("{tunnel}\n[nat64]\n")).unwrap();
    d.ok(&["apply", "-f", f]).unwrap();
    assert_eq!(
        json(d, &["nat64", "eam", "list", "--json"]),
        serde_json::json!([])
    );
    assert!(pinned_eams(d).is_empty());
    assert_eq!(nat64_slot(d), Nat64Config::default());
    assert!(routes(&b.ns, "-4").is_empty());
}
