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
        fd::{AsFd, OwnedFd},
        unix::thread::JoinHandleExt,
    },
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Once,
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{anyhow, Context, Result};

use super::sys;
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
