//! L2: learned state apart from configuration. What the data path or a
//! protocol handler learned (`ENDPOINTS`) survives the daemon's restarts,
//! its reconciliation and configuration changes; only removing the tunnel
//! clears it (and the tunnel's key in `SECRETS`), so a reused id starts
//! blank. The learned endpoint shows in `tunnel show`.

use std::path::PathBuf;

use aya::maps::{Array, Map, MapData};
use tunnel_common::{
    maps,
    tunnel::{Endpoint, TunnelSecret, ENDPOINT_V4, ENDPOINT_VIA_AYIYA},
};
use tunnel_tests::{daemon::Daemon, topology::Namespaces};

const ADD_T1: &[&str] = &[
    "tunnel",
    "add",
    "1",
    "--local",
    "192.0.2.1",
    "--remote",
    "192.0.2.2",
    "--prefix",
    "2001:db8:1::/64",
];

fn pin(d: &Daemon, name: &str) -> PathBuf {
    d.pin_dir
        .join(format!("v{}", tunnel_common::ABI_VERSION))
        .join("maps")
        .join(name)
}

fn endpoints(d: &Daemon) -> Array<MapData, Endpoint> {
    let map = Map::Array(MapData::from_pin(pin(d, maps::ENDPOINTS)).unwrap());
    Array::try_from(map).unwrap()
}

fn secrets(d: &Daemon) -> Array<MapData, TunnelSecret> {
    let map = Map::Array(MapData::from_pin(pin(d, maps::SECRETS)).unwrap());
    Array::try_from(map).unwrap()
}

/// What an AYIYA packet from 198.51.100.9:40000 to the PoP's 192.0.2.1:5072
/// teaches the data path, stamped "now" on the boot clock.
fn learned() -> Endpoint {
    let mapped = |a: [u8; 4]| {
        let mut m = [0u8; 16];
        m[10] = 0xff;
        m[11] = 0xff;
        m[12..].copy_from_slice(&a);
        m
    };
    Endpoint {
        remote: mapped([198, 51, 100, 9]),
        local: mapped([192, 0, 2, 1]),
        remote_port: 40000u16.to_be_bytes(),
        local_port: 5072u16.to_be_bytes(),
        family: ENDPOINT_V4,
        via: ENDPOINT_VIA_AYIYA,
        _pad: [0; 2],
        last_seen_ns: tunnelctl::datapath::clock::boot_ns().unwrap(),
    }
}

fn key() -> TunnelSecret {
    TunnelSecret {
        key: [0x5a; 20],
        len: 20,
        _pad: [0; 3],
    }
}

#[test]
fn learned_state_survives_restart_reconcile_and_changes_until_removal() {
    let ns = Namespaces::new().expect("namespaces");
    let mut d = Daemon::new(&ns.pop, &["p0", "p1"], 64, 256).unwrap();
    d.start().unwrap();
    d.ok(ADD_T1).unwrap();
    // A static tunnel has learned nothing, and says nothing about it.
    let shown = d.ok(&["tunnel", "show", "1", "--json"]).unwrap();
    assert!(!shown.contains("\"endpoint\""), "{shown}");

    // The data path learns (written as it would, in the pinned maps).
    let ep = learned();
    endpoints(&d).set(1, ep, 0).unwrap();
    let shown = d.ok(&["tunnel", "show", "1"]).unwrap();
    assert!(
        shown.contains("learned   198.51.100.9:40000 -> 192.0.2.1:5072 via ayiya"),
        "{shown}"
    );

    // A restart reconciles every map from the store: learned state stays.
    d.stop().unwrap();
    d.start().unwrap();
    assert!(d.log().contains("maps reconciled"));
    assert_eq!(endpoints(&d).get(&1, 0).unwrap(), ep);

    // Configuration changes rewrite the tunnel's entries, not what was learned.
    d.ok(&["tunnel", "set", "1", "--mtu", "1400"]).unwrap();
    d.ok(&["tunnel", "set", "1", "--disable"]).unwrap();
    d.ok(&["tunnel", "set", "1", "--enable"]).unwrap();
    assert_eq!(endpoints(&d).get(&1, 0).unwrap(), ep);
    let json: serde_json::Value =
        serde_json::from_str(&d.ok(&["tunnel", "show", "1", "--json"]).unwrap()).unwrap();
    assert_eq!(json["endpoint"]["remote"], "198.51.100.9:40000", "{json}");
    assert_eq!(json["endpoint"]["via"], "ayiya", "{json}");
    assert!(
        json["endpoint"]["seen_s_ago"].as_u64().unwrap() < 60,
        "{json}"
    );

    // Removal clears the slot: the next tunnel with this id starts blank
    // (a key left in the slot, as a crashed writer might, goes too).
    secrets(&d).set(1, key(), 0).unwrap();
    d.ok(&["tunnel", "remove", "1"]).unwrap();
    assert_eq!(endpoints(&d).get(&1, 0).unwrap(), Endpoint::default());
    assert_eq!(secrets(&d).get(&1, 0).unwrap(), TunnelSecret::default());
    d.ok(ADD_T1).unwrap();
    let shown = d.ok(&["tunnel", "show", "1", "--json"]).unwrap();
    assert!(!shown.contains("\"endpoint\""), "{shown}");
    d.stop().unwrap();
}
