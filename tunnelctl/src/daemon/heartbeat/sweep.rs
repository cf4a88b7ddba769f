//! Drops the proto-41 pairs beats taught tunnels whose users have since
//! moved to AYIYA (the data path rewrote their `ENDPOINTS`): a tunnel
//! follows its user's last valid packet, so proto-41 from the old address
//! is no longer its user's (`Datapath::sweep_learned_pairs`). Runs whether
//! or not the listener does: pairs learned before a restart with the
//! listener off are swept too.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tracing::{info, warn};

use crate::daemon::engine::Engine;

/// How often: a user who switched keeps the old pair at most this long.
const EVERY: Duration = Duration::from_secs(10);

pub async fn keep(engine: Arc<Mutex<Engine>>) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        let engine = engine.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
            e.dp.sweep_learned_pairs()
        })
        .await;
        match r {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => info!(
                pairs = n,
                "dropped proto-41 pairs learned from beats: their users moved to AYIYA since"
            ),
            Ok(Err(e)) => warn!("sweeping learned proto-41 pairs: {e:#}"),
            Err(e) => warn!("sweeping learned proto-41 pairs: {e}"),
        }
    }
}
