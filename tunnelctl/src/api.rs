//! The daemon's local API: one JSON object per line over a Unix socket,
//! request then response. Shared by the daemon and the CLI so they cannot
//! drift; `API_VERSION` changes when a type changes incompatibly.

use std::{
    fmt,
    net::{Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

use crate::prefix::{Ipv4Prefix, Ipv6Prefix};

/// 2: tunnels have a `kind`, `remote` is optional (learned for some kinds),
/// errors carry a `code`, `prefix_remove` names the tunnel (`id`) as
/// `prefix_add` does.
pub const API_VERSION: u32 = 2;

/// How a tunnel carries IPv6. Every kind has an id, a local address, a /64,
/// routed prefixes, MTU and TTL; they differ in where the remote endpoint
/// comes from and whether the user authenticates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelKind {
    /// 6in4 (IP protocol 41) to a configured remote (RFC 4213).
    #[default]
    Sixin4,
    /// 6in4 whose remote is learned from the user's signed heartbeats
    /// (SixXS's heartbeat protocol); has a password.
    Heartbeat,
    /// IPv6 in UDP (AYIYA); remote address and port learned from the
    /// user's signed packets; has a shared key.
    Ayiya,
}

impl TunnelKind {
    pub const ALL: [TunnelKind; 3] = [TunnelKind::Sixin4, TunnelKind::Heartbeat, TunnelKind::Ayiya];

    /// The name on the wire and in the store.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Sixin4 => "sixin4",
            TunnelKind::Heartbeat => "heartbeat",
            TunnelKind::Ayiya => "ayiya",
        }
    }

    /// The remote endpoint is learned at run time, not configured.
    pub fn learns_remote(self) -> bool {
        self != TunnelKind::Sixin4
    }

    /// The user proves who it is with a password or key (`secret`).
    pub fn has_secret(self) -> bool {
        self != TunnelKind::Sixin4
    }

    /// The MTU a tunnel of this kind gets when none is given: 6in4's
    /// largest on a 1500-byte path; AYIYA's as SixXS handed it out (TIC's
    /// `Tunnel MTU: 1280`, ayiya-spec.md §1.9).
    pub fn default_mtu(self) -> u16 {
        // A heartbeat user may switch to AYIYA (the tunnel follows it),
        // whose outer headers leave less room: SixXS's 1280 for both.
        match self {
            TunnelKind::Ayiya | TunnelKind::Heartbeat => 1280,
            TunnelKind::Sixin4 => tunnel_common::tunnel::MTU_DEFAULT,
        }
    }

    /// Bytes of outer headers in front of a tunnel packet: IPv4 (6in4,
    /// heartbeat), IPv4, UDP and AYIYA (AYIYA over IPv4).
    pub fn outer_overhead(self) -> u32 {
        match self {
            TunnelKind::Ayiya => tunnel_common::ayiya::OVERHEAD_V4 as u32,
            _ => 20,
        }
    }

    /// The largest MTU whose packets still fit a 1500-byte path once
    /// encapsulated (AYIYA: 72 bytes of IPv4, UDP and AYIYA headers).
    pub fn max_mtu(self) -> u16 {
        match self {
            TunnelKind::Ayiya => (1500 - tunnel_common::ayiya::OVERHEAD_V4) as u16,
            _ => tunnel_common::tunnel::MTU_MAX,
        }
    }
}

impl fmt::Display for TunnelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TunnelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TunnelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown tunnel kind {s:?} (sixin4, heartbeat, ayiya)"))
    }
}

/// A tunnel as configured (what the store keeps and the CLI shows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelSpec {
    /// Operator-chosen number, 0..max_tunnels (also the map slot).
    pub id: u32,
    #[serde(default)]
    pub kind: TunnelKind,
    /// The PoP's IPv4 address for this tunnel.
    pub local: Ipv4Addr,
    /// The user's IPv4 address: required for `sixin4`; for kinds that learn
    /// it, absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Ipv4Addr>,
    /// The tunnel /64 (`::1` PoP, `::2` user).
    pub prefix: Ipv6Prefix,
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    #[serde(default = "default_ttl")]
    pub ttl: u8,
    #[serde(default = "yes")]
    pub pmtudisc: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Routed prefixes (/48s, extra /64s).
    #[serde(default)]
    pub routed: Vec<Ipv6Prefix>,
    /// Answer Neighbor Solicitations for the user's address (`::2`) on the
    /// uplinks: for PoPs whose tunnel /64s are on-link upstream.
    #[serde(default)]
    pub proxy_ndp: bool,
    /// The heartbeat password or AYIYA key, for kinds that have one. Never
    /// sent back by the daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The user (`user add`) who owns the tunnel: the one TIC lists it to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The key a static 6in4 tunnel's user updates its remote with over
    /// HTTP (`/nic/update`, HE's "update key"): the key itself, or
    /// `sha256:<hex>` as the store keeps it. Never sent back by the daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_key: Option<String>,
}

impl TunnelSpec {
    /// The configured outer (local, remote) pair: unique among tunnels
    /// that have one (a learned remote is not configuration).
    pub fn static_pair(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        match self.kind {
            TunnelKind::Sixin4 => self.remote.map(|r| (self.local, r)),
            _ => None,
        }
    }
}

fn default_mtu() -> u16 {
    tunnel_common::tunnel::MTU_DEFAULT
}
fn default_ttl() -> u8 {
    tunnel_common::tunnel::TTL_DEFAULT
}
fn yes() -> bool {
    true
}

/// Changes to a tunnel (`tunnel set`); absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelChanges {
    pub enabled: Option<bool>,
    pub mtu: Option<u16>,
    pub ttl: Option<u8>,
    pub pmtudisc: Option<bool>,
    pub remote: Option<Ipv4Addr>,
    #[serde(default)]
    pub proxy_ndp: Option<bool>,
    /// A user's name: the new owner; `""`: no owner any more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A new update key (the key itself, or `sha256:<hex>`): replaces the
    /// tunnel's. Left out of the request when absent, so that a daemon
    /// without update keys still understands every other change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_key: Option<String>,
    /// A new password for a heartbeat or AYIYA tunnel (as `secret` at
    /// add): what TIC hands out and the protocols sign with. Left out when
    /// absent, as `update_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A TIC user as `user add` gives it. The password travels only as TIC's
/// login needs it, md5hex(password) in lowercase (ayiya-spec.md §2.2): the
/// CLI hashes it, so the cleartext never reaches the daemon or its logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// 1..=32 of `A-Z a-z 0-9 . _ -` (SixXS's handles: `JOHN1-SIXXS`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    pub password_md5: String,
}

/// A user as reported: never the password's hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// The tunnels the user owns, by id.
    pub tunnels: Vec<u32>,
}

/// An NDP proxy entry the operator adds (`proxy add`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    /// The address answered for.
    pub target: Ipv6Addr,
    /// The uplink it is answered on; `None`: every uplink.
    #[serde(default)]
    pub uplink: Option<String>,
    /// Set the Router flag in the answers (the target is a router).
    #[serde(default)]
    pub router: bool,
}

/// One answered (target, uplink), and why it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyView {
    pub target: Ipv6Addr,
    pub uplink: String,
    pub router: bool,
    /// `manual`, or `tunnel <id>` for a tunnel's `proxy_ndp`.
    pub source: String,
}

/// What stateless NAT64 does with IPv4 UDP datagrams without a checksum
/// (RFC 7915 §4.5 allows either).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UdpZeroChecksum {
    /// Translate them, computing the checksum IPv6 requires.
    Compute,
    /// Drop and count them (`nat64_udp_zero_checksum`).
    #[default]
    Drop,
}

impl UdpZeroChecksum {
    pub fn name(self) -> &'static str {
        match self {
            UdpZeroChecksum::Compute => "compute",
            UdpZeroChecksum::Drop => "drop",
        }
    }
}

/// NAT64's pool6 (RFC 6052): the prefix IPv4 hosts are seen under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool6Spec {
    /// One of RFC 6052's lengths: /32, /40, /48, /56, /64, /96.
    pub prefix: Ipv6Prefix,
    /// Refuse non-global IPv4 addresses behind the well-known prefix
    /// 64:ff9b::/96 (RFC 6052 §3.1).
    #[serde(default = "yes")]
    pub wkp_strict: bool,
    #[serde(default)]
    pub udp_zero_checksum: UdpZeroChecksum,
    /// Where ICMP errors from IPv6 routers (addresses with no mapping)
    /// come from once translated (RFC 6791): an IPv4 address of the PoP,
    /// or a pool of them (a prefix of /16 to /32; each router gets one
    /// address of it). The first address is also the source of the
    /// translator's own errors. Without it such errors are dropped and
    /// counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_source: Option<crate::prefix::Ipv4Pool>,
}

/// An explicit address mapping (RFC 7757): the IPv6 prefix and the IPv4
/// prefix that stand for each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EamSpec {
    pub v6: Ipv6Prefix,
    pub v4: Ipv4Prefix,
}

/// The whole NAT64 configuration (`apply`'s `nat64` section).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nat64Spec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool6: Option<Pool6Spec>,
    #[serde(default)]
    pub eams: Vec<EamSpec>,
}

/// The whole configuration, for `apply`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredState {
    #[serde(default)]
    pub tunnels: Vec<TunnelSpec>,
    /// NAT64: when present, what runs is made equal to it (an empty
    /// section clears pool6 and every EAM); when absent, left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat64: Option<Nat64Spec>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub version: u32,
    #[serde(flatten)]
    pub body: T,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    TunnelAdd {
        tunnel: TunnelSpec,
    },
    TunnelRemove {
        id: u32,
    },
    TunnelList,
    TunnelShow {
        id: u32,
    },
    TunnelSet {
        id: u32,
        changes: TunnelChanges,
    },
    PrefixAdd {
        id: u32,
        prefix: Ipv6Prefix,
    },
    PrefixRemove {
        id: u32,
        prefix: Ipv6Prefix,
    },
    ProxyAdd {
        proxy: ProxySpec,
    },
    ProxyRemove {
        target: Ipv6Addr,
        uplink: Option<String>,
    },
    ProxyList,
    Nat64Pool6Set {
        pool6: Pool6Spec,
    },
    Nat64Pool6Show,
    Nat64Pool6Clear,
    Nat64EamAdd {
        eam: EamSpec,
    },
    /// By its IPv6 side; with `v4`, only if that is its IPv4 side.
    Nat64EamRemove {
        v6: Ipv6Prefix,
        #[serde(default)]
        v4: Option<Ipv4Prefix>,
    },
    Nat64EamList,
    UserAdd {
        user: UserSpec,
    },
    /// Refused while the user owns tunnels.
    UserRemove {
        name: String,
    },
    UserList,
    Stats,
    Status,
    Apply {
        state: DesiredState,
        dry_run: bool,
    },
}

/// Per-tunnel counters as reported.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Packets of or toward the tunnel dropped, and the last one's reason
    /// (a drop counter's name) and age.
    #[serde(default)]
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_s_ago: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelView {
    #[serde(flatten)]
    pub spec: TunnelSpec,
    pub stats: TunnelStats,
    /// What the data path does with traffic toward the tunnel now.
    #[serde(default)]
    pub state: TunnelState,
    /// Where the user was last seen, when the data path or a protocol
    /// handler learned it (AYIYA, heartbeat); absent for static tunnels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointView>,
    /// Whether the tunnel has an update key (the key itself is never sent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_update_key: bool,
    /// The latency pinger's figures over its last requests, once one has
    /// been answered or lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyView>,
}

/// Round trips of the pinger's echo requests (`::1` → `::2`), as sixxsd
/// reports them: loss and min/avg/max over the last requests
/// (`pinger::table::WINDOW`), counts since the daemon started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyView {
    pub sent: u64,
    pub received: u64,
    /// Of the last requests, the share without a reply in time.
    pub loss_pct: u8,
    pub rtt_min_us: Option<u32>,
    pub rtt_avg_us: Option<u32>,
    pub rtt_max_us: Option<u32>,
}

/// A tunnel's state, as sixxsd names them (ayiya-spec.md §4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelState {
    /// Traffic flows: a static tunnel that is enabled, or one whose user
    /// has been seen (the data path sends to the last endpoint learned).
    #[default]
    Up,
    /// Enabled, but its user has not been seen for the liveness time (the
    /// daemon's `liveness_timeout`, or ever):
    /// traffic toward it gets ICMPv6 unreachable, code 0.
    Down,
    /// Disabled by the operator: ICMPv6 administratively prohibited.
    Disabled,
}

impl TunnelState {
    /// The state of tunnel `spec` with `endpoint` learned (or not), DOWN
    /// `liveness_s` after its user was last seen (as the data path decides).
    pub fn of(spec: &TunnelSpec, endpoint: Option<&EndpointView>, liveness_s: u64) -> Self {
        if !spec.enabled {
            TunnelState::Disabled
        } else if spec.kind.learns_remote() && endpoint.is_none_or(|e| e.seen_s_ago >= liveness_s) {
            TunnelState::Down
        } else {
            TunnelState::Up
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TunnelState::Up => "up",
            TunnelState::Down => "down",
            TunnelState::Disabled => "disabled",
        }
    }
}

/// A learned endpoint as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    /// The user's address and port (`192.0.2.7:5072`, `[2001:db8::7]:5072`);
    /// only the address for heartbeat (proto-41: `192.0.2.7`).
    pub remote: String,
    /// The PoP's address (and port) the user sent to.
    pub local: String,
    /// What taught it: `ayiya`, `heartbeat`.
    pub via: String,
    /// Seconds since the last packet or beat that confirmed it.
    pub seen_s_ago: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsView {
    /// Non-zero drop counters by reason name.
    pub drops: Vec<(String, u64)>,
    pub events: Vec<(String, u64)>,
    pub tunnels: Vec<(u32, TunnelStats)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub version: String,
    pub api_version: u32,
    pub abi_version: u32,
    pub uplinks: Vec<String>,
    pub xdp_mode: String,
    pub tunnels: u64,
    pub prefixes: u64,
    pub max_tunnels: u32,
    pub max_prefixes: u32,
    /// NDP proxy entries in the datapath, and its capacity.
    pub proxies: u64,
    pub max_proxies: u32,
    pub pin_dir: String,
    pub uptime_s: u64,
    /// Whether the maps were reused from pins at start (a restart) or new.
    pub reused_pins: bool,
    /// What the data path needs from the kernel, as it stands now
    /// (`daemon::checks`). Absent from daemons before the checks.
    #[serde(default)]
    pub checks: Vec<CheckView>,
}

/// One of the daemon's checks of what the data path needs from the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckView {
    /// Stable name: `ipv6_forwarding`, `ipv4_forwarding`, `bpf_jit`,
    /// `bpffs`, `heartbeat`, and per uplink `uplink`, `uplink_ipv6_forwarding`,
    /// `xdp_mode`, `uplink_mtu`.
    pub name: String,
    /// The uplink a per-uplink check is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    pub status: CheckStatus,
    /// What was found and, when it is not what the data path needs, what
    /// that costs and what to change.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Warn,
}

/// What `apply` changes (or would change, with `dry_run`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyPlan {
    pub add: Vec<u32>,
    pub remove: Vec<u32>,
    pub change: Vec<u32>,
    pub unchanged: usize,
    /// What the `nat64` section changes; absent when the file has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat64: Option<Nat64Plan>,
}

/// NAT64's part of an `apply`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nat64Plan {
    /// pool6 or its settings are set, changed or cleared.
    pub pool6_changed: bool,
    /// Mappings added and removed (a changed one is both).
    pub eams_add: Vec<EamSpec>,
    pub eams_remove: Vec<EamSpec>,
}

/// Why a request failed, for scripts: stable names on the wire (the CLI's
/// exit status follows them, see `cli::exit_code`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    Conflict,
    Invalid,
    MapFull,
    Busy,
    UnsupportedVersion,
    PermissionDenied,
    /// Also what a client reads for a code it does not know (a newer
    /// daemon's) or none (an older daemon's).
    #[default]
    #[serde(other)]
    Internal,
}

impl ErrorCode {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Invalid => "invalid",
            ErrorCode::MapFull => "map_full",
            ErrorCode::Busy => "busy",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::Internal => "internal",
        }
    }

    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Invalid,
        ErrorCode::MapFull,
        ErrorCode::Busy,
        ErrorCode::UnsupportedVersion,
        ErrorCode::PermissionDenied,
        ErrorCode::Internal,
    ];
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Error {
        #[serde(default)]
        code: ErrorCode,
        message: String,
    },
    Tunnel {
        tunnel: TunnelView,
    },
    Tunnels {
        tunnels: Vec<TunnelView>,
    },
    Stats {
        stats: StatsView,
    },
    Proxies {
        proxies: Vec<ProxyView>,
    },
    Status {
        status: StatusView,
    },
    /// `None`: no pool6 set.
    Pool6 {
        pool6: Option<Pool6Spec>,
    },
    Eams {
        eams: Vec<EamSpec>,
    },
    Users {
        users: Vec<UserView>,
    },
    Plan {
        plan: ApplyPlan,
        applied: bool,
    },
    /// Sent before the final response of a long request (apply).
    Progress {
        done: usize,
        total: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state from its inputs: (kind, enabled, endpoint learned).
    #[test]
    fn tunnel_states() {
        let seen = EndpointView {
            remote: "192.0.2.2:51680".into(),
            local: "192.0.2.1:5072".into(),
            via: "ayiya".into(),
            seen_s_ago: 3,
        };
        let table = [
            (TunnelKind::Sixin4, true, false, TunnelState::Up),
            (TunnelKind::Sixin4, false, false, TunnelState::Disabled),
            (TunnelKind::Ayiya, true, false, TunnelState::Down),
            (TunnelKind::Ayiya, true, true, TunnelState::Up),
            (TunnelKind::Ayiya, false, true, TunnelState::Disabled),
            (TunnelKind::Heartbeat, true, false, TunnelState::Down),
            (TunnelKind::Heartbeat, true, true, TunnelState::Up),
            (TunnelKind::Heartbeat, false, true, TunnelState::Disabled),
        ];
        for (kind, enabled, learned, want) in table {
            let mut t: TunnelSpec = serde_json::from_str(
                r#"{"id":1,"local":"192.0.2.1","remote":"198.51.100.2","prefix":"2001:db8:1::/64"}"#,
            )
            .unwrap();
            (t.kind, t.enabled) = (kind, enabled);
            let e = learned.then_some(&seen);
            assert_eq!(
                TunnelState::of(&t, e, 120),
                want,
                "{kind:?} {enabled} {learned}"
            );
        }
        // DOWN again once the user has been silent for the liveness time.
        let mut t: TunnelSpec = serde_json::from_str(
            r#"{"id":1,"kind":"heartbeat","local":"192.0.2.1","prefix":"2001:db8:1::/64"}"#,
        )
        .unwrap();
        t.enabled = true;
        for (ago, want) in [(299, TunnelState::Up), (300, TunnelState::Down)] {
            let e = EndpointView {
                seen_s_ago: ago,
                ..seen.clone()
            };
            assert_eq!(TunnelState::of(&t, Some(&e), 300), want, "{ago} s");
        }
        assert_eq!(
            serde_json::to_string(&TunnelState::Down).unwrap(),
            r#""down""#
        );
    }

    #[test]
    fn request_wire_format() {
        let r = Envelope {
            version: API_VERSION,
            body: Request::TunnelRemove { id: 7 },
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"version":2,"request":"tunnel_remove","id":7}"#);
        let back: Envelope<Request> = serde_json::from_str(&s).unwrap();
        assert!(matches!(back.body, Request::TunnelRemove { id: 7 }));
    }

    #[test]
    fn tunnel_defaults_and_unknown_fields() {
        let t: TunnelSpec = serde_json::from_str(
            r#"{"id":1,"local":"192.0.2.1","remote":"198.51.100.2","prefix":"2001:db8:1::/64"}"#,
        )
        .unwrap();
        assert_eq!(
            (t.kind, t.mtu, t.ttl, t.pmtudisc, t.enabled),
            (TunnelKind::Sixin4, 1480, 64, true, true)
        );
        assert_eq!(t.static_pair(), Some((t.local, t.remote.unwrap())));
        // What the daemon sends back: no secret, no absent remote.
        let json = serde_json::to_string(&t).unwrap();
        assert!(
            json.contains(r#""kind":"sixin4""#) && !json.contains("secret"),
            "{json}"
        );
        let e = serde_json::from_str::<TunnelSpec>(
            r#"{"id":1,"local":"192.0.2.1","remote":"198.51.100.2","prefix":"2001:db8:1::/64","mtux":1}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = serde_json::from_str::<TunnelSpec>(
            r#"{"id":1,"local":"192.0.2.300","remote":"198.51.100.2","prefix":"2001:db8:1::/64"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("invalid"), "{e}");
    }

    #[test]
    fn kinds_by_name() {
        for k in TunnelKind::ALL {
            assert_eq!(k.name().parse::<TunnelKind>(), Ok(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
        }
        assert!("6in4".parse::<TunnelKind>().is_err());
        // A learned remote: no remote, a secret, no static pair.
        let t: TunnelSpec = serde_json::from_str(
            r#"{"id":2,"kind":"ayiya","local":"192.0.2.1","prefix":"2001:db8:2::/64","secret":"k"}"#,
        )
        .unwrap();
        assert_eq!(
            (t.kind, t.remote, t.static_pair()),
            (TunnelKind::Ayiya, None, None)
        );
        assert!(t.kind.learns_remote() && t.kind.has_secret());
        let e = serde_json::from_str::<TunnelSpec>(
            r#"{"id":2,"kind":"gre","local":"192.0.2.1","prefix":"2001:db8:2::/64"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown variant"), "{e}");
    }

    #[test]
    fn desired_state_nat64_section() {
        let t: DesiredState = toml::from_str(
            r#"
            [nat64]
            pool6 = { prefix = "64:ff9b::/96" }
            eams = [{ v6 = "2001:db8:6::/120", v4 = "192.0.2.0/24" }]
            "#,
        )
        .unwrap();
        let n = t.nat64.unwrap();
        let p = n.pool6.unwrap();
        // Defaults: strict behind the well-known prefix, zero checksums dropped.
        assert!(p.wkp_strict && p.udp_zero_checksum == UdpZeroChecksum::Drop);
        assert_eq!(n.eams[0].v4.to_string(), "192.0.2.0/24");
        let j: DesiredState = serde_json::from_str(
            r#"{"nat64":{"pool6":{"prefix":"2001:db8:64::/48","wkp_strict":false,"udp_zero_checksum":"compute"}}}"#,
        )
        .unwrap();
        let p = j.nat64.unwrap().pool6.unwrap();
        assert!(!p.wkp_strict && p.udp_zero_checksum == UdpZeroChecksum::Compute);
        // Absent: NAT64 is left alone; empty: cleared.
        let none: DesiredState = serde_json::from_str(r#"{"tunnels":[]}"#).unwrap();
        assert!(none.nat64.is_none());
        let e = serde_json::from_str::<DesiredState>(
            r#"{"nat64":{"eams":[{"v6":"2001:db8:6::/120","v4":"192.0.2.1/24"}]}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("did you mean 192.0.2.0/24"), "{e}");
        let e = serde_json::from_str::<DesiredState>(r#"{"nat64":{"pool":{}}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
