//! The TIC server (TCP 3874): what unmodified AICCU logs in to before it
//! sets its tunnel up (ayiya-spec.md §2.2, §3). Off unless `tic_listen` is
//! set. `command` parses lines, `dialogue` is the session's state machine
//! and `show` what it says about tunnels (all pure); `directory` reads the
//! store; `server` is the TCP side with its limits.

pub mod command;
pub mod dialogue;
pub mod directory;
mod loglimit;
pub mod server;
pub mod show;

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

/// What the TIC server counts, for /metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Sessions open now (a gauge).
    pub connections: AtomicU64,
    /// Sessions served (greeted) since start.
    pub sessions: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    /// Connections refused at accept: `max_connections` reached.
    pub refused_too_many: AtomicU64,
    /// Sessions the server ended, by why.
    pub closed_line_too_long: AtomicU64,
    pub closed_idle: AtomicU64,
    pub closed_session_time: AtomicU64,
    pub closed_login_failures: AtomicU64,
    /// Lines that were no command (unknown, empty, not text).
    pub bad_lines: AtomicU64,
}

impl Counters {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    /// The Prometheus lines (text format 0.0.4).
    pub fn render(&self, s: &mut String) {
        let g = |c: &AtomicU64| c.load(Relaxed);
        let _ = writeln!(s, "# HELP tunnelpop_tic_connections TIC sessions open now.\n# TYPE tunnelpop_tic_connections gauge\ntunnelpop_tic_connections {}", g(&self.connections));
        let _ = writeln!(s, "# HELP tunnelpop_tic_sessions_total TIC sessions served.\n# TYPE tunnelpop_tic_sessions_total counter\ntunnelpop_tic_sessions_total {}", g(&self.sessions));
        let _ = writeln!(s, "# HELP tunnelpop_tic_logins_total TIC logins, by result.\n# TYPE tunnelpop_tic_logins_total counter");
        let _ = writeln!(
            s,
            "tunnelpop_tic_logins_total{{result=\"ok\"}} {}",
            g(&self.logins_ok)
        );
        let _ = writeln!(
            s,
            "tunnelpop_tic_logins_total{{result=\"failed\"}} {}",
            g(&self.logins_failed)
        );
        let _ = writeln!(s, "# HELP tunnelpop_tic_refused_total TIC connections refused or ended by the server, by reason.\n# TYPE tunnelpop_tic_refused_total counter");
        for (reason, c) in [
            ("too_many_connections", &self.refused_too_many),
            ("line_too_long", &self.closed_line_too_long),
            ("idle_timeout", &self.closed_idle),
            ("session_timeout", &self.closed_session_time),
            ("login_failures", &self.closed_login_failures),
        ] {
            let _ = writeln!(
                s,
                "tunnelpop_tic_refused_total{{reason=\"{reason}\"}} {}",
                g(c)
            );
        }
        let _ = writeln!(s, "# HELP tunnelpop_tic_bad_lines_total TIC lines that were no command.\n# TYPE tunnelpop_tic_bad_lines_total counter\ntunnelpop_tic_bad_lines_total {}", g(&self.bad_lines));
    }
}
