//! What an authenticated-looking update request gets, from the tunnel it
//! names as the store has it: pure (the store is read, and the change
//! made, by `change`).
//!
//! The order is the order of the answers: `nohost` before `badauth`, so
//! that a wrong key says nothing about tunnels that are not the user's
//! (unknown, another kind, another user's, or a user that does not exist:
//! all `nohost`); `abuse` for an owner past the request limit, before it
//! learns anything; `nochg` before the change limit, so that a client
//! repeating its address is never called abusive for it.

use std::{net::Ipv4Addr, time::Instant};

use super::{answer::Answer, key, limit::Limiter, request::Update};
use crate::api::TunnelKind;

/// What the decision needs of the tunnel the request names.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    pub kind: TunnelKind,
    pub owner: Option<&'a str>,
    /// The update key's stored form.
    pub key: Option<&'a str>,
    pub remote: Option<Ipv4Addr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Answer(Answer),
    /// Set the remote to the request's address (then `Limiter::changed`).
    Change,
}

pub fn decide(u: &Update, t: Option<&Facts>, limiter: &mut Limiter, now: Instant) -> Decision {
    let Some(t) = t.filter(|t| t.kind == TunnelKind::Sixin4 && t.owner == Some(u.user.as_str()))
    else {
        return Decision::Answer(Answer::Nohost);
    };
    if !t.key.is_some_and(|k| key::matches(k, &u.key)) {
        return Decision::Answer(Answer::Badauth);
    }
    if !limiter.request(u.tunnel, now) {
        return Decision::Answer(Answer::Abuse);
    }
    if t.remote == Some(u.ip) {
        return Decision::Answer(Answer::Nochg(u.ip));
    }
    if !limiter.may_change(u.tunnel, now) {
        return Decision::Answer(Answer::Abuse);
    }
    Decision::Change
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::daemon::update::limit::Limits;

    const KEY: &str = "0123456789abcdef";

    fn update(user: &str, key: &str, ip: &str) -> Update {
        Update {
            tunnel: 1,
            user: user.into(),
            key: key.as_bytes().to_vec(),
            ip: ip.parse().unwrap(),
            explicit: true,
        }
    }

    /// Every refusal from one tunnel's facts, and who gets which answer.
    #[test]
    fn who_gets_what() {
        let stored = key::stored(KEY).unwrap();
        let own = Facts {
            kind: TunnelKind::Sixin4,
            owner: Some("alice"),
            key: Some(&stored),
            remote: Some("198.51.100.7".parse().unwrap()),
        };
        let ayiya = Facts {
            kind: TunnelKind::Ayiya,
            remote: None,
            ..own
        };
        let keyless = Facts { key: None, ..own };
        let ownerless = Facts { owner: None, ..own };
        let nohost = Decision::Answer(Answer::Nohost);
        let badauth = Decision::Answer(Answer::Badauth);
        let table: &[(&str, Update, Option<&Facts>, Decision)] = &[
            (
                "new address",
                update("alice", KEY, "198.51.100.8"),
                Some(&own),
                Decision::Change,
            ),
            (
                "same address",
                update("alice", KEY, "198.51.100.7"),
                Some(&own),
                Decision::Answer(Answer::Nochg("198.51.100.7".parse().unwrap())),
            ),
            (
                "wrong key",
                update("alice", "0123456789abcdeX", "198.51.100.8"),
                Some(&own),
                badauth,
            ),
            (
                "no key set",
                update("alice", KEY, "198.51.100.8"),
                Some(&keyless),
                badauth,
            ),
            (
                "unknown tunnel",
                update("alice", KEY, "198.51.100.8"),
                None,
                nohost,
            ),
            (
                "another user's",
                update("bob", KEY, "198.51.100.8"),
                Some(&own),
                nohost,
            ),
            (
                "unknown user",
                update("mallory", "x", "198.51.100.8"),
                Some(&own),
                nohost,
            ),
            (
                "user names are exact",
                update("Alice", KEY, "198.51.100.8"),
                Some(&own),
                nohost,
            ),
            (
                "no owner",
                update("alice", KEY, "198.51.100.8"),
                Some(&ownerless),
                nohost,
            ),
            // Even with the right key: the kind is not the user's to learn.
            (
                "ayiya",
                update("alice", KEY, "198.51.100.8"),
                Some(&ayiya),
                nohost,
            ),
        ];
        for (what, u, facts, want) in table {
            let mut l = Limiter::new(super::super::limit::LIMITS);
            assert_eq!(decide(u, *facts, &mut l, Instant::now()), *want, "{what}");
        }
    }

    /// The limits apply to the owner only, `nochg` is never a change.
    #[test]
    fn limits() {
        let stored = key::stored(KEY).unwrap();
        let mut t = Facts {
            kind: TunnelKind::Sixin4,
            owner: Some("alice"),
            key: Some(&stored),
            remote: Some("198.51.100.7".parse().unwrap()),
        };
        let mut l = Limiter::new(Limits {
            requests: 4,
            window: Duration::from_secs(60),
            change_interval: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let to8 = update("alice", KEY, "198.51.100.8");
        assert_eq!(decide(&to8, Some(&t), &mut l, at(0)), Decision::Change);
        l.changed(1, at(0));
        t.remote = Some(to8.ip);
        // The same address again: nochg, however soon.
        assert_eq!(
            decide(&to8, Some(&t), &mut l, at(1)),
            Decision::Answer(Answer::Nochg(to8.ip))
        );
        // Another change within the interval: abuse, nothing to change.
        let to9 = update("alice", KEY, "198.51.100.9");
        assert_eq!(
            decide(&to9, Some(&t), &mut l, at(2)),
            Decision::Answer(Answer::Abuse)
        );
        // Strangers do not use up the owner's requests.
        for _ in 0..10 {
            let wrong = update("alice", "wrong-key-wrong-key", "198.51.100.9");
            assert_eq!(
                decide(&wrong, Some(&t), &mut l, at(3)),
                Decision::Answer(Answer::Badauth)
            );
        }
        // The fourth answered request in the window is the last.
        assert_eq!(
            decide(&to8, Some(&t), &mut l, at(4)),
            Decision::Answer(Answer::Nochg(to8.ip))
        );
        assert_eq!(
            decide(&to8, Some(&t), &mut l, at(5)),
            Decision::Answer(Answer::Abuse)
        );
        // A minute after the change, both limits have passed.
        assert_eq!(decide(&to9, Some(&t), &mut l, at(61)), Decision::Change);
    }
}
