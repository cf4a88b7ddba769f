//! What `/nic/update` answers, and the counters of what it answered.
//!
//! dyndns2 clients (ddclient, OpenWrt's 6in4, routers) read the first word
//! of a `text/plain` body with status 200: `good <ip>` and `nochg <ip>`
//! are success, anything else failure, logged as it is. So every answer
//! about the update itself is a 200 with such a word; HTTP statuses are
//! kept for what is not an update request at all (another path, another
//! method) and for the authentication challenge.
//!
//! The words: dyndns2's own `good`, `nochg`, `badauth`, `nohost`,
//! `notfqdn`, `numhost`, `abuse` and `911` where their meaning fits; two
//! of our own where dyndns2 has none: `badip` (the address to set is not
//! one a 6in4 tunnel can send to) and `badrequest` (a query that cannot be
//! read).

use std::{
    net::Ipv4Addr,
    sync::atomic::{AtomicU64, Ordering},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The remote was changed to this address.
    Good(Ipv4Addr),
    /// The remote already was this address: nothing changed.
    Nochg(Ipv4Addr),
    /// No usable credentials at all: 401 with a Basic challenge, which
    /// clients that send credentials only when asked (OpenWrt's
    /// uclient-fetch) need before they send them.
    Unauthenticated,
    /// Credentials given, and they do not unlock this tunnel (wrong key,
    /// or the tunnel has none).
    Badauth,
    /// No static 6in4 tunnel of this id belongs to this user: the same
    /// word whether it does not exist, is of another kind or is another
    /// user's, so that nobody learns about tunnels that are not theirs.
    Nohost,
    /// The tunnel's rate limit: too many requests, or a second change too
    /// soon after the last one.
    Abuse,
    /// `hostname` missing, empty or not a tunnel id (dyndns2: "not a fully
    /// qualified domain name"; here the name is the tunnel id).
    Notfqdn,
    /// More than one hostname (dyndns2 allows lists; one tunnel a request
    /// here).
    Numhost,
    /// The address to set (`myip`, else the client's) is not a unicast
    /// IPv4 address, or another tunnel on the same PoP address has it.
    Badip,
    /// A query that cannot be read: bad percent-encoding, a parameter
    /// given twice.
    Badrequest,
    /// Ours: the store or the data path failed, or the daemon is busy
    /// (dyndns2's "server problem, retry later").
    Internal,
    /// Another path: 404.
    NotFound,
    /// Another method on `/nic/update`: 405.
    MethodNotAllowed,
}

/// The realm of the Basic challenge.
pub const REALM: &str = "tunnel update";

impl Answer {
    pub fn status(self) -> u16 {
        match self {
            Answer::Unauthenticated => 401,
            Answer::NotFound => 404,
            Answer::MethodNotAllowed => 405,
            _ => 200,
        }
    }

    /// The body, one line.
    pub fn body(self) -> String {
        match self {
            Answer::Good(ip) => format!("good {ip}\n"),
            Answer::Nochg(ip) => format!("nochg {ip}\n"),
            Answer::Unauthenticated | Answer::Badauth => "badauth\n".into(),
            Answer::Nohost => "nohost\n".into(),
            Answer::Abuse => "abuse\n".into(),
            Answer::Notfqdn => "notfqdn\n".into(),
            Answer::Numhost => "numhost\n".into(),
            Answer::Badip => "badip\n".into(),
            Answer::Badrequest => "badrequest\n".into(),
            Answer::Internal => "911\n".into(),
            Answer::NotFound => "not found: the update URL is /nic/update\n".into(),
            Answer::MethodNotAllowed => "method not allowed: use GET\n".into(),
        }
    }

    /// The counter it adds to.
    pub fn result(self) -> Outcome {
        match self {
            Answer::Good(_) => Outcome::Good,
            Answer::Nochg(_) => Outcome::Nochg,
            Answer::Unauthenticated | Answer::Badauth => Outcome::Badauth,
            Answer::Nohost => Outcome::Nohost,
            Answer::Abuse => Outcome::Abuse,
            Answer::Internal => Outcome::Error,
            Answer::Notfqdn
            | Answer::Numhost
            | Answer::Badip
            | Answer::Badrequest
            | Answer::NotFound
            | Answer::MethodNotAllowed => Outcome::Bad,
        }
    }
}

/// What `/metrics` counts requests by (`tunnelpop_updates_total{result}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Good,
    Nochg,
    Badauth,
    Nohost,
    Abuse,
    /// Not a request that could update anything: malformed, another path
    /// or method, over the size limit.
    Bad,
    /// 911.
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Good,
        Outcome::Nochg,
        Outcome::Badauth,
        Outcome::Nohost,
        Outcome::Abuse,
        Outcome::Bad,
        Outcome::Error,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Good => "good",
            Outcome::Nochg => "nochg",
            Outcome::Badauth => "badauth",
            Outcome::Nohost => "nohost",
            Outcome::Abuse => "abuse",
            Outcome::Bad => "bad",
            Outcome::Error => "error",
        }
    }
}

/// Requests answered, by outcome; shared by the server and `/metrics`.
#[derive(Debug, Default)]
pub struct Counters([AtomicU64; Outcome::ALL.len()]);

impl Counters {
    pub fn add(&self, o: Outcome) {
        self.0[o as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, o: Outcome) -> u64 {
        self.0[o as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_statuses() {
        let ip = Ipv4Addr::new(198, 51, 100, 7);
        let table = [
            (Answer::Good(ip), 200, "good 198.51.100.7\n", "good"),
            (Answer::Nochg(ip), 200, "nochg 198.51.100.7\n", "nochg"),
            (Answer::Unauthenticated, 401, "badauth\n", "badauth"),
            (Answer::Badauth, 200, "badauth\n", "badauth"),
            (Answer::Nohost, 200, "nohost\n", "nohost"),
            (Answer::Abuse, 200, "abuse\n", "abuse"),
            (Answer::Notfqdn, 200, "notfqdn\n", "bad"),
            (Answer::Numhost, 200, "numhost\n", "bad"),
            (Answer::Badip, 200, "badip\n", "bad"),
            (Answer::Badrequest, 200, "badrequest\n", "bad"),
            (Answer::Internal, 200, "911\n", "error"),
        ];
        for (a, status, body, counter) in table {
            assert_eq!(
                (a.status(), a.body().as_str(), a.result().name()),
                (status, body, counter),
                "{a:?}"
            );
        }
        assert_eq!(Answer::NotFound.status(), 404);
        assert_eq!(Answer::MethodNotAllowed.status(), 405);
    }

    #[test]
    fn counters_count_each_outcome_apart() {
        let c = Counters::default();
        c.add(Outcome::Good);
        c.add(Outcome::Bad);
        c.add(Outcome::Bad);
        let got: Vec<u64> = Outcome::ALL.iter().map(|o| c.get(*o)).collect();
        assert_eq!(got, [1, 0, 0, 0, 0, 2, 0]);
    }
}
