//! API request lines, read with a cap on their length: what one line can
//! make the daemon buffer. A longer line is read to its end and dropped, so
//! the client gets an error and the next line is read as usual.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How long a request line may be. Every request but `apply` is a few
/// hundred bytes; an `apply` carries the whole desired state (131,072
/// tunnels with routed prefixes is about 30 MB).
#[derive(Clone, Copy, Debug)]
pub struct LineLimits {
    pub line: usize,
    pub apply: usize,
}

pub const LIMITS: LineLimits = LineLimits {
    line: 1 << 20,
    apply: 64 << 20,
};

/// What `read_line` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line (without its newline) is in the buffer.
    Full,
    /// The line was longer than the limit (given): it was read and dropped
    /// without being kept, so the next line is read as usual.
    TooLong(usize),
    /// The client closed the connection.
    End,
}

/// Reads one line into `buf`, keeping at most `limits.line` bytes, or
/// `limits.apply` when the line is an `apply` request.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limits: LineLimits,
) -> std::io::Result<Line> {
    buf.clear();
    let mut limit = limits.line;
    let mut dropped = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            // A last line without its newline still counts, as with lines().
            return Ok(match (dropped, buf.is_empty()) {
                (true, _) => Line::TooLong(limit),
                (false, true) => Line::End,
                (false, false) => Line::Full,
            });
        }
        let newline = avail.iter().position(|&b| b == b'\n');
        let chunk = &avail[..newline.unwrap_or(avail.len())];
        let used = chunk.len() + usize::from(newline.is_some());
        if !dropped {
            buf.extend_from_slice(chunk);
            if buf.len() > limit && limit < limits.apply && is_apply(buf) {
                limit = limits.apply;
            }
            if buf.len() > limit {
                dropped = true;
                *buf = Vec::new();
            }
        }
        r.consume(used);
        if newline.is_some() {
            return Ok(if dropped {
                Line::TooLong(limit)
            } else {
                Line::Full
            });
        }
    }
}

/// Whether a request line is an `apply`, from its first bytes: tunnelctl
/// writes `{"version":N,"request":"apply",...`. A client that puts the
/// `request` key late gets the smaller limit, never an unbounded one.
fn is_apply(line: &[u8]) -> bool {
    let head = &line[..line.len().min(256)];
    let key = b"\"request\"";
    let Some(at) = head.windows(key.len()).position(|w| w == key) else {
        return false;
    };
    let rest = head[at + key.len()..].trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b":") else {
        return false;
    };
    rest.trim_ascii_start().starts_with(b"\"apply\"")
}

#[cfg(test)]
mod tests {
    use tokio::io::BufReader;

    use super::*;

    const SMALL: LineLimits = LineLimits {
        line: 32,
        apply: 64,
    };

    /// Every line `read_line` finds in `input`, read through a small buffer
    /// so lines span several reads.
    fn lines(input: &[u8]) -> Vec<(Line, String)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut r = BufReader::with_capacity(7, input);
            let mut buf = Vec::new();
            let mut out = Vec::new();
            loop {
                let l = read_line(&mut r, &mut buf, SMALL).await.unwrap();
                if l == Line::End {
                    return out;
                }
                out.push((l, String::from_utf8(buf.clone()).unwrap()));
            }
        })
    }

    #[test]
    fn long_lines_are_dropped_and_the_next_line_is_read() {
        let long = "x".repeat(100);
        let input = format!("{{\"a\":1}}\n{long}\n{{\"b\":2}}\nlast");
        let got = lines(input.as_bytes());
        assert_eq!(
            got,
            [
                (Line::Full, "{\"a\":1}".into()),
                (Line::TooLong(32), String::new()),
                (Line::Full, "{\"b\":2}".into()),
                (Line::Full, "last".into()),
            ]
        );
        // Exactly the limit is fine; one more byte is not.
        let got = lines(format!("{}\n{}", "y".repeat(32), "y".repeat(33)).as_bytes());
        assert_eq!(got[0].0, Line::Full);
        assert_eq!(got[1].0, Line::TooLong(32));
    }

    #[test]
    fn apply_gets_the_larger_limit() {
        let pad = |n: usize| "z".repeat(n);
        let apply = format!(
            "{{\"version\":2,\"request\": \"apply\",\"s\":\"{}\"}}",
            pad(20)
        );
        assert!(apply.len() > 32 && apply.len() <= 64);
        let status = format!(
            "{{\"version\":2,\"request\":\"status\",\"s\":\"{}\"}}",
            pad(20)
        );
        let huge = format!(
            "{{\"version\":2,\"request\":\"apply\",\"s\":\"{}\"}}",
            pad(60)
        );
        let got = lines(format!("{apply}\n{status}\n{huge}\n").as_bytes());
        assert_eq!(got[0], (Line::Full, apply));
        assert_eq!(got[1].0, Line::TooLong(32));
        assert_eq!(got[2].0, Line::TooLong(64));
    }
}
