//! The L1 case tables' shape: one `Case` per packet (input, ingress
//! interface, setup), and what must come out: verdict, exact bytes, drop and
//! event counters, per-tunnel counters. `check` runs a table on a `ProgBed`.

use tunnel_common::stats::{Drop, Event};

use crate::prog::{action_name, ProgBed};

/// What one case expects.
pub struct Expect {
    pub action: u32,
    /// Exact output frame, when the packet leaves.
    pub output: Option<Vec<u8>>,
    pub drops: &'static [(Drop, u64)],
    pub events: &'static [(Event, u64)],
    /// (tunnel, rx packets, tx packets)
    pub tunnel: Option<(u32, u64, u64)>,
}

pub struct Case {
    pub name: &'static str,
    pub setup: fn(&mut ProgBed),
    pub input: Vec<u8>,
    pub ingress: fn(&ProgBed) -> u32,
    pub expect: Expect,
}

pub fn x0(b: &ProgBed) -> u32 {
    b.x0
}
pub fn x1(b: &ProgBed) -> u32 {
    b.x1
}
pub fn nothing(_: &mut ProgBed) {}

pub fn check(bed: &mut ProgBed, cases: Vec<Case>) {
    for c in cases {
        bed.reset().unwrap();
        (c.setup)(bed);
        let ifindex = (c.ingress)(bed);
        let run = bed.run(&c.input, ifindex).unwrap();
        assert_eq!(
            action_name(run.action),
            action_name(c.expect.action),
            "{}: verdict (drops {:?})",
            c.name,
            bed.counters()
                .drops
                .iter()
                .filter(|d| d.1 > 0)
                .collect::<Vec<_>>()
        );
        if let Some(want) = &c.expect.output {
            assert_eq!(hex(&run.output), hex(want), "{}: output bytes", c.name);
        }
        check_counters(bed, c.name, c.expect.drops, c.expect.events);
        if let Some((id, rx, tx)) = c.expect.tunnel {
            let t = bed.tunnel(id);
            assert_eq!(
                (t.rx_packets, t.tx_packets),
                (rx, tx),
                "{}: tunnel {id} counters",
                c.name
            );
        }
    }
}

/// Every drop reason in `drops` counted as given, no other drop at all,
/// and the events in `events` counted as given. Shared by the XDP and TC
/// tables.
pub fn check_counters(
    bed: &mut ProgBed,
    name: &str,
    drops: &[(Drop, u64)],
    events: &[(Event, u64)],
) {
    let counters = bed.counters();
    for (d, n) in drops {
        assert_eq!(counters.drop(*d), *n, "{name}: drop {}", d.name());
    }
    let expected_drops: u64 = drops.iter().map(|(_, n)| n).sum();
    assert_eq!(
        counters.total_drops(),
        expected_drops,
        "{name}: total drops {:?}",
        counters.drops
    );
    for (e, n) in events {
        assert_eq!(counters.event(*e), *n, "{name}: event {}", e.name());
    }
}

pub fn hex(b: &[u8]) -> String {
    b.chunks(16)
        .map(|l| {
            l.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
