//! Tiny XDP programs assembled at run time (the shipped object has no
//! program for either job, and their constants change per measurement).
//!
//! - `generator(frame)`: overwrites the packet with `frame`, then XDP_TX.
//!   Live-frame mode recycles its pages without restoring their content, and
//!   the dut rewrites frames in place (veth hands the same page along), so
//!   without the rewrite the second use of a page would carry the dut's
//!   output (a decapsulated packet) instead of the template.
//!   `generator_head(frame, head)` rewrites only the first `head` bytes.
//! - `rotating(counter, templates, k, len)`: the same, but the frame is
//!   template `n % k` of an array map, `n` counting the frames sent: a
//!   stream over many tunnels (the scale bench's spread over a big table),
//!   or of distinct AYIYA datagrams (the replay guard drops repeats).
//!   Templates shorter than the frame overwrite its first `len` bytes.
//! - `redirect(dmac, smac, devmap, ifindex)`: rewrites the Ethernet
//!   addresses and `bpf_redirect_map`s into the datapath's own TX_PORTS:
//!   the plain-redirect baseline, the same helper and map `tunnel_xdp` uses.

use super::sys::Insn;

const XDP_DROP: i32 = 1;
const XDP_TX: i32 = 3;
const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_KTIME_GET_NS: i32 = 5;
const HELPER_REDIRECT_MAP: i32 = 51;
const HELPER_FIB_LOOKUP: i32 = 69;
const PSEUDO_MAP_FD: u8 = 1;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}
/// dst = *(u32 *)(src + off)
fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x61, dst, src, off, 0)
}
fn mov64_reg(dst: u8, src: u8) -> Insn {
    insn(0xbf, dst, src, 0, 0)
}
fn mov64_imm(dst: u8, imm: i32) -> Insn {
    insn(0xb7, dst, 0, 0, imm)
}
fn add64_imm(dst: u8, imm: i32) -> Insn {
    insn(0x07, dst, 0, 0, imm)
}
fn add64_reg(dst: u8, src: u8) -> Insn {
    insn(0x0f, dst, src, 0, 0)
}
fn sub64_reg(dst: u8, src: u8) -> Insn {
    insn(0x1f, dst, src, 0, 0)
}
fn lsh64_imm(dst: u8, imm: i32) -> Insn {
    insn(0x67, dst, 0, 0, imm)
}
/// if dst > src goto +off
fn jgt_reg(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x2d, dst, src, off, 0)
}
/// dst = imm64 (two slots).
fn ld_imm64(dst: u8, src: u8, v: u64) -> [Insn; 2] {
    [
        insn(0x18, dst, src, 0, v as u32 as i32),
        insn(0, 0, 0, 0, (v >> 32) as u32 as i32),
    ]
}
/// *(u64 *)(dst + off) = src
fn stx_dw(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x7b, dst, src, off, 0)
}
/// dst = *(size *)(src + off), size 8, 4, 2 or 1 bytes.
fn ldx(size: usize, dst: u8, src: u8, off: i16) -> Insn {
    let code = match size {
        8 => 0x79,
        4 => 0x61,
        2 => 0x69,
        _ => 0x71,
    };
    insn(code, dst, src, off, 0)
}
/// *(size *)(dst + off) = src, size 8, 4, 2 or 1 bytes.
fn stx(size: usize, dst: u8, src: u8, off: i16) -> Insn {
    let code = match size {
        8 => 0x7b,
        4 => 0x63,
        2 => 0x6b,
        _ => 0x73,
    };
    insn(code, dst, src, off, 0)
}
/// dst %= imm (64-bit, unsigned)
fn mod64_imm(dst: u8, imm: i32) -> Insn {
    insn(0x97, dst, 0, 0, imm)
}
/// if dst == imm goto +off
fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x15, dst, 0, off, imm)
}
/// *(size *)(dst + off) = imm, size 4, 2 or 1 bytes.
fn st_imm(size: usize, dst: u8, off: i16, imm: i32) -> Insn {
    let code = match size {
        4 => 0x62,
        2 => 0x6a,
        _ => 0x72,
    };
    insn(code, dst, 0, off, imm)
}
fn call(helper: i32) -> Insn {
    insn(0x85, 0, 0, 0, helper)
}
fn exit() -> Insn {
    insn(0x95, 0, 0, 0, 0)
}

/// Stores `bytes` at r2 + `base`: 8-byte stores through r5, then 4/2/1.
fn store_bytes(p: &mut Vec<Insn>, base: usize, bytes: &[u8]) {
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let v = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        p.extend(ld_imm64(5, 0, v));
        p.push(stx_dw(2, 5, (base + i) as i16));
        i += 8;
    }
    for size in [4, 2, 1] {
        if i + size <= bytes.len() {
            let mut b = [0u8; 4];
            b[..size].copy_from_slice(&bytes[i..i + size]);
            p.push(st_imm(size, 2, (base + i) as i16, i32::from_le_bytes(b)));
            i += size;
        }
    }
}

/// r2 = data; r3 = data_end; drop unless `len` bytes are there. The caller
/// appends its body, then `finish` patches the jump to the drop epilogue.
fn prologue(len: usize) -> Vec<Insn> {
    vec![
        ldx_w(2, 1, 0),
        ldx_w(3, 1, 4),
        mov64_reg(4, 2),
        add64_imm(4, len as i32),
        jgt_reg(4, 3, 0),
    ]
}

fn finish(mut p: Vec<Insn>) -> Vec<Insn> {
    // The bounds check is instruction 4; the drop epilogue follows the body.
    p[4].off = (p.len() - 5) as i16;
    p.push(mov64_imm(0, XDP_DROP));
    p.push(exit());
    p
}

pub fn generator(frame: &[u8]) -> Vec<Insn> {
    generator_head(frame, frame.len())
}

/// The generator that rewrites only the first `head` bytes of `frame`
/// (the packet must still hold all of it): for frames whose paths change
/// nothing after `head` (the kernel fills a live-frame page with the whole
/// frame once), so a 1300-byte frame costs the generator what a small one
/// does.
pub fn generator_head(frame: &[u8], head: usize) -> Vec<Insn> {
    let mut p = prologue(frame.len());
    store_bytes(&mut p, 0, &frame[..head.min(frame.len())]);
    p.push(mov64_imm(0, XDP_TX));
    p.push(exit());
    finish(p)
}

/// Bytes of the rotating generator's `counter` value: frames sent so far
/// (the next template is `n % k`), then the boot-clock ns before which no
/// frame is sent.
pub const COUNTER_SIZE: usize = 16;
/// Frames the paced generator may send at once after it fell behind (it
/// shares its CPU): more would only burn templates on a full ring.
pub const PACE_BURST: i32 = 1024;

/// The generator over `k` templates of `len` bytes: `templates` is an
/// array map of `k` values of `len` bytes, `counter` one of a single
/// [`COUNTER_SIZE`] value, `pace` one of a single u64, the ns between
/// frames (0: as fast as it goes), which user space may change while it
/// runs. Paced, a frame that comes before its time is dropped without
/// using a template: only what is sent counts. The generator runs on one
/// CPU only: no atomics.
pub fn rotating(counter_fd: i32, pace_fd: i32, templates_fd: i32, k: u32, len: usize) -> Vec<Insn> {
    let mut p = vec![
        mov64_reg(6, 1),
        // r9 = &counter[0]
        st_imm(4, 10, -4, 0),
    ];
    p.extend(ld_imm64(1, PSEUDO_MAP_FD, counter_fd as u32 as u64));
    p.push(mov64_reg(2, 10));
    p.push(add64_imm(2, -4));
    p.push(call(HELPER_MAP_LOOKUP_ELEM));
    let mut to_drop = vec![p.len()];
    p.push(jeq_imm(0, 0, 0));
    p.push(mov64_reg(9, 0));
    // r8 = pace[0]
    p.extend(ld_imm64(1, PSEUDO_MAP_FD, pace_fd as u32 as u64));
    p.push(mov64_reg(2, 10));
    p.push(add64_imm(2, -4));
    p.push(call(HELPER_MAP_LOOKUP_ELEM));
    to_drop.push(p.len());
    p.push(jeq_imm(0, 0, 0));
    p.push(ldx(8, 8, 0, 0));
    // Paced: too early → drop; else next = max(next, now − BURST ×
    // interval) + interval.
    let to_send = p.len();
    p.push(jeq_imm(8, 0, 0));
    p.push(call(HELPER_KTIME_GET_NS));
    p.push(ldx(8, 1, 9, 8));
    to_drop.push(p.len());
    p.push(jgt_reg(1, 0, 0));
    p.push(mov64_reg(3, 8));
    p.push(lsh64_imm(3, PACE_BURST.trailing_zeros() as i32));
    // r4 = now − next (≥ 0 here); far behind: start again from now.
    p.push(mov64_reg(4, 0));
    p.push(sub64_reg(4, 1));
    p.push(jgt_reg(3, 4, 1));
    p.push(mov64_reg(1, 0));
    p.push(add64_reg(1, 8));
    p.push(stx_dw(9, 1, 8));
    let send = p.len();
    p[to_send].off = (send - to_send - 1) as i16;
    // n = counter[0].n++
    p.push(ldx(8, 7, 9, 0));
    p.push(mov64_reg(8, 7));
    p.push(add64_imm(8, 1));
    p.push(stx_dw(9, 8, 0));
    // template = templates[n % k]
    p.push(mod64_imm(7, k as i32));
    p.push(stx(4, 10, 7, -8));
    p.extend(ld_imm64(1, PSEUDO_MAP_FD, templates_fd as u32 as u64));
    p.push(mov64_reg(2, 10));
    p.push(add64_imm(2, -8));
    p.push(call(HELPER_MAP_LOOKUP_ELEM));
    to_drop.push(p.len());
    p.push(jeq_imm(0, 0, 0));
    // r2 = data, r3 = data_end; the packet must hold `len` bytes (it may
    // hold more: the template overwrites its head).
    p.push(ldx_w(2, 6, 0));
    p.push(ldx_w(3, 6, 4));
    p.push(mov64_reg(4, 2));
    p.push(add64_imm(4, len as i32));
    to_drop.push(p.len());
    p.push(jgt_reg(4, 3, 0));
    // Copy, widest loads first (the map value is exactly `len` bytes).
    let mut i = 0;
    for size in [8, 4, 2, 1] {
        while i + size <= len {
            p.push(ldx(size, 5, 0, i as i16));
            p.push(stx(size, 2, 5, i as i16));
            i += size;
        }
    }
    p.push(mov64_imm(0, XDP_TX));
    p.push(exit());
    let drop = p.len();
    for j in to_drop {
        p[j].off = (drop - j - 1) as i16;
    }
    p.push(mov64_imm(0, XDP_DROP));
    p.push(exit());
    p
}

pub fn redirect(dmac: [u8; 6], smac: [u8; 6], devmap_fd: i32, ifindex: u32) -> Vec<Insn> {
    let mut p = prologue(14);
    store_bytes(&mut p, 0, &[dmac, smac].concat());
    p.extend(ld_imm64(1, PSEUDO_MAP_FD, devmap_fd as u32 as u64));
    p.push(mov64_imm(2, ifindex as i32));
    p.push(mov64_imm(3, 0));
    p.push(call(HELPER_REDIRECT_MAP));
    p.push(exit());
    finish(p)
}

/// Reference: one hash lookup of the frame's 6in4 (outer destination,
/// outer source) in `map_fd` (the datapath's `TUN_BY_V4`), then XDP_DROP.
/// Warm with one frame, cold over frames of random tunnels.
pub fn hash_lookup(map_fd: i32) -> Vec<Insn> {
    let mut p = prologue(34);
    p.push(ldx(4, 4, 2, 30));
    p.push(stx(4, 10, 4, -8));
    p.push(ldx(4, 4, 2, 26));
    p.push(stx(4, 10, 4, -4));
    p.extend(ld_imm64(1, PSEUDO_MAP_FD, map_fd as u32 as u64));
    p.push(mov64_reg(2, 10));
    p.push(add64_imm(2, -8));
    p.push(call(HELPER_MAP_LOOKUP_ELEM));
    p.push(mov64_imm(0, XDP_DROP));
    p.push(exit());
    finish(p)
}

/// Reference: one `bpf_fib_lookup` (IPv4 when `src`/`dst` are 4 bytes,
/// IPv6 when 16) from the receiving interface, then XDP_DROP. The
/// parameter block is zeroed with 8-byte stores.
pub fn fib_lookup(src: &[u8], dst: &[u8], l4: u8, tot_len: u16) -> Vec<Insn> {
    const P: i16 = -64;
    let mut p = vec![mov64_reg(6, 1), mov64_imm(5, 0)];
    for i in 0..8 {
        p.push(stx_dw(10, 5, P + 8 * i));
    }
    let family = if src.len() == 4 { 2 } else { 10 };
    p.push(st_imm(1, 10, P, family));
    p.push(st_imm(1, 10, P + 1, l4 as i32));
    p.push(st_imm(2, 10, P + 6, tot_len as i32));
    // ifindex = ctx->ingress_ifindex
    p.push(ldx_w(4, 6, 12));
    p.push(stx(4, 10, 4, P + 8));
    for (base, bytes) in [(P + 16, src), (P + 32, dst)] {
        for (i, w) in bytes.chunks(4).enumerate() {
            let v = i32::from_le_bytes(w.try_into().unwrap());
            p.push(st_imm(4, 10, base + 4 * i as i16, v));
        }
    }
    p.push(mov64_reg(1, 6));
    p.push(mov64_reg(2, 10));
    p.push(add64_imm(2, P as i32));
    p.push(mov64_imm(3, 64));
    p.push(mov64_imm(4, 0));
    p.push(call(HELPER_FIB_LOOKUP));
    p.push(mov64_imm(0, XDP_DROP));
    p.push(exit());
    p
}

/// Reference: the per-tunnel state a decap touches, one map after another:
/// the `TUN_BY_V4` lookup, then for each of `by_id` (array maps keyed by
/// the tunnel id: `TUNNELS`, `TUN_STATS`) a lookup and a load of the
/// value's first word, then XDP_DROP. Over random tunnels this shows what
/// each cold per-tunnel structure costs.
pub fn per_tunnel_chain(by_v4: i32, by_id: &[i32]) -> Vec<Insn> {
    let mut p = prologue(34);
    p.push(ldx(4, 4, 2, 30));
    p.push(stx(4, 10, 4, -8));
    p.push(ldx(4, 4, 2, 26));
    p.push(stx(4, 10, 4, -4));
    p.extend(ld_imm64(1, PSEUDO_MAP_FD, by_v4 as u32 as u64));
    p.push(mov64_reg(2, 10));
    p.push(add64_imm(2, -8));
    p.push(call(HELPER_MAP_LOOKUP_ELEM));
    let mut to_drop = vec![p.len()];
    p.push(jeq_imm(0, 0, 0));
    p.push(ldx(4, 1, 0, 0));
    p.push(stx(4, 10, 1, -12));
    for fd in by_id {
        p.extend(ld_imm64(1, PSEUDO_MAP_FD, *fd as u32 as u64));
        p.push(mov64_reg(2, 10));
        p.push(add64_imm(2, -12));
        p.push(call(HELPER_MAP_LOOKUP_ELEM));
        to_drop.push(p.len());
        p.push(jeq_imm(0, 0, 0));
        p.push(ldx(8, 1, 0, 0));
    }
    let end = p.len();
    for i in to_drop {
        p[i].off = (end - i - 1) as i16;
    }
    p.push(mov64_imm(0, XDP_DROP));
    p.push(exit());
    finish(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every jump of the rotating generator lands inside the program, the
    /// drops on the XDP_DROP epilogue, and the only other exit is XDP_TX.
    #[test]
    fn rotating_jumps_land_in_the_program() {
        let p = rotating(3, 4, 5, 524_288, 138);
        let drop = p.len() - 2;
        assert_eq!((p[drop].code, p[drop].imm), (0xb7, XDP_DROP));
        let mut to_drop = 0;
        for (i, x) in p.iter().enumerate() {
            let class = x.code & 0x07;
            // BPF_JMP, not call (0x85) or exit (0x95).
            if class == 0x05 && x.code != 0x85 && x.code != 0x95 {
                let target = i as i64 + 1 + i64::from(x.off);
                assert!((0..p.len() as i64).contains(&target), "insn {i}");
                to_drop += usize::from(target == drop as i64);
            }
        }
        // Three failed lookups, a short packet, a frame before its time.
        assert_eq!(to_drop, 5);
        assert_eq!(PACE_BURST.count_ones(), 1, "a shift");
        let exits: Vec<i32> = p
            .windows(2)
            .filter(|w| w[1].code == 0x95)
            .map(|w| w[0].imm)
            .collect();
        assert_eq!(exits, [XDP_TX, XDP_DROP]);
    }
}
