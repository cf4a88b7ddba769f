//! NAT64 on the bench bed: the translator's settings and frames, and
//! Tayga, the anchor it is compared with, run on the dut with no XDP on
//! its ingress.
//!
//! ```text
//!  IPv6 side: 2001:db8:eeee::2 ("the Internet", behind bdut0), mapped (EAM)
//!             to 198.18.0.2; tunnel A's user mapped to 198.18.0.3
//!  IPv4 side: 198.19.0.2, routed out bdut0 via 192.0.2.2
//!  pool6:     2001:db8:64::/96 (network-specific, RFC 6052)
//! ```
//! Every translated packet leaves where it came in (XDP_TX from the
//! translator, kernel forwarding out bdut0 from Tayga), so both are read
//! against the XDP_TX baseline and counted at bgen0.
//!
//! Tayga: `tayga --nodetach` in the dut namespace with a config file and
//! data dir of its own under a temporary directory, the same pool6
//! (`prefix`) and mappings (`map`), its tun device up with pool6 and
//! 198.18.0.0/16 routed into it, the process pinned to the dut's CPU.

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result};
use etherparse::EtherType;
use tunnel_common::nat64::{config::NAT64_F_WKP_STRICT, rfc6052};
use tunnelctl::datapath::{EamEntry, Nat64Settings};

use super::{
    frames::{udp6_sized, Inner},
    sys,
    topology::{tunnel, Bed, DUT_CPU, DUT_IN, INTERNET_V6, TUN_A},
};
use crate::{
    packets::udp4,
    tayga::{self, Tayga},
};

pub const POOL6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x64, 0, 0, 0, 0, 0);
pub const POOL6_LEN: u8 = 96;
/// The IPv4 host the IPv6 side talks to (routed out bdut0).
pub const V4_HOST: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// The IPv4 side of `INTERNET_V6`'s mapping.
pub const INTERNET_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The IPv4 side of tunnel A's user's mapping.
pub const USER_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
/// Tayga's own IPv4 address (ICMP errors), in the routed 198.18.0.0/16.
const TAYGA_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 255, 1);
pub const TAYGA_DEV: &str = "btayga0";

/// `v4` as the IPv6 side sees it: under pool6.
pub fn pooled(v4: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from(rfc6052::embed(&POOL6.octets(), POOL6_LEN, v4.octets()))
}

/// The two mappings (IPv6 host, its IPv4 address).
fn mappings() -> [(Ipv6Addr, Ipv4Addr); 2] {
    [
        (INTERNET_V6, INTERNET_V4),
        (tunnel(TUN_A).user_address(), USER_V4),
    ]
}

impl Bed {
    /// The translator on (pool6, both mappings) and the IPv4 host's route.
    pub fn setup_nat64(&mut self) -> Result<()> {
        self.dp
            .set_nat64(
                &Nat64Settings {
                    pool6: Some((POOL6, POOL6_LEN)),
                    flags: NAT64_F_WKP_STRICT,
                    // The bench's packets cause no ICMP error.
                    icmp_source: None,
                },
                true,
            )
            .context("NAT64 settings")?;
        for (v6, v4) in mappings() {
            self.dp
                .add_eam(&EamEntry::new(v6, 128, v4, 32)?)
                .with_context(|| format!("mapping {v6} ↔ {v4}"))?;
        }
        self.dut.ip(&format!(
            "route add 198.19.0.0/16 via 192.0.2.2 dev {DUT_IN}"
        ))
    }

    /// IPv6 of `inner` bytes from the Internet to the IPv4 host (6→4).
    pub fn frame_nat64_to4(&self, inner: Inner) -> Vec<u8> {
        let p = udp6_sized(INTERNET_V6, pooled(V4_HOST), inner.bytes(), 0);
        crate::packets::eth(self.gen_mac, self.dut_in_mac, EtherType::IPV6, &p)
    }

    /// IPv4 from the IPv4 host to the Internet host's mapping, 20 bytes
    /// shorter than `inner`: translated, it is `inner` bytes of IPv6 (4→6).
    pub fn frame_nat64_to6(&self, inner: Inner) -> Vec<u8> {
        let payload: Vec<u8> = (0..inner.bytes() - 48).map(|i| (i * 7 + 3) as u8).collect();
        let p = udp4((V4_HOST, 40000), (INTERNET_V4, 9), &payload);
        crate::packets::eth(self.gen_mac, self.dut_in_mac, EtherType::IPV4, &p)
    }

    /// 6in4 from tunnel A's user to the IPv4 host: decapsulated and
    /// translated in one pass.
    pub fn frame_nat64_from_tunnel(&self) -> Vec<u8> {
        self.frame_from_tunnel(TUN_A, pooled(V4_HOST))
    }
}

/// Tayga's configuration on the bed: the same pool6 (`prefix`) and
/// mappings (`map`) as the translator's.
pub fn tayga_config() -> tayga::Config {
    tayga::Config {
        tun_device: TAYGA_DEV.into(),
        ipv4_addr: TAYGA_V4,
        ipv6_addr: None,
        prefix: (POOL6, POOL6_LEN),
        maps: mappings().iter().map(|&(v6, v4)| (v4, v6)).collect(),
    }
}

/// Starts Tayga in the dut namespace, pinned to the dut's CPU, its tun
/// device up with pool6 and 198.18.0.0/16 routed into it. Stopped when
/// the returned value drops.
pub fn start_tayga(bed: &Bed) -> Result<Tayga> {
    let t = Tayga::start(&bed.dut, &tayga_config())?;
    sys::pin_to_cpu(t.pid(), DUT_CPU).context("pinning tayga")?;
    bed.dut.ip(&format!("link set {TAYGA_DEV} up"))?;
    bed.dut
        .ip(&format!("-6 route add {POOL6}/{POOL6_LEN} dev {TAYGA_DEV}"))?;
    bed.dut
        .ip(&format!("route add 198.18.0.0/16 dev {TAYGA_DEV}"))?;
    Ok(t)
}

/// Packets Tayga wrote back into the kernel (translated), from the tun
/// device's receive counter.
pub fn tayga_translated(bed: &Bed) -> Result<u64> {
    let out = bed.dut.run(&[
        "cat",
        &format!("/sys/class/net/{TAYGA_DEV}/statistics/rx_packets"),
    ])?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool6_embeds_the_host() {
        assert_eq!(
            pooled(V4_HOST),
            "2001:db8:64::c613:2".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn tayga_config_has_prefix_and_maps() {
        let c = tayga_config().render(std::path::Path::new("/tmp/x/data"));
        assert!(c.contains("prefix 2001:db8:64::/96\n"), "{c}");
        assert!(c.contains("map 198.18.0.2 2001:db8:eeee::2\n"), "{c}");
        assert!(c.contains("ipv4-addr 198.18.255.1\n"), "{c}");
    }
}
