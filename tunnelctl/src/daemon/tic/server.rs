//! The TIC server's TCP side. Anyone who can reach the port can connect,
//! so every resource a connection takes is bounded: sessions at once
//! (more are told `400 too many connections` and closed), the length of a
//! line (a longer one is refused and the session closed), the time to the
//! next line and the time of the whole session, failed logins (each answer
//! delayed, the third closes the session), and the log lines it all makes.

use std::{
    io,
    net::SocketAddr,
    sync::{atomic::Ordering::Relaxed, Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rusqlite::Connection;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{tcp::OwnedWriteHalf, TcpListener, TcpStream},
    sync::Semaphore,
};
use tracing::{info, warn};

use super::{
    dialogue::{self, Event, Pop, Session},
    loglimit::LogLimit,
    Counters,
};
use crate::daemon::config::Config;

/// The longest line taken: AICCU's lines are under 200 bytes.
pub const MAX_LINE: usize = 1024;
/// How long a failed login's answer waits: guessing costs time.
const LOGIN_FAIL_DELAY: Duration = Duration::from_secs(1);
/// How long the server tries to say why it closes a connection.
const LAST_WORDS: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub line_timeout: Duration,
    pub session_timeout: Duration,
    pub max_line: usize,
}

impl Limits {
    pub fn from_config(c: &Config) -> Self {
        Self {
            max_connections: c.tic_max_connections as usize,
            line_timeout: Duration::from_secs(c.tic_line_timeout_s.into()),
            session_timeout: Duration::from_secs(c.tic_session_timeout_s.into()),
            max_line: MAX_LINE,
        }
    }
}

/// What every session shares.
struct Shared {
    pop: Arc<Pop>,
    dir: Arc<Mutex<Connection>>,
    limits: Limits,
    counters: Arc<Counters>,
    log: Mutex<LogLimit>,
}

impl Shared {
    /// Logs `msg` (a warning or not) unless the log cap is reached.
    fn log(&self, warning: bool, msg: std::fmt::Arguments) {
        let (ok, held) = self
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(Instant::now());
        if held > 0 {
            warn!("tic: {held} log lines held back in the last minute");
        }
        if ok && warning {
            warn!("tic: {msg}");
        } else if ok {
            info!("tic: {msg}");
        }
    }
}

pub async fn serve(
    listener: TcpListener,
    dir: Connection,
    pop: Pop,
    limits: Limits,
    counters: Arc<Counters>,
) {
    let shared = Arc::new(Shared {
        pop: Arc::new(pop),
        dir: Arc::new(Mutex::new(dir)),
        limits,
        counters,
        log: Mutex::new(LogLimit::new(20, Duration::from_secs(60), Instant::now())),
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, say: wait instead of spinning.
                shared.log(true, format_args!("accept: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(async move {
                    let _slot = slot;
                    run(stream, peer, &shared).await;
                });
            }
            Err(_) => {
                Counters::inc(&shared.counters.refused_too_many);
                shared.log(
                    true,
                    format_args!("{peer}: refused, {} sessions open", limits.max_connections),
                );
                tokio::spawn(async move {
                    let (_, mut wr) = stream.into_split();
                    last_words(&mut wr, dialogue::TOO_MANY_CONNECTIONS).await;
                });
            }
        }
    }
}

/// One session, from greeting to close, within the session's time.
async fn run(stream: TcpStream, peer: SocketAddr, sh: &Shared) {
    let c = &sh.counters;
    c.connections.fetch_add(1, Relaxed);
    Counters::inc(&c.sessions);
    // The gauge goes down however the session ends.
    struct Open<'a>(&'a Counters);
    impl Drop for Open<'_> {
        fn drop(&mut self) {
            self.0.connections.fetch_sub(1, Relaxed);
        }
    }
    let _open = Open(c);
    let local = stream
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(2048, rd);
    let session = Session::new(sh.pop.clone(), peer.ip(), local, challenge);
    let ended = tokio::time::timeout(
        sh.limits.session_timeout,
        dialogue_loop(&mut rd, &mut wr, session, peer, sh),
    )
    .await;
    match ended {
        Ok(Ok(())) => {}
        Ok(Err(e)) => sh.log(false, format_args!("{peer}: {e}")),
        Err(_) => {
            Counters::inc(&c.closed_session_time);
            sh.log(true, format_args!("{peer}: session time limit reached"));
            last_words(&mut wr, dialogue::SESSION_TIMEOUT).await;
        }
    }
}

async fn dialogue_loop<R: AsyncBufRead + Unpin>(
    rd: &mut R,
    wr: &mut OwnedWriteHalf,
    mut session: Session,
    peer: SocketAddr,
    sh: &Shared,
) -> io::Result<()> {
    let c = &sh.counters;
    send(wr, &[session.greeting()]).await?;
    let mut line = Vec::with_capacity(256);
    loop {
        let read = tokio::time::timeout(
            sh.limits.line_timeout,
            read_line(rd, &mut line, sh.limits.max_line),
        )
        .await;
        match read {
            Err(_) => {
                Counters::inc(&c.closed_idle);
                sh.log(false, format_args!("{peer}: idle, closed"));
                return send(wr, &[dialogue::IDLE_TIMEOUT.into()]).await;
            }
            Ok(Ok(Read::End)) => return Ok(()),
            Ok(Ok(Read::TooLong)) => {
                Counters::inc(&c.closed_line_too_long);
                sh.log(
                    true,
                    format_args!("{peer}: line over {} bytes, closed", sh.limits.max_line),
                );
                return send(wr, &[dialogue::too_long(sh.limits.max_line)]).await;
            }
            Ok(Ok(Read::Line)) => {}
            Ok(Err(e)) => return Err(e),
        }
        // The store is read off the runtime's threads.
        let dir = sh.dir.clone();
        let taken = std::mem::take(&mut line);
        let (s, taken, reply) = tokio::task::spawn_blocking(move || {
            let mut s = session;
            let d = dir.lock().unwrap_or_else(|p| p.into_inner());
            let r = s.handle(&taken, &*d, unix_now());
            (s, taken, r)
        })
        .await
        .map_err(io::Error::other)?;
        session = s;
        line = taken;
        match &reply.event {
            Event::None => {}
            Event::LoginOk { user } => {
                Counters::inc(&c.logins_ok);
                sh.log(false, format_args!("{peer}: {user} logged in"));
            }
            Event::LoginFailed { user } => {
                Counters::inc(&c.logins_failed);
                // The name as sent may be anything: quoted, never raw.
                sh.log(true, format_args!("{peer}: login failed for {user:?}"));
                tokio::time::sleep(LOGIN_FAIL_DELAY).await;
                if reply.close {
                    Counters::inc(&c.closed_login_failures);
                }
            }
            Event::BadLine => Counters::inc(&c.bad_lines),
            Event::Internal(e) => sh.log(true, format_args!("{peer}: store: {e}")),
        }
        send(wr, &reply.lines).await?;
        if reply.close {
            return Ok(());
        }
    }
}

/// What `read_line` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// A line (without its `\n`) is in the buffer.
    Line,
    /// More than the limit came without a newline: the session ends, so
    /// the rest is not read.
    TooLong,
    /// The client closed (a last line without its newline is a line).
    End,
}

/// Reads one line into `buf`, holding at most `max` bytes of it.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Read> {
    buf.clear();
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(if buf.is_empty() {
                Read::End
            } else {
                Read::Line
            });
        }
        let newline = avail.iter().position(|&b| b == b'\n');
        let chunk = &avail[..newline.unwrap_or(avail.len())];
        if buf.len() + chunk.len() > max {
            return Ok(Read::TooLong);
        }
        buf.extend_from_slice(chunk);
        let used = chunk.len() + usize::from(newline.is_some());
        r.consume(used);
        if newline.is_some() {
            return Ok(Read::Line);
        }
    }
}

async fn send(wr: &mut OwnedWriteHalf, lines: &[String]) -> io::Result<()> {
    let mut out = lines.join("\n");
    out.push('\n');
    wr.write_all(out.as_bytes()).await
}

/// One last line before closing, bounded in time (a client that reads
/// nothing does not hold the task).
async fn last_words(wr: &mut OwnedWriteHalf, line: &str) {
    let _ = tokio::time::timeout(LAST_WORDS, send(wr, &[line.to_owned()])).await;
    let _ = tokio::time::timeout(LAST_WORDS, wr.shutdown()).await;
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh challenge: 16 random bytes in hex (SixXS's and Nabla's form).
fn challenge() -> String {
    use std::io::Read as _;
    let mut b = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if random.is_err() {
        // Never seen on Linux; still unpredictable enough to a client
        // (nanoseconds and a stack address), and no panic.
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = format!("{n}{:p}", &b);
        return crate::tic::auth::md5hex(seed.as_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_capped() {
        let input: &[u8] = b"short\r\nexactly10!\n\nno newline at end";
        let mut r = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        loop {
            match read_line(&mut r, &mut buf, 10).await.unwrap() {
                Read::Line => got.push(String::from_utf8(buf.clone()).unwrap()),
                other => {
                    got.push(format!("{other:?}"));
                    break;
                }
            }
        }
        // The last line is 17 bytes without a newline: too long.
        assert_eq!(got, ["short\r", "exactly10!", "", "TooLong"]);
        let mut r = BufReader::new(&b"end"[..]);
        assert_eq!(read_line(&mut r, &mut buf, 10).await.unwrap(), Read::Line);
        assert_eq!(read_line(&mut r, &mut buf, 10).await.unwrap(), Read::End);
        // One byte over, in one read or across reads.
        for cap in [1, 3, 64] {
            let mut r = BufReader::with_capacity(cap, &b"0123456789A\n"[..]);
            assert_eq!(
                read_line(&mut r, &mut buf, 10).await.unwrap(),
                Read::TooLong
            );
        }
    }

    #[test]
    fn challenges_are_fresh_hex() {
        let (a, b) = (challenge(), challenge());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
