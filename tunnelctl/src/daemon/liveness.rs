//! Tunnel states over time: every few seconds the daemon works out each
//! tunnel's state as the data path sees it (`TunnelState::of`: enabled,
//! and for AYIYA and heartbeat tunnels a packet or beat within
//! `liveness_timeout`), logs each change once and counts it. The data path
//! needs none of this (it decides UP or DOWN per packet from `ENDPOINTS`);
//! it is for operators, and for the pinger, which pings UP tunnels only.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tracing::{info, warn};

use super::engine::Engine;
use crate::{
    api::{TunnelSpec, TunnelState},
    prefix::Ipv6Prefix,
};

/// How often states are worked out: a change shows within this.
pub const PERIOD: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Tracker {
    /// Tunnel id → its state at the last look, and its /64.
    states: HashMap<u32, (TunnelState, Ipv6Prefix)>,
    /// Changes into each state since the daemon started (`to` order:
    /// up, down, disabled).
    changes: [u64; 3],
}

fn slot(s: TunnelState) -> usize {
    match s {
        TunnelState::Up => 0,
        TunnelState::Down => 1,
        TunnelState::Disabled => 2,
    }
}

impl Tracker {
    /// Takes the states of `now` (every configured tunnel); returns the
    /// changes `(id, from, to)`. A tunnel seen for the first time is not a
    /// change (a restart must not log every tunnel); a removed one is
    /// forgotten.
    pub fn observe(
        &mut self,
        now: &[(u32, TunnelState, Ipv6Prefix)],
    ) -> Vec<(u32, TunnelState, TunnelState)> {
        let mut out = Vec::new();
        let mut next = HashMap::with_capacity(now.len());
        for &(id, state, prefix) in now {
            if let Some(&(was, _)) = self.states.get(&id) {
                if was != state {
                    self.changes[slot(state)] += 1;
                    out.push((id, was, state));
                }
            }
            next.insert(id, (state, prefix));
        }
        self.states = next;
        out
    }

    /// The tunnels UP at the last look, with their /64.
    pub fn up(&self) -> Vec<(u32, Ipv6Prefix)> {
        let mut v: Vec<_> = self
            .states
            .iter()
            .filter(|(_, (s, _))| *s == TunnelState::Up)
            .map(|(id, (_, p))| (*id, *p))
            .collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        v
    }

    /// Whether tunnel `id` was configured at the last look.
    pub fn knows(&self, id: u32) -> bool {
        self.states.contains_key(&id)
    }

    /// Changes into `state` since the daemon started.
    pub fn changes_to(&self, state: TunnelState) -> u64 {
        self.changes[slot(state)]
    }

    /// How many tunnels are in `state` at the last look.
    pub fn count(&self, state: TunnelState) -> usize {
        self.states.values().filter(|(s, _)| *s == state).count()
    }
}

/// Each tunnel's state now, as the data path decides it.
fn states(e: &mut Engine) -> anyhow::Result<Vec<(u32, TunnelState, Ipv6Prefix)>> {
    let liveness = e.cfg.liveness_timeout.into();
    let tunnels: Vec<TunnelSpec> = e.store.tunnels()?;
    let mut out = Vec::with_capacity(tunnels.len());
    for t in tunnels {
        // Only kinds that learn their endpoint need the map read.
        let endpoint = if t.kind.learns_remote() && t.enabled {
            e.endpoint_view(t.id)?
        } else {
            None
        };
        out.push((
            t.id,
            TunnelState::of(&t, endpoint.as_ref(), liveness),
            t.prefix,
        ));
    }
    Ok(out)
}

/// Looks every `PERIOD` and logs what changed.
pub async fn keep(engine: Arc<Mutex<Engine>>) {
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let engine = engine.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
            let now = states(&mut e)?;
            Ok::<_, anyhow::Error>(e.liveness.observe(&now))
        })
        .await;
        match r {
            Ok(Ok(changes)) => {
                for (id, from, to) in changes {
                    info!(
                        tunnel = id,
                        from = from.name(),
                        to = to.name(),
                        "tunnel state changed"
                    );
                }
            }
            Ok(Err(e)) => warn!("working out tunnel states: {e:#}"),
            Err(e) => warn!("working out tunnel states: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u16) -> Ipv6Prefix {
        Ipv6Prefix::new(std::net::Ipv6Addr::new(0x2001, 0xdb8, n, 0, 0, 0, 0, 0), 64).unwrap()
    }

    /// The first look is no change; each later change is reported and
    /// counted once; a removed tunnel is forgotten.
    #[test]
    fn changes_once() {
        use TunnelState::*;
        let mut t = Tracker::default();
        assert!(t.observe(&[(1, Down, p(1)), (2, Up, p(2))]).is_empty());
        assert_eq!(t.up(), [(2, p(2))]);
        assert_eq!(t.observe(&[(1, Up, p(1)), (2, Up, p(2))]), [(1, Down, Up)]);
        assert!(t.observe(&[(1, Up, p(1)), (2, Up, p(2))]).is_empty());
        assert_eq!(t.observe(&[(1, Down, p(1))]), [(1, Up, Down)]);
        assert_eq!((t.changes_to(Up), t.changes_to(Down)), (1, 1));
        assert_eq!((t.count(Up), t.count(Down)), (0, 1));
        // Tunnel 2 was forgotten: back again, it is new, not a change.
        assert!(t
            .observe(&[(1, Down, p(1)), (2, Disabled, p(2))])
            .is_empty());
        assert_eq!(t.changes_to(Disabled), 0);
    }
}
