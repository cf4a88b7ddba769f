//! Keeps the data path's Unix clock (`datapath::clock`) current.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tracing::warn;

use super::engine::Engine;

/// How often the offset is refreshed: NTP slews by at most 0.5 ms/s, and
/// the AYIYA window is ±120 s, so this is generous.
const REFRESH: Duration = Duration::from_secs(10);

pub async fn keep(engine: Arc<Mutex<Engine>>) {
    let mut tick = tokio::time::interval(REFRESH);
    loop {
        tick.tick().await;
        let r = engine.lock().map(|mut e| e.dp.sync_clock());
        if let Ok(Err(e)) = r {
            warn!(error = %e, "cannot set the data path's clock: AYIYA epochs are checked against the last value");
        }
    }
}
