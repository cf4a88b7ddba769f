//! The live-frame generator: a thread in the gen namespace, pinned to
//! GEN_CPU, calling BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on a
//! generator program (`asm::generator`) that XDP_TXes every frame out of
//! bgen0, i.e. into the dut.
//!
//! Each such call costs two RCU grace periods (the kernel installs and
//! removes the program in the XDP dispatcher around the run), milliseconds
//! on this VM while the CPUs are busy, so calls must be long: one call runs
//! until a signal interrupts it. What it offered is read from bgen0's
//! `tx_queue_0_xdp_xmit(_errors)`, not counted here.

use std::{
    os::{
        fd::{AsFd, AsRawFd, OwnedFd},
        unix::thread::JoinHandleExt,
    },
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Once,
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};

use super::{asm, sys};
use crate::netns::Netns;

/// Frames per call: several seconds of traffic; calls end by signal.
const REPEAT: u32 = 1 << 27;
/// Frames the kernel pushes per flush (its maximum).
const BATCH: u32 = 256;

pub struct LiveGen {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

static HANDLER: Once = Once::new();

impl LiveGen {
    pub fn start(
        ns: &Netns,
        ifindex: u32,
        cpu: usize,
        prog: &OwnedFd,
        frame: &[u8],
    ) -> Result<Self> {
        let mut installed = Ok(());
        HANDLER.call_once(|| installed = sys::install_interrupt_handler());
        installed.context("installing the SIGUSR1 handler")?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let prog = prog.try_clone()?;
        let frame = frame.to_vec();
        // setns is per thread: the thread enters the namespace itself.
        let ns_file =
            std::fs::File::open(format!("/run/netns/{}", ns.name())).context("gen netns")?;
        let thread =
            std::thread::Builder::new()
                .name("bench-gen".into())
                .spawn(move || -> Result<()> {
                    sys::pin_to_cpu(0, cpu)?;
                    sys::setns(&ns_file)?;
                    while !s.load(Ordering::Relaxed) {
                        match sys::run_live(prog.as_fd(), &frame, ifindex, REPEAT, BATCH) {
                            Ok(()) => {}
                            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                            Err(e) => return Err(e).context("live-frame test run"),
                        }
                    }
                    Ok(())
                })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) -> Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> Result<()> {
        let Some(t) = self.thread.take() else {
            return Ok(());
        };
        self.stop.store(true, Ordering::Relaxed);
        // Again and again: a signal that lands between the flag check and
        // the next call would otherwise be lost.
        while !t.is_finished() {
            sys::interrupt(t.as_pthread_t());
            std::thread::sleep(Duration::from_millis(2));
        }
        t.join().map_err(|_| anyhow!("generator thread panicked"))?
    }
}

impl Drop for LiveGen {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// A rotating generator (`asm::rotating`) with its maps, kept open while
/// it runs: template `n % k` written over the head of frame `n`.
pub struct Rotating {
    pub prog: OwnedFd,
    _counter: OwnedFd,
    pace: OwnedFd,
    _templates: OwnedFd,
    /// The test run's frame: its length is every frame's, and the bytes
    /// after the templates' length stay as it has them.
    pub first: Vec<u8>,
}

impl Rotating {
    /// `templates`: all of one length, at most `first`'s.
    pub fn new(first: Vec<u8>, templates: &[Vec<u8>]) -> Result<Self> {
        let Some(len) = templates.first().map(Vec::len) else {
            bail!("no templates");
        };
        if templates.iter().any(|f| f.len() != len) || len > first.len() {
            bail!("templates of different lengths, or longer than the frame");
        }
        let counter = sys::create_array("bench_gen_n", asm::COUNTER_SIZE as u32, 1)?;
        let pace = sys::create_array("bench_gen_pace", 8, 1)?;
        let maps = sys::create_array("bench_gen_t", len as u32, templates.len() as u32)?;
        for (i, f) in templates.iter().enumerate() {
            sys::array_set(maps.as_fd(), i as u32, f)?;
        }
        let prog = sys::load_xdp(
            "bench_gen_rot",
            &asm::rotating(
                counter.as_raw_fd(),
                pace.as_raw_fd(),
                maps.as_raw_fd(),
                templates.len() as u32,
                len,
            ),
        )?;
        Ok(Self {
            prog,
            _counter: counter,
            pace,
            _templates: maps,
            first,
        })
    }

    /// Sends at most `pps` frames a second from now on (`None`: as fast as
    /// it goes), also while it runs.
    pub fn set_pace(&self, pps: Option<f64>) -> Result<()> {
        let interval: u64 = pps.map_or(0, |r| (1e9 / r.max(1.0)).max(1.0) as u64);
        sys::array_set(self.pace.as_fd(), 0, &interval.to_ne_bytes())
    }
}
