//! The packet-access layer: the only module with `unsafe`. Every read and
//! write is bounds-checked against `data_end` right before the access, in the
//! `start + const_len > end` shape the verifier tracks. Helpers that move the
//! packet (adjust_head/tail) invalidate nothing here because no pointer is
//! kept across calls: every access recomputes it from the context.

use core::mem::size_of;

use aya_ebpf::{
    bindings::{bpf_fib_lookup as FibParams, xdp_md},
    helpers::generated::{
        bpf_fib_lookup, bpf_get_prandom_u32, bpf_ktime_get_ns, bpf_xdp_adjust_head,
        bpf_xdp_adjust_tail,
    },
    maps::{HashMap, ProgramArray},
    programs::XdpContext,
};
use tunnel_common::stats::Drop;

/// EtherType values as they sit in `EthHdr::ether_type` (network order read
/// as a native u16 on a little-endian target).
pub const ETHERTYPE_IPV4: u16 = 0x0800u16.to_be();
pub const ETHERTYPE_IPV6: u16 = 0x86DDu16.to_be();
pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const IPV6_LEN: usize = 40;

/// The packet of one program invocation. A copyable wrapper around the
/// context pointer, so it can be passed to non-inlined functions in a
/// register.
#[derive(Clone, Copy)]
pub struct Packet {
    raw: *mut xdp_md,
}

impl Packet {
    #[inline(always)]
    pub fn new(ctx: &XdpContext) -> Self {
        Self { raw: ctx.ctx }
    }

    #[inline(always)]
    fn cx(&self) -> XdpContext {
        XdpContext::new(self.raw)
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.cx().data_end() - self.cx().data()
    }

    #[inline(always)]
    pub fn ingress_ifindex(&self) -> u32 {
        self.cx().ingress_ifindex() as u32
    }

    #[inline(always)]
    pub fn ctx_ptr(&self) -> *mut core::ffi::c_void {
        self.raw as *mut _
    }

    /// Copy of the `T` at `off`; `Drop::Malformed` if the packet is shorter.
    #[inline(always)]
    pub fn read<T: Copy>(&self, off: usize) -> Result<T, Drop> {
        let start = self.cx().data() + off;
        if start + size_of::<T>() > self.cx().data_end() {
            return Err(Drop::Malformed);
        }
        // SAFETY: [start, start + size) lies inside the packet, checked above.
        Ok(unsafe { (start as *const T).read_unaligned() })
    }

    #[inline(always)]
    pub fn write<T: Copy>(&self, off: usize, v: &T) -> Result<(), Drop> {
        let start = self.cx().data() + off;
        if start + size_of::<T>() > self.cx().data_end() {
            return Err(Drop::Malformed);
        }
        // SAFETY: as in `read`; XDP packet data is writable.
        unsafe { (start as *mut T).write_unaligned(*v) };
        Ok(())
    }

    /// A view of the `T` at `off`, in place. `T` must have alignment 1 (the
    /// network-types headers do). The reference must not be kept across
    /// `adjust_head`/`adjust_tail`, which move the packet: callers re-read.
    #[inline(always)]
    pub fn view<T>(&self, off: usize) -> Result<&mut T, Drop> {
        const { assert!(core::mem::align_of::<T>() == 1) };
        let start = self.cx().data() + off;
        if start + size_of::<T>() > self.cx().data_end() {
            return Err(Drop::Malformed);
        }
        // SAFETY: in bounds (checked above), alignment 1, and the program is
        // the packet's only user while it runs.
        Ok(unsafe { &mut *(start as *mut T) })
    }

    /// Grows (`delta < 0`) or shrinks the packet at its head.
    #[inline(always)]
    pub fn adjust_head(&self, delta: i32) -> Result<(), Drop> {
        // SAFETY: the helper checks the bounds itself; no packet pointer is
        // held across this call.
        match unsafe { bpf_xdp_adjust_head(self.raw, delta) } {
            0 => Ok(()),
            _ => Err(Drop::AdjustFailed),
        }
    }

    /// Grows or shrinks the packet at its tail.
    #[inline(always)]
    pub fn adjust_tail(&self, delta: i32) -> Result<(), Drop> {
        // SAFETY: as in `adjust_head`.
        match unsafe { bpf_xdp_adjust_tail(self.raw, delta) } {
            0 => Ok(()),
            _ => Err(Drop::AdjustFailed),
        }
    }

    /// Trims the packet so it ends `len` bytes after its start; no-op if it
    /// is already that short (Ethernet padding, trailing garbage).
    #[inline(always)]
    pub fn truncate(&self, len: usize) -> Result<(), Drop> {
        let have = self.len();
        if have > len {
            self.adjust_tail(-((have - len) as i32))?;
        }
        Ok(())
    }

    /// Copies up to `N` bytes from `off` into `buf` (`N` a multiple of 8),
    /// 8 bytes per step with a constant bound; bytes past the packet's end
    /// stay as they were (callers pass a zeroed buffer).
    #[inline(always)]
    pub fn copy_out<const N: usize>(&self, off: usize, buf: &mut [u8; N]) {
        const { assert!(N % 8 == 0) };
        let end = self.cx().data_end();
        let mut p = self.cx().data() + off;
        for i in 0..N / 8 {
            if p + 8 > end {
                break;
            }
            // SAFETY: eight bytes at p are inside the packet, checked above.
            let w = unsafe { (p as *const [u8; 8]).read_unaligned() };
            buf[i * 8..i * 8 + 8].copy_from_slice(&w);
            p += 8;
        }
    }

    /// Hands the packet to program `slot` of `jumps` (a tail call). Returns
    /// only if the slot is empty (or the kernel's tail-call limit is hit).
    #[inline(always)]
    pub fn tail_call(&self, jumps: &ProgramArray, slot: u32) {
        // SAFETY: a tail call does not return on success; on failure the
        // program continues with its context untouched.
        unsafe { jumps.tail_call(&self.cx(), slot) };
    }

    /// One's-complement sum (RFC 1071) of the bytes from `off` to the end
    /// of the packet, at most `MAX` bytes, added to the big-endian partial
    /// sum `sum`. Reads 8 bytes per step with a constant bound so the
    /// verifier walks at most MAX/8 iterations; the sum is taken in native
    /// (little-endian) order and byte-swapped once, as RFC 1071 §2(B) allows.
    #[inline(always)]
    pub fn sum_tail<const MAX: usize>(&self, off: usize, sum: u64) -> u64 {
        let end = self.cx().data_end();
        let mut p = self.cx().data() + off;
        let mut native: u64 = 0;
        for _ in 0..MAX / 8 {
            if p + 8 > end {
                break;
            }
            // SAFETY: eight bytes at p are inside the packet, checked above.
            let w = unsafe { (p as *const u64).read_unaligned() };
            native += (w & 0xffff_ffff) + (w >> 32);
            p += 8;
        }
        for _ in 0..3 {
            if p + 2 > end {
                break;
            }
            // SAFETY: two bytes at p are inside the packet, checked above.
            native += unsafe { (p as *const u16).read_unaligned() } as u64;
            p += 2;
        }
        if p + 1 <= end {
            // SAFETY: one byte at p is inside the packet, checked above. In
            // little-endian order the lone byte is the low half of its word.
            native += unsafe { *(p as *const u8) } as u64;
        }
        sum + tunnel_common::csum::fold(native).swap_bytes() as u64
    }
}

/// `bpf_fib_lookup` on the packet's context; returns the helper's result
/// code (`BPF_FIB_LKUP_RET_*`) and fills `params`.
#[inline(always)]
pub fn fib_lookup(pkt: Packet, params: &mut FibParams) -> i64 {
    // SAFETY: `params` is a valid, initialised struct of the size passed.
    unsafe {
        bpf_fib_lookup(
            pkt.ctx_ptr(),
            params as *mut FibParams,
            size_of::<FibParams>() as i32,
            0,
        )
    }
}

#[inline(always)]
pub fn ktime_ns() -> u64 {
    // SAFETY: no arguments, no memory access.
    unsafe { bpf_ktime_get_ns() }
}

#[inline(always)]
pub fn prandom_u32() -> u32 {
    // SAFETY: no arguments, no memory access.
    unsafe { bpf_get_prandom_u32() }
}

/// Runs `f` on a map slot returned by `get_ptr_mut` (per-CPU or otherwise
/// owned by this program invocation).
#[inline(always)]
pub fn with_slot<T>(slot: Option<*mut T>, f: impl FnOnce(&mut T)) {
    if let Some(p) = slot {
        // SAFETY: map lookups return a valid, aligned pointer to a value of
        // type T; per-CPU slots have no concurrent writer.
        f(unsafe { &mut *p })
    }
}

/// Copy of a hash map value. aya-ebpf marks `HashMap::get` unsafe because
/// the value may change under a reader; a copy taken at once is consistent
/// for the small, single-word-updated values this project stores.
#[inline(always)]
pub fn hash_get<K, V: Copy>(map: &HashMap<K, V>, key: &K) -> Option<V> {
    // SAFETY: see above.
    unsafe { map.get(key).copied() }
}

#[cfg(target_endian = "big")]
compile_error!("sum_tail assumes bpfel; the PoP targets little-endian hosts only");
