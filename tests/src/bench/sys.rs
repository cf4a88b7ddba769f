//! The thin syscall layer of the bench: the only `unsafe` in it.
//!
//! aya loads programs from an object file; the bench needs tiny programs
//! built at run time (the generator writes a frame template that differs
//! per measurement), so it loads raw instructions with BPF_PROG_LOAD,
//! creates the generator's array maps with BPF_MAP_CREATE, attaches with
//! BPF_LINK_CREATE (closing the fd detaches) and runs the live-frame
//! generator with BPF_PROG_TEST_RUN itself. The restart measurement's raw
//! proto-41 socket and receive buffer size are here too.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

use anyhow::{bail, Result};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_XDP: u32 = 37;
/// `XDP_FLAGS_DRV_MODE`: native XDP (veth has it).
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// The BPF_PROG_LOAD part of `union bpf_attr` (fields up to
/// expected_attach_type; the kernel zero-fills the rest).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The BPF_PROG_TEST_RUN part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// The BPF_MAP_CREATE part of `union bpf_attr` (the kernel zero-fills the
/// rest).
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// The BPF_MAP_*_ELEM part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// The BPF_LINK_CREATE part of `union bpf_attr` (XDP needs no more).
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    _rest: [u64; 4],
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly laid out prefix of `union bpf_attr`
    // and its size is passed along; every pointer inside it points to
    // buffers the caller keeps alive for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// Loads an XDP program; on rejection the error carries the verifier log.
pub fn load_xdp(name: &str, insns: &[Insn]) -> Result<OwnedFd> {
    let license = c"GPL";
    let mut prog_name = [0u8; 16];
    for (d, s) in prog_name.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: the kernel returned a new file descriptor that we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            // Again with a log, to say why.
            let mut log = vec![0u8; 1 << 16];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            bail!(
                "loading {name}: {e}\n{}",
                String::from_utf8_lossy(&log[..end])
            )
        }
    }
}

/// Creates an array map of `max_entries` values of `value_size` bytes
/// (u32 keys), for the generator's templates and counter.
pub fn create_array(name: &str, value_size: u32, max_entries: u32) -> Result<OwnedFd> {
    let mut map_name = [0u8; 16];
    for (d, s) in map_name.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size,
        max_entries,
        map_name,
        ..Default::default()
    };
    match bpf(BPF_MAP_CREATE, &mut attr) {
        // SAFETY: the kernel returned a new file descriptor that we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => bail!("creating array map {name}: {e}"),
    }
}

/// Writes `value` (exactly the map's value size) at `key` of an array map.
pub fn array_set(map: BorrowedFd<'_>, key: u32, value: &[u8]) -> Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: value.as_ptr() as u64,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr)?;
    Ok(())
}

/// Attaches `prog` to `ifindex` (of the calling thread's netns) in native
/// mode; the program stays attached while the returned link fd is open.
pub fn attach_xdp(prog: BorrowedFd<'_>, ifindex: u32) -> Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: XDP_FLAGS_DRV_MODE,
        ..Default::default()
    };
    match bpf(BPF_LINK_CREATE, &mut attr) {
        // SAFETY: a new file descriptor that we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => bail!("attaching XDP to ifindex {ifindex}: {e}"),
    }
}

/// `struct xdp_md` as ctx_in: no metadata, `data_end` = frame length (the
/// kernel insists), received on `ifindex` queue 0.
pub fn xdp_md(frame_len: usize, ifindex: u32) -> [u32; 6] {
    [0, frame_len as u32, 0, ifindex, 0, 0]
}

/// Runs `prog` in live-frame mode: `repeat` copies of `frame` enter the
/// program as if received on `ifindex` (in the calling thread's netns), and
/// what it returns (XDP_TX, XDP_REDIRECT) is really transmitted.
pub fn run_live(
    prog: BorrowedFd<'_>,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
    batch: u32,
) -> io::Result<()> {
    let md = xdp_md(frame.len(), ifindex);
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat,
        ctx_size_in: std::mem::size_of_val(&md) as u32,
        ctx_in: md.as_ptr() as u64,
        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
        batch_size: batch,
        ..Default::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr).map(|_| ())
}

/// One test run of `prog` on `frame` as received on `ifindex`, single mode
/// (repeat 1): (return value, the kernel's duration in ns).
pub fn test_run(prog: BorrowedFd<'_>, frame: &[u8], ifindex: u32) -> io::Result<(u32, u32)> {
    let md = xdp_md(frame.len(), ifindex);
    let mut out = vec![0u8; frame.len() + 256];
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        data_size_out: out.len() as u32,
        data_out: out.as_mut_ptr() as u64,
        repeat: 1,
        ctx_size_in: std::mem::size_of_val(&md) as u32,
        ctx_in: md.as_ptr() as u64,
        ..Default::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok((attr.retval, attr.duration))
}

/// Pins thread/process `tid` (0: the calling thread) to one CPU.
pub fn pin_to_cpu(tid: i32, cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET stays within it for cpu <
    // CPU_SETSIZE, which the kernel would reject anyway.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A raw IPv4 socket of protocol 41 (6in4) bound to `local` and connected
/// to `remote`, in the calling thread's netns: `send` of an IPv6 packet
/// goes out with the kernel's IPv4 header in front.
pub fn raw_6in4_socket(local: std::net::Ipv4Addr, remote: std::net::Ipv4Addr) -> Result<OwnedFd> {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 41) };
    if fd < 0 {
        bail!("raw socket: {}", io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    for (addr, connect) in [(local, false), (remote, true)] {
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(addr.octets()),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        let p = (&sa as *const libc::sockaddr_in).cast();
        // SAFETY: a valid sockaddr_in of the given length.
        let rc = unsafe {
            if connect {
                libc::connect(fd, p, len)
            } else {
                libc::bind(fd, p, len)
            }
        };
        if rc < 0 {
            bail!("raw socket {addr}: {}", io::Error::last_os_error());
        }
    }
    Ok(sock)
}

/// send(2) on a connected socket.
pub fn send(sock: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: a valid fd and buffer.
    let n = unsafe { libc::send(sock.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// SO_RCVBUFFORCE: a receive buffer of `bytes` regardless of rmem_max
/// (root), so a receiver that falls behind for a moment loses nothing.
pub fn set_rcvbuf(sock: BorrowedFd<'_>, bytes: i32) -> io::Result<()> {
    // SAFETY: a valid fd and an int option of the right size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&bytes as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lets thread/process `tid` (0: the calling thread) run on every CPU
/// again, undoing `pin_to_cpu`; what it starts afterwards inherits that.
pub fn unpin(tid: i32) -> io::Result<()> {
    let n = std::fs::read_to_string("/proc/cpuinfo")?
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    // SAFETY: as in pin_to_cpu.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..n.max(1) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread into the network namespace `ns` (for threads
/// that live entirely in one namespace and never come back).
pub fn setns(ns: &std::fs::File) -> io::Result<()> {
    // SAFETY: a valid namespace fd; affects only the calling thread.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// SIGUSR1 interrupts system calls (no SA_RESTART) and does nothing else:
/// the way to end a long live-frame run, which the kernel stops with EINTR
/// when a signal is pending.
pub fn install_interrupt_handler() -> io::Result<()> {
    // SAFETY: sigaction with a valid handler that touches nothing.
    let rc = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends SIGUSR1 to a thread that has not been joined yet.
pub fn interrupt(thread: libc::pthread_t) {
    // SAFETY: the caller holds the thread's JoinHandle, unjoined, so the
    // pthread_t is valid.
    unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
}
