//! The client side of the API socket, shared by every verb that talks to
//! the daemon.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::{
    api::{Envelope, ErrorCode, Request, Response, API_VERSION},
    error::Error,
};

pub struct ApiClient {
    stream: BufReader<UnixStream>,
}

impl ApiClient {
    pub fn connect(path: &Path) -> Result<Self> {
        let s = UnixStream::connect(path).map_err(|e| match e.kind() {
            // The same exit status as `busy`: nothing wrong with the
            // request, the daemon is not there to take it.
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                Error::Busy(format!(
                    "daemon not running (no socket at {}): start it with `tunnelctl daemon`",
                    path.display()
                ))
            }
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied(format!(
                "permission denied on {}: run as root or as a member of the daemon's socket_group",
                path.display()
            )),
            _ => Error::Internal(anyhow::anyhow!("connecting to {}: {e}", path.display())),
        })?;
        s.set_read_timeout(Some(Duration::from_secs(600)))?;
        Ok(Self {
            stream: BufReader::new(s),
        })
    }

    /// Sends `req`; calls `progress` for progress lines; returns the final
    /// response, with daemon-side errors turned into `Err` (an `Error` with
    /// the daemon's code, for the exit status).
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
                Response::Error { code, message } => {
                    return Err(response_error(resp.version, code, message).into())
                }
                other => return Ok(other),
            }
        }
    }

    pub fn simple(&mut self, req: Request) -> Result<Response> {
        self.call(req, |_, _| {})
    }
}

/// An error response as an `Error`. A daemon of another API version may
/// predate the codes: its refusal of our version is still that.
fn response_error(version: u32, code: ErrorCode, message: String) -> Error {
    match version {
        API_VERSION => Error::new(code, message),
        _ => Error::UnsupportedVersion(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_keep_their_code() {
        let line = format!(
            r#"{{"version":{API_VERSION},"result":"error","code":"not_found","message":"no tunnel 3"}}"#
        );
        let r: Envelope<Response> = serde_json::from_str(&line).unwrap();
        let Response::Error { code, message } = r.body else {
            panic!("{line}")
        };
        let e = response_error(r.version, code, message);
        assert_eq!(
            (e.code(), e.to_string().as_str()),
            (ErrorCode::NotFound, "no tunnel 3")
        );
        // What a daemon of API 1 answers a newer client: no code, its
        // own version.
        let old = r#"{"version":1,"result":"error","message":"API version 2 not supported (daemon speaks 1); use the matching tunnelctl"}"#;
        let r: Envelope<Response> = serde_json::from_str(old).unwrap();
        let Response::Error { code, message } = r.body else {
            panic!("{old}")
        };
        assert_eq!(code, ErrorCode::Internal);
        if r.version != API_VERSION {
            let e = response_error(r.version, code, message);
            assert_eq!(e.code(), ErrorCode::UnsupportedVersion);
        }
    }
}
