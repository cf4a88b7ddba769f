//! Tail calls between the programs (`JUMPS`), with their arguments in the
//! per-CPU `JUMP_ARGS` slot. `follow` must be inlined into a program's
//! entry: a tail call from a subprogram would cap every frame's stack at
//! 256 bytes.

use aya_ebpf::bindings::xdp_action;
use tunnel_common::{
    ayiya::OP_ECHO_RESPONSE,
    jump::{
        JumpArgs, ICMP_REPLY, JUMP_AYIYA_AUTH, JUMP_AYIYA_ENCAP, JUMP_ICMP, JUMP_NAT64_6TO4,
        JUMP_NAT64_ICMP4, JUMP_ROUTE,
    },
    stats::Drop,
};

use crate::{
    maps::{JUMPS, JUMPS_LOCAL, JUMP_ARGS},
    packet::{with_slot, Packet, Tc},
    stats,
    step::Step,
    tunnel::Origin,
};

/// The arguments the previous program left (zero if none).
#[inline(always)]
pub fn args() -> JumpArgs {
    JUMP_ARGS.get(0).copied().unwrap_or_default()
}

#[inline(always)]
fn put(a: JumpArgs) {
    with_slot(JUMP_ARGS.get_ptr_mut(0), |slot| *slot = a);
}

/// Jumps to `slot`; returns only when the jump failed (counted).
#[inline(always)]
fn jump(pkt: Packet, slot: u32) -> u32 {
    pkt.tail_call(&JUMPS, slot);
    stats::drop(Drop::JumpFailed);
    xdp_action::XDP_DROP
}

/// Turns a path's `Step` into the XDP action, jumping where the step says.
#[inline(always)]
pub fn follow(pkt: Packet, step: Step) -> u32 {
    match step {
        Step::Done(action) => action,
        Step::ToTunnel { id, origin } => {
            put(JumpArgs {
                tunnel: id,
                origin: origin.raw(),
                ..Default::default()
            });
            jump(pkt, JUMP_ROUTE)
        }
        Step::Icmp {
            kind,
            src_tunnel,
            origin,
        } => {
            put(JumpArgs {
                origin: origin.raw(),
                icmp: kind.raw(),
                src_tunnel,
                ..Default::default()
            });
            jump(pkt, JUMP_ICMP)
        }
        Step::Reply { origin } => {
            put(JumpArgs {
                origin: origin.raw(),
                icmp: ICMP_REPLY,
                ..Default::default()
            });
            jump(pkt, JUMP_ICMP)
        }
        Step::Translate { origin } => {
            put(JumpArgs {
                origin: origin.raw(),
                ..Default::default()
            });
            jump(pkt, JUMP_NAT64_6TO4)
        }
        Step::Hand(slot) => jump(pkt, slot),
        Step::Icmp4 { kind, tunnel } => {
            put(JumpArgs {
                tunnel,
                icmp: kind.raw(),
                ..Default::default()
            });
            jump(pkt, JUMP_NAT64_ICMP4)
        }
    }
}

/// Hands an AYIYA datagram of tunnel `id` (`len` bytes at `off`) to its
/// signature check; returns only when the jump failed (counted).
#[inline(always)]
pub fn to_ayiya_auth(pkt: Packet, id: u32, off: u32, len: u32) -> u32 {
    put(JumpArgs {
        tunnel: id,
        data_off: off,
        data_len: len,
        ..Default::default()
    });
    jump(pkt, JUMP_AYIYA_AUTH)
}

/// Hands the IPv6 packet (`len` bytes) from `origin` to the encapsulation
/// program `slot` of tunnel `id`'s kind, with the inner hop limit and
/// traffic class it leaves with; returns only when the jump failed
/// (counted).
#[inline(always)]
pub fn to_encap(
    pkt: Packet,
    slot: u32,
    id: u32,
    origin: Origin,
    hop_limit: u8,
    tclass: u8,
    len: usize,
) -> u32 {
    put(JumpArgs {
        tunnel: id,
        origin: origin.raw(),
        data_len: len as u32,
        hop_limit,
        tclass,
        ..Default::default()
    });
    jump(pkt, slot)
}

/// Hands an AYIYA echo request's payload (`len` bytes after the Ethernet
/// header) of tunnel `id` to `ayiya_encap`, to go back as an echo response
/// with next header `next_header`; returns only when the jump failed
/// (counted).
#[inline(always)]
pub fn to_ayiya_echo(pkt: Packet, id: u32, next_header: u8, len: usize) -> u32 {
    put(JumpArgs {
        tunnel: id,
        // An answer the PoP makes, not a packet out of another tunnel: no
        // tunnel to tunnel counted (and never DOWN: its user was just seen).
        origin: Origin::uplink().raw(),
        data_len: len as u32,
        ayiya_op: OP_ECHO_RESPONSE,
        ayiya_next_header: next_header,
        ..Default::default()
    });
    jump(pkt, JUMP_AYIYA_ENCAP)
}

/// The TC program's `to_encap`: the packet (`len` bytes from the IPv6
/// header on) to `JUMPS_LOCAL` slot `slot`. Returns only when the jump
/// failed.
#[inline(always)]
pub fn to_encap_local(pkt: Packet<Tc>, slot: u32, id: u32, tclass: u8, len: usize) -> Drop {
    put(JumpArgs {
        tunnel: id,
        data_len: len as u32,
        tclass,
        ..Default::default()
    });
    pkt.tail_call(&JUMPS_LOCAL, slot);
    Drop::JumpFailed
}

/// Hands the packet to `slot` with no arguments; returns if the slot is
/// empty (the caller decides what that means).
#[inline(always)]
pub fn hand_over(pkt: Packet, slot: u32) {
    pkt.tail_call(&JUMPS, slot);
}
