//! The API socket: one JSON request per line, answered by zero or more
//! progress lines and one final response. Only root, or members of the
//! configured group, may connect.

use std::{
    ffi::CString,
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::{Arc, Mutex},
};

use anyhow::{bail, Context, Result};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::mpsc,
};
use tracing::{info, warn};

use super::engine::Engine;
use crate::api::{Envelope, Request, Response, API_VERSION};

/// Bytes read from one connection, all its requests together (an `apply`
/// of ~100k tunnels fits); bounds what a client can make the daemon buffer.
const MAX_REQUEST: usize = 64 << 20;

pub fn bind(path: &Path, group: &str) -> Result<(UnixListener, Option<u32>)> {
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
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    let gid = if group.is_empty() {
        None
    } else {
        Some(group_id(group)?)
    };
    std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(if gid.is_some() { 0o660 } else { 0o600 }),
    )?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, Some(0), Some(gid))?;
    }
    Ok((listener, gid))
}

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
        let r = Response::Error {
            message: "permission denied: only root or the socket_group may use the API".into(),
        };
        write(&mut wr, &r).await?;
        return Ok(());
    }
    let mut lines = BufReader::new(rd.take(MAX_REQUEST as u64)).lines();
    while let Some(line) = lines.next_line().await? {
        let req: Envelope<Request> = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                write(
                    &mut wr,
                    &Response::Error {
                        message: format!("bad request: {e}"),
                    },
                )
                .await?;
                continue;
            }
        };
        if req.version != API_VERSION {
            let m = format!("API version {} not supported (daemon speaks {API_VERSION}); use the matching tunnelctl", req.version);
            write(&mut wr, &Response::Error { message: m }).await?;
            continue;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let engine = engine.clone();
        let work = tokio::task::spawn_blocking(move || {
            let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
            super::handle(&mut e, req.body, &tx)
        });
        while let Some(p) = rx.recv().await {
            write(&mut wr, &p).await?;
        }
        let resp = work.await.context("request handler")?;
        write(&mut wr, &resp).await?;
    }
    Ok(())
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
