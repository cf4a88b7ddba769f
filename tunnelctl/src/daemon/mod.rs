//! `tunnelctl daemon`: locks the PoP (state and pins) and checks the
//! whole configuration, then loads or reuses the pinned datapath,
//! reconciles the store (tunnels, NAT64) into it, attaches the uplinks, sets up the tunnel
//! device (TC egress program, kernel routes reconciled with the store), and
//! serves the API, metrics and (`heartbeat_listen`) SixXS heartbeats.
//! Stopping the daemon leaves the programs attached and the maps pinned:
//! traffic keeps flowing until the next start takes over.

mod apply;
pub mod bpffs;
pub mod checks;
mod clock;
pub mod config;
pub mod engine;
pub mod heartbeat;
pub mod lines;
pub mod liveness;
pub mod lock;
pub mod metrics;
pub mod nat64;
pub mod netlink;
pub mod nexthops;
pub mod pinger;
pub mod plan;
pub mod preflight;
pub mod proxies;
pub mod reconcile;
pub mod routes;
pub mod secrets;
pub mod server;
pub mod slowpath;
pub mod store;
pub mod sync;
pub mod tic;
pub mod update;
mod users;
pub mod validate;

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use anyhow::{Context, Result};
use aya::programs::XdpMode;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use self::{config::Config, engine::Engine, netlink::Netlink, routes::Routes, store::Store};
use crate::{
    api::{Request, Response},
    datapath::{Datapath, DatapathOptions},
    error::Error,
};

pub fn run(config_path: &Path) -> Result<()> {
    init_logging();
    let cfg = Config::load(config_path)?;
    // Nothing before this point reads or changes the PoP; nothing before
    // `Datapath::load` changes it. A second daemon stops at a lock, a bad
    // config at a check, and the running PoP never notices either.
    let _state_lock = lock::state(&cfg.state_path)?;
    let bpf_root = cfg.pin_dir.parent().context("pin_dir has no parent")?;
    bpffs::ensure(bpf_root)?;
    let pins_lifetime = bpffs::check_lifetime(bpf_root, &cfg.pin_dir, cfg.allow_ephemeral_pins)?;
    let ephemeral = pins_lifetime == bpffs::Lifetime::Process;
    let _pin_lock = lock::pins(&cfg.pin_dir)?;
    let store = store::Store::open(&cfg.state_path)?;
    let nl = Netlink::open()?;
    let opts = DatapathOptions {
        max_tunnels: cfg.max_tunnels,
        max_prefixes: cfg.max_prefixes,
        max_proxies: cfg.max_proxies,
        config: tunnel_common::config::RuntimeConfig {
            icmp_rate_per_sec: cfg.icmp_rate_per_sec,
            icmp_burst: cfg.icmp_burst,
            liveness_s: cfg.liveness_timeout,
            _pad: 0,
        },
        pin_dir: Some(cfg.pin_dir.clone()),
    };
    preflight::check(&cfg, &opts, &store, &nl)?;
    let (api, gid, _socket_file) = server::bind(&cfg.socket_path, &cfg.socket_group)?;
    // Bound before anything changes, as the API socket: a port in use
    // stops the start early.
    let tic_listener = match cfg.tic_listen.as_str() {
        "" => None,
        addr => {
            let l =
                std::net::TcpListener::bind(addr).with_context(|| format!("tic_listen {addr}"))?;
            l.set_nonblocking(true)?;
            Some((l, tic::directory::open(&cfg.state_path)?))
        }
    };
    let metrics_listener = match cfg.metrics_listen.as_str() {
        "" => None,
        addr => {
            let l = std::net::TcpListener::bind(addr)
                .with_context(|| format!("metrics_listen {addr}"))?;
            l.set_nonblocking(true)?;
            Some(l)
        }
    };

    let update_listener = match cfg.update_listen.as_str() {
        "" => None,
        addr => {
            let l = std::net::TcpListener::bind(addr)
                .with_context(|| format!("update_listen {addr}"))?;
            l.set_nonblocking(true)?;
            Some(l)
        }
    };
    let heartbeat_socket = match cfg.heartbeat_listen.as_str() {
        "" => None,
        addr => Some(heartbeat::socket::bind(addr)?),
    };

    // What the config lets the daemon set, before the programs load (the
    // JIT compiles what loads after it is on).
    let set = if cfg.set_sysctls {
        checks::read::set_sysctls(&cfg)
    } else {
        Vec::new()
    };
    let mut dp = Datapath::load(opts)?;
    info!(reused = dp.reused_pins(), pins = %dp.pin_dir().map(|p| p.display().to_string()).unwrap_or_default(), "datapath loaded");
    let changes =
        reconcile::reconcile(&mut dp, &store).context("reconciling the store into the maps")?;
    info!(?changes, "maps reconciled with the store");
    let changes = nat64::reconcile(&mut dp, &store.nat64()?)
        .context("reconciling the store's NAT64 configuration into the maps")?;
    info!(?changes, "nat64 maps reconciled with the store");
    let mode = match cfg.xdp_mode {
        config::XdpModeName::Native => XdpMode::Driver,
        config::XdpModeName::Skb => XdpMode::Skb,
    };
    let mut uplinks = Vec::new();
    for ifname in &cfg.uplinks {
        dp.attach(ifname, mode)?;
        info!(%ifname, ?mode, "uplink attached");
        uplinks.push(proxies::Uplink {
            name: ifname.clone(),
            ifindex: nl.ifindex(ifname)?,
        });
    }
    let (written, removed) = proxies::sync(&mut dp, store.conn(), &uplinks)
        .context("reconciling the NDP proxy table with the store")?;
    info!(
        written,
        removed, "ndp proxy table reconciled with the store"
    );
    warn_missing_addresses(&nl, &cfg);
    let routes = setup_local(nl, &cfg, &mut dp, &store)?;
    let slow_rings = match dp.slowpath_rings(slowpath::RING_PAGES) {
        Ok(r) => Some(r),
        Err(e) => {
            warn!("nat64 slow path off (non-DF packets too big for a tunnel are counted drops): {e:#}");
            None
        }
    };
    let startup = checks::Startup {
        xdp_mode: cfg.xdp_mode,
        set_sysctls: cfg.set_sysctls,
        set,
        pins: pins_lifetime,
        bpffs: bpf_root.to_owned(),
        heartbeat_listen: cfg.heartbeat_listen.clone(),
    };
    checks::log(&checks::evaluate(
        &checks::read::read(&cfg, &mut dp, &store),
        &startup,
    ));
    let mut engine = Engine::new(cfg.clone(), store, dp, routes, uplinks);
    engine.startup = Some(startup);
    let update_counters = engine.updates.clone();
    let heartbeat_stats = engine.heartbeat.clone();
    let slow_counters = engine.slowpath.clone();
    let engine = Arc::new(Mutex::new(engine));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::UnixListener::from_std(api)?;
        server::log_listening(&cfg.socket_path);
        tokio::spawn(server::serve(listener, gid, engine.clone()));
        tokio::spawn(nexthops::keep(engine.clone()));
        tokio::spawn(clock::keep(engine.clone()));
        tokio::spawn(heartbeat::sweep::keep(engine.clone()));
        if let Some(sock) = heartbeat_socket {
            tokio::spawn(heartbeat::serve(
                sock,
                cfg.state_path.clone(),
                engine.clone(),
                heartbeat_stats,
            ));
        }
        tokio::spawn(liveness::keep(engine.clone()));
        if let Some(rings) = slow_rings {
            // IPv6 fragments leave through the tunnel device: without one
            // they are read and counted, not sent. IPv4 ones go where the
            // kernel routes them.
            let sock = match cfg.local_device.is_empty() {
                true => None,
                false => pinger::raw_socket()
                    .inspect_err(|e| warn!("nat64 slow path cannot send: {e:#}"))
                    .ok(),
            };
            let sock4 = slowpath::raw_socket_v4()
                .inspect_err(|e| warn!("nat64 slow path cannot send IPv4: {e:#}"))
                .ok();
            slowpath::spawn(rings, slowpath::Slow::new(slow_counters, sock, sock4));
        }
        match (cfg.ping_interval, cfg.local_device.is_empty()) {
            (0, _) => info!("latency pinger off (ping_interval = 0)"),
            (_, true) => info!("latency pinger off: no local_device to send through"),
            (s, false) => {
                tokio::spawn(pinger::keep(engine.clone(), std::time::Duration::from_secs(s.into())));
            }
        }
        if let Some((l, dir)) = tic_listener {
            let l = tokio::net::TcpListener::from_std(l)?;
            let pop = tic::dialogue::Pop {
                id: pop_id(&cfg),
                ipv4: cfg.pop_ipv4.clone(),
            };
            info!(listen = %cfg.tic_listen, pop_id = %pop.id, "tic listening");
            let counters = engine.lock().unwrap_or_else(|p| p.into_inner()).tic.clone();
            tokio::spawn(tic::server::serve(
                l,
                dir,
                pop,
                tic::server::Limits::from_config(&cfg),
                counters,
            ));
        }
        if let Some(l) = metrics_listener {
            let l = tokio::net::TcpListener::from_std(l)?;
            info!(listen = %cfg.metrics_listen, "metrics listening");
            tokio::spawn(metrics::serve(l, engine.clone()));
        }
        if let Some(l) = update_listener {
            let l = tokio::net::TcpListener::from_std(l)?;
            info!(listen = %cfg.update_listen, trust_forwarded = cfg.update_trust_forwarded, "endpoint updates (/nic/update) listening");
            tokio::spawn(update::server::serve(
                l,
                engine.clone(),
                update_counters,
                cfg.update_trust_forwarded,
            ));
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        if ephemeral {
            warn!("stopping; the pins are ephemeral (allow_ephemeral_pins): the datapath goes with this process, traffic stops");
        } else {
            info!("stopping; the datapath stays attached and pinned");
        }
        Ok::<_, anyhow::Error>(())
    })
}

/// The PoP's own traffic toward tunnels: the tunnel device, `tunnel_tc` on
/// its egress, and the kernel routes, reconciled with the store. The routes
/// come last, once the device can carry what they attract.
fn setup_local(
    nl: Netlink,
    cfg: &Config,
    dp: &mut Datapath,
    store: &Store,
) -> Result<Option<Routes>> {
    let dev = cfg.local_device.as_str();
    if dev.is_empty() {
        info!("no local_device: the PoP's own traffic toward tunnels is not encapsulated");
        return Ok(None);
    }
    let mtu = tunnel_common::tunnel::MTU_MAX as u32;
    // Device MTU = the largest tunnel MTU: even a route without an MTU
    // cannot make the kernel send what no tunnel carries.
    let oif = nl
        .ensure_tunnel_device(dev, &config::peer_name(dev), mtu)
        .context("setting up the tunnel device")?;
    // bpf_fib_lookup from the device (the outer IPv4 header's next hop)
    // answers only where IPv4 forwarding is on: make it so on this device
    // whatever the host-wide default is.
    let fwd = format!("/proc/sys/net/ipv4/conf/{dev}/forwarding");
    std::fs::write(&fwd, "1").with_context(|| format!("writing {fwd}"))?;
    dp.attach_local(dev)?;
    let routes = Routes::new(nl, oif, cfg.route_protocol);
    let changes = routes
        .reconcile(&store.tunnels()?, &store.nat64()?)
        .context("reconciling the kernel routes with the store")?;
    info!(
        device = dev,
        ?changes,
        "tunnel device ready, kernel routes reconciled"
    );
    Ok(Some(routes))
}

/// This PoP's name in TIC: `pop_id`, else the host name's first label.
fn pop_id(cfg: &Config) -> String {
    if !cfg.pop_id.is_empty() {
        return cfg.pop_id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let first = host.trim().split('.').next().unwrap_or("").to_owned();
    if validate::user_name(&first).is_ok() {
        first
    } else {
        "pop".into()
    }
}

/// A tunnel whose local address the host does not have cannot receive:
/// say so at start (not an error: addresses may come later).
fn warn_missing_addresses(nl: &Netlink, cfg: &Config) {
    match nl.ipv4_addresses() {
        Ok(have) => {
            for a in cfg.pop_ipv4.iter().filter(|a| !have.contains(a)) {
                tracing::warn!(address = %a, "pop_ipv4 address is not assigned on this host");
            }
        }
        Err(e) => tracing::warn!("reading the host's addresses: {e:#}"),
    }
}

/// Answers one API request.
pub fn handle(e: &mut Engine, req: Request, progress: &UnboundedSender<Response>) -> Response {
    let r = match req {
        Request::TunnelAdd { tunnel } => secrets::stored(&tunnel)
            .map_err(Error::invalid)
            .and_then(|t| e.add_tunnel(&t))
            .map(|_| Response::Ok),
        Request::TunnelRemove { id } => e.remove_tunnel(id).map(|_| Response::Ok),
        Request::TunnelList => e.list().map(|tunnels| Response::Tunnels { tunnels }),
        Request::TunnelShow { id } => e.show(id).map(|tunnel| Response::Tunnel { tunnel }),
        Request::TunnelSet { id, changes } => e
            .set_tunnel(id, &changes)
            .and_then(|t| e.view(t))
            .map(|tunnel| Response::Tunnel { tunnel }),
        Request::PrefixAdd { id, prefix } => e.add_prefix(id, &prefix).map(|_| Response::Ok),
        Request::PrefixRemove { id, prefix } => e.remove_prefix(id, &prefix).map(|_| Response::Ok),
        Request::ProxyAdd { proxy } => e.add_proxy(&proxy).map(|_| Response::Ok),
        Request::ProxyRemove { target, uplink } => e
            .remove_proxy(target, uplink.as_deref())
            .map(|_| Response::Ok),
        Request::ProxyList => e
            .list_proxies()
            .map(|proxies| Response::Proxies { proxies }),
        Request::Nat64Pool6Set { pool6 } => e.set_pool6(&pool6).map(|_| Response::Ok),
        Request::Nat64Pool6Show => e.pool6().map(|pool6| Response::Pool6 { pool6 }),
        Request::Nat64Pool6Clear => e.clear_pool6().map(|_| Response::Ok),
        Request::Nat64EamAdd { eam } => e.add_eam(&eam).map(|_| Response::Ok),
        Request::Nat64EamRemove { v6, v4 } => e.remove_eam(&v6, v4.as_ref()).map(|_| Response::Ok),
        Request::Nat64EamList => e.eams().map(|eams| Response::Eams { eams }),
        Request::UserAdd { user } => e.add_user(&user).map(|_| Response::Ok),
        Request::UserRemove { name } => e.remove_user(&name).map(|_| Response::Ok),
        Request::UserList => e.list_users().map(|users| Response::Users { users }),
        Request::Stats => e.stats().map(|stats| Response::Stats { stats }),
        Request::Status => e.status().map(|status| Response::Status { status }),
        Request::Apply { mut state, dry_run } => {
            // Secrets compared and stored in the stored form.
            let stored: Result<Vec<_>, _> = state.tunnels.iter().map(secrets::stored).collect();
            match stored {
                Ok(t) => state.tunnels = t,
                Err(err) => return server::error(Error::invalid(err)),
            }
            let mut last = 0;
            e.apply(&state, dry_run, |done, total| {
                // At most ~100 progress lines per apply.
                if done == total || done - last >= (total / 100).max(1) {
                    last = done;
                    let _ = progress.send(Response::Progress { done, total });
                }
            })
            .map(|plan| Response::Plan {
                plan,
                applied: !dry_run,
            })
        }
    };
    r.unwrap_or_else(server::error)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TUNNELCTL_LOG")
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
