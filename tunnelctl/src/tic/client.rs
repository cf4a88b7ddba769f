//! TIC's client side, for `tunnelctl client --tic`: the login AICCU does
//! (ayiya-spec.md §2.2: `client`, `get unixtime`, `username`, `challenge
//! md5`, `authenticate md5`), then `tunnel list` when no tunnel is named,
//! `tunnel show`, `QUIT`. Blocking, over any reader and writer, so it is
//! tested against the daemon's own dialogue on the host.

use std::{
    io::{BufRead, Write},
    net::Ipv6Addr,
};

use thiserror::Error;

use super::auth;

/// The longest reply line read (the server's own cap is the same), and
/// the most lines a list or show may have.
const MAX_LINE: usize = 1024;
const MAX_LINES: usize = 10_000;
/// AICCU's and sixxsd's clock tolerance (ayiya-spec.md §1.4).
pub const MAX_CLOCK_OFF: i64 = 120;

#[derive(Debug, Error)]
pub enum TicError {
    #[error("TIC server: {0}")]
    Io(#[from] std::io::Error),
    /// The server said something this client cannot follow.
    #[error("TIC server: {0}")]
    Protocol(String),
    #[error("TIC login as {user} failed: the server says \"{said}\"")]
    Login { user: String, said: String },
    #[error("the clock here is off by {0} s from the TIC server's (at most {MAX_CLOCK_OFF} s works: AYIYA and heartbeat check it); set the time")]
    Clock(i64),
    /// No tunnel, several, or the one named is not served.
    #[error("{0}")]
    Tunnel(String),
}

/// A tunnel as `tunnel show` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicTunnel {
    pub id: u32,
    /// `ayiya`, `6in4-heartbeat` or `6in4`.
    pub kind: String,
    pub ipv6_endpoint: Ipv6Addr,
    pub ipv6_pop: Ipv6Addr,
    pub prefix_len: u8,
    pub mtu: u16,
    /// The PoP's IPv4 address (or host name) for the tunnel.
    pub ipv4_pop: String,
    pub password: Option<String>,
    pub heartbeat_interval: u32,
    /// Both `UserState` and `AdminState` are `enabled`.
    pub enabled: bool,
}

/// Logs in as `user` and reads tunnel `want` (or the user's only one).
pub fn fetch<R: BufRead, W: Write>(
    rd: &mut R,
    wr: &mut W,
    user: &str,
    password: &[u8],
    want: Option<u32>,
    now: i64,
) -> Result<TicTunnel, TicError> {
    let mut c = Conn { rd, wr };
    c.expect_2("greeting")?;
    c.say(&format!(
        "client TIC/draft-00 tunnelctl/{} Linux",
        env!("CARGO_PKG_VERSION")
    ))?;
    c.expect_2("client")?;
    c.say("get unixtime")?;
    let t = c.expect_2("get unixtime")?;
    let theirs: i64 = t
        .trim()
        .parse()
        .map_err(|_| TicError::Protocol(format!("get unixtime: {t:?} is no time")))?;
    if (now - theirs).abs() > MAX_CLOCK_OFF {
        let _ = c.say("QUIT clock off");
        return Err(TicError::Clock(now - theirs));
    }
    c.say(&format!("username {user}"))?;
    c.expect_2("username")?;
    c.say("challenge md5")?;
    let challenge = c.expect_2("challenge md5")?.trim().to_owned();
    let resp = auth::response(&challenge, &auth::md5hex(password));
    c.say(&format!("authenticate md5 {resp}"))?;
    let line = c.line()?;
    if !line.starts_with('2') {
        return Err(TicError::Login {
            user: user.to_owned(),
            said: line,
        });
    }
    let id = match want {
        Some(id) => id,
        None => {
            c.say("tunnel list")?;
            let ids: Vec<u32> = c
                .list("tunnel list")?
                .iter()
                .map(|l| parse_list_line(l))
                .collect::<Result<_, _>>()?;
            match ids.as_slice() {
                [one] => *one,
                [] => {
                    let _ = c.say("QUIT no tunnels");
                    return Err(TicError::Tunnel(format!(
                        "user {user} has no tunnel this client can use on this TIC server"
                    )));
                }
                many => {
                    let _ = c.say("QUIT several tunnels");
                    let names: Vec<String> = many.iter().map(|i| format!("T{i}")).collect();
                    return Err(TicError::Tunnel(format!(
                        "user {user} has {} tunnels ({}): name one with --tunnel",
                        many.len(),
                        names.join(", ")
                    )));
                }
            }
        }
    };
    c.say(&format!("tunnel show T{id}"))?;
    let first = c.line()?;
    if !first.starts_with("201") {
        let _ = c.say("QUIT");
        return Err(TicError::Tunnel(format!(
            "tunnel T{id}: the server says \"{first}\""
        )));
    }
    let keys = c.until_202("tunnel show")?;
    let _ = c.say("QUIT tunnelctl is done");
    parse_show(id, &keys)
}

/// The tunnel id of a `tunnel list` line, `T<id> <ipv6> <ipv4> <pop>`.
pub fn parse_list_line(l: &str) -> Result<u32, TicError> {
    let f: Vec<&str> = l.split_whitespace().collect();
    match f.as_slice() {
        [id, _, _, _] => id
            .strip_prefix('T')
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| TicError::Protocol(format!("tunnel list line {l:?}"))),
        _ => Err(TicError::Protocol(format!(
            "tunnel list line {l:?}: not 4 fields"
        ))),
    }
}

/// `tunnel show`'s `Key: value` lines into a tunnel; the keys AICCU
/// needs must all be there (ayiya-spec.md §3).
pub fn parse_show(id: u32, lines: &[String]) -> Result<TicTunnel, TicError> {
    let get = |key: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
            .map(str::trim)
    };
    let need = |key: &str| {
        get(key).ok_or_else(|| TicError::Protocol(format!("tunnel show T{id}: no {key:?}")))
    };
    let parse = |key: &str| -> Result<u64, TicError> {
        need(key)?
            .parse()
            .map_err(|_| TicError::Protocol(format!("tunnel show T{id}: {key:?} is no number")))
    };
    let addr = |key: &str| -> Result<Ipv6Addr, TicError> {
        need(key)?.parse().map_err(|_| {
            TicError::Protocol(format!("tunnel show T{id}: {key:?} is no IPv6 address"))
        })
    };
    let number = |key: &str, max: u64| -> Result<u64, TicError> {
        let n = parse(key)?;
        if n > max {
            return Err(TicError::Protocol(format!(
                "tunnel show T{id}: {key:?} {n} is out of range"
            )));
        }
        Ok(n)
    };
    Ok(TicTunnel {
        id,
        kind: need("Type")?.to_owned(),
        ipv6_endpoint: addr("IPv6 Endpoint")?,
        ipv6_pop: addr("IPv6 POP")?,
        prefix_len: number("IPv6 PrefixLength", 128)? as u8,
        mtu: number("Tunnel MTU", u16::MAX.into())? as u16,
        ipv4_pop: need("IPv4 POP")?.to_owned(),
        password: get("Password").map(str::to_owned),
        heartbeat_interval: number("Heartbeat_Interval", 86_400)? as u32,
        enabled: need("UserState")? == "enabled" && need("AdminState")? == "enabled",
    })
}

struct Conn<'a, R, W> {
    rd: &'a mut R,
    wr: &'a mut W,
}

impl<R: BufRead, W: Write> Conn<'_, R, W> {
    fn say(&mut self, line: &str) -> Result<(), TicError> {
        self.wr.write_all(format!("{line}\n").as_bytes())?;
        self.wr.flush()?;
        Ok(())
    }

    /// One line, without its line end; the connection closing is an error.
    fn line(&mut self) -> Result<String, TicError> {
        let mut buf = Vec::new();
        let n = std::io::Read::take(self.rd.by_ref(), MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(TicError::Protocol("closed the connection".into()));
        }
        if buf.last() != Some(&b'\n') && n > MAX_LINE {
            return Err(TicError::Protocol(format!("a line over {MAX_LINE} bytes")));
        }
        let s = String::from_utf8_lossy(&buf);
        Ok(s.trim_end_matches(['\n', '\r']).to_owned())
    }

    /// A reply that must be a success; its text after the code.
    fn expect_2(&mut self, what: &str) -> Result<String, TicError> {
        let l = self.line()?;
        if !l.starts_with('2') {
            return Err(TicError::Protocol(format!("{what}: {l:?}")));
        }
        Ok(l.get(4..).unwrap_or("").to_owned())
    }

    /// `201`, lines, `202`: the lines.
    fn list(&mut self, what: &str) -> Result<Vec<String>, TicError> {
        let l = self.line()?;
        if !l.starts_with("201") {
            return Err(TicError::Protocol(format!("{what}: {l:?}")));
        }
        self.until_202(what)
    }

    fn until_202(&mut self, what: &str) -> Result<Vec<String>, TicError> {
        let mut out = Vec::new();
        loop {
            let l = self.line()?;
            if l.starts_with("202") {
                return Ok(out);
            }
            if out.len() >= MAX_LINES {
                return Err(TicError::Protocol(format!(
                    "{what}: over {MAX_LINES} lines"
                )));
            }
            out.push(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_keys() {
        let lines: Vec<String> = [
            "TunnelId: T1",
            "Type: ayiya",
            "IPv6 Endpoint: 2001:db8:1::2",
            "IPv6 POP: 2001:db8:1::1",
            "IPv6 PrefixLength: 64",
            "Tunnel MTU: 1280",
            "IPv4 Endpoint: ayiya",
            "IPv4 POP: 192.0.2.1",
            "UserState: enabled",
            "AdminState: enabled",
            "Password: pw with spaces",
            "Heartbeat_Interval: 60",
        ]
        .map(String::from)
        .to_vec();
        let t = parse_show(1, &lines).unwrap();
        assert_eq!(t.kind, "ayiya");
        assert_eq!(
            t.ipv6_endpoint,
            "2001:db8:1::2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!((t.prefix_len, t.mtu, t.heartbeat_interval), (64, 1280, 60));
        assert_eq!(t.password.as_deref(), Some("pw with spaces"));
        assert!(t.enabled);
        // Each needed key missing, or malformed: a clear refusal.
        for drop in [
            "Type",
            "IPv6 POP",
            "Tunnel MTU",
            "IPv4 POP",
            "UserState",
            "Heartbeat_Interval",
        ] {
            let less: Vec<String> = lines
                .iter()
                .filter(|l| !l.starts_with(drop))
                .cloned()
                .collect();
            let e = parse_show(1, &less).unwrap_err().to_string();
            assert!(e.contains(drop), "{drop}: {e}");
        }
        let mut bad = lines.clone();
        bad[5] = "Tunnel MTU: 99999".into();
        assert!(parse_show(1, &bad)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        bad[5] = "Tunnel MTU: x".into();
        assert!(parse_show(1, &bad)
            .unwrap_err()
            .to_string()
            .contains("no number"));
        let mut off = lines.clone();
        off[9] = "AdminState: disabled".into();
        assert!(!parse_show(1, &off).unwrap().enabled);
    }

    #[test]
    fn list_lines() {
        assert_eq!(parse_list_line("T12 2001:db8::2 ayiya pop01").unwrap(), 12);
        for bad in ["T12 2001:db8::2 ayiya", "12 a b c", "Tx a b c", ""] {
            assert!(parse_list_line(bad).is_err(), "{bad:?}");
        }
    }
}
