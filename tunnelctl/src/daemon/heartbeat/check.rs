//! What a parsed beat must be, against the tunnel it names, to be learned:
//! a pure function, so that the daemon can run it again under the engine's
//! lock when the tunnel changed since it was read (`mod.rs`).

use std::net::Ipv4Addr;

use crate::{
    api::{TunnelKind, TunnelSpec},
    daemon::secrets,
    heartbeat::{Beat, Refusal},
};

/// A beat to learn: tunnel `id`'s user is at `remote` and sent to the
/// PoP's `local`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub id: u32,
    pub local: Ipv4Addr,
    pub remote: Ipv4Addr,
}

/// Checks `beat`, received from `source` on the PoP's address `dest` at
/// `now` (Unix seconds), against `t`, the tunnel its identity names. In
/// this order: the tunnel takes beats (a dynamic kind, enabled), then
/// sixxsd's order (sender, clock, hash: the cheap checks first, and no
/// clock or hash verdict is spent on a beat from the wrong address), then
/// where it was sent.
pub fn check(
    beat: &Beat,
    t: &TunnelSpec,
    source: Ipv4Addr,
    dest: Ipv4Addr,
    now: u64,
) -> Result<Accepted, Refusal> {
    // A beat moves an AYIYA user to proto-41 too (the tunnel follows the
    // last valid packet, as sixxsd's do); a static tunnel has no endpoint
    // to learn.
    if !matches!(t.kind, TunnelKind::Heartbeat | TunnelKind::Ayiya) {
        return Err(Refusal::NotDynamic);
    }
    if !t.enabled {
        return Err(Refusal::Disabled);
    }
    let remote = beat.remote(source)?;
    beat.check_clock(now)?;
    // A store that kept only AYIYA's K (`sha1:…`) cannot check an MD5
    // over the password.
    let password = secrets::password(t).map_err(|_| Refusal::NoPassword)?;
    beat.check_hash(password.as_bytes())?;
    if dest != t.local {
        return Err(Refusal::WrongLocal);
    }
    Ok(Accepted {
        id: t.id,
        local: dest,
        remote,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::{codec::build, Sender};

    const NOW: u64 = 1_700_000_000;
    const POP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

    fn tunnel(kind: &str, secret: &str) -> TunnelSpec {
        serde_json::from_value(serde_json::json!({
            "id": 7, "kind": kind, "local": "192.0.2.1",
            "prefix": "2001:db8:7::/64", "secret": secret,
        }))
        .unwrap()
    }

    fn line(sender: Sender, epoch: u64, password: &str) -> String {
        build(
            "2001:db8:7::2".parse().unwrap(),
            sender,
            epoch,
            password.as_bytes(),
        )
    }

    /// (what, the tunnel, the beat, where it was sent, the verdict)
    type Case = (
        &'static str,
        TunnelSpec,
        String,
        Ipv4Addr,
        Result<Accepted, Refusal>,
    );

    /// One departure from a good beat each, and the reason it gets; the
    /// good beat itself, with `sender` and with the source named.
    #[test]
    fn each_departure_has_its_reason() {
        let hb = tunnel("heartbeat", "pw");
        let ok = Ok(Accepted {
            id: 7,
            local: POP,
            remote: NAT,
        });
        let cases: Vec<Case> = vec![
            (
                "sender",
                hb.clone(),
                line(Sender::Source, NOW, "pw"),
                POP,
                ok,
            ),
            (
                "named source",
                hb.clone(),
                line(Sender::Ipv4(NAT), NOW, "pw"),
                POP,
                ok,
            ),
            (
                "ayiya tunnel",
                tunnel("ayiya", "pw"),
                line(Sender::Source, NOW, "pw"),
                POP,
                ok,
            ),
            (
                "static tunnel",
                {
                    let mut t = hb.clone();
                    t.kind = TunnelKind::Sixin4;
                    t.remote = Some(NAT);
                    t
                },
                line(Sender::Source, NOW, "pw"),
                POP,
                Err(Refusal::NotDynamic),
            ),
            (
                "disabled",
                TunnelSpec {
                    enabled: false,
                    ..hb.clone()
                },
                line(Sender::Source, NOW, "pw"),
                POP,
                Err(Refusal::Disabled),
            ),
            (
                "another address named",
                hb.clone(),
                line(Sender::Ipv4(Ipv4Addr::new(198, 51, 100, 2)), NOW, "pw"),
                POP,
                Err(Refusal::SenderMismatch),
            ),
            (
                "clock behind",
                hb.clone(),
                line(Sender::Source, NOW - 121, "pw"),
                POP,
                Err(Refusal::ClockOff),
            ),
            (
                "clock ahead",
                hb.clone(),
                line(Sender::Source, NOW + 121, "pw"),
                POP,
                Err(Refusal::ClockOff),
            ),
            (
                "wrong password",
                hb.clone(),
                line(Sender::Source, NOW, "pv"),
                POP,
                Err(Refusal::HashFail),
            ),
            (
                "only K stored",
                tunnel("ayiya", "sha1:5ec7fae6e1e0bbc6ffb40837a5c26b2855dc7fba"),
                line(Sender::Source, NOW, "pw"),
                POP,
                Err(Refusal::NoPassword),
            ),
            (
                "sent to another PoP address",
                hb.clone(),
                line(Sender::Source, NOW, "pw"),
                Ipv4Addr::new(192, 0, 2, 99),
                Err(Refusal::WrongLocal),
            ),
        ];
        for (what, t, l, dest, want) in cases {
            let b = Beat::parse(l.as_bytes()).unwrap();
            assert_eq!(check(&b, &t, NAT, dest, NOW), want, "{what}");
        }
    }
}
