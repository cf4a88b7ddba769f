//! The packet-access layer: the only module with `unsafe`. Every read and
//! write is bounds-checked against `data_end` right before the access, in the
//! `start + const_len > end` shape the verifier tracks. Helpers that move the
//! packet (adjust_head/tail, adjust_room) invalidate nothing here because no
//! pointer is kept across calls: every access recomputes it from the context.
//!
//! One datapath, two contexts: `Packet<C>` is generic over the program's
//! context, XDP (`xdp_md`, the uplinks) or TC (`__sk_buff`, egress of the
//! tunnel device), so path code such as `sixin4::encap` is written once and
//! monomorphized per program. `Packet` alone means `Packet<Xdp>`.

use core::mem::size_of;

use aya_ebpf::{
    bindings::{
        __sk_buff, bpf_adj_room_mode::BPF_ADJ_ROOM_MAC, bpf_fib_lookup as FibParams,
        bpf_redir_neigh, bpf_redir_neigh__bindgen_ty_1, xdp_md, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4,
        BPF_F_ADJ_ROOM_ENCAP_L3_IPV6, BPF_F_ADJ_ROOM_ENCAP_L4_UDP, BPF_F_ADJ_ROOM_FIXED_GSO,
        BPF_F_CURRENT_CPU,
    },
    helpers::generated::{
        bpf_check_mtu, bpf_fib_lookup, bpf_get_prandom_u32, bpf_ktime_get_boot_ns,
        bpf_ktime_get_ns, bpf_perf_event_output, bpf_redirect, bpf_redirect_neigh,
        bpf_skb_adjust_room, bpf_skb_load_bytes, bpf_skb_pull_data, bpf_xdp_adjust_head,
        bpf_xdp_adjust_tail, bpf_xdp_load_bytes,
    },
    maps::{lpm_trie::Key, HashMap, PerfEventArray, ProgramArray},
    programs::{TcContext, XdpContext},
};
use tunnel_common::stats::Drop;

/// EtherType values as they sit in `EthHdr::ether_type` (network order read
/// as a native u16 on a little-endian target).
pub const ETHERTYPE_IPV4: u16 = 0x0800u16.to_be();
pub const ETHERTYPE_IPV6: u16 = 0x86DDu16.to_be();
pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const IPV6_LEN: usize = 40;
/// The IPv6 Fragment header (RFC 8200 §4.5): its length and next-header
/// value.
pub const FRAG_LEN: usize = 8;
pub const NEXT_HEADER_FRAGMENT: u8 = 44;

/// What a program context must offer the shared packet code.
pub trait Ctx: Copy {
    fn data(self) -> usize;
    fn data_end(self) -> usize;
    /// Makes room for an outer header of `len` bytes in front of the
    /// network header. Afterwards the packet is [14-byte Ethernet slot][`len`
    /// new bytes][the old network packet]; what the slot holds is unspecified
    /// (the caller rewrites it).
    fn push_outer(self, len: u32) -> Result<(), Drop>;
    /// The same for an outer IP (IPv6 if `v6`) and UDP header: a UDP
    /// tunnel (AYIYA) rather than IP in IP.
    fn push_outer_udp(self, len: u32, v6: bool) -> Result<(), Drop>;
    /// Copies `len` (1..=64, the caller bounds it) bytes at `off` into
    /// `buf` whatever the packet's layout; the helper's return code.
    fn load_bytes(self, off: u32, buf: &mut [u8; BLOCK], len: u32) -> i64;
    /// The context pointer, as helpers take it.
    fn ptr(self) -> *mut core::ffi::c_void;
    /// The interface `bpf_fib_lookup` looks up from: its FIB rules,
    /// forwarding setting and VRF apply.
    fn fib_ifindex(self) -> u32;
}

/// XDP context (the uplink program).
#[derive(Clone, Copy)]
pub struct Xdp(*mut xdp_md);

/// TC context (`sched_cls` on the tunnel device's egress).
#[derive(Clone, Copy)]
pub struct Tc(*mut __sk_buff);

impl Ctx for Xdp {
    #[inline(always)]
    fn data(self) -> usize {
        XdpContext::new(self.0).data()
    }
    #[inline(always)]
    fn data_end(self) -> usize {
        XdpContext::new(self.0).data_end()
    }
    #[inline(always)]
    fn push_outer(self, len: u32) -> Result<(), Drop> {
        Packet { cx: self }.adjust_head(-(len as i32))
    }
    #[inline(always)]
    fn push_outer_udp(self, len: u32, _v6: bool) -> Result<(), Drop> {
        self.push_outer(len)
    }
    #[inline(always)]
    fn load_bytes(self, off: u32, buf: &mut [u8; BLOCK], len: u32) -> i64 {
        // SAFETY: `buf` has room for `len` (≤ 64) bytes; the helper checks
        // the packet bounds itself.
        unsafe { bpf_xdp_load_bytes(self.0, off, buf.as_mut_ptr() as *mut _, len) }
    }
    #[inline(always)]
    fn ptr(self) -> *mut core::ffi::c_void {
        self.0 as *mut _
    }
    #[inline(always)]
    fn fib_ifindex(self) -> u32 {
        XdpContext::new(self.0).ingress_ifindex() as u32
    }
}

impl Ctx for Tc {
    #[inline(always)]
    fn data(self) -> usize {
        TcContext::new(self.0).data()
    }
    #[inline(always)]
    fn data_end(self) -> usize {
        TcContext::new(self.0).data_end()
    }
    /// `bpf_skb_adjust_room` at the MAC layer rather than a raw head push:
    /// with ENCAP_L3_IPV4 the kernel records the inner headers, marks the
    /// skb encapsulated, adds SKB_GSO_IPXIP4 to a GSO skb (so the uplink
    /// segments it as 6in4, sit's way) and sets skb->protocol to IPv4.
    /// FIXED_GSO keeps gso_size: the route toward the tunnel already carries
    /// the tunnel MTU, which leaves room for the outer header.
    #[inline(always)]
    fn push_outer(self, len: u32) -> Result<(), Drop> {
        let flags = (BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO) as u64;
        // SAFETY: the helper checks the bounds itself; no packet pointer is
        // held across this call.
        match unsafe { bpf_skb_adjust_room(self.0, len as i32, BPF_ADJ_ROOM_MAC, flags) } {
            0 => Ok(()),
            _ => Err(Drop::AdjustFailed),
        }
    }
    /// The UDP tunnel's push: skb->protocol follows the outer family, the
    /// inner headers are recorded behind the UDP header. Only for packets
    /// that are not GSO (a signed tunnel signs each packet itself).
    #[inline(always)]
    fn push_outer_udp(self, len: u32, v6: bool) -> Result<(), Drop> {
        let l3 = if v6 {
            BPF_F_ADJ_ROOM_ENCAP_L3_IPV6
        } else {
            BPF_F_ADJ_ROOM_ENCAP_L3_IPV4
        };
        let flags = (l3 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP) as u64;
        // SAFETY: as in `push_outer`.
        match unsafe { bpf_skb_adjust_room(self.0, len as i32, BPF_ADJ_ROOM_MAC, flags) } {
            0 => Ok(()),
            _ => Err(Drop::AdjustFailed),
        }
    }
    #[inline(always)]
    fn load_bytes(self, off: u32, buf: &mut [u8; BLOCK], len: u32) -> i64 {
        // SAFETY: as for XDP.
        unsafe { bpf_skb_load_bytes(self.0 as *const _, off, buf.as_mut_ptr() as *mut _, len) }
    }
    #[inline(always)]
    fn ptr(self) -> *mut core::ffi::c_void {
        self.0 as *mut _
    }
    /// The device the packet leaves through (the tunnel device): a locally
    /// sent packet has no ingress interface.
    #[inline(always)]
    fn fib_ifindex(self) -> u32 {
        // SAFETY: reading a field of the program's own context.
        unsafe { (*self.0).ifindex }
    }
}

/// The packet of one program invocation. A copyable wrapper around the
/// context pointer, so it can be passed to non-inlined functions in a
/// register.
#[derive(Clone, Copy)]
pub struct Packet<C: Ctx = Xdp> {
    cx: C,
}

impl Packet<Xdp> {
    #[inline(always)]
    pub fn new(ctx: &XdpContext) -> Self {
        Self { cx: Xdp(ctx.ctx) }
    }

    #[inline(always)]
    pub fn ingress_ifindex(&self) -> u32 {
        self.cx.fib_ifindex()
    }

    /// The MTU (layer 3) of device `ifindex`, 0 for the device the packet
    /// came in on, or `None` when there is no such device. From
    /// `bpf_check_mtu` (Linux 5.12), which reports the device's MTU
    /// whatever it says of the packet's length (the verdict is not used).
    #[inline(always)]
    pub fn device_mtu(&self, ifindex: u32) -> Option<u32> {
        // In: 0, check the packet's own length; out: the device's MTU.
        let mut mtu: u32 = 0;
        // SAFETY: `mtu` is a live u32 on the stack, which the helper reads
        // and writes; no packet pointer is involved.
        let rc = unsafe { bpf_check_mtu(self.cx.0 as *mut _, ifindex, &mut mtu, 0, 0) };
        if rc < 0 || mtu == 0 {
            None
        } else {
            Some(mtu)
        }
    }

    /// Grows (`delta < 0`) or shrinks the packet at its head.
    #[inline(always)]
    pub fn adjust_head(&self, delta: i32) -> Result<(), Drop> {
        // SAFETY: the helper checks the bounds itself; no packet pointer is
        // held across this call.
        match unsafe { bpf_xdp_adjust_head(self.cx.0, delta) } {
            0 => Ok(()),
            _ => Err(Drop::AdjustFailed),
        }
    }

    /// Grows or shrinks the packet at its tail.
    #[inline(always)]
    pub fn adjust_tail(&self, delta: i32) -> Result<(), Drop> {
        // SAFETY: as in `adjust_head`.
        match unsafe { bpf_xdp_adjust_tail(self.cx.0, delta) } {
            0 => Ok(()),
            _ => Err(Drop::AdjustFailed),
        }
    }

    /// Hands the packet to program `slot` of `jumps` (a tail call). Returns
    /// only if the slot is empty (or the kernel's tail-call limit is hit).
    #[inline(always)]
    pub fn tail_call(&self, jumps: &ProgramArray, slot: u32) {
        // SAFETY: a tail call does not return on success; on failure the
        // program continues with its context untouched.
        unsafe { jumps.tail_call(&XdpContext::new(self.cx.0), slot) };
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

    /// One sample into this CPU's ring of the perf event array `map`:
    /// `head`, then the packet's first `len` bytes (the helper copies them
    /// from the frame: the upper half of its flags). `Err` when the ring
    /// has no reader or no room.
    #[inline(always)]
    pub fn perf_output<T>(&self, map: &PerfEventArray<T>, head: &T, len: u32) -> Result<(), ()> {
        let flags = (len as u64) << 32 | BPF_F_CURRENT_CPU as u64;
        // SAFETY: aya-ebpf's `PerfEventArray` is `repr(transparent)` over
        // its map definition, so its address is the map's (as its own
        // `output` passes it); `head` is a live value of `size_of::<T>()`
        // bytes; the helper checks `len` against the frame itself.
        let r = unsafe {
            bpf_perf_event_output(
                self.cx.0 as *mut _,
                map as *const PerfEventArray<T> as *mut _,
                flags,
                head as *const T as *mut _,
                size_of::<T>() as u64,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(())
        }
    }
}

impl Packet<Tc> {
    #[inline(always)]
    pub fn tc(ctx: &TcContext) -> Self {
        Self {
            cx: Tc(ctx.skb.skb),
        }
    }

    /// The whole packet's length. `len()` is only the linear part, which is
    /// all that direct access reaches; the rest may sit in pages (GSO).
    #[inline(always)]
    pub fn skb_len(&self) -> usize {
        // SAFETY: reading a field of the program's own context.
        unsafe { (*self.cx.0).len as usize }
    }

    /// Whether the skb is a GSO packet, to be cut into segments of gso_size
    /// after this program: its length alone says nothing about the MTU.
    #[inline(always)]
    pub fn is_gso(&self) -> bool {
        // SAFETY: reading a field of the program's own context.
        unsafe { (*self.cx.0).gso_size != 0 }
    }

    /// Hands the packet to program `slot` of `jumps` (a tail call); returns
    /// only if the slot is empty.
    #[inline(always)]
    pub fn tail_call(&self, jumps: &ProgramArray, slot: u32) {
        // SAFETY: as for XDP.
        unsafe { jumps.tail_call(&TcContext::new(self.cx.0), slot) };
    }

    /// Whether the PoP's own stack built the packet (it came in through no
    /// interface), rather than forwarded it.
    #[inline(always)]
    pub fn is_own(&self) -> bool {
        // SAFETY: reading a field of the program's own context.
        unsafe { (*self.cx.0).ingress_ifindex == 0 }
    }

    /// Makes the first `len` bytes linear (directly accessible), if the
    /// packet is that long; a no-op when they already are.
    #[inline(always)]
    pub fn pull(&self, len: usize) -> Result<(), Drop> {
        if self.len() >= len || self.skb_len() < len {
            return Ok(());
        }
        // SAFETY: the helper checks the length; no packet pointer is held
        // across this call.
        match unsafe { bpf_skb_pull_data(self.cx.0, len as u32) } {
            0 => Ok(()),
            _ => Err(Drop::AdjustFailed),
        }
    }

    /// Sends the packet out of `ifindex` as it is (addresses already set):
    /// the program's verdict.
    #[inline(always)]
    pub fn redirect(&self, ifindex: u32) -> u32 {
        // SAFETY: no memory arguments; returns TC_ACT_REDIRECT (flags 0).
        unsafe { bpf_redirect(ifindex, 0) as u32 }
    }

    /// Sends the packet out of `ifindex` toward the IPv4 next hop `gw`
    /// (network order) whose MAC the kernel does not know yet: the kernel
    /// resolves it (ARP) and fills in the Ethernet header.
    #[inline(always)]
    pub fn redirect_neigh_v4(&self, ifindex: u32, gw: u32) -> u32 {
        const AF_INET: u32 = 2;
        let mut nh = bpf_redir_neigh {
            nh_family: AF_INET,
            __bindgen_anon_1: bpf_redir_neigh__bindgen_ty_1 { ipv4_nh: gw },
        };
        // SAFETY: `nh` is a valid struct of the size passed.
        unsafe {
            bpf_redirect_neigh(ifindex, &mut nh, size_of::<bpf_redir_neigh>() as i32, 0) as u32
        }
    }
}

impl<C: Ctx> Packet<C> {
    /// Copies the 64 bytes at `off` into `buf` (whatever the packet's
    /// layout).
    #[inline(always)]
    pub fn load_block(&self, off: u32, buf: &mut [u8; BLOCK]) -> Result<(), Drop> {
        load_bytes(self.cx, off, buf, BLOCK as u32)
    }

    /// Copies the `len` (0..64) bytes at `off` into `buf`, zeros after them.
    #[inline(always)]
    pub fn load_tail(&self, off: u32, buf: &mut [u8; BLOCK], len: u32) -> Result<(), Drop> {
        let words = buf.as_mut_ptr() as *mut u64;
        for i in 0..BLOCK / 8 {
            // SAFETY: `buf` is 64 bytes and i < 8; unaligned stores (an
            // array literal would be a byte-wise memset).
            unsafe { words.add(i).write_unaligned(0) };
        }
        if len == 0 {
            return Ok(());
        }
        load_bytes(self.cx, off, buf, len)
    }

    #[inline(always)]
    fn data(&self) -> usize {
        self.cx.data()
    }

    #[inline(always)]
    fn data_end(&self) -> usize {
        self.cx.data_end()
    }

    /// Length of the directly accessible data (all of an XDP packet).
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.data_end() - self.data()
    }

    #[inline(always)]
    pub fn ctx_ptr(&self) -> *mut core::ffi::c_void {
        self.cx.ptr()
    }

    #[inline(always)]
    pub fn fib_ifindex(&self) -> u32 {
        self.cx.fib_ifindex()
    }

    /// Room for an outer IP and UDP header of `len` bytes after the
    /// Ethernet slot (see `Ctx::push_outer_udp`).
    #[inline(always)]
    pub fn push_outer_udp(&self, len: u32, v6: bool) -> Result<(), Drop> {
        self.cx.push_outer_udp(len, v6)
    }

    /// Room for an outer header of `len` bytes after the Ethernet slot
    /// (see `Ctx::push_outer`).
    #[inline(always)]
    pub fn push_outer(&self, len: u32) -> Result<(), Drop> {
        self.cx.push_outer(len)
    }

    /// Copy of the `T` at `off`; `Drop::Malformed` if the packet is shorter.
    #[inline(always)]
    pub fn read<T: Copy>(&self, off: usize) -> Result<T, Drop> {
        let start = self.data() + off;
        if start + size_of::<T>() > self.data_end() {
            return Err(Drop::Malformed);
        }
        // SAFETY: [start, start + size) lies inside the packet, checked above.
        Ok(unsafe { (start as *const T).read_unaligned() })
    }

    /// The IPv6 address at `off`, read as two 64-bit words. A plain
    /// `read::<[u8; 16]>` is a byte copy that LLVM may cut into pieces
    /// whose stores land misaligned on the stack, which the verifier
    /// refuses (tunnel-ebpf/build.rs).
    #[inline(always)]
    pub fn read_addr(&self, off: usize) -> Result<[u8; 16], Drop> {
        let words: [u64; 2] = [self.read(off)?, self.read(off + 8)?];
        // SAFETY: [u64; 2] and [u8; 16] have the same size, any bits are
        // valid for both.
        Ok(unsafe { core::mem::transmute::<[u64; 2], [u8; 16]>(words) })
    }

    /// Writes an IPv6 address given as big-endian 64-bit halves (as the
    /// translator computes them) at `off`: two word stores.
    #[inline(always)]
    pub fn write_addr_halves(&self, off: usize, (hi, lo): (u64, u64)) -> Result<(), Drop> {
        self.write(off, &hi.to_be())?;
        self.write(off + 8, &lo.to_be())
    }

    #[inline(always)]
    pub fn write<T: Copy>(&self, off: usize, v: &T) -> Result<(), Drop> {
        let start = self.data() + off;
        if start + size_of::<T>() > self.data_end() {
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
        let start = self.data() + off;
        if start + size_of::<T>() > self.data_end() {
            return Err(Drop::Malformed);
        }
        // SAFETY: in bounds (checked above), alignment 1, and the program is
        // the packet's only user while it runs.
        Ok(unsafe { &mut *(start as *mut T) })
    }

    /// Copies up to `N` bytes from `off` into `buf` (`N` a multiple of 8),
    /// 8 bytes per step with a constant bound; bytes past the packet's end
    /// stay as they were (callers pass a zeroed buffer).
    #[inline(always)]
    pub fn copy_out<const N: usize>(&self, off: usize, buf: &mut [u8; N]) {
        const { assert!(N % 8 == 0) };
        let end = self.data_end();
        let mut p = self.data() + off;
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

    /// One's-complement sum (RFC 1071) of the bytes from `off` to the end
    /// of the packet, at most `MAX` bytes, added to the big-endian partial
    /// sum `sum`. Reads 8 bytes per step with a constant bound so the
    /// verifier walks at most MAX/8 iterations; the sum is taken in native
    /// (little-endian) order and byte-swapped once, as RFC 1071 §2(B) allows.
    #[inline(always)]
    pub fn sum_tail<const MAX: usize>(&self, off: usize, sum: u64) -> u64 {
        let end = self.data_end();
        let mut p = self.data() + off;
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

/// The IPv6 address whose big-endian halves are `hi` and `lo`, built from
/// two 64-bit words (see `Packet::read_addr` on why not byte by byte).
#[inline(always)]
pub fn addr_from_halves((hi, lo): (u64, u64)) -> [u8; 16] {
    // SAFETY: [u64; 2] and [u8; 16] have the same size, any bits are valid
    // for both.
    unsafe { core::mem::transmute::<[u64; 2], [u8; 16]>([hi.to_be(), lo.to_be()]) }
}

/// An LPM trie key for an IPv6 address (prefix length, then the address
/// as four words), built with three aligned 8-byte stores: a `Key` built
/// field by field, 4-aligned, may be copied with merged 8-byte stores at
/// a 4-aligned offset, which the verifier refuses (tunnel-ebpf/build.rs).
#[repr(C, align(8))]
pub struct Key6([u64; 3]);

impl Key6 {
    #[inline(always)]
    pub fn new(prefix_len: u32, a: &[u8; 16]) -> Self {
        let w = tunnel_common::addr::words32(a);
        Self([
            prefix_len as u64 | (w[0] as u64) << 32,
            w[1] as u64 | (w[2] as u64) << 32,
            w[3] as u64,
        ])
    }

    #[inline(always)]
    pub fn key(&self) -> &Key<[u32; 4]> {
        const { assert!(size_of::<Key<[u32; 4]>>() == 20) };
        // SAFETY: `Key` is `repr(C, packed)` (alignment 1): a u32 then four
        // u32s, which the first 20 bytes of the words hold in that order on
        // a little-endian target (asserted at the end of this file).
        unsafe { &*(self as *const Self as *const Key<[u32; 4]>) }
    }
}

/// `bpf_fib_lookup` on the packet's context; returns the helper's result
/// code (`BPF_FIB_LKUP_RET_*`) and fills `params`.
#[inline(always)]
pub fn fib_lookup<C: Ctx>(pkt: Packet<C>, params: &mut FibParams) -> i64 {
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

/// All-zero `bpf_fib_lookup` parameters, written as eight 8-byte stores
/// (a struct literal or `mem::zeroed` becomes a byte-at-a-time memset for
/// the BPF target: ~320 instructions).
#[inline(always)]
pub fn zeroed_fib_params() -> FibParams {
    const { assert!(size_of::<FibParams>() == 64) };
    // SAFETY: FibParams is plain integers, arrays and unions of them, all
    // valid when zero; the sizes match (asserted above).
    unsafe { core::mem::transmute::<[u64; 8], FibParams>([0u64; 8]) }
}

/// The IPv4 destination field of lookup parameters (after a lookup: the
/// next hop).
#[inline(always)]
pub fn fib_ipv4_dst(params: &FibParams) -> u32 {
    // SAFETY: every member of the union is plain integers; any bit pattern
    // is a valid u32.
    unsafe { params.__bindgen_anon_4.ipv4_dst }
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

/// Adds `n` to the u64 field at byte `offset` (`core::mem::offset_of!`) of
/// the map slot `slot`, shared by the CPUs, with one atomic instruction.
/// An offset that is not an 8-aligned u64 inside `T` does nothing.
#[inline(always)]
pub fn atomic_add<T>(slot: Option<*mut T>, offset: usize, n: u64) {
    if offset % 8 != 0 || offset + 8 > size_of::<T>() {
        return;
    }
    if let Some(p) = slot {
        // SAFETY: map lookups return a valid pointer to an 8-byte aligned
        // value (map values are 8-byte aligned); the field lies inside it
        // and is 8-aligned (checked above); every writer of it uses
        // atomics.
        unsafe {
            let field = (p as *mut u8).add(offset) as *mut u64;
            core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(
                field, n,
            )
        };
    }
}

/// A per-CPU scratch slot (`get_ptr_mut` of a per-CPU array) as a
/// reference, for buffers too large for the 512-byte stack.
#[inline(always)]
pub fn scratch<T>(slot: Option<*mut T>) -> Option<&'static mut T> {
    // SAFETY: as in `with_slot`: valid and aligned; the slot belongs to
    // this CPU, and one program invocation runs at a time per CPU.
    slot.map(|p| unsafe { &mut *p })
}

/// Size of `load_block` (a SHA-1 block).
pub const BLOCK: usize = 64;

#[inline(always)]
fn load_bytes<C: Ctx>(cx: C, off: u32, buf: &mut [u8; BLOCK], len: u32) -> Result<(), Drop> {
    if len == 0 || len > BLOCK as u32 {
        return Err(Drop::Malformed);
    }
    // The same value, in a shape every verifier bounds to 1..=64: 6.1 does
    // not learn `len >= 1` from the `len == 0` test above, and refuses a
    // size that may be 0. `black_box` keeps LLVM from folding it back.
    let len = ((core::hint::black_box(len) - 1) & (BLOCK as u32 - 1)) + 1;
    match cx.load_bytes(off, buf, len) {
        0 => Ok(()),
        _ => Err(Drop::Malformed),
    }
}

/// `CLOCK_BOOTTIME` in ns: counts suspend, as the daemon's clock offset
/// (`CLOCK` map) assumes.
#[inline(always)]
pub fn boot_ns() -> u64 {
    // SAFETY: no arguments, no memory access.
    unsafe { bpf_ktime_get_boot_ns() }
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
