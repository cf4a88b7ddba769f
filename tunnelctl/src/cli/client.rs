//! Client side of the API socket.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::api::{Envelope, Request, Response, API_VERSION};

pub struct Client {
    stream: BufReader<UnixStream>,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Self> {
        let s = UnixStream::connect(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                anyhow::anyhow!("daemon not running (no socket at {}): start it with `tunnelctl daemon`", path.display())
            }
            std::io::ErrorKind::PermissionDenied => {
                anyhow::anyhow!("permission denied on {}: run as root or as a member of the daemon's socket_group", path.display())
            }
            _ => anyhow::anyhow!("connecting to {}: {e}", path.display()),
        })?;
        s.set_read_timeout(Some(Duration::from_secs(600)))?;
        Ok(Self {
            stream: BufReader::new(s),
        })
    }

    /// Sends `req`; calls `progress` for progress lines; returns the final
    /// response, with daemon-side errors turned into `Err`.
    pub fn call(
        &mut self,
        req: Request,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Response> {
        let mut line = serde_json::to_string(&Envelope {
            version: API_VERSION,
            body: req,
        })?;
        line.push('\n');
        self.stream
            .get_mut()
            .write_all(line.as_bytes())
            .context("sending the request")?;
        loop {
            let mut buf = String::new();
            if self
                .stream
                .read_line(&mut buf)
                .context("reading the response")?
                == 0
            {
                bail!("the daemon closed the connection");
            }
            let resp: Envelope<Response> =
                serde_json::from_str(&buf).context("malformed response")?;
            match resp.body {
                Response::Progress { done, total } => progress(done, total),
                Response::Error { message } => bail!("{message}"),
                other => return Ok(other),
            }
        }
    }

    pub fn simple(&mut self, req: Request) -> Result<Response> {
        self.call(req, |_, _| {})
    }
}
