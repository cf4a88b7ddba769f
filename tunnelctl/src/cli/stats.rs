//! `tunnelctl stats`: drops by reason, datapath events, per-tunnel counters.

use anyhow::{bail, Result};

use super::{output, ApiClient};
use crate::api::{Request, Response};

pub fn run(c: &mut ApiClient, json: bool) -> Result<()> {
    let Response::Stats { stats } = c.simple(Request::Stats)? else {
        bail!("unexpected response")
    };
    if json {
        return output::json(&stats);
    }
    println!("events:");
    for (name, n) in &stats.events {
        println!("  {name:<24} {n}");
    }
    println!("drops:");
    if stats.drops.is_empty() {
        println!("  none");
    }
    for (name, n) in &stats.drops {
        println!("  {name:<24} {n}");
    }
    let rows: Vec<Vec<String>> = stats
        .tunnels
        .iter()
        .map(|(id, s)| {
            vec![
                id.to_string(),
                s.rx_packets.to_string(),
                s.rx_bytes.to_string(),
                s.tx_packets.to_string(),
                s.tx_bytes.to_string(),
            ]
        })
        .collect();
    println!();
    output::table(
        &["TUNNEL", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES"],
        &rows,
    );
    Ok(())
}
