//! The one error type at the engine/API boundary. Every failure a client
//! can see has a stable code (`api::ErrorCode`, on the wire) and a one-line
//! message; the CLI turns the code into its exit status. Inside the daemon
//! and at the CLI's edges `anyhow` stays: an `anyhow::Error` that reaches
//! this boundary becomes `Internal`, unless its chain says otherwise (a
//! wrapped `Error` keeps its code, a full map or a violated store
//! constraint are recognised).

use crate::api::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tunnel, prefix or proxy entry named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It collides with what exists: a taken id, address pair or prefix.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed or out of range, whatever else exists.
    #[error("{0}")]
    Invalid(String),
    /// A datapath table has no room left (max_tunnels, max_prefixes,
    /// max_proxies).
    #[error("{0}")]
    MapFull(String),
    /// The daemon is busy with another operation (or, on the CLI's side,
    /// not running): worth retrying later.
    #[error("{0}")]
    Busy(String),
    /// Client and daemon speak different API versions.
    #[error("{0}")]
    UnsupportedVersion(String),
    /// Not root and not in the socket's group.
    #[error("{0}")]
    PermissionDenied(String),
    /// Anything else: a datapath, netlink or store failure.
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

pub type ApiResult<T> = std::result::Result<T, Error>;

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::Invalid(_) => ErrorCode::Invalid,
            Error::MapFull(_) => ErrorCode::MapFull,
            Error::Busy(_) => ErrorCode::Busy,
            Error::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            Error::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The error a response carries (the client's side of `code`).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let m = message.into();
        match code {
            ErrorCode::NotFound => Error::NotFound(m),
            ErrorCode::Conflict => Error::Conflict(m),
            ErrorCode::Invalid => Error::Invalid(m),
            ErrorCode::MapFull => Error::MapFull(m),
            ErrorCode::Busy => Error::Busy(m),
            ErrorCode::UnsupportedVersion => Error::UnsupportedVersion(m),
            ErrorCode::PermissionDenied => Error::PermissionDenied(m),
            ErrorCode::Internal => Error::Internal(anyhow::anyhow!(m)),
        }
    }

    /// What a client speaking `client` is told by a daemon speaking
    /// `daemon` (both named, so the operator knows which side to upgrade).
    pub fn unsupported_version(client: u32, daemon: u32) -> Self {
        Error::UnsupportedVersion(format!(
            "API version {client} is not supported: the daemon speaks version {daemon}; \
             use the tunnelctl of the daemon's release"
        ))
    }

    /// A validation failure (an `anyhow` chain from `validate`) as `Invalid`.
    pub fn invalid(e: impl std::fmt::Display) -> Self {
        Error::Invalid(format!("{e:#}"))
    }

    /// An overlap or duplicate found by a check as `Conflict`.
    pub fn conflict(e: impl std::fmt::Display) -> Self {
        Error::Conflict(format!("{e:#}"))
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        // Context added on the way keeps the inner code and shows in the
        // message.
        if let Some(inner) = e.downcast_ref::<Error>() {
            return match inner.code() {
                ErrorCode::Internal => Error::Internal(e),
                code => Error::new(code, format!("{e:#}")),
            };
        }
        if e.chain().any(is_full) {
            return Error::MapFull(format!("{e:#}"));
        }
        if e.chain().any(is_constraint) {
            return Error::Conflict(format!("{e:#}"));
        }
        Error::Internal(e)
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        anyhow::Error::from(e).into()
    }
}

/// A map update refused for lack of room: E2BIG from hash maps, ENOSPC
/// from the LPM trie.
fn is_full(e: &(dyn std::error::Error + 'static)) -> bool {
    use aya::maps::MapError;
    match e.downcast_ref::<MapError>() {
        Some(MapError::SyscallError(s)) => {
            matches!(s.io_error.raw_os_error(), Some(libc::E2BIG | libc::ENOSPC))
        }
        _ => false,
    }
}

/// A UNIQUE (or other) constraint of the store: something already there.
fn is_constraint(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        e.downcast_ref::<rusqlite::Error>(),
        Some(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn codes_round_trip_through_the_wire() {
        for code in ErrorCode::ALL {
            let e = Error::new(code, "m");
            assert_eq!(e.code(), code);
            assert_eq!(e.to_string(), "m");
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.name()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        assert_eq!(
            serde_json::to_string(&ErrorCode::MapFull).unwrap(),
            "\"map_full\""
        );
        // A code from a newer daemon is not a parse failure.
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"rate_limited\"").unwrap(),
            ErrorCode::Internal
        );
    }

    #[test]
    fn anyhow_chains_are_classified() {
        let wrapped = anyhow::Error::from(Error::NotFound("no tunnel 3".into())).context("apply");
        let e = Error::from(wrapped);
        assert_eq!(e.code(), ErrorCode::NotFound);
        assert_eq!(e.to_string(), "apply: no tunnel 3");

        let plain = Error::from(anyhow::anyhow!("netlink said no"));
        assert_eq!(plain.code(), ErrorCode::Internal);
        assert_eq!(plain.to_string(), "netlink said no");

        let full = aya::maps::MapError::SyscallError(aya::sys::SyscallError {
            call: "bpf_map_update_elem",
            io_error: std::io::Error::from_raw_os_error(libc::E2BIG),
        });
        let e = Error::from(anyhow::Error::from(full).context("writing PROXIES"));
        assert_eq!(e.code(), ErrorCode::MapFull);

        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (x INTEGER UNIQUE); INSERT INTO t VALUES (1);")
            .unwrap();
        let dup = c
            .execute("INSERT INTO t VALUES (1)", [])
            .context("inserting");
        assert_eq!(Error::from(dup.unwrap_err()).code(), ErrorCode::Conflict);
    }

    #[test]
    fn unsupported_version_names_both_versions() {
        let m = Error::unsupported_version(1, 2).to_string();
        assert!(m.contains("version 1") && m.contains("version 2"), "{m}");
    }
}
