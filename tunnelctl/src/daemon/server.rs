//! The API socket: one JSON request per line, answered by zero or more
//! progress lines and one final response. Only root, or members of the
//! configured group, may connect.

use std::{
    ffi::CString,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, TryLockError},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use tokio::{
    io::{AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::mpsc,
};
use tracing::{info, warn};

use super::{
    engine::Engine,
    lines::{read_line, Line, LIMITS},
};
use crate::{
    api::{Envelope, Request, Response, API_VERSION},
    error::Error,
};

/// How long a request waits for the engine (held by another request, say a
/// large apply) before it is answered `busy`: a script can retry, instead
/// of hanging on an operation it cannot see.
const BUSY_AFTER: Duration = Duration::from_secs(5);

/// The API socket's file, removed when dropped: at a clean stop, and when
/// a start fails after binding it.
pub struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Binds the API socket (before the daemon changes anything, so that a
/// socket in use stops a start early). Turned into a tokio listener with
/// `UnixListener::from_std` once the runtime runs.
pub fn bind(
    path: &Path,
    group: &str,
) -> Result<(std::os::unix::net::UnixListener, Option<u32>, SocketFile)> {
    let gid = if group.is_empty() {
        None
    } else {
        Some(group_id(group)?)
    };
    if path.exists() {
        // A live daemon answers; a stale socket from a crash does not.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{} is in use: is another daemon running?", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("binding {}", path.display()))?;
    let file = SocketFile(path.to_owned());
    listener.set_nonblocking(true)?;
    std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(if gid.is_some() { 0o660 } else { 0o600 }),
    )?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, Some(0), Some(gid))?;
    }
    Ok((listener, gid, file))
}

#[allow(unsafe_code)] // FFI: libc calls, each with a SAFETY note
fn group_id(name: &str) -> Result<u32> {
    let c = CString::new(name)?;
    // SAFETY: valid C string; the result is read at once.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    if g.is_null() {
        bail!("socket_group: no group named {name}");
    }
    // SAFETY: non-null pointer from getgrnam.
    Ok(unsafe { (*g).gr_gid })
}

pub async fn serve(listener: UnixListener, gid: Option<u32>, engine: Arc<Mutex<Engine>>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("api accept: {e}");
                continue;
            }
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, gid, engine).await {
                warn!("api connection: {e:#}");
            }
        });
    }
}

async fn connection(
    stream: UnixStream,
    gid: Option<u32>,
    engine: Arc<Mutex<Engine>>,
) -> Result<()> {
    let cred = stream.peer_cred()?;
    let (rd, mut wr) = stream.into_split();
    if cred.uid() != 0 && gid.is_none_or(|g| cred.gid() != g) {
        let e = Error::PermissionDenied(
            "permission denied: only root or the socket_group may use the API".into(),
        );
        write(&mut wr, &error(e)).await?;
        return Ok(());
    }
    let mut rd = BufReader::new(rd);
    let mut line = Vec::new();
    loop {
        let parsed = match read_line(&mut rd, &mut line, LIMITS).await? {
            Line::End => break,
            Line::Full => std::str::from_utf8(&line)
                .map_err(|e| Error::Invalid(format!("bad request: {e}")))
                .and_then(parse),
            Line::TooLong(limit) => Err(Error::Invalid(too_long(limit))),
        };
        let req = match parsed {
            Ok(r) => r,
            Err(e) => {
                write(&mut wr, &error(e)).await?;
                continue;
            }
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let engine = engine.clone();
        let work = tokio::task::spawn_blocking(move || match lock(&engine, BUSY_AFTER) {
            Ok(mut e) => super::handle(&mut e, req, &tx),
            Err(busy) => error(busy),
        });
        while let Some(p) = rx.recv().await {
            write(&mut wr, &p).await?;
        }
        let resp = work.await.context("request handler")?;
        write(&mut wr, &resp).await?;
    }
    Ok(())
}

fn too_long(limit: usize) -> String {
    let mib = |n: usize| n >> 20;
    if limit < LIMITS.apply {
        format!(
            "bad request: line longer than {} MiB, discarded (only apply may be longer, up to {} MiB)",
            mib(limit),
            mib(LIMITS.apply)
        )
    } else {
        format!(
            "bad request: apply line longer than {} MiB, discarded",
            mib(limit)
        )
    }
}

/// The version alone is read first, so a client of another version is
/// told that, not whatever its request's shape makes the parser say.
fn parse(line: &str) -> Result<Request, Error> {
    #[derive(serde::Deserialize)]
    struct Version {
        version: u32,
    }
    let v: Version = serde_json::from_str(line)
        .map_err(|e| Error::Invalid(format!("bad request (no API version): {e}")))?;
    if v.version != API_VERSION {
        return Err(Error::unsupported_version(v.version, API_VERSION));
    }
    let req: Envelope<Request> =
        serde_json::from_str(line).map_err(|e| Error::Invalid(format!("bad request: {e}")))?;
    Ok(req.body)
}

pub fn error(e: Error) -> Response {
    Response::Error {
        code: e.code(),
        message: e.to_string(),
    }
}

/// The engine, or `busy` if another request holds it for longer than
/// `wait`. A request that panicked leaves the engine usable: its store
/// transaction was rolled back when it unwound.
pub(crate) fn lock<T>(engine: &Mutex<T>, wait: Duration) -> Result<MutexGuard<'_, T>, Error> {
    let deadline = Instant::now() + wait;
    loop {
        match engine.try_lock() {
            Ok(g) => return Ok(g),
            Err(TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() >= deadline => {
                return Err(Error::Busy(format!(
                    "daemon busy: another operation has held it for {} s; retry later",
                    wait.as_secs()
                )))
            }
            // Polling keeps this a std Mutex, shared with the metrics
            // server; 2 ms is far below any operation's own cost.
            Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

async fn write(wr: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> Result<()> {
    let mut s = serde_json::to_string(&Envelope {
        version: API_VERSION,
        body: r,
    })?;
    s.push('\n');
    wr.write_all(s.as_bytes()).await?;
    Ok(())
}

pub fn log_listening(path: &Path) {
    info!(socket = %path.display(), "api listening");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorCode;

    #[test]
    fn requests_of_another_version_are_told_both_versions() {
        // A request another version could not even parse as ours.
        let other = format!(
            r#"{{"version":{},"request":"tunnel_add","tunnel":{{"id":1}}}}"#,
            API_VERSION + 1
        );
        let e = parse(&other).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnsupportedVersion);
        assert!(
            e.to_string().contains(&format!("version {API_VERSION}")),
            "{e}"
        );
        let e = parse(r#"{"request":"status"}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Invalid);
        let e = parse(&format!(
            r#"{{"version":{API_VERSION},"request":"frobnicate"}}"#
        ))
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Invalid);
        let ok = parse(&format!(
            r#"{{"version":{API_VERSION},"request":"status"}}"#
        ));
        assert!(matches!(ok, Ok(Request::Status)));
    }

    /// What a tunnelctl of API 1 reads: its own response type (no codes
    /// then) parses ours, and the message it prints names both versions.
    #[test]
    fn an_api_1_client_reads_the_refusal() {
        #[derive(serde::Deserialize)]
        #[serde(tag = "result", rename_all = "snake_case")]
        enum V1Response {
            Error { message: String },
        }
        #[derive(serde::Deserialize)]
        struct V1Envelope {
            #[serde(flatten)]
            body: V1Response,
        }
        let refusal = parse(r#"{"version":1,"request":"tunnel_list"}"#).unwrap_err();
        let line = serde_json::to_string(&Envelope {
            version: API_VERSION,
            body: error(refusal),
        })
        .unwrap();
        let V1Envelope {
            body: V1Response::Error { message },
        } = serde_json::from_str(&line).unwrap();
        assert!(
            message.contains("version 1 is not supported")
                && message.contains(&format!("version {API_VERSION}")),
            "{message}"
        );
    }

    #[test]
    fn a_held_engine_answers_busy() {
        let m = Mutex::new(0u32);
        let held = m.lock().unwrap();
        let e = lock(&m, Duration::from_millis(20)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Busy);
        drop(held);
        assert!(lock(&m, Duration::ZERO).is_ok());
        let r = error(e);
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.starts_with(r#"{"result":"error","code":"busy","message":"daemon busy"#),
            "{json}"
        );
    }
}
