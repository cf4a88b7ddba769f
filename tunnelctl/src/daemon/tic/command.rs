//! One TIC line → one command (ayiya-spec.md §2.2). Keywords are matched
//! without regard to case (AICCU sends `QUIT`, the rest in lower case);
//! arguments are kept as sent. Pure: tested on the host.

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `client <identity>`: who the client says it is (informational).
    Client(&'a str),
    GetUnixtime,
    Starttls,
    /// `username <name>`; `None` when the name is missing.
    Username(Option<&'a str>),
    /// `challenge <type>`: only `md5` is served.
    Challenge(&'a str),
    /// `authenticate <method> <response>`.
    Authenticate {
        method: &'a str,
        response: &'a str,
    },
    TunnelList,
    /// `tunnel show <T-id>` as given (checked by the dialogue).
    TunnelShow(&'a str),
    RouteList,
    PopList,
    PopShow(&'a str),
    /// `QUIT` with anything after it (AICCU sends a song title).
    Quit,
    /// Nothing but blanks.
    Empty,
    /// Bytes that are not printable text (controls, invalid UTF-8).
    Garbage,
    /// A command this server does not know, or one missing an argument.
    Unknown,
}

/// Parses one line, its line end already removed (a trailing `\r` is
/// tolerated, as AICCU's reader does).
pub fn parse(line: &[u8]) -> Command<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(text) = std::str::from_utf8(line) else {
        return Command::Garbage;
    };
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return Command::Garbage;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let lower: Vec<String> = words
        .iter()
        .take(2)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let kw: Vec<&str> = lower.iter().map(String::as_str).collect();
    match (kw.as_slice(), words.len()) {
        ([], _) => Command::Empty,
        (["client", ..], n) if n >= 2 => Command::Client(rest(text, 1)),
        (["get", "unixtime"], 2) => Command::GetUnixtime,
        (["starttls"], 1) => Command::Starttls,
        (["username"], 1) => Command::Username(None),
        (["username", ..], 2) => Command::Username(Some(words[1])),
        (["challenge", ..], 2) => Command::Challenge(words[1]),
        (["authenticate", ..], 3) => Command::Authenticate {
            method: words[1],
            response: words[2],
        },
        (["tunnel", "list"], 2) => Command::TunnelList,
        (["tunnel", "show"], 3) => Command::TunnelShow(words[2]),
        (["route", "list"], 2) => Command::RouteList,
        (["pop", "list"], 2) => Command::PopList,
        (["pop", "show"], 3) => Command::PopShow(words[2]),
        (["quit", ..], _) => Command::Quit,
        _ => Command::Unknown,
    }
}

/// `text` from its `n`th word on.
fn rest(text: &str, n: usize) -> &str {
    let mut t = text.trim_start();
    for _ in 0..n {
        t = t
            .find(char::is_whitespace)
            .map_or("", |i| &t[i..])
            .trim_start();
    }
    t.trim_end()
}

/// A tunnel named as TIC names it, `T<id>` (`t` too); plain digits are
/// taken as well, as a person at a telnet prompt types them.
pub fn tunnel_id(s: &str) -> Option<u32> {
    let digits = s.strip_prefix(['T', 't']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What AICCU 2007.01.15 sends, line by line (ayiya-spec.md §2.2),
    /// and the edges around it.
    #[test]
    fn lines() {
        use Command::*;
        let table: &[(&[u8], Command)] = &[
            (
                b"client TIC/draft-00 AICCU/2007.01.15-console-linux Linux/6.1.0",
                Client("TIC/draft-00 AICCU/2007.01.15-console-linux Linux/6.1.0"),
            ),
            (b"get unixtime", GetUnixtime),
            (b"get unixtime\r", GetUnixtime),
            (b"GET UNIXTIME", GetUnixtime),
            (b"get time", Unknown),
            (b"starttls", Starttls),
            (b"username JOHN1-SIXXS", Username(Some("JOHN1-SIXXS"))),
            (b"username", Username(None)),
            (b"username a b", Unknown),
            (b"challenge md5", Challenge("md5")),
            (b"challenge", Unknown),
            (
                b"authenticate md5 fd3ce42d9f43195445e35d9862b4c331",
                Authenticate {
                    method: "md5",
                    response: "fd3ce42d9f43195445e35d9862b4c331",
                },
            ),
            (b"authenticate md5", Unknown),
            (b"tunnel list", TunnelList),
            (b"tunnel show T12", TunnelShow("T12")),
            (b"tunnel show", Unknown),
            (b"tunnel delete T12", Unknown),
            (b"route list", RouteList),
            (b"pop list", PopList),
            (b"pop show pop01", PopShow("pop01")),
            (b"QUIT Flight of the Bumblebee", Quit),
            (b"quit", Quit),
            (b"", Empty),
            (b"   \t ", Empty),
            (b"\r", Empty),
            (b"tunnel\x00list", Garbage),
            (b"\x1b[A", Garbage),
            (b"\xff\xfe", Garbage),
            (b"helo example", Unknown),
            (b"  tunnel   list  ", TunnelList),
        ];
        for (line, want) in table {
            assert_eq!(&parse(line), want, "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn tunnel_ids() {
        for (s, want) in [
            ("T12", Some(12)),
            ("t12", Some(12)),
            ("12", Some(12)),
            ("T0", Some(0)),
            ("T4294967295", Some(u32::MAX)),
            ("T4294967296", None),
            ("T", None),
            ("T-1", None),
            ("T+1", None),
            ("T1x", None),
            ("TT1", None),
            ("", None),
        ] {
            assert_eq!(tunnel_id(s), want, "{s:?}");
        }
    }

    /// Any bytes at all: a command or a refusal, never a panic.
    #[test]
    fn any_bytes_parse() {
        use proptest::prelude::*;
        proptest!(|(line in proptest::collection::vec(any::<u8>(), 0..300))| {
            let _ = parse(&line);
        });
    }
}
