//! A `/nic/update` request read into what the update needs, or the answer
//! that refuses it, before anything is looked up: pure, over what the HTTP
//! server hands over (so every refusal is tested without a socket).
//!
//! The order of the checks is the order of the answers a client sees:
//! not an update request (404, 405); no credentials (401 `badauth`); a
//! query that names no single tunnel (`notfqdn`, `numhost`, `badrequest`);
//! no address a tunnel can use (`badip`). Only then is the store asked
//! (`decide`).

use std::net::{IpAddr, Ipv4Addr};

use base64::Engine as _;

use super::answer::Answer;
use crate::daemon::validate;

pub const PATH: &str = "/nic/update";

/// What the HTTP server saw of a request.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The value of each `Authorization` header (normally one).
    pub authorization: &'a [&'a [u8]],
    /// The last `X-Real-IP` and `X-Forwarded-For` header values, read
    /// only when the operator trusts them (`update_trust_forwarded`).
    pub forwarded: Option<Forwarded<'a>>,
    /// The TCP peer.
    pub peer: IpAddr,
}

/// What a reverse proxy says the client's address is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Forwarded<'a> {
    pub real_ip: Option<&'a [u8]>,
    pub forwarded_for: Option<&'a [u8]>,
}

/// A request that may update: who asks, for which tunnel, to which address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub tunnel: u32,
    pub user: String,
    /// The update key as given (compared by its hash, never logged).
    pub key: Vec<u8>,
    pub ip: Ipv4Addr,
    /// The address came from `myip` (else: from the client's address).
    pub explicit: bool,
}

pub fn parse(r: &Incoming) -> Result<Update, Answer> {
    if r.path != PATH {
        return Err(Answer::NotFound);
    }
    let creds = credentials(r.authorization);
    match r.method {
        "GET" => {}
        // uclient-fetch (OpenWrt) probes with HEAD and no credentials, and
        // sends them with the real request once challenged.
        "HEAD" if creds.is_none() => return Err(Answer::Unauthenticated),
        _ => return Err(Answer::MethodNotAllowed),
    }
    let (user, key) = creds.ok_or(Answer::Unauthenticated)?;
    let q = query(r.query.unwrap_or(""))?;
    let (ip, explicit) = match q.myip {
        Some(ip) => (ip, true),
        None => (client(r)?, false),
    };
    validate::remote_address(ip).map_err(|_| Answer::Badip)?;
    Ok(Update {
        tunnel: q.tunnel,
        user,
        key,
        ip,
        explicit,
    })
}

/// HTTP Basic (RFC 7617): one `Authorization: Basic <base64 of
/// user:key>`. Anything else is no credentials. The user name is UTF-8;
/// the key is bytes (only its hash is compared).
fn credentials(headers: &[&[u8]]) -> Option<(String, Vec<u8>)> {
    let [value] = headers else {
        return None;
    };
    // A value longer than any user and key we accept is not worth decoding.
    if value.len() > 1024 {
        return None;
    }
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let colon = raw.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(raw[..colon].to_vec()).ok()?;
    Some((user, raw[colon + 1..].to_vec()))
}

struct Query {
    tunnel: u32,
    myip: Option<Ipv4Addr>,
}

/// `hostname` (the tunnel id) and `myip`; other parameters, which dyndns2
/// clients send (`system`, `wildcard`, `mx`, `backmx`, `offline`), are
/// ignored as dyndns2 servers ignore what does not apply.
fn query(q: &str) -> Result<Query, Answer> {
    let (mut hostnames, mut myips) = (Vec::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        match &*k {
            "hostname" => hostnames.push(v),
            "myip" => myips.push(v),
            _ => {}
        }
    }
    let tunnel = match hostnames.as_slice() {
        [] => return Err(Answer::Notfqdn),
        [h] if h.contains(',') => return Err(Answer::Numhost),
        [h] => tunnel_id(h).ok_or(Answer::Notfqdn)?,
        _ => return Err(Answer::Numhost),
    };
    let myip = match myips.as_slice() {
        // Empty: as if absent (some clients send `myip=` when they let the
        // server see the address).
        [] => None,
        [m] if m.is_empty() => None,
        [m] => Some(m.parse::<Ipv4Addr>().map_err(|_| Answer::Badip)?),
        _ => return Err(Answer::Badrequest),
    };
    Ok(Query { tunnel, myip })
}

/// A tunnel id as users write it: `123` or `T123` (SixXS and TIC style).
pub fn tunnel_id(s: &str) -> Option<u32> {
    let digits = s
        .strip_prefix('T')
        .or_else(|| s.strip_prefix('t'))
        .unwrap_or(s);
    // u32's parser also takes a leading '+'.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The client's IPv4 address: the TCP peer, or what the trusted reverse
/// proxy says (`X-Real-IP`, else the last `X-Forwarded-For` entry: the one
/// the proxy itself appended; those before it are whatever the client
/// wrote). Behind a trusted proxy, a request without either has no client
/// address: `badip`, never the proxy's own address.
fn client(r: &Incoming) -> Result<Ipv4Addr, Answer> {
    let ip = match r.forwarded {
        None => r.peer,
        Some(f) => {
            let text = match (f.real_ip, f.forwarded_for) {
                (Some(v), _) => v,
                (None, Some(list)) => list.rsplit(|&b| b == b',').next().unwrap_or(list),
                (None, None) => return Err(Answer::Badip),
            };
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.trim().parse::<IpAddr>().ok())
                .ok_or(Answer::Badip)?
        }
    };
    match ip {
        IpAddr::V4(v4) => Ok(v4),
        // A dual-stack listener sees IPv4 clients as mapped addresses.
        IpAddr::V6(v6) => v6.to_ipv4_mapped().ok_or(Answer::Badip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "203.0.113.9";
    /// `user1:0123456789abcdef`
    const AUTH: &[u8] = b"Basic dXNlcjE6MDEyMzQ1Njc4OWFiY2RlZg==";

    fn get(query: &str) -> Result<Update, Answer> {
        parse(&Incoming {
            method: "GET",
            path: PATH,
            query: Some(query),
            authorization: &[AUTH],
            forwarded: None,
            peer: PEER.parse().unwrap(),
        })
    }

    fn update(tunnel: u32, ip: &str, explicit: bool) -> Result<Update, Answer> {
        Ok(Update {
            tunnel,
            user: "user1".into(),
            key: b"0123456789abcdef".to_vec(),
            ip: ip.parse().unwrap(),
            explicit,
        })
    }

    /// Queries as clients send them, and what each becomes.
    #[test]
    fn queries() {
        let table: &[(&str, Result<Update, Answer>)] = &[
            ("hostname=1", update(1, PEER, false)),
            ("hostname=T123", update(123, PEER, false)),
            (
                "hostname=t7&myip=198.51.100.7",
                update(7, "198.51.100.7", true),
            ),
            // ddclient's dyndns2 request: the extra parameters are ignored.
            (
                "system=dyndns&hostname=42&myip=198.51.100.7&wildcard=OFF&mx=&backmx=NO",
                update(42, "198.51.100.7", true),
            ),
            (
                "hostname=%54%31&myip=198.51.100.7",
                update(1, "198.51.100.7", true),
            ),
            ("hostname=1&myip=", update(1, PEER, false)),
            ("hostname=4294967295", update(u32::MAX, PEER, false)),
            ("", Err(Answer::Notfqdn)),
            ("myip=198.51.100.7", Err(Answer::Notfqdn)),
            ("hostname=", Err(Answer::Notfqdn)),
            ("hostname=T", Err(Answer::Notfqdn)),
            ("hostname=+1", Err(Answer::Notfqdn)),
            ("hostname=-1", Err(Answer::Notfqdn)),
            ("hostname=T1x", Err(Answer::Notfqdn)),
            ("hostname=1.tunnel.example", Err(Answer::Notfqdn)),
            ("hostname=4294967296", Err(Answer::Notfqdn)),
            ("hostname=%ff", Err(Answer::Notfqdn)),
            ("hostname=1,2", Err(Answer::Numhost)),
            ("hostname=1&hostname=2", Err(Answer::Numhost)),
            ("hostname=1&myip=2001:db8::7", Err(Answer::Badip)),
            ("hostname=1&myip=198.51.100", Err(Answer::Badip)),
            ("hostname=1&myip=198.051.100.7", Err(Answer::Badip)),
            ("hostname=1&myip=example.net", Err(Answer::Badip)),
            ("hostname=1&myip=0.0.0.0", Err(Answer::Badip)),
            ("hostname=1&myip=127.0.0.1", Err(Answer::Badip)),
            ("hostname=1&myip=224.0.0.1", Err(Answer::Badip)),
            ("hostname=1&myip=255.255.255.255", Err(Answer::Badip)),
            (
                "hostname=1&myip=198.51.100.7&myip=198.51.100.8",
                Err(Answer::Badrequest),
            ),
        ];
        for (q, want) in table {
            assert_eq!(&get(q), want, "{q:?}");
        }
    }

    #[test]
    fn paths_methods_and_credentials() {
        let base = Incoming {
            method: "GET",
            path: PATH,
            query: Some("hostname=1"),
            authorization: &[AUTH],
            forwarded: None,
            peer: PEER.parse().unwrap(),
        };
        assert!(parse(&base).is_ok());
        let with = |f: &dyn Fn(&mut Incoming)| {
            let mut r = base;
            f(&mut r);
            parse(&r).unwrap_err()
        };
        assert_eq!(with(&|r| r.path = "/"), Answer::NotFound);
        assert_eq!(with(&|r| r.path = "/nic/update/"), Answer::NotFound);
        assert_eq!(with(&|r| r.method = "POST"), Answer::MethodNotAllowed);
        assert_eq!(with(&|r| r.method = "HEAD"), Answer::MethodNotAllowed);
        assert_eq!(
            with(&|r| {
                r.method = "HEAD";
                r.authorization = &[];
            }),
            Answer::Unauthenticated
        );
        // The challenge comes before the query is read.
        assert_eq!(
            with(&|r| {
                r.authorization = &[];
                r.query = None;
            }),
            Answer::Unauthenticated
        );
        let bad_auth: &[&[u8]] = &[
            b"Bearer dXNlcjE6MDEyMzQ1Njc4OWFiY2RlZg==",
            b"Basic",
            b"Basic !!!",
            // "user1" without a colon.
            b"Basic dXNlcjE=",
            // A user name that is not UTF-8: 0xff ':' 'k'.
            b"Basic /zpr",
        ];
        for a in bad_auth {
            let one = [*a];
            let mut r = base;
            r.authorization = &one;
            assert_eq!(
                parse(&r),
                Err(Answer::Unauthenticated),
                "{}",
                String::from_utf8_lossy(a)
            );
        }
        let two = [AUTH, AUTH];
        let mut r = base;
        r.authorization = &two;
        assert_eq!(parse(&r), Err(Answer::Unauthenticated));
        // The scheme is case-insensitive; an empty key is a key (that
        // matches nothing).
        let one: [&[u8]; 1] = [b"basic dXNlcjE6"];
        r.authorization = &one;
        let u = parse(&r).unwrap();
        assert_eq!((u.user.as_str(), u.key.as_slice()), ("user1", &b""[..]));
    }

    #[test]
    fn the_client_address() {
        let mut r = Incoming {
            method: "GET",
            path: PATH,
            query: Some("hostname=1"),
            authorization: &[AUTH],
            forwarded: None,
            peer: "::ffff:198.51.100.7".parse().unwrap(),
        };
        assert_eq!(parse(&r).unwrap().ip.to_string(), "198.51.100.7");
        r.peer = "2001:db8::7".parse().unwrap();
        assert_eq!(parse(&r), Err(Answer::Badip));
        // A local reverse proxy that is not trusted: its loopback address
        // is no endpoint.
        r.peer = "127.0.0.1".parse().unwrap();
        assert_eq!(parse(&r), Err(Answer::Badip));
        let ip = |f: Forwarded| {
            let mut r = r;
            r.forwarded = Some(f);
            parse(&r).map(|u| u.ip.to_string())
        };
        let f = |real: Option<&'static str>, xff: Option<&'static str>| Forwarded {
            real_ip: real.map(str::as_bytes),
            forwarded_for: xff.map(str::as_bytes),
        };
        assert_eq!(ip(f(Some("198.51.100.8"), None)), Ok("198.51.100.8".into()));
        assert_eq!(
            ip(f(Some(" 198.51.100.8 "), Some("192.0.2.99"))),
            Ok("198.51.100.8".into())
        );
        // The proxy's entry is the last one; the client wrote the others.
        assert_eq!(
            ip(f(None, Some("192.0.2.99, 198.51.100.9"))),
            Ok("198.51.100.9".into())
        );
        assert_eq!(ip(f(None, None)), Err(Answer::Badip));
        assert_eq!(ip(f(Some("2001:db8::9"), None)), Err(Answer::Badip));
        assert_eq!(ip(f(None, Some("198.51.100.9, junk"))), Err(Answer::Badip));
        // myip wins over every source.
        r.query = Some("hostname=1&myip=198.51.100.10");
        assert_eq!(parse(&r).unwrap().ip.to_string(), "198.51.100.10");
    }
}
