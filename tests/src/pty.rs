//! A pseudo-terminal for a child's output, for what a CLI prints only to a
//! terminal (the progress bar of `tunnelctl apply`), read as it streams.

use std::{
    ffi::CStr,
    fs::{File, OpenOptions},
    io::Read,
    os::{fd::AsRawFd, unix::fs::OpenOptionsExt},
    process::Stdio,
    sync::mpsc::{self, Receiver},
    thread::JoinHandle,
};

use anyhow::{bail, Context, Result};

pub struct Pty {
    master: File,
    terminal: File,
}

impl Pty {
    /// A new pseudo-terminal (`/dev/ptmx`; needs devpts on `/dev/pts`).
    pub fn open() -> Result<Self> {
        let master = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/ptmx")
            .context("opening /dev/ptmx")?;
        let fd = master.as_raw_fd();
        // SAFETY: plain calls on a file descriptor we own.
        if unsafe { libc::grantpt(fd) } != 0 || unsafe { libc::unlockpt(fd) } != 0 {
            bail!("unlocking the pty: {}", std::io::Error::last_os_error());
        }
        let mut name = [0 as libc::c_char; 64];
        // SAFETY: the buffer is valid for writes of its length; ptsname_r
        // NUL-terminates what it writes.
        let rc = unsafe { libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) };
        if rc != 0 {
            bail!("ptsname: {}", std::io::Error::from_raw_os_error(rc));
        }
        // SAFETY: NUL-terminated by ptsname_r above, inside the buffer.
        let path = unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_str()?
            .to_owned();
        let terminal = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .with_context(|| format!("opening {path}"))?;
        Ok(Self { master, terminal })
    }

    /// The terminal side, as a child's stdout or stderr.
    pub fn terminal(&self) -> Result<Stdio> {
        Ok(Stdio::from(self.terminal.try_clone()?))
    }

    /// What the children write to the terminal, chunk by chunk, as they
    /// write it. Drops our own terminal side, so the stream ends once the
    /// children holding it have exited: spawn them first.
    pub fn stream(self) -> (Receiver<Vec<u8>>, JoinHandle<()>) {
        let Self {
            mut master,
            terminal,
        } = self;
        drop(terminal);
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // The last terminal side closed reads as EIO.
            while let Ok(n @ 1..) = master.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        (rx, reader)
    }
}
