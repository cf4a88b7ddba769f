//! Loading, attaching and feeding the XDP datapath.
//!
//! Map writes follow one rule: the forward map (`TUNNELS`, id → tunnel) is
//! written before the reverse ones (`PREFIXES`, `TUN_BY_V4`, which lead a
//! packet to an id), and deleted after them, so no packet ever finds an id
//! whose entry is missing or stale.

pub mod clock;
mod counters;
mod egress;
mod learned;
mod nat64;
mod nexthops;
pub mod pins;
mod prefixes;
mod proxies;
pub mod slowpath;
mod stats;
mod tunnels;
mod verifier;

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::{AsFd, AsRawFd, FromRawFd},
};

use anyhow::{bail, Context, Result};
use aya::{
    maps::{Array, DevMapHash, MapData, ProgramArray},
    programs::{
        links::{FdLink, PinnedLink},
        xdp::XdpLink,
        SchedClassifier, Xdp, XdpMode,
    },
    Ebpf, EbpfLoader,
};
pub use counters::Counters;
pub use learned::NotLearned;
pub use nat64::{EamEntry, Nat64Settings, Nat64Snapshot};
pub use proxies::ProxyEntry;
pub use stats::{format_table, verifier_stats, ProgramStats};
use tunnel_common::{config::RuntimeConfig, jump, maps};
pub use tunnels::{DecapKey, Snapshot};

use crate::prefix::Ipv6Prefix;

/// The eBPF object built by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tunnel"));

/// The XDP entry point for uplinks: classifies and jumps.
pub const PROGRAM_UPLINK: &str = "tunnel_xdp";
/// The NDP proxy, tail-called from the uplink program (`JUMPS`).
pub const PROGRAM_NDP: &str = "ndp_proxy";
/// The programs behind the uplink's `JUMPS`, by slot.
pub const JUMP_PROGRAMS: [(u32, &str); 14] = [
    (jump::JUMP_NDP, PROGRAM_NDP),
    (jump::JUMP_SIXIN4_DECAP, "sixin4_decap"),
    (jump::JUMP_ROUTE, "tunnel_route"),
    (jump::JUMP_ICMP, "tunnel_icmp"),
    (jump::JUMP_AYIYA_DECAP, "ayiya_decap"),
    (jump::JUMP_AYIYA_AUTH, "ayiya_auth"),
    (jump::JUMP_AYIYA_ENCAP, "ayiya_encap"),
    (jump::JUMP_NAT64_6TO4, "nat64_6to4"),
    (jump::JUMP_NAT64_4TO6, "nat64_4to6"),
    (jump::JUMP_NAT64_ICMP4, "nat64_icmp4"),
    (jump::JUMP_NAT64_ERR_TO6, "nat64_err_to6"),
    (jump::JUMP_NAT64_ERR_TO4, "nat64_err_to4"),
    (jump::JUMP_NAT64_OPTIONS, "nat64_options"),
    (jump::JUMP_NAT64_EXT6, "nat64_ext6"),
];
/// The TC entry point for the egress of the tunnel device (what the PoP's
/// own kernel sends toward tunnels).
pub const PROGRAM_LOCAL: &str = "tunnel_tc";
/// The programs behind the TC program's `JUMPS_LOCAL`, by slot.
pub const LOCAL_JUMP_PROGRAMS: [(u32, &str); 1] =
    [(jump::JUMP_LOCAL_AYIYA_ENCAP, "ayiya_encap_local")];
/// The XDP programs of the object: the uplink's, the paths it jumps to and
/// the test beds'.
const XDP_PROGRAMS: [&str; 18] = [
    PROGRAM_UPLINK,
    PROGRAM_NDP,
    "sixin4_decap",
    "ayiya_decap",
    "ayiya_auth",
    "ayiya_encap",
    "tunnel_route",
    "tunnel_icmp",
    "nat64_6to4",
    "nat64_4to6",
    "nat64_icmp4",
    "nat64_err_to6",
    "nat64_err_to4",
    "nat64_options",
    "nat64_ext6",
    "testbed_pass",
    "testbed_drop",
    "testbed_tx",
];

#[derive(Clone, Debug)]
pub struct DatapathOptions {
    /// Tunnel ids range over `0..max_tunnels`.
    pub max_tunnels: u32,
    /// Entries of the prefix trie (a /64 per tunnel plus routed prefixes).
    pub max_prefixes: u32,
    /// Entries of the NDP proxy table.
    pub max_proxies: u32,
    pub config: RuntimeConfig,
    /// bpffs directory for pinned maps and links; `None`: nothing pinned,
    /// everything goes away with the `Datapath`.
    pub pin_dir: Option<std::path::PathBuf>,
}

impl Default for DatapathOptions {
    fn default() -> Self {
        Self {
            max_tunnels: maps::DEFAULT_MAX_TUNNELS,
            max_prefixes: maps::DEFAULT_MAX_PREFIXES,
            max_proxies: maps::DEFAULT_MAX_PROXIES,
            config: RuntimeConfig::default(),
            pin_dir: None,
        }
    }
}

/// What a tunnel is carried in, and what the data path needs for it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Kind {
    /// 6in4 between `local` and `remote`.
    #[default]
    Sixin4,
    /// AYIYA: found by its user's address (`::2`) as identity, signed
    /// with `key` (K = SHA-1 of the password); the endpoint is learned.
    Ayiya { key: [u8; 20] },
    /// 6in4 to where the user's signed beats come from (the daemon learns
    /// it); AYIYA from the same user is taken too, as for `Ayiya`, so the
    /// tunnel follows whichever its user last spoke.
    Heartbeat { key: [u8; 20] },
}

/// One tunnel as the operator describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: Kind,
    /// The PoP's IPv4 address (outer source toward the user).
    pub local: Ipv4Addr,
    /// The user's IPv4 address.
    pub remote: Ipv4Addr,
    /// The tunnel's /64: `::1` is the PoP, `::2` the user.
    pub prefix: Ipv6Prefix,
    /// 1280..=1480.
    pub mtu: u16,
    /// Outer TTL, 0 = inherit the inner hop limit.
    pub ttl: u8,
    /// sit's `pmtudisc`: set DF on the outer header.
    pub pmtudisc: bool,
    pub enabled: bool,
}

impl Tunnel {
    /// A tunnel with the defaults of sit and HE: MTU 1480, TTL 64, DF set.
    pub fn new(local: Ipv4Addr, remote: Ipv4Addr, prefix: Ipv6Prefix) -> Self {
        Self {
            kind: Kind::Sixin4,
            local,
            remote,
            prefix,
            mtu: tunnel_common::tunnel::MTU_DEFAULT,
            ttl: tunnel_common::tunnel::TTL_DEFAULT,
            pmtudisc: true,
            enabled: true,
        }
    }
    /// An AYIYA tunnel with AICCU's defaults (MTU 1280).
    pub fn ayiya(prefix: Ipv6Prefix, key: [u8; 20]) -> Self {
        Self {
            kind: Kind::Ayiya { key },
            mtu: tunnel_common::tunnel::MTU_MIN,
            ..Self::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, prefix)
        }
    }
    /// A heartbeat tunnel: its key is the AYIYA key of its password (its
    /// user may switch to AYIYA), its endpoint learned from beats.
    pub fn heartbeat(prefix: Ipv6Prefix, key: [u8; 20]) -> Self {
        Self {
            kind: Kind::Heartbeat { key },
            ..Self::ayiya(prefix, key)
        }
    }
    pub fn pop_address(&self) -> Ipv6Addr {
        self.prefix.host(1)
    }
    pub fn user_address(&self) -> Ipv6Addr {
        self.prefix.host(2)
    }
}

pub struct Datapath {
    ebpf: Ebpf,
    opts: DatapathOptions,
    /// `<pin_dir>/v<ABI>` when pinning.
    pins: Option<std::path::PathBuf>,
    reused_pins: bool,
    /// The `TUN_BY_V4` pair each dynamic tunnel learned from beats
    /// (`learned`).
    learned: std::collections::HashMap<u32, tunnel_common::tunnel::TunnelV4Key>,
}

impl Datapath {
    /// Loads the programs and creates their maps (not pinned).
    pub fn load(opts: DatapathOptions) -> Result<Self> {
        if OBJECT.is_empty() {
            bail!("this binary was built with TUNNEL_BUILD_EBPF=0 and carries no eBPF object");
        }
        if opts.max_tunnels == 0 || opts.max_prefixes == 0 || opts.max_proxies == 0 {
            bail!("max_tunnels, max_prefixes and max_proxies must be at least 1");
        }
        raise_memlock();
        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(maps::TUNNELS, opts.max_tunnels)
            .map_max_entries(maps::TUN_BY_V4, opts.max_tunnels)
            .map_max_entries(maps::TUN_BY_ID6, opts.max_tunnels)
            .map_max_entries(maps::TUN_STATS, opts.max_tunnels)
            .map_max_entries(maps::ENDPOINTS, opts.max_tunnels)
            .map_max_entries(maps::PINGS, opts.max_tunnels)
            .map_max_entries(maps::SECRETS, opts.max_tunnels)
            .map_max_entries(maps::PREFIXES, opts.max_prefixes)
            .map_max_entries(maps::NETS, opts.max_prefixes)
            .map_max_entries(maps::PROXIES, opts.max_proxies);
        let pins = opts.pin_dir.as_deref().map(pins::versioned_dir);
        let mut reused_pins = false;
        let layouts = pins::layouts(&opts);
        let map_paths: Vec<(&str, std::path::PathBuf)> = match &pins {
            Some(dir) => {
                reused_pins = pins::check(dir, &opts)?;
                std::fs::create_dir_all(dir.join("maps"))
                    .with_context(|| format!("creating {}", dir.display()))?;
                std::fs::create_dir_all(dir.join("links"))?;
                layouts
                    .iter()
                    .map(|l| (l.name, pins::map_path(dir, l.name)))
                    .collect()
            }
            None => Vec::new(),
        };
        for (name, path) in &map_paths {
            loader.map_pin_path(name, path.as_path());
        }
        let mut ebpf = loader.load(OBJECT).context("loading the eBPF object")?;
        for name in XDP_PROGRAMS {
            let prog: &mut Xdp = ebpf
                .program_mut(name)
                .with_context(|| format!("program {name} missing from the object"))?
                .try_into()?;
            prog.load()
                .map_err(verifier::short)
                .with_context(|| format!("verifier rejected {name}"))?;
        }
        let tc_programs = std::iter::once(PROGRAM_LOCAL).chain(LOCAL_JUMP_PROGRAMS.map(|(_, n)| n));
        for name in tc_programs {
            let tc: &mut SchedClassifier = ebpf
                .program_mut(name)
                .with_context(|| format!("program {name} missing from the object"))?
                .try_into()?;
            tc.load()
                .map_err(verifier::short)
                .with_context(|| format!("verifier rejected {name}"))?;
        }
        let mut dp = Self {
            ebpf,
            opts,
            pins,
            reused_pins,
            learned: Default::default(),
        };
        dp.set_config(&dp.opts.config.clone())?;
        dp.fill_jumps()?;
        Ok(dp)
    }

    /// Whether the maps came from pins (a restart) rather than new.
    pub fn reused_pins(&self) -> bool {
        self.reused_pins
    }

    /// The versioned pin directory, when pinning.
    pub fn pin_dir(&self) -> Option<&std::path::Path> {
        self.pins.as_deref()
    }

    pub fn options(&self) -> &DatapathOptions {
        &self.opts
    }

    /// The underlying object, for tests (BPF_PROG_TEST_RUN) and tools.
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    pub fn program_mut(&mut self, name: &str) -> Result<&mut Xdp> {
        Ok(self
            .ebpf
            .program_mut(name)
            .with_context(|| format!("no program {name}"))?
            .try_into()?)
    }

    /// The TC program, for tests (BPF_PROG_TEST_RUN) and attaching.
    pub fn classifier_mut(&mut self) -> Result<&mut SchedClassifier> {
        Ok(self
            .ebpf
            .program_mut(PROGRAM_LOCAL)
            .with_context(|| format!("no program {PROGRAM_LOCAL}"))?
            .try_into()?)
    }

    /// Attaches the uplink program to `ifname` and lets other programs
    /// redirect to it. Native mode unless `mode` says otherwise.
    /// When pinning, the XDP link is pinned too; if a pinned link exists
    /// (a restart), the new program replaces the old one on it atomically.
    pub fn attach(&mut self, ifname: &str, mode: XdpMode) -> Result<()> {
        let ifindex = ifindex(ifname)?;
        self.allow_tx(ifindex)?;
        self.set_uplink_mac(ifindex, mac_address(ifname)?)?;
        let link_pin = self.pins.as_deref().map(|d| pins::link_path(d, ifname));
        let prog = self.program_mut(PROGRAM_UPLINK)?;
        if let Some(path) = link_pin.as_deref().filter(|p| p.exists()) {
            let pinned = PinnedLink::from_pin(path)
                .with_context(|| format!("opening pinned link {}", path.display()))?;
            let link = XdpLink::try_from(FdLink::from(pinned))
                .context("pinned link is not an XDP link")?;
            prog.attach_to_link(link)
                .with_context(|| format!("replacing the program on {ifname}"))?;
            return Ok(());
        }
        let id = prog
            .attach(ifname, mode)
            .with_context(|| format!("attaching {PROGRAM_UPLINK} to {ifname} ({mode:?}); use SKB mode only if the driver lacks native XDP"))?;
        if let Some(path) = link_pin {
            let link = prog.take_link(id)?;
            let fd = FdLink::try_from(link)
                .context("the kernel attached XDP without a bpf_link; cannot pin it")?;
            fd.pin(&path)
                .with_context(|| format!("pinning {}", path.display()))?;
        }
        Ok(())
    }

    /// Attaches one of the test-bed programs (`testbed_pass`, …) to `ifname`.
    pub fn attach_program(&mut self, program: &str, ifname: &str, mode: XdpMode) -> Result<()> {
        self.program_mut(program)?
            .attach(ifname, mode)
            .with_context(|| format!("attaching {program} to {ifname}"))?;
        Ok(())
    }

    /// Points the uplink program's tail-call slots at this build's programs.
    /// With pinned maps each slot's update replaces the previous build's
    /// program in one map write, so no path stops across a restart (the
    /// arguments' layout is fixed within an ABI version).
    fn fill_jumps(&mut self) -> Result<()> {
        for (slot, name) in JUMP_PROGRAMS {
            let prog: &Xdp = self
                .ebpf
                .program(name)
                .with_context(|| format!("no program {name}"))?
                .try_into()?;
            let fd = prog.fd()?.try_clone()?;
            let mut jumps =
                ProgramArray::try_from(self.ebpf.map_mut(maps::JUMPS).context(maps::JUMPS)?)?;
            jumps
                .set(slot, &fd, 0)
                .with_context(|| format!("installing {name} in JUMPS slot {slot}"))?;
        }
        for (slot, name) in LOCAL_JUMP_PROGRAMS {
            let prog: &SchedClassifier = self
                .ebpf
                .program(name)
                .with_context(|| format!("no program {name}"))?
                .try_into()?;
            let fd = prog.fd()?.try_clone()?;
            let map = self
                .ebpf
                .map_mut(maps::JUMPS_LOCAL)
                .context(maps::JUMPS_LOCAL)?;
            ProgramArray::try_from(map)?
                .set(slot, &fd, 0)
                .with_context(|| format!("installing {name} in JUMPS_LOCAL slot {slot}"))?;
        }
        Ok(())
    }

    /// Adds `ifindex` to the interfaces XDP may redirect to.
    pub fn allow_tx(&mut self, ifindex: u32) -> Result<()> {
        let mut ports: DevMapHash<&mut MapData> =
            DevMapHash::try_from(self.ebpf.map_mut(maps::TX_PORTS).context("TX_PORTS")?)?;
        ports
            .insert(ifindex, ifindex, None, 0)
            .context("adding to TX_PORTS")?;
        Ok(())
    }

    pub fn set_config(&mut self, cfg: &RuntimeConfig) -> Result<()> {
        let mut a: Array<&mut MapData, RuntimeConfig> =
            Array::try_from(self.ebpf.map_mut(maps::CONFIG).context("CONFIG")?)?;
        a.set(0, *cfg, 0)?;
        Ok(())
    }

    /// File descriptor of a loaded program (for tools that test-run it).
    pub fn program_fd(&mut self, name: &str) -> Result<std::os::fd::OwnedFd> {
        let fd = if name == PROGRAM_LOCAL {
            self.classifier_mut()?.fd()?.as_fd().try_clone_to_owned()?
        } else {
            self.program_mut(name)?.fd()?.as_fd().try_clone_to_owned()?
        };
        Ok(fd)
    }
}

#[allow(unsafe_code)] // FFI: libc calls, each with a SAFETY note
pub fn ifindex(ifname: &str) -> Result<u32> {
    let c = std::ffi::CString::new(ifname).context("interface name")?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        bail!("no interface named {ifname}");
    }
    Ok(idx)
}

/// The hardware address of `ifname` in the calling thread's network
/// namespace (SIOCGIFHWADDR; sysfs would show the mounting namespace's).
#[allow(unsafe_code)] // FFI: libc calls, each with a SAFETY note
pub fn mac_address(ifname: &str) -> Result<[u8; 6]> {
    if ifname.len() >= libc::IFNAMSIZ {
        bail!("interface name {ifname:?} is too long");
    }
    // SAFETY: plain socket(2); the fd is closed by OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("socket for SIOCGIFHWADDR");
    }
    // SAFETY: fd was just returned by socket(2) and is owned here only.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr of `req`.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("reading the MAC address of {ifname}"));
    }
    // SAFETY: the ioctl succeeded, so the hwaddr member is the one written.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (m, d) in mac.iter_mut().zip(data.iter()) {
        *m = *d as u8;
    }
    Ok(mac)
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK.
#[allow(unsafe_code)] // FFI: libc calls, each with a SAFETY note
fn raise_memlock() {
    let r = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid struct.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) };
}
