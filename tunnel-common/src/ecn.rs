//! ECN handling for IP-in-IP tunnels, RFC 6040 (normal mode).

pub const NOT_ECT: u8 = 0b00;
pub const ECT1: u8 = 0b01;
pub const ECT0: u8 = 0b10;
pub const CE: u8 = 0b11;

/// Outer ECN field on encapsulation (RFC 6040 §4.1, normal mode): a copy of
/// the inner one.
#[inline(always)]
pub const fn encap(inner: u8) -> u8 {
    inner & 0b11
}

/// Inner ECN field after decapsulation (RFC 6040 §4.2, Figure 4), or `None`
/// when the packet must be dropped (outer CE on a Not-ECT inner packet).
#[inline(always)]
pub const fn decap(inner: u8, outer: u8) -> Option<u8> {
    let (inner, outer) = (inner & 0b11, outer & 0b11);
    if outer == NOT_ECT {
        return Some(inner);
    }
    if inner == NOT_ECT {
        return if outer == CE { None } else { Some(NOT_ECT) };
    }
    if outer == CE {
        return Some(CE);
    }
    if inner == ECT0 && outer == ECT1 {
        return Some(ECT1);
    }
    Some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6040 Figure 4, row by row: (inner, outer) → result.
    #[test]
    fn decap_table() {
        let table = [
            (NOT_ECT, [Some(NOT_ECT), Some(NOT_ECT), Some(NOT_ECT), None]),
            (ECT0, [Some(ECT0), Some(ECT0), Some(ECT1), Some(CE)]),
            (ECT1, [Some(ECT1), Some(ECT1), Some(ECT1), Some(CE)]),
            (CE, [Some(CE), Some(CE), Some(CE), Some(CE)]),
        ];
        // Columns of the figure: outer Not-ECT, ECT(0), ECT(1), CE.
        let outers = [NOT_ECT, ECT0, ECT1, CE];
        for (inner, row) in table {
            for (outer, want) in outers.iter().zip(row) {
                assert_eq!(
                    decap(inner, *outer),
                    want,
                    "inner {inner:02b} outer {outer:02b}"
                );
            }
        }
    }

    #[test]
    fn encap_copies() {
        for v in 0..4 {
            assert_eq!(encap(v), v);
        }
    }
}
